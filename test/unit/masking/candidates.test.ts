import { describe, expect, it } from 'vitest';
import { DETECTOR_NAMES, maskOf } from '../../../src/masking/detectors.js';
import { BIT } from '../../../src/masking/names.js';
import { candidatePlan, nextCandidate } from '../../../src/masking/candidates.js';
import { mayMatch } from '../../../src/masking/prefilter.js';
import { scan } from '../../../src/masking/scan.js';
import { keyedSamples } from '../../support/labelled/keyed.js';
import { numbersSamples } from '../../support/labelled/numbers.js';
import { tokensSamples } from '../../support/labelled/tokens.js';
import { denseLog } from '../../../bench/masking-dense.js';
import { sparseLog } from '../../../bench/masking-sparse.js';
import { labelledSet, rng } from '../../support/masking-labelled.js';
import { prefilterRegex } from '../../support/prefilter-regex.js';

/**
 * The candidate search only chooses where the scanner looks. Whatever it skips must be a place where no
 * detector finds anything: the scan with it must give exactly the findings of the scan that visits every
 * anchor character (`every`), for every detector set.
 */

// Fragments that sit on or next to every detector's anchor, mixed at random into text.
const FRAGMENTS = [
  '0', '1', '4', '5', '7', '9', '12', '123', '4111', '1111', '555', '0100', '2026', '10', '255', '99999',
  ' ', ' ', '-', '.', '(', ')', '+', '/', ',', ';', '\n', '\t', '"', "'", '\\', '=', ':', '::', '@', '_', '#', '%',
  'a', 'b', 'e', 'f', 'x', 'A', 'B', 'D', 'E', 'G', 'J', 'P', 'T', 'Z', 'ey', 'eyJ', 'hbGciOiJIUzI1NiJ9', 'c2ln',
  'password', 'PASSWORD', 'db_pass', 'Passwd', 'pwd', 'secret', 'api_key', 'x-api-key', 'token', 'Token ', 'Bearer ', 'Basic ',
  'aws_secret_access_key', 'private_key', 'credentials', 'ssn', 'social_security_number', 'id', 'name', 'key', 'monkey',
  'ghp_', 'github_pat_', 'sk_live_', 'rk_test_', 'whsec_', 'xoxb-', 'xoxp-', 'xapp-', 'glpat-', 'npm_', 'Ab3dEf6hIj9kLm2nOp5q', '%40', '%2540', '%3D', '%2B', '%25', 'AKIA', 'ASIA', 'AIza', 'DE', 'GB82', 'DE89', 'WEST',
  'https://', 'postgres://', 'user', 'hooks.slack.com/services/', '-----BEGIN PRIVATE KEY-----', '-----END PRIVATE KEY-----',
  '2026-11-29', 'T10', ' 10', ':00', '1999-01-01 ', '(2026-11-29', '+2026-11-29', 'example.com', 'ana', 'fe80', 'ffff', 'abcd', '1:2', 'dead:beef', 'MII', 'q8Zr4Lk2Vx9Tb7Nw3Hc6Jd1F', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  // issue 20: flags, escaped quotes, camelCase and suffixed key names, cookies, SSNs with spaces
  '--', '--password ', '--db-password', '", "', '_v4', '2', 'Confirmation', 'SecretAccessKey', 'sessionId', 'sid', 'JSESSIONID', '\\"', '\\\\\\"',
  'X-Goog-Signature', 'authorization', 'PGPASSWORD', ' 45 ', '6789', 'eyJwYWdlIjoyfQ', '${X}', '****',
  // issue 20 fix round: long flag names, runs of separators, numbered passwords, compound and credential names
  `--${'a'.repeat(54)}password `, `--${'b'.repeat(55)}token `, 'SESSION__ID', 'session.-id', '__', 'password2', 'Passwd12', 'd1', 'clientsecret', 'privatetoken', 'signingkey', 'credential',
];

function randomText(next: () => number, parts: number): string {
  let out = '';
  for (let i = 0; i < parts; i++) out += FRAGMENTS[Math.floor(next() * FRAGMENTS.length)] ?? '';
  return out;
}

