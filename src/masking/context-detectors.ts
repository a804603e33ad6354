/**
 * Detectors that need context: values under password-like or secret-like keys (JSON, YAML, env files,
 * `key=value` text, connection strings), bearer/basic credentials, US social security numbers, IP
 * addresses and phone numbers. Keys give the context that patterns alone cannot. Each function is tried
 * only where the scanner saw its anchor (a `=` or `:`, a credential scheme word, a run of digits).
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { CountryCode } from 'libphonenumber-js/max';
import { ALNUM, DIGIT, HEX, is, KEY, UPPER, WORD } from './chars.js';
import { entropy } from './entropy.js';
import { isEncodedCursor, isReference, K_AWS, K_AWS_SHAPE, K_PASS, K_PASSWORD, K_PWD, K_SECRET, K_SSN, KEY_NAME_MAX, keyedWork, keyKinds, MAX_VALUE, quotedEnd, unquotedEnd } from './key-names.js';
import { countriesOf, countryPlan, findPhones } from './phone-tables.js';

export { entropy } from './entropy.js';

export type ContextDetectorName = 'PASSWORD' | 'AWS_SECRET_KEY' | 'GENERIC_API_KEY' | 'US_SSN' | 'IP_ADDRESS' | 'PHONE';

export interface ContextDetection {
  readonly start: number;
  readonly end: number;
  readonly type: ContextDetectorName;
}

/** Where findings go (the scanner's list of every detector's findings). */
interface Sink {
  push(detection: ContextDetection): unknown;
}

const AWS_SECRET_VALUE = /^[A-Za-z0-9/+=]{40}$/;

export function ssnValid(digits: string): boolean {
  if (!/^\d{9}$/.test(digits)) return false;
  const area = Number(digits.slice(0, 3));
  const group = Number(digits.slice(3, 5));
  const serial = Number(digits.slice(5));
  return area !== 0 && area !== 666 && area < 900 && group !== 0 && serial !== 0;
}

// ---------- values under keys (anchor '=' or ':') ----------

/** Logs and result sets repeat the same few keys; bounded so hostile input cannot grow it. */
const keyKindCache = new Map<string, number>();
function kindsOf(key: string): number {
  let kinds = keyKindCache.get(key);
  if (kinds === undefined) {
    kinds = keyKinds(key);
    if (keyKindCache.size >= 4096) keyKindCache.clear();
    keyKindCache.set(key, kinds);
  }
  return kinds;
}

/** Where a value starts and ends in text (its quotes left out). */
interface ValueSpan {
  readonly start: number;
  readonly end: number;
}

/**
 * The value that starts after up to 8 spaces or tabs from `from`: quoted with `"` (escaped any number of
 * times, as inside JSON strings), with `'`, or bare. Undefined for an empty or unterminated one.
 */
function valueAt(text: string, from: number): ValueSpan | undefined {
  let j = from;
  // `"password" => "…"` (PHP, Ruby, hstore), `PASSWORD := …` (make): the operator's second character.
  const op = text.charCodeAt(j);
  if ((op === 62 || op === 61) && (text.charCodeAt(j - 1) === 61 || text.charCodeAt(j - 1) === 58)) j++;
  while (j - from < 8 && (text.charCodeAt(j) === 32 || text.charCodeAt(j) === 9)) j++;
  let level = 0;
  while (level < 8 && text.charCodeAt(j + level) === 92) level++;
  const q = text.charCodeAt(j + level);
  if (q === 34) {
    const end = quotedEnd(text, j + level + 1, level);
    return end > j + level + 1 ? { start: j + level + 1, end } : undefined;
  }
  if (level > 0) return undefined;
  if (q === 39) {
    let end = j + 1;
    while (end - j <= MAX_VALUE && end < text.length && text.charCodeAt(end) !== 39 && text.charCodeAt(end) !== 10) end++;
    keyedWork.chars += end - j;
    return end > j + 1 && text.charCodeAt(end) === 39 ? { start: j + 1, end } : undefined;
  }
  const end = unquotedEnd(text, j);
  if (end <= j) return undefined;
  // A YAML block scalar (`password: |`, `>-`): the value is the next line, indented.
  if ((q === 124 || q === 62) && end - j <= 3 && /^[|>][+-]?\d?$/.test(text.slice(j, end))) {
    let nl = end;
    while (nl - end < 8 && (text.charCodeAt(nl) === 32 || text.charCodeAt(nl) === 9 || text.charCodeAt(nl) === 13)) nl++;
    if (text.charCodeAt(nl) !== 10) return { start: j, end };
    let s = nl + 1;
    while (s - nl <= 64 && (text.charCodeAt(s) === 32 || text.charCodeAt(s) === 9)) s++;
    if (s === nl + 1) return undefined;
    let e = s;
    while (e - s < MAX_VALUE && e < text.length && text.charCodeAt(e) !== 10 && text.charCodeAt(e) !== 13) e++;
    keyedWork.chars += e - s;
    while (e > s && (text.charCodeAt(e - 1) === 32 || text.charCodeAt(e - 1) === 9)) e--;
    return e > s ? { start: s, end: e } : undefined;
  }
  return { start: j, end };
}

/** `Bearer`, `Basic`, `Token`: the scheme word of an `Authorization` value, before the credential. */
const SCHEME = /^(?:bearer|basic|token|digest|negotiate|apikey)$/i;
/** `AWS4-HMAC-SHA256 Credential=…, Signature=…`: a signed request; its `Signature=` is read as a key of its own. */
const SIGNED_SCHEME = /^(?:AWS4|GOOG4)-[A-Z0-9-]{1,32}$/;
/**
 * `AKIA…/20261201/us-east-1/s3/aws4_request`, `sa%40p.iam.gserviceaccount.com%2F20261201%2Fauto%2Fstorage%2Fgoog4_request`:
 * the credential scope of a SigV4 or GOOG4 signature (`Credential=`, `X-Amz-Credential`, `X-Goog-Credential`),
 * a key id or account, a date, a region and a service; not a secret (the key id and the e-mail have their own detectors).
 */
