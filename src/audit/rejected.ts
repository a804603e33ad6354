import { createHash } from 'node:crypto';
import type { HttpRejection } from '../mcp/transports/http.js';
import type { AuditRecord } from './record.js';

/**
 * Largest input of a refused request kept verbatim (JSON bytes). Refused requests cost the caller
 * nothing, so a larger one is kept as its digest, size and a prefix: an anonymous flood of large bodies
 * cannot fill the audit disk (after which every call fails closed).
 */
export const MAX_REJECTED_INPUT_BYTES = 4096;
/** Bytes of an oversized input's JSON text kept as its prefix. */
export const REJECTED_INPUT_PREFIX_BYTES = 1024;

/** What stands in the audit for an input too large to keep: digest and size describe the whole JSON text. */
export interface TruncatedInput {
  readonly $truncated: true;
  readonly sha256: string;
  readonly bytes: number;
  readonly prefix: string;
}

function boundedInput(input: unknown): unknown {
  let json: string;
  try {
    json = JSON.stringify(input) ?? 'null';
  } catch (error) {
    json = `(not serialisable: ${error instanceof Error ? error.message : String(error)})`;
  }
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes <= MAX_REJECTED_INPUT_BYTES && !json.startsWith('(not serialisable')) return input;
  // Cut on a character boundary; the replacement character a split sequence would leave is dropped.
  const prefix = Buffer.from(json, 'utf8').subarray(0, REJECTED_INPUT_PREFIX_BYTES).toString('utf8').replace(/\uFFFD$/, '');
  const truncated: TruncatedInput = { $truncated: true, sha256: createHash('sha256').update(json, 'utf8').digest('hex'), bytes, prefix };
  return truncated;
}

const ERRORS = {
  401: { code: 'UNAUTHENTICATED', outcome: 'unauthenticated', message: 'No verified identity: this call carries no valid credential.' },
  403: { code: 'POLICY_DENIED', outcome: 'denied', message: 'Forbidden: this session belongs to another principal.' },
  404: { code: 'INVALID_INPUT', outcome: 'invalid', message: 'Session not found.' },
} as const;

/**
 * The audit record for a request refused at the HTTP gate: without a verified identity (401), or a
 * verified caller naming a session that is not theirs (403) or does not exist (404). The record belongs
 * to the caller's own identity (none for a 401) and to no session: the session id the request named is
 * unverified and is kept apart in `claimedSessionId`, so it never shows up as a call of that session.
 */
export function rejectedRequestRecord(rejection: HttpRejection, time: Date): AuditRecord {
  const kind = ERRORS[rejection.status];
  const response = { error: kind.code, status: rejection.status };
  const text = JSON.stringify(response);
  const p = rejection.principal;
  return {
    id: rejection.id,
    time: time.toISOString(),
    durationMs: 0,
    sessionId: '',
    ...(rejection.claimedSessionId === undefined ? {} : { claimedSessionId: rejection.claimedSessionId }),
    transport: rejection.transport,
    principal: p === undefined ? null : { issuer: p.issuer, sub: p.sub, email: p.email ?? null, groups: [...p.groups], dev: p.dev },
    devIdentity: p?.dev ?? false,
    tool: rejection.tool ?? rejection.method,
    input: rejection.arguments === undefined ? null : boundedInput(rejection.arguments),
    facts: null,
    decision: null,
    downstream: [],
    outcome: kind.outcome,
    error: { code: kind.code, message: kind.message, detail: rejection.detail },
    result: null,
    response: { sha256: createHash('sha256').update(text).digest('hex'), bytes: Buffer.byteLength(text), truncated: false, body: response },
  };
}
