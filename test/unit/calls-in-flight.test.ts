import { afterEach, describe, expect, it, vi } from 'vitest';
import { trackCalls } from '../../src/calls-in-flight.js';
import type { CallContext } from '../../src/pipeline/context.js';

/** A call that ends when the test says so. */
function gatedCall(): { readonly governed: () => Promise<void>; release(): void } {
  let release: () => void = () => undefined;
  const gate = new Promise<void>((r) => (release = r));
  return { governed: () => gate, release: () => release() };
}

const ctx = {} as CallContext;
const quiet = (): void => undefined;

/** Lets every pending promise callback and I/O turn run. */
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('trackCalls (review of issue 21: calls lost at shutdown)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('settle waits for a call that started after drain had returned, so its record is written before the stores close', async () => {
    const call = gatedCall();
    const tracker = trackCalls(call.governed, new AbortController(), quiet);
    await tracker.drain();
    expect(tracker.draining.aborted).toBe(true);
    // The transport accepted one more call before it closed.
    let ended = false;
    void tracker.run(ctx).then(() => (ended = true));
    let settled = false;
    const settling = tracker.settle().then(() => (settled = true));
    await turn();
    expect(settled).toBe(false);
    // It is told to stop now, as a call still running after the drain is.
    expect(tracker.halted.aborted).toBe(true);
    call.release();
    await settling;
    expect(ended).toBe(true);
  });

  it('settle returns at once when nothing started after the drain, and does not wait again for calls the drain gave up on', async () => {
    vi.useFakeTimers();
    const never = gatedCall();
    const warnings: string[] = [];
    const tracker = trackCalls(never.governed, new AbortController(), (level, message) => void (level === 'warn' && warnings.push(message)));
    void tracker.run(ctx);
    const draining = tracker.drain();
    await vi.advanceTimersByTimeAsync(5_000);
    await vi.advanceTimersByTimeAsync(2_000);
    await draining;
    expect(warnings).toHaveLength(2);
    let settled = false;
    const settling = tracker.settle().then(() => (settled = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(settled).toBe(true);
    await settling;
    expect(warnings).toHaveLength(2);
  });
});
