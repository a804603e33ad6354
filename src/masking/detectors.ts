/**
 * Built-in detectors. Each finds candidates from a literal anchor (`indexOf`) and validates them (check
 * digits, checksums, decodable structure), so look-alikes stay readable and no pattern can backtrack
 * over long input: every quantifier is bounded by the real maximum of the thing it matches.
 * Offsets are JS string indices.
 */
import { crc32 } from 'node:zlib';
import { findCards } from './cards.js';
import { findContext } from './context-detectors.js';

export const DETECTOR_NAMES = [
  'CREDIT_CARD',
  'EMAIL',
  'IBAN',
  'JWT',
  'PRIVATE_KEY',
  'AWS_ACCESS_KEY',
  'GCP_API_KEY',
  'GITHUB_TOKEN',
  'SLACK_TOKEN',
  'STRIPE_KEY',
  'PASSWORD_IN_URL',
  'PASSWORD',
  'AWS_SECRET_KEY',
  'GENERIC_API_KEY',
  'US_SSN',
  'IP_ADDRESS',
  'PHONE',
] as const;
export type DetectorName = (typeof DETECTOR_NAMES)[number];


export interface Detection {
  readonly start: number;
  readonly end: number;
  readonly type: DetectorName;
}

type Find = (text: string) => Detection[];

/** Every occurrence of `anchor`, with a sticky regex tried at a fixed offset from it. */
function anchored(text: string, anchor: string, re: RegExp, type: DetectorName, offset = 0, validate?: (m: RegExpExecArray) => boolean): Detection[] {
  const out: Detection[] = [];
  let from = 0;
  for (;;) {
    const at = text.indexOf(anchor, from);
    if (at < 0) break;
    from = at + 1;
    const start = at + offset;
    if (start < 0) continue;
    re.lastIndex = start;
    const m = re.exec(text);
    if (m === null || (validate !== undefined && !validate(m))) continue;
    out.push({ start, end: start + m[0].length, type });
    from = start + m[0].length;
  }
  return out;
}

const isWord = (c: string | undefined): boolean => c !== undefined && /[A-Za-z0-9_]/.test(c);

// ---------- EMAIL ----------
const LOCAL = /[A-Za-z0-9._%+-]/;
const FILE_TLDS = new Set(['png', 'jpg', 'jpeg', 'gif', 'svg', 'webp', 'ico', 'css', 'js', 'ts', 'json', 'pdf', 'txt', 'git', 'bmp', 'tiff']);
const DOMAIN = /(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}/y;

const findEmails: Find = (text) => {
  const out: Detection[] = [];
  let from = 0;
  for (;;) {
    const at = text.indexOf('@', from);
    if (at < 0) break;
    from = at + 1;
    let s = at;
    while (s > 0 && at - s < 64 && LOCAL.test(text[s - 1] ?? '')) s--;
    if (s === at || text[s] === '.' || text[at - 1] === '.') continue;
    DOMAIN.lastIndex = at + 1;
    const m = DOMAIN.exec(text);
    if (m === null) continue;
    const end = at + 1 + m[0].length;
    const tld = m[0].slice(m[0].lastIndexOf('.') + 1).toLowerCase();
    const next = text[end];
    // icon@2x.png, git@github.com:org/repo.git, user@host.internal-ish identifiers glued to more text
    if (FILE_TLDS.has(tld) || next === ':' || isWord(next) || next === '-') continue;
    out.push({ start: s, end, type: 'EMAIL' });
    from = end;
  }
  return out;
};

// ---------- IBAN ----------
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
  for (const ch of moved) {
    const code = ch.charCodeAt(0);
    const value = code >= 65 ? code - 55 : code - 48;
    rem = value >= 10 ? (rem * 100 + value) % 97 : (rem * 10 + value) % 97;
  }
  return rem === 1;
}

const IBAN_RE = /[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}/y;
const findIbans: Find = (text) => {
  const out: Detection[] = [];
  for (let i = 0; i < text.length - 14; i++) {
    const c = text.charCodeAt(i);
    if (c < 65 || c > 90 || isWord(text[i - 1])) continue;
    IBAN_RE.lastIndex = i;
    const m = IBAN_RE.exec(text);
    if (m === null) continue;
    // Try the longest prefix that validates (the match may run into the next word).
    let candidate = m[0];
    while (candidate.length >= 15) {
      if (!isWord(text[i + candidate.length]) && ibanValid(candidate)) {
        out.push({ start: i, end: i + candidate.length, type: 'IBAN' });
        i += candidate.length - 1;
        break;
      }
      candidate = candidate.slice(0, -1).trimEnd();
    }
  }
  return out;
};

