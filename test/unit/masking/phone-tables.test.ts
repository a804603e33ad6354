import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { CountryCode } from 'libphonenumber-js/max';
import type { findNumbers as FindNumbers, getCountries as GetCountries, getCountryCallingCode as GetCallingCode } from 'libphonenumber-js/max';
import { describe, expect, it } from 'vitest';
import { phoneCandidateMayHold } from '../../../src/masking/context-detectors.js';
import { detect } from '../../../src/masking/detectors.js';
import { findPhones } from '../../../src/masking/phone-tables.js';
import { fullLabelledSet } from '../../support/labelled/index.js';
import { int, pick, rng, type Rand } from '../../support/masking-labelled.js';

// libphonenumber-js itself is the reference: the tables must give its verdicts, span for span.
const require = createRequire(import.meta.url);
const lib = require('libphonenumber-js/max') as { findNumbers: typeof FindNumbers; getCountries: typeof GetCountries; getCountryCallingCode: typeof GetCallingCode };
const examples = require('libphonenumber-js/examples.mobile.json') as Partial<Record<CountryCode, string>>;
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

const reference = (text: string, country: CountryCode): [number, number][] => lib.findNumbers(text, { defaultCountry: country, v2: true }).map((n) => [n.startsAt, n.endsAt]);
const ours = (text: string, country: CountryCode): [number, number][] => findPhones(text, country).map((n) => [n.startsAt, n.endsAt]);

/** Every text where the two differ, with both answers (empty when they agree everywhere). */
function differences(texts: Iterable<string>, countries: readonly CountryCode[]): { text: string; country: string; reference: [number, number][]; ours: [number, number][] }[] {
  const out: { text: string; country: string; reference: [number, number][]; ours: [number, number][] }[] = [];
  for (const text of texts) {
    for (const country of countries) {
      const a = reference(text, country);
      const b = ours(text, country);
      if (JSON.stringify(a) !== JSON.stringify(b)) out.push({ text, country, reference: a, ours: b });
    }
  }
  return out;
}

/**
 * The phone-shaped runs of a text (`\+?\(?\d[\d ().-]{5,22}\d`, what masking hands the validator), each also cut
 * at its space-separated tokens from either end (masking tries a run shorter, and looks at its rest).
 */
