import { CancelledError } from '../../errors.js';
import type { ToolDeps } from '../../tool.js';
import type { CallContext, Next, Stage } from '../context.js';

/** Runs the tool with the limits policy settled, then lets the mask stage rewrite the result. */
export function executeStage(options: { readonly deps: ToolDeps }): Stage {
  const { deps } = options;
  return async function execute(ctx: CallContext, next: Next): Promise<void> {
    const { tool, decision, facts } = ctx;
    if (tool === undefined || decision === undefined || facts === undefined) throw new TypeError('execute stage needs tool, decision and facts');
    if (ctx.signal.aborted) throw new CancelledError({ detail: 'cancelled before execution' });
    ctx.result = await tool.execute(ctx.input, { signal: ctx.signal, limits: decision.limits, facts, deps });
    await next();
  };
}
