import { createHmac, timingSafeEqual } from 'node:crypto';
import { canonicalJsonWith } from '../audit/canonical.js';
import type { CallBinding } from './binding.js';

/** Where a request is in its life. Every state but `pending` and `approved` is final. */
export type ApprovalState = 'pending' | 'approved' | 'denied' | 'expired' | 'consumed' | 'withdrawn';

/** A verified identity as approvals compare it: issuer and sub, nothing else. */
export interface Identity {
  readonly issuer: string;
  readonly sub: string;
}

/** A verified approver as the identity layer hands it over. */
export interface Approver extends Identity {
  readonly email?: string | undefined;
  readonly groups: readonly string[];
}

export type Verdict = 'approve' | 'deny';

export interface ApprovalDecision {
  readonly approver: { readonly issuer: string; readonly sub: string; readonly email?: string; readonly groups: readonly string[] };
  readonly verdict: Verdict;
  readonly reason?: string;
  /** Epoch milliseconds. */
  readonly at: number;
}

/**
 * What approvers are shown about a call beyond its binding: who asked (as their token said), why policy
 * sent it to approval, and what the tool found out about it. Informational: the binding decides what runs.
 */
export interface RequestDetails {
  readonly requester: { readonly email?: string; readonly groups: readonly string[] };
  /** The deciding rule's reason. */
  readonly reason: string;
  /** Tool facts worth showing: statement classes, tables read and written, planner estimate, … */
  readonly facts?: Readonly<Record<string, unknown>>;
}

/**
 * One approval request as stored. Times are epoch milliseconds. `version` grows by one with every write
 * (the store's compare-and-set compares it); `mac` is the service's HMAC over everything else.
 */
export interface ApprovalRecord {
  readonly id: string;
  readonly version: number;
  readonly state: ApprovalState;
  readonly requester: Identity;
  readonly binding: CallBinding;
  readonly bindingHash: string;
  readonly approverGroups: readonly string[];
  readonly quorum: number;
  readonly justification?: string;
  readonly details?: RequestDetails;
  readonly createdAt: number;
  /** Decision deadline: after it a pending request is expired. */
  readonly expiresAt: number;
  readonly decisions: readonly ApprovalDecision[];
  readonly decidedAt?: number;
  /** Set on approval: the grant must be consumed before this instant. */
  readonly executeBy?: number;
  readonly consumedAt?: number;
  /** Set on expiry: whether the decision or the execution window ran out. */
  readonly expiredIn?: 'decision' | 'execution';
  /** Set when the requester withdrew it (cancelled the waiting call) before a decision. */
  readonly withdrawnAt?: number;
  readonly mac: string;
}

/** A record before it is sealed. */
export type UnsealedRecord = Omit<ApprovalRecord, 'mac'>;

/** What happened to a request; every state change yields one, for the audit to record. */
export type ApprovalEvent =
  | (EventBase & { readonly type: 'requested'; readonly requester: Identity; readonly bindingHash: string; readonly approverGroups: readonly string[]; readonly quorum: number; readonly expiresAt: string })
  | (EventBase & { readonly type: 'joined'; readonly requester: Identity })
  | (EventBase & { readonly type: 'approved'; readonly approver: Identity & { readonly email?: string }; readonly reason?: string; readonly approvals: number; readonly quorum: number; readonly granted: boolean; readonly executeBy?: string })
  | (EventBase & { readonly type: 'denied'; readonly approver: Identity & { readonly email?: string }; readonly reason?: string })
  | (EventBase & { readonly type: 'expired'; readonly phase: 'decision' | 'execution' })
  | (EventBase & { readonly type: 'consumed'; readonly requester: Identity })
  | (EventBase & { readonly type: 'withdrawn'; readonly requester: Identity });

interface EventBase {
  readonly requestId: string;
  /** ISO 8601. */
  readonly at: string;
  readonly bindingHash: string;
}

export function sameIdentity(a: Identity, b: Identity): boolean {
  return a.issuer === b.issuer && a.sub === b.sub;
}

const MAC_DOMAIN = 'airlock-approval-record/v1\n';

/** The record's HMAC-SHA256 (base64url) over its canonical JSON without `mac`. */
export function macOf(record: UnsealedRecord | ApprovalRecord, key: Uint8Array): string {
  return createHmac('sha256', key).update(MAC_DOMAIN).update(canonicalJsonWith(record, 'mac', undefined), 'utf8').digest('base64url');
}

export function seal(record: UnsealedRecord, key: Uint8Array): ApprovalRecord {
  return { ...record, mac: macOf(record, key) };
}

/**
 * Why a stored record must not be trusted, or undefined when it is sound: its MAC does not match (written
 * by something without the key), or it breaks an invariant the service always keeps (a defence in depth
 * for a leaked key and for bugs: a self-approval or an approval from outside the groups is never honoured).
 */
export function integrityProblem(record: ApprovalRecord, key: Uint8Array): string | undefined {
  const expected = Buffer.from(macOf(record, key));
  const actual = Buffer.from(typeof record.mac === 'string' ? record.mac : '');
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return 'MAC mismatch';
  return invariantProblem(record);
}

function invariantProblem(r: ApprovalRecord): string | undefined {
  if (!sameIdentity(r.requester, r.binding.principal)) return 'requester differs from the bound principal';
  const seen = new Set<string>();
  let approvals = 0;
  let denials = 0;
  for (const d of r.decisions) {
    if (sameIdentity(d.approver, r.requester)) return 'a decision by the requester';
    if (!d.approver.groups.some((g) => r.approverGroups.includes(g))) return 'a decision from outside the approver groups';
    const key = JSON.stringify([d.approver.issuer, d.approver.sub]);
    if (seen.has(key)) return 'two decisions by one approver';
    seen.add(key);
    if (d.verdict === 'approve') approvals++;
    else denials++;
  }
  const granted = approvals >= r.quorum && denials === 0;
  switch (r.state) {
    case 'pending':
      return approvals < r.quorum && denials === 0 ? undefined : 'pending with a final set of decisions';
    case 'approved':
      return granted && r.executeBy !== undefined ? undefined : 'approved without quorum';
    case 'consumed':
      return granted && r.consumedAt !== undefined ? undefined : 'consumed without quorum';
    case 'denied':
      return denials === 1 ? undefined : 'denied without a denial';
    case 'expired':
      return r.expiredIn !== undefined ? undefined : 'expired without a phase';
    case 'withdrawn':
      return r.withdrawnAt !== undefined && denials === 0 && approvals < r.quorum ? undefined : 'withdrawn after a final decision';
    default:
      return 'unknown state';
  }
}
