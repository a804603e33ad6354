import { DrainingError } from '../../errors.js';
import type { CallContext, Next, Stage } from '../context.js';

export interface DrainStageOptions {
  /** Aborted when airlock begins to stop. */
  readonly draining: AbortSignal;
}

/**
 * Refuses calls once airlock has begun to stop (SIGTERM), so that the drain ends with the calls that were
 * already running and a load balancer's retry lands on another instance. It sits after the identity stage:
 * the refusal is audited under the caller like any other, and answered with SHUTTING_DOWN and its audit id.
 */
export function drainStage(options: DrainStageOptions): Stage {
  const { draining } = options;
  if (!(draining instanceof AbortSignal)) throw new TypeError('drainStage: draining must be an AbortSignal');
  return async function drain(_ctx: CallContext, next: Next): Promise<void> {
    if (draining.aborted) throw new DrainingError({ detail: 'the call arrived after airlock began to stop' });
    await next();
  };
}