const CREDENTIAL_SCOPE = /^[A-Za-z0-9._%@+-]{1,256}?(?:\\?\/|%2F)\d{8}(?:\\?\/|%2F)[A-Za-z0-9-]{1,64}(?:\\?\/|%2F)[A-Za-z0-9-]{1,64}(?:\\?\/|%2F)(?:aws4|goog4)_request$/i;

/** Where the last value read under a secret name ends (the scanner skips the key anchors inside it). */
export interface ValueReach {
  end: number;
}

/**
 * The secret value under a key name that ends at `keyEnd` (exclusive) and starts at or after
 * `keyStart`, with the value read from `from`: its span and type when the key names a secret and the
 * value holds one (not a reference or a mask). The span is returned even when the caller has the type
 * off, so it can skip the value's own anchors.
 */
function secretUnder(text: string, keyStart: number, keyEnd: number, from: number, reach?: ValueReach): ContextDetection | undefined {
  // Leading dashes and dots belong to flags and paths (`--password`, `.password`), not to the name.
  let s = keyStart;
  while (s < keyEnd && (text.charCodeAt(s) === 45 || text.charCodeAt(s) === 46)) s++;
  if (s >= keyEnd || is(text, s, DIGIT)) return undefined;
  const kinds = kindsOf(text.slice(s, keyEnd));
  if (kinds === 0) return undefined;
  let v = valueAt(text, from);
  if (v === undefined) return undefined;
  let value = text.slice(v.start, v.end);
  if ((kinds & K_SECRET) !== 0) {
    // `Authorization: Bearer <credential>`: the credential, after the scheme word.
    const space = value.indexOf(' ');
    if (SIGNED_SCHEME.test(space > 0 ? value.slice(0, space) : value)) return undefined;
    if (space > 0 && SCHEME.test(value.slice(0, space))) {
      let c = space;
      while (value.charCodeAt(c) === 32) c++;
      v = { start: v.start + c, end: v.end };
    } else if (text.charCodeAt(v.end) === 32 && SCHEME.test(value)) {
      const cred = valueAt(text, v.end);
      if (cred === undefined) return undefined;
      v = cred;
    }
    value = text.slice(v.start, v.end);
  }
  if ((kinds & K_SSN) !== 0 && /^\d{3}$/.test(value) && /^ \d\d \d{4}(?![\w-])/.test(text.slice(v.end, v.end + 9))) {
    // `ssn: 123 45 6789`, unquoted: one value although it holds spaces.
    v = { start: v.start, end: v.end + 8 };
    value = text.slice(v.start, v.end);
  }
  // An unquoted value stops before ']': `key=[GENERIC_API_KEY_1]` is our own placeholder, already masked.
  const closed = text.charCodeAt(v.end) === 93 && value.startsWith('[') ? `${value}]` : value;
  // The type first: most values under secret names that hold none fail it at once (`--token --verbose`).
  const type = typeUnder(kinds, value);
  if (type !== undefined && !isReference(closed.trim()) && !((kinds & K_SECRET) !== 0 && CREDENTIAL_SCOPE.test(value))) return { start: v.start, end: v.end, type };
  // A value read and found to hold no secret is a value all the same: a key inside it (`token=token=…`)
  // is not read again, so a run of keys costs each character once, not once per key. Except a value
  // that opens like a flag (`--token --password x`): that is the next flag, read on its own.
  if (reach !== undefined && value.charCodeAt(0) !== 45) reach.end = v.end;
  return undefined;
}

/**
 * The secret value under the key that ends just before the `=` or `:` at `i`, if the key names a
 * secret. Returns the value's span even when the type found is one the caller has off, so the caller
 * can skip the value's own `=`/`:` as the whole-text scan did.
 */
export function keyedAt(text: string, i: number, reach?: ValueReach): ContextDetection | undefined {
  // Walk back over spaces, an optional quote (escaped any number of times) and the key (at most
  // KEY_NAME_MAX characters).
  let k = i - 1;
  while (k >= 0 && i - k <= 8 && (text.charCodeAt(k) === 32 || text.charCodeAt(k) === 9)) k--;
  const q = text.charCodeAt(k);
  if (q === 34 || q === 39) {
    k--;
    for (let b = 0; b < 8 && text.charCodeAt(k) === 92; b++) k--;
  }
  let start = k;
  while (start >= 0 && k - start < KEY_NAME_MAX && is(text, start, KEY)) start--;
  start++;
  if (start > k) return undefined;
  // `scheme://x-access-token:secret@host`: the user of a URL, not a key; PASSWORD_IN_URL finds the password
  // (also in JSON that escapes '/': `scheme:\/\/x-access-token:…`).
  if ((start >= 3 && text.startsWith('://', start - 3)) || (start >= 5 && text.startsWith(':\\/\\/', start - 5))) return undefined;
  return secretUnder(text, start, k + 1, i + 1, reach);
}

/**
 * A command-line flag naming a secret and its value after a space (`--password hunter2`,
 * `--aws-secret-access-key …`) or as the next JSON array item (`["--db-password", "…"]`), at the first
 * '-' of `--`. `--name=value` is read at its '=' by `keyedAt`.
 */
