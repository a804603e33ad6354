import pg from 'pg';
import * as z from 'zod';
import type { Approver } from '../approval/model.js';
import { ensureSchema } from '../connectors/pg-schema.js';
import { csrfOf, secretHash, sessionToken, type ConsoleSession, type SessionStore, type SessionStoreOptions, USED_LOGIN_MARGIN_MS } from './console-session.js';

export interface PgSessionStoreOptions {
  readonly url: string;
  /** The approvals table: sessions live in `<table>_sessions`, the states of finished sign-ins in `<table>_used_logins`. */
  readonly table: string;
}

const TABLE = /^[a-z_][a-z0-9_]{0,40}$/;

/**
 * The DDL. Rows hold the SHA-256 of the session id (or sign-in state), never the secret itself, so someone
 * who reads the table cannot sign in with it. A sign-in in flight is in no table (it is sealed in the
 * browser's cookie); only the state of one the issuer completed is kept, for its 10 minutes, so that it is
 * used once. The indexes keep the expiry and the size cap from reading the whole table.
 */
function schema(t: string): string {
  return `
CREATE TABLE IF NOT EXISTS ${t}_sessions (
  id_hash     text PRIMARY KEY,
  issuer      text NOT NULL,
  sub         text NOT NULL,
  email       text,
  groups      text[] NOT NULL,
  via         text NOT NULL,
  created_at  bigint NOT NULL,
  idle_until  bigint NOT NULL,
  expires_at  bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS ${t}_sessions_idle ON ${t}_sessions (idle_until);
CREATE INDEX IF NOT EXISTS ${t}_sessions_created ON ${t}_sessions (created_at);
CREATE TABLE IF NOT EXISTS ${t}_used_logins (
  state_hash  text PRIMARY KEY,
  started_at  bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS ${t}_used_logins_started ON ${t}_used_logins (started_at);
`;
}

const SessionRow = z.object({
  issuer: z.string(),
  sub: z.string(),
  email: z.string().nullable(),
  groups: z.array(z.string()),
  via: z.enum(['oidc', 'token', 'dev']),
  created_at: z.coerce.number().int(),
});

/**
 * Console sessions and the states of finished OIDC sign-ins in PostgreSQL, beside the approvals table, for
 * replicas behind one balancer: a sign-in on one replica holds on every other, and signing out on one ends it
 * on all. Each read that finds a session also restarts its idle time, in one statement; expired sessions are
 * deleted whenever a new one is opened (by an identity the issuer or the token verifier vouched for), and the
 * oldest beyond `maxSessions`. A start that finds both tables and their indexes runs no DDL, so airlock can run
 * as a role granted only `SELECT, INSERT, UPDATE, DELETE` on the tables.
 */
export interface PgSessionStore {
  /** The store for a console with these lifetimes. */
  readonly sessions: (lifetimes: SessionStoreOptions) => SessionStore;
  close(): Promise<void>;
}

export async function openPgSessionStore(options: PgSessionStoreOptions): Promise<PgSessionStore> {
  const t = options.table;
  if (!TABLE.test(t)) throw new TypeError(`openPgSessionStore: table "${t}" must be a lower-case identifier of at most 41 characters`);
  const pool = new pg.Pool({ connectionString: options.url, max: 2, application_name: `airlock console ${t}` });
  pool.on('error', () => undefined);
  try {
    const wanted = [`${t}_sessions`, `${t}_sessions_idle`, `${t}_sessions_created`, `${t}_used_logins`, `${t}_used_logins_started`];
    await ensureSchema(await pool.connect(), wanted, `airlock-console:${t}`, schema(t));
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw error;
  }
  let closed = false;
  const query = (text: string, values: unknown[]): Promise<pg.QueryResult> => {
    if (closed) return Promise.reject(new Error(`console session store ${t} is closed`));
    return pool.query(text, values);
  };

  const sessions = (lifetimes: SessionStoreOptions): SessionStore => {
    const maxSessions = lifetimes.maxSessions ?? 10_000;
    const loginMs = lifetimes.loginMs ?? 600_000;
    const sessionOf = (id: string, row: unknown): ConsoleSession => {
      const r = SessionRow.parse(row);
      const approver: Approver = { issuer: r.issuer, sub: r.sub, ...(r.email === null ? {} : { email: r.email }), groups: r.groups };
      return { id, approver, via: r.via, csrf: csrfOf(id), createdAt: r.created_at };
    };
    return {
      async open(approver, via) {
        const now = lifetimes.now();
        // idle_until is never past expires_at (it is set to at most that), so it alone says a session ended.
        await query(`DELETE FROM ${t}_sessions WHERE idle_until <= $1`, [now]);
        await query(`DELETE FROM ${t}_sessions WHERE id_hash IN (SELECT id_hash FROM ${t}_sessions ORDER BY created_at DESC OFFSET $1)`, [maxSessions - 1]);
        const id = sessionToken();
        const expires = now + lifetimes.maxMs;
        await query(`INSERT INTO ${t}_sessions (id_hash, issuer, sub, email, groups, via, created_at, idle_until, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, [
          secretHash(id),
          approver.issuer,
          approver.sub,
          approver.email ?? null,
          [...approver.groups],
          via,
          now,
          Math.min(now + lifetimes.idleMs, expires),
          expires,
        ]);
        return { id, approver, via, csrf: csrfOf(id), createdAt: now };
      },
      async get(id) {
        const now = lifetimes.now();
        const res = await query(
          `UPDATE ${t}_sessions SET idle_until = LEAST($2::bigint, expires_at) WHERE id_hash = $1 AND idle_until > $3 AND expires_at > $3
           RETURNING issuer, sub, email, groups, via, created_at`,
          [secretHash(id), now + lifetimes.idleMs, now],
        );
        return res.rows[0] === undefined ? undefined : sessionOf(id, res.rows[0]);
      },
      async alive(list) {
        if (list.length === 0) return new Set<string>();
        const byHash = new Map(list.map((s) => [secretHash(s.id), s.id]));
        const res = await query(`SELECT id_hash FROM ${t}_sessions WHERE id_hash = ANY($1::text[]) AND idle_until > $2 AND expires_at > $2`, [[...byHash.keys()], lifetimes.now()]);
        return new Set(res.rows.map((r: { id_hash: string }) => byHash.get(r.id_hash) ?? ''));
      },
      async end(id) {
        await query(`DELETE FROM ${t}_sessions WHERE id_hash = $1`, [secretHash(id)]);
      },
      async claimLogin(state, at) {
        await query(`DELETE FROM ${t}_used_logins WHERE started_at < $1`, [lifetimes.now() - loginMs - USED_LOGIN_MARGIN_MS]);
        // The primary key decides: of two callbacks with the same state, on any replicas, one inserts the row.
        const res = await query(`INSERT INTO ${t}_used_logins (state_hash, started_at) VALUES ($1, $2) ON CONFLICT (state_hash) DO NOTHING`, [secretHash(state), at]);
        return res.rowCount === 1;
      },
    };
  };
  return {
    sessions,
    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
}
