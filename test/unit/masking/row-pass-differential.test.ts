import { describe, expect, it } from 'vitest';
import { DETECTOR_NAMES, type DetectorName } from '../../../src/masking/detectors.js';
import { MaskContext, Masker } from '../../../src/masking/masker.js';
import { BIT } from '../../../src/masking/names.js';
import { candidatePlan, nextCandidate } from '../../../src/masking/candidates.js';
import { mayMatch } from '../../../src/masking/prefilter.js';
import type { RowsResult } from '../../../src/tool.js';
import { labelledSet, rng } from '../../support/masking-labelled.js';

/**
 * The row pass skips cells that cannot hold a finding (a cheap character test) and reuses the result of a
 * repeated value. Neither may change a verdict: every cell of a result must come out exactly as masking that
 * cell alone by the full scan does (`maskText`, which never skips), with the same findings counted.
 */

function luhn(body: string): string {
  let sum = 0;
  for (let i = 0; i < body.length; i++) {
    let d = Number(body[body.length - 1 - i]);
    if (i % 2 === 0) d *= 2;
    sum += d > 9 ? d - 9 : d;
  }
  return body + String((10 - (sum % 10)) % 10);
}

const FULL_WIDTH = (s: string): string => s.replace(/\d/g, (d) => String.fromCharCode(0xff10 + Number(d)));

