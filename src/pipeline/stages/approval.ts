import { bindCall, type BoundCall } from '../../approval/binding.js';
import { finalStateError, fromApprovalStore } from '../../approval/errors.js';
import type { ApprovalRecord, RequestDetails } from '../../approval/model.js';
import { pendingResult } from '../../approval/pending.js';
import type { ApprovalService } from '../../approval/service.js';
import { ApprovalRequiredError, CancelledError, InvalidInputError } from '../../errors.js';
import type { ToolDeps } from '../../tool.js';
import type { CallApproval, CallContext, Next, Stage } from '../context.js';
import { confirmByCaller } from './confirm.js';

export interface ApprovalStageOptions {
  /** The approval service; without one, calls that need approval stop with APPROVAL_REQUIRED. */
  readonly service?: ApprovalService;
  readonly clock: { now(): number };
  /** How long a call waits in place for a decision before it returns a pending handle (ms). */
  readonly waitMs: number;
  /** Progress heartbeat while waiting, and how often the request is re-read (default 5 s). */
  readonly heartbeatMs?: number;
  /** The console link of a request, for the pending handle. */
  readonly consoleUrl?: (requestId: string) => string | undefined;
  /** For the tool's preview of a call (the planner's estimate shown to approvers). */
  readonly deps?: ToolDeps;
  /**
   * Aborted when the server stops. A waiting call then ends its wait at once with the pending handle: the
   * request is kept (it is not the agent withdrawing it) and can be collected after the restart, and the
   * shutdown does not sit out every wait in progress.
   */
  readonly stopping?: AbortSignal;
}

/** The argument every tool that can need approval accepts for the approvers; not part of what is bound. */
export const JUSTIFICATION = 'justification';

/**
 * Calls whose decision is `approve` run only on a single-use grant bound to exactly this call. The stage
 * opens a request (or joins the caller's pending one for the same call, or collects the one
 * `approval_status` recalled), waits in place for a decision for a bounded time with progress, and then
 * uses the grant and runs the call, or ends with a `pending_approval` handle, or with the refusal.
 */
