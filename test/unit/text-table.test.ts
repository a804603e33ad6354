import { describe, expect, it } from 'vitest';
import { resultResponse } from '../../src/surface.js';
import type { RowsResult } from '../../src/tool.js';
import { rng } from '../support/masking-labelled.js';

/** The rendering before issue 19 (lines of concatenated cells, joined): the reference the new writer must match. */
function referenceText(result: RowsResult, masked: readonly string[]): string {
  const cellText = (value: unknown): string => {
    let text: string;
    if (value === null || value === undefined) return 'NULL';
    if (typeof value === 'number' || typeof value === 'boolean') return String(value);
    text = typeof value === 'string' ? value : JSON.stringify(value);
    if (/[\r\n|]/.test(text)) text = text.replace(/\r?\n/g, '\\n').replace(/\|/g, '\\|');
    return text.length > 200 ? `${text.slice(0, 200)}…` : text;
  };
  const lines: string[] = [];
  const count = `${result.rowCount} row${result.rowCount === 1 ? '' : 's'}`;
  const flags = [result.truncated ? 'TRUNCATED' : '', masked.length > 0 ? `masked: ${masked.join(', ')}` : '', result.rowsAffected === undefined ? '' : `${result.rowsAffected} affected`].filter((f) => f !== '');
  lines.push(flags.length > 0 ? `${count} (${flags.join('; ')})` : count);
  if (result.columns.length > 0) {
    lines.push(result.columns.map((c) => c.name).join(' | '));
    for (const row of result.rows) lines.push(row.map((v) => cellText(v)).join(' | '));
  }
  if (result.note !== undefined) lines.push(result.note);
  return lines.join('\n');
}

const rowsOf = (names: string[], rows: unknown[][], extra: Partial<RowsResult> = {}): RowsResult => ({
  kind: 'rows',
  columns: names.map((name) => ({ name, type: 'text' })),
  rows,
  rowCount: rows.length,
  truncated: false,
  ...extra,
});

const textOf = (result: RowsResult, masked: readonly string[] = []): string => {
  const content = resultResponse(result, { findings: {}, maskedColumns: masked }, 'a1').content[0] as { text: string };
  return content.text;
};

/** Values that exercise every path: ASCII, escapes, multi-byte, surrogate pairs and lone halves, long text, numbers of every kind, JSON. */
const SPECIAL: readonly unknown[] = [
  '', 'Ana Silva', 'a|b', 'line\nbreak', 'crlf\r\nend', 'lone\rcr', '||', '\n', 'é', 'naïve café', '名前', '😀', 'x😀y', '\ud83d', 'a\ude00b', '\ud83d|\n',
  'x'.repeat(200), 'x'.repeat(201), `${'x'.repeat(199)}😀`, `${'é'.repeat(250)}`, `${'|'.repeat(150)}`, `${'a'.repeat(198)}\n`,
  0, -0, 1, -1, 42, 2147483647, -2147483647, 2147483648, -2147483648, 9007199254740991, 1.5, -0.25, 1e21, 1e-7, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY,
  true, false, null, undefined, { a: 1, b: 'x|y' }, ['4111', { n: null }], { t: 'é\n😀' }, [], {},
];

