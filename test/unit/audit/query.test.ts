import { describe, expect, it } from 'vitest';
import { canonicalJson, canonicalJsonWith } from '../../../src/audit/canonical.js';
import { csvField, inputSummary, parseTime } from '../../../src/audit/query.js';

describe('canonicalJson', () => {
  it('is the same whatever order keys were written in, and survives a JSON round trip', () => {
    const a = { b: 1, a: { d: [1, { z: 1, y: 2 }], c: 'x' }, u: undefined };
    const b = JSON.parse(JSON.stringify({ a: { c: 'x', d: [1, { y: 2, z: 1 }] }, b: 1 })) as unknown;
    expect(canonicalJson(a)).toBe('{"a":{"c":"x","d":[1,{"y":2,"z":1}]},"b":1}');
    expect(canonicalJson(b)).toBe(canonicalJson(a));
  });

  it('writes numbers, nulls and dropped values exactly as JSON.stringify does', () => {
    const value = { n: -0, big: 1e21, tiny: 5e-7, nan: Number.NaN, list: [undefined, () => 1, null], s: 'é"\n\u2028', f: () => 1 };
    expect(canonicalJson(value)).toBe('{"big":1e+21,"list":[null,null,null],"n":0,"nan":null,"s":"é\\"\\n\u2028","tiny":5e-7}');
    expect(JSON.parse(canonicalJson(value))).toEqual(JSON.parse(JSON.stringify(value)));
  });

  it('gives the same text whether the keys came in order (written by the engine) or not (assembled)', () => {
    const ordered = { a: [1, 'x', { b: null, c: [true, -0] }], b: { c: 'é\u2028', d: 1e21 }, z: undefined };
    const shuffled = { z: undefined, b: { d: 1e21, c: 'é\u2028' }, a: [1, 'x', { c: [true, -0], b: null }] };
    expect(canonicalJson(ordered)).toBe('{"a":[1,"x",{"b":null,"c":[true,0]}],"b":{"c":"é\u2028","d":1e+21}}');
    expect(canonicalJson(shuffled)).toBe(canonicalJson(ordered));
    // Integer-like keys are listed first by the engine, "10" before "9" by code units.
    expect(canonicalJson({ 9: 'a', 10: 'b', x: 1 })).toBe('{"10":"b","9":"a","x":1}');
    expect(canonicalJson({ when: new Date(0) })).toBe('{"when":"1970-01-01T00:00:00.000Z"}');
    expect(() => canonicalJson({ n: 1n })).toThrow(TypeError);
  });

  it('replaces or adds one top-level key without copying the object', () => {
    expect(canonicalJsonWith({ b: 1, chain: { hash: 'x' } }, 'chain', { seq: 1 })).toBe('{"b":1,"chain":{"seq":1}}');
    expect(canonicalJsonWith({ b: 1 }, 'a', 2)).toBe('{"a":2,"b":1}');
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
