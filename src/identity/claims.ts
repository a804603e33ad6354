import { domainToASCII } from 'node:url';

/**
 * Pure checks that turn claims of a verified token into principal fields. A valid signature says who
 * issued a token, not that its claims are well-formed: every value here is treated as hostile input.
 */

/** Control, format (bidi, zero-width), surrogate and line/paragraph separator characters. */
const UNSAFE_TEXT = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u;

/** Longest accepted `sub` (OpenID Connect Core §2: at most 255 ASCII characters). */
export const MAX_SUB_LENGTH = 255;
/** Longest accepted `email` (RFC 5321 path limit). */
export const MAX_EMAIL_LENGTH = 254;

/** Why a claim cannot identify anyone; the caller turns it into a `claim_invalid` refusal. */
export class ClaimError extends Error {
  constructor(
    readonly claim: string,
    message: string,
  ) {
    super(`${claim}: ${message}`);
    this.name = 'ClaimError';
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? `a string of ${value.length} characters` : `a ${typeof value}`;
}

/** Whether a value is a non-empty string of at most `max` characters without control or formatting characters. */
export function isSafeText(value: unknown, max: number): value is string {
  return typeof value === 'string' && value !== '' && value.length <= max && !UNSAFE_TEXT.test(value);
}

/** A claim that names someone: a non-empty string of at most `max` characters without control characters. */
export function identifierClaim(claim: string, value: unknown, max: number): string {
  if (typeof value !== 'string' || value === '' || value.length > max) {
    throw new ClaimError(claim, `must be a non-empty string of at most ${max} characters (got ${describe(value)})`);
  }
  if (UNSAFE_TEXT.test(value)) throw new ClaimError(claim, 'must not contain control or invisible formatting characters');
  return value;
}

/**
 * `iat`, `nbf` and `exp` must be finite numbers when present: JSON's `1e400` parses as Infinity, which
 * compares as "never expires".
 */
export function checkNumericDates(payload: Record<string, unknown>): void {
  for (const claim of ['iat', 'nbf', 'exp']) {
    if (!Object.hasOwn(payload, claim)) continue;
    const value = payload[claim];
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new ClaimError(claim, `must be a finite NumericDate (got ${describe(value)})`);
  }
}

/** Lowercases ASCII letters only: the one case mapping that never merges two different characters into a third. */
function asciiLower(text: string): string {
  return text.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/**
 * A character is stable when case folding and compatibility normalisation leave it alone. Unstable ones
 * (Kelvin sign K → k, long s ſ → s, dotless ı → I → i, ß → SS, full-width letters) let an IdP account
 * that is a different string compare equal to someone else's address.
 */
function stable(text: string): boolean {
  if (text.normalize('NFKC') !== text) return false;
  for (const ch of text) {
    if (ch.charCodeAt(0) < 0x80) continue;
    if (ch.toLowerCase() !== ch || ch.toUpperCase().toLowerCase() !== ch || ch.normalize('NFKC') !== ch) return false;
  }
  return true;
}

/**
 * The form of an email address used for authorization (static groups, policy `emails`), or `undefined`
 * when the address cannot safely be compared: a local part or a domain that changes under non-ASCII
 * case folding or NFKC, or a domain that IDNA maps onto a different ASCII name. ASCII letters are
 * lowercased; an internationalised domain is kept in its `xn--` form.
 */
export function authorizationEmail(email: string): string | undefined {
  const at = email.lastIndexOf('@');
  if (at <= 0 || at === email.length - 1) return undefined;
  const local = asciiLower(email.slice(0, at));
  const domain = asciiLower(email.slice(at + 1));
  if (local.length > 64 || /[\s@]/u.test(local) || !stable(local) || !stable(domain)) return undefined;
  const labels: string[] = [];
  for (const label of domain.split('.')) {
    if (label === '') return undefined;
    if (/^[a-z0-9-]+$/.test(label)) {
      labels.push(label);
      continue;
    }
    // A non-ASCII label must become a punycode label; one that IDNA maps to plain ASCII is an alias.
    const ascii = domainToASCII(label);
    if (!ascii.startsWith('xn--') || ascii.includes('.')) return undefined;
    labels.push(ascii);
  }
  return `${local}@${labels.join('.')}`;
}

/**
 * Resolves a claim path strictly through nested objects: `["realm_access", "roles"]` never matches a
 * literal top-level claim named "realm_access.roles", so a claim the IdP copies from user input cannot
 * stand in for the one the operator meant.
 */
export function claimAt(payload: Record<string, unknown>, path: readonly string[]): unknown {
  let value: unknown = payload;
  for (const key of path) {
    if (value === null || typeof value !== 'object' || Array.isArray(value) || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/** Whether `domain` (canonical, lowercase) is one of the patterns: an exact domain or `*.suffix`. */
export function domainMatches(domain: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => (p.startsWith('*.') ? domain.endsWith(p.slice(1)) : domain === p));
}
