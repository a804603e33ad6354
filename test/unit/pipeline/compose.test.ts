import { describe, expect, it } from 'vitest';
import { compose } from '../../../src/pipeline/compose.js';
import type { CallContext, Stage } from '../../../src/pipeline/context.js';

const ctx = (): CallContext => ({
  id: 'call-1',
  startedAt: 0,
  sessionId: 's',
  transport: 'in-memory',
  toolName: 't',
  rawArguments: {},
  credential: { kind: 'none' },
  signal: new AbortController().signal,
});

describe('compose', () => {
  it('runs stages as an onion: in order on the way in, reverse on the way out', async () => {
    const trace: string[] = [];
    const stage = (name: string): Stage =>
      async function named(_c, next) {
        trace.push(`>${name}`);
        await next();
        trace.push(`<${name}`);
      };
    await compose([stage('a'), stage('b'), stage('c')])(ctx());
    expect(trace).toEqual(['>a', '>b', '>c', '<c', '<b', '<a']);
  });

  it('stops the chain when a stage does not call next', async () => {
    const trace: string[] = [];
    await compose([
      async function gate() {
        trace.push('gate');
      },
      async function never() {
        trace.push('never');
      },
    ])(ctx());
    expect(trace).toEqual(['gate']);
  });

  it('throws naming the stage when next() is called twice', async () => {
    const run = compose([
      async function twice(_c, next) {
        await next();
        await next();
      },
    ]);
    await expect(run(ctx())).rejects.toThrow('next() called more than once in stage "twice"');
  });

  it('propagates an error thrown by an inner stage to outer stages', async () => {
    const seen: unknown[] = [];
    const run = compose([
      async function outer(_c, next) {
        try {
          await next();
        } catch (error) {
          seen.push(error);
        }
      },
      async function inner() {
        throw new Error('boom');
      },
    ]);
    await run(ctx());
    expect(seen).toHaveLength(1);
    expect((seen[0] as Error).message).toBe('boom');
  });

  it('rejects a stage that is not a function at build time', () => {
    expect(() => compose([null as unknown as Stage])).toThrow(TypeError);
  });
});

describe('compose with onStage (issue 21)', () => {
  it('reports each stage reached once by name, innermost first, also when a stage throws', async () => {
    const seen: [string, number][] = [];
    const run = compose(
      [
        async function outer(_c, next) {
          await next().catch(() => undefined);
        },
        async function middle(_c, next) {
          await next();
        },
        async function failing() {
          throw new Error('boom');
        },
        async function never() {
          throw new Error('not reached');
        },
      ],
      { onStage: (stage, seconds) => void seen.push([stage, seconds]) },
    );
    await run(ctx());
    expect(seen.map(([stage]) => stage)).toEqual(['failing', 'middle', 'outer']);
    for (const [, seconds] of seen) expect(seconds).toBeGreaterThanOrEqual(0);
  });

  it('throws TypeError at build time when onStage is not a function', () => {
    expect(() => compose([], { onStage: 'x' as unknown as () => void })).toThrow(TypeError);
  });
});
