/**
 * A labelled test set for the masking detectors, generated from a seeded PRNG (the same samples on every
 * run): texts in log, JSON, env and SQL-cell shapes, each with the spans a detector must find (by type)
 * and look-alikes it must leave alone (Luhn-invalid ids, timestamps, UUIDs, versions, ticket ids, hashes,
 * values already masked). Every value is synthetic: test card ranges, documentation IPs, made-up keys.
 */
import { crc32 } from 'node:zlib';
import type { DetectorName } from '../../src/masking/detectors.js';
import { rng, type Rand } from '../../bench/masking-rng.js';

export interface Expected {
  readonly type: DetectorName;
  readonly start: number;
  readonly end: number;
}

export interface Sample {
  readonly text: string;
  /** Spans that must be found, with their type; any other finding in `text` is a false positive. */
  readonly expected: readonly Expected[];
  /** What the sample exercises (a detector name, or `negative:<kind>`). */
  readonly kind: string;
}

export { rng, type Rand };
export const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
export const LOWER = 'abcdefghijklmnopqrstuvwxyz';
export const DIGITS = '0123456789';
export const ALNUM = UPPER + LOWER + DIGITS;
export const HEX = '0123456789abcdef';

export const int = (r: Rand, n: number): number => Math.floor(r() * n);
export const pick = <T>(r: Rand, items: readonly T[]): T => items[int(r, items.length)] as T;
export const chars = (r: Rand, alphabet: string, n: number): string => Array.from({ length: n }, () => alphabet[int(r, alphabet.length)]).join('');

/** A piece of text: literal, or a value labelled with the detector that must find it. */
export type Piece = string | readonly [DetectorName, string];

export function sample(kind: string, pieces: readonly Piece[]): Sample {
  let text = '';
  const expected: Expected[] = [];
  for (const piece of pieces) {
    if (typeof piece === 'string') text += piece;
    else {
      expected.push({ type: piece[0], start: text.length, end: text.length + piece[1].length });
      text += piece[1];
    }
  }
  return { text, expected, kind };
}

// ---------- values ----------