export function flagAt(text: string, i: number, reach?: ValueReach): ContextDetection | undefined {
  if (text.charCodeAt(i + 1) !== 45 || (i > 0 && is(text, i - 1, KEY))) return undefined;
  let end = i + 2;
  while (end - i < KEY_NAME_MAX && is(text, end, KEY)) end++;
  const c = text.charCodeAt(end);
  if (c === 32 || c === 9) return secretUnder(text, i, end, end, reach);
  if (c !== 34) return undefined;
  // `"--flag", "value"`: the next item of an argument list.
  let j = end + 1;
  while (j - end < 8 && (text.charCodeAt(j) === 32 || text.charCodeAt(j) === 9)) j++;
  if (text.charCodeAt(j) !== 44) return undefined;
  return secretUnder(text, i, end, j + 1, reach);
}

/**
 * Whether a value under a secret-like name looks like a key rather than a word or a setting: long and
 * varied, or at least 8 characters mixing letters and digits with no space (`abc123def`).
 */
function opaque(value: string): boolean {
  if (value.length >= 16) return variedStart(value);
  return value.length >= 8 && /[A-Za-z]/.test(value) && /\d/.test(value) && !/\s/.test(value);
}

/** How much of a long value its entropy is measured over: a key shows itself in its first characters. */
const ENTROPY_REACH = 256;

/** At least 3 bits per character over the value's first ENTROPY_REACH characters. */
function variedStart(value: string): boolean {
  const measured = value.length > ENTROPY_REACH ? value.slice(0, ENTROPY_REACH) : value;
  keyedWork.chars += measured.length;
  return entropy(measured) >= 3.0;
}

/** What a (non-reference) value under a key of these kinds is, if anything. */
function typeUnder(kinds: number, value: string): ContextDetectorName | undefined {
  if ((kinds & K_AWS) !== 0) {
    // Fail closed: whatever is under an AWS secret key's name is one, if it could be a secret at all.
    if (AWS_SECRET_VALUE.test(value) || (value.length >= 16 && variedStart(value))) return 'AWS_SECRET_KEY';
  }
  if ((kinds & K_AWS_SHAPE) !== 0 && AWS_SECRET_VALUE.test(value) && /[A-Z]/.test(value) && /[a-z]/.test(value)) return 'AWS_SECRET_KEY';
  if ((kinds & K_PASSWORD) !== 0 && !((kinds & K_PWD) !== 0 && (value.startsWith('/') || value.startsWith('~/'))) && !((kinds & K_PASS) !== 0 && /^\d+$/.test(value))) return 'PASSWORD';
  if ((kinds & K_SSN) !== 0 && ssnValid(value.replace(/[- ]/g, ''))) return 'US_SSN';
  if ((kinds & K_SECRET) !== 0 && opaque(value) && !isEncodedCursor(value)) return 'GENERIC_API_KEY';
  return undefined;
}

/**
 * Key names from structure rather than text (a parsed object's keys, a CSV header, a result column):
 * names longer than KEY_NAME_MAX characters name nothing. Returns the K_* kinds, 0 for an ordinary name.
 */
export function nameKinds(name: string): number {
  const key = name.trim();
  if (key === '' || key.length > KEY_NAME_MAX) return 0;
  return kindsOf(key);
}

/**
 * The type of a whole value under a key of `kinds` (from `nameKinds`): the same rules as for
 * `key=value` text (references like `****` or `${VAR}` are not secrets).
 */
export function keyedValue(kinds: number, value: string): ContextDetectorName | undefined {
  if (kinds === 0 || value === '' || value.length > MAX_VALUE) return undefined;
  const trimmed = value.trim();
  if (isReference(trimmed)) return undefined;
  // `Bearer <credential>` under `authorization`: the scan of the text finds the credential (with its
  // own type, a JWT say) and leaves the scheme word readable.
  if ((kinds & K_SECRET) !== 0 && authHeaderAt(trimmed, 0)?.end === trimmed.length) return undefined;
  return typeUnder(kinds, trimmed);
}

// ---------- credentials after a scheme word (anchor 'B' or 'T') ----------
const AUTH_HEADER = /(?:Bearer|Basic|Token)[ \t]{1,4}([A-Za-z0-9\-._~+/]{16,4096}=*)/y;

export function authHeaderAt(text: string, at: number): ContextDetection | undefined {
  if (!text.startsWith('Bearer', at) && !text.startsWith('Basic', at) && !text.startsWith('Token', at)) return undefined;
  AUTH_HEADER.lastIndex = at;
  const m = AUTH_HEADER.exec(text);
  const cred = m?.[1];
  if (m === null || cred === undefined || entropy(cred) < 3.0) return undefined;
  const start = at + m[0].length - cred.length;
  return { start, end: start + cred.length, type: 'GENERIC_API_KEY' };
}

// ---------- in one run of digits, spaces, dots, dashes, brackets and '+' ----------

const isSsnNeighbour = (text: string, i: number): boolean => is(text, i, WORD) || text.charCodeAt(i) === 45;

/** Dashed SSNs (`123-45-6789`) starting in `[from, to)`. */
export function ssnsIn(text: string, from: number, to: number, out: Sink): void {
  for (let i = from; i + 11 <= to; i++) {
    if (text.charCodeAt(i + 3) !== 45 || text.charCodeAt(i + 6) !== 45 || isSsnNeighbour(text, i - 1) || isSsnNeighbour(text, i + 11)) continue;
    let digits = '';
    for (const j of [i, i + 1, i + 2, i + 4, i + 5, i + 7, i + 8, i + 9, i + 10]) {
      if (!is(text, j, DIGIT)) break;
      digits += text[j];
    }
    if (ssnValid(digits)) out.push({ start: i, end: i + 11, type: 'US_SSN' });
  }
}

