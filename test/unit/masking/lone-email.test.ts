import { describe, expect, it } from 'vitest';
import { DETECTOR_NAMES, detectEmailAt, detectWith, maskOf, type DetectorName } from '../../../src/masking/detectors.js';
import { MaskContext, Masker } from '../../../src/masking/masker.js';
import { BIT } from '../../../src/masking/names.js';
import { CANDIDATES, candidatesIn, mayMatch, NO_CANDIDATE } from '../../../src/masking/prefilter.js';
import { domainEnd } from '../../../src/masking/tokens.js';
import type { RowsResult } from '../../../src/tool.js';
import { chars, int, pick, rng, type Rand } from '../../support/masking-labelled.js';

/**
 * A value whose only candidate is one '@' (an address alone in a cell) skips the scan: its detector runs at
 * once. Whatever the shortcut decides must be what the full scan decides, for every value: the same
 * findings, the same masked text, the same counts and the same placeholder numbers.
 */

const LOCALS = ['ana', 'ana.silva', 'a', 'A.B', 'first+tag', 'o\'hara', 'x_y', 'x-y', 'c42', '42', '.ana', 'ana.', 'an..a', 'chloé', 'ana%2B1', 'ana%40', 'ANA'];
const DOMAINS = [
  'example.com', 'EXAMPLE.COM', 'mail.example.co.uk', 'a.b.c.d.e.f.g.h.i.j.example.com', 'a-b.example.org', '-a.example.com', 'a-.example.com',
  'example', 'example.c', 'example.c1', 'example.c1.com', '1.2.3.4', '10.0.0.1.example.com', 'example..com', '.example.com', 'example.com.',
  '2x.png', 'icons.SVG', 'host.json', 'example.technology', `example.${'a'.repeat(30)}`, `${'l'.repeat(63)}.com`, `${'l'.repeat(64)}.com`,
  'example.com:8080', 'example.com: timeout', 'example.com-x', 'example.com_x', 'exämple.com', 'example.com/path', 'github.com:org/repo.git',
];
const AROUND = ['', '', '', '', '', '', '', '', ' ', ' ', ' ', 'mailto:', '<', '>', '"', "'", ', ', ' (', ')', 'to: ', 'user ', ' paid', '\n', '\t', '@', '%40', '-', '_', '--', '=', ':', 'Bearer ', 'AKIA', '.', '1.2.', '555 ', ' 0100', '١٢٣', '𝟒', 'é'];

/** One cell: an address or a near miss, with text around it that is sometimes a candidate of its own. */
function cell(r: Rand): string {
  const kind = int(r, 12);
  if (kind >= 9) return `${pick(r, LOCALS)}@${pick(r, DOMAINS)}`;
  if (kind === 0) return `${pick(r, AROUND)}${chars(r, 'abc.@-_1%4', 1 + int(r, 24))}${pick(r, AROUND)}`;
  if (kind === 1) return `${pick(r, ['4111 1111 1111 1111', '4111111111111111', '415-555-2671', '123-45-6789', '10.0.0.1', 'Customer 7', 'paid'])}${pick(r, AROUND)}${pick(r, LOCALS)}@${pick(r, DOMAINS)}`;
  if (kind === 2) return `${pick(r, LOCALS)}@${pick(r, DOMAINS)} ${pick(r, LOCALS)}@${pick(r, DOMAINS)}`;
  const local = kind === 3 ? chars(r, 'abcXYZ019._+-', 1 + int(r, 70)) : pick(r, LOCALS);
  const domain = kind === 4 ? `${chars(r, 'abc-1', 1 + int(r, 8))}.${chars(r, 'abcd.-9', 1 + int(r, 12))}` : pick(r, DOMAINS);
  return `${pick(r, AROUND)}${local}@${domain}${pick(r, AROUND)}`;
}

const SETS: readonly (readonly DetectorName[])[] = [DETECTOR_NAMES, ['EMAIL'], ['EMAIL', 'CREDIT_CARD'], ['EMAIL', 'PASSWORD_IN_URL'], ['EMAIL', 'PASSWORD', 'PHONE', 'IP_ADDRESS']];

