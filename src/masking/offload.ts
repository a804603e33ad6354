/**
 * Masking of large results on a worker thread. Masking is synchronous and V8 cannot interrupt a running
 * regex: a result of many megabytes would hold the event loop (every session's calls, every stream) for
 * seconds. Results past `OFFLOAD_MIN_CHARS` are masked by the same Masker code in a worker; the main
 * thread keeps serving, and a cancelled call terminates its worker.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
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

export type OffloadReply = { readonly ok: true; readonly masked: Masked<ToolResult> } | { readonly ok: false; readonly message: string };

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

/**
 * Masks one result on a new worker thread; fails closed (MASKING_FAILED) when the worker fails. A JSON
 * result's `render` cannot cross to the worker (structured clone carries no functions): it is applied to
 * the masked value here, after the worker, as the masker would have.
 */
export async function maskOffThread(job: OffloadJob, signal: AbortSignal): Promise<Masked<ToolResult>> {
  const { result } = job;
  if (result.kind !== 'json' || result.render === undefined) return onWorker(job, signal);
  const { render, ...rest } = result;
  // The tool's own text is replaced by the rendering: it is not sent, and not masked for nothing.
  const masked = await onWorker({ ...job, result: { ...rest, text: '' } }, signal);
  if (masked.value.kind !== 'json') throw new MaskingFailedError({ detail: 'masking worker returned another kind of result' });
  let text: string;
  try {
    text = render(masked.value.value);
  } catch (error) {
    throw new MaskingFailedError({ detail: `rendering the masked result failed: ${error instanceof Error ? error.message : String(error)}`, cause: error });
  }
  return { value: { ...masked.value, render, text }, report: masked.report };
}

function onWorker(job: OffloadJob, signal: AbortSignal): Promise<Masked<ToolResult>> {
  if (signal.aborted) return Promise.reject(new CancelledError({ detail: 'cancelled before masking' }));
  return new Promise((resolve, reject) => {
    let settled = false;
    const worker = new Worker(WORKER_URL, { workerData: job });
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      void worker.terminate().catch(() => undefined);
      fn();
    };
    const onAbort = (): void => finish(() => reject(new CancelledError({ detail: 'cancelled while masking' })));
    signal.addEventListener('abort', onAbort, { once: true });
    worker.once('message', (reply: OffloadReply) =>
      finish(() => (reply.ok ? resolve(reply.masked) : reject(new MaskingFailedError({ detail: `masking worker: ${reply.message}` })))),
    );
    worker.once('error', (error) => finish(() => reject(new MaskingFailedError({ detail: `masking worker failed: ${error.message}`, cause: error }))));
    worker.once('exit', (code) => finish(() => reject(new MaskingFailedError({ detail: `masking worker exited (code ${code}) without a result` }))));
  });
}