export function approvalStage(options: ApprovalStageOptions): Stage {
  const { service, clock } = options;
  if (!Number.isInteger(options.waitMs) || options.waitMs < 0) throw new TypeError('approvalStage: waitMs must be a non-negative integer');
  const heartbeatMs = options.heartbeatMs ?? 5000;
  if (!Number.isInteger(heartbeatMs) || heartbeatMs < 10) throw new TypeError('approvalStage: heartbeatMs must be an integer of at least 10');
  return async function approval(ctx: CallContext, next: Next): Promise<void> {
    const { decision, tool, principal, facts } = ctx;
    if (decision === undefined || tool === undefined || principal === undefined || facts === undefined) throw new TypeError('approval stage needs decision, tool, principal and facts');
    // Policy allows the call now (also a recalled one whose rules changed): it runs like any allowed call.
    if (decision.effect !== 'approve') return next();
    const rule = decision.approval;
    const { input, justification: given } = splitJustification(ctx.input);
    let justification = given;
    const bound = bindCall({ principal, tool: tool.name, resource: facts.resource?.name ?? '', input, ruleIds: decision.ruleIds, policyVersion: decision.policyVersion });
    // The caller's user confirms first (not when collecting a request it already confirmed before opening).
    if (rule?.confirmByCaller === true && ctx.recalled?.bindingHash !== bound.bindingHash) {
      if (!(await confirmByCaller(ctx, bound, rule, justification))) return;
      if (rule.approverGroups.length === 0) return next();
    }
    if (service === undefined || rule === undefined) throw new ApprovalRequiredError(decision.reason, decision.ruleIds, rule?.approverGroups ?? []);
    let requestId: string;
    let role: CallApproval['role'];
    let waitMs = options.waitMs;
    if (ctx.recalled !== undefined && ctx.recalled.bindingHash === bound.bindingHash) {
      requestId = ctx.recalled.requestId;
      role = 'collected';
      waitMs = ctx.recalled.waitMs;
    } else {
      if (rule.justificationRequired && (justification === undefined || justification.trim() === '') && ctx.askJustification !== undefined) {
        // Where the client can ask its user in place, the user says why; the answer is shown, never bound.
        ctx.report?.({ kind: 'progress', step: 'confirming', message: 'Asking your user why this call is needed (policy requires a justification for approvers)' });
        justification = await ctx.askJustification(justificationText(tool.name, facts, decision.reason, input));
      }
      if (rule.justificationRequired && (justification === undefined || justification.trim() === '')) {
        throw new InvalidInputError(tool.name, [{ path: JUSTIFICATION, message: `this call needs a human approval and policy asks for a justification: say in "${JUSTIFICATION}" why it is needed (approvers read it)` }]);
      }
      const preview = await previewOf(ctx, options.deps);
      const shown = { ...(facts.sql === undefined ? {} : sqlSummary(facts.sql)), ...preview };
      const details: RequestDetails = {
        requester: { ...(principal.email === undefined ? {} : { email: principal.email }), groups: [...principal.groups] },
        reason: decision.reason,
        ...(Object.keys(shown).length === 0 ? {} : { facts: shown }),
      };
      const opened = await fromApprovalStore(service.request(bound, {
        approverGroups: rule.approverGroups,
        quorum: rule.quorum,
        timeoutSeconds: rule.timeoutSeconds,
        ...(justification === undefined ? {} : { justification }),
        details,
      }));
      requestId = opened.request.id;
      role = opened.events.some((e) => e.type === 'requested') ? 'opened' : 'joined';
      if (ctx.recalled !== undefined) {
        ctx.report?.({ kind: 'log', level: 'warning', message: `Policy changed since request ${ctx.recalled.requestId} was made; this call needs a fresh approval: request ${requestId}` });
      }
      if (waitMs > 0) ctx.report?.({ kind: 'log', level: 'info', message: `Waiting for approval by ${rule.approverGroups.join(' or ')} (request ${requestId})` });
    }
    ctx.approval = { requestId, state: 'pending', role, bindingHash: bound.bindingHash, approvers: [] };

    const deadline = clock.now() + waitMs;
    const stop = options.stopping === undefined ? ctx.signal : AbortSignal.any([ctx.signal, options.stopping]);
    // Listening starts before the first read, so a decision between a read and the wait is never missed.
    const changes = watchRequest(service, requestId);
    try {
      for (;;) {
        changes.reset();
        const { request } = await fromApprovalStore(service.status(requestId, principal));
        ctx.approval = callApproval(request, role);
        if (request.state === 'approved') {
          changes.stop();
          return await runOnGrant(ctx, service, request, bound, role, next);
        }
        const refusal = finalStateError(request);
        if (refusal !== undefined) throw refusal;
        const now = clock.now();
        const left = options.stopping?.aborted === true ? 0 : deadline - now;
        if (left <= 0) {
          ctx.result = pendingResult(request, options.consoleUrl?.(request.id), tool.name);
          ctx.outcome = 'approval_required';
          return;
        }
        ctx.report?.({ kind: 'progress', step: 'waiting', message: waitingMessage(request, left, now) });
        await changes.next(Math.min(left, heartbeatMs), stop);
        if (ctx.signal.aborted) {
          // A call nobody waits for any more withdraws the request it opened: approvers no longer see it.
          if (role === 'opened') await service.withdraw(request.id, principal).catch(() => undefined);
          throw new CancelledError({ detail: `cancelled while waiting for approval request ${request.id}` });
        }
      }
    } finally {
      changes.stop();
    }
  };
}

/** Changes to one request since the last `reset()`; `next` resolves on one, after `ms`, or on abort. */
function watchRequest(service: ApprovalService, requestId: string): { reset(): void; next(ms: number, signal: AbortSignal): Promise<void>; stop(): void } {
  let changed = false;
  let wake: (() => void) | undefined;
  const unsubscribe = service.subscribe((change) => {
    if (change.requestId !== requestId) return;
    changed = true;
    wake?.();
  });
  return {
    reset: () => void (changed = false),
    next(ms, signal) {
      if (changed || signal.aborted) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          signal.removeEventListener('abort', done);
          wake = undefined;
          resolve();
        };
        const timer = setTimeout(done, ms);
        signal.addEventListener('abort', done, { once: true });
        wake = done;
      });
    },
    stop: unsubscribe,
  };
}