/** The end of `(?:\d{1,3}\.){3}\d{1,3}` at `i`, or -1. */
function dottedQuadEnd(text: string, i: number): number {
  let j = i;
  for (let group = 0; group < 4; group++) {
    const start = j;
    while (j - start < 3 && is(text, j, DIGIT)) j++;
    if (j === start) return -1;
    if (group < 3) {
      if (text.charCodeAt(j) !== 46) return -1;
      j++;
    }
  }
  return j;
}

/**
 * A word that names a version: `version`, `ver`, `release`, `firmware`, `revision`, `build_number`, also as a
 * key's last part. Not `build` alone (a build host's address is as common as a build's number: `build:
 * 10.1.2.5` is masked unless the key says version, `build_version`, `buildVersion`), nor `fw` and `rev`
 * (a firewall, a reverse proxy: `fw=10.1.2.3`, `edge-fw: 10.1.2.4` are addresses).
 */
const VERSION_WORD = /(?:^|[_.-])(?:version|ver|release|firmware|revision|build[_.-]?number)$/;
const VERSION_CAMEL = /[a-z0-9](?:Version|Ver|Release|Firmware|Revision|BuildNumber)$/;

/** Characters between a key and its value: spaces, `=`, `:`, quotes and the backslashes of escaped JSON. */
const isValueSeparator = (c: number): boolean => c === 32 || c === 9 || c === 58 || c === 61 || c === 34 || c === 39 || c === 92;

/** The key-like word that ends at `end` (exclusive): at most 64 characters of `[A-Za-z0-9_.-]`. */
function wordBefore(text: string, end: number): string {
  let s = end;
  while (s > 0 && end - s < 64 && is(text, s - 1, KEY)) s--;
  return text.slice(s, end);
}

/** The key or word before a value at `i`, over at most 12 separators (`": \"` of escaped JSON too). */
function keyBefore(text: string, i: number): string {
  let j = i;
  while (j > 0 && i - j < 12 && isValueSeparator(text.charCodeAt(j - 1))) j--;
  return j === i && i > 0 && is(text, i - 1, KEY) ? '' : wordBefore(text, j);
}

/** `version 1.2.3.4`, `"app_version": "1.2.3.4"`, `clientVersion=1.2.3.4`: a version, not an address. */
function versionBefore(text: string, i: number): boolean {
  const word = keyBefore(text, i);
  if (word === '') return false;
  const lower = word.toLowerCase();
  return VERSION_WORD.test(lower) || VERSION_CAMEL.test(word);
}

/**
 * `Product/` just before the dotted quad `[i, end)`, as user agents write it: the token starts with a letter
 * and does not continue a path (`/hosts/10.1.2.3`, `https://example.com/10.1.2.3` are addresses), and the
 * quad reads as a product's version: a reduced one (`Chrome/131.0.0.0`: `x.0.0.0` is a network, never a
 * host's address), a capitalised product (`Safari/`, `Electron/28.2.3.4`, `ShopServer/1.2.3.45`) or a
 * one-digit major version (`grpc-java-netty/1.62.0.1`). `backend/10.0.0.12`, `peer/10.0.0.13` in free text
 * are addresses (inside a user-agent field every quad is a version: see inUserAgent).
 */
function productBefore(text: string, i: number, end: number): boolean {
  if (text.charCodeAt(i - 1) !== 47) return false;
  let s = i - 1;
  while (s > 0 && i - 1 - s < 64 && is(text, s - 1, KEY)) s--;
  if (s === i - 1 || !is(text, s, WORD) || is(text, s, DIGIT) || text.charCodeAt(s) === 95) return false;
  const before = text.charCodeAt(s - 1);
  if (before === 47 || before === 64 || before === 58) return false;
  return text.startsWith('.0.0.0', end - 6) || is(text, s, UPPER) || text.charCodeAt(i + 1) === 46;
}

/** A quoted or line-start value that opens with `Product/<digit>`: how every user agent begins. */
function productAt(text: string, s: number): boolean {
  let e = s;
  while (e - s < 64 && is(text, e, KEY)) e++;
  return e > s && !is(text, s, DIGIT) && text.charCodeAt(e) === 47 && is(text, e + 1, DIGIT);
}

/** `user_agent`, `userAgent`, `http_user_agent`, `User-Agent`, `ua`: keys whose value is a user agent. */
const UA_KEY = /(?:^|[_.-])ua$|user[_-]?agent$/i;

/**
 * Which field of a text the IPv4 candidates are in, remembered across the candidates of one scan so that
 * no character is read twice: `scanned` is the last candidate looked from, `ua` whether its field is a
 * user agent.
 */
export interface FieldMemo {
  scanned: number;
  ua: boolean;
}

/** A new memo for one scan of one text. */
export const fieldMemo = (): FieldMemo => ({ scanned: 0, ua: false });

/** How far back a user-agent field is looked for: longer user agents are rare (and then addresses stay masked). */
const UA_REACH = 1024;

/**
 * Whether `i` is inside a user-agent field: a quoted value under a user-agent key, a bare quoted value that
 * opens with `Product/<digit>` (the user-agent column of an access log or CSV export), or a
 * `User-Agent:` header line. The field starts after the nearest quote or line break before `i`.
 */