const key = (d: { start: number; end: number; type: string }): string => `${d.start}:${d.end}:${d.type}`;
const same = (text: string, mask: number): void => {
  const reference = scan(text, mask, 'US', true).map(key).sort();
  const filtered = scan(text, mask).map(key).sort();
  if (filtered.join() !== reference.join()) expect({ text, mask, filtered }).toEqual({ text, mask, filtered: reference });
};

const ALL = maskOf(DETECTOR_NAMES);
const pickMasks = rng(99);
const RANDOM_MASKS = Array.from({ length: 12 }, () => DETECTOR_NAMES.reduce((m, name) => (pickMasks() < 0.4 ? m | BIT[name] : m), 0)).filter((m) => m !== 0);
const MASKS = [ALL, ...DETECTOR_NAMES.map((name) => BIT[name]), BIT.PHONE | BIT.IP_ADDRESS, BIT.CREDIT_CARD | BIT.US_SSN, BIT.GCP_SA_KEY | BIT.PRIVATE_KEY, BIT.PASSWORD | BIT.EMAIL, ...RANDOM_MASKS];

describe('scanner candidate search', () => {
  it('finds exactly what visiting every anchor finds, on 3,000 random texts per detector set', () => {
    const next = rng(7);
    const texts = Array.from({ length: 3000 }, () => randomText(next, 4 + Math.floor(next() * 60)));
    for (const mask of MASKS) for (const text of texts) same(text, mask);
  });

  it('finds exactly what visiting every anchor finds, on the labelled set (positives and look-alikes)', () => {
    const samples = labelledSet();
    expect(samples.length).toBeGreaterThan(1000);
    for (const mask of MASKS) for (const s of samples) same(s.text, mask);
  });

  it('finds exactly what visiting every anchor finds, on the digit-run cases (issue 20)', () => {
    for (const mask of [ALL, BIT.PHONE, BIT.IP_ADDRESS, BIT.CREDIT_CARD, BIT.PHONE | BIT.CREDIT_CARD]) for (const s of numbersSamples(2026120703)) same(s.text, mask);
  });

  it('finds exactly what visiting every anchor finds, on the labelled secrets found by their shape (issue 20)', () => {
    const samples = tokensSamples(2026120702);
    for (const mask of MASKS) for (const s of samples) same(s.text, mask);
  });

  it('finds exactly what visiting every anchor finds, on the keyed labelled set (issue 20)', () => {
    const samples = keyedSamples(2026120701);
    expect(samples.length).toBeGreaterThan(1000);
    for (const mask of MASKS) for (const s of samples) same(s.text, mask);
  });

  it('finds exactly what visiting every anchor finds for flag and key names of every length up to and past the longest read (issue 20)', () => {
    for (let n = 0; n <= 70; n++) {
      for (const ending of ['password', 'token', 'session__id', 'password2']) {
        const name = `${'a'.repeat(n)}${ending}`;
        for (const text of [`run --${name} hunter2xyz`, `["--${name}", "hunter2xyz"]`, `${name}=Abc123def456ghi789`, `{"${name}": "Abc123def456ghi789"}`]) for (const mask of [ALL, BIT.PASSWORD, BIT.GENERIC_API_KEY]) same(text, mask);
      }
    }
    // A flag of exactly the longest name (62 characters after `--`) is read; one more is not a flag name.
    expect(scan(`run --${'a'.repeat(54)}password hunter2xyz`, ALL)).toEqual([{ start: 69, end: 79, type: 'PASSWORD' }]);
    expect(scan(`run --${'a'.repeat(55)}password hunter2xyz`, ALL)).toEqual([]);
  });

  it('finds exactly what visiting every anchor finds, on real findings in context', () => {
    const texts = [
      'card=4111 1111 1111 1111 ssn 123-45-6789 call +1 (415) 555-2671 from 10.1.2.3 or fe80::1%eth0 or 2001:db8:0:0:0:0:2:1',
      '5 10.1.2.3, 1.2.3.4.5, version 1.2.3.4, 2026-11-29T10:00:00Z, id=483920112, (212) 555 0100',
      '{"password": "hunter2", "api_key":"q8Zr4Lk2Vx9Tb7Nw3Hc6Jd1F", "aws_secret_access_key" : "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}',
      '{\\"private_key\\": \\"-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\\n-----END PRIVATE KEY-----\\n\\"}',
      'Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl and Token abcdefghijklmnop1234',
      'postgres://app:s3cr3t-Pa55@db.internal:5432/shop https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX',
      'AKIAIOSFODNN7EXAMPLE AIzaSyA1234567890abcdefghijklmnopqrstuv GB82 WEST 1234 5698 7654 32 DE89370400440532013000',
      'paid 2026-11-29 4111 1111 1111 1111, born 1999-01-01 123-45-6789, called 2026-11-29 415 555 2671, at 2026-11-29T10:00:00Z',
      'xoxb-123456789012-abcdefghijkl sk_live_abcdefghij1234567890 whsec_abcdefghijklmnopqrstuvwxyz ana@example.com',
      `token github_pat_${'A1b2C3d4E5'.repeat(8)}Zz in a fine-grained GitHub token`,
      'after signs: pay -4111111111111111 now, call -415-555-2671, ip -10.1.2.3, x=(212) 555-0100, +44 20 7946 0958',
    ];
    for (const mask of MASKS) for (const text of texts) same(text, mask);
    expect(scan(texts[0] ?? '', ALL).length).toBeGreaterThan(4);
  });

  it('mayMatch (the loop for short values) is true wherever the candidate search finds a place, and false on plain values', () => {
    const next = rng(8);
    const texts = [...Array.from({ length: 3000 }, () => randomText(next, 2 + Math.floor(next() * 20))), ...labelledSet().map((s) => s.text)];
    let agreed = 0;
    for (const mask of MASKS) {
      const plan = candidatePlan(mask);
      for (const text of texts) {
        if (nextCandidate(text, 0, plan, 0) < text.length) {
          if (!mayMatch(text, mask)) expect({ text, mask, mayMatch: false }).toEqual({ text, mask, mayMatch: true });
          agreed++;
        }
      }
    }
    expect(agreed).toBeGreaterThan(10_000);
    expect(mayMatch('Customer 42, paid, note 7', ALL)).toBe(false);
    expect(mayMatch('c4ca4238a0b923820dcc509a6f75849b', BIT.CREDIT_CARD)).toBe(false);
    expect(mayMatch('4111 1111 1111 1111', BIT.CREDIT_CARD)).toBe(true);
  });

  it('examines each position a bounded number of times on adversarial runs', () => {
    const inputs = ['1 '.repeat(100_000), '1.'.repeat(100_000), `${'password '.repeat(20_000)}=`, ':'.repeat(200_000), 'A'.repeat(200_000), '1'.repeat(200_000), `${'a:'.repeat(100_000)}`];
    for (const text of inputs) {
      const started = performance.now();
      scan(text, ALL);
      // Not a timing assertion on the product: a generous bound that only a quadratic scan would break.
      expect(performance.now() - started).toBeLessThan(5_000);
    }
  });
});

