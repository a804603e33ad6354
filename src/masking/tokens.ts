/**
 * Detectors for self-describing tokens: e-mail addresses, IBANs, JWTs, PEM private keys, cloud and SaaS
 * keys, and passwords inside URLs. Each is tried only where the scanner saw its anchor character, then
 * validated (check digits, checksums, decodable structure), so look-alikes stay readable. Every regex is
 * sticky at a fixed offset from the anchor and every quantifier is bounded by the real maximum of the
 * thing it matches, so no input makes them backtrack over long runs.
 */
import { crc32 } from 'node:zlib';
import { ALNUM, DIGIT, is, isCode, LETTER, LOCAL, UPPER, WORD } from './chars.js';
import type { Detection, DetectorName } from './names.js';

const found = (start: number, end: number, type: DetectorName): Detection => ({ start, end, type });

// ---------- EMAIL (anchor '@') ----------
const FILE_TLDS = ['png', 'jpg', 'jpeg', 'gif', 'svg', 'webp', 'ico', 'css', 'js', 'ts', 'json', 'pdf', 'txt', 'git', 'bmp', 'tiff'];
/** The longest of FILE_TLDS: a longer TLD is none of them. */
const FILE_TLD_MAX = Math.max(...FILE_TLDS.map((t) => t.length));

/**
 * The letters from `start` to `end` (at most FILE_TLD_MAX) as one number, in lower case, so a TLD is
 * looked up without copying it out of the text.
 */
function tldKey(text: string, start: number, end: number): number {
  let key = 0;
  for (let i = start; i < end; i++) key = key * 256 + (text.charCodeAt(i) | 32);
  return key;
}

const FILE_TLD_KEYS = new Set(FILE_TLDS.map((t) => tldKey(t, 0, t.length)));

/** A domain: at most this many labels before its TLD, each at most this long; a TLD of 2 to 24 letters. */
const DOMAIN_LABELS = 8;
const LABEL_MAX = 63;
const TLD_MIN = 2;
const TLD_MAX = 24;


/**
 * The end of the domain name that starts at `from`, or -1: one to eight labels (letters, digits and inner
 * hyphens, 63 at most), each closed by a dot, then a TLD of 2 to 24 letters after the most labels that leave
 * one (the longest TLD run, cut at 24). What the sticky expression
 * `(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}` matches, without a match object
 * per address: a label ends only at a dot, so each is read once, and the TLD after each is tried as it goes.
 */
export function domainEnd(text: string, from: number): number {
  const n = text.length;
  let best = -1;
  let p = from;
  for (let labels = 0; labels < DOMAIN_LABELS; labels++) {
    // Reads stay inside the text: a read past its end makes V8 recompile this loop for that case.
    const labelStop = Math.min(n, p + LABEL_MAX + 1);
    let q = p;
    let c = 0;
    while (q < labelStop) {
      c = text.charCodeAt(q);
      if (c !== 45 && !isCode(c, ALNUM)) break;
      q++;
    }
    // No dot after it (the text or the 63 characters ran out first), empty, or a hyphen at either end.
    if (q === labelStop || q === p || c !== 46 || text.charCodeAt(p) === 45 || text.charCodeAt(q - 1) === 45) break;
    p = q + 1;
    const tldStop = Math.min(n, p + TLD_MAX);
    let t = p;
    while (t < tldStop && isCode(text.charCodeAt(t), LETTER)) t++;
    if (t - p >= TLD_MIN) best = t;
  }
  return best;
}

/**
 * Where the last e-mail marker ('@', `%40`, `%2540`) the scan visited ends: a local part never reaches back
 * over one, so each character is walked back over at most once.
 */
export interface MailMemo {
  from: number;
}

export const mailMemo = (): MailMemo => ({ from: 0 });

/** A local part's characters at most, as written: 64, each possibly percent-encoded twice (`%252B`). */
const LOCAL_REACH = 64 * 5;

const hexValue = (c: number): number => (c >= 48 && c <= 57 ? c - 48 : c >= 65 && c <= 70 ? c - 55 : c >= 97 && c <= 102 ? c - 87 : -1);

/** Characters an address's local part is written with (decoded). */
const localChar = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 46 || c === 95 || c === 45 || c === 43;

/**
 * The start of the local part that ends at `end`, at or after `from`: a percent escape (`%3D`, doubly
 * `%253D`) of a character that is not in local parts (`=`, `?`, `/`, `:`…) ends what came before, as a
 * literal one would: `next=%2Fcb%3Femail%3Dana%2540example.com` starts at `ana`. -1: no local part.
 */