function inUserAgent(text: string, i: number, memo: FieldMemo): boolean {
  const stop = Math.max(memo.scanned, i - UA_REACH, 0);
  let b = i - 1;
  while (b >= stop) {
    const c = text.charCodeAt(b);
    if (c === 34 || c === 10 || c === 13 || (c === 110 && text.charCodeAt(b - 1) === 92)) break;
    b--;
  }
  const reused = b < stop && stop === memo.scanned && memo.scanned > 0;
  memo.scanned = i;
  if (reused) return memo.ua;
  if (b < stop && b >= 0) {
    memo.ua = false;
    return false;
  }
  memo.ua = b >= 0 && text.charCodeAt(b) === 34 ? quotedUserAgent(text, b) : headerUserAgent(text, b + 1);
  return memo.ua;
}

/** The value opened by the quote at `quote` is a user agent (by its key, or by its first token when it has none). */
function quotedUserAgent(text: string, quote: number): boolean {
  let k = quote - 1;
  while (k >= 0 && quote - k <= 8 && text.charCodeAt(k) === 92) k--;
  while (k >= 0 && quote - k <= 16 && (text.charCodeAt(k) === 32 || text.charCodeAt(k) === 9)) k--;
  const sep = text.charCodeAt(k);
  if (sep !== 58 && sep !== 61) return productAt(text, quote + 1);
  return UA_KEY.test(keyBefore(text, k));
}

/** A header line `User-Agent: …` (after a real or escaped line break), or a line that opens with `Product/<digit>`. */
function headerUserAgent(text: string, s: number): boolean {
  let j = s;
  while (j < text.length && j - s < 8 && (text.charCodeAt(j) === 32 || text.charCodeAt(j) === 9)) j++;
  return text.slice(j, j + 11).toLowerCase() === 'user-agent:';
}

/**
 * IPv4 addresses in `[from, to)`: from each '.', step back to the start of the dotted run. A dotted quad
 * that is a version (after `Product/`, after a version word or key, inside a user-agent field) is left
 * readable: reduced user agents (`Chrome/131.0.0.0`) are on every request.
 */
export function ipv4In(text: string, from: number, to: number, out: Sink, memo: FieldMemo = fieldMemo()): void {
  let reach = from;
  for (let dot = text.indexOf('.', from); dot >= 0 && dot < to; dot = text.indexOf('.', dot + 1)) {
    if (dot < reach) continue;
    let i = dot;
    while (i > 0 && dot - i < 3 && is(text, i - 1, DIGIT)) i--;
    if (i === dot || (i > 0 && (is(text, i - 1, WORD) || text.charCodeAt(i - 1) === 46))) continue;
    const end = dottedQuadEnd(text, i);
    if (end < 0) continue;
    reach = end;
    if (is(text, end, WORD) || (text.charCodeAt(end) === 46 && is(text, end + 1, DIGIT)) || !isIPv4(text.slice(i, end))) continue;
    if (productBefore(text, i, end) || versionBefore(text, i) || inUserAgent(text, i, memo)) continue;
    out.push({ start: i, end, type: 'IP_ADDRESS' });
  }
}

// ---------- IPv6 (anchor ':') ----------

/**
 * Cheap necessary conditions for `isIPv6` on hex digits and colons in `[from, to)`: at least one hex
 * digit, groups of at most 4, and '::' or 7 colons.
 */
function ipv6Shaped(text: string, from: number, to: number): boolean {
  let colons = 0;
  let group = 0;
  let hex = 0;
  let compressed = false;
  for (let i = from; i < to; i++) {
    if (text.charCodeAt(i) === 58) {
      colons++;
      if (i > from && text.charCodeAt(i - 1) === 58) compressed = true;
      group = 0;
    } else if (++group > 4) return false;
    else hex++;
  }
  return hex > 0 && colons >= 2 && (colons === 7 || compressed);
}

const isHexOrColon = (text: string, i: number): boolean => is(text, i, HEX) || text.charCodeAt(i) === 58;

/** How far the IPv6 detector has read: the end of its last window, and the run of hex digits and colons it is in. */
export interface V6Reach {
  end: number;
  runStart?: number;
  runEnd?: number;
  /** The run holds a hex digit. */
  runHex?: boolean;
}

/**
 * The IPv6 address around the ':' at `colon`, starting at the run's first hex digit (at most 39 hex
 * digits and colons, then an optional `%zone`). Sets `reach.end` to the end of the run so the caller
 * skips the run's other colons.
 */
export function ipv6At(text: string, colon: number, reach: V6Reach): ContextDetection | undefined {
  // The whole run of hex digits and colons around the colon, read once for all of its colons (a run of
  // thousands of ':' would otherwise be read 80 characters per colon).
  if (reach.runStart === undefined || reach.runEnd === undefined || colon < reach.runStart || colon >= reach.runEnd) {
    let s = colon;
    while (s > 0 && isHexOrColon(text, s - 1)) s--;
    let e = colon;
    let hex = false;
    for (; e < text.length && isHexOrColon(text, e); e++) if (text.charCodeAt(e) !== 58) hex = true;
    for (let k = s; k < colon && !hex; k++) if (text.charCodeAt(k) !== 58) hex = true;
    reach.runStart = s;
    reach.runEnd = e;
    reach.runHex = hex;
  }
  // As far back as 40 characters and on for 39, within the run.
  const i = Math.max(colon - 40, reach.runStart);
  if (i > 0 && is(text, i - 1, WORD)) return undefined;
  const r = Math.min(i + 39, reach.runEnd);
  if (r - i < 2) return undefined;
  let end = r;
  if (text.charCodeAt(r) === 37 /* % */) {
    let z = r + 1;
    while (z - r - 1 < 16 && is(text, z, ALNUM)) z++;
    if (z > r + 1) end = z;
  }
  reach.end = end;
  // Colons alone are no address.
  if (reach.runHex !== true || !ipv6Shaped(text, i, r) || is(text, end, WORD) || !isIPv6(text.slice(i, r))) return undefined;
  return { start: i, end, type: 'IP_ADDRESS' };
}

