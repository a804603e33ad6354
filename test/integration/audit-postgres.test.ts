import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { interruptedRecord } from '../../src/audit/interrupted.js';
import { PgAuditStore, pgRecords, verifyPgStore } from '../../src/audit/pg-store.js';
import { stopChild, waitForOutput } from '../support/child.js';
import { until } from '../support/served.js';
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

  it('runs on a role that does not own the table once its owner has set it up, and that role cannot switch the triggers off', async () => {
    const t = table();
    // The owner (the admin role here) sets the store up once.
    await (await PgAuditStore.open({ url: url(), table: t, replica: 'owner' })).close();
    const role = `airlock_rt_${randomBytes(3).toString('hex')}`;
    const admin = new pg.Client({ connectionString: url() });
    await admin.connect();
    try {
      await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD 'rt-secret'`);
      await admin.query(`GRANT SELECT, INSERT ON ${t} TO ${role}`);
      await admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${t}_started, ${t}_head TO ${role}`);
      const runtime = new URL(url());
      runtime.username = role;
      runtime.password = 'rt-secret';
      const store = await PgAuditStore.open({ url: runtime.toString(), table: t, replica: 'rt' });
      try {
        for (let i = 0; i < 3; i++) {
          await store.start(started(`rt${i}`, 'rt'));
          await store.append(record(`rt${i}`, 'rt'));
        }
      } finally {
        await store.close();
      }
      expect(await verifyPgStore(url(), t)).toMatchObject({ ok: true, records: 3 });
      const rt = new pg.Client({ connectionString: runtime.toString() });
      await rt.connect();
      try {
        await expect(rt.query(`ALTER TABLE ${t} DISABLE TRIGGER ${t}_append_only`)).rejects.toThrow(/must be owner/);
        await expect(rt.query(`UPDATE ${t} SET outcome = 'denied'`)).rejects.toThrow();
      } finally {
        await rt.end();
      }
      // A trigger switched off by the owner is no store set up: the runtime role's start refuses (it cannot redo the DDL).
      await admin.query(`ALTER TABLE ${t} DISABLE TRIGGER ${t}_append_only`);
      await expect(PgAuditStore.open({ url: runtime.toString(), table: t, replica: 'rt2', nameWaitMs: 300 })).rejects.toThrow(/permission denied|must be owner/);
      // Enabled for replication sessions only, it fires for none of airlock's: the same refusal.
      await admin.query(`ALTER TABLE ${t} ENABLE REPLICA TRIGGER ${t}_append_only`);
      await expect(PgAuditStore.open({ url: runtime.toString(), table: t, replica: 'rt3', nameWaitMs: 300 })).rejects.toThrow(/permission denied|must be owner/);
    } finally {
      await admin.query(`DROP OWNED BY ${role}`).catch(() => undefined);
      await admin.query(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
      await admin.end();
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

  it('records the open calls of a replica that is gone for good as interrupted from another replica, never those of a live one (issue 21)', async () => {
    const t = table();
    // pod-a runs in a process of its own, starts a call, and is killed before the call ends; it never comes back.
    const child = spawn(process.execPath, [fileURLToPath(new URL('../support/pg-audit-replica.mjs', import.meta.url)), url(), t, 'pod-a'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const live = await PgAuditStore.open({ url: url(), table: t, replica: 'pod-b', sweepMs: 100 });
    const observer = await PgAuditStore.open({ url: url(), table: t, replica: 'pod-c', sweepMs: 100 });
    try {
      await waitForOutput(child, /ready/);
      await live.start(started('still-running', 'pod-b'));
      // Sweeps go on while pod-a lives: its call stays open.
      await new Promise((r) => setTimeout(r, 500));
      expect((await all(pgRecords(url(), t))).map((r) => r.id)).toEqual([]);
      await stopChild(child, 'SIGKILL');
      const recovered = await until(async () => (await all(pgRecords(url(), t))).find((r) => r.id === 'pod-a-open'), 'pod-a-open to be recorded');
      expect(recovered.outcome).toBe('interrupted');
      // pod-b is alive: its call was not touched, and ends normally.
      await live.append(record('still-running', 'pod-b'));
      expect((await all(pgRecords(url(), t))).map((r) => [r.id, r.outcome])).toEqual([
        ['pod-a-open', 'interrupted'],
        ['still-running', 'ok'],
      ]);
      const left = new pg.Client({ connectionString: url() });
      await left.connect();
      try {
        expect((await left.query(`SELECT id FROM ${t}_started`)).rows).toEqual([]);
      } finally {
        await left.end();
      }
      expect(await verifyPgStore(url(), t)).toMatchObject({ ok: true, records: 2 });
    } finally {
      await stopChild(child, 'SIGKILL');
      await observer.close();
      await live.close();
    }
  });

  it('recovers at once, when it starts, the open calls of a process of this host with a default name that no longer runs (issue 21)', async () => {
    const t = table();
    const child = spawn(process.execPath, [fileURLToPath(new URL('../support/pg-audit-replica.mjs', import.meta.url)), url(), t, ''], { stdio: ['ignore', 'pipe', 'pipe'] });
    // The database frees the dead process's name lock once its backend has seen the connection close, which
    // takes a moment on a busy machine: "at once" is from then (until then the name is still held).
    const admin = new pg.Client({ connectionString: url() });
    await admin.connect();
    const presence = async (): Promise<number> => Number((await admin.query<{ n: string }>('SELECT count(*) AS n FROM pg_stat_activity WHERE application_name LIKE $1', [`airlock audit %:${child.pid}:%`])).rows[0]?.n);
    try {
      try {
        await waitForOutput(child, /ready/);
        expect(await presence()).toBe(1);
      } finally {
        await stopChild(child, 'SIGKILL');
      }
      await until(async () => (await presence()) === 0, 'the killed process to leave the database');
    } finally {
      await admin.end();
    }
    // No sweep runs in this test: the recovery is the one `open` does.
    const next = await PgAuditStore.open({ url: url(), table: t, sweepMs: 3_600_000 });
    try {
      expect((await all(pgRecords(url(), t))).map((r) => [r.id, r.outcome])).toEqual([['default-open', 'interrupted']]);
    } finally {
      await next.close();
    }
  });

  it('gives two processes with the same host name and pid default names of their own, and still recovers at once the calls of one that is gone (issue 21)', async () => {
    const t = table();
    // Two stores of this process share its host name and pid, as Cloud Run instances (all `localhost`, pid 1) do.
    const first = await PgAuditStore.open({ url: url(), table: t, nameWaitMs: 300, sweepMs: 3_600_000 });
    let second: PgAuditStore | undefined;
    try {
      second = await PgAuditStore.open({ url: url(), table: t, nameWaitMs: 300, sweepMs: 3_600_000 });
      const prefix = `${hostname()}:${process.pid}:`;
      expect(first.description).toContain(`(replica ${prefix}`);
      expect(second.description).toContain(`(replica ${prefix}`);
      expect(second.description).not.toBe(first.description);
      await first.start(started('left-open', 'first'));
      await second.start(started('running', 'second'));
    } finally {
      await first.close();
    }
    // The first is gone (its name is of this host and pid, and no open store of this process has it): the
    // next store recovers its call when it opens, without waiting for two sweeps; the second's call is live.
    const next = await PgAuditStore.open({ url: url(), table: t, nameWaitMs: 300, sweepMs: 3_600_000 });
    try {
      expect((await all(pgRecords(url(), t))).map((r) => [r.id, r.outcome])).toEqual([['left-open', 'interrupted']]);
      await second.append(record('running', 'second'));
      expect((await all(pgRecords(url(), t))).map((r) => [r.id, r.outcome])).toEqual([
        ['left-open', 'interrupted'],
        ['running', 'ok'],
      ]);
    } finally {
      await next.close();
      await second.close();
    }
  });

  it('takes its name lock again at the next sweep when taking it back after a lost connection gave up, and its calls stay its own (issue 21)', async () => {
    const t = table();
    const errors: string[] = [];
    const a = await PgAuditStore.open({ url: url(), table: t, replica: 'web-f', sweepMs: 100, nameWaitMs: 300, onSweepError: (e) => errors.push(String(e)) });
    const admin = new pg.Client({ connectionString: url() });
    const holder = new pg.Client({ connectionString: url() });
    let observer: PgAuditStore | undefined;
    // The backend that holds web-f's name lock, and the application it belongs to.
    const lockHolders = async (): Promise<string[]> =>
      (
        await admin.query<{ app: string }>(
          `SELECT a.application_name AS app FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 AND l.classid = hashtext($1)::oid AND l.objid = hashtext($2)::oid`,
          [`${t}:replica`, 'web-f'],
        )
      ).rows.map((r) => r.app);
    try {
      await admin.connect();
      await holder.connect();
      await holder.query(`SET application_name = 'holder'`);
      await a.start(started('kept', 'web-f'));
      expect(await lockHolders()).toEqual(['airlock audit web-f']);
      // The presence connection dies, and another connection takes the name before web-f can take it back.
      const killed = await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'airlock audit web-f'`);
      expect(killed.rowCount).toBe(1);
      await holder.query('SELECT pg_advisory_lock(hashtext($1), hashtext($2))', [`${t}:replica`, 'web-f']);
      await until(() => errors.some((e) => e.includes('another running airlock holds the replica name "web-f"')), 'web-f to give up taking its name back');
      expect(await lockHolders()).toEqual(['holder']);
      await holder.query('SELECT pg_advisory_unlock(hashtext($1), hashtext($2))', [`${t}:replica`, 'web-f']);
      // Free again, the name is web-f's at its next sweep.
      await until(async () => (await lockHolders()).includes('airlock audit web-f'), 'web-f to hold its name lock again');
      // Another replica's sweeps find web-f alive: its call stays open and ends normally.
      observer = await PgAuditStore.open({ url: url(), table: t, replica: 'web-g', sweepMs: 100 });
      await new Promise((r) => setTimeout(r, 500));
      await a.append(record('kept', 'web-f'));
      expect((await all(pgRecords(url(), t))).map((r) => [r.id, r.outcome])).toEqual([['kept', 'ok']]);
    } finally {
      await observer?.close();
      await a.close();
      await holder.end().catch(() => undefined);
      await admin.end().catch(() => undefined);
    }
  });

  it('recovers every gone replica when one of their calls has its record already, and says which call was refused (issue 21)', async () => {
    const t = table();
    const errors: string[] = [];
    const sweeper = await PgAuditStore.open({ url: url(), table: t, replica: 'web-s', sweepMs: 100, onSweepError: (e) => errors.push(String(e)) });
    const db = new pg.Client({ connectionString: url() });
    try {
      await db.connect();
      // gone-1 left a started entry behind a call that has its record already; gone-2 left an open call.
      await sweeper.append(record('done', 'gone-1'));
      for (const [id, replica] of [
        ['done', 'gone-1'],
        ['open', 'gone-2'],
      ] as const) {
        await db.query(`INSERT INTO ${t}_started (id, replica, time, entry) VALUES ($1, $2, now(), $3)`, [id, replica, JSON.stringify(started(id, replica))]);
      }
      // The refusal is told at the end of the round that recovered gone-2 (or of an earlier one).
      await until(async () => errors.length > 0 && (await all(pgRecords(url(), t))).some((r) => r.id === 'open'), 'gone-2 to be recovered');
      expect((await all(pgRecords(url(), t))).map((r) => [r.id, r.outcome])).toEqual([
        ['done', 'ok'],
        ['open', 'interrupted'],
      ]);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(/gone-1: Error: audit: call done was already recorded; the interrupted record of a sweep is not written over it/);
      expect(errors[0]).not.toMatch(/taken for gone/);
      // The stale entry is gone with the refusal: later sweeps have nothing left to refuse.
      expect((await db.query(`SELECT id FROM ${t}_started`)).rows).toEqual([]);
    } finally {
      await db.end().catch(() => undefined);
      await sweeper.close();
    }
    expect(await verifyPgStore(url(), t)).toMatchObject({ ok: true, records: 2 });
  });

  it('refuses a second live replica with the same name (issue 21)', async () => {
    const t = table();
    const first = await PgAuditStore.open({ url: url(), table: t, replica: 'web-1' });
    try {
      await expect(PgAuditStore.open({ url: url(), table: t, replica: 'web-1', nameWaitMs: 300 })).rejects.toThrow(/another running airlock holds the replica name "web-1" on table audit_[0-9a-f]+; give every replica its own audit\.postgres\.replica/);
    } finally {
      await first.close();
    }
    // Closed, the name is free again.
    const again = await PgAuditStore.open({ url: url(), table: t, replica: 'web-1', nameWaitMs: 300 });
    await again.close();
  });

  it('refuses the late outcome of a call already recorded as interrupted, and writes the rest of its batch (issue 21)', async () => {
    const t = table();
    const a = await PgAuditStore.open({ url: url(), table: t, replica: 'web-1' });
    const b = await PgAuditStore.open({ url: url(), table: t, replica: 'web-2' });
    try {
      await a.start(started('late', 'web-1'));
      // As a sweep does when it takes web-1 for gone.
      await b.append(interruptedRecord(started('late', 'web-1'), new Date()));
      const [late, other] = await Promise.allSettled([a.append(record('late', 'web-1')), a.append(record('other', 'web-1'))]);
      expect(late.status).toBe('rejected');
      expect(String((late as PromiseRejectedResult).reason)).toMatch(/call late was already recorded/);
      expect(other.status).toBe('fulfilled');
      expect((await all(pgRecords(url(), t))).map((r) => [r.id, r.outcome])).toEqual([
        ['late', 'interrupted'],
        ['other', 'ok'],
      ]);
      expect(await verifyPgStore(url(), t)).toMatchObject({ ok: true });
    } finally {
      await b.close();
      await a.close();
    }
  });
});