function localStart(text: string, end: number, from: number): number {
  let s = end;
  const stop = Math.max(from, end - LOCAL_REACH);
  let percent = false;
  for (; s > stop; s--) {
    const c = text.charCodeAt(s - 1);
    if (!isCode(c, LOCAL)) break;
    if (c === 37) percent = true;
  }
  // Most local parts hold no escape to read.
  for (let k = percent ? s : end; k < end; ) {
    if (text.charCodeAt(k) !== 37) {
      k++;
      continue;
    }
    let j = k + 1;
    if (text.charCodeAt(j) === 50 && text.charCodeAt(j + 1) === 53 && hexValue(text.charCodeAt(j + 2)) >= 0 && hexValue(text.charCodeAt(j + 3)) >= 0) j += 2;
    const hi = hexValue(text.charCodeAt(j));
    const lo = hexValue(text.charCodeAt(j + 1));
    if (hi < 0 || lo < 0 || j + 2 > end) {
      s = k + 1; // a '%' that is no escape is in no address
      k++;
    } else {
      if (!localChar(hi * 16 + lo)) s = j + 2;
      k = j + 2;
    }
  }
  return s === end || text.charCodeAt(s) === 46 || text.charCodeAt(end - 1) === 46 ? -1 : s;
}

/**
 * `urlPasswords`: PASSWORD_IN_URL is on. Then a "local part" that ends the password of
 * `scheme://user:password@host` is part of that password (or of a reference to one, left readable), not
 * an address: the host stays readable. Anything else (no scheme before the user) stays an EMAIL.
 */
export function emailAt(text: string, at: number, urlPasswords = false, memo?: MailMemo): Detection | undefined {
  const s = localStart(text, at, memo?.from ?? 0);
  if (memo !== undefined) memo.from = at + 1;
  if (s < 0) return undefined;
  if (urlPasswords) {
    // The end of a URL's password (or of a reference to one, `$DB_PASSWORD`), not an address.
    const colon = passwordColon(text, s);
    const scheme = colon < 0 ? -1 : urlSchemeColon(text, colon);
    const password = scheme < 0 ? undefined : urlCredentialAt(text, scheme);
    if (password !== undefined && password.start <= s && password.end === at) return undefined;
  }
  return domainAfter(text, s, at + 1);
}

/**
 * An address written URL-encoded, at the '%' of its `%40` (`ana%40example.com` in a query string, a
 * signed URL's `X-Goog-Credential`, a certificate URL) or `%2540` (encoded twice: a redirect parameter
 * inside another URL). The span is the address as written.
 */
export function encodedEmailAt(text: string, pct: number, memo?: MailMemo): Detection | undefined {
  const width = text.startsWith('40', pct + 1) ? 3 : text.startsWith('2540', pct + 1) ? 5 : 0;
  if (width === 0) return undefined;
  const s = localStart(text, pct, memo?.from ?? 0);
  if (memo !== undefined) memo.from = pct + width;
  return s < 0 ? undefined : domainAfter(text, s, pct + width);
}

/** The address from `start` whose domain starts at `domain`, when the domain is one. */
function domainAfter(text: string, start: number, domain: number): Detection | undefined {
  if (domain >= text.length || !isCode(text.charCodeAt(domain), ALNUM)) return undefined;
  const end = domainEnd(text, domain);
  if (end < 0) return undefined;
  // The TLD is letters after a dot.
  let tld = end;
  while (isCode(text.charCodeAt(tld - 1), LETTER)) tld--;
  if (end === text.length) return end - tld <= FILE_TLD_MAX && FILE_TLD_KEYS.has(tldKey(text, tld, end)) ? undefined : found(start, end, 'EMAIL');
  const next = text.charCodeAt(end);
  // icon@2x.png, git@github.com:org/repo.git, user@host.internal-ish identifiers glued to more text; a
  // colon that ends a phrase ("for customer ana@example.com: timeout") leaves an email an email.
  if ((end - tld <= FILE_TLD_MAX && FILE_TLD_KEYS.has(tldKey(text, tld, end))) || (next === 58 && !phraseEnd(text.charCodeAt(end + 1))) || next === 45 || is(text, end, WORD)) return undefined;
  return found(start, end, 'EMAIL');
}

/**
 * The ':' before a URL password that holds `i`: walking back over characters a password may hold (so the
 * walk stops at the previous '@' and never covers another address's; `\/` is a JSON-escaped '/'), at most
 * 256; -1 when there is none.
 */
