import { ShuttingDownError } from './errors.js';
import type { Logger } from './log.js';
import type { CallContext } from './pipeline/context.js';

/** How long a stopping airlock waits for calls in flight to finish before it stops them. */
const DRAIN_MS = 5000;
/** How long calls it stopped get to write their records and answer before the stores close. */
const HALT_MS = 2000;

/** The governed pipeline as the transports call it, and the steps of a shutdown. */
export interface CallTracker {
  run(ctx: CallContext): Promise<void>;
  /** Refuses new calls from now on and waits for those in flight (stopping them after a bound). */
  drain(): Promise<void>;
  /** Waits for the calls that started after `drain` returned: call it once the transport has closed. */
  settle(): Promise<void>;
  readonly halted: AbortSignal;
  readonly draining: AbortSignal;
}

/**
 * The governed pipeline, counting calls in flight so that shutdown lets them finish (and be audited) first.
 * Draining aborts `stopping` first: calls waiting for a decision answer with their pending handle at once
 * (the request stays) instead of holding up the shutdown. Calls still running after DRAIN_MS are stopped
 * through `halted`: each ends CANCELLED with its record written and an answer sent, rather than being cut
 * off by the exit with neither.
 */
export function trackCalls(governed: (ctx: CallContext) => Promise<void>, stopping: AbortController, log: Logger): CallTracker {
  const inflight = new Set<Promise<void>>();
  /** Calls that did not end even when stopped: nothing more is waited for them. */
  const abandoned = new Set<Promise<void>>();
  const halt = new AbortController();
  // Calls that arrive while draining are refused (and audited) rather than run, but they are in flight too:
  // each round waits for the calls known then, until none is left, so no refusal is cut off by the exit.
  const settled = async (ms: number): Promise<boolean> => {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
    const awaited = new Set<Promise<void>>();
    let done = true;
    const waiting = (): Promise<void>[] => [...inflight].filter((c) => !awaited.has(c) && !abandoned.has(c));
    for (let round = waiting(); round.length > 0 && done; round = waiting()) {
      for (const call of round) awaited.add(call);
      done = await Promise.race([Promise.allSettled(round).then(() => true), expired]);
    }
    clearTimeout(timer);
    return done;
  };
  return {
    halted: halt.signal,
    draining: stopping.signal,
    run(ctx) {
      const call = governed(ctx);
      inflight.add(call);
      void call.finally(() => inflight.delete(call)).catch(() => undefined);
      return call;
    },
    async drain() {
      stopping.abort();
      if (inflight.size === 0) return;
      log('info', `stopping: waiting up to ${DRAIN_MS / 1000} s for ${inflight.size} call(s) in flight`);
      if (await settled(DRAIN_MS)) return;
      log('warn', `stopping: ${inflight.size} call(s) still running after ${DRAIN_MS / 1000} s are stopped and recorded as cancelled`);
      halt.abort(new ShuttingDownError({ detail: `still running ${DRAIN_MS} ms after airlock began to stop` }));
      if (await settled(HALT_MS)) return;
      log('warn', `stopping: ${inflight.size} call(s) did not end; they are recorded as interrupted when this audit store is next opened`);
      for (const call of inflight) abandoned.add(call);
    },
    /**
     * Waits once more, after the transport has closed: `drain` returns at once when nothing is in flight,
     * and a call the transport accepted between then and its close (refused with SHUTTING_DOWN by then) may
     * still be writing its record, with the stores closing next. Calls `drain` gave up on are not awaited.
     */
    async settle() {
      if ([...inflight].every((c) => abandoned.has(c))) return;
      halt.abort(new ShuttingDownError({ detail: 'accepted while airlock was closing its transport' }));
      if (!(await settled(HALT_MS))) log('warn', `stopping: ${inflight.size} call(s) did not end; they are recorded as interrupted when this audit store is next opened`);
    },
  };
}
