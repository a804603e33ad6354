/**
 * What a served airlock loads (issue 19): a stdio server for plain PostgreSQL connections imports nothing
 * from Google and none of the HTTP/SSE stack, even after it has answered calls; the features that need
 * those libraries still load them when they are configured. Every module is recorded by a resolve hook
 * (`node --import test/support/module-log.mjs`), so the checks see the real process, not a stand-in.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client as ClientV2 } from '@modelcontextprotocol/client';
import { StdioClientTransport as StdioTransportV2 } from '@modelcontextprotocol/client/stdio';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { describe, expect, inject, it } from 'vitest';
import { auditIdOf, auditRecord, CLI, EXAMPLE_POLICY, ROOT, tempDir, textOf, writePolicy } from '../support/airlock.js';
import { stopChild, waitForOutput } from '../support/child.js';
import { until } from '../support/served.js';

const HOOK = join(ROOT, 'test', 'support', 'module-log.mjs');

/** Libraries only cloud features use. */
const GOOGLE = ['/node_modules/@google-cloud/', '/node_modules/google-gax/', '/node_modules/google-auth-library/', '/node_modules/gaxios/', '/node_modules/@grpc/'];
/** The HTTP side: Node HTTP adapter, legacy SSE bridge, its web framework and airlock's HTTP transport. */
const HTTP_STACK = ['/node_modules/@modelcontextprotocol/server-legacy/', '/node_modules/@modelcontextprotocol/node/', '/node_modules/@hono/', '/node_modules/hono/', '/dist/src/mcp/transports/http.js'];

/** A policy whose one connection is a plain PostgreSQL URL, with the card column masked. */
const PLAIN_POLICY = {
  version: 1,
  resources: { connections: { shop: { url: 'env:DATABASE_URL', limits: { maxRows: 1000, timeoutMs: 10000 } } } },
  rules: [
    { id: 'analysts-read-shop', effect: 'allow', principals: { groups: ['analysts'] }, tools: ['query_sql'], resources: ['shop'], sql: { classes: ['read'] } },
    { id: 'no-ddl', effect: 'deny', tools: ['query_sql'], sql: { classes: ['ddl'] }, reason: 'Schema changes are not allowed.' },
  ],
  masking: { detectors: ['CREDIT_CARD', 'EMAIL'], columns: ['customers.card_number'], sensitiveUse: { approverGroups: ['dba'] } },
};

function modules(log: string): string[] {
  return readFileSync(log, 'utf8').split('\n').filter((l) => l !== '');
}

function loadedOf(log: string, prefixes: readonly string[]): string[] {
  return modules(log).filter((m) => prefixes.some((p) => m.includes(p)));
}

interface Spawned {
  readonly dir: string;
  readonly auditDir: string;
  readonly log: string;
  readonly args: string[];
  readonly env: Record<string, string>;
}

function stdioSetup(policy: unknown, runtime?: unknown): Spawned {
  const dir = tempDir('airlock-cold-');
  const auditDir = join(dir, 'audit');
  const log = join(dir, 'modules.log');
  writeFileSync(log, '');
  const config = runtime === undefined ? [] : ['--config', join(dir, 'airlock.json')];
  if (runtime !== undefined) writeFileSync(join(dir, 'airlock.json'), JSON.stringify(runtime));
  const policyPath = policy === EXAMPLE_POLICY ? EXAMPLE_POLICY : writePolicy(dir, policy);
  return {
    dir,
    auditDir,
    log,
    args: ['--import', HOOK, CLI, 'serve', '--stdio', '--policy', policyPath, '--audit-dir', auditDir, ...config, '--dev-identity', 'ana@example.com,analysts', '--log-level', 'warn'],
    env: { PATH: process.env.PATH ?? '', HOME: dir, DATABASE_URL: inject('databaseUrl'), AIRLOCK_MODULE_LOG: log },
  };
}

