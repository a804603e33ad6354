import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { INVARIANTS } from './requirements.js';
import { ROOT } from './support/airlock.js';

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? testFiles(join(dir, e.name)) : e.name.endsWith('.test.ts') ? [join(dir, e.name)] : [],
  );
}

describe('security invariants gate', () => {
  it('cites every invariant in at least one test name', () => {
    const sources = testFiles(join(ROOT, 'test'))
      .filter((f) => !f.endsWith('invariants.test.ts'))
      .map((f) => readFileSync(f, 'utf8'))
      .join('\n');
    const missing = Object.keys(INVARIANTS).filter((id) => !sources.includes(`(${id})`));
    expect(missing).toEqual([]);
  });
});
