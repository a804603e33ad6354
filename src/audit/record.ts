import type { Outcome } from '../errors.js';
import type { Principal } from '../identity/principal.js';
import type { SqlFacts } from '../policy/sql/classify.js';
import type { SealedBlob } from './sealed.js';

export type TransportKind = 'stdio' | 'http' | 'sse' | 'in-memory' | 'approvals';

/** One audit record per governed call, written before the response reaches the agent. */
/** A client program's name and version as it states them (bounded, printable; see `AuditRecord.client`). */
export interface ClientInfo {
  readonly name: string;
  readonly version: string;
}

export interface AuditRecord {
  readonly id: string;
  readonly time: string;
  readonly durationMs: number;
  readonly sessionId: string;
  /**
   * A session id a refused request named but could not be verified to own (HTTP gate refusals only).
   * Kept apart from `sessionId` so that the refusal never appears among that session's calls.
   */
  readonly claimedSessionId?: string;
  readonly transport: TransportKind;
  /**
   * The MCP protocol version the call came in on (`2025-11-25`, `2026-07-28`, …), when the connection had
   * negotiated one. 2026-07-28 has no protocol sessions: its calls carry `sessionId: ""`.
   */
  readonly protocol?: string;
  /**
   * The client program as it names itself (`clientInfo`: from `initialize` on 2025-era connections, from
   * each request on 2026-07-28). Asserted by the client, never verified: it groups calls (`audit replay
   * --principal … --client …`), it decides nothing.
   */
  readonly client?: ClientInfo;
  /** The verified caller; `null` when no identity could be established. Never the token. */
  readonly principal: {
    readonly issuer: string;
    readonly sub: string;
    readonly email: string | null;
    readonly groups: readonly string[];
    readonly dev: boolean;
  } | null;
  /** True when the identity came from `--dev-identity` (unverified, demo and tests only). */
  readonly devIdentity: boolean;
  readonly tool: string;
  /** The arguments exactly as the agent sent them. */
  readonly input: unknown;
  readonly facts: {
    readonly resource?: { readonly kind: string; readonly name: string };
    readonly sql?: SqlFacts;
  } | null;
  readonly decision: {
    readonly effect: 'allow' | 'approve' | 'deny';
    readonly ruleIds: readonly string[];
    readonly reason: string;
    readonly policyVersion: string;
  } | null;
  /** Identities airlock used downstream (database role, impersonated service account); never the agent's token. */
  readonly downstream: readonly { readonly kind: string; readonly principal: string }[];
  readonly outcome: Outcome;
  readonly error: { readonly code: string; readonly message: string; readonly detail: string } | null;
  readonly result: {
    readonly rowCount: number;
    readonly truncated: boolean;
    readonly rowsAffected?: number;
    readonly maskedColumns: readonly string[];
    readonly findings: Readonly<Record<string, number>>;
    /** Masking overrides of the policy that changed which detectors ran (ids; absent when none did). */
    readonly maskingOverrides?: readonly string[];
  } | null;
  /** What the agent received (already masked), kept whole up to the store's cap. */
  readonly response: AuditedResponse;
  /**
   * The approval request behind this record: for a call, the request it opened, joined or ran on (with its
   * approvers); for an approval event (`tool: "approval"`), the event.
   */
  readonly approval?: AuditApproval;
  /**
   * The caller's own confirmation of the call (`approval.confirmByCaller`): asked, confirmed or declined by
   * the caller's user, or impossible on the caller's client. Never an approval: approvers are in `approval`.
   */
  readonly confirmation?: AuditConfirmation;
  /** The unmasked result, encrypted for compliance (only when configured); never shown to the agent. */
  readonly sealedResult?: SealedBlob;
}

/** The confirmation part of a record (see `AuditRecord.confirmation`). */
export interface AuditConfirmation {
  readonly state: 'requested' | 'confirmed' | 'declined' | 'unavailable';
  /** The call the form was written from (see `bindCall`). */
  readonly bindingHash: string;
  /** The caller's verified identity, who answered the form. */
  readonly by?: { readonly issuer: string; readonly sub: string; readonly email?: string };
  readonly how?: string;
  readonly note?: string;
}

/** The approval part of a record (see `AuditRecord.approval`). */
export interface AuditApproval {
  readonly requestId: string;
  /** Calls: the request's state when the call ended. */
  readonly state?: string;
  /** Calls: whether this call opened the request, joined a pending one, or collected it. */
  readonly role?: 'opened' | 'joined' | 'collected';
  /** Events: what happened (requested, approved, denied, expired, consumed, withdrawn, notified, refused, …). */
  readonly event?: string;
  readonly bindingHash?: string;
  readonly approvers?: readonly { readonly sub: string; readonly email?: string; readonly verdict: 'approve' | 'deny' }[];
  /** Events: more about it (reason, quorum, channel and delivery outcome, …). */
  readonly detail?: Readonly<Record<string, unknown>>;
}

/**
 * The durable note that a call is about to run, written before execution. If airlock stops before the
 * outcome is recorded, the store turns it into an `interrupted` record when it next opens.
 */
export interface StartedEntry {
  readonly id: string;
  readonly time: string;
  readonly sessionId: string;
  readonly transport: TransportKind;
  readonly protocol?: string;
  readonly client?: ClientInfo;
  readonly principal: AuditRecord['principal'];
  readonly devIdentity: boolean;
  readonly tool: string;
  readonly input: unknown;
  readonly facts: AuditRecord['facts'];
  readonly decision: AuditRecord['decision'];
}

/**
 * The audit store as the pipeline sees it. `start` and `append` resolve only once the entry is durable
 * (written to the operating system; with fsync on, to the disk); a rejection means the call must not
 * proceed or its response must not be released.
 */
export interface AuditSink {
  start(entry: StartedEntry): Promise<void>;
  append(record: AuditRecord): Promise<void>;
}

/**
 * The response as the agent saw it. `body` holds it whole when it fits the cap; a larger one keeps the
 * first part of its JSON text in `preview`. `sha256` and `bytes` always describe the full response.
 */
export interface AuditedResponse {
  readonly sha256: string;
  readonly bytes: number;
  readonly truncated: boolean;
  readonly body?: unknown;
  readonly preview?: string;
}

/** A principal as a record keeps it (no client id; a missing email is null), or null for none. */
export function recordedPrincipal(p: Principal | undefined): AuditRecord['principal'] {
  return p === undefined ? null : { issuer: p.issuer, sub: p.sub, email: p.email ?? null, groups: [...p.groups], dev: p.dev };
}
