import { describe, expect, it } from 'vitest';
import { Masker } from '../../../src/masking/masker.js';
import type { RowsResult } from '../../../src/tool.js';

const rows = (names: string[], data: unknown[][]): RowsResult => ({ kind: 'rows', columns: names.map((name) => ({ name, type: 'text' })), rows: data, rowCount: data.length, truncated: false });
const masked = (result: { value: unknown }): unknown[][] => (result.value as RowsResult).rows as unknown[][];

describe('Masker.maskResult over rows, one loop per row (issue 19)', () => {
  it('masks text cells, shares clean rows and copies masked ones into plain arrays', () => {
    const clean = [1, 'Ana Silva', 'ana@example.com'];
    const dirty = [2, 'Ben Okafor', '4111 1111 1111 1111'];
    const input = rows(['id', 'name', 'card'], [clean, dirty]);
    const out = new Masker({ detectors: ['CREDIT_CARD'], style: 'last4', columns: [] }).maskResult(input);
    expect(masked(out)).toEqual([clean, [2, 'Ben Okafor', '**** **** **** 1111']]);
    expect(masked(out)[0]).toBe(clean);
    expect(masked(out)[1]).not.toBe(dirty);
    expect(dirty).toEqual([2, 'Ben Okafor', '4111 1111 1111 1111']);
    expect(out.report).toEqual({ findings: { CREDIT_CARD: 1 }, maskedColumns: ['card'] });
  });

  it('counts every repeat of a masked value and reports each masked column once, in column order', () => {
    const card = '5555 5555 5555 4444';
    const input = rows(
      ['note', 'card', 'n'],
      Array.from({ length: 50 }, (_, i) => [i % 2 === 0 ? 'paid' : `card ${card}`, card, i]),
    );
    const out = new Masker({ detectors: ['CREDIT_CARD'], style: 'last4', columns: [] }).maskResult(input);
    expect(masked(out)[0]).toEqual(['paid', '**** **** **** 4444', 0]);
    expect(masked(out)[1]).toEqual(['card **** **** **** 4444', '**** **** **** 4444', 1]);
    expect(out.report).toEqual({ findings: { CREDIT_CARD: 75 }, maskedColumns: ['note', 'card'] });
  });

  it('masks a number cell that holds a card, and leaves short numbers as numbers', () => {
    const input = rows(['big', 'small'], [[4111111111111111, 999999], [42, -5]]);
    const out = new Masker({ detectors: ['CREDIT_CARD'], style: 'last4', columns: [] }).maskResult(input);
    expect(masked(out)).toEqual([['************1111', 999999], [42, -5]]);
    expect(out.report.maskedColumns).toEqual(['big']);
  });

  it('hides whole the columns that lineage or a column rule names, nulls stay null', () => {
    const input = rows(['id', 'derived', 'customer_ssn'], [[1, 'x', '123-45-6789'], [2, null, null]]);
    const out = new Masker({ detectors: ['CREDIT_CARD'], style: 'last4', columns: ['*ssn*'] }).maskResult(input, [1], { lineageKnown: true });
    expect(masked(out)).toEqual([[1, '[MASKED]', '[MASKED]'], [2, null, null]]);
    expect(out.report).toEqual({ findings: { SENSITIVE_COLUMN: 2 }, maskedColumns: ['derived', 'customer_ssn'] });
  });

  it('reports masked and whole columns in column order, a whole column with only nulls and one lineage names past the last too (issue 20)', () => {
    const input = rows(['a', 'b', 'c'], [['4111 1111 1111 1111', 'x', null], ['x', 'ana@example.com', null]]);
    const out = new Masker({ detectors: ['CREDIT_CARD'], style: 'last4', columns: [] }).maskResult(input, [2, 5]);
    expect(out.report).toEqual({ findings: { CREDIT_CARD: 1 }, maskedColumns: ['a', 'c', '#5'] });
  });

  it('masks a value by its column name (a password column) and walks JSON cells', () => {
    const input = rows(['password', 'doc'], [['hunter2hunter2', { card: '4111 1111 1111 1111', ok: true }]]);
    const out = new Masker({ detectors: ['CREDIT_CARD', 'PASSWORD'], style: 'redact', columns: [] }).maskResult(input);
    const [row] = masked(out);
    expect(row?.[0]).toBe('[PASSWORD_1]');
    expect(row?.[1]).toEqual({ card: '[CREDIT_CARD_1]', ok: true });
    expect(out.report).toEqual({ findings: { PASSWORD: 1, CREDIT_CARD: 1 }, maskedColumns: ['password', 'doc'] });
  });

  it('gives the same result for a row subclass as for a plain row, as a plain array', () => {
    class Row extends Array<unknown> {}
    const row = Row.from(['4111 1111 1111 1111', 'a']) as unknown[];
    const out = new Masker({ detectors: ['CREDIT_CARD'], style: 'last4', columns: [] }).maskResult(rows(['card', 'b'], [row]));
    const [first] = masked(out);
    expect(Object.getPrototypeOf(first)).toBe(Array.prototype);
    expect(first).toEqual(['**** **** **** 1111', 'a']);
  });
});

describe('Masker.maskResult: masked rows made at their final size (issue 19)', () => {
  const masker = new Masker({ detectors: ['CREDIT_CARD'], style: 'last4', columns: [] });
  const dense = (row: unknown): void => {
    expect(Array.isArray(row)).toBe(true);
    expect(Object.keys(row as unknown[]).length).toBe((row as unknown[]).length);
  };

  it('copies every cell around a masked one, whether it is the first, a middle or the last cell', () => {
    const card = '4111 1111 1111 1111';
    const input = rows(['a', 'b', 'c'], [[card, 'x', 1], ['x', card, 2], ['x', 2, card], [card, card, card]]);
    const out = masked(masker.maskResult(input));
    const m = '**** **** **** 1111';
    expect(out).toEqual([[m, 'x', 1], ['x', m, 2], ['x', 2, m], [m, m, m]]);
    for (const row of out) dense(row);
    expect(JSON.stringify(out)).toBe(`[["${m}","x",1],["x","${m}",2],["x",2,"${m}"],["${m}","${m}","${m}"]]`);
  });

  it('masks JSON array cells into dense plain arrays, first item or later', () => {
    const input = rows(['doc'], [[['4111 1111 1111 1111', 'ok']], [['ok', { n: 1 }, '5555 5555 5555 4444']]]);
    const out = masked(masker.maskResult(input));
    expect(out).toEqual([[['**** **** **** 1111', 'ok']], [['ok', { n: 1 }, '**** **** **** 4444']]]);
    dense(out[0]?.[0]);
    dense(out[1]?.[0]);
  });

  it('keeps the result rows array dense and in order, clean rows shared', () => {
    const clean = [1, 'Ana'];
    const input = rows(['n', 'v'], [clean, [2, '4111111111111111'], clean]);
    const out = masked(masker.maskResult(input));
    expect(out).toEqual([clean, [2, '************1111'], clean]);
    expect(out[0]).toBe(clean);
    expect(out[2]).toBe(clean);
    dense(out);
  });
});
