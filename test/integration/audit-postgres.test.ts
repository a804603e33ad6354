import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { PgAuditStore, pgRecords, verifyPgStore } from '../../src/audit/pg-store.js';
import type { AuditRecord, StartedEntry } from '../../src/audit/record.js';

const url = (): string => inject('adminUrl');
const table = (): string => `audit_${randomBytes(4).toString('hex')}`;

function started(id: string, replica: string): StartedEntry {
  return {
    id,
    time: new Date().toISOString(),
    sessionId: replica,
    transport: 'http',
    principal: { issuer: 'https://issuer.test', sub: 'u', email: 'ana@example.com', groups: ['analysts'], dev: false },
    devIdentity: false,
    tool: 'query_sql',
    input: { connection: 'shop', sql: `SELECT ${JSON.stringify(id)}`, n: 1.5, big: 12345678901234 },
    facts: null,
    decision: { effect: 'allow', ruleIds: ['r'], reason: 'allowed by r', policyVersion: 'sha256:p' },
  };
}

function record(id: string, replica: string): AuditRecord {
  return { ...started(id, replica), durationMs: 3, downstream: [], outcome: 'ok', error: null, result: { rowCount: 1, truncated: false, maskedColumns: [], findings: {} }, response: { sha256: 'c'.repeat(64), bytes: 9, truncated: false, body: { k: 'v' } } };
}

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('PgAuditStore', () => {
  it('keeps one verifying chain while three replicas append concurrently (audit:one-record-per-call)', async () => {
    const t = table();
    const replicas = await Promise.all(['r1', 'r2', 'r3'].map((replica) => PgAuditStore.open({ url: url(), table: t, replica })));
    await Promise.all(
      replicas.map(async (store, r) => {
        for (let i = 0; i < 100; i++) {
          const batch = Array.from({ length: 3 }, (_, k) => `r${r}-${i}-${k}`);
          await Promise.all(batch.map((id) => store.start(started(id, `r${r}`)).then(() => store.append(record(id, `r${r}`)))));
        }
      }),
    );
    await Promise.all(replicas.map((s) => s.close()));
    const rows = await all(pgRecords(url(), t));
    expect(rows).toHaveLength(900);
    expect(rows.map((r) => r.chain.seq)).toEqual(Array.from({ length: 900 }, (_, i) => i + 1));
    expect(new Set(rows.map((r) => r.id)).size).toBe(900);
    expect(await verifyPgStore(url(), t)).toMatchObject({ ok: true, records: 900 });
    const client = new pg.Client({ connectionString: url() });
    await client.connect();
    try {
      expect((await client.query(`SELECT count(*)::int AS n FROM ${t}_started`)).rows[0]).toEqual({ n: 0 });
    } finally {
      await client.end();
    }
  });

  it('refuses UPDATE, DELETE and TRUNCATE on the record table, and verify names a record changed behind its back (audit:tamper-evident)', async () => {
    const t = table();
    const store = await PgAuditStore.open({ url: url(), table: t });
    for (let i = 0; i < 5; i++) await store.append(record(`x${i}`, 's'));
    await store.close();
    const client = new pg.Client({ connectionString: url() });
    await client.connect();
    try {
      await expect(client.query(`UPDATE ${t} SET outcome = 'denied' WHERE seq = 2`)).rejects.toThrow('the airlock audit table is append-only');
      await expect(client.query(`DELETE FROM ${t} WHERE seq = 2`)).rejects.toThrow('append-only');
      await expect(client.query(`TRUNCATE ${t}`)).rejects.toThrow('append-only');
      // An owner can switch the trigger off: the chain still tells.
      await client.query(`ALTER TABLE ${t} DISABLE TRIGGER ${t}_append_only`);
      await client.query(`UPDATE ${t} SET record = jsonb_set(record, '{outcome}', '"denied"') WHERE seq = 3`);
      await client.query(`DELETE FROM ${t} WHERE seq = 5`);
      await client.query(`INSERT INTO ${t} SELECT 6, 'late', time, session_id, principal, tool, outcome, prev, hash, record || '{"id":"late"}' FROM ${t} WHERE seq = 4`);
    } finally {
      await client.end();
    }
    const report = await verifyPgStore(url(), t);
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => [p.kind, p.seq])).toEqual([
      ['edited', 3],
      ['edited', 4],
      ['inserted', 4],
      ['deleted', 5],
    ]);
  });

  it('records its own unfinished calls as interrupted when the replica starts again (audit:started-before-execution)', async () => {
    const t = table();
    const first = await PgAuditStore.open({ url: url(), table: t, replica: 'web-1' });
    await first.start(started('cut-off', 'web-1'));
    const other = await PgAuditStore.open({ url: url(), table: t, replica: 'web-2' });
    await other.start(started('still-running', 'web-2'));
    await first.close();
    const again = await PgAuditStore.open({ url: url(), table: t, replica: 'web-1' });
    await again.close();
    await other.append(record('still-running', 'web-2'));
    await other.close();
    const rows = await all(pgRecords(url(), t));
    expect(rows.map((r) => [r.id, r.outcome])).toEqual([
      ['cut-off', 'interrupted'],
      ['still-running', 'ok'],
    ]);
    expect(await verifyPgStore(url(), t)).toMatchObject({ ok: true });
  });
});
