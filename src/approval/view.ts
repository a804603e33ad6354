import type { ApprovalRecord, Approver } from './model.js';
import { sameIdentity } from './model.js';

/** Why a viewer cannot decide a request (absent when they can). */
export type CannotDecide = 'own_request' | 'not_an_approver' | 'already_decided' | 'decided';

/**
 * A request as approvers see it (API, console, CLI): the exact bound input, who asked and why, the
 * decisions so far, and whether this viewer may decide it. Times are ISO 8601.
 */
export interface RequestView {
  readonly id: string;
  readonly state: ApprovalRecord['state'];
  readonly requester: { readonly issuer: string; readonly sub: string; readonly email?: string; readonly groups: readonly string[] };
  readonly tool: string;
  readonly resource: string;
  /** The exact input that runs if approved. */
  readonly input: unknown;
  readonly ruleIds: readonly string[];
  readonly reason?: string;
  readonly facts?: Readonly<Record<string, unknown>>;
  readonly policyVersion: string;
  readonly bindingHash: string;
  readonly approverGroups: readonly string[];
  readonly quorum: number;
  readonly approvals: number;
  readonly decisions: readonly { readonly approver: { readonly sub: string; readonly email?: string }; readonly verdict: 'approve' | 'deny'; readonly reason?: string; readonly at: string }[];
  readonly justification?: string;
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly decidedAt?: string;
  readonly executeBy?: string;
  readonly consumedAt?: string;
  readonly canDecide: boolean;
  readonly cannotDecide?: CannotDecide;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** Whether `viewer` may decide `record` now, and if not, why. */
export function cannotDecide(record: ApprovalRecord, viewer: Approver): CannotDecide | undefined {
  if (sameIdentity(record.requester, viewer)) return 'own_request';
  if (!viewer.groups.some((g) => record.approverGroups.includes(g))) return 'not_an_approver';
  if (record.state !== 'pending') return 'decided';
  if (record.decisions.some((d) => sameIdentity(d.approver, viewer))) return 'already_decided';
  return undefined;
}

/** The approvers' view of a request, for `viewer`. */
export function viewRequest(record: ApprovalRecord, viewer: Approver): RequestView {
  const why = cannotDecide(record, viewer);
  const details = record.details;
  return {
    id: record.id,
    state: record.state,
    requester: {
      issuer: record.requester.issuer,
      sub: record.requester.sub,
      ...(details?.requester.email === undefined ? {} : { email: details.requester.email }),
      groups: details?.requester.groups ?? [],
    },
    tool: record.binding.tool,
    resource: record.binding.resource,
    input: record.binding.input,
    ruleIds: record.binding.ruleIds,
    ...(details === undefined ? {} : { reason: details.reason }),
    ...(details?.facts === undefined ? {} : { facts: details.facts }),
    policyVersion: record.binding.policyVersion,
    bindingHash: record.bindingHash,
    approverGroups: record.approverGroups,
    quorum: record.quorum,
    approvals: record.decisions.filter((d) => d.verdict === 'approve').length,
    decisions: record.decisions.map((d) => ({
      approver: { sub: d.approver.sub, ...(d.approver.email === undefined ? {} : { email: d.approver.email }) },
      verdict: d.verdict,
      ...(d.reason === undefined ? {} : { reason: d.reason }),
      at: iso(d.at),
    })),
    ...(record.justification === undefined ? {} : { justification: record.justification }),
    createdAt: iso(record.createdAt),
    expiresAt: iso(record.expiresAt),
    ...(record.decidedAt === undefined ? {} : { decidedAt: iso(record.decidedAt) }),
    ...(record.executeBy === undefined ? {} : { executeBy: iso(record.executeBy) }),
    ...(record.consumedAt === undefined ? {} : { consumedAt: iso(record.consumedAt) }),
    canDecide: why === undefined,
    ...(why === undefined ? {} : { cannotDecide: why }),
  };
}