const CARD_QUERY = { connection: 'shop', sql: 'SELECT name, card_number FROM customers WHERE id = $1', params: [1] };

describe('airlock serve --stdio loads no cloud client and no HTTP stack (issue 19)', () => {
  it('answers initialize, a masked query and a denial with nothing from Google or the HTTP side loaded', async () => {
    const s = stdioSetup(PLAIN_POLICY);
    const client = new Client({ name: 'cold-start', version: '1.0.0' });
    try {
      await client.connect(new StdioClientTransport({ command: process.execPath, args: s.args, env: s.env, cwd: s.dir, stderr: 'ignore' }));
      // Answered initialize: the MCP server and airlock's composition root are loaded by now.
      expect(modules(s.log)).toEqual(expect.arrayContaining([expect.stringContaining('/dist/src/main.js'), expect.stringContaining('/dist/src/mcp/transports/stdio.js')]));
      const ok = await client.callTool({ name: 'query_sql', arguments: CARD_QUERY });
      expect(textOf(ok)).toBe('1 row (masked: card_number)\nname | card_number\nAna Silva | [MASKED]');
      expect(auditRecord(s.auditDir, auditIdOf(ok))).toMatchObject({ outcome: 'ok', tool: 'query_sql', principal: { email: 'ana@example.com' }, result: { maskedColumns: ['card_number'] } });
      const denied = await client.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql: 'DROP TABLE customers' } });
      expect(denied.isError).toBe(true);
      expect(auditRecord(s.auditDir, auditIdOf(denied))).toMatchObject({ outcome: 'denied', error: { code: 'POLICY_DENIED' }, principal: { email: 'ana@example.com' } });
      // The first call loaded what calls need (pg, the SQL parser): the log does see third-party modules.
      expect(loadedOf(s.log, ['/node_modules/pg/', '/node_modules/libpg-query/']).length).toBeGreaterThan(0);
      expect(loadedOf(s.log, GOOGLE)).toEqual([]);
      expect(loadedOf(s.log, HTTP_STACK)).toEqual([]);
    } finally {
      await client.close();
    }
  });

  it('loads no cloud client for the example policy either, whose buckets and log scopes are configured but not called', async () => {
    const s = stdioSetup(EXAMPLE_POLICY);
    const client = new Client({ name: 'cold-start-example', version: '1.0.0' });
    try {
      await client.connect(new StdioClientTransport({ command: process.execPath, args: s.args, env: s.env, cwd: s.dir, stderr: 'ignore' }));
      const listed = await client.callTool({ name: 'list_resources', arguments: {} });
      expect(listed.isError).toBeFalsy();
      const ok = await client.callTool({ name: 'query_sql', arguments: CARD_QUERY });
      expect(ok.isError).toBeFalsy();
      expect(loadedOf(s.log, GOOGLE)).toEqual([]);
      expect(loadedOf(s.log, HTTP_STACK)).toEqual([]);
    } finally {
      await client.close();
    }
  });

  it('loads neither when a 2026-07-28 client connects (the v2 stdio entry)', async () => {
    const s = stdioSetup(PLAIN_POLICY);
    const client = new ClientV2({ name: 'cold-start-v2', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
    try {
      await client.connect(new StdioTransportV2({ command: process.execPath, args: s.args, env: s.env, cwd: s.dir, stderr: 'ignore' }));
      const ok = await client.callTool({ name: 'query_sql', arguments: CARD_QUERY });
      expect(textOf(ok)).toBe('1 row (masked: card_number)\nname | card_number\nAna Silva | [MASKED]');
      expect(loadedOf(s.log, GOOGLE)).toEqual([]);
      expect(loadedOf(s.log, HTTP_STACK)).toEqual([]);
    } finally {
      await client.close();
    }
  });
});