function passwordColon(text: string, i: number): number {
  for (let k = i - 1; k >= 0 && i - k <= 256; k--) {
    const c = text.charCodeAt(k);
    if (c === 58) return k;
    if (c === 64 || c <= 32 || c === 34 || c === 39 || (c === 92 && text.charCodeAt(k + 1) !== 47)) return -1;
  }
  return -1;
}

/** After a colon: the end of the text, white space or closing punctuation (the colon ended a phrase). */
function phraseEnd(c: number): boolean {
  return Number.isNaN(c) || c === 32 || c === 9 || c === 10 || c === 13 || c === 34 || c === 39 || c === 41 || c === 44 || c === 59 || c === 93 || c === 125;
}

/** The ':' of `scheme://` (or `scheme:\/\/`, JSON-escaped) before the user name that ends at the ':' at `colon` (one token), or -1. */
function urlSchemeColon(text: string, colon: number): number {
  let k = colon - 1;
  while (k >= 0 && colon - k <= 130) {
    const c = text.charCodeAt(k);
    if (c === 47) {
      if (k >= 2 && text.charCodeAt(k - 1) === 47 && text.charCodeAt(k - 2) === 58) return k - 2;
      return k >= 4 && text.startsWith(':\\/\\/', k - 4) ? k - 4 : -1;
    }
    if (c === 32 || c === 9 || c === 10 || c === 13 || c === 64) return -1;
    k--;
  }
  return -1;
}

// ---------- IBAN (anchor: an upper-case letter starting a word) ----------
const IBAN_LENGTHS: Readonly<Record<string, number>> = {
  AD: 24, AE: 23, AL: 28, AT: 20, AZ: 28, BA: 20, BE: 16, BG: 22, BH: 22, BR: 29, CH: 21, CR: 22, CY: 28, CZ: 24,
  DE: 22, DK: 18, DO: 28, EE: 20, EG: 29, ES: 24, FI: 18, FO: 18, FR: 27, GB: 22, GE: 22, GI: 23, GL: 18, GR: 27,
  GT: 28, HR: 21, HU: 28, IE: 22, IL: 23, IS: 26, IT: 27, JO: 30, KW: 30, KZ: 20, LB: 28, LI: 21, LT: 20, LU: 20,
  LV: 21, MC: 27, MD: 24, ME: 22, MK: 19, MR: 27, MT: 31, MU: 30, NL: 18, NO: 15, PK: 24, PL: 28, PS: 29, PT: 25,
  QA: 29, RO: 24, RS: 22, SA: 24, SE: 24, SI: 19, SK: 24, SM: 27, TN: 24, TR: 26, UA: 29, VG: 24, XK: 20,
};

export function ibanValid(raw: string): boolean {
  const iban = raw.replace(/ /g, '').toUpperCase();
  if (IBAN_LENGTHS[iban.slice(0, 2)] !== iban.length) return false;
  const moved = iban.slice(4) + iban.slice(0, 4);
  let rem = 0;
  for (let i = 0; i < moved.length; i++) {
    const code = moved.charCodeAt(i);
    const value = code >= 65 ? code - 55 : code - 48;
    rem = value >= 10 ? (rem * 100 + value) % 97 : (rem * 10 + value) % 97;
  }
  return rem === 1;
}

const IBAN_RE = /[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}/y;
export function ibanAt(text: string, i: number): Detection | undefined {
  if (i >= text.length - 14 || is(text, i - 1, WORD) || !is(text, i + 1, UPPER) || !is(text, i + 2, DIGIT) || !is(text, i + 3, DIGIT)) return undefined;
  IBAN_RE.lastIndex = i;
  const m = IBAN_RE.exec(text);
  if (m === null) return undefined;
  // Try the longest prefix that validates (the match may run into the next word).
  let candidate = m[0];
  while (candidate.length >= 15) {
    if (!is(text, i + candidate.length, WORD) && ibanValid(candidate)) return found(i, i + candidate.length, 'IBAN');
    candidate = candidate.slice(0, -1).trimEnd();
  }
  return undefined;
}

// ---------- JWT (anchor 'eyJ') ----------
const JWT_RE = /eyJ[A-Za-z0-9_-]{5,2000}\.eyJ[A-Za-z0-9_-]{2,8000}\.[A-Za-z0-9_-]{0,2000}/y;
const isBase64Url = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 45 || c === 95;

