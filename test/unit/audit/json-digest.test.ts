import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { jsonDigest } from '../../../src/audit/json-digest.js';

function expected(value: unknown, headChars: number): { sha256: string; bytes: number; head: string; chars: number } {
  const text = JSON.stringify(value);
  return { sha256: createHash('sha256').update(text, 'utf8').digest('hex'), bytes: Buffer.byteLength(text, 'utf8'), head: text.slice(0, headChars), chars: text.length };
}

const big = 'paid [CREDIT_CARD_1] by [EMAIL_1] "quoted" \\ back\n'.repeat(5000);
const nullProto = Object.assign(Object.create(null) as Record<string, unknown>, { a: 1, b: 'two' });

const CASES: [string, unknown][] = [
  ['a read_bucket response with its content twice', { content: [{ type: 'text', text: `bucket/obj · 1 bytes\n\n${big}` }], structuredContent: { bucket: 'b', action: 'read', content: big, truncated: true, next: { range: { start: 8 } }, auditId: 'x' } }],
  ['rows nested deeper than the walk', { structuredContent: { rows: [[1, 'a', null, { k: [true, { deep: 'é' }] }], [2, 'b', 3.5, []]], rowCount: 2 } }],
  ['undefined, functions and symbols: left out of objects, null in arrays', { a: undefined, b: () => 1, c: [undefined, () => 2, Symbol('s'), 1], d: Symbol('t'), e: 'kept' }],
  ['toJSON and boxed values', { when: new Date(0), boxed: [new String('s'), new Number(3), new Boolean(false)], custom: { toJSON: () => ({ replaced: true }) } }],
  ['non-ASCII, emoji and a lone surrogate', { text: 'Zürich 東京 🙂 \ud800 end', 'ключ': ['ü', '\u2028'] }],
  ['an object without prototype and empty containers', { p: nullProto, e: {}, a: [], n: null }],
  ['a top-level array and a top-level string', ['x', { y: big }]],
  ['a top-level string', big],
];

describe('jsonDigest (issue 18)', () => {
  it.each(CASES)('gives the hash, size and head of JSON.stringify for %s', (_name, value) => {
    for (const headChars of [0, 7, 16 * 1024, 10_000_000]) expect(jsonDigest(value, headChars)).toEqual(expected(value, headChars));
  });

  it('throws on values without JSON text, as the response hash must never be made up', () => {
    expect(() => jsonDigest(undefined, 10)).toThrow(TypeError);
    expect(() => jsonDigest({ n: 10n }, 10)).toThrow(TypeError);
  });
});
