import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodeJson, jsonDigest } from '../../../src/audit/json-digest.js';

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

describe('encodeJson (issue 19)', () => {
  const heads: [string, string][] = [
    ['ASCII', 'card **** **** **** 1111 | ana@example.com\n'],
    ['Latin-1', 'Zürich, Bogotá, ÿ and \u0080–\u00ff bytes: é à ß\n'],
    ['wide characters', '東京 🙂 ключ\n'],
    ['a lone surrogate', 'before \ud800 after\n'],
  ];
  it.each(heads)('keeps the text, its hash and the exact head for %s text', (_name, line) => {
    const value = { content: [{ type: 'text', text: line.repeat(2000) }], rows: [[1, line]] };
    const text = JSON.stringify(value);
    for (const headChars of [0, 12, 13, 5000, 16 * 1024, 10_000_000]) {
      const { text: encoded, digest } = encodeJson(value, headChars);
      expect(encoded).toBe(text);
      expect(digest).toEqual(expected(value, headChars));
    }
  });

  it('hashes the same bytes on both sides of the size where the reused buffer is no longer used, in any order (issue 19)', () => {
    // The buffer is 512 KiB: texts of up to a third of that many characters are written into it. Three-byte
    // characters fill it the most; a long text then a short one must not hash what the long one left behind.
    const limit = Math.floor((512 * 1024) / 3);
    const texts: unknown[] = [];
    for (const fill of ['€', 'x', 'é', '🙂']) {
      for (const chars of [limit - 12, limit - 11, limit - 10, limit + 1, 40, 3, 0]) {
        // JSON adds the two quotes: the text is `chars` UTF-16 units long (a surrogate pair is two).
        const body = fill.repeat(Math.max(0, Math.floor((chars - 2) / fill.length)));
        texts.push(body, { t: body, n: chars });
      }
    }
    texts.push(['€'.repeat(limit - 2)], 'tail', '€'.repeat(limit - 2), '');
    for (const value of [...texts, ...[...texts].reverse()]) {
      const { text, digest } = encodeJson(value, 64);
      expect(text).toBe(JSON.stringify(value));
      expect(digest).toEqual(expected(value, 64));
    }
  });

  it('keeps the hashed UTF-8 of a text longer than asked, and only within the reused buffer\'s reach (issue 19)', () => {
    const limit = Math.floor((512 * 1024) / 3);
    for (const fill of ['x', 'é', '€', '🙂', '\ud800']) {
      for (const chars of [100, 16 * 1024 - 1, 16 * 1024 + 1, 40_000, limit - 2, limit + 2]) {
        const value = fill.repeat(Math.max(1, Math.floor((chars - 2) / fill.length)));
        const { text, utf8, digest } = encodeJson(value, 64, 16 * 1024);
        expect(text).toBe(JSON.stringify(value));
        expect(digest).toEqual(expected(value, 64));
        if (text.length > 16 * 1024 && text.length <= limit) {
          // The bytes the transport writes are the bytes whose hash the record keeps.
          expect(utf8).toBeInstanceOf(Buffer);
          expect((utf8 as Buffer).equals(Buffer.from(text, 'utf8'))).toBe(true);
          expect(createHash('sha256').update(utf8 as Buffer).digest('hex')).toBe(digest.sha256);
        } else expect(utf8).toBeUndefined();
      }
    }
    // Without a bound nothing is kept.
    expect(encodeJson('x'.repeat(50_000), 64).utf8).toBeUndefined();
  });
});

describe('a digest does not keep its response alive (issue 19)', () => {
  it.each([
    ['ASCII', 'x'],
    ['Latin-1', 'é'],
    ['wide', '東'],
  ])('keeps ~16 KiB per digest, not the whole text, after 40 responses of ~1 MB each (%s text)', (_name, fill) => {
    const module = fileURLToPath(new URL('../../../dist/src/audit/json-digest.js', import.meta.url));
    const script = `
      const { encodeJson, jsonDigest } = await import(${JSON.stringify(module)});
      const kept = [];
      const row = (i) => [i, 'name-' + i, 'user' + i + '@example.com', ${JSON.stringify(fill)}.repeat(200)];
      globalThis.gc(); const before = process.memoryUsage().heapUsed;
      for (let i = 0; i < 40; i++) {
        const rows = Array.from({ length: 4000 }, (_, j) => row(i * 4000 + j));
        kept.push(encodeJson({ rows }, 16384).digest, jsonDigest({ structuredContent: { rows } }, 16384));
      }
      globalThis.gc();
      process.stdout.write(JSON.stringify({ retained: process.memoryUsage().heapUsed - before, heads: kept.map((d) => d.head.length) }));`;
    const run = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(run.stderr).toBe('');
    const out = JSON.parse(run.stdout) as { retained: number; heads: number[] };
    expect(out.heads).toEqual(Array.from({ length: 80 }, () => 16384));
    // 80 heads of 16 KiB are ~1.3 MB; the texts they came from are ~40 MB.
    expect(out.retained).toBeLessThan(8 * 1024 * 1024);
  });
});
