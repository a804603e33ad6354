import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { csrfOf, secretHash, type SessionStore } from '../../src/console/console-session.js';
import { openPgSessionStore, type PgSessionStore } from '../../src/console/pg-session-store.js';

const url = (): string => inject('adminUrl');
const table = (): string => `console_t_${randomBytes(4).toString('hex')}`;
const DANA = { issuer: 'https://issuer.example', sub: 'dana', email: 'dana@example.com', groups: ['dba'] };
const MINUTE = 60_000;

/** A clock the test moves by hand. */
function clock(start = 1_000_000): { now: () => number; advance(ms: number): void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

async function rows(sql: string): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: url() });
  await client.connect();
  try {
    return (await client.query(sql)).rows as Record<string, unknown>[];
  } finally {
    await client.end();
  }
}

/** Opens the store on `t` for each url (the replicas), runs `body` with one session store each, and closes them all. */
async function withStores(t: string, urls: string[], time: { now: () => number }, body: (stores: SessionStore[]) => Promise<void>): Promise<void> {
  const opened: PgSessionStore[] = [];
  try {
    for (const u of urls) opened.push(await openPgSessionStore({ url: u, table: t }));
    await body(opened.map((o) => o.sessions({ now: time.now, idleMs: 30 * MINUTE, maxMs: 12 * 60 * MINUTE, loginMs: 10 * MINUTE, maxSessions: 3 })));
  } finally {
    for (const o of opened) await o.close();
  }
}

describe('openPgSessionStore (issue 21)', () => {
  it('shares a session between replicas, keeps only its hash, and ends it on all when one signs out', async () => {
    const t = table();
    const time = clock();
    await withStores(t, [url(), url()], time, async ([a, b]) => {
      if (a === undefined || b === undefined) throw new Error('two stores expected');
      const session = await a.open(DANA, 'oidc');
      expect(session.csrf).toBe(csrfOf(session.id));
      expect(await b.get(session.id)).toEqual(session);
      const stored = await rows(`SELECT * FROM ${t}_sessions`);
      expect(stored.map((r) => r.id_hash)).toEqual([secretHash(session.id)]);
      expect(JSON.stringify(stored)).not.toContain(session.id);
      expect(JSON.stringify(stored)).not.toContain(session.csrf);
      await b.end(session.id);
      expect(await a.get(session.id)).toBeUndefined();
      expect(await a.alive([session])).toEqual(new Set());
    });
  });

  it('ends a session after its idle time unless it is used, and at its absolute expiry even when used', async () => {
    const t = table();
    const time = clock();
    await withStores(t, [url()], time, async ([s]) => {
      if (s === undefined) throw new Error('a store expected');
      const idle = await s.open(DANA, 'token');
      const used = await s.open(DANA, 'token');
      for (let i = 0; i < 24 * 2; i++) {
        time.advance(20 * MINUTE);
        // Used every 20 minutes: the idle time restarts; the unused one is gone after 30.
        const seen = await s.get(used.id);
        if (i === 0) expect(await s.alive([idle, used])).toEqual(new Set([idle.id, used.id]));
        if (i === 1) expect(await s.alive([idle, used])).toEqual(new Set([used.id]));
        if ((i + 1) * 20 * MINUTE < 12 * 60 * MINUTE) expect(seen?.id).toBe(used.id);
        else expect(seen).toBeUndefined();
      }
      // A new sign-in sweeps the expired rows.
      await s.open(DANA, 'dev');
      expect(await rows(`SELECT via FROM ${t}_sessions`)).toEqual([{ via: 'dev' }]);
    });
  });

  it('lets a finished sign-in\'s state be used once, on any replica, keeps only its hash, and forgets it after its time', async () => {
    const t = table();
    const time = clock();
    await withStores(t, [url(), url()], time, async ([a, b]) => {
      if (a === undefined || b === undefined) throw new Error('two stores expected');
      expect(await a.claimLogin('state-1', time.now())).toBe(true);
      expect(await b.claimLogin('state-1', time.now())).toBe(false);
      expect(await a.claimLogin('state-1', time.now())).toBe(false);
      expect(JSON.stringify(await rows(`SELECT * FROM ${t}_used_logins`))).not.toContain('state-1');
      // At the end of its time (10 minutes) and past the callback's clock-skew allowance, a replay still finds it taken.
      const started = time.now();
      time.advance(10 * MINUTE + 60_000);
      expect(await b.claimLogin('state-1', started)).toBe(false);
      time.advance(60_000 + 1);
      // Its time and the margin are over (the callback refuses a sign-in that old before it gets here): the row goes with the next claim.
      expect(await b.claimLogin('state-2', time.now())).toBe(true);
      expect(await rows(`SELECT state_hash FROM ${t}_used_logins`)).toEqual([{ state_hash: secretHash('state-2') }]);
    });
  });

  it('indexes what the expiry and the size cap look up, so neither reads the whole table', async () => {
    const t = table();
    await (await openPgSessionStore({ url: url(), table: t })).close();
    const indexes = await rows(`SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ('${t}_sessions', '${t}_used_logins') ORDER BY indexname`);
    const defs = indexes.map((r) => String(r.indexdef).replace(/^.* USING btree /, ''));
    expect(defs).toEqual(expect.arrayContaining(['(idle_until)', '(created_at)', '(started_at)']));
  });

  it('keeps at most maxSessions sessions, dropping the oldest', async () => {
    const t = table();
    const time = clock();
    await withStores(t, [url()], time, async ([s]) => {
      if (s === undefined) throw new Error('a store expected');
      const opened = [];
      for (let i = 0; i < 5; i++) {
        time.advance(1);
        opened.push(await s.open({ ...DANA, sub: `u${i}` }, 'token'));
      }
      expect((await rows(`SELECT sub FROM ${t}_sessions ORDER BY created_at`)).map((r) => r.sub)).toEqual(['u2', 'u3', 'u4']);
      expect(await s.get(opened[0]?.id ?? '')).toBeUndefined();
    });
  });

  it('runs on a role that may not create tables once the owner has set them up', async () => {
    const t = table();
    await (await openPgSessionStore({ url: url(), table: t })).close();
    const role = `airlock_cs_${randomBytes(3).toString('hex')}`;
    const admin = new pg.Client({ connectionString: url() });
    await admin.connect();
    try {
      await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD 'cs-secret'`);
      await admin.query(`REVOKE CREATE ON SCHEMA public FROM ${role}`);
      await admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${t}_sessions, ${t}_used_logins TO ${role}`);
      const runtime = new URL(url());
      runtime.username = role;
      runtime.password = 'cs-secret';
      const time = clock();
      await withStores(t, [runtime.toString()], time, async ([s]) => {
        if (s === undefined) throw new Error('a store expected');
        const session = await s.open(DANA, 'oidc');
        expect((await s.get(session.id))?.approver).toEqual(DANA);
        expect(await s.claimLogin('st', time.now())).toBe(true);
        await s.end(session.id);
      });
      // Without the tables, the same role cannot start: it would have to create them.
      await expect(openPgSessionStore({ url: runtime.toString(), table: table() })).rejects.toThrow(/permission denied/);
    } finally {
      await admin.query(`DROP OWNED BY ${role}`).catch(() => undefined);
      await admin.query(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
      await admin.end();
    }
  });
});
