import type { JsonResult } from '../tool.js';
import type { ApprovalRecord } from './model.js';

/**
 * The result of a call still waiting for a decision: not an error (nothing went wrong), a handle the agent
 * collects with `approval_status`, and text written for a model to act on.
 */
export function pendingResult(request: ApprovalRecord, consoleUrl: string | undefined, tool: string): JsonResult {
  const approvals = request.decisions.filter((d) => d.verdict === 'approve').length;
  const expiresAt = new Date(request.expiresAt).toISOString();
  const who = request.approverGroups.join(' or ');
  const value = {
    status: 'pending_approval',
    requestId: request.id,
    approvers: [...request.approverGroups],
    quorum: request.quorum,
    approvals,
    expiresAt,
    ...(consoleUrl === undefined ? {} : { consoleUrl }),
  };
  const where = consoleUrl === undefined ? 'in the airlock console or with `airlock approvals approve ' + request.id + '`' : `at ${consoleUrl}`;
  const text = [
    `This ${tool} call needs a human approval and has not run yet (request ${request.id}).`,
    `Ask the user to have someone in ${who} approve it ${where}${request.quorum > 1 ? ` (${request.quorum} approvers needed, ${approvals} so far)` : ''}; the request expires at ${expiresAt}.`,
    `Then call approval_status with {"requestId": "${request.id}"} to wait for the decision and receive the result. Do not resend the call with changes: only this exact call can be approved.`,
  ].join('\n');
  return { kind: 'json', value, text };
}