// ---------- JWT ----------
const JWT_RE = /eyJ[A-Za-z0-9_-]{5,2000}\.eyJ[A-Za-z0-9_-]{2,8000}\.[A-Za-z0-9_-]{0,2000}/y;
const findJwts: Find = (text) =>
  anchored(text, 'eyJ', JWT_RE, 'JWT', 0, (m) => {
    try {
      const header = JSON.parse(Buffer.from(m[0].split('.')[0] ?? '', 'base64url').toString('utf8')) as { alg?: unknown };
      return typeof header.alg === 'string';
    } catch {
      return false;
    }
  });

// ---------- PRIVATE_KEY ----------
const PEM_BEGIN = /-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----/y;
const findPrivateKeys: Find = (text) => {
  const out: Detection[] = [];
  let from = 0;
  for (;;) {
    const at = text.indexOf('-----BEGIN ', from);
    if (at < 0) break;
    from = at + 1;
    PEM_BEGIN.lastIndex = at;
    const head = PEM_BEGIN.exec(text);
    if (head === null) continue; // certificates and public keys are not secrets
    const endMarker = text.indexOf('-----END ', at + head[0].length);
    let end: number;
    if (endMarker >= 0 && endMarker - at <= 16_384) {
      const close = text.indexOf('-----', endMarker + 9);
      end = close >= 0 && close - endMarker < 64 ? close + 5 : endMarker + 9;
    } else {
      // Truncated block: everything up to the first character that cannot be in one.
      end = at + head[0].length;
      while (end < text.length && end - at < 16_384 && /[A-Za-z0-9+/=\r\n\\ ]/.test(text[end] ?? '')) end++;
    }
    out.push({ start: at, end, type: 'PRIVATE_KEY' });
    from = end;
  }
  return out;
};

// ---------- cloud and SaaS keys ----------
const AWS_RE = /(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}/y;
const findAws: Find = (text) =>
  ['AKIA', 'ASIA', 'ABIA', 'ACCA'].flatMap((a) => anchored(text, a, AWS_RE, 'AWS_ACCESS_KEY', 0, (m) => !isWord(text[m.index - 1]) && !isWord(text[m.index + 20])));

const GCP_RE = /AIza[0-9A-Za-z_-]{35}/y;
const findGcpKeys: Find = (text) => anchored(text, 'AIza', GCP_RE, 'GCP_API_KEY', 0, (m) => !isWord(text[m.index - 1]) && !/[A-Za-z0-9_-]/.test(text[m.index + 39] ?? ''));

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
const findGithub: Find = (text) => [
  ...['ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_'].flatMap((a) =>
    anchored(text, a, GH_RE, 'GITHUB_TOKEN', 0, (m) => !isWord(text[m.index - 1]) && !isWord(text[m.index + 40]) && githubChecksumValid(m[0])),
  ),
  ...anchored(text, 'github_pat_', GH_FINE_RE, 'GITHUB_TOKEN', 0, (m) => !isWord(text[m.index - 1])),
];

const SLACK_RE = /xox[baprse]-[A-Za-z0-9-]{10,250}/y;
const SLACK_HOOK_RE = /https:\/\/hooks\.slack\.com\/services\/T[A-Z0-9]{6,12}\/B[A-Z0-9]{6,12}\/[A-Za-z0-9]{20,40}/y;
const findSlack: Find = (text) => [
  ...anchored(text, 'xox', SLACK_RE, 'SLACK_TOKEN', 0, (m) => !isWord(text[m.index - 1])),
  ...anchored(text, 'https://hooks.slack.com/services/', SLACK_HOOK_RE, 'SLACK_TOKEN'),
];

const STRIPE_RE = /(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,247}/y;
const WHSEC_RE = /whsec_[A-Za-z0-9+/=]{24,128}/y;
const findStripe: Find = (text) => [
  ...['sk_live_', 'sk_test_', 'rk_live_', 'rk_test_'].flatMap((a) => anchored(text, a, STRIPE_RE, 'STRIPE_KEY', 0, (m) => !isWord(text[m.index - 1]))),
  ...anchored(text, 'whsec_', WHSEC_RE, 'STRIPE_KEY', 0, (m) => !isWord(text[m.index - 1])),
];

