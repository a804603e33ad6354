import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Approver } from '../approval/model.js';

/** How a console session was opened. */
export type SignInMethod = 'oidc' | 'token' | 'dev';

/** A signed-in approver. Held in memory only: a restart signs everyone out. */
export interface ConsoleSession {
  readonly id: string;
  readonly approver: Approver;
  readonly via: SignInMethod;
  /** Sent back by the page in `x-csrf-token` with every change; bound to this session. */
  readonly csrf: string;
  readonly createdAt: number;
  lastSeen: number;
}

export interface SessionStoreOptions {
  readonly now: () => number;
  readonly idleMs: number;
  readonly maxMs: number;
  /** Oldest sessions are dropped beyond this many (memory is bounded whoever signs in). */
  readonly maxSessions?: number;
}

/** In-memory console sessions with idle and absolute expiry. */
export interface SessionStore {
  open(approver: Approver, via: SignInMethod): ConsoleSession;
  /** The live session with this id, touched (idle time restarts); undefined when unknown or expired. */
  get(id: string): ConsoleSession | undefined;
  /** Whether the session is still live, without touching it. */
  alive(session: ConsoleSession): boolean;
  end(id: string): void;
}

const token = (): string => randomBytes(32).toString('base64url');

/** Creates the store; expired sessions are dropped as they are met and when new ones open. */
export function createSessionStore(options: SessionStoreOptions): SessionStore {
  const sessions = new Map<string, ConsoleSession>();
  const maxSessions = options.maxSessions ?? 10_000;
  const live = (s: ConsoleSession, now: number): boolean => now - s.lastSeen < options.idleMs && now - s.createdAt < options.maxMs;
  return {
    open(approver, via) {
      const now = options.now();
      for (const [id, s] of sessions) if (!live(s, now)) sessions.delete(id);
      // Map order is insertion order: the first key is the oldest session.
      while (sessions.size >= maxSessions) sessions.delete(sessions.keys().next().value as string);
      const session: ConsoleSession = { id: token(), approver, via, csrf: token(), createdAt: now, lastSeen: now };
      sessions.set(session.id, session);
      return session;
    },
    get(id) {
      const session = sessions.get(id);
      if (session === undefined) return undefined;
      const now = options.now();
      if (!live(session, now)) {
        sessions.delete(id);
        return undefined;
      }
      session.lastSeen = now;
      return session;
    },
    alive: (session) => sessions.get(session.id) === session && live(session, options.now()),
    end(id) {
      sessions.delete(id);
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
