import { describe, expect, it } from 'vitest';
import { textWeight } from '../../../src/masking/offload.js';
import type { ToolResult } from '../../../src/tool.js';

const rows = (cells: unknown[][]): ToolResult => ({ kind: 'rows', columns: cells[0]?.map((_, i) => ({ name: `c${i}`, type: 'text' })) ?? [], rows: cells, rowCount: cells.length, truncated: false });

describe('textWeight (issue 15)', () => {
  it('counts the text of cells, nested JSON values included', () => {
    expect(textWeight(rows([['abc', 1, null]]))).toBe(3 + 4 + 4);
    expect(textWeight(rows([[{ k: ['xy', 'z'] }]]))).toBe(2 + 2 + 2 + 1);
    expect(textWeight({ kind: 'json', value: { a: 'hello' }, text: 'hello!' })).toBe(6 + 2 + 5);
  });

  it('stops counting once the threshold is reached (a large value is found without walking the rest)', () => {
    const big = 'x'.repeat(1000);
    expect(textWeight(rows([[big], [big], [big]]), 1500)).toBe(2000);
    expect(textWeight(rows([[{ a: big }], [{ b: big }], [{ c: big }]]), 1500)).toBeLessThan(3000);
  });
});
