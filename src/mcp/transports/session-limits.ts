import type { ServerResponse } from 'node:http';

/** Caps on open HTTP sessions (Streamable HTTP and SSE together). */
export interface SessionCaps {
  readonly maxTotal: number;
  readonly maxPerPrincipal: number;
}

/** A counted session slot; `release` is idempotent. */
export interface SessionLease {
  release(): void;
}

export type SessionAdmission =
  | { readonly ok: true; readonly lease: SessionLease }
  | { readonly ok: false; readonly status: 429 | 503; readonly message: string; readonly detail: string };

export interface SessionLimiter {
  /** Takes a slot for a new session of `owner` (`undefined`: no identity), or says why not. */
  admit(owner: string | undefined): SessionAdmission;
  /** Slots held now. */
  open(): number;
}

/**
 * Counts session slots per principal and in total. A slot is taken before the session exists (several
 * initialize requests in parallel cannot all pass the check) and released when it ends or never starts.
 */
export function createSessionLimiter(caps: SessionCaps): SessionLimiter {
  for (const key of ['maxTotal', 'maxPerPrincipal'] as const) {
    if (!Number.isInteger(caps[key]) || caps[key] < 1) throw new TypeError(`createSessionLimiter: ${key} must be an integer ≥ 1`);
  }
  const byOwner = new Map<string, number>();
  let total = 0;
  return {
    admit(owner) {
      const key = owner ?? '';
      const mine = byOwner.get(key) ?? 0;
      if (mine >= caps.maxPerPrincipal) {
        return {
          ok: false,
          status: 429,
          message: `Too many sessions: you already have ${mine} open sessions (the limit is ${caps.maxPerPrincipal}). Close unused sessions (DELETE /mcp) or wait for idle ones to expire`,
          detail: `per-principal session cap ${caps.maxPerPrincipal} reached`,
        };
      }
      if (total >= caps.maxTotal) {
        return {
          ok: false,
          status: 503,
          message: `Too many sessions: the server has ${total} open sessions (its limit); try again later`,
          detail: `total session cap ${caps.maxTotal} reached`,
        };
      }
      byOwner.set(key, mine + 1);
      total++;
      let held = true;
      return {
        ok: true,
        lease: {
          release() {
            if (!held) return;
            held = false;
            total--;
            const left = (byOwner.get(key) ?? 1) - 1;
            if (left <= 0) byOwner.delete(key);
            else byOwner.set(key, left);
          },
        },
      };
    },
    open: () => total,
  };
}

/**
 * Bounds what a stream response may hold unread: when a client stops reading, every message the server
 * writes stays in memory until the stream closes. Before each write, output still buffered beyond
 * `maxBytes` ends the stream instead (`onOverflow` once, then the response is destroyed). A single
 * message is never refused for its own size: the check is on what the client has not taken yet.
 */
export function boundOutput(res: ServerResponse, maxBytes: number, onOverflow: (buffered: number) => void): void {
  if (!Number.isInteger(maxBytes) || maxBytes < 1) throw new TypeError('boundOutput: maxBytes must be an integer ≥ 1');
  const write = res.write.bind(res) as (...args: unknown[]) => boolean;
  let dropped = false;
  res.write = function boundedWrite(...args: unknown[]): boolean {
    if (dropped) return false;
    if (res.writableLength > maxBytes) {
      dropped = true;
      const buffered = res.writableLength;
      res.destroy();
      onOverflow(buffered);
      return false;
    }
    return write(...args);
  } as ServerResponse['write'];
}
