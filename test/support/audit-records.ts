import type { AuditRecord, StartedEntry } from '../../src/audit/record.js';

/** A call's started entry as the audit stage writes it: an allowed query_sql by ana. */
export function sampleStarted(id: string, over: Partial<StartedEntry> = {}): StartedEntry {
  return {
    id,
    time: '2026-12-06T10:00:00.000Z',
    sessionId: 'sess-a',
    transport: 'http',
    principal: { issuer: 'https://issuer.test', sub: 'u-ana', email: 'ana@example.com', groups: ['analysts'], dev: false },
    devIdentity: false,
    tool: 'query_sql',
    input: { connection: 'shop', sql: 'SELECT 1' },
    facts: null,
    decision: { effect: 'allow', ruleIds: ['read'], reason: 'allowed by read', policyVersion: 'sha256:p1' },
    ...over,
  };
}

/** The outcome record of that call: ok, one row. */
export function sampleRecord(id: string, over: Partial<AuditRecord> = {}): AuditRecord {
  return {
    ...sampleStarted(id),
    durationMs: 3,
    downstream: [],
    outcome: 'ok',
    error: null,
    result: { rowCount: 1, truncated: false, maskedColumns: [], findings: {} },
    response: { sha256: 'a'.repeat(64), bytes: 120, truncated: false, body: null },
    ...over,
  };
}
