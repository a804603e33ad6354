import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import * as z from 'zod';
import type { PendingLogin } from './console-session.js';

/** Seals an OIDC sign-in in flight into the browser's login cookie, and opens it again at the callback. */
export interface LoginSeal {
  seal(login: PendingLogin): string;
  /** The sign-in sealed in `value`; undefined when it was not sealed with this key (altered, forged, foreign). */
  open(value: string): PendingLogin | undefined;
}

const Sealed = z.strictObject({ s: z.string().min(1).max(200), n: z.string().min(1).max(200), v: z.string().min(43).max(128), t: z.int().nonnegative() });
const LABEL = 'airlock console sign-in';
const IV = 12;
const TAG = 16;

/**
 * AES-256-GCM under a key derived (HKDF-SHA-256, its own label) from `secret`: replicas that share the secret
 * open each other's cookies, and the derived key is of use for nothing else. The cookie's name is the
 * associated data, so a sealed sign-in is not accepted in any other cookie. The browser cannot read the
 * nonce or the PKCE verifier, and cannot change the state or the start time without the seal failing.
 */
export function createLoginSeal(secret: Uint8Array, cookieName: string): LoginSeal {
  if (secret.byteLength < 32) throw new TypeError('createLoginSeal: the secret must be at least 32 bytes');
  const key = Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), LABEL, 32));
  const aad = Buffer.from(cookieName);
  return {
    seal(login) {
      const iv = randomBytes(IV);
      const cipher = createCipheriv('aes-256-gcm', key, iv).setAAD(aad);
      const body = Buffer.concat([cipher.update(JSON.stringify({ s: login.state, n: login.nonce, v: login.verifier, t: login.at }), 'utf8'), cipher.final()]);
      return Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url');
    },
    open(value) {
      const bytes = Buffer.from(value, 'base64url');
      if (bytes.length <= IV + TAG || bytes.length > 2048) return undefined;
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV)).setAAD(aad);
        decipher.setAuthTag(bytes.subarray(bytes.length - TAG));
        const text = Buffer.concat([decipher.update(bytes.subarray(IV, bytes.length - TAG)), decipher.final()]).toString('utf8');
        const parsed = Sealed.safeParse(JSON.parse(text));
        return parsed.success ? { state: parsed.data.s, nonce: parsed.data.n, verifier: parsed.data.v, at: parsed.data.t } : undefined;
      } catch {
        return undefined;
      }
    },
  };
}