// ---------- PHONE ----------

/**
 * Phone-shaped candidates, as the regex `\+?\(?\d[\d ().-]{5,22}\d` would find them left to right: an
 * optional '+', an optional '(', then 7–24 characters of digits, spaces, dots, dashes and brackets that
 * start and end with a digit. Written out so that the usual runs (dates, ids) cost no regex or string.
 */
const isPhoneChar = (c: number): boolean => (c >= 48 && c <= 57) || c === 32 || c === 40 || c === 41 || c === 46 || c === 45;
const digitAt = (text: string, i: number): boolean => {
  const c = text.charCodeAt(i);
  return c >= 48 && c <= 57;
};

/** `^\d{4}-\d{2}-\d{2}` at `p`: a date, not a phone. */
function dateAt(text: string, p: number): boolean {
  for (let k = 0; k < 10; k++) {
    const dash = k === 4 || k === 7;
    if (dash ? text.charCodeAt(p + k) !== 45 : !digitAt(text, p + k)) return false;
  }
  return true;
}

/** `\d\.\d+\.\d` inside `[from, to)`: a dotted version or address, not a phone. */
function dottedAt(text: string, from: number, to: number): boolean {
  for (let i = from + 1; i + 3 < to; i++) {
    if (text.charCodeAt(i) !== 46 || !digitAt(text, i - 1) || !digitAt(text, i + 1)) continue;
    let j = i + 1;
    while (j < to && digitAt(text, j)) j++;
    if (j + 1 < to && text.charCodeAt(j) === 46 && digitAt(text, j + 1)) return true;
  }
  return false;
}

/** `415.555.2671`: dotted like a version, but the 3-3-4 grouping of a phone number. */
function dottedPhone(text: string, from: number, to: number): boolean {
  if (to - from !== 12) return false;
  for (let k = 0; k < 12; k++) if (k === 3 || k === 7 ? text.charCodeAt(from + k) !== 46 : !digitAt(text, from + k)) return false;
  return true;
}

/**
 * Digits glued to a word (`KVDR9195084351`) or to an id's prefix (`ORD-2026-177493`) are part of an
 * identifier. A leading '+' or '(' says phone whatever comes before.
 */
function insideId(text: string, start: number): boolean {
  if (!digitAt(text, start)) return false;
  return is(text, start - 1, WORD) || (text.charCodeAt(start - 1) === 45 && is(text, start - 2, WORD));
}

/**
 * A letter right after a number's last digit (`5737034557ef5b8c…`, an MD5) makes the digits part of a
 * word, as libphonenumber's own text matcher rules when it sees the surrounding text (it is only handed
 * the candidate here); an extension (`x12`, `ext. 12`) is not such a letter.
 */
function gluedAfter(text: string, end: number): boolean {
  const after = text.charCodeAt(end);
  if (!((after >= 65 && after <= 90) || (after >= 97 && after <= 122) || after === 95)) return false;
  return !(((after === 120 || after === 88) && digitAt(text, end + 1)) || text.slice(end, end + 3).toLowerCase() === 'ext');
}

/** The end of the digits at `q` (at most `limit`). */
function groupEnd(text: string, q: number, limit = text.length): number {
  let e = q;
  while (e < limit && digitAt(text, e)) e++;
  return e;
}

/** Digits alone. */
function digitsOnly(s: string): boolean {
  for (let k = 0; k < s.length; k++) if (!digitAt(s, k)) return false;
  return true;
}

/** At least `count` digits in a row at `q`. */
function digitsFrom(text: string, q: number, count: number): boolean {
  for (let k = q; k < q + count; k++) if (!digitAt(text, k)) return false;
  return true;
}

/** The digits in `[from, to)`. */
function digitsIn(text: string, from: number, to: number): number {
  let digits = 0;
  for (let k = from; k < to; k++) if (digitAt(text, k)) digits++;
  return digits;
}

/**
 * In the candidate `[q, end)`, which holds more digits than any number ("4155552671 4111111111111111",
 * "(415) 555-2671 (415) 555-2672"): the end of its longest opening of whole digit groups (with `spaces`,
 * whole space-separated tokens) that holds at most 15 digits and stops before a date; -1 when there is
 * none. The rest of the run is looked at from there on.
 */
function cutAt15(text: string, q: number, end: number, spaces: boolean): number {
  let digits = 0;
  let cut = -1;
  let k = q;
  while (k < end) {
    if (k > q && dateAt(text, k)) break;
    // (A group longer than what is left of the 15 ends the loop: it is read no further than that.)
    const e = groupEnd(text, k, k + 16 - digits);
    digits += e - k;
    if (digits > 15) break;
    let space = false;
    for (k = e; k < end && !digitAt(text, k); k++) if (text.charCodeAt(k) === 32) space = true;
    if (!spaces || space) cut = text.charCodeAt(e) === 41 ? e + 1 : e;
  }
  return cut;
}

/** The end of the space-separated token at `q` (at most `to`). */
function tokenEnd(text: string, q: number, to: number): number {
  let e = q;
  while (e < to && text.charCodeAt(e) !== 32) e++;
  return e;
}

/**
 * The end of the last whole space-separated token in `[q, end)` when the window ends inside a token
 * ("+1 (713) 877-1431 212.7" of "… 212.795.7424"): the matcher rejects a candidate with half a number at
 * its end, so the candidate ends before it. -1 when the window is one token.
 */
