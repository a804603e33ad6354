import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../../src/audit/canonical.js';
import { csvField, inputSummary, parseTime } from '../../../src/audit/query.js';

describe('canonicalJson', () => {
  it('is the same whatever order keys were written in, and survives a JSON round trip', () => {
    const a = { b: 1, a: { d: [1, { z: 1, y: 2 }], c: 'x' }, u: undefined };
    const b = JSON.parse(JSON.stringify({ a: { c: 'x', d: [1, { y: 2, z: 1 }] }, b: 1 })) as unknown;
    expect(canonicalJson(a)).toBe('{"a":{"c":"x","d":[1,{"y":2,"z":1}]},"b":1}');
    expect(canonicalJson(b)).toBe(canonicalJson(a));
  });
});

describe('csvField', () => {
  it.each([
    ['=HYPERLINK("http://x")', `"'=HYPERLINK(""http://x"")"`],
    ['+1', "'+1"],
    ['-2', "'-2"],
    ['@SUM(A1)', "'@SUM(A1)"],
    ['a,b', '"a,b"'],
    ['plain', 'plain'],
  ])('defuses formulas and quotes when needed: %s', (input, expected) => {
    expect(csvField(input)).toBe(expected);
  });
});

describe('parseTime', () => {
  const now = new Date('2026-11-29T12:00:00Z');
  it('reads durations back from now, ISO times and dates', () => {
    expect(parseTime('15m', now, '--since').toISOString()).toBe('2026-11-29T11:45:00.000Z');
    expect(parseTime('7d', now, '--since').toISOString()).toBe('2026-11-22T12:00:00.000Z');
    expect(parseTime('2026-11-28', now, '--since').toISOString()).toBe('2026-11-28T00:00:00.000Z');
  });
  it('names the flag when the text is not a time', () => {
    expect(() => parseTime('soon', now, '--until')).toThrow('--until: "soon" is not a time');
  });
});

describe('inputSummary', () => {
  it('shows the connection and the statement on one line, cut to width', () => {
    expect(inputSummary({ connection: 'shop', sql: 'SELECT\n  1' })).toBe('shop: SELECT 1');
    expect(inputSummary({ sql: 'x'.repeat(100) }, 10)).toBe(`${'x'.repeat(9)}…`);
  });
});