/** Services sign with a handful of headers; bounded so hostile input cannot grow it. */
const headers = new Map<string, boolean>();

/** A JWT header is base64url JSON naming an `alg`. */
function jwtHeaderValid(segment: string): boolean {
  let valid = headers.get(segment);
  if (valid === undefined) {
    try {
      const header = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8')) as { alg?: unknown } | null;
      valid = typeof header?.alg === 'string';
    } catch {
      valid = false;
    }
    if (headers.size >= 1024) headers.clear();
    if (segment.length <= 256) headers.set(segment, valid);
  }
  return valid;
}

/**
 * The JWT at an 'eyJ'. On failure, `reach.end` says where the next 'eyJ' can start one: every 'eyJ' in
 * the same run of base64url characters shares what follows the run, so on a run of 'eyJeyJeyJ…' the
 * regex runs once, not once per 'eyJ'.
 */
export function jwtAt(text: string, at: number, reach: { end: number }): Detection | undefined {
  JWT_RE.lastIndex = at;
  const m = JWT_RE.exec(text);
  if (m === null) {
    let run = at + 3;
    while (run < text.length && isBase64Url(text.charCodeAt(run))) run++;
    // Only a first segment longer than 2,000 characters fails differently for a later 'eyJ'.
    reach.end = text.charCodeAt(run) === 46 && run - at - 3 > 2000 ? run - 2003 : run;
    return undefined;
  }
  if (!jwtHeaderValid(m[0].slice(0, m[0].indexOf('.')))) return undefined;
  reach.end = at + m[0].length;
  return found(at, at + m[0].length, 'JWT');
}

// ---------- PRIVATE_KEY (anchor '-----BEGIN ') ----------
const PEM_BEGIN = /-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP |ED25519 )?PRIVATE KEY(?: BLOCK)?-----/y;
/** A private key block is at most this long (an RSA-8192 key is ~6.5 KB); past it, it is masked as truncated. */
const PEM_MAX = 16_384;
/** A body line at least this long is a full line: another line may follow it (a shorter one is the last). */
const PEM_FULL_LINE = 40;
/** A base64 run this long is a line of the block whatever follows it. */
const PEM_RUN_ALONE = 8;

const isBase64 = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 43 || c === 47 || c === 61;

/**
 * The length of a base64 character escaped at `i`: up to 8 backslashes then '/' (`\/`, which PHP's
 * json_encode writes by default, `\\\/` in a JSON string inside one), or then `u002B`, `u002F`, `u003D`
 * (`+`, `/`, `=` as .NET's JSON writer escapes them); 0 when there is none.
 */
function escapedBase64(text: string, i: number): number {
  let k = i;
  while (k - i < 8 && text.charCodeAt(k) === 92) k++;
  if (k === i) return 0;
  if (text.charCodeAt(k) === 47) return k + 1 - i;
  if (text.charCodeAt(k) !== 117 || text.charCodeAt(k + 1) !== 48 || text.charCodeAt(k + 2) !== 48) return 0;
  const hi = text.charCodeAt(k + 3);
  const lo = text.charCodeAt(k + 4) | 32;
  return (hi === 50 && (lo === 98 || lo === 102)) || (hi === 51 && lo === 100) ? k + 5 - i : 0;
}

/**
 * The line break at `i`: a real one (`\n`, `\r`), a space or tab (a block flattened onto one line), or an
 * escaped one: up to 8 backslashes then `n` or `r` (`\n` in JSON, `\\n` in a JSON string inside a JSON
 * string, and deeper); 0 when there is none.
 */
function pemBreak(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c === 10 || c === 13 || c === 32 || c === 9) return 1;
  if (c !== 92) return 0;
  let k = i + 1;
  while (k - i < 8 && text.charCodeAt(k) === 92) k++;
  const e = text.charCodeAt(k);
  return e === 110 || e === 114 ? k + 1 - i : 0;
}

/**
 * Whether a run of base64 that ends at `i` is a line of the block: it ends at the END line, the end of the
 * text, a line break or closing punctuation, or it is long enough that it cannot be a word or a timestamp
 * written after a cut (`…abc...[truncated]`).
 */
function pemLine(text: string, start: number, i: number): boolean {
  const c = text.charCodeAt(i);
  if (i - start >= PEM_RUN_ALONE || Number.isNaN(c) || pemBreak(text, i) > 0 || text.startsWith('-----END ', i)) return true;
  return c === 34 || c === 39 || c === 92 || c === 44 || c === 59 || c === 125 || c === 93 || c === 41 || c === 62 || c === 124;
}