function lastTokenEnd(text: string, q: number, end: number): number {
  return text.charCodeAt(end) === 32 || !isPhoneChar(text.charCodeAt(end)) ? -1 : prevTokenEnd(text, q, end);
}

/** The end of the token before the last one in `[q, end)`, -1 when it is one token. */
function prevTokenEnd(text: string, q: number, end: number): number {
  for (let k = end - 1; k > q; k--) {
    if (text.charCodeAt(k) !== 32) continue;
    let e = k;
    while (e > q && text.charCodeAt(e - 1) === 32) e--;
    return e;
  }
  return -1;
}

/** Words that say a number is a phone number, whatever else its key says (`phone_number`, `contactId`). */
const PHONE_WORD = /phone|tel|mobile|fax|cell|msisdn|sms|whatsapp|contact/i;
/** Keys and words that say a decimal number is an id, a counter, a size or a time. */
const ID_WORD = /(?:^|[_.-])(?:ids?|uid|gid|pid|tid|ts|timestamp|time|epoch|seq|sequence|offset|build|bytes|size|count|generation|span|trace|order|invoice|ticket|job|txn|ref|nonce|serial|exp|iat|nbf|ms|millis|micros|nanos)$|[_.-](?:at|number|no|num|nr)$/;
const ID_CAMEL = /[a-z0-9](?:Id|ID|Ids|Ts|Time|Timestamp|Size|Count|Number|Millis|Ms|At|Seq|Offset|Generation)$/;

/**
 * The digits at `i` stand under a key or after a word that says id, size, counter or time (`order_id=`,
 * `"id":`, `ts=`, `span=`, `build #`, `Order ID:`): they are not a phone number even when they form a
 * valid one. A phone word in the key (`phone_number`, `contact_id`) wins.
 */
function idBefore(text: string, i: number): boolean {
  const word = keyBefore(text, text.charCodeAt(i - 1) === 35 /* # */ ? i - 1 : i);
  if (word === '' || PHONE_WORD.test(word)) return false;
  return ID_WORD.test(word.toLowerCase()) || ID_CAMEL.test(word);
}

interface PhonePlan {
  /** National number lengths of every country that shares the default country's calling code. */
  readonly lengths: ReadonlySet<number>;
  readonly minDigits: number;
  /**
   * The fewest digits of a valid national number of those countries (a number type's length, or a possible
   * length where a country has no types): a run with fewer and no '+' holds no valid number, whatever its
   * separators (the matcher's numbers inside it have fewer digits still).
   */
  readonly minValid: number;
  readonly callingCode: string;
  /** National prefixes the parser may strip ('1', '0', …). */
  readonly prefixes: readonly string[];
  /** Any national number of those countries matches this (their general patterns, anchored). */
  readonly national: RegExp | undefined;
  /** The international call prefix ('011', '00'). */
  readonly idd: string;
}

const plans = new Map<CountryCode, PhonePlan | null>();

/**
 * For the default country, what lets a candidate be ruled out before the full check.
 * Without '+' or the call prefix, a number is national: its calling code is the default country's, so its
 * national number has one of the lengths of that calling code's countries, after the parser strips at
 * most the calling code and a national prefix from the front. Null (no shortcut) when the country's
 * rules are patterns or can add digits while parsing.
 */
function planFor(country: CountryCode): PhonePlan | null {
  let plan = plans.get(country);
  if (plan !== undefined) return plan;
  plan = null;
  const own = countryPlan(country);
  const prefix = own === undefined ? undefined : own.npp !== '' ? own.npp : own.np;
  if (own !== undefined && prefix !== undefined && /^\d+$/.test(own.idd) && /^(?:\d+(?:\|\d+)*)?$/.test(prefix) && own.npt === '') {
    const lengths = new Set<number>();
    const patterns: string[] = [];
    let minValid = Number.POSITIVE_INFINITY;
    for (const other of countriesOf(own.cc)) {
      const numbering = countryPlan(other);
      if (numbering === undefined) continue;
      for (const length of numbering.lengths) lengths.add(length);
      patterns.push(numbering.nn);
      const valid = numbering.hasTypes ? numbering.types.flatMap((t) => (t === null ? [] : t.lengths)) : numbering.lengths;
      minValid = Math.min(minValid, ...valid);
    }
    const national = patterns.length > 0 && patterns.every((p) => p !== '') ? new RegExp(`^(?:${patterns.join('|')})$`) : undefined;
    if (lengths.size > 0) plan = { lengths, minDigits: Math.min(...lengths), minValid: Math.max(Math.min(...lengths), minValid), callingCode: own.cc, prefixes: prefix === '' ? [] : prefix.split('|'), idd: own.idd, national };
  }
  plans.set(country, plan);
  return plan;
}

/**
 * Whether a phone-shaped candidate that does not open with '+' may hold a valid number for `country`:
 * false only when the phone check would find none. Without '+' or the call prefix a number is national,
 * so it needs at least the fewest digits of a valid national number. A number the matcher finds inside a
 * run with separators leaves out at least one of its digit groups: when that leaves too few digits, the
 * only number there can be is all of its digits, which must fit a national length and pattern (the one
 * parse of a run of digits alone, too).
 */
export function phoneCandidateMayHold(candidate: string, country: CountryCode): boolean {
  return mayHoldNumber(candidate, planFor(country));
}