async function runOnGrant(ctx: CallContext, service: ApprovalService, request: ApprovalRecord, bound: BoundCall, role: CallApproval['role'], next: Next): Promise<void> {
  const principal = ctx.principal;
  if (principal === undefined) throw new TypeError('approval stage needs a principal');
  // Single use: the grant is spent before the call runs, so two collectors cannot both run it.
  const used = await fromApprovalStore(service.consume(request.id, principal, bound));
  ctx.approval = callApproval(used.request, role);
  const by = ctx.approval.approvers.map((a) => a.email ?? a.sub).join(', ');
  ctx.report?.({ kind: 'progress', step: 'approved', message: `Approved by ${by} (request ${request.id}); running the approved call` });
  await next();
}

function callApproval(request: ApprovalRecord, role: CallApproval['role']): CallApproval {
  return {
    requestId: request.id,
    state: request.state,
    role,
    bindingHash: request.bindingHash,
    approvers: request.decisions.map((d) => ({ sub: d.approver.sub, ...(d.approver.email === undefined ? {} : { email: d.approver.email }), verdict: d.verdict })),
  };
}

function waitingMessage(request: ApprovalRecord, leftMs: number, now: number): string {
  const approvals = request.decisions.filter((d) => d.verdict === 'approve').length;
  const quorum = request.quorum > 1 ? `, ${approvals} of ${request.quorum} approvals` : '';
  const expires = new Date(request.expiresAt).toISOString().slice(11, 16);
  const minutes = Math.max(0, Math.round((request.expiresAt - now) / 60_000));
  return `Waiting for approval by ${request.approverGroups.join(' or ')} (request ${request.id}${quorum}), ${Math.ceil(leftMs / 1000)} s left in this wait, request expires ${expires}Z (in ${minutes} min)`;
}

/** The justification form's text: what the call is and why policy wants a reason. */
function justificationText(tool: string, facts: NonNullable<CallContext['facts']>, reason: string, input: unknown): string {
  const sql = input !== null && typeof input === 'object' && typeof (input as { sql?: unknown }).sql === 'string' ? (input as { sql: string }).sql : undefined;
  return [
    `This ${tool} call${facts.resource === undefined ? '' : ` on ${facts.resource.name}`} needs a human approval, and policy asks why it is needed: ${reason}`,
    ...(sql === undefined ? [] : ['', 'SQL:', sql]),
    '',
    'Your answer is shown to the approvers next to the exact call; it does not change what runs.',
  ].join('\n');
}

/** The call's input without the justification (it is shown to approvers, not bound: resending with new words joins). */
function splitJustification(input: unknown): { input: unknown; justification?: string } {
  if (input === null || typeof input !== 'object' || Array.isArray(input) || !(JUSTIFICATION in input)) return { input };
  const { [JUSTIFICATION]: justification, ...rest } = input as Record<string, unknown>;
  return typeof justification === 'string' ? { input: rest, justification } : { input: rest };
}

/** The tool's preview for approvers (the planner's estimate); a failure only leaves it out. */
async function previewOf(ctx: CallContext, deps: ToolDeps | undefined): Promise<Readonly<Record<string, unknown>>> {
  const { tool, facts, decision } = ctx;
  if (tool?.preview === undefined || facts === undefined || decision === undefined || deps === undefined) return {};
  try {
    return await tool.preview(ctx.input, { facts, limits: decision.limits, deps, signal: ctx.signal });
  } catch {
    return { estimate: 'unavailable' };
  }
}

/** What approvers are shown of a statement's facts. */
function sqlSummary(sql: NonNullable<NonNullable<CallContext['facts']>['sql']>): Readonly<Record<string, unknown>> {
  return { class: sql.class, classesSeen: [...sql.classesSeen], statementType: sql.statementType, tables: [...sql.tables], tablesWritten: [...sql.tablesWritten], why: sql.reason };
}
