/**
 * Keyed tokens for style "hmac": `[EMAIL:hmac:3f9a1c2b4d5e]`, the first 48 bits of
 * HMAC-SHA256(key, type + NUL + normalised value). The same value gives the same token in every call and
 * on every replica sharing the key, so results stay joinable; without the key a token cannot be reversed
 * or confirmed by guessing.
 */
import { createHmac } from 'node:crypto';

/** Shorter keys are refused: a guessable key would let anyone confirm guesses offline. */
export const MIN_HMAC_KEY_LENGTH = 16;

/** Spelling differences that are the same value (card separators, e-mail case) give the same token. */
function normalise(type: string, value: string): string {
  switch (type) {
    case 'CREDIT_CARD':
    case 'US_SSN':
    case 'PHONE':
      return value.replace(/\D/g, '');
    case 'EMAIL':
    case 'IP_ADDRESS':
      return value.toLowerCase();
    case 'IBAN':
      return value.replace(/ /g, '').toUpperCase();
    default:
      return value;
  }
}

export class HmacTokens {
  private readonly key: Buffer;
  private readonly cache = new Map<string, string>();

  constructor(key: string) {
    if (key.length < MIN_HMAC_KEY_LENGTH) throw new TypeError(`masking.hmacKey: the key must be at least ${MIN_HMAC_KEY_LENGTH} characters`);
    this.key = Buffer.from(key, 'utf8');
  }

  token(type: string, value: string): string {
    const input = `${type}\u0000${normalise(type, value)}`;
    let token = this.cache.get(input);
    if (token === undefined) {
      token = `[${type}:hmac:${createHmac('sha256', this.key).update(input).digest('hex').slice(0, 12)}]`;
      if (this.cache.size >= 20_000) this.cache.clear();
      this.cache.set(input, token);
    }
    return token;
  }
}
