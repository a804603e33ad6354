import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ALL_TOOLS } from '../../../tools/index.js';
import { loadPolicy, PolicyLoadError } from '../../../src/policy/load.js';
import { ROOT } from '../../support/airlock.js';

const DIR = join(ROOT, 'test', 'fixtures', 'invalid-policies');
const expected = JSON.parse(readFileSync(join(DIR, 'expected.json'), 'utf8')) as Record<string, string[]>;

describe('invalid policy fixtures (exact messages)', () => {
  it.each(Object.entries(expected))('%s', async (file, problems) => {
    const error = await loadPolicy(join(DIR, file), ALL_TOOLS.map((t) => t.name)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PolicyLoadError);
    expect((error as PolicyLoadError).problems).toEqual(problems);
  });
});