const RUN_TYPES = new Set(['CREDIT_CARD', 'US_SSN', 'PHONE', 'IP_ADDRESS', 'IBAN']);
const isRunCode = (c: number): boolean => (c >= 48 && c <= 57) || c === 46 || c === 45 || c === 32 || c === 40 || c === 41 || c === 43;

/**
 * Where the regular expression the scanner used before (test/support/prefilter-regex.ts) matches, the
 * candidate search stops too. A digit is looked at from the first digit of its run, and a run the search
 * passes over (a bare date, digits glued to a word) must hold nothing the every-anchor scan finds.
 */
function coversRegex(text: string, mask: number): number {
  const re = prefilterRegex(mask);
  if (re === null) return 0;
  const plan = candidatePlan(mask);
  let reference: ReturnType<typeof scan> | undefined;
  let checked = 0;
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const p = m.index;
    re.lastIndex = p + 1;
    checked++;
    const c = text.charCodeAt(p);
    if (c < 48 || c > 57) {
      if (nextCandidate(text, p, plan, 0) !== p) expect({ text, mask, at: p, candidate: false }).toEqual({ text, mask, at: p, candidate: true });
      continue;
    }
    let s = p;
    while (s > 0 && isRunCode(text.charCodeAt(s - 1))) s--;
    while (text.charCodeAt(s) < 48 || text.charCodeAt(s) > 57) s++;
    let e = s;
    while (e < text.length && isRunCode(text.charCodeAt(e))) e++;
    // The run is looked at from its first digit, or from the IBAN's capitals just before it (`PT03…`).
    let stops = false;
    for (let g = nextCandidate(text, Math.max(0, s - 2), plan, 0); g <= s && !stops; g = nextCandidate(text, g + 1, plan, 0)) {
      stops = g === s || (g === s - 2 && /^[A-Z]{2}$/.test(text.slice(s - 2, s)));
    }
    if (stops) continue;
    // What a digit run starts: a card, SSN, phone (perhaps after '(' or '+'), IPv4 address, or the IBAN two capitals back.
    reference ??= scan(text, mask, 'US', true);
    const inRun = reference.filter((d) => RUN_TYPES.has(d.type) && d.start >= s - 2 && d.start < e);
    if (inRun.length > 0) expect({ text, mask, run: text.slice(s, e), found: inRun }).toEqual({ text, mask, run: text.slice(s, e), found: [] });
  }
  return checked;
}

