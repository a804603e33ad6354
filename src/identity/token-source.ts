import { readFile, stat } from 'node:fs/promises';
import type { Credential } from './principal.js';

/** Where a stdio server gets the caller's token for each call. */
export interface TokenSource {
  current(): Promise<Credential>;
}

/** A token given once (AIRLOCK_TOKEN). */
export function staticTokenSource(token: string): TokenSource {
  const trimmed = token.trim();
  return { current: () => Promise.resolve(trimmed === '' ? { kind: 'invalid', detail: 'AIRLOCK_TOKEN is empty' } : { kind: 'bearer', token: trimmed }) };
}

/** `exp` (ms) read without verification, used only to decide when to re-read the file. */
function expiryHint(token: string): number | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof payload.exp === 'number' ? payload.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A token read from a file that something else keeps fresh (a workload-identity or projected
 * service-account token). The file is re-read when it changes or when the cached token has expired,
 * so rotation needs no restart. The token is verified on every call by the identity stage.
 */
export function fileTokenSource(path: string, now: () => number = Date.now): TokenSource {
  let cached: { token: string; mtimeMs: number; expiresAt: number | undefined } | undefined;
  return {
    async current(): Promise<Credential> {
      try {
        const info = await stat(path);
        const stale = cached === undefined || cached.mtimeMs !== info.mtimeMs || (cached.expiresAt !== undefined && cached.expiresAt <= now());
        if (stale) {
          const token = (await readFile(path, 'utf8')).trim();
          cached = { token, mtimeMs: info.mtimeMs, expiresAt: expiryHint(token) };
        }
      } catch (error) {
        cached = undefined;
        return { kind: 'invalid', detail: `cannot read --token-file ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}` };
      }
      const token = cached?.token ?? '';
      return token === '' ? { kind: 'invalid', detail: `--token-file ${path} is empty` } : { kind: 'bearer', token };
    },
  };
}
