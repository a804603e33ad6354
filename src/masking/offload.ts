/**
 * Masking of large results on a worker thread. Masking is synchronous and V8 cannot interrupt a running
 * regex: a result of many megabytes would hold the event loop (every session's calls, every stream) for
 * seconds. Results past `OFFLOAD_MIN_CHARS` are masked by the same Masker code in a worker; the main
 * thread keeps serving, and a cancelled call terminates its worker.
 *
 * The workers are long-lived (a pool, started lazily): a fresh thread costs ~150 ms of module loading and
 * masks with cold code at a third of the warm speed, which dominated every large read. A worker that fails,
 * exits or is terminated for a cancelled call is dropped; the next job starts a fresh one.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker, type ResourceLimits } from 'node:worker_threads';
import { CancelledError, MaskingFailedError } from '../errors.js';
import type { ToolResult } from '../tool.js';
import type { Masked, MaskerSettings } from './masker.js';

/** Results with at least this many characters of text are masked off the main thread. */
export const OFFLOAD_MIN_CHARS = 512 * 1024;

/** What the worker needs to build the same Masker and mask one result. Plain data (structured clone). */
export interface OffloadJob {
  readonly settings: MaskerSettings;
  readonly hmacKey: string | undefined;
  readonly result: ToolResult;
  readonly wholeColumns: readonly number[];
  readonly lineageKnown: boolean;
}

/** The worker's answer to one job: `id` is the job's, `threadId` the worker's (tests check reuse by it). */
export type OffloadReply = { readonly id: number; readonly threadId: number } & ({ readonly ok: true; readonly masked: Masked<ToolResult> } | { readonly ok: false; readonly message: string });

/** One job as posted to a worker. */
export interface OffloadRequest {
  readonly id: number;
  readonly job: OffloadJob;
}

const WORKER_URL = new URL('./mask-worker.js', import.meta.url);
// Running from TypeScript sources (tests of single modules) there is no compiled worker: mask in place.
const WORKER_AVAILABLE = existsSync(fileURLToPath(WORKER_URL));

/**
 * Characters of text in a result, counted up to `stopAt` (the walk stops there: its own cost stays small).
 * Numbers and booleans count a few characters each, so a huge result of small values still counts.
 */
export function textWeight(result: ToolResult, stopAt: number = OFFLOAD_MIN_CHARS): number {
  if (result.kind === 'json') return walk([result.value], result.text.length, stopAt);
  // Rows: most cells are primitives, counted in place (this runs for every result).
  let total = 0;
  const nested: unknown[] = [];
  for (const row of result.rows) {
    for (const cell of row) {
      if (typeof cell === 'string') total += cell.length;
      else if (cell !== null && typeof cell === 'object') nested.push(cell);
      else total += 4;
    }
    if (total >= stopAt) return total;
  }
  return nested.length === 0 ? total : walk(nested, total, stopAt);
}

function walk(stack: unknown[], start: number, stopAt: number): number {
  let total = start;
  while (stack.length > 0 && total < stopAt) {
    const value = stack.pop();
    if (typeof value === 'string') total += value.length;
    else if (value !== null && typeof value === 'object') {
      total += 2;
      if (Array.isArray(value)) for (const item of value as unknown[]) stack.push(item);
      else for (const item of Object.values(value)) stack.push(item);
    } else total += 4;
  }
  return total;
}

/** Whether `result` is large enough to be masked on a worker, and a worker can be started. */
export function shouldOffload(result: ToolResult): boolean {
  return WORKER_AVAILABLE && textWeight(result) >= OFFLOAD_MIN_CHARS;
}

/** Options of a masking pool. */
export interface MaskingPoolOptions {
  /** Workers at most (each masks one job at a time; more jobs wait in order). */
  readonly size: number;
  /** Heap limits of each worker: a job past them fails closed (MASKING_FAILED) and its worker is replaced. */
  readonly resourceLimits?: ResourceLimits;
}

/** What a pool has done, for diagnostics and tests. */
export interface MaskingPoolStats {
  /** Workers started since the pool was created. */
  readonly started: number;
  /** Workers running now (busy or idle). */
  readonly alive: number;
  /** Jobs waiting for a worker. */
  readonly queued: number;
}

/** Long-lived masking workers: `mask` runs one job on the first free worker, starting one if needed. */
export interface MaskingPool {
  mask(job: OffloadJob, signal: AbortSignal): Promise<Masked<ToolResult>>;
  stats(): MaskingPoolStats;
  /** Terminates every worker; queued and running jobs fail with MASKING_FAILED. The pool stays usable. */
  close(): Promise<void>;
}

interface Pending {
  readonly id: number;
  readonly job: OffloadJob;
  readonly signal: AbortSignal;
  readonly resolve: (masked: Masked<ToolResult>) => void;
  readonly reject: (error: unknown) => void;
  readonly onAbort: () => void;
}

interface Slot {
  readonly worker: Worker;
  current: Pending | undefined;
  /** Set once the worker is dropped: its late events are ignored. */
  gone: boolean;
}

/**
 * A pool of masking workers. Workers start at the first job that finds none free and stay for the next
 * ones; an idle worker is `unref()`'d, so it never keeps the process alive (a busy one does, like any
 * pending work). A worker that errors or exits fails its job closed and is dropped; a cancelled job's
 * worker is terminated (V8 cannot interrupt its regex otherwise) and replaced lazily.
 */
