import { describe, expect, it } from 'vitest';
import { AirlockError } from '../../../src/errors.js';
import type { CallContext } from '../../../src/pipeline/context.js';
import { concurrencyStage } from '../../../src/pipeline/stages/limit.js';

const ctx = (sub: string, signal = new AbortController().signal, issuer = 'https://idp.example'): CallContext => ({
  id: `call-${sub}`,
  startedAt: 0,
  sessionId: 's',
  transport: 'in-memory',
  toolName: 't',
  rawArguments: {},
  credential: { kind: 'none' },
  signal,
  principal: { issuer, sub, email: undefined, groups: [], clientId: undefined, dev: false },
});

/** A call that holds its slot until released. */
function gate(): { next: () => Promise<void>; release: () => void; entered: Promise<void> } {
  let release!: () => void;
  let enter!: () => void;
  const entered = new Promise<void>((r) => (enter = r));
  const held = new Promise<void>((r) => (release = r));
  return { next: () => (enter(), held), release, entered };
}

const codeOf = (p: Promise<unknown>): Promise<string> => p.then(() => 'ran', (e: unknown) => (e instanceof AirlockError ? e.code : String(e)));

describe('concurrencyStage (issue 15)', () => {
  it('hands a freed slot to the first waiter, in order, and refuses at once when the queue is full', async () => {
    const stage = concurrencyStage({ maxConcurrent: 1, maxQueued: 2, queueWaitMs: 60_000 });
    const first = gate();
    const running = stage(ctx('ana'), first.next);
    await first.entered;
    const order: string[] = [];
    const second = stage(ctx('ana'), () => (order.push('second'), Promise.resolve()));
    const third = stage(ctx('ana'), () => (order.push('third'), Promise.resolve()));
    expect(await codeOf(stage(ctx('ana'), () => Promise.resolve()))).toBe('TOO_MANY_CALLS');
    first.release();
    await Promise.all([running, second, third]);
    expect(order).toEqual(['second', 'third']);
  });

  it('keeps principals apart, also one sub at two issuers and subs that look alike joined', async () => {
    const stage = concurrencyStage({ maxConcurrent: 1, maxQueued: 0, queueWaitMs: 0 });
    const held = gate();
    const running = stage(ctx('ana'), held.next);
    await held.entered;
    expect(await codeOf(stage(ctx('ana'), () => Promise.resolve()))).toBe('TOO_MANY_CALLS');
    expect(await codeOf(stage(ctx('bob'), () => Promise.resolve()))).toBe('ran');
    expect(await codeOf(stage(ctx('ana', undefined, 'https://other.example'), () => Promise.resolve()))).toBe('ran');
    expect(await codeOf(stage(ctx('ana', undefined, 'https://idp.example ana'), () => Promise.resolve()))).toBe('ran');
    held.release();
    await running;
    expect(await codeOf(stage(ctx('ana'), () => Promise.resolve()))).toBe('ran');
  });

  it('ends a waiting call as CANCELLED when its caller cancels, and frees its queue place', async () => {
    const stage = concurrencyStage({ maxConcurrent: 1, maxQueued: 1, queueWaitMs: 60_000 });
    const held = gate();
    const running = stage(ctx('ana'), held.next);
    await held.entered;
    const abort = new AbortController();
    const waiting = codeOf(stage(ctx('ana', abort.signal), () => Promise.resolve()));
    abort.abort();
    expect(await waiting).toBe('CANCELLED');
    const next = codeOf(stage(ctx('ana'), () => Promise.resolve()));
    held.release();
    await running;
    expect(await next).toBe('ran');
  });

  it('releases the slot when the rest of the chain throws', async () => {
    const stage = concurrencyStage({ maxConcurrent: 1, maxQueued: 0, queueWaitMs: 0 });
    await expect(stage(ctx('ana'), () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await codeOf(stage(ctx('ana'), () => Promise.resolve()))).toBe('ran');
  });

  it('shares one lane among the calls of one principal object, and frees it for the next call (issue 19)', async () => {
    const stage = concurrencyStage({ maxConcurrent: 2, maxQueued: 0, queueWaitMs: 60_000 });
    const ana = ctx('ana');
    const same = (): CallContext => ({ ...ana, id: `call-${Math.random()}` });
    for (let round = 0; round < 3; round++) {
      const first = gate();
      const second = gate();
      const running = [stage(same(), first.next), stage(same(), second.next)];
      await Promise.all([first.entered, second.entered]);
      // The same principal object (its lane key kept) and an equal one built anew both meet the full lane.
      expect(await codeOf(stage(same(), () => Promise.resolve()))).toBe('TOO_MANY_CALLS');
      expect(await codeOf(stage(ctx('ana'), () => Promise.resolve()))).toBe('TOO_MANY_CALLS');
      expect(await codeOf(stage(ctx('ana', undefined, 'https://other.example'), () => Promise.resolve()))).toBe('ran');
      first.release();
      await running[0];
      expect(await codeOf(stage(same(), () => Promise.resolve()))).toBe('ran');
      second.release();
      await running[1];
    }
    // A free slot runs the rest of the chain before the stage yields.
    let ran = false;
    const call = stage(same(), () => ((ran = true), Promise.resolve()));
    expect(ran).toBe(true);
    await call;
  });

  it('rejects bad limits when it is built', () => {
    expect(() => concurrencyStage({ maxConcurrent: 0, maxQueued: 0, queueWaitMs: 0 })).toThrow(TypeError);
    expect(() => concurrencyStage({ maxConcurrent: 1, maxQueued: -1, queueWaitMs: 0 })).toThrow(TypeError);
    expect(() => concurrencyStage({ maxConcurrent: 1, maxQueued: 0, queueWaitMs: 1.5 })).toThrow(TypeError);
  });
});