/** Cells of every kind the row pass decides on: cards in every layout, near misses, long runs, mixed text. */
function corpus(seed: number, count: number): unknown[] {
  const next = rng(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
  const digits = (n: number): string => Array.from({ length: n }, () => String(Math.floor(next() * 10))).join('');
  const card = (): string => luhn(`${pick(['4', '51', '37', '6011', '35'])}${digits(pick([10, 11, 12, 13, 14]))}`);
  const group = (s: string, sep: string): string => s.replace(/(\d{4})(?=\d)/g, `$1${sep}`);
  const makers: (() => unknown)[] = [
    () => card(),
    () => group(card(), ' '),
    () => group(card(), '-'),
    () => `paid with ${group(card(), pick([' ', '-', '.', '']))} on 2026-11-29`,
    () => FULL_WIDTH(card()),
    () => `${card()}${digits(pick([1, 5, 20]))}`, // a longer run that holds a card-length Luhn prefix
    () => digits(pick([12, 13, 16, 19, 25, 40, 80])), // long runs, mostly Luhn-invalid
    () => `${digits(6)}x${digits(7)}`, // 13 digits broken by a letter
    () => `${digits(4)} ${digits(4)} ${digits(4)} ${digits(pick([0, 1, 3]))}`, // 12 to 15 digits in groups
    () => `(${digits(3)}) ${digits(3)}-${digits(4)}`,
    () => `+1 415 555 ${digits(4)}`,
    () => `${digits(3)}-${digits(2)}-${digits(4)}`,
    () => `10.${Math.floor(next() * 256)}.${Math.floor(next() * 256)}.${Math.floor(next() * 256)}`,
    () => `${pick(['ana', 'ben', 'chloé'])}.${pick(['silva', 'okafor'])}@example.com`,
    () => pick(['Ana Silva', 'Chloé Martin', 'Ægir Ørsted', '名前', 'paid', 'shipped', '', ' ', '-', '(+)']),
    () => `order ${digits(5)} of ${digits(3)} items, note ${digits(2)}`,
    () => Number(digits(pick([3, 7, 13, 16]))),
    () => Number(card()),
    () => -Number(digits(15)),
    () => pick([null, true, 1.5, 0]),
    () => pick(labelled).text,
    () => `${pick(['ssn', 'SSN', 'social_security_number', 'tax_id', 'note'])}${pick([': ', '=', '": "'])}${digits(3)}${pick(['-', ' ', ''])}${digits(2)}${pick(['-', ' ', ''])}${digits(pick([3, 4]))}`,
    () => `${pick(['0', '4111', ' ', '-', 'a', '١', '𝟒', '\u00a0'])}${digits(pick([9, 12, 13]))}${pick(['', ' 1', '-9', 'é'])}`,
  ];
  return Array.from({ length: count }, () => pick(makers)());
}

const labelled = labelledSet(7, 30, 15);

const unnumbered = (v: unknown): unknown => (typeof v === 'string' ? v.replace(/\[([A-Z_0-9]+?)_\d+\]/g, '[$1]') : v);

/** What masking one cell alone gives: its masked form and the findings it counts. */
function alone(masker: Masker, cell: unknown): { value: unknown; findings: Map<string, number> } {
  const ctx = new MaskContext();
  const value = typeof cell === 'string' ? masker.maskText(cell, ctx) : masker.maskValue(cell, ctx);
  return { value, findings: ctx.counts };
}

const SETS: [string, DetectorName[]][] = [
  ['CREDIT_CARD', ['CREDIT_CARD']],
  ['the digit detectors', ['CREDIT_CARD', 'US_SSN', 'PHONE']],
  ['PHONE', ['PHONE']],
  ['US_SSN', ['US_SSN']],
  ['CREDIT_CARD and EMAIL', ['CREDIT_CARD', 'EMAIL']],
  ['every built-in detector', [...DETECTOR_NAMES]],
];

describe('the row pass against each cell masked alone (issue 19)', () => {
  it.each(SETS)('masks every cell and counts every finding as the full scan does, for %s', (_name, detectors) => {
    const cells = corpus(19, 6000);
    // Four columns; each cell also repeats later in another row, so reused results are checked too.
    const rowsOf = (values: unknown[]): unknown[][] => Array.from({ length: Math.ceil(values.length / 4) }, (_, r) => values.slice(r * 4, r * 4 + 4));
    const data = rowsOf([...cells, ...[...cells].reverse()]);
    const result: RowsResult = { kind: 'rows', columns: ['a', 'b', 'c', 'd'].map((name) => ({ name, type: 'text' })), rows: data, rowCount: data.length, truncated: false };
    for (const style of ['last4', 'redact'] as const) {
      const masker = new Masker({ detectors, style, columns: [] });
      const out = masker.maskResult(result, [], { lineageKnown: true });
      const rows = (out.value as RowsResult).rows;
      const total = new Map<string, number>();
      const touched = new Set<string>();
      let masked = 0;
      for (let r = 0; r < data.length; r++) {
        const row = data[r] as unknown[];
        for (let c = 0; c < row.length; c++) {
          const expected = alone(masker, row[c]);
          for (const [type, n] of expected.findings) total.set(type, (total.get(type) ?? 0) + n);
          if (expected.findings.size > 0) touched.add(['a', 'b', 'c', 'd'][c] as string);
          const got = rows[r]?.[c];
          // Placeholders are numbered per response (`[EMAIL_3]`): compared without their number.
          if (unnumbered(got) !== unnumbered(expected.value)) expect({ cell: row[c], got }).toEqual({ cell: row[c], got: expected.value });
          if (expected.findings.size > 0 && got === row[c]) expect({ cell: row[c], masked: false }).toEqual({ cell: row[c], masked: true });
          if (expected.findings.size > 0) masked++;
        }
      }
      expect(out.report.findings).toEqual(Object.fromEntries(total));
      expect([...out.report.maskedColumns].sort()).toEqual([...touched].sort());
      // The corpus is not all clean or all cards: both kinds of verdict are exercised.
      expect(masked).toBeGreaterThan(300);
      expect(masked).toBeLessThan(data.length * 4 - 1000);
    }
  });

  it('says "may match" for every text where the candidate search finds a place, for the digit-only sets', () => {
    // Below the detectors' fewest digits (each digit is at least one UTF-16 unit) nothing can be found, so
    // such a text is never scanned, though the candidate search stops at any foldable character on its own.
    const texts = corpus(23, 20_000).filter((c): c is string => typeof c === 'string');
    const digitOnly = [BIT.CREDIT_CARD, BIT.PHONE, BIT.CREDIT_CARD | BIT.PHONE];
    // US_SSN is also found by key name (`ssn: …`): its sets keep every anchor character of the general loop.
    for (const mask of [...digitOnly, BIT.US_SSN, BIT.CREDIT_CARD | BIT.US_SSN, BIT.CREDIT_CARD | BIT.US_SSN | BIT.PHONE]) {
      const plan = candidatePlan(mask);
      let matched = 0;
      for (const text of texts) {
        if (nextCandidate(text, 0, plan, 0) >= text.length) continue;
        if (digitOnly.includes(mask) && text.length < ((mask & BIT.PHONE) !== 0 ? 7 : 13)) {
          expect(mayMatch(text, mask)).toBe(false);
          continue;
        }
        matched++;
        if (!mayMatch(text, mask)) expect({ text, mask, mayMatch: false }).toEqual({ text, mask, mayMatch: true });
      }
      expect(matched).toBeGreaterThan(2000);
    }
    expect(mayMatch('{"ssn": "x"}', BIT.US_SSN)).toBe(true);
    expect(mayMatch('"public_key": "-----BEGIN PUBLIC KEY-----"', BIT.CREDIT_CARD | BIT.US_SSN)).toBe(true);
    expect(mayMatch('Ana Silva', BIT.CREDIT_CARD)).toBe(false);
    expect(mayMatch('chloe.martin@example.com', BIT.CREDIT_CARD)).toBe(false);
    expect(mayMatch('123456789012', BIT.CREDIT_CARD)).toBe(false);
    expect(mayMatch('1234 5678 9012 3', BIT.CREDIT_CARD)).toBe(true);
    expect(mayMatch('(123)-456.7890+123', BIT.CREDIT_CARD)).toBe(true);
    expect(mayMatch('123456x7890123', BIT.CREDIT_CARD)).toBe(false);
    expect(mayMatch(FULL_WIDTH('4111 1111 1111 1111'), BIT.CREDIT_CARD)).toBe(true);
    expect(mayMatch(`x${FULL_WIDTH('4')}xxxxxxxxxxxx`, BIT.CREDIT_CARD)).toBe(true);
    expect(mayMatch('1234567', BIT.PHONE)).toBe(true);
    expect(mayMatch('123456', BIT.PHONE)).toBe(false);
  });
});
