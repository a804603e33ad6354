import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createLoginSeal } from '../../../src/console/login-seal.js';

const LOGIN = { state: randomBytes(32).toString('base64url'), nonce: randomBytes(32).toString('base64url'), verifier: randomBytes(32).toString('base64url'), at: 1_700_000_000_000 };

describe('createLoginSeal (issue 21)', () => {
  it('opens what it sealed, on any seal made from the same secret, and shows nothing of it in the cookie', () => {
    const secret = randomBytes(32);
    const sealed = createLoginSeal(secret, 'airlock-login').seal(LOGIN);
    expect(createLoginSeal(secret, 'airlock-login').open(sealed)).toEqual(LOGIN);
    for (const part of [LOGIN.state, LOGIN.nonce, LOGIN.verifier]) expect(sealed).not.toContain(part);
  });

  it('opens nothing altered, sealed under another secret or for another cookie, or not sealed at all', () => {
    const secret = randomBytes(32);
    const seal = createLoginSeal(secret, 'airlock-login');
    const sealed = seal.seal(LOGIN);
    const bytes = Buffer.from(sealed, 'base64url');
    for (const i of [0, 12, bytes.length - 1]) {
      const altered = Buffer.from(bytes);
      altered[i] = (altered[i] ?? 0) ^ 1;
      expect(seal.open(altered.toString('base64url'))).toBeUndefined();
    }
    expect(createLoginSeal(randomBytes(32), 'airlock-login').open(sealed)).toBeUndefined();
    expect(createLoginSeal(secret, 'airlock-console').open(sealed)).toBeUndefined();
    expect(seal.open(LOGIN.state)).toBeUndefined();
    expect(seal.open('')).toBeUndefined();
  });

  it('refuses a secret shorter than 32 bytes when it is made', () => {
    expect(() => createLoginSeal(randomBytes(16), 'airlock-login')).toThrow(TypeError);
  });
});
