import { describe, expect, it } from 'vitest';
import { printable, printableValue } from '../../../src/audit/printable.js';
import { inputSummary } from '../../../src/audit/query.js';

describe('printable (issue 15)', () => {
  it.each([
    ['carriage return and an ANSI erase', 'query_sql\r\u001b[2Kok  admin', 'query_sql\\r\\u001b[2Kok  admin'],
    ['newline and tab', 'a\nb\tc', 'a\\nb\\tc'],
    ['NUL, BEL and DEL', '\u0000\u0007\u007f', '\\u0000\\u0007\\u007f'],
    ['C1 controls (CSI, NEL)', 'x\u009b31my\u0085', 'x\\u009b31my\\u0085'],
    ['bidi overrides and isolates', 'abc\u202Etxt.exe\u2066\u2069\u200f', 'abc\\u202etxt.exe\\u2066\\u2069\\u200f'],
    ['zero-width characters and the BOM', 'ad\u200bmin\ufeff', 'ad\\u200bmin\\ufeff'],
    ['line and paragraph separators', 'a\u2028b\u2029', 'a\\u2028b\\u2029'],
    ['a lone surrogate', 'a\ud800b\udc00', 'a\\ud800b\\udc00'],
    ['a backslash (so escapes cannot be forged)', 'C:\\u001b', 'C:\\\\u001b'],
  ])('escapes %s', (_label, text, expected) => {
    expect(printable(text)).toBe(expected);
  });

  it.each([
    ['plain ASCII', 'SELECT id FROM orders'],
    ['accents, CJK and emoji', 'café 日本 😀 👩‍💻'],
  ])('leaves %s alone', (_label, text) => {
    expect(printable(text)).toBe(text.replace('\u200d', '\\u200d'));
  });

  it('cuts a long value and says how much was left out', () => {
    expect(printable('x'.repeat(1_000_000), 10)).toBe('xxxxxxxxxx…[+999990 chars]');
    expect(printable('x'.repeat(10), 10)).toBe('xxxxxxxxxx');
    expect(printable('\u001b'.repeat(100), 12)).toBe('\\u001b\\u001b…[+98 chars]');
    expect(printable('y'.repeat(50), 5, { short: true })).toBe('yyyyy…');
  });

  it('never cuts a surrogate pair in half', () => {
    expect(printable(`a${'😀'.repeat(5)}`, 2)).toBe('a😀…[+8 chars]');
  });

  it('prints non-strings as escaped JSON, and a value JSON cannot hold as a placeholder', () => {
    expect(printableValue({ a: '\u001b[31m' })).toBe('{"a":"\\\\u001b[31m"}');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(printableValue(cyclic)).toBe('(not printable)');
  });
});

describe('inputSummary (issue 15)', () => {
  it('escapes and cuts statements, paths and other inputs to the cell width', () => {
    expect(inputSummary({ connection: 'shop', sql: 'SELECT 1\r\u001b[2K' })).toBe('shop: SELECT 1\\r\\u001b[2K');
    const long = inputSummary({ connection: 'shop', sql: `SELECT ${'9'.repeat(1_000_000)}` });
    expect(long).toBe(`shop: SELECT ${'9'.repeat(46)}…`);
    expect(inputSummary({ weird: '\u202e'.repeat(1000) }).length).toBeLessThanOrEqual(70);
    expect(inputSummary(null)).toBe('null');
    expect(inputSummary({ connection: `\u001b[2J${'c'.repeat(500)}`, sql: 'SELECT 1' })).toMatch(/^\\u001b\[2Jc+…$/);
  });
});