function luhnDigit(body: string): string {
  let sum = 0;
  for (let i = 0; i < body.length; i++) {
    let d = body.charCodeAt(body.length - 1 - i) - 48;
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return String((10 - (sum % 10)) % 10);
}

function cardNumber(r: Rand): string {
  const [prefix, length] = pick(r, [['4', 16], ['4', 13], ['51', 16], ['55', 16], ['2221', 16], ['34', 15], ['37', 15], ['6011', 16], ['3528', 16], ['62', 16]] as const);
  const body = prefix + chars(r, DIGITS, length - prefix.length - 1);
  return body + luhnDigit(body);
}

function formatCard(r: Rand, digits: string): string {
  if (digits.length !== 16 || r() < 0.4) return digits;
  const sep = pick(r, [' ', '-']);
  return [0, 4, 8, 12].map((i) => digits.slice(i, i + 4)).join(sep);
}

const IBAN_SHAPES: readonly (readonly [string, string])[] = [
  ['DE', 'nnnnnnnnnnnnnnnnnn'],
  ['GB', 'aaaannnnnnnnnnnnnn'],
  ['FR', 'nnnnnnnnnnnnnnnnnnnnnnn'],
  ['NL', 'aaaannnnnnnnnn'],
  ['ES', 'nnnnnnnnnnnnnnnnnnnn'],
  ['PT', 'nnnnnnnnnnnnnnnnnnnnn'],
];

function iban(r: Rand): string {
  const [country, shape] = pick(r, IBAN_SHAPES);
  const bban = [...shape].map((c) => (c === 'a' ? chars(r, UPPER, 1) : chars(r, DIGITS, 1))).join('');
  const moved = `${bban}${country}00`;
  let rem = 0;
  for (const ch of moved) {
    const code = ch.charCodeAt(0);
    const value = code >= 65 ? code - 55 : code - 48;
    rem = value >= 10 ? (rem * 100 + value) % 97 : (rem * 10 + value) % 97;
  }
  const compact = `${country}${String(98 - rem).padStart(2, '0')}${bban}`;
  return r() < 0.5 ? compact : (compact.match(/.{1,4}/g) ?? []).join(' ');
}

const b64url = (s: string): string => Buffer.from(s).toString('base64url');
function jwt(r: Rand): string {
  const header = b64url(JSON.stringify({ alg: pick(r, ['HS256', 'RS256', 'ES256']), typ: 'JWT' }));
  const payload = b64url(JSON.stringify({ sub: chars(r, DIGITS, 8), name: chars(r, LOWER, 6), iat: 1_700_000_000 + int(r, 1e6) }));
  return `${header}.${payload}.${chars(r, `${ALNUM}-_`, 43)}`;
}

function pem(r: Rand): string {
  const label = pick(r, ['RSA PRIVATE KEY', 'PRIVATE KEY', 'EC PRIVATE KEY', 'OPENSSH PRIVATE KEY']);
  const body = Array.from({ length: 3 + int(r, 4) }, () => chars(r, `${ALNUM}+/`, 64)).join('\n');
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----`;
}

/** A service-account key file's `private_key`: always a PKCS#8 "PRIVATE KEY" block ending in a newline. */
function saPrivateKey(r: Rand): string {
  const body = Array.from({ length: 4 + int(r, 6) }, () => chars(r, `${ALNUM}+/`, 64)).join('\n');
  return `-----BEGIN PRIVATE KEY-----\n${body}\n-----END PRIVATE KEY-----\n`;
}

const saEmail = (r: Rand): string => `${pick(r, ['airlock-reader', 'etl', 'ci-deploy'])}@${pick(r, ['proj-alpha', 'shop-prod-42'])}.iam.gserviceaccount.com`;

const BASE62 = DIGITS + UPPER + LOWER;
/** `n` in base 62 (digits, capitals, small letters), left-padded with '0' to `width`. */
export function base62(n: number, width: number): string {
  let out = '';
  let v = n >>> 0;
  do {
    out = BASE62[v % 62] + out;
    v = Math.floor(v / 62);
  } while (v > 0);
  return out.padStart(width, '0');
}

function githubToken(r: Rand, valid = true): string {
  const body = chars(r, ALNUM, 30);
  const sum = base62(crc32(body), 6);
  return `ghp_${body}${valid ? sum : sum === '000000' ? '000001' : '000000'}`;
}

const secretish = (r: Rand, n: number): string => chars(r, ALNUM, n - 2) + pick(r, ['!', '#', '%', '-']) + chars(r, DIGITS, 1);

function ssn(r: Rand): string {
  const area = pick(r, [1 + int(r, 664), 667 + int(r, 232)]);
  return `${String(area).padStart(3, '0')}-${String(1 + int(r, 99)).padStart(2, '0')}-${String(1 + int(r, 9999)).padStart(4, '0')}`;
}

function ipv4(r: Rand): string {
  return pick(r, [
    `10.${int(r, 256)}.${int(r, 256)}.${1 + int(r, 254)}`,
    `192.168.${int(r, 256)}.${1 + int(r, 254)}`,
    `203.0.113.${1 + int(r, 254)}`,
    `198.51.100.${1 + int(r, 254)}`,
  ]);
}

function ipv6(r: Rand): string {
  const group = (): string => int(r, 0x10000).toString(16);
  return pick(r, [`2001:db8::${group()}:${group()}`, `fe80::${group()}:${group()}:${group()}:${group()}`, `2001:db8:${group()}:${group()}:${group()}:${group()}:${group()}:${group()}`]);
}

/** US numbers in assigned area codes with ordinary exchanges (not 555, not N11). */
function usPhone(r: Rand): string {
  const area = pick(r, ['212', '303', '312', '415', '512', '617', '646', '702', '206', '818']);
  let exchange = String(200 + int(r, 800));
  if (exchange === '555' || exchange.endsWith('11')) exchange = '234';
  const line = String(int(r, 10000)).padStart(4, '0');
  return pick(r, [`+1 ${area} ${exchange} ${line}`, `(${area}) ${exchange}-${line}`, `${area}-${exchange}-${line}`, `${area}.${exchange}.${line}`, `+1-${area}-${exchange}-${line}`, `+1 (${area}) ${exchange}-${line}`, `${area}${exchange}${line}`]);
}

function intlPhone(r: Rand): string {
  return pick(r, [`+44 20 7946 ${String(int(r, 10000)).padStart(4, '0')}`, `+351 21 ${String(int(r, 1000)).padStart(3, '0')} ${String(int(r, 10000)).padStart(4, '0')}`, `+49 30 ${String(1_000_000 + int(r, 8_999_999))}`]);
}

// ---------- positives, one generator per detector ----------

const ts = (r: Rand): string => `2026-11-${String(1 + int(r, 28)).padStart(2, '0')}T${String(int(r, 24)).padStart(2, '0')}:${String(int(r, 60)).padStart(2, '0')}:00Z`;
const user = (r: Rand): string => `${pick(r, ['ana', 'ben', 'chen', 'dana', 'eli'])}${pick(r, ['', '.', '_'])}${pick(r, ['silva', 'ng', 'ortiz', 'k'])}${r() < 0.5 ? String(int(r, 100)) : ''}`;

const POSITIVES: Readonly<Record<DetectorName, (r: Rand) => Piece[]>> = {
  CREDIT_CARD: (r) => pick<() => Piece[]>(r, [
    () => [`${ts(r)} INFO charge card=`, ['CREDIT_CARD', formatCard(r, cardNumber(r))], ` amount=${int(r, 500)}.00`],
    () => ['{"pan": "', ['CREDIT_CARD', formatCard(r, cardNumber(r))], '", "exp": "12/29"}'],
    () => ['invalid input syntax for type integer: "', ['CREDIT_CARD', formatCard(r, cardNumber(r))], '"'],
  ])(),
  EMAIL: (r) => [pick(r, ['contact ', 'user ', 'From: ', '{"email":"']), ['EMAIL', `${user(r)}${r() < 0.2 ? '+news' : ''}@${pick(r, ['example.com', 'example.org', 'mail.example.co.uk', 'corp.example.io'])}`], pick(r, [' today', '"}', ', thanks', ''])],
  IBAN: (r) => [pick(r, ['pay to ', 'IBAN: ', '{"iban":"']), ['IBAN', iban(r)], pick(r, [' please', '"}', ''])],
  JWT: (r) => [pick(r, ['token=', 'session ', '{"id_token":"']), ['JWT', jwt(r)], pick(r, ['', '"}', ' expired'])],
  PRIVATE_KEY: (r) => [pick(r, ['key:\n', 'loaded ', '']), ['PRIVATE_KEY', pem(r)], pick(r, ['\n', ''])],
  AWS_ACCESS_KEY: (r) => [pick(r, ['aws_access_key_id=', 'key ', 'AccessKeyId: ']), ['AWS_ACCESS_KEY', `${pick(r, ['AKIA', 'ASIA'])}${chars(r, UPPER + DIGITS, 16)}`], pick(r, ['', ';', ' rotated'])],
  GCP_API_KEY: (r) => [pick(r, ['key=', 'GOOGLE_API_KEY ', '"apiKey": "']), ['GCP_API_KEY', `AIza${chars(r, `${ALNUM}-_`, 35)}`], pick(r, ['', '"', ' ok'])],
  GITHUB_TOKEN: (r) => [pick(r, ['token ', 'GH ', 'git push with ']), ['GITHUB_TOKEN', githubToken(r)], pick(r, ['', ' here', '.'])],
  SLACK_TOKEN: (r) => [pick(r, ['SLACK_BOT_TOKEN ', 'slack: ']), ['SLACK_TOKEN', `xox${pick(r, ['b', 'p'])}-${chars(r, DIGITS, 12)}-${chars(r, DIGITS, 12)}-${chars(r, ALNUM, 24)}`], ''],
  STRIPE_KEY: (r) => [pick(r, ['stripe ', 'STRIPE_SECRET ', 'key: ']), ['STRIPE_KEY', `${pick(r, ['sk_live_', 'rk_live_', 'sk_test_'])}${chars(r, ALNUM, 24)}`], ''],
  PASSWORD_IN_URL: (r) => {
    const password = secretish(r, 12).replace(/[#%]/g, '!');
    return [`${pick(r, ['postgres', 'mysql', 'redis', 'https'])}://${user(r).replace(/\./g, '')}:`, ['PASSWORD_IN_URL', password], `@db${int(r, 9)}.internal:5432/shop`];
  },
  PASSWORD: (r) => {
    const key = pick(r, ['password', 'db_password', 'DB_PASSWORD', 'passwd', 'admin.pass']);
    const value = secretish(r, 8 + int(r, 10));
    return pick<() => Piece[]>(r, [() => [`{"user":"app","${key}":"`, ['PASSWORD', value], '"}'], () => [`${key}=`, ['PASSWORD', value], '\nDB_USER=app'], () => [`${key}: "`, ['PASSWORD', value], '"']])();
  },
  AWS_SECRET_KEY: (r) => {
    const [before, after] = pick(r, [['aws_secret_access_key = ', ''], ['AWS_SECRET_ACCESS_KEY=', '\n'], ['{"aws_secret_access_key": "', '"}']] as const);
    return [before, ['AWS_SECRET_KEY', chars(r, `${ALNUM}/+`, 40)], after];
  },
  GENERIC_API_KEY: (r) => pick<() => Piece[]>(r, [
    () => [`{"${pick(r, ['api_key', 'apiKey', 'client_secret', 'access_token', 'auth_token'])}": "`, ['GENERIC_API_KEY', chars(r, ALNUM, 24 + int(r, 16))], '"}'],
    () => ['Authorization: Bearer ', ['GENERIC_API_KEY', chars(r, ALNUM, 32)], ''],
    () => [`${pick(r, ['SECRET_TOKEN', 'SIGNING_KEY', 'api-key'])}=`, ['GENERIC_API_KEY', chars(r, ALNUM, 20 + int(r, 12))], ''],
  ])(),
  US_SSN: (r) => pick<() => Piece[]>(r, [() => ['ssn ', ['US_SSN', ssn(r)], ' on file'], () => ['{"ssn": "', ['US_SSN', ssn(r).replace(/-/g, '')], '"}'], () => ['SSN: ', ['US_SSN', ssn(r)], '']])(),
  IP_ADDRESS: (r) => [pick(r, ['from ', 'client=', 'peer ', 'host ']), ['IP_ADDRESS', r() < 0.6 ? ipv4(r) : ipv6(r)], pick(r, [' failed', '', ' closed', ', retrying'])],
  PHONE: (r) => [pick(r, ['call ', 'phone: ', '{"phone":"', 'mobile ']), ['PHONE', r() < 0.7 ? usPhone(r) : intlPhone(r)], pick(r, [' today', '"}', ''])],
  GCP_SA_KEY: (r) => {
    const key = saPrivateKey(r);
    const escaped = JSON.stringify(key).slice(1, -1);
    return pick<() => Piece[]>(r, [
      // A key file as JSON text: the value with its escaped newlines, never the quotes.
      () => [`{"type": "service_account", "project_id": "proj-alpha", "private_key_id": "${chars(r, HEX, 40)}", "private_key": "`, ['GCP_SA_KEY', escaped], '", "client_email": "', ['EMAIL', saEmail(r)], '"}'],
      // Pretty-printed, with the key first.
      () => ['{\n  "private_key" : "', ['GCP_SA_KEY', escaped], '",\n  "token_uri": "https://oauth2.googleapis.com/token"\n}'],
      // A key file inside a JSON string (a secret manager payload, a log of a request body).
      () => ['{"body": "{\\"private_key\\": \\"', ['GCP_SA_KEY', JSON.stringify(escaped).slice(1, -1)], '\\"}"}'],
      // Real newlines (a decoded value printed as key: value).
      () => ['private_key: ', ['GCP_SA_KEY', key], 'client_id: 10', chars(r, DIGITS, 18)],
    ])();
  },
};

