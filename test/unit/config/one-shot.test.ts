import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type * as z from 'zod';
import { runtimeFileSchema, serveConfigSchema } from '../../../src/config.js';
import { ONE_SHOT } from '../../../src/once.js';
import { PolicyFileSchema } from '../../../src/policy/schema.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const example = JSON.parse(readFileSync(join(ROOT, 'policies.json'), 'utf8')) as Record<string, unknown>;
const exampleRuntime = JSON.parse(readFileSync(join(ROOT, 'airlock.example.json'), 'utf8')) as Record<string, unknown>;

const serve = {
  transport: 'stdio',
  policyPath: 'policies.json',
  auditDir: 'audit',
  demo: false,
  host: '127.0.0.1',
  port: 7300,
  maxBodyBytes: 4 * 1024 * 1024,
  sessionIdleMs: 600_000,
  allowedHosts: [],
  allowedOrigins: [],
  logLevel: 'warn',
};

/** Parsed both ways: the compiled fast path (zod's default) and the one-shot parse start-up uses. */
function bothWays(schema: z.ZodType, value: unknown): { oneShot: unknown; compiled: unknown; issues: number } {
  // The one-shot parse first: it must not run on a fast path the default parse compiled.
  const oneShot = schema.safeParse(value, ONE_SHOT);
  const compiled = schema.safeParse(value);
  return {
    oneShot: { success: oneShot.success, data: oneShot.data, issues: oneShot.error?.issues },
    compiled: { success: compiled.success, data: compiled.data, issues: compiled.error?.issues },
    issues: oneShot.error?.issues.length ?? 0,
  };
}

describe('ONE_SHOT parses (issue 19)', () => {
  const cases: [string, z.ZodType, unknown, boolean][] = [
    ['the example policy', PolicyFileSchema, example, true],
    ['a policy with an unknown key, a bad rule and a bad detector', PolicyFileSchema, { ...example, rulez: [], rules: [{ id: 'r', effect: 'allow', tools: ['query_sql'], sql: { classes: ['reed'] } }], masking: { detectors: ['CREDIT_CARDS'] } }, false],
    ['a policy that is not an object', PolicyFileSchema, ['version', 1], false],
    ['serve settings with defaults', serveConfigSchema(), serve, true],
    ['serve settings out of range', serveConfigSchema(), { ...serve, port: 70_000, maxConcurrentCalls: 0, logLevel: 'loud', extra: 1 }, false],
    ['the example runtime file', runtimeFileSchema(), exampleRuntime, true],
    ['a runtime file with an inline secret and a misspelled key', runtimeFileSchema(), { audit: { compliance: { keys: [{ id: 'k', key: 'inline' }] } }, approval: {} }, false],
  ];
  for (const [name, schema, value, valid] of cases) {
    it(`gives the same data and issues as the compiled parse: ${name}`, () => {
      const { oneShot, compiled, issues } = bothWays(schema, value);
      expect(oneShot).toMatchObject({ success: valid });
      expect(oneShot).toEqual(compiled);
      if (valid) expect(issues).toBe(0);
      else expect(issues).toBeGreaterThan(0);
    });
  }
});
