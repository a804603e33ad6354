import pg from 'pg';
import * as z from 'zod';
import type { Approver } from '../approval/model.js';
import { csrfOf, secretHash, sessionToken, type ConsoleSession, type PendingLogin, type SessionStore, type SessionStoreOptions } from './console-session.js';

export interface PgSessionStoreOptions {
  readonly url: string;
  /** The approvals table: sessions live in `<table>_sessions`, sign-ins in flight in `<table>_logins`. */
  readonly table: string;
}

const TABLE = /^[a-z_][a-z0-9_]{0,40}$/;

/**
 * The DDL. Rows hold the SHA-256 of the session id (or sign-in state), never the secret itself, so someone
 * who reads the table cannot sign in with it. A sign-in row holds its nonce and PKCE verifier until the
 * callback takes it; neither is of use without the authorization code, which only the browser sees.
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
CREATE TABLE IF NOT EXISTS ${t}_logins (
  state_hash  text PRIMARY KEY,
  nonce       text NOT NULL,
  verifier    text NOT NULL,
  started_at  bigint NOT NULL
);
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
const LoginRow = z.object({ nonce: z.string(), verifier: z.string(), started_at: z.coerce.number().int() });

/**
 * Console sessions and OIDC sign-ins in flight in PostgreSQL, beside the approvals table, for replicas behind
 * one balancer: a sign-in on one replica holds on every other, and signing out on one ends it on all. Each
 * read that finds a session also restarts its idle time, in one statement; expired sessions and stale
 * sign-ins are deleted whenever a new one is stored, and the oldest beyond `maxSessions`. A start that finds
 * both tables runs no DDL, so airlock can run as a role granted only `SELECT, INSERT, UPDATE, DELETE` on them.
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
    const client = await pool.connect();
    try {
      const present = await client.query<{ ready: boolean }>('SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL AS ready', [`${t}_sessions`, `${t}_logins`]);
      if (present.rows[0]?.ready !== true) {
        // Replicas starting together must not race on CREATE: one DDL at a time, the lock ends with the transaction.
        await client.query('BEGIN');
        await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`airlock-console:${t}`]);
        await client.query(schema(t));
        await client.query('COMMIT');
      }
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
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
        await query(`DELETE FROM ${t}_sessions WHERE idle_until <= $1 OR expires_at <= $1`, [now]);
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
      async alive(session) {
        const now = lifetimes.now();
        const res = await query(`SELECT 1 FROM ${t}_sessions WHERE id_hash = $1 AND idle_until > $2 AND expires_at > $2`, [secretHash(session.id), now]);
        return res.rowCount === 1;
      },
      async end(id) {
        await query(`DELETE FROM ${t}_sessions WHERE id_hash = $1`, [secretHash(id)]);
      },
      async startLogin(login) {
        await query(`DELETE FROM ${t}_logins WHERE started_at <= $1`, [lifetimes.now() - loginMs]);
        await query(`DELETE FROM ${t}_logins WHERE state_hash IN (SELECT state_hash FROM ${t}_logins ORDER BY started_at DESC OFFSET $1)`, [maxSessions - 1]);
        await query(`INSERT INTO ${t}_logins (state_hash, nonce, verifier, started_at) VALUES ($1, $2, $3, $4)`, [secretHash(login.state), login.nonce, login.verifier, login.at]);
      },
      async takeLogin(state) {
        // DELETE … RETURNING: of two callbacks with the same state, on any replicas, one gets the sign-in.
        const res = await query(`DELETE FROM ${t}_logins WHERE state_hash = $1 RETURNING nonce, verifier, started_at`, [secretHash(state)]);
        if (res.rows[0] === undefined) return undefined;
        const row = LoginRow.parse(res.rows[0]);
        const login: PendingLogin = { state, nonce: row.nonce, verifier: row.verifier, at: row.started_at };
        return lifetimes.now() - login.at > loginMs ? undefined : login;
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
