import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Approver } from '../approval/model.js';

/**
 * How much longer than a sign-in may last its used state is remembered: more than the clock skew a callback
 * tolerates (60 s), so a replay accepted at the end of its time still finds the state taken.
 */
export const USED_LOGIN_MARGIN_MS = 120_000;

/** How a console session was opened. */
export type SignInMethod = 'oidc' | 'token' | 'dev';

/** A signed-in approver. */
export interface ConsoleSession {
  readonly id: string;
  readonly approver: Approver;
  readonly via: SignInMethod;
  /** Sent back by the page in `x-csrf-token` with every change; bound to this session (see `csrfOf`). */
  readonly csrf: string;
  readonly createdAt: number;
}

/** An OIDC sign-in in flight: what its callback must see again (sealed in the browser's login cookie). */
export interface PendingLogin {
  readonly state: string;
  readonly nonce: string;
  readonly verifier: string;
  /** When the sign-in started (ms). */
  readonly at: number;
}

export interface SessionStoreOptions {
  readonly now: () => number;
  readonly idleMs: number;
  readonly maxMs: number;
  /** Oldest sessions are dropped beyond this many, so storage stays bounded whoever signs in. */
  readonly maxSessions?: number;
  /** How long a sign-in may take from the console to the callback (default 10 minutes): how long a used state is remembered. */
  readonly loginMs?: number;
}

/**
 * Console sessions with idle and absolute expiry, and the states of finished OIDC sign-ins (each used once).
 * In memory for one process; in PostgreSQL beside the approvals when several replicas serve the console (a
 * sign-in made on one must hold on the next request, which the balancer may send to another). A sign-in in
 * flight is not kept here: it is sealed in the browser's login cookie, so starting one, which anyone may do
 * without signing in, costs the store nothing and cannot push out anyone else's.
 */
export interface SessionStore {
  open(approver: Approver, via: SignInMethod): Promise<ConsoleSession>;
  /** The live session with this id, touched (idle time restarts); undefined when unknown or expired. */
  get(id: string): Promise<ConsoleSession | undefined>;
  /** The ids of those sessions still live (not ended, not expired), without touching them: one look for all. */
  alive(sessions: readonly ConsoleSession[]): Promise<ReadonlySet<string>>;
  end(id: string): Promise<void>;
  /**
   * Marks the state of a sign-in the issuer completed as used (`at`: when it started); false when it already
   * was, on any replica: a replayed callback opens no second session. Only sign-ins that got tokens come here.
   */
  claimLogin(state: string, at: number): Promise<boolean>;
}

/** A new random secret for a session id or a sign-in state (256 bits). */
export const sessionToken = (): string => randomBytes(32).toString('base64url');

/**
 * The CSRF token of a session, derived from its id so that every replica can give it back without storing it.
 * The page reads it from `/console/session` (same origin only); a page on another site can read neither the
 * cookie nor this answer. The label keeps it apart from the id's hash that a shared store keys sessions by.
 */
export function csrfOf(id: string): string {
  return createHash('sha256').update(`airlock console csrf\0${id}`).digest('base64url');
}

/** How a shared store keys a session or a sign-in: the SHA-256 of its secret, never the secret itself. */
export function secretHash(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Creates the in-memory store; expired sessions are dropped as they are met and when new ones open. */
export function createSessionStore(options: SessionStoreOptions): SessionStore {
  const sessions = new Map<string, { session: ConsoleSession; lastSeen: number }>();
  const used = new Map<string, number>();
  const maxSessions = options.maxSessions ?? 10_000;
  const loginMs = options.loginMs ?? 600_000;
  const live = (s: { session: ConsoleSession; lastSeen: number }, now: number): boolean => now - s.lastSeen < options.idleMs && now - s.session.createdAt < options.maxMs;
  return {
    open(approver, via) {
      const now = options.now();
      for (const [id, s] of sessions) if (!live(s, now)) sessions.delete(id);
      // Map order is insertion order: the first key is the oldest session.
      while (sessions.size >= maxSessions) sessions.delete(sessions.keys().next().value as string);
      const id = sessionToken();
      const session: ConsoleSession = { id, approver, via, csrf: csrfOf(id), createdAt: now };
      sessions.set(id, { session, lastSeen: now });
      return Promise.resolve(session);
    },
    get(id) {
      const entry = sessions.get(id);
      if (entry === undefined) return Promise.resolve(undefined);
      const now = options.now();
      if (!live(entry, now)) {
        sessions.delete(id);
        return Promise.resolve(undefined);
      }
      entry.lastSeen = now;
      return Promise.resolve(entry.session);
    },
    alive(list) {
      const now = options.now();
      const ids = list.filter((s) => {
        const entry = sessions.get(s.id);
        return entry !== undefined && live(entry, now);
      });
      return Promise.resolve(new Set(ids.map((s) => s.id)));
    },
    end(id) {
      sessions.delete(id);
      return Promise.resolve();
    },
    claimLogin(state, at) {
      // A state older than loginMs is refused by the callback before it comes here; it is remembered a margin
      // longer (clocks of replicas differ), so no replay can still be accepted once it is forgotten.
      for (const [s, started] of used) if (options.now() - started > loginMs + USED_LOGIN_MARGIN_MS) used.delete(s);
      if (used.has(state)) return Promise.resolve(false);
      used.set(state, at);
      return Promise.resolve(true);
    },
  };
}

/** Compares two secrets in time independent of where they differ (hashing first evens out the lengths). */
export function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b) && given.length === expected.length;
}

/** The value of cookie `name` in a Cookie header (the first, as browsers send the most specific first). */
export function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** A Set-Cookie value. `maxAge` 0 clears the cookie. */
export function cookie(name: string, value: string, options: { secure: boolean; sameSite: 'Strict' | 'Lax'; maxAge?: number }): string {
  return [`${name}=${value}`, 'Path=/', 'HttpOnly', `SameSite=${options.sameSite}`, ...(options.secure ? ['Secure'] : []), ...(options.maxAge === undefined ? [] : [`Max-Age=${options.maxAge}`])].join('; ');
}
