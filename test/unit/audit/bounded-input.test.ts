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