/**
 * What the scan of one text has learnt of where '-----' occurs: the first occurrence at or after `from` is
 * at `found`, or (`found` -1) none starts before `to`. Each PEM block that its walk does not close asks
 * where the next '-----' is within PEM_MAX; the memo keeps those questions from reading the same text twice.
 */
export interface PemMemo {
  from: number;
  to: number;
  found: number;
}

export const pemMemo = (): PemMemo => ({ from: Number.POSITIVE_INFINITY, to: 0, found: -1 });

/** The first '-----' that starts in [s, l - 5], or -1. */
function dashesWithin(text: string, s: number, l: number, memo: PemMemo): number {
  let from = s;
  if (memo.from <= s) {
    if (memo.found >= s) return memo.found <= l - 5 ? memo.found : -1;
    if (memo.found < 0) {
      if (memo.to >= l - 4) return -1;
      from = Math.max(s, memo.to);
    }
  }
  const k = from < l ? text.slice(from, l).indexOf('-----') : -1;
  if (from === s) memo.from = s;
  memo.found = k < 0 ? -1 : from + k;
  memo.to = Math.max(from, l - 4);
  return memo.found;
}

/** The end of the `-----END … KEY-----` line at `p` (its closing dashes within 64 characters). */
function pemEnd(text: string, p: number): number {
  const close = text.slice(p + 9, p + 68).indexOf('-----');
  return close >= 0 ? p + 9 + close + 5 : p + 9;
}

/**
 * A PEM private key block at `-----BEGIN`: the whole block to the end of its `-----END … KEY-----` line,
 * with its line breaks as written (real, escaped once or more, or spaces) and its base64 as written
 * (escaped `\/` too), lines of any width. When the walk over the lines stops short of the END line (an
 * escape it does not know), an END line within PEM_MAX with no other '-----' before it still ends the
 * block there: on doubt, mask more. A block with no END line (truncated by a log line limit, a column
 * width) ends with its last base64 line: lines follow one another while each before is a full line, and a
 * line ends at a break or closing punctuation, so the text after a cut (a timestamp, a quote) stays out.
 * Legacy encrypted keys' `Proc-Type:`/`DEK-Info:` headers are part of the block. Each character is read
 * once per block (the search for an END line once per scan, with `memo`); the block is at most PEM_MAX long.
 */
export function privateKeyAt(text: string, at: number, memo: PemMemo = pemMemo()): Detection | undefined {
  PEM_BEGIN.lastIndex = at;
  const head = PEM_BEGIN.exec(text);
  if (head === null) return undefined; // certificates and public keys are not secrets
  const limit = Math.min(text.length, at + PEM_MAX);
  let end = at + head[0].length;
  // Where the block ends if no END line comes: the last line of an unbroken run of full lines.
  let truncated = end;
  let full = true;
  let previous = Number.POSITIVE_INFINITY; // the BEGIN line counts as full: the body may follow it
  let stop = end;
  for (let breaks = 0; end < limit; ) {
    let p = end;
    for (let b = pemBreak(text, p); b > 0 && p < limit && breaks < 64; b = pemBreak(text, p)) {
      p += b;
      breaks++;
    }
    stop = p;
    if (text.startsWith('-----END ', p)) return found(at, pemEnd(text, p), 'PRIVATE_KEY');
    if (p > end && (text.startsWith('Proc-Type:', p) || text.startsWith('DEK-Info:', p))) {
      let q = p;
      while (q < limit && q - p < 128 && text.charCodeAt(q) !== 10 && text.charCodeAt(q) !== 13 && text.charCodeAt(q) !== 92) q++;
      end = q;
      if (full) truncated = q;
      continue;
    }
    let q = p;
    while (q < limit) {
      if (isBase64(text.charCodeAt(q))) q++;
      else {
        const e = escapedBase64(text, q);
        if (e === 0) break;
        q += e;
      }
    }
    if (q === p || !pemLine(text, p, q)) break;
    if (previous < PEM_FULL_LINE) full = false;
    previous = q - p;
    end = q;
    if (full) truncated = q;
    breaks = 0;
    stop = q;
  }
  const dashes = dashesWithin(text, stop, limit, memo);
  if (dashes >= 0 && text.startsWith('-----END ', dashes)) return found(at, pemEnd(text, dashes), 'PRIVATE_KEY');
  return found(at, truncated, 'PRIVATE_KEY');
}