const key = (d: { start: number; end: number; type: string }): string => `${d.start}:${d.end}:${d.type}`;

describe('candidatesIn and detectEmailAt (issue 20)', () => {
  it('finds at a lone "@" exactly what the full scan finds, on 20,000 generated values per detector set', () => {
    const r = rng(2026_12_20);
    const cells = Array.from({ length: 20_000 }, () => cell(r));
    for (const names of SETS) {
      const mask = maskOf(names);
      let lone = 0;
      let found = 0;
      for (const text of cells) {
        const at = candidatesIn(text, mask, false);
        // The boolean answer is unchanged by telling the lone '@' apart.
        if (mayMatch(text, mask) !== (at !== NO_CANDIDATE)) expect({ text, names, at, mayMatch: mayMatch(text, mask) }).toBe(null);
        const full = detectWith(text, mask).map(key);
        if (at === NO_CANDIDATE && full.length > 0) expect({ text, names, full }).toEqual({ text, names, full: [] });
        if (at < 0) continue;
        lone++;
        if (text[at] !== '@') expect({ text, at }).toBe(null);
        const fast = detectEmailAt(text, at, mask);
        if (fast !== undefined) found++;
        const got = fast === undefined ? [] : [key(fast)];
        if (got.join() !== full.join()) expect({ text, names, got }).toEqual({ text, names, got: full });
      }
      // Both verdicts are exercised for every set: addresses found, near misses left alone.
      expect(lone).toBeGreaterThan(3000);
      expect(found).toBeGreaterThan(1000);
      expect(lone - found).toBeGreaterThan(1000);
    }
  });

  it('tells a lone "@" from other candidates', () => {
    const ALL = maskOf(DETECTOR_NAMES);
    expect(candidatesIn('c42@example.com', ALL, false)).toBe(3);
    expect(candidatesIn('Customer 42', ALL, false)).toBe(NO_CANDIDATE);
    expect(candidatesIn('ana@example.com, ben@example.com', ALL, false)).toBe(CANDIDATES);
    expect(candidatesIn('ana%40example.com', ALL, false)).toBe(CANDIDATES);
    expect(candidatesIn('user:pw@example.com', ALL, false)).toBe(CANDIDATES);
    expect(candidatesIn('4111111@example.com', ALL, false)).toBe(CANDIDATES);
    expect(candidatesIn('10.1.2.3@example.com', ALL, false)).toBe(CANDIDATES);
    // Digits on both sides of an '@' are two runs, not one.
    expect(candidatesIn('4111@111', ALL, false)).toBe(4);
    expect(candidatesIn('ana@example.com', BIT.CREDIT_CARD, false)).toBe(NO_CANDIDATE);
    // A line break is a candidate when asked for (text that may be CSV), in the same loop.
    expect(candidatesIn('name\nana@example.com', ALL, true)).toBe(CANDIDATES);
    expect(candidatesIn('name\nana@example.com', ALL, false)).toBe(8);
    expect(candidatesIn('paid\nlate', BIT.CREDIT_CARD, true)).toBe(CANDIDATES);
  });
});

