import { describe, expect, it } from 'vitest';
import { canonicalJson, canonicalJsonAround, canonicalJsonWith } from '../../../src/audit/canonical.js';

/** The reference: JSON.stringify of a copy whose objects have their keys inserted in sorted order. */
function sortedCopy(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedCopy);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) out[key] = sortedCopy((value as Record<string, unknown>)[key]);
  return out;
}

const reference = (value: unknown): string => JSON.stringify(sortedCopy(value));

// Keys that quote differently, and keys beyond what the key-text cache keeps (long ones, and more than it holds).
const awkward = ['"', '\\', '\n', '\u0000', '\u2028', 'é', '😀', '\ud800', 'a"b', 'k'.repeat(65), 'k'.repeat(64), ''];

describe('canonicalJson', () => {
  it('quotes every kind of key as JSON does, the first time and every time after (issue 19)', () => {
    const value = Object.fromEntries(awkward.map((k, i) => [k, { [k]: i, z: [k] }]));
    const first = canonicalJson(value);
    expect(first).toBe(reference(value));
    expect(canonicalJson(value)).toBe(first);
    expect(JSON.parse(first)).toEqual(value);
  });

  it('gives the same text once thousands of distinct keys have been seen (issue 19)', () => {
    for (let round = 0; round < 3; round++) {
      const value = Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`key-${round}-${i}-"q"`, i]));
      expect(canonicalJson(value)).toBe(reference(value));
    }
    const after = { 'b"': 1, a: { ['k'.repeat(200)]: true }, '\u0001': null };
    expect(canonicalJson(after)).toBe(reference(after));
  });

  it('orders keys by UTF-16 code units in objects of every size, whatever order they were built in (issue 19)', () => {
    // Integer-like keys come first from Object.keys in numeric order ("2" before "10"); an astral character
    // sorts before U+FFFF by code unit though after it by code point; sizes cross the in-place sort's limit.
    const pool = ['2', '10', '0', '01', '\uffff', '😀', '\ud800', 'é', 'e', 'E', '', 'a"b', 'chain', 'id', 'z', ...Array.from({ length: 60 }, (_, i) => `k${(i * 37) % 61}`)];
    // JSON.stringify puts integer-like keys first whatever the order of insertion: the text is built by hand.
    const text = (v: unknown): string =>
      v !== null && typeof v === 'object'
        ? `{${Object.keys(v)
            .sort()
            .map((k) => `${JSON.stringify(k)}:${text((v as Record<string, unknown>)[k])}`)
            .join(',')}}`
        : JSON.stringify(v);
    let seed = 19;
    const next = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (let round = 0; round < 300; round++) {
      const size = round % 50;
      const keys = [...pool];
      for (let i = keys.length - 1; i > 0; i--) {
        const j = next(i + 1);
        [keys[i], keys[j]] = [keys[j] as string, keys[i] as string];
      }
      const value = Object.fromEntries(keys.slice(0, size).map((k, i) => [k, i % 3 === 0 ? { [k]: i, b: 1, a: 2 } : i]));
      expect(canonicalJson(value)).toBe(text(value));
      const [before, middle, after] = canonicalJsonAround(value, 'chain', { seq: round, prev: 'p' });
      expect(before + middle + after).toBe(text({ ...value, chain: { seq: round, prev: 'p' } }));
    }
  });

  it('splits around the chain exactly where canonicalJsonWith puts it (issue 19)', () => {
    const record = { z: 1, 'x"y': ['\n'], a: { d: 2, c: 3 }, chain: 'replaced' };
    const [before, middle, after] = canonicalJsonAround(record, 'chain', { seq: 7, prev: '0' });
    expect(before + middle + after).toBe(canonicalJsonWith(record, 'chain', { seq: 7, prev: '0' }));
    expect(before).toBe('{"a":{"c":3,"d":2},"chain":');
    expect(middle).toBe('{"prev":"0","seq":7}');
    expect(after).toBe(',"x\\"y":["\\n"],"z":1}');
  });
  it('puts commas only between the members kept, when the first, last or every member is left out (issue 19)', () => {
    const gone = [undefined, () => 1, Symbol('s')];
    for (const [i, skip] of gone.entries()) {
      const cases: Record<string, unknown>[] = [
        { a: skip, b: 1, c: { a: skip, b: [skip, 2] } },
        { a: 1, b: 2, z: skip },
        { a: skip, b: skip },
        { a: skip, chain: 'x', d: skip, e: { '"': skip, f: i } },
        { b: skip },
        {},
      ];
      for (const value of cases) {
        expect(canonicalJson(value)).toBe(reference(value));
        const [before, middle, after] = canonicalJsonAround(value, 'chain', { seq: i, prev: 'p' });
        expect(before + middle + after).toBe(reference({ ...value, chain: { seq: i, prev: 'p' } }));
      }
    }
    expect(canonicalJsonAround({ a: undefined, z: 1 }, 'chain', { seq: 1, prev: 'p' })).toEqual(['{"chain":', '{"prev":"p","seq":1}', ',"z":1}']);
    expect(canonicalJsonAround({ z: undefined }, 'chain', { seq: 1, prev: 'p' })).toEqual(['{"chain":', '{"prev":"p","seq":1}', '}']);
  });
});