// ---------- GCP_SA_KEY (anchor ':' or '=' after a "private_key" key) ----------
const SA_KEY = 'private_key';

/** Whether `value` (a whole value, e.g. under a parsed object's `private_key`) is a PEM private key. */
export function pemPrivateKeyValue(value: string): boolean {
  let v = 0;
  while (v < value.length && v < 8 && (value.charCodeAt(v) === 32 || value.charCodeAt(v) === 10 || value.charCodeAt(v) === 13)) v++;
  PEM_BEGIN.lastIndex = v;
  return PEM_BEGIN.test(value);
}

/**
 * The `private_key` of a Google service-account key file, at the ':' or '=' after the key: JSON text
 * (`"private_key": "-----BEGIN PRIVATE KEY-----\n…"`, also JSON inside a JSON string), `key: value` or
 * env-file text with real newlines. The span is the whole value (the PEM block and the newline escapes
 * after it), never the quotes. Certificates and public keys under that key are not secrets.
 */
export function serviceAccountKeyAt(text: string, sep: number, memo: PemMemo = pemMemo()): Detection | undefined {
  let k = sep - 1;
  while (k >= 0 && sep - k <= 8 && (text.charCodeAt(k) === 32 || text.charCodeAt(k) === 9)) k--;
  const q = text.charCodeAt(k);
  if (q === 34 || q === 39) {
    k--;
    if (text.charCodeAt(k) === 92) k--; // \"private_key\" inside an escaped JSON string
  }
  const start = k - SA_KEY.length + 1;
  // (The name's last letter first: most separators follow another name, and the comparison copies the name.)
  if (start < 0 || (text.charCodeAt(k) | 32) !== 121 /* y */ || text.slice(start, k + 1).toLowerCase() !== SA_KEY || is(text, start - 1, WORD)) return undefined;
  let v = sep + 1;
  while (v < text.length && v - sep <= 8 && (text.charCodeAt(v) === 32 || text.charCodeAt(v) === 9)) v++;
  if (text.charCodeAt(v) === 92) v++;
  const open = text.charCodeAt(v);
  if (open === 34 || open === 39) v++;
  if (!text.startsWith('-----BEGIN ', v)) return undefined;
  const pem = privateKeyAt(text, v, memo);
  if (pem === undefined) return undefined;
  // The newline a key file ends its key with belongs to the value: `\n`, `\\n`, `\r\n`, real or escaped.
  let end = pem.end;
  for (let n = 0; n < 2; n++) {
    if (text.startsWith('\\\\n', end)) end += 3;
    else if (text.startsWith('\\r\\n', end)) end += 4;
    else if (text.startsWith('\\n', end)) end += 2;
    else if (text.startsWith('\r\n', end)) end += 2;
    else if (text.charCodeAt(end) === 10) end += 1;
    else break;
  }
  return found(v, end, 'GCP_SA_KEY');
}

// ---------- cloud and SaaS keys ----------
const AWS_RE = /(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}/y;
const GCP_RE = /AIza[0-9A-Za-z_-]{35}/y;