describe('the candidate search against the regular expression it replaces (issue 20)', () => {
  it('stops wherever the old prefilter matched, on random text, the labelled sets and generated logs, for every detector set', { timeout: 120_000 }, () => {
    const next = rng(11);
    const random = Array.from({ length: 2000 }, () => randomText(next, 4 + Math.floor(next() * 60)));
    const logs = [...denseLog(0.05).lines, ...sparseLog(0.2).lines];
    const labelled = [...logs, ...[...labelledSet(), ...keyedSamples(2026120711), ...tokensSamples(2026120712), ...numbersSamples(2026120713)].map((s) => s.text)];
    let checked = 0;
    for (const mask of MASKS) for (const text of random) checked += coversRegex(text, mask);
    for (const mask of [ALL, BIT.PHONE | BIT.IP_ADDRESS, BIT.PASSWORD | BIT.GENERIC_API_KEY, BIT.IBAN, BIT.GCP_SA_KEY]) for (const text of labelled) checked += coversRegex(text, mask);
    expect(checked).toBeGreaterThan(100_000);
  });

  it('passes over dates alone in their run and digits glued to a word, which hold nothing, and stops at the rest', () => {
    const plan = candidatePlan(ALL);
    const at = (text: string): number => nextCandidate(text, 0, plan, 0);
    for (const text of ['2026-11-29T10:00:00Z', 'trace=c65e457d6f86584e9fd76be8a2b69d64', 'span=c88764043133 ok', 'id42178459900z', 'v0970062abccc']) {
      expect({ text, at: at(text) }).toEqual({ text, at: text.length });
      expect(scan(text, ALL, 'US', true)).toEqual([]);
    }
    // A date after '(' or '+', a date with more digits, digits before an extension, an IBAN: places to look.
    for (const [text, first] of [['(2026-11-29)', 1], ['+2026-11-29', 1], ['2026-11-29 415 555 2671', 0], ['call 4155552671x12', 5], ['4155552671ext 9', 0], ['pay GB82WEST12345698765432', 4]] as const) {
      expect({ text, at: at(text) }).toEqual({ text, at: first });
    }
  });
});

describe('mayMatch across detector sets (issue 19)', () => {
  it('answers for the set it is asked about when sets alternate call by call', () => {
    // One table per set, found again on every call: alternating sets must never answer with another's table.
    const email = 'ana@example.com';
    const card = '4111 1111 1111 1111';
    for (let i = 0; i < 3; i++) {
      expect(mayMatch(email, BIT.CREDIT_CARD)).toBe(false);
      expect(mayMatch(email, BIT.EMAIL)).toBe(true);
      expect(mayMatch(card, BIT.EMAIL)).toBe(false);
      expect(mayMatch(card, BIT.CREDIT_CARD)).toBe(true);
      expect(mayMatch('Ana Silva', ALL)).toBe(false);
    }
  });
});