// ---------- look-alikes that must stay readable ----------

/** A valid IBAN with its second check digit changed (a mod-97 check always catches one changed digit). */
function badIban(r: Rand): string {
  const good = iban(r).replace(/ /g, '');
  return `${good.slice(0, 3)}${(Number(good[3]) + 1 + int(r, 8)) % 10}${good.slice(4)}`;
}

function uuid(r: Rand): string {
  const h = chars(r, HEX, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20)}`;
}

const NEGATIVES: Readonly<Record<string, (r: Rand) => string>> = {
  'luhn-invalid card-length id': (r) => {
    const digits = cardNumber(r);
    const wrong = String((Number(digits.at(-1)) + 1 + int(r, 8)) % 10);
    return `order ${digits.slice(0, -1)}${wrong} shipped`;
  },
  'unbranded 16-digit id': (r) => {
    const body = pick(r, ['1', '9', '8']) + chars(r, DIGITS, 14);
    return `tracking ${body}${luhnDigit(body)}`;
  },
  timestamp: (r) => pick(r, [`${ts(r)} INFO ok`, `at 2026-11-${String(1 + int(r, 28)).padStart(2, '0')} ${String(int(r, 24)).padStart(2, '0')}:${String(int(r, 60)).padStart(2, '0')}:00+00`, `epoch_ms=${1_700_000_000_000 + int(r, 1e9)}`, `elapsed 12:${String(int(r, 60)).padStart(2, '0')}:45`]),
  uuid: (r) => `request ${uuid(r)} done`,
  version: (r) => pick(r, [`release v${int(r, 20)}.${int(r, 20)}.${int(r, 20)}`, `version ${int(r, 9)}.${int(r, 9)}.${int(r, 9)}.${int(r, 99)}`, `node ${18 + int(r, 5)}.${int(r, 20)}.${int(r, 9)}`, `build 2026.11.${String(1 + int(r, 28)).padStart(2, '0')}`]),
  'ticket id': (r) => `${pick(r, ['PROJ', 'OPS', 'SEC'])}-${1 + int(r, 99_999)} reopened`,
  hash: (r) => pick(r, [`md5 ${chars(r, HEX, 32)}`, `sha1 ${chars(r, HEX, 40)}`, `sha256:${chars(r, HEX, 64)}`, `commit ${chars(r, HEX, 7)}`]),
  'already masked': (r) => pick(r, [`card ****${chars(r, DIGITS, 4)}`, `card **** **** **** ${chars(r, DIGITS, 4)}`, `email [EMAIL_${1 + int(r, 9)}]`, `paid with [CREDIT_CARD_${1 + int(r, 9)}]`, 'password=****', `api_key=[GENERIC_API_KEY_${1 + int(r, 9)}]`, '"password": "<redacted>"', 'postgres://app:${DB_PASSWORD}@db:5432/shop']),
  'file and repo names': (r) => pick(r, [`icon@${1 + int(r, 3)}x.png`, 'git clone git@github.com:org/repo.git', `logo@${1 + int(r, 3)}x.webp`]),
  // A GitHub token with a wrong checksum is masked on its prefix and length (issue 20); the same 36
  // characters without the prefix are an id like any other.
  'invalid checksums': (r) => pick(r, [`IBAN ${badIban(r)}`, `id ${githubToken(r, false).slice(4)}`, `pk_live_${chars(r, ALNUM, 24)} is publishable`, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----']),
  'address-like numbers': (r) => pick(r, [`OID 1.3.6.1.4.1.${int(r, 99_999)}`, `${300 + int(r, 600)}.1.1.1`, `amount=${int(r, 10_000)}.${String(int(r, 100)).padStart(2, '0')}`, `port ${1024 + int(r, 60_000)}`, `listening on :${1024 + int(r, 60_000)}`]),
  'short numbers and ids': (r) => pick(r, [`id=${int(r, 1_000_000)}`, `status=${pick(r, [200, 404, 500])}`, `rows ${int(r, 100_000)}`, `order ORD-2026-${String(int(r, 1e6)).padStart(6, '0')}`]),
  // Ten digits that happen to form a valid North American number are masked: a known trade-off.
  '10-digit decimal id': (r) => `invoice ${String(2 + int(r, 8))}${chars(r, DIGITS, 9)} paid`,
  'dates and durations': (r) => pick(r, [`due ${String(1 + int(r, 28)).padStart(2, '0')}.11.2026`, `on 11/${String(1 + int(r, 28)).padStart(2, '0')}/2026`, `took ${int(r, 99)}h${int(r, 60)}m`, `build 1.2.3+${chars(r, DIGITS, 9)}`]),
  'non-secret keys': (r) => pick(r, [`{"token_type": "Bearer", "expires_in": ${int(r, 9999)}}`, `{"api_key_id": "key-${chars(r, HEX, 16)}"}`, `password_length=${8 + int(r, 20)}`, `{"max_tokens": ${int(r, 8192)}}`]),
  'public keys and certificates under key names': (r) =>
    pick(r, [
      `{"private_key": "-----BEGIN CERTIFICATE-----\\n${chars(r, ALNUM, 64)}\\n-----END CERTIFICATE-----\\n"}`,
      `{"public_key": "-----BEGIN PUBLIC KEY-----\\n${chars(r, ALNUM, 64)}\\n-----END PUBLIC KEY-----\\n"}`,
      `private_key: -----BEGIN RSA PUBLIC KEY-----\n${chars(r, ALNUM, 64)}\n-----END RSA PUBLIC KEY-----`,
      `{"private_key_id": "${chars(r, HEX, 40)}"}`,
    ]),
};

/** Positives for every detector, then look-alikes; `perType` positives and `perNegative` of each look-alike kind. */
export function labelledSet(seed = 20261129, perType = 120, perNegative = 60): Sample[] {
  const r = rng(seed);
  // Kinds added later draw from their own stream, so the samples of the earlier kinds stay the same.
  const later = rng(seed + 1);
  const LATER = new Set(['GCP_SA_KEY', 'public keys and certificates under key names']);
  const out: Sample[] = [];
  for (const [type, make] of Object.entries(POSITIVES)) for (let i = 0; i < perType; i++) out.push(sample(type, make(LATER.has(type) ? later : r)));
  for (const [kind, make] of Object.entries(NEGATIVES)) for (let i = 0; i < perNegative; i++) out.push(sample(`negative:${kind}`, [make(LATER.has(kind) ? later : r)]));
  return out;
}

export interface Score {
  readonly truePositives: number;
  readonly falsePositives: number;
  readonly falseNegatives: number;
  readonly precision: number;
  readonly recall: number;
}

/**
 * Per-type scores of `find` on the samples: a finding counts only when its type and span are exactly
 * an expected one; any other finding is a false positive of its type.
 */
export function score(samples: readonly Sample[], find: (text: string) => readonly Expected[]): Map<DetectorName, Score> {
  const counts = new Map<DetectorName, { tp: number; fp: number; fn: number }>();
  const of = (type: DetectorName): { tp: number; fp: number; fn: number } => {
    let c = counts.get(type);
    if (c === undefined) {
      c = { tp: 0, fp: 0, fn: 0 };
      counts.set(type, c);
    }
    return c;
  };
  for (const s of samples) {
    const found = find(s.text);
    const key = (e: Expected): string => `${e.type}:${e.start}:${e.end}`;
    const wanted = new Set(s.expected.map(key));
    const got = new Set(found.map(key));
    for (const f of found) of(f.type)[wanted.has(key(f)) ? 'tp' : 'fp']++;
    for (const e of s.expected) if (!got.has(key(e))) of(e.type).fn++;
  }
  const out = new Map<DetectorName, Score>();
  for (const [type, c] of counts) {
    out.set(type, {
      truePositives: c.tp,
      falsePositives: c.fp,
      falseNegatives: c.fn,
      precision: c.tp + c.fp === 0 ? 1 : c.tp / (c.tp + c.fp),
      recall: c.tp + c.fn === 0 ? 1 : c.tp / (c.tp + c.fn),
    });
  }
  return out;
}