/** AWS access key ids and Google API keys, at an 'A' that starts a word. */
export function cloudKeyAt(text: string, at: number): Detection | undefined {
  if (is(text, at - 1, WORD)) return undefined;
  if (text.startsWith('AIza', at)) {
    GCP_RE.lastIndex = at;
    const c = text.charCodeAt(at + 39);
    if (GCP_RE.test(text) && !is(text, at + 39, WORD) && c !== 45) return found(at, at + 39, 'GCP_API_KEY');
    return undefined;
  }
  AWS_RE.lastIndex = at;
  if (AWS_RE.test(text) && !is(text, at + 20, WORD)) return found(at, at + 20, 'AWS_ACCESS_KEY');
  return undefined;
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
function base62(n: number, width: number): string {
  let out = '';
  let v = n >>> 0;
  do {
    out = BASE62[v % 62] + out;
    v = Math.floor(v / 62);
  } while (v > 0);
  return out.padStart(width, '0');
}

/** GitHub classic tokens carry a CRC32 checksum of their random part in the last 6 characters. */
export function githubChecksumValid(token: string): boolean {
  const body = token.slice(4, 34);
  return base62(crc32(body), 6) === token.slice(34, 40);
}

const GH_RE = /gh[pousr]_[A-Za-z0-9]{36}/y;
const GH_FINE_RE = /github_pat_[A-Za-z0-9_]{82}/y;
const STRIPE_RE = /(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,247}/y;
const WHSEC_RE = /whsec_[A-Za-z0-9+/=]{24,128}/y;
const GH_KINDS = new Set(['p', 'o', 'u', 's', 'r']);
/** npm access tokens: `npm_` and 36 base62 characters (no type of their own: GENERIC_API_KEY). */
const NPM_RE = /npm_[A-Za-z0-9]{36}/y;

function sticky(re: RegExp, text: string, at: number): number {
  re.lastIndex = at;
  const m = re.exec(text);
  return m === null ? -1 : at + m[0].length;
}

/** GitHub and Stripe keys, at an underscore: `gh?_`, `github_pat_`, `sk_live_`/`rk_test_`…, `whsec_`. */
export function underscoreTokenAt(text: string, u: number): Detection | undefined {
  const p1 = text[u - 1];
  if (u >= 3 && text.startsWith('gh', u - 3) && p1 !== undefined && GH_KINDS.has(p1)) {
    const at = u - 3;
    const end = sticky(GH_RE, text, at);
    // The prefix and the length say enough: a token with a wrong checksum (mistyped, cut and pasted,
    // made up for a test) is still masked, as secret scanners do. The checksum is never a reason to let one through.
    if (end < 0 || is(text, at - 1, WORD) || is(text, end, WORD)) return undefined;
    return found(at, end, 'GITHUB_TOKEN');
  }
  if (p1 === 'k' && (text[u - 2] === 's' || text[u - 2] === 'r') && (text.startsWith('live_', u + 1) || text.startsWith('test_', u + 1))) {
    const at = u - 2;
    const end = sticky(STRIPE_RE, text, at);
    return end < 0 || is(text, at - 1, WORD) ? undefined : found(at, end, 'STRIPE_KEY');
  }
  if (p1 === 'c' && u >= 5 && text.startsWith('whsec', u - 5)) {
    const at = u - 5;
    const end = sticky(WHSEC_RE, text, at);
    return end < 0 || is(text, at - 1, WORD) ? undefined : found(at, end, 'STRIPE_KEY');
  }
  if (p1 === 'b' && u >= 6 && text.startsWith('github_pat_', u - 6)) {
    const at = u - 6;
    const end = sticky(GH_FINE_RE, text, at);
    return end < 0 || is(text, at - 1, WORD) ? undefined : found(at, end, 'GITHUB_TOKEN');
  }
  if (p1 === 'm' && u >= 3 && text.startsWith('npm', u - 3)) {
    const at = u - 3;
    const end = sticky(NPM_RE, text, at);
    return end < 0 || is(text, at - 1, WORD) || is(text, end, WORD) ? undefined : found(at, end, 'GENERIC_API_KEY');
  }
  return undefined;
}

const SLACK_RE = /(?:xox[baprse]|xapp)-[A-Za-z0-9-]{10,250}/y;
const SLACK_KINDS = new Set(['b', 'a', 'p', 'r', 's', 'e']);
/** GitLab personal, project and group access tokens (no type of their own: GENERIC_API_KEY). */
const GITLAB_RE = /glpat-[A-Za-z0-9_-]{20,64}/y;

/**
 * Tokens at the dash after their prefix: Slack's `xox?-` and `xapp-` (SLACK_TOKEN) and GitLab's `glpat-`
 * (GENERIC_API_KEY).
 */
export function dashTokenAt(text: string, dash: number): Detection | undefined {
  if (dash < 4) return undefined;
  const kind = text[dash - 1];
  let at = -1;
  if (kind !== undefined && SLACK_KINDS.has(kind) && text.startsWith('xox', dash - 4)) at = dash - 4;
  else if (kind === 'p' && text.startsWith('xapp', dash - 4)) at = dash - 4;
  else if (kind === 't' && dash >= 5 && text.startsWith('glpat', dash - 5)) {
    const end = is(text, dash - 6, WORD) ? -1 : sticky(GITLAB_RE, text, dash - 5);
    return end < 0 || is(text, end, WORD) ? undefined : found(dash - 5, end, 'GENERIC_API_KEY');
  }
  if (at < 0 || is(text, at - 1, WORD)) return undefined;
  const end = sticky(SLACK_RE, text, at);
  return end < 0 ? undefined : found(at, end, 'SLACK_TOKEN');
}

// ---------- after '://': Slack webhooks and URL passwords ----------
const SLACK_HOOK = 'https://hooks.slack.com/services/';
const SLACK_HOOK_RE = /https:\/\/hooks\.slack\.com\/services\/T[A-Z0-9]{6,12}\/B[A-Z0-9]{6,12}\/[A-Za-z0-9]{20,40}/y;
/** The same URL in JSON whose writer escapes '/' (`https:\/\/hooks.slack.com\/services\/…`). */
const SLACK_HOOK_ESCAPED = 'https:\\/\\/hooks.slack.com\\/services\\/';
const SLACK_HOOK_ESCAPED_RE = /https:\\\/\\\/hooks\.slack\.com\\\/services\\\/T[A-Z0-9]{6,12}\\\/B[A-Z0-9]{6,12}\\\/[A-Za-z0-9]{20,40}/y;

/** Slack incoming-webhook URLs, at the ':' of `https://` (or of `https:\/\/`). */
export function slackHookAt(text: string, colon: number): Detection | undefined {
  if (colon < 5) return undefined;
  const re = text.startsWith(SLACK_HOOK, colon - 5) ? SLACK_HOOK_RE : text.startsWith(SLACK_HOOK_ESCAPED, colon - 5) ? SLACK_HOOK_ESCAPED_RE : undefined;
  const end = re === undefined ? -1 : sticky(re, text, colon - 5);
  return end < 0 ? undefined : found(colon - 5, end, 'SLACK_TOKEN');
}

/**
 * Only the password of `scheme://user:password@host`, any scheme (postgres, mysql, redis, amqp,
 * mongodb+srv, https, smtp, …). The user may be empty (`redis://:password@host`); as RFC 3986 reads
 * userinfo, the password is everything from the first ':' after the user to the '@' before the host, so it
 * may hold ':' (`default:Kx9:vQ2mP7@`), '/', '?' or '#' unencoded (generated passwords do); not '@', white
 * space, quotes or backslashes. The user holds no ':', so the split is fixed and nothing backtracks past it.
 */
const URL_CRED_RE = /[A-Za-z0-9._~%!$&'()*+,;=-]{0,128}:([^\s@"'\\]{1,256})@[A-Za-z0-9.-]{1,253}/y;
/** The same in JSON whose writer escapes '/': `https:\/\/user:p\/w@host` (a password's '/' is `\/` too). */
const URL_CRED_ESCAPED_RE = /[A-Za-z0-9._~%!$&'()*+,;=-]{0,128}:((?:[^\s@"'\\]|\\\/){1,256})@[A-Za-z0-9.-]{1,253}/y;
/** References to a secret and masked values, not secrets: `${DB_PASSWORD}`, `$PASS`, `{{.Values.pw}}`, `%s`, `****`, `<redacted>`. */
const URL_PLACEHOLDER = /^(?:\*+|x+|\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|\$\([^)]*\)|\{\{[^}]*\}\}|%(?:\([A-Za-z_]+\))?s|<[^>]*>|\[[A-Za-z0-9_]*\]|password|redacted|\.\.\.)$/i;
/**
 * `host:8080/path?x=a@b.c`: a port and a path, not a password; `h1:27017,h2:27017/db?x=a@b.c`: a port and
 * more hosts (a password may hold ':', so the second host's port no longer ends the match); a password
 * that opens with digits and ',' (`03,xh…@`) with no `host:port` after the ',' is still one.
 */
