import type { BoundCall } from '../../approval/binding.js';
import { CancelledError, ConfirmationDeclinedError, ConfirmationUnavailableError } from '../../errors.js';
import type { ApprovalRequirement } from '../../policy/evaluate.js';
import type { CallConfirmation, CallContext } from '../context.js';

const MAX_NOTE = 500;

/**
 * The caller's own user confirms the exact call (`approval.confirmByCaller`) before it runs or goes to the
 * approvers. Resolves `true` when the user confirmed and the call goes on; `false` when the form was sent
 * back to the client instead of a result (2026-07-28: the client asks its user and sends the call again with
 * the answer); throws CONFIRMATION_DECLINED or CONFIRMATION_UNAVAILABLE otherwise. The form is written from
 * the bound call, and an answer counts only for the call whose binding it carries: it confirms, it cannot
 * change a byte of the input. A confirmation is never an approval: it is recorded apart from approvers.
 */
export async function confirmByCaller(ctx: CallContext, bound: BoundCall, requirement: ApprovalRequirement, justification?: string): Promise<boolean> {
  const { principal, decision } = ctx;
  if (principal === undefined || decision === undefined) throw new TypeError('confirmByCaller needs principal and decision');
  const record = (c: Omit<CallConfirmation, 'bindingHash'>): void => {
    ctx.confirmation = { bindingHash: bound.bindingHash, ...c };
  };
  if (ctx.confirm === undefined) {
    record({ state: 'unavailable' });
    throw new ConfirmationUnavailableError(decision.ruleIds, { detail: 'no client to ask on this transport' });
  }
  ctx.report?.({ kind: 'progress', step: 'confirming', message: 'Waiting for your user to confirm this call in your client' });
  const answer = await ctx.confirm({ bindingHash: bound.bindingHash, message: confirmationText(ctx, bound, requirement, justification) });
  if (ctx.signal.aborted) throw new CancelledError({ detail: 'cancelled while waiting for the caller to confirm' });
  const by = { issuer: principal.issuer, sub: principal.sub, ...(principal.email === undefined ? {} : { email: principal.email }) };
  switch (answer.kind) {
    case 'unavailable':
      record({ state: 'unavailable' });
      throw new ConfirmationUnavailableError(decision.ruleIds, { detail: 'the client declared no elicitation (form) capability' });
    case 'asked':
      record({ state: 'requested' });
      ctx.result = {
        kind: 'json',
        value: { status: 'confirmation_requested', tool: bound.binding.tool, resource: bound.binding.resource },
        text: `This ${bound.binding.tool} call waits for your user to confirm it in your client; it has not run.`,
      };
      ctx.outcome = 'approval_required';
      return false;
    case 'declined': {
      const note = cut(answer.note);
      record({ state: 'declined', by, how: answer.how, ...(note === undefined ? {} : { note }) });
      throw new ConfirmationDeclinedError(answer.how, note, decision.ruleIds);
    }
    case 'confirmed': {
      const note = cut(answer.note);
      record({ state: 'confirmed', by, ...(note === undefined ? {} : { note }) });
      ctx.report?.({ kind: 'progress', step: 'confirmed', message: `Your user confirmed the call${requirement.approverGroups.length > 0 ? `; it now needs an approval by ${requirement.approverGroups.join(' or ')}` : ''}` });
      return true;
    }
  }
}

function cut(note: string | undefined): string | undefined {
  if (note === undefined || note.trim() === '') return undefined;
  return note.length > MAX_NOTE ? note.slice(0, MAX_NOTE) : note;
}

/** The form's text, written from the bound call only: the exact statement and parameters, with their types. */
export function confirmationText(ctx: CallContext, bound: BoundCall, requirement: ApprovalRequirement, justification?: string): string {
  const decision = ctx.decision;
  const { tool, resource, input } = bound.binding;
  const fields: Record<string, unknown> = input !== null && typeof input === 'object' && !Array.isArray(input) ? { ...(input as Record<string, unknown>) } : { arguments: input };
  const lines = ['Confirm this call before it runs. It runs exactly as shown below, once.', '', `Tool: ${tool}`];
  if (resource !== '') lines.push(`Resource: ${resource}`);
  if (decision !== undefined) lines.push(`Rule: ${decision.ruleIds.join(', ')}: ${decision.reason}`);
  if (typeof fields.sql === 'string') {
    lines.push('', 'SQL:', fields.sql);
    delete fields.sql;
  }
  if (Array.isArray(fields.params)) {
    const params = fields.params as unknown[];
    lines.push('', params.length === 0 ? 'Parameters: none' : 'Parameters:');
    params.forEach((p, i) => lines.push(`  $${i + 1} = ${JSON.stringify(p) ?? 'undefined'} (${p === null ? 'null' : Array.isArray(p) ? 'array' : typeof p})`));
    delete fields.params;
  }
  if (fields.connection === resource) delete fields.connection;
  if (Object.keys(fields).length > 0) lines.push('', `Other arguments: ${JSON.stringify(fields)}`);
  if (justification !== undefined && justification.trim() !== '') lines.push('', `Justification: ${justification}`);
  if (requirement.approverGroups.length > 0) {
    lines.push('', `After you confirm, ${requirement.quorum > 1 ? `${requirement.quorum} approvers` : 'an approver'} in ${requirement.approverGroups.join(' or ')} must still approve it.`);
  }
  return lines.join('\n');
}
