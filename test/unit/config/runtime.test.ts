import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { approvalsConfigSchema, ConfigError, loadRuntimeFile, parseServeConfig } from '../../../src/config.js';
import { tempDir } from '../../support/airlock.js';

async function problem(doc: unknown): Promise<string> {
  const path = join(tempDir(), 'airlock.json');
  writeFileSync(path, typeof doc === 'string' ? doc : JSON.stringify(doc));
  const error = await loadRuntimeFile(path).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ConfigError);
  return (error as ConfigError).message;
}

describe('loadRuntimeFile', () => {
  it('applies identity defaults', async () => {
    const path = join(tempDir(), 'airlock.json');
    writeFileSync(path, JSON.stringify({ identity: { issuers: [{ issuer: 'https://accounts.google.com', audiences: ['https://airlock.example/mcp'] }] } }));
    const config = await loadRuntimeFile(path);
    expect(config.identity?.issuers[0]).toMatchObject({ algorithms: ['RS256', 'ES256', 'EdDSA'], groupsClaim: 'groups', clockToleranceSeconds: 30 });
  });

  it.each([
    ['HS256 as an algorithm', { identity: { issuers: [{ issuer: 'https://idp.example', audiences: ['a'], algorithms: ['HS256'] }] } }, 'airlock.json: identity.issuers[0].algorithms[0]: Invalid option'],
    ['a plain-http issuer', { identity: { issuers: [{ issuer: 'http://idp.example', audiences: ['a'] }] } }, 'airlock.json: identity.issuers[0].issuer: must be an https URL (http only on loopback, for tests)'],
    ['no audience', { identity: { issuers: [{ issuer: 'https://idp.example', audiences: [] }] } }, 'airlock.json: identity.issuers[0].audiences: Too small'],
    ['a misspelled key', { identity: { issuers: [{ issuer: 'https://idp.example', audience: ['a'] }] } }, 'airlock.json: identity.issuers[0]: unknown key "audience"'],
    ['bad JSON', '{', 'airlock.json:1:2: not valid JSON: unexpected end of the text: an object is not closed'],
    ['an inline compliance key', { audit: { compliance: { keys: [{ id: 'k1', key: '00'.repeat(32) }] } } }, 'airlock.json: audit.compliance.keys[0].key: must be a reference: "env:NAME" or "file:/path" (never the secret itself)'],
    ['a current key that does not exist', { audit: { compliance: { keys: [{ id: 'k1', key: 'env:K' }], current: 'k2' } } }, 'airlock.json: audit.compliance.current: current must name one of keys[].id'],
  ])('reports %s with its path', async (_label, doc, expected) => {
    expect(await problem(doc)).toContain(expected);
  });

  it.each([
    ['a repeated issuer list', '{"identity":{"issuers":[{"issuer":"https://a.example","audiences":["x"]}],\n "issuers":[]}}', 'airlock.json:2:2: duplicate key "issuers" (first at line 1, column 14); JSON readers disagree on which one counts, so remove one'],
    ['a repeated compliance key reference', '{"audit":{"compliance":{"keys":[{"id":"k1","key":"env:A","key":"file:/tmp/k"}]}}}', 'airlock.json:1:58: duplicate key "key" (first at line 1, column 44); JSON readers disagree on which one counts, so remove one'],
    ['a repeated top-level section', '{"audit":{},"audit":{}}', 'airlock.json:1:13: duplicate key "audit" (first at line 1, column 2); JSON readers disagree on which one counts, so remove one'],
    ['a __proto__ key', '{"identity":{"__proto__":{}}}', 'airlock.json:1:14: the key "__proto__" is not allowed (JavaScript gives it a special meaning)'],
    ['a byte order mark', '\uFEFF{}', 'airlock.json:1:1: the file starts with a byte order mark (U+FEFF); save it as UTF-8 without BOM'],
  ])('refuses %s with its line and column (issue 15)', async (_label, text, expected) => {
    expect(await problem(text)).toBe(`invalid config:\n  ${expected}`);
  });
});

describe('parseServeConfig: fairness bounds (issue 15)', () => {
  const base = { transport: 'http', policyPath: 'p.json', auditDir: 'a', demo: false, host: '127.0.0.1', port: 0, maxBodyBytes: 4096, sessionIdleMs: 1000, allowedHosts: [], allowedOrigins: [], logLevel: 'info' };

  it('applies the defaults when no flag is given', () => {
    expect(parseServeConfig(base)).toMatchObject({
      maxConcurrentCalls: 4,
      callQueue: 8,
      callQueueMs: 5000,
      maxSessions: 1000,
      maxSessionsPerPrincipal: 32,
      maxSessionBufferBytes: 16 * 1024 * 1024,
      auditMaxValueBytes: 8192,
      auditMaxInputBytes: 262_144,
    });
  });

  it('names the flag of every bad value', () => {
    expect(() => parseServeConfig({ ...base, maxConcurrentCalls: 0, maxSessionBufferBytes: 10, auditMaxValueBytes: Number.NaN })).toThrow(
      /--max-concurrent-calls: .*\n {2}--max-session-buffer-bytes: .*\n {2}--audit-max-value-bytes: /,
    );
  });
});

describe('approvalsConfigSchema console (issue 17)', () => {
  it('accepts the console settings with their defaults', () => {
    const parsed = approvalsConfigSchema().parse({
      console: { oidc: { issuer: 'https://accounts.example.com', clientId: 'airlock-console', clientSecret: 'env:CONSOLE_SECRET', redirectUri: 'https://airlock.example.com/console/callback' } },
    });
    expect(parsed.console).toEqual({
      oidc: { issuer: 'https://accounts.example.com', clientId: 'airlock-console', clientSecret: 'env:CONSOLE_SECRET', redirectUri: 'https://airlock.example.com/console/callback', scopes: ['openid', 'email', 'profile'] },
      secureCookies: true,
      sessionIdleMinutes: 30,
      sessionMaxHours: 12,
    });
  });

  it('refuses a secret written in the file, a callback elsewhere and a misspelled key', () => {
    const issues = (value: unknown): string[] => {
      const result = approvalsConfigSchema().safeParse(value);
      return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    const oidc = { issuer: 'https://accounts.example.com', clientId: 'c', redirectUri: 'https://airlock.example.com/console/callback' };
    expect(issues({ console: { oidc: { ...oidc, clientSecret: 'hunter2' } } })).toEqual(['console.oidc.clientSecret: must be a reference: "env:NAME" or "file:/path" (never the secret itself)']);
    expect(issues({ console: { oidc: { ...oidc, redirectUri: 'https://airlock.example.com/callback' } } })).toEqual(['console.oidc.redirectUri: must end in /console/callback']);
    expect(issues({ console: { secureCookie: false } })[0]).toMatch(/^console: Unrecognized key: "secureCookie"/);
  });
});