const URL_PORT = /^\d{1,5}(?:[/?#]|,[A-Za-z0-9.-]{1,253}:\d)/;

/** The password of the URL whose `://` starts at `colon`, placeholder or not: its span and whether it is a secret. */
function urlCredentialAt(text: string, colon: number): { start: number; end: number; secret: boolean } | undefined {
  const escaped = text.charCodeAt(colon + 1) === 92;
  const re = escaped ? URL_CRED_ESCAPED_RE : URL_CRED_RE;
  const from = colon + (escaped ? 5 : 3);
  re.lastIndex = from;
  const m = re.exec(text);
  const password = m?.[1];
  if (m === null || password === undefined) return undefined;
  const start = from + m[0].indexOf(':') + 1;
  // With no user there is no host before the ':' either: `redis://:1/x@host` has a password.
  if (start > from + 1 && URL_PORT.test(escaped ? password.replace(/\\\//g, '/') : password)) return undefined;
  return { start, end: start + password.length, secret: !URL_PLACEHOLDER.test(password) };
}

/** At the ':' of `://`. */
export function urlPasswordAt(text: string, colon: number): Detection | undefined {
  const c = urlCredentialAt(text, colon);
  return c === undefined || !c.secret ? undefined : found(c.start, c.end, 'PASSWORD_IN_URL');
}
