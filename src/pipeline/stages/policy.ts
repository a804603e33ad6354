import { PolicyDeniedError } from '../../errors.js';
import { DecisionMemo } from '../../policy/decisions.js';
import type { Policy } from '../../policy/load.js';
import type { ToolDeps } from '../../tool.js';
import type { CallContext, Next, Stage } from '../context.js';

export interface PolicySource {
  current(): Policy;
}

/**
 * Asks the tool what the call would touch, then decides it against the current policy (a repeated statement's
 * decision is remembered for that policy and principal: see DecisionMemo).
 */
export function policyStage(options: { readonly policy: PolicySource; readonly deps: ToolDeps }): Stage {
  const { policy, deps } = options;
  if (typeof policy?.current !== 'function') throw new TypeError('policyStage: a policy source is required');
  const decisions = new DecisionMemo();
  return async function policyDecision(ctx: CallContext, next: Next): Promise<void> {
    const tool = ctx.tool;
    const principal = ctx.principal;
    if (tool === undefined || principal === undefined) throw new TypeError('policy stage needs tool and principal');
    ctx.facts = await tool.facts(ctx.input, deps);
    ctx.decision = decisions.decide(policy.current(), { principal, tool: tool.name, facts: ctx.facts });
    if (ctx.decision.effect === 'deny') throw new PolicyDeniedError(ctx.decision.reason, ctx.decision.ruleIds);
    const rules = ctx.decision.ruleIds.length === 0 ? '' : ` (${ctx.decision.ruleIds.join(', ')})`;
    ctx.report?.({ kind: 'progress', step: 'decided', message: ctx.decision.effect === 'allow' ? `Policy allowed the call${rules}` : `Policy requires a human approval${rules}` });
    await next();
  };
}
