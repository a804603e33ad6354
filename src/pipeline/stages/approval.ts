import { ApprovalRequiredError } from '../../errors.js';
import type { CallContext, Next, Stage } from '../context.js';

/**
 * Calls whose decision is `approve` do not run without a human's approval. The approval workflow
 * (requests, approvers, single-use grants) is not built yet, so such calls stop here with a typed error.
 */
export function approvalStage(): Stage {
  return async function approval(ctx: CallContext, next: Next): Promise<void> {
    const decision = ctx.decision;
    if (decision === undefined) throw new TypeError('approval stage needs a decision');
    if (decision.effect === 'approve') {
      throw new ApprovalRequiredError(decision.reason, decision.ruleIds, decision.approval?.approverGroups ?? []);
    }
    await next();
  };
}
