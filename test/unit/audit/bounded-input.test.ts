import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { boundedInput } from '../../../src/audit/bounded-input.js';

const sha = (text: string): string => createHash('sha256').update(text).digest('hex');
const limits = { maxValueBytes: 16, maxInputBytes: 4096 };

describe('boundedInput (issue 15)', () => {
  it('returns small arguments as they are (the same object)', () => {
    const input = { connection: 'shop', sql: 'SELECT 1', params: [1, null, true] };
    expect(boundedInput(input, limits)).toBe(input);
  });

  it('cuts long strings at any depth to sha256 + a UTF-8 prefix that never splits a character', () => {
    const emoji = '😀'.repeat(10);
    const out = boundedInput({ a: [{ b: 'x'.repeat(40) }], c: emoji }, limits);
    expect(out).toEqual({
      a: [{ b: { $truncated: true, sha256: sha('x'.repeat(40)), bytes: 40, prefix: 'x'.repeat(16) } }],
      c: { $truncated: true, sha256: sha(emoji), bytes: 40, prefix: '😀😀😀😀' },
    });
  });

  it('keeps a "__proto__" key as an own property', () => {
    const input = JSON.parse('{"__proto__": {"x": "yyyyyyyyyyyyyyyyyyyyyyyyy"}, "ok": 1}') as Record<string, unknown>;
    const out = boundedInput(input, limits) as Record<string, unknown>;
    expect(Object.keys(out)).toEqual(['__proto__', 'ok']);
    expect(Object.getOwnPropertyDescriptor(out, '__proto__')?.value).toEqual({ x: { $truncated: true, sha256: sha('y'.repeat(25)), bytes: 25, prefix: 'y'.repeat(16) } });
  });

  it('summarises hostile depth as one digest of the whole instead of walking it', () => {
    let deep: unknown = 'leaf';
    for (let i = 0; i < 3000; i++) deep = [deep];
    const out = boundedInput({ deep }, limits) as { $truncated: boolean; sha256: string; bytes: number; prefix: string };
    const json = JSON.stringify({ deep });
    expect(out).toEqual({ $truncated: true, sha256: sha(json), bytes: json.length, prefix: json.slice(0, 4096) });
  });
});

describe('boundedInput keeps small arguments without serialising them, and only when they fit (issue 15)', () => {
  /** Deterministic values of every JSON kind, with characters that JSON escapes to 6 bytes and 3-byte ones. */
  function value(seed: number, depth = 0): unknown {
    const r = (n: number): number => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
    const text = (): string => Array.from({ length: r(40) }, () => ['a', '\u0001', '"', '\\', 'é', '€', '\n', '😀'][r(8)]).join('');
    const kind = depth > 4 ? r(3) : r(6);
    if (kind === 0) return text();
    if (kind === 1) return r(2) === 0 ? r(1e9) / 7 : null;
    if (kind === 2) return r(2) === 0;
    if (kind === 3) return Array.from({ length: r(6) }, (_, i) => value(seed + i * 31, depth + 1));
    return Object.fromEntries(Array.from({ length: r(6) }, (_, i) => [text(), value(seed + i * 17, depth + 1)]));
  }

  it('decides exactly as serialising would, for arguments around the size limit', () => {
    for (let seed = 1; seed < 400; seed++) {
      const input = { connection: 'shop', args: value(seed) };
      const size = Buffer.byteLength(JSON.stringify(input), 'utf8');
      for (const maxInputBytes of [size - 1, size, size + 1, size * 2]) {
        const kept = boundedInput(input, { maxValueBytes: 1 << 20, maxInputBytes });
        if (size <= maxInputBytes) expect(kept, `seed ${seed}, limit ${maxInputBytes}`).toBe(input);
        else expect(kept, `seed ${seed}, limit ${maxInputBytes}`).toMatchObject({ $truncated: true, bytes: size });
      }
    }
  });
});