function mayHoldNumber(candidate: string, plan: PhonePlan | null): boolean {
  if (plan === null) return true;
  let digits = '';
  let smallest = Number.POSITIVE_INFINITY;
  let group = 0;
  for (let k = 0; k <= candidate.length; k++) {
    const c = candidate.charCodeAt(k);
    if (c >= 48 && c <= 57) {
      group++;
      continue;
    }
    if (group > 0) {
      digits += candidate.slice(k - group, k);
      smallest = Math.min(smallest, group);
      group = 0;
    }
  }
  const bare = digits.length === candidate.length;
  const plus = !bare && candidate.includes('+');
  // A number dialled with the call prefix ('011 44 …') starts with it; a run with separators may hold one
  // after other digits.
  if (bare ? digits.startsWith(plan.idd) : digits.includes(plan.idd)) return true;
  if (digits.length < (plus ? plan.minDigits : plan.minValid)) return false;
  // A run with separators may hold a shorter number inside it, unless that would have too few digits.
  if (!bare && (plus || digits.length - smallest >= plan.minValid)) return true;
  const fits = (stripped: number): boolean => plan.lengths.has(digits.length - stripped) && (plan.national?.test(digits.slice(stripped)) ?? true);
  if (fits(0)) return true;
  for (const start of ['', plan.callingCode]) {
    if (!digits.startsWith(start)) continue;
    if (start !== '' && fits(start.length)) return true;
    for (const p of plan.prefixes) if (digits.startsWith(p, start.length) && fits(start.length + p.length)) return true;
  }
  return false;
}

/** Phone numbers in `[from, to)`, a run of digits and ` ().+-` that holds at least 7 digits. */
export function phonesIn(text: string, from: number, to: number, country: CountryCode, out: Sink, checks: { left: number } = { left: Number.POSITIVE_INFINITY }): void {
  const plan = planFor(country);
  let p = from;
  // A run under an id-like key opens with that id: its first digit group, when it is a whole number, is no phone.
  if (digitsFrom(text, from, 7) && idBefore(text, from)) p = groupEnd(text, from);
  while (p < to) {
    let q = p;
    if (text.charCodeAt(q) === 43) q++;
    if (text.charCodeAt(q) === 40) q++;
    if (!digitAt(text, q)) {
      p++;
      continue;
    }
    // Greedy: the last digit at most 23 characters on, over phone characters only.
    let end = -1;
    for (let k = q + 1; k <= q + 23 && k < to && isPhoneChar(text.charCodeAt(k)); k++) if (k >= q + 6 && digitAt(text, k)) end = k + 1;
    if (end < 0) {
      p++;
      continue;
    }
    const start = p;
    if (dateAt(text, start)) {
      // A date is not a phone, but a number may follow it in the same run ("2026-11-29 415 555 2671").
      p = start + 10;
      continue;
    }
    let digits = digitsIn(text, q, end);
    if (digits > 15) {
      // More digits than any number: several numbers (or a number and an id or a card) in one run, cut
      // between space-separated tokens, else between digit groups; a first group that long is skipped.
      let cut = cutAt15(text, q, end, true);
      if (cut < 0) {
        // The first token alone holds more (a card, a long id, "4111-1111-1111-1111"): skip it whole.
        p = tokenEnd(text, q, to);
        continue;
      }
      if (digitsIn(text, q, cut) < 7) cut = cutAt15(text, q, end, false);
      end = cut;
      digits = digitsIn(text, q, end);
    } else {
      const e = lastTokenEnd(text, q, end);
      if (e > 0 && digitsIn(text, q, e) >= 7) {
        end = e;
        digits = digitsIn(text, q, end);
      }
    }
    p = end;
    if (digits < 7 || insideId(text, start)) continue;
    if (dottedAt(text, start, end) && !dottedPhone(text, start, end)) {
      // A dotted version or address, unless the first token is a dotted phone ("206.476.1352 (646) …").
      // Otherwise the run goes on after that first token ("4119 5223 8432 1041 818.234.0537").
      const first = tokenEnd(text, start, end);
      if (!dottedPhone(text, start, first)) {
        if (first < end) p = first;
        continue;
      }
      end = first;
      p = end;
    }
    const candidate = text.slice(start, end);
    if (candidate.charCodeAt(0) !== 43) {
      // A bare run is one number to libphonenumber: glued to a letter, it is part of a word.
      if (gluedAfter(text, end) && digitsOnly(candidate)) continue;
      if (!mayHoldNumber(candidate, plan)) continue;
    }
    if (checks.left <= 0) {
      // Out of checks for this string: a phone-shaped candidate is masked unchecked (fail closed).
      out.push({ start, end, type: 'PHONE' });
      continue;
    }
    checks.left--;
    // libphonenumber's verdict, from tables built from its metadata (phone-tables.ts): only phone-shaped runs are checked.
    let found = findPhones(candidate, country);
    // The matcher takes a candidate whole or looks inside it: a number followed by part of the next one
    // ("+1 818 674 1050 4543", "+1 (646) 223-4670 (512)") is found short or not at all. Up to two
    // candidates a token shorter are tried when nothing was found from the candidate's start.
    for (let e = end, tries = 0; tries < 2 && checks.left > 0 && (found[0]?.startsAt ?? 1) > 0; tries++) {
      e = prevTokenEnd(text, start, e);
      if (e < 0 || digitsIn(text, q, e) < 7) break;
      checks.left--;
      const shorter = findPhones(text.slice(start, e), country);
      if (shorter.length > 0 && (shorter[0]?.startsAt ?? 1) < (found[0]?.startsAt ?? e)) found = shorter;
    }
    let last = 0;
    for (const n of found) {
      if (!gluedAfter(text, start + n.endsAt)) out.push({ start: start + n.startsAt, end: start + n.endsAt, type: 'PHONE' });
      last = n.endsAt;
    }
    // The rest of the candidate may open the next number ("(415) 555-2671 (415) 555-2672").
    if (last > 0) p = start + last;
  }
}
