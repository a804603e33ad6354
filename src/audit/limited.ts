import { createHash } from 'node:crypto';
import { principalOf } from '../identity/principal.js';
import type { HttpLimitEvent } from '../mcp/transports/http.js';
import { recordedPrincipal, type AuditRecord } from './record.js';

const CODES = { session_refused: 'TOO_MANY_SESSIONS', session_draining: 'SHUTTING_DOWN', session_dropped: 'SESSION_DROPPED' } as const;

/**
 * The audit record for an HTTP session refused at a cap or because airlock is stopping, or dropped because
 * its client stopped reading.
 */
export function limitRecord(event: HttpLimitEvent, time: Date): AuditRecord {
  const code = CODES[event.kind];
  const response = { error: code };
  const text = JSON.stringify(response);
  const credential = event.credential;
  const p = principalOf(credential);
  return {
    id: event.id,
    time: time.toISOString(),
    durationMs: 0,
    sessionId: event.sessionId,
    transport: event.transport,
    principal: recordedPrincipal(p),
    devIdentity: credential.kind === 'dev',
    tool: event.method,
    input: null,
    facts: null,
    decision: null,
    downstream: [],
    outcome: 'error',
    error: { code, message: event.message, detail: event.detail },
    result: null,
    response: { sha256: createHash('sha256').update(text).digest('hex'), bytes: Buffer.byteLength(text), truncated: false, body: response },
  };
}