describe('domainEnd (issue 20)', () => {
  const DOMAIN = /(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}/y;
  const reference = (text: string, from: number): number => {
    DOMAIN.lastIndex = from;
    const m = DOMAIN.exec(text);
    return m === null ? -1 : from + m[0].length;
  };

  it('ends where the domain expression it replaces ends, on 50,000 generated texts', () => {
    const r = rng(2026_12_21);
    const parts = ['a', 'b', 'Z', '9', '-', '.', '.', '.', '.', 'com', 'co', 'x1', 'ab-c', '..', '_', '@', ' ', 'é', 'l'.repeat(61), 'l'.repeat(62), 'm'.repeat(30)];
    let matched = 0;
    for (let i = 0; i < 50_000; i++) {
      let text = '';
      for (let n = int(r, 24); n >= 0; n--) text += pick(r, parts);
      const from = int(r, Math.min(3, text.length));
      const want = reference(text, from);
      if (want >= 0) matched++;
      if (domainEnd(text, from) !== want) expect({ text, from, got: domainEnd(text, from) }).toEqual({ text, from, got: want });
    }
    expect(matched).toBeGreaterThan(2000);
  });

  it('stops after eight labels and at 24 letters of TLD, and backs off to the last label a TLD follows', () => {
    expect(domainEnd('a.b.c.d.e.f.g.h.i.com', 0)).toBe(reference('a.b.c.d.e.f.g.h.i.com', 0));
    expect(domainEnd(`example.${'a'.repeat(30)}`, 0)).toBe(8 + 24);
    expect(domainEnd('example.c1.com', 0)).toBe(14);
    expect(domainEnd('example.com.1x', 0)).toBe(11);
    expect(domainEnd(`${'l'.repeat(64)}.com`, 0)).toBe(-1);
  });
});

describe('Masker.maskResult with lone addresses (issue 20)', () => {
  it('masks, numbers and counts every cell as the full scan does cell by cell', () => {
    const r = rng(2026_12_22);
    const cells = Array.from({ length: 6000 }, () => cell(r));
    // Each cell also comes back later: a repeated address keeps the placeholder it got first.
    const values = [...cells, ...cells.slice(0, 2000)];
    const data = Array.from({ length: values.length / 4 }, (_, i) => values.slice(i * 4, i * 4 + 4));
    const result: RowsResult = { kind: 'rows', columns: ['a', 'b', 'c', 'd'].map((name) => ({ name, type: 'text' })), rows: data, rowCount: data.length, truncated: false };
    for (const names of SETS) {
      for (const style of ['last4', 'redact'] as const) {
        const masker = new Masker({ detectors: [...names], style, columns: [] });
        const out = masker.maskResult(result);
        // The same cells in the same order through `maskText`, which always runs the full scan, in one context.
        const ctx = new MaskContext();
        const touched = new Set<string>();
        const rows = (out.value as RowsResult).rows;
        let masked = 0;
        for (let i = 0; i < data.length; i++) {
          for (let c = 0; c < 4; c++) {
            const text = data[i]?.[c] as string;
            const before = ctx.total();
            const want = masker.maskText(text, ctx);
            if (ctx.total() !== before) touched.add(['a', 'b', 'c', 'd'][c] as string);
            if (want !== text) masked++;
            const got = rows[i]?.[c];
            if (got !== want) expect({ text, names, style, got }).toEqual({ text, names, style, got: want });
          }
        }
        expect(out.report.findings).toEqual(Object.fromEntries(ctx.counts));
        expect(out.report.maskedColumns).toEqual(['a', 'b', 'c', 'd'].filter((c) => touched.has(c)));
        expect(masked).toBeGreaterThan(2000);
      }
    }
  });

  it('reads a short cell holding CSV text with its header, whatever else the cell holds', () => {
    // The line break is what sends the cell to the full scan (found in the cells' loop, not by a second pass).
    for (const names of [['PASSWORD'], ['PASSWORD', 'EMAIL'], ['CREDIT_CARD', 'PASSWORD']] as const) {
      const masker = new Masker({ detectors: [...names], style: 'last4', columns: [] });
      const rows = [['user,password\nana,Tr0ub4dor&3'], ['id,password\n7,S3cr3t-v4lue'], ['a,b\n1,2']];
      const out = masker.maskResult({ kind: 'rows', columns: [{ name: 'notes', type: 'text' }], rows, rowCount: 3, truncated: false });
      expect((out.value as RowsResult).rows).toEqual([['user,password\nana,[PASSWORD_1]'], ['id,password\n7,[PASSWORD_2]'], ['a,b\n1,2']]);
      expect(out.report.findings).toEqual({ PASSWORD: 2 });
    }
  });
});