/** Only the password of `scheme://user:password@host`. */
const URL_CRED_RE = /[A-Za-z0-9._~%!$&'()*+,;=-]{1,128}:([^\s@/:]{1,256})@[A-Za-z0-9.-]{1,253}/y;
const findUrlPasswords: Find = (text) => {
  const out: Detection[] = [];
  let from = 0;
  for (;;) {
    const at = text.indexOf('://', from);
    if (at < 0) break;
    from = at + 3;
    URL_CRED_RE.lastIndex = at + 3;
    const m = URL_CRED_RE.exec(text);
    const password = m?.[1];
    if (m === null || password === undefined || /^(\*+|x+|\$\{[^}]*\}|<[^>]*>|password)$/i.test(password)) continue;
    const start = at + 3 + m[0].indexOf(':') + 1;
    out.push({ start, end: start + password.length, type: 'PASSWORD_IN_URL' });
  }
  return out;
};

const CONTEXT_NAMES = new Set<DetectorName>(['PASSWORD', 'AWS_SECRET_KEY', 'GENERIC_API_KEY', 'US_SSN', 'IP_ADDRESS', 'PHONE']);

export const FINDERS: Readonly<Record<Exclude<DetectorName, 'PASSWORD' | 'AWS_SECRET_KEY' | 'GENERIC_API_KEY' | 'US_SSN' | 'IP_ADDRESS' | 'PHONE'>, Find>> = {
  CREDIT_CARD: (text) => findCards(text),
  EMAIL: findEmails,
  IBAN: findIbans,
  JWT: findJwts,
  PRIVATE_KEY: findPrivateKeys,
  AWS_ACCESS_KEY: findAws,
  GCP_API_KEY: findGcpKeys,
  GITHUB_TOKEN: findGithub,
  SLACK_TOKEN: findSlack,
  STRIPE_KEY: findStripe,
  PASSWORD_IN_URL: findUrlPasswords,
};

const hasDigits = (min: number) => (text: string): boolean => {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57 && ++n >= min) return true;
  }
  return false;
};

const hasDigits4 = hasDigits(4);

/** Cheap tests that rule a detector out for a string before any scanning (most cells are plain). */
const MIGHT: Readonly<Record<DetectorName, (text: string) => boolean>> = {
  CREDIT_CARD: hasDigits(13),
  EMAIL: (t) => t.includes('@'),
  IBAN: (t) => t.length >= 15 && /[A-Z]{2}\d{2}/.test(t),
  JWT: (t) => t.includes('eyJ'),
  PRIVATE_KEY: (t) => t.includes('-----BEGIN '),
  AWS_ACCESS_KEY: (t) => /A(?:KI|SI|BI|CC)A/.test(t),
  GCP_API_KEY: (t) => t.includes('AIza'),
  GITHUB_TOKEN: (t) => t.includes('gh') || t.includes('github_pat_'),
  SLACK_TOKEN: (t) => t.includes('xox') || t.includes('hooks.slack.com'),
  STRIPE_KEY: (t) => t.includes('_live_') || t.includes('_test_') || t.includes('whsec_'),
  PASSWORD_IN_URL: (t) => t.includes('://'),
  PASSWORD: (t) => t.includes('=') || t.includes(':'),
  AWS_SECRET_KEY: (t) => t.length >= 42 && (t.includes('=') || t.includes(':')),
  GENERIC_API_KEY: (t) => t.length >= 17 && (t.includes('=') || t.includes(':') || t.includes('Bearer') || t.includes('Basic') || t.includes('Token')),
  US_SSN: hasDigits(9),
  IP_ADDRESS: (t) => hasDigits4(t) && (t.includes('.') || t.includes(':')),
  PHONE: hasDigits(7),
};

/**
 * Runs the enabled detectors and returns non-overlapping findings in order (on overlap the earlier,
 * then the longer, wins: a JWT inside a URL password is one finding).
 */
export function detect(text: string, enabled: readonly DetectorName[]): Detection[] {
  const all: Detection[] = [];
  const context = new Set<string>();
  for (const name of enabled) {
    if (!MIGHT[name](text)) continue;
    if (CONTEXT_NAMES.has(name)) context.add(name);
    else all.push(...FINDERS[name as keyof typeof FINDERS](text));
  }
  if (context.size > 0) all.push(...findContext(text, context));
  if (all.length <= 1) return all;
  all.sort((a, b) => a.start - b.start || b.end - a.end);
  const out: Detection[] = [];
  let reach = -1;
  for (const d of all) {
    if (d.start < reach) continue;
    out.push(d);
    reach = d.end;
  }
  return out;
}

/**
 * Replaces everything any detector finds with `[TYPE]`, for text that is not a result: internal error
 * details kept in the audit log (a Postgres error can echo a stored value of any kind).
 */
export function redactAll(text: string): string {
  const findings = detect(text, DETECTOR_NAMES);
  if (findings.length === 0) return text;
  let out = '';
  let last = 0;
  for (const f of findings) {
    out += `${text.slice(last, f.start)}[${f.type}]`;
    last = f.end;
  }
  return out + text.slice(last);
}
