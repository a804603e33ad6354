import { describe, expect, it } from 'vitest';
import { DrainingError } from '../../../src/errors.js';
import type { CallContext } from '../../../src/pipeline/context.js';
import { drainStage } from '../../../src/pipeline/stages/drain.js';

const ctx = (): CallContext => ({ id: 'call-1', startedAt: 0, sessionId: 's', transport: 'in-memory', toolName: 't', rawArguments: {}, credential: { kind: 'none' }, signal: new AbortController().signal });

describe('drainStage (issue 21)', () => {
  it('passes calls on until airlock begins to stop, then refuses them with SHUTTING_DOWN without running the rest', async () => {
    const stopping = new AbortController();
    const stage = drainStage({ draining: stopping.signal });
    let ran = 0;
    await stage(ctx(), () => Promise.resolve(void ran++));
    expect(ran).toBe(1);
    stopping.abort();
    const refused = await stage(ctx(), () => Promise.resolve(void ran++)).then(() => undefined, (e: unknown) => e);
    expect(refused).toBeInstanceOf(DrainingError);
    expect(refused).toMatchObject({ code: 'SHUTTING_DOWN', outcome: 'error', message: 'the call arrived after airlock began to stop' });
    expect(ran).toBe(1);
  });

  it('is refused at build time without a signal', () => {
    expect(() => drainStage({ draining: undefined as unknown as AbortSignal })).toThrow(new TypeError('drainStage: draining must be an AbortSignal'));
  });
});