describe('the text table of a rows result, written as bytes (issue 19)', () => {
  it('is character for character the rendering it replaced, for every kind of cell', () => {
    const rows = SPECIAL.map((v, i) => [i, v, `r${i}`]);
    const result = rowsOf(['n', 'value', 'tag'], rows);
    expect(textOf(result)).toBe(referenceText(result, []));
    // Each value alone, too: a switch to strings midway must keep what came before it.
    for (const v of SPECIAL) {
      const one = rowsOf(['v', 'w'], [['before', v], [v, 'after']]);
      expect(textOf(one)).toBe(referenceText(one, []));
    }
  });

  it('matches it on 2,000 random rows of mixed text, numbers and JSON', () => {
    const next = rng(19);
    const alphabet = ['a', 'Z', '0', '7', ' ', '|', '\n', '\r', 'é', '€', '名', '😀', '\ud800', '\udfff', '"', '\\', '…', '\t'];
    const value = (): unknown => {
      const k = next();
      if (k < 0.1) return null;
      if (k < 0.25) return Math.floor((next() - 0.5) * 2 ** (1 + Math.floor(next() * 40)));
      if (k < 0.3) return (next() - 0.5) * 1000;
      if (k < 0.35) return next() < 0.5;
      if (k < 0.4) return { k: 'v|\n', n: Math.floor(next() * 100) };
      const length = Math.floor(next() * (next() < 0.1 ? 260 : 20));
      let s = '';
      for (let i = 0; i < length; i++) s += alphabet[Math.floor(next() * alphabet.length)];
      return s;
    };
    const rows = Array.from({ length: 2000 }, () => Array.from({ length: 4 }, value));
    const result = rowsOf(['a', 'b|c', 'ü', 'd'], rows, { truncated: true, note: 'Only the first 2000 rows — narrow it.' });
    expect(textOf(result, ['b|c'])).toBe(referenceText(result, ['b|c']));
  });

  it('renders header, flags, affected rows, empty rows and the note as before', () => {
    const cases: RowsResult[] = [
      rowsOf([], [], { rowsAffected: 3 }),
      rowsOf(['id'], [], { note: 'nothing' }),
      rowsOf(['id', 'name'], [[], [1]]),
      rowsOf(['名前', 'a|b'], [['名', 'x']], { truncated: true }),
      { ...rowsOf(['n'], [[1]]), rowCount: 1, rowsAffected: 1 },
    ];
    for (const result of cases) expect(textOf(result, ['name'])).toBe(referenceText(result, ['name']));
    expect(textOf(rowsOf(['n', 'card'], [[1, '**** **** **** 1111'], [2, null]]), ['card'])).toBe('2 rows (masked: card)\nn | card\n1 | **** **** **** 1111\n2 | NULL');
  });

  it('gives each table its own text when a large one comes between small ones (the buffer is reused)', () => {
    const small = rowsOf(['n', 's'], [[1, 'a'], [2, 'b']]);
    const large = rowsOf(['n', 's'], Array.from({ length: 30_000 }, (_, i) => [i, 'y'.repeat(40)]));
    const before = textOf(small);
    const big = textOf(large);
    expect(big.length).toBeGreaterThan(1024 * 1024);
    expect(big).toBe(referenceText(large, []));
    expect(textOf(small)).toBe(before);
    expect(before).toBe('2 rows\nn | s\n1 | a\n2 | b');
  });

  it('keeps every character when Latin-1 text meets a wider one anywhere in the table (issue 19)', () => {
    // Latin-1 beyond ASCII (one byte each, two in UTF-8) before the switch, so a wrong re-encoding shows.
    const latin1 = ['Chloé Martin', 'naïve café ÿ', '\u0080\u00a0\u00ff', 'Ægir Ørsted', '£ 12,50 ½'];
    const wide = ['€', '名前', '😀', 'ĉ', '\u0100', '\uffff'];
    for (const w of wide) {
      for (const at of [0, 1, 500, 999]) {
        const rows = Array.from({ length: 1000 }, (_, i) => [i, latin1[i % latin1.length], i === at ? `x${w}y` : 'plain']);
        const result = rowsOf(['n', 'name', 'tag'], rows);
        expect(textOf(result)).toBe(referenceText(result, []));
      }
      // The wider character in the column names, the count line's flags and the note.
      const named = rowsOf(['café', `n${w}`], [['é', 1], ['ü', 2]], { note: `note ${w} é` });
      expect(textOf(named, [`n${w}`])).toBe(referenceText(named, [`n${w}`]));
      const noted = rowsOf(['café'], [['é'], ['ü|x']], { note: `é then ${w}` });
      expect(textOf(noted)).toBe(referenceText(noted, []));
    }
    // A lone surrogate after the switch to UTF-8, and after Latin-1 only.
    for (const rows of [[['é'], ['€'], ['\ud800'], ['ÿ']], [['é'], ['\udfff'], ['ÿ']]]) {
      const result = rowsOf(['v'], rows);
      expect(textOf(result)).toBe(referenceText(result, []));
    }
  });

  it('renders a Latin-1 table as the same text and a later wide table after it (issue 19)', () => {
    const latin = rowsOf(['name'], Array.from({ length: 3000 }, (_, i) => [`Chloé ${i} ÿ`]));
    const wide = rowsOf(['name'], Array.from({ length: 3000 }, (_, i) => [`Chloé ${i} €`]));
    const a = textOf(latin);
    const b = textOf(wide);
    expect(a).toBe(referenceText(latin, []));
    expect(b).toBe(referenceText(wide, []));
    expect(textOf(latin)).toBe(a);
    expect(a.split('\n')[3001]).toBe('Chloé 2999 ÿ');
    expect(b.split('\n')[3001]).toBe('Chloé 2999 €');
  });
});
