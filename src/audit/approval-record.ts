import { createHash, randomUUID } from 'node:crypto';
import type { ApiRefusal } from '../approval/api.js';
import type { ApprovalEvent } from '../approval/model.js';
import type { Outcome } from '../errors.js';
import { DEV_ISSUER } from '../identity/principal.js';
import { redactAll } from '../masking/detectors.js';
import type { AuditRecord } from './record.js';

/** What an event did to the request, as the record's outcome. */
const OUTCOME: Readonly<Record<string, Outcome>> = { denied: 'denied', expired: 'denied', withdrawn: 'cancelled' };

/**
 * The audit record of one approval event (`tool: "approval"`), linked to the calls by request id: who acted
 * (the requester, the approver, or nobody for an expiry), what happened, and the event's details.
 */
export function approvalEventRecord(event: ApprovalEvent, time: Date): AuditRecord {
  const { type, requestId, bindingHash, at, ...rest } = event;
  void at;
  const actor = 'approver' in event ? event.approver : 'requester' in event ? event.requester : undefined;
  const detail = Object.fromEntries(Object.entries(rest).filter(([k]) => k !== 'approver' && k !== 'requester'));
  return eventRecord({
    time,
    actor,
    outcome: OUTCOME[type] ?? 'ok',
    approval: { requestId, event: type, bindingHash, ...(Object.keys(detail).length === 0 ? {} : { detail }) },
  });
}

/** The audit record of a notification delivery (or its final failure). */
export function notifiedRecord(delivery: { readonly requestId: string; readonly event: string; readonly channel: string; readonly outcome: string; readonly attempts: number; readonly status?: number; readonly error?: string }, time: Date): AuditRecord {
  return eventRecord({
    time,
    actor: undefined,
    outcome: delivery.outcome === 'delivered' ? 'ok' : 'error',
    approval: {
      requestId: delivery.requestId,
      event: 'notified',
      detail: {
        about: delivery.event,
        channel: delivery.channel,
        delivery: delivery.outcome,
        attempts: delivery.attempts,
        ...(delivery.status === undefined ? {} : { status: delivery.status }),
        ...(delivery.error === undefined ? {} : { error: redactAll(delivery.error).slice(0, 500) }),
      },
    },
  });
}

/** The audit record of a refused approval API or console request (bad token, self-approval, CSRF, …). */
export function refusedApprovalRecord(refusal: ApiRefusal, time: Date): AuditRecord {
  // A store that is down (503) or a fault of airlock's own (500) refused nothing on purpose: an error, not a denial.
  const outcome: Outcome = refusal.status === 401 ? 'unauthenticated' : refusal.status === 400 || refusal.status === 413 || refusal.status === 415 ? 'invalid' : refusal.status >= 500 ? 'error' : 'denied';
  return eventRecord({
    time,
    actor: refusal.approver === undefined ? undefined : { ...refusal.approver, groups: refusal.approver.groups },
    outcome,
    error: { code: refusal.code, message: refusal.message, detail: redactAll(refusal.detail).slice(0, 1000) },
    approval: {
      requestId: refusal.requestId ?? '',
      event: 'refused',
      detail: { method: refusal.method, path: refusal.path, status: refusal.status, ...(refusal.via === undefined ? {} : { via: refusal.via }) },
    },
  });
}

interface EventParts {
  readonly time: Date;
  readonly actor: { readonly issuer: string; readonly sub: string; readonly email?: string | undefined; readonly groups?: readonly string[] } | undefined;
  readonly outcome: Outcome;
  readonly error?: AuditRecord['error'];
  readonly approval: NonNullable<AuditRecord['approval']>;
}

function eventRecord(parts: EventParts): AuditRecord {
  const { actor } = parts;
  const body = { approval: parts.approval.event, requestId: parts.approval.requestId };
  const text = JSON.stringify(body);
  const dev = actor?.issuer === DEV_ISSUER;
  return {
    id: randomUUID(),
    time: parts.time.toISOString(),
    durationMs: 0,
    sessionId: '',
    transport: 'approvals',
    principal: actor === undefined ? null : { issuer: actor.issuer, sub: actor.sub, email: actor.email ?? null, groups: [...(actor.groups ?? [])], dev },
    devIdentity: dev,
    tool: 'approval',
    input: null,
    facts: null,
    decision: null,
    downstream: [],
    outcome: parts.outcome,
    error: parts.error ?? null,
    result: null,
    response: { sha256: createHash('sha256').update(text).digest('hex'), bytes: Buffer.byteLength(text), truncated: false, body },
    approval: parts.approval,
  };
}
