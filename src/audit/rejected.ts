import { createHash } from 'node:crypto';
import type { HttpRejection } from '../mcp/transports/http.js';
import type { AuditRecord } from './record.js';

/** The audit record for a request the HTTP bearer gate refused before it reached the MCP layer. */
export function rejectedRequestRecord(rejection: HttpRejection, time: Date): AuditRecord {
  const response = { error: 'UNAUTHENTICATED', status: 401 };
  const text = JSON.stringify(response);
  return {
    id: rejection.id,
    time: time.toISOString(),
    durationMs: 0,
    sessionId: rejection.sessionId,
    transport: rejection.transport,
    principal: null,
    devIdentity: false,
    tool: rejection.tool ?? rejection.method,
    input: rejection.arguments ?? null,
    facts: null,
    decision: null,
    downstream: [],
    outcome: 'unauthenticated',
    error: { code: 'UNAUTHENTICATED', message: 'No verified identity: this call carries no valid credential.', detail: rejection.detail },
    result: null,
    response: { sha256: createHash('sha256').update(text).digest('hex'), bytes: Buffer.byteLength(text), truncated: false, body: response },
  };
}
