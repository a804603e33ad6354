import { createHash } from 'node:crypto';
import { principalOf } from '../identity/principal.js';
import type { UnservedCall } from '../mcp/screen.js';
import type { HttpRejection } from '../mcp/transports/http.js';
import { boundedInput, type AuditInputLimits } from './bounded-input.js';
import { recordedPrincipal, type AuditRecord } from './record.js';

/**
 * How much of a refused request's input the record keeps. Refused requests cost the caller nothing, so
 * input over 4 KiB of JSON is kept only as its digest, size and a 1 KiB prefix: an anonymous flood of large
 * bodies cannot fill the audit disk (after which every call fails closed).
 */
const REJECTED_INPUT_LIMITS: AuditInputLimits = Object.freeze({ maxValueBytes: Number.POSITIVE_INFINITY, maxInputBytes: 4096, prefixBytes: 1024 });

const ERRORS = {
  400: { code: 'INVALID_INPUT', outcome: 'invalid', message: 'Bad request: no session; the first request must be initialize.' },
  401: { code: 'UNAUTHENTICATED', outcome: 'unauthenticated', message: 'No verified identity: this call carries no valid credential.' },
  403: { code: 'POLICY_DENIED', outcome: 'denied', message: 'Forbidden: this session belongs to another principal.' },
  404: { code: 'INVALID_INPUT', outcome: 'invalid', message: 'Session not found.' },
  406: { code: 'INVALID_INPUT', outcome: 'invalid', message: 'Not acceptable: the Accept header leaves out the media types of the answer.' },
  415: { code: 'INVALID_INPUT', outcome: 'invalid', message: 'Unsupported media type: Content-Type must be application/json.' },
} as const;

/** A 400 for a request's headers (an MCP-Protocol-Version this server does not speak), not for its session. */
const HEADER_400 = { code: 'INVALID_INPUT', outcome: 'invalid', message: 'Bad request: unsupported MCP-Protocol-Version header.' } as const;

/**
 * The audit record for a request refused at the HTTP gate: without a verified identity (401), or a
 * verified caller naming a session that is not theirs (403) or does not exist (404), or sending something
 * other than initialize without a session (400), or a request whose headers the Streamable HTTP transport
 * refuses (400, 406, 415: see HttpRejection.headerFault). The record belongs
 * to the caller's own identity (none for a 401) and to no session: the session id the request named is
 * unverified and is kept apart in `claimedSessionId`, so it never shows up as a call of that session.
 */
export function rejectedRequestRecord(rejection: HttpRejection, time: Date): AuditRecord {
  const kind = rejection.status === 400 && rejection.headerFault === true ? HEADER_400 : ERRORS[rejection.status];
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
    principal: recordedPrincipal(p),
    devIdentity: p?.dev ?? false,
    tool: rejection.tool ?? rejection.method,
    input: rejection.arguments === undefined ? null : boundedInput(rejection.arguments, REJECTED_INPUT_LIMITS),
    facts: null,
    decision: null,
    downstream: [],
    outcome: kind.outcome,
    error: { code: kind.code, message: kind.message, detail: rejection.detail },
    result: null,
    response: { sha256: createHash('sha256').update(text).digest('hex'), bytes: Buffer.byteLength(text), truncated: false, body: response },
  };
}

/**
 * The audit record for a tools/call that airlock received and screened but that no handler took before its
 * ticket expired (see IntakeDesk): it did not run, and whatever the client got (an SDK refusal, a closed
 * connection) came from outside the pipeline. It is recorded under the caller the transport knew, outside
 * any session (the session may be gone), with what is known of why.
 */
export function unservedCallRecord(unserved: UnservedCall, id: string, time: Date): AuditRecord {
  const origin = unserved.origin;
  const p = origin.credential === undefined ? undefined : principalOf(origin.credential);
  const requestId = String(unserved.requestId).slice(0, 64);
  return {
    id,
    time: time.toISOString(),
    durationMs: 0,
    sessionId: '',
    ...(origin.sessionId === '' ? {} : { claimedSessionId: origin.sessionId.slice(0, 200) }),
    transport: origin.transport,
    principal: recordedPrincipal(p),
    devIdentity: p?.dev ?? false,
    tool: unserved.call.toolName,
    input: boundedInput(unserved.call.rawArguments, REJECTED_INPUT_LIMITS),
    facts: null,
    decision: null,
    downstream: [],
    outcome: 'error',
    error: {
      code: 'UNSERVED',
      message: 'airlock received this call but it never reached a handler, so it did not run.',
      detail: `request id ${requestId} was not taken by a handler within ${unserved.ageMs} ms of its arrival at ${new Date(unserved.receivedAt).toISOString()} (its request or connection ended before dispatch)`,
    },
    result: null,
    response: { sha256: createHash('sha256').update('').digest('hex'), bytes: 0, truncated: false },
  };
}
