import { CancelledError, TooManyCallsError } from '../../errors.js';
import type { Principal } from '../../identity/principal.js';
import type { CallContext, Next, Stage } from '../context.js';

export interface ConcurrencyLimits {
  /** Calls of one principal that run at once. */
  readonly maxConcurrent: number;
  /** Calls of one principal that may wait for a free slot; more are refused at once. */
  readonly maxQueued: number;
  /** How long a waiting call waits for a slot before it is refused. */
  readonly queueWaitMs: number;
}

/** Defaults: a pool of 10 connections per database leaves room for at least two other busy principals. */
export const DEFAULT_CONCURRENCY: ConcurrencyLimits = Object.freeze({ maxConcurrent: 4, maxQueued: 8, queueWaitMs: 5_000 });

interface Waiter {
  readonly wake: () => void;
}

interface Lane {
  running: number;
  readonly waiting: Waiter[];
}

/** A principal's lane key, kept per principal object (a session's calls share one). */
const laneKeys = new WeakMap<Principal, string>();

function laneKey(principal: Principal): string {
  let key = laneKeys.get(principal);
  if (key === undefined) {
    // Structural key: no separator in either part can make two principals share a lane.
    key = JSON.stringify([principal.issuer, principal.sub]);
    laneKeys.set(principal, key);
  }
  return key;
}

/**
 * Per-principal fairness before execution: one principal runs at most `maxConcurrent` calls at once, so
 * slow calls of one agent cannot take every database connection (or every approval slot) from the
 * rest. A call over the limit waits in a short per-principal queue; when no slot frees within
 * `queueWaitMs` (or the queue is full), it ends with TOO_MANY_CALLS and is audited like any refusal.
 * Other principals never wait on this principal's lane.
 */
export function concurrencyStage(limits: ConcurrencyLimits = DEFAULT_CONCURRENCY): Stage {
  const { maxConcurrent, maxQueued, queueWaitMs } = limits;
  if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) throw new TypeError('concurrencyStage: maxConcurrent must be an integer ≥ 1');
  if (!Number.isInteger(maxQueued) || maxQueued < 0) throw new TypeError('concurrencyStage: maxQueued must be an integer ≥ 0');
  if (!Number.isInteger(queueWaitMs) || queueWaitMs < 0) throw new TypeError('concurrencyStage: queueWaitMs must be an integer ≥ 0');
  const lanes = new Map<string, Lane>();

  const release = (key: string, lane: Lane): void => {
    const next = lane.waiting.shift();
    // The slot passes straight to the next waiter: `running` stays as it is.
    if (next !== undefined) next.wake();
    else if (--lane.running === 0) lanes.delete(key);
  };

  /** Resolves once a call that found every slot taken holds one; rejects when it cannot get one. */
  const acquire = (lane: Lane, signal: AbortSignal): Promise<void> => {
    if (lane.waiting.length >= maxQueued) {
      return Promise.reject(new TooManyCallsError(maxConcurrent, { detail: `${lane.running} calls running and ${lane.waiting.length} waiting for this principal (queue full)` }));
    }
    return new Promise<void>((resolve, reject) => {
      const leave = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        const at = lane.waiting.indexOf(waiter);
        if (at >= 0) lane.waiting.splice(at, 1);
      };
      const waiter: Waiter = {
        wake: () => {
          leave();
          resolve();
        },
      };
      const timer = setTimeout(() => {
        leave();
        reject(new TooManyCallsError(maxConcurrent, { detail: `no slot freed within ${queueWaitMs} ms (${lane.running} calls running for this principal)` }));
      }, queueWaitMs);
      const onAbort = (): void => {
        leave();
        reject(new CancelledError({ detail: 'cancelled while waiting for a free slot' }));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      lane.waiting.push(waiter);
    });
  };

  return async function concurrency(ctx: CallContext, next: Next): Promise<void> {
    const principal = ctx.principal;
    if (principal === undefined) throw new TypeError('concurrency stage needs a principal');
    const key = laneKey(principal);
    let lane = lanes.get(key);
    if (lane === undefined) lanes.set(key, (lane = { running: 0, waiting: [] }));
    // A free slot is taken at once: no promise, no turn of the microtask queue (the usual case).
    if (lane.running < maxConcurrent) lane.running++;
    else {
      try {
        await acquire(lane, ctx.signal);
      } catch (error) {
        if (lane.running === 0 && lane.waiting.length === 0) lanes.delete(key);
        throw error;
      }
    }
    try {
      await next();
    } finally {
      release(key, lane);
    }
  };
}
