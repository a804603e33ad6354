/**
 * SECURITY.md names, for each threat, the tests that prove the defence: every path it names exists, every
 * invariant id it cites is one test/requirements.ts defines, every table row cites a test, and its links resolve.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../support/airlock.js';
import { INVARIANTS } from '../requirements.js';

const text = readFileSync(join(ROOT, 'SECURITY.md'), 'utf8');

describe('SECURITY.md', () => {
  const paths = [...new Set([...text.matchAll(/`((?:test|src|docs|deploy)\/[^`\s]*)`/g)].map((m) => m[1] ?? ''))];

  it('names test files (the check is not empty)', () => {
    expect(paths.filter((p) => p.endsWith('.test.ts')).length).toBeGreaterThan(25);
  });

  it.each(paths)('%s exists', (path) => {
    expect(existsSync(join(ROOT, path))).toBe(true);
  });

  it('cites only invariant ids that test/requirements.ts defines, and cites them', () => {
    const cited = [...text.matchAll(/`([a-z]+:[a-z-]+)`/g)].map((m) => m[1] ?? '');
    expect(cited.length).toBeGreaterThan(20);
    expect(cited.filter((id) => !(id in INVARIANTS))).toEqual([]);
  });

  it('gives every threat a defence and at least one test', () => {
    const rows = text.split('\n').filter((l) => /^\| \*\*/.test(l));
    expect(rows.length).toBeGreaterThan(12);
    for (const row of rows) {
      const cells = row.split(' | ');
      expect(cells, row).toHaveLength(3);
      expect(cells[2], row).toMatch(/`test\/[^`]+`/);
    }
  });

  it('links to files that exist', () => {
    const links = [...text.matchAll(/\]\(([^)\s#]+)(#[^)]*)?\)/g)].map((m) => m[1] ?? '').filter((l) => !/^[a-z]+:/.test(l));
    expect(links.length).toBeGreaterThan(2);
    expect(links.filter((l) => !existsSync(join(ROOT, l)))).toEqual([]);
  });

  it('says how to report a vulnerability', () => {
    expect(text).toMatch(/^## Reporting a vulnerability\n\nReport it privately/m);
  });
});
