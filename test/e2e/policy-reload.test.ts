import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { describe, expect, inject, it } from 'vitest';
import { parseServeConfig } from '../../src/config.js';
import { startAirlock, type RunningAirlock } from '../../src/main.js';
import { auditIdOf, auditRecord, EXAMPLE_POLICY, tempDir, textOf } from '../support/airlock.js';

describe('a running airlock and an edited policies.json', () => {
  it('decides the next call with the new policy and records the new version', async () => {
    process.env.DATABASE_URL = inject('databaseUrl');
    const dir = tempDir();
    const policyPath = join(dir, 'policies.json');
    const original = readFileSync(EXAMPLE_POLICY, 'utf8');
    writeFileSync(policyPath, original);
    let airlock: RunningAirlock | undefined;
    let transport: StreamableHTTPClientTransport | undefined;
    const client = new Client({ name: 'reload', version: '1.0.0' });
    try {
      airlock = await startAirlock(
        parseServeConfig({
          transport: 'http', policyPath, auditDir: join(dir, 'audit'), devIdentity: 'ana@example.com,analysts', demo: false,
          host: '127.0.0.1', port: 0, maxBodyBytes: 1 << 20, sessionIdleMs: 60_000, allowedHosts: [], allowedOrigins: [], logLevel: 'error',
        }),
        () => undefined,
      );
      transport = new StreamableHTTPClientTransport(new URL(`${airlock.http?.url ?? ''}/mcp`));
      await client.connect(transport);
      const args = { connection: 'shop', sql: 'SELECT 1 AS one' };
      const before = await client.callTool({ name: 'query_sql', arguments: args });
      expect(before.isError).toBeFalsy();
      const v1 = auditRecord(join(dir, 'audit'), auditIdOf(before)).decision?.policyVersion;

      const edited = JSON.parse(original) as { rules: { id: string }[] };
      edited.rules = edited.rules.filter((r) => r.id !== 'analysts-read-shop');
      writeFileSync(policyPath, JSON.stringify(edited, null, 2));
      await airlock.reloadPolicy(); // the watcher would do this within ~100 ms; SIGHUP does the same

      const after = await client.callTool({ name: 'query_sql', arguments: args });
      expect(textOf(after)).toContain('Denied by policy: no rule allows this call (default deny).');
      const v2 = auditRecord(join(dir, 'audit'), auditIdOf(after)).decision?.policyVersion;
      expect(v2).toMatch(/^sha256:/);
      expect(v2).not.toBe(v1);
      expect(airlock.policy().version).toBe(v2);
    } finally {
      await transport?.terminateSession().catch(() => undefined);
      await client.close();
      await airlock?.close();
    }
  });

  it('keeps the last good policy, and says why, when an edit is ambiguous or widens by omission (issue 15)', async () => {
    process.env.DATABASE_URL = inject('databaseUrl');
    const dir = tempDir();
    const policyPath = join(dir, 'policies.json');
    const original = readFileSync(EXAMPLE_POLICY, 'utf8');
    writeFileSync(policyPath, original);
    const logs: string[] = [];
    let airlock: RunningAirlock | undefined;
    let transport: StreamableHTTPClientTransport | undefined;
    const client = new Client({ name: 'reload', version: '1.0.0' });
    try {
      airlock = await startAirlock(
        parseServeConfig({
          transport: 'http', policyPath, auditDir: join(dir, 'audit'), devIdentity: 'ana@example.com,analysts', demo: false,
          host: '127.0.0.1', port: 0, maxBodyBytes: 1 << 20, sessionIdleMs: 60_000, allowedHosts: [], allowedOrigins: [], logLevel: 'error',
        }),
        (level, message) => void logs.push(`${level}: ${message}`),
      );
      transport = new StreamableHTTPClientTransport(new URL(`${airlock.http?.url ?? ''}/mcp`));
      await client.connect(transport);
      const v1 = airlock.policy().version;
      const edits: [string, string, string][] = [
        ['a second "effect" that turns the deny into an allow', original.replace('"effect": "deny",', '"effect": "deny", "effect": "allow",'), 'duplicate key "effect"'],
        ['"rules": [] appended at the end', original.replace(/\}\s*$/, ', "rules": []}'), 'duplicate key "rules"'],
        ['an allow rule for everyone via empty principals', original.replace(/"principals": \{[^}]*\}/, '"principals": {}'), 'rules[1].principals: give at least one of'],
        ['a byte order mark', `\uFEFF${original}`, 'policies.json:1:1: the file starts with a byte order mark (U+FEFF); save it as UTF-8 without BOM'],
      ];
      for (const [label, text, reason] of edits) {
        expect(text, label).not.toBe(original);
        writeFileSync(policyPath, text);
        const result = (await airlock.reloadPolicy()) as { ok: boolean; problems?: string[] };
        expect(result.ok, label).toBe(false);
        expect(result.problems?.some((p) => p.includes(reason)), label).toBe(true);
        expect(airlock.policy().version, label).toBe(v1);
        expect(logs.at(-1), label).toContain(`warn: policy ${policyPath} not reloaded, keeping version ${v1.slice(0, 19)}…:`);
        expect(logs.at(-1), label).toContain(reason);
        const drop = await client.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql: 'DROP TABLE orders' } });
        expect(drop.isError, label).toBe(true);
        const record = auditRecord(join(dir, 'audit'), auditIdOf(drop));
        expect(record.decision, label).toMatchObject({ effect: 'deny', ruleIds: ['no-schema-or-admin'], policyVersion: v1 });
      }
    } finally {
      await transport?.terminateSession().catch(() => undefined);
      await client.close();
      await airlock?.close();
    }
  });
});