describe('configured features still load their libraries (issue 19)', () => {
  it('serve --http loads the HTTP stack (the check sees it) but still nothing from Google', async () => {
    const s = stdioSetup(PLAIN_POLICY);
    const args = s.args.map((a) => (a === '--stdio' ? '--http' : a));
    const child = spawn(process.execPath, [...args, '--port', '0', '--log-level', 'info'], { cwd: s.dir, env: s.env, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      await waitForOutput(child, /serving MCP on http:\/\/\S+\/mcp /, { stream: 'stderr' });
      expect(loadedOf(s.log, ['/node_modules/@modelcontextprotocol/node/'])).not.toEqual([]);
      expect(loadedOf(s.log, ['/node_modules/@modelcontextprotocol/server-legacy/'])).not.toEqual([]);
      expect(loadedOf(s.log, GOOGLE)).toEqual([]);
    } finally {
      await stopChild(child);
    }
  });

  it('an audit copy to Cloud Logging configured loads the Logging client (and no other Google client)', async () => {
    // Nothing listens on the emulator port: the copy retries in the background; the calls never wait for it.
    const s = stdioSetup(PLAIN_POLICY, { audit: { cloudLogging: { projectId: 'airlock-test', emulator: '127.0.0.1:9' } } });
    const client = new Client({ name: 'cold-start-logging', version: '1.0.0' });
    try {
      await client.connect(new StdioClientTransport({ command: process.execPath, args: s.args, env: s.env, cwd: s.dir, stderr: 'ignore' }));
      const ok = await client.callTool({ name: 'query_sql', arguments: CARD_QUERY });
      expect(ok.isError).toBeFalsy();
      await until(() => loadedOf(s.log, ['/node_modules/@google-cloud/logging/']).length > 0, 'the Logging client to load');
      expect(loadedOf(s.log, ['/node_modules/@google-cloud/storage/', '/node_modules/@google-cloud/cloud-sql-connector/'])).toEqual([]);
    } finally {
      await client.close();
    }
  });
});

describe('airlock policy check loads the schema only (issue 19)', () => {
  const HEAVY = [...GOOGLE, '/node_modules/libphonenumber-js/', '/node_modules/libpg-query/', '/node_modules/pg/', '/node_modules/jose/', '/node_modules/@modelcontextprotocol/', '/dist/src/main.js'];

  function check(policyPath: string): Promise<{ code: number | null; stdout: string; stderr: string; log: string }> {
    const dir = tempDir('airlock-check-');
    const log = join(dir, 'modules.log');
    writeFileSync(log, '');
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', HOOK, CLI, 'policy', 'check', policyPath], { cwd: dir, env: { PATH: process.env.PATH ?? '', HOME: dir, AIRLOCK_MODULE_LOG: log }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr, log }));
    });
  }

  it('accepts the example policy without loading the SQL parser, phone metadata, drivers or the MCP SDK', async () => {
    const run = await check(EXAMPLE_POLICY);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^.*policies\.json: OK \(\d+ rules, version sha256:[0-9a-f]{64}\)\n$/);
    expect(loadedOf(run.log, ['/node_modules/zod/'])).not.toEqual([]);
    expect(loadedOf(run.log, HEAVY)).toEqual([]);
  });

  it('still checks SQL classes, detector names and custom patterns with the same messages', async () => {
    const dir = tempDir('airlock-check-bad-');
    const policy = {
      ...PLAIN_POLICY,
      rules: [{ id: 'r', effect: 'allow', tools: ['query_sql'], sql: { classes: ['reed'] } }],
      masking: { detectors: ['CREDIT_CARDS'], custom: [{ name: 'TICKET', pattern: '(a)\\1' }] },
    };
    const run = await check(writePolicy(dir, policy));
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('policies.json: rules[0].sql.classes[0]:');
    expect(run.stderr).toContain('"read"');
    expect(run.stderr).toContain('policies.json: masking.detectors[0]:');
    expect(run.stderr).toContain('policies.json: masking.custom');
    expect(loadedOf(run.log, HEAVY)).toEqual([]);
  });
});