function candidates(text: string): Set<string> {
  const out = new Set<string>();
  for (const m of text.matchAll(/\+?\(?\d[\d ().-]{5,22}\d/g)) {
    const run = m[0];
    out.add(run);
    for (let k = run.indexOf(' '); k > 0; k = run.indexOf(' ', k + 1)) {
      out.add(run.slice(0, k).trimEnd());
      out.add(run.slice(k + 1).trimStart());
    }
  }
  return out;
}

const SEPARATORS = [' ', '-', '.', '', ' ', '  ', ') ', ' - ', '-', ' '];

/** Digits grouped by random separators. */
function grouped(r: Rand, digits: string): string {
  let out = '';
  for (let i = 0; i < digits.length; ) {
    const g = 1 + int(r, 4);
    out += digits.slice(i, i + g);
    i += g;
    if (i < digits.length) out += pick(r, SEPARATORS);
  }
  return out;
}

/** Phone-shaped runs of every country: national, '+' and call-prefix international, a digit short or long, a wrong prefix, two numbers in a row, random digits. */
function generatedRuns(seed: number, n: number): { text: string; country: CountryCode }[] {
  const r = rng(seed);
  const countries = lib.getCountries();
  const out: { text: string; country: CountryCode }[] = [];
  for (let i = 0; i < n; i++) {
    const of = pick(r, countries);
    const example = examples[of] ?? `${2 + int(r, 8)}${String(int(r, 1e9)).padStart(9, '0')}`;
    const cc = lib.getCountryCallingCode(of);
    let digits = example;
    const change = int(r, 10);
    if (change === 0) digits = digits.slice(0, -1);
    else if (change === 1) digits += String(int(r, 10));
    else if (change === 2) digits = String(int(r, 10)) + digits.slice(1);
    let text: string;
    switch (int(r, 8)) {
      case 0:
        text = `+${cc} ${grouped(r, digits)}`;
        break;
      case 1:
        text = grouped(r, digits);
        break;
      case 2:
        text = `0${grouped(r, digits)}`;
        break;
      case 3:
        text = `${pick(r, ['00', '011', '810', '0011'])}${pick(r, ['', ' '])}${cc} ${grouped(r, digits)}`;
        break;
      case 4:
        text = `(${digits.slice(0, 3)}) ${grouped(r, digits.slice(3))}`;
        break;
      case 5:
        text = Array.from({ length: 7 + int(r, 9) }, () => String(int(r, 10))).join('');
        break;
      case 6:
        text = `${cc}${digits}`;
        break;
      default:
        text = `${grouped(r, digits)} ${grouped(r, examples[pick(r, countries)] ?? '12')}`;
    }
    // A third of the runs for the US (the default), the rest for a random default country.
    out.push({ text, country: int(r, 3) === 0 ? 'US' : pick(r, countries) });
  }
  return out;
}

describe('phone tables (issue 20)', () => {
  it('are what scripts/phone-tables.mjs generates from the installed libphonenumber-js (never edited by hand)', () => {
    const r = spawnSync(process.execPath, ['scripts/phone-tables.mjs', '--check'], { cwd: ROOT, encoding: 'utf8' });
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
  });

  it("agree with libphonenumber's findNumbers span for span on every phone-shaped run of the labelled sets", () => {
    const texts = new Set<string>();
    for (const s of fullLabelledSet()) for (const c of candidates(s.text)) texts.add(c);
    expect(texts.size).toBeGreaterThan(3000);
    const found = [...texts].filter((t) => reference(t, 'US').length > 0).length;
    expect(found).toBeGreaterThan(1000);
    expect(differences(texts, ['US'])).toEqual([]);
  });

  it('agree on the labelled runs for other default countries', () => {
    const texts = new Set<string>();
    for (const s of fullLabelledSet()) for (const c of candidates(s.text)) texts.add(c);
    const some = [...texts].filter((_, i) => i % 4 === 0);
    expect(differences(some, ['GB', 'DE', 'IN', 'BR', 'FR', 'JP', 'AU', 'CA', 'MX', 'AR'])).toEqual([]);
  });

  it('agree on thousands of generated runs of every country, valid and not, for every default country', () => {
    const runs = generatedRuns(2026120720, 12000);
    const diffs = runs.flatMap(({ text, country }) => differences([text], [country]));
    expect(diffs).toEqual([]);
    // The runs hold both verdicts in number.
    const valid = runs.filter(({ text, country }) => reference(text, country).length > 0).length;
    expect(valid).toBeGreaterThan(2000);
    expect(runs.length - valid).toBeGreaterThan(2000);
  });

  it("rule out a candidate before the check only where libphonenumber finds no number in it, and rule out the logs' decimals and counters", () => {
    // What the scanner skips without the check (phoneCandidateMayHold false) must hold no number by the library's own verdict.
    const texts = new Set<string>();
    for (const s of fullLabelledSet()) for (const c of candidates(s.text)) texts.add(c);
    const pairs: [string, CountryCode][] = [...texts].map((t) => [t, 'US']);
    for (const t of [...texts].filter((_, i) => i % 3 === 0)) for (const c of ['GB', 'DE', 'IN', 'BR', 'JP', 'CA'] as const) pairs.push([t, c]);
    for (const { text, country } of generatedRuns(2026120721, 12000)) pairs.push([text, country]);
    // Decimals, status and size pairs, times: what request logs are made of.
    const r = rng(2026120722);
    for (let i = 0; i < 3000; i++) {
      const d = (n: number): string => Array.from({ length: n }, () => String(int(r, 10))).join('');
      for (const t of [`${d(1)}.${d(6)}`, `${d(3)} ${d(1 + int(r, 6))}`, `${d(2)}.${d(5)}`, `${d(3)}-${d(4)}`, `(${d(3)}) ${d(4)}`, `${d(1)} ${d(3)} ${d(3)} ${d(4)}`, `${d(4)}.${d(3)}.${d(2)}`, `${d(3)} ${d(3)} ${d(4)}`]) {
        pairs.push([t, 'US'], [t, pick(r, ['GB', 'DE', 'IN', 'CA', 'AU'] as const)]);
      }
    }
    let ruledOut = 0;
    const wrong: { text: string; country: string; reference: [number, number][] }[] = [];
    for (const [text, country] of pairs) {
      if (text.charCodeAt(0) === 43 || phoneCandidateMayHold(text, country)) continue;
      ruledOut++;
      const found = reference(text, country);
      if (found.length > 0) wrong.push({ text, country, reference: found });
    }
    expect(wrong).toEqual([]);
    expect(ruledOut).toBeGreaterThan(10_000);
    for (const t of ['0.367958', '400 52036', '200 1926', '12.50']) expect({ t, may: phoneCandidateMayHold(t, 'US') }).toEqual({ t, may: false });
    for (const t of ['(415) 555-2671', '415 555 2671', '+1 415 555 2671', '011 44 20 7946 0958']) expect({ t, may: phoneCandidateMayHold(t, 'US') }).toEqual({ t, may: true });
  });

  it('agree on the cases that shaped the matcher: inner matches, brackets, call prefixes, non-geographic codes', () => {
    const texts = [
      '(415) 555-2671 (415) 555-2672',
      '+1 818 674 1050 4543',
      '+1 (646) 223-4670 (512)',
      '011 44 20 7946 0958',
      '0044 20 7946 0958',
      '14155552671',
      '1 415 555 2671',
      '+800 1234 5678',
      '+979 1 2345 6789',
      '+54 9 11 1234 5678',
      '011 15 1234 5678',
      '211-227 (2003)',
      '(((415))) 555 2671',
      '415) 555-2671',
      '+0 415 555 2671',
      '+999 1234 5678',
      '01 23 45 67 89',
      '+33 1 23 45 67 89',
      '0049 30 1234567',
      '+1 268 464 1234',
    ];
    expect(differences(texts, ['US', 'GB', 'DE', 'FR', 'AR', 'AG', 'JP', 'BR'])).toEqual([]);
    expect(ours('(415) 555-2671 (415) 555-2672', 'US')).toEqual([
      [0, 14],
      [15, 29],
    ]);
  });

  it('find both numbers of "(415) 555-2671 (415) 555-2672" through detect, and none in unassigned ones', () => {
    expect(detect('call (415) 555-2671 (415) 555-2672 today', ['PHONE'])).toEqual([
      { start: 5, end: 19, type: 'PHONE' },
      { start: 20, end: 34, type: 'PHONE' },
    ]);
    expect(detect('call 999 999 9999 today', ['PHONE'])).toEqual([]);
  });
});