export function createMaskingPool(options: MaskingPoolOptions): MaskingPool {
  if (!Number.isInteger(options.size) || options.size < 1) throw new TypeError('masking pool: size must be a positive integer');
  const slots = new Set<Slot>();
  const queue: Pending[] = [];
  let started = 0;
  let nextId = 1;

  const settle = (pending: Pending, outcome: () => void): void => {
    pending.signal.removeEventListener('abort', pending.onAbort);
    outcome();
  };

  const drop = (slot: Slot): void => {
    if (slot.gone) return;
    slot.gone = true;
    slots.delete(slot);
    void slot.worker.terminate().catch(() => undefined);
  };

  const fail = (slot: Slot, error: unknown): void => {
    const pending = slot.current;
    slot.current = undefined;
    drop(slot);
    if (pending !== undefined) settle(pending, () => pending.reject(error));
    dispatch();
  };

  const spawn = (): Slot => {
    const worker = new Worker(WORKER_URL, options.resourceLimits === undefined ? {} : { resourceLimits: options.resourceLimits });
    started++;
    const slot: Slot = { worker, current: undefined, gone: false };
    worker.on('message', (reply: OffloadReply) => {
      const pending = slot.current;
      if (slot.gone || pending === undefined || reply.id !== pending.id) return;
      slot.current = undefined;
      worker.unref();
      settle(pending, () => (reply.ok ? pending.resolve(reply.masked) : pending.reject(new MaskingFailedError({ detail: `masking worker: ${reply.message}` }))));
      dispatch();
    });
    worker.on('error', (error) => {
      if (!slot.gone) fail(slot, new MaskingFailedError({ detail: `masking worker failed: ${error.message}`, cause: error }));
    });
    worker.on('exit', (code) => {
      if (!slot.gone) fail(slot, new MaskingFailedError({ detail: `masking worker exited (code ${code}) without a result` }));
    });
    worker.unref();
    slots.add(slot);
    return slot;
  };

  const dispatch = (): void => {
    while (queue.length > 0) {
      let slot = [...slots].find((s) => s.current === undefined);
      if (slot === undefined && slots.size < options.size) slot = spawn();
      if (slot === undefined) return;
      const pending = queue.shift() as Pending;
      slot.current = pending;
      slot.worker.ref();
      try {
        slot.worker.postMessage({ id: pending.id, job: pending.job } satisfies OffloadRequest);
      } catch (error) {
        // A value that cannot be cloned: this job fails closed, the worker never saw it and stays.
        slot.current = undefined;
        slot.worker.unref();
        settle(pending, () => pending.reject(new MaskingFailedError({ detail: `masking worker: the result cannot be sent: ${error instanceof Error ? error.message : String(error)}`, cause: error })));
      }
    }
  };

  return {
    mask(job, signal) {
      if (signal.aborted) return Promise.reject(new CancelledError({ detail: 'cancelled before masking' }));
      return new Promise((resolve, reject) => {
        const pending: Pending = {
          id: nextId++,
          job,
          signal,
          resolve,
          reject,
          onAbort: () => {
            const waiting = queue.indexOf(pending);
            if (waiting >= 0) queue.splice(waiting, 1);
            else {
              const slot = [...slots].find((s) => s.current === pending);
              if (slot !== undefined) {
                slot.current = undefined;
                drop(slot);
              }
            }
            settle(pending, () => reject(new CancelledError({ detail: 'cancelled while masking' })));
            dispatch();
          },
        };
        signal.addEventListener('abort', pending.onAbort, { once: true });
        queue.push(pending);
        dispatch();
      });
    },
    stats: () => ({ started, alive: slots.size, queued: queue.length }),
    async close() {
      const waiting = queue.splice(0);
      for (const pending of waiting) settle(pending, () => pending.reject(new MaskingFailedError({ detail: 'masking pool closed' })));
      const all = [...slots];
      for (const slot of all) fail(slot, new MaskingFailedError({ detail: 'masking pool closed' }));
      await Promise.all(all.map((s) => s.worker.terminate().catch(() => undefined)));
    },
  };
}

/**
 * Workers of the process-wide pool. One worker masks while the main thread streams, frames and audits; on
 * two cores a second one gave two concurrent large readers no more throughput and cost ~40 MB more
 * (BENCHMARKS.md, issue 18).
 */
const DEFAULT_POOL_SIZE = 1;
let defaultPool: MaskingPool | undefined;

/** The process-wide masking pool (created at first use). */
export function maskingPool(): MaskingPool {
  defaultPool ??= createMaskingPool({ size: DEFAULT_POOL_SIZE });
  return defaultPool;
}

/**
 * Masks one result on a pooled worker thread; fails closed (MASKING_FAILED) when the worker fails. A JSON
 * result's `render` cannot cross to the worker (structured clone carries no functions): it is applied to
 * the masked value here, after the worker, as the masker would have.
 */
export async function maskOffThread(job: OffloadJob, signal: AbortSignal, pool: MaskingPool = maskingPool()): Promise<Masked<ToolResult>> {
  const { result } = job;
  if (result.kind !== 'json' || result.render === undefined) return pool.mask(job, signal);
  const { render, ...rest } = result;
  // The tool's own text is replaced by the rendering: it is not sent, and not masked for nothing.
  const masked = await pool.mask({ ...job, result: { ...rest, text: '' } }, signal);
  if (masked.value.kind !== 'json') throw new MaskingFailedError({ detail: 'masking worker returned another kind of result' });
  let text: string;
  try {
    text = render(masked.value.value);
  } catch (error) {
    throw new MaskingFailedError({ detail: `rendering the masked result failed: ${error instanceof Error ? error.message : String(error)}`, cause: error });
  }
  return { value: { ...masked.value, render, text }, report: masked.report };
}
