/**
 * read_bucket and tail_logs end to end on every transport and protocol era (issue 18): the compiled CLI's
 * demo (`airlock start`, which starts the loopback Cloud Storage and Cloud Logging servers and points the
 * real Google clients at them) over Streamable HTTP and legacy SSE, and `airlock serve --stdio --demo` over
 * stdio, each driven by a real MCP client: the v1 client (2025-11-25) and the v2 client pinned to
 * 2026-07-28. Every call is checked for masked content and for exactly one audit record under the caller.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client as ClientV2, StreamableHTTPClientTransport as HttpTransportV2 } from '@modelcontextprotocol/client';
import { StdioClientTransport as StdioTransportV2 } from '@modelcontextprotocol/client/stdio';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ProgressNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { auditIdOf, CLI, EXAMPLE_POLICY, readAudit, tempDir, textOf, writePolicy } from '../support/airlock.js';
import { stopChild, waitForOutput } from '../support/child.js';

const MODERN = '2026-07-28';
const LEGACY = '2025-11-25';
const ANA = 'ana@example.com,analysts';

/** Values the demo objects and log entries hold that must never reach an agent. */
const RAW = [
  'ana.silva@example.com',
  'correct-horse-battery-staple',
  '203.0.113.20',
  'BEGIN PRIVATE KEY',
  '4111111111111111',
  '4111 1111 1111 1111',
  'AKIAIOSFODNN7EXAMPLE',
  'bo.chen@example.org',
  'carla.mendes@example.net',
  'dev.patel@example.com',
  'eve.okafor@example.com',
];

/**
 * The demo policy plus the scope `live` (every demo log, no forced filter) so that a short live tail is
 * sure to see new entries: the demo's server appends one every ~2 s, and on `prod-logs` the forced filters
 * may keep a few in a row out.
 */
function testPolicy(): unknown {
  const p = JSON.parse(readFileSync(EXAMPLE_POLICY, 'utf8')) as { resources: { logScopes: Record<string, unknown> }; rules: unknown[] };
  p.resources.logScopes.live = { project: 'airlock-demo', logNames: ['app', 'requests'], limits: { maxFollowSeconds: 10 } };
  p.rules.push({ id: 'test-live-tail', effect: 'allow', principals: { groups: ['analysts'] }, tools: ['tail_logs'], resources: ['live'] });
  return p;
}

interface Progress {
  readonly progressToken: string | number;
  readonly progress: number;
  readonly message?: string;
}

interface Agent {
  readonly era: typeof LEGACY | typeof MODERN;
  readonly transport: 'stdio' | 'http' | 'sse';
  readonly auditDir: string;
  readonly progress: Progress[];
  call(name: string, args: Record<string, unknown>, progressToken?: string): Promise<unknown>;
  close(): Promise<void>;
}

type Kind = 'stdio, v1 client (2025-11-25)' | 'stdio, v2 client (2026-07-28)' | 'Streamable HTTP, v1 client (2025-11-25)' | 'Streamable HTTP, v2 client (2026-07-28)' | 'SSE, v1 client (2025-11-25)';
const KINDS: readonly Kind[] = ['stdio, v1 client (2025-11-25)', 'stdio, v2 client (2026-07-28)', 'Streamable HTTP, v1 client (2025-11-25)', 'Streamable HTTP, v2 client (2026-07-28)', 'SSE, v1 client (2025-11-25)'];

interface Structured {
  readonly structuredContent?: Record<string, unknown>;
  readonly isError?: boolean;
}

const dir = tempDir('airlock-gcp-transports-');
const policyPath = writePolicy(dir, testPolicy());
const demoAudit = join(dir, 'audit-demo');
let demo: ChildProcess | undefined;
let base = '';

function env(): Record<string, string> {
  const home = join(dir, 'home');
  return { PATH: process.env.PATH ?? '', HOME: home, XDG_STATE_HOME: join(home, 'state'), DATABASE_URL: inject('databaseUrl') };
}

beforeAll(async () => {
  const child = spawn(process.execPath, [CLI, 'start', '--port', '0', '--policy', policyPath, '--audit-dir', demoAudit], { cwd: dir, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
  demo = child;
  const [banner] = await waitForOutput(child, /Streamable HTTP:\s+(http:\/\/\S+)\/mcp[\s\S]*Press Ctrl-C/, { stream: 'stderr', timeoutMs: 60_000, stopSignal: 'SIGINT' });
  base = /Streamable HTTP:\s+(http:\/\/\S+)\/mcp/.exec(banner)?.[1] ?? '';
}, 90_000);

afterAll(async () => {
  if (demo !== undefined) await stopChild(demo, 'SIGINT', 30_000);
}, 60_000);

function stdioArgs(auditDir: string): string[] {
  return [CLI, 'serve', '--stdio', '--demo', '--policy', policyPath, '--audit-dir', auditDir, '--dev-identity', ANA];
}

async function connect(kind: Kind): Promise<Agent> {
  const progress: Progress[] = [];
  const v1 = (client: Client, era: typeof LEGACY, transport: Agent['transport'], auditDir: string, close: () => Promise<void>): Agent => {
    // Taken as they arrive: the SDK's own onprogress drops those read together with the result.
    client.setNotificationHandler(ProgressNotificationSchema, (n) => {
      progress.push(n.params);
    });
    return {
      era,
      transport,
      auditDir,
      progress,
      call: (name, args, token) => client.callTool({ name, arguments: args, ...(token === undefined ? {} : { _meta: { progressToken: token } }) }, undefined, { timeout: 60_000 }),
      close,
    };
  };
  const v2 = (client: ClientV2, transport: Agent['transport'], auditDir: string): Agent => {
    client.setNotificationHandler('notifications/progress', (n) => {
      progress.push(n.params);
    });
    return {
      era: MODERN,
      transport,
      auditDir,
      progress,
      call: (name, args, token) => client.callTool({ name, arguments: args, ...(token === undefined ? {} : { _meta: { progressToken: token } }) }, { timeout: 60_000 }),
      close: () => client.close(),
    };
  };
  switch (kind) {
    case 'stdio, v1 client (2025-11-25)': {
      const auditDir = join(dir, 'audit-stdio-v1');
      const client = new Client({ name: 'gcp-v1', version: '1.0.0' });
      await client.connect(new StdioClientTransport({ command: process.execPath, args: stdioArgs(auditDir), env: env(), cwd: dir, stderr: 'ignore' }));
      return v1(client, LEGACY, 'stdio', auditDir, () => client.close());
    }
    case 'stdio, v2 client (2026-07-28)': {
      const auditDir = join(dir, 'audit-stdio-v2');
      const client = new ClientV2({ name: 'gcp-v2', version: '1.0.0' }, { versionNegotiation: { mode: { pin: MODERN } } });
      await client.connect(new StdioTransportV2({ command: process.execPath, args: stdioArgs(auditDir), env: env(), cwd: dir, stderr: 'ignore' }));
      expect(client.getNegotiatedProtocolVersion()).toBe(MODERN);
      return v2(client, 'stdio', auditDir);
    }
    case 'Streamable HTTP, v1 client (2025-11-25)': {
      const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`));
      const client = new Client({ name: 'gcp-v1', version: '1.0.0' });
      await client.connect(transport);
      return v1(client, LEGACY, 'http', demoAudit, async () => {
        await transport.terminateSession().catch(() => undefined);
        await client.close();
      });
    }
    case 'Streamable HTTP, v2 client (2026-07-28)': {
      const client = new ClientV2({ name: 'gcp-v2', version: '1.0.0' }, { versionNegotiation: { mode: { pin: MODERN } } });
      await client.connect(new HttpTransportV2(new URL(`${base}/mcp`)));
      expect(client.getNegotiatedProtocolVersion()).toBe(MODERN);
      return v2(client, 'http', demoAudit);
    }
    case 'SSE, v1 client (2025-11-25)': {
      const client = new Client({ name: 'gcp-sse', version: '1.0.0' });
      await client.connect(new SSEClientTransport(new URL(`${base}/sse`)));
      return v1(client, LEGACY, 'sse', demoAudit, () => client.close());
    }
  }
}

/** The one audit record of a call, checked for its tool, outcome, transport, era and caller. */
function expectOneRecord(agent: Agent, result: unknown, tool: string, outcome: string): Record<string, unknown> {
  const id = auditIdOf(result);
  const records = readAudit(agent.auditDir).filter((r) => r.id === id);
  expect(records).toHaveLength(1);
  expect(records[0]).toMatchObject({ tool, outcome, transport: agent.transport, protocol: agent.era, principal: { email: 'ana@example.com', groups: ['analysts'] } });
  return records[0] as unknown as Record<string, unknown>;
}

function expectNoRawValues(result: unknown): void {
  const text = JSON.stringify(result);
  for (const raw of RAW) expect(text, raw).not.toContain(raw);
}

for (const kind of KINDS) {
  describe(`read_bucket and tail_logs over ${kind} (issue 18)`, () => {
    let agent: Agent | undefined;
    beforeAll(async () => {
      agent = await connect(kind);
    }, 60_000);
    afterAll(async () => {
      await agent?.close();
    });
    const the = (): Agent => {
      if (agent === undefined) throw new Error('not connected');
      return agent;
    };

    it('lists the demo bucket with only the names policy lets the caller reach, and says how many were hidden', async () => {
      const result = (await the().call('read_bucket', { bucket: 'data', action: 'list' })) as Structured;
      expect(result.isError).toBeUndefined();
      const value = result.structuredContent ?? {};
      expect((value.items as { name: string }[]).map((i) => i.name)).toEqual([
        'app/README.md',
        'app/assets/logo.png',
        'app/config/features.json',
        'app/logs/api-2026-12-01.ndjson',
        'app/logs/worker.log.gz',
        'config/service.json',
        'exports/customers-2026-11.csv',
      ]);
      expect(value.hidden).toBe(1);
      expect(textOf(result)).toContain('1 entry was hidden by policy.');
      expect(textOf(result)).not.toContain('config/settings.txt');
      expectOneRecord(the(), result, 'read_bucket', 'ok');
    });

    it('reads an NDJSON log masked by key, and a service-account key file with its key redacted', async () => {
      const ndjson = (await the().call('read_bucket', { bucket: 'data', action: 'read', object: 'app/logs/api-2026-12-01.ndjson' })) as Structured;
      expect(ndjson.isError).toBeUndefined();
      const value = ndjson.structuredContent ?? {};
      expect(value).toMatchObject({ bucket: 'data', action: 'read', object: 'app/logs/api-2026-12-01.ndjson', format: 'ndjson', truncated: false });
      const lines = String(value.content).trimEnd().split('\n');
      expect(lines).toHaveLength(5);
      // Masked in place: every line still parses, keys and plain values stay as they were.
      const first = JSON.parse(lines[0] ?? '') as Record<string, unknown>;
      expect(first).toMatchObject({ method: 'GET', path: '/v1/orders', status: 200 });
      expect(first.user).toMatch(/^\[EMAIL_\d+\]$/);
      expect(first.client_ip).toMatch(/^\[IP_ADDRESS_\d+\]$/);
      expectNoRawValues(ndjson);
      expectOneRecord(the(), ndjson, 'read_bucket', 'ok');

      const key = (await the().call('read_bucket', { bucket: 'data', action: 'read', object: 'config/service.json' })) as Structured;
      expect(key.isError).toBeUndefined();
      const sa = JSON.parse(String(key.structuredContent?.content)) as Record<string, unknown>;
      expect(sa).toMatchObject({ type: 'service_account', project_id: 'airlock-demo' });
      expect(sa.private_key).toMatch(/^\[GCP_SA_KEY_\d+\]$/);
      expectNoRawValues(key);
      expectOneRecord(the(), key, 'read_bucket', 'ok');
    });

    it('refuses a path trick before any upstream call, with one audit record', async () => {
      const result = (await the().call('read_bucket', { bucket: 'data', action: 'read', object: 'app/../config/settings.txt' })) as Structured;
      expect(result.isError).toBe(true);
      expect(textOf(result)).toMatch(/^Invalid arguments for read_bucket: object: /);
      expect(textOf(result)).toContain('[code: INVALID_INPUT; audit id: ');
      expectOneRecord(the(), result, 'read_bucket', 'invalid');
    });

    it('tails the production scope with the agent filter ANDed to the forced ones, masked', async () => {
      const result = (await the().call('tail_logs', { scope: 'prod-logs', filter: 'severity>=ERROR', since: '6h', limit: 5 })) as Structured;
      expect(result.isError).toBeUndefined();
      const value = result.structuredContent ?? {};
      const entries = value.entries as { severity: string; resource: { type: string }; logName: string }[];
      expect(entries).toHaveLength(5);
      for (const e of entries) {
        expect(['ERROR', 'CRITICAL', 'ALERT', 'EMERGENCY']).toContain(e.severity);
        expect(e.resource.type).toBe('cloud_run_revision');
        expect(e.logName).toMatch(/^projects\/airlock-demo\/logs\/(app|requests)$/);
      }
      // Policy filters first, each in its own parentheses, then the log names, the agent's filter and the window.
      expect(String(value.filter)).toMatch(
        /^\(resource\.type="cloud_run_revision"\) AND \(severity>="INFO"\) AND \(logName="projects\/airlock-demo\/logs\/app" OR logName="projects\/airlock-demo\/logs\/requests"\) AND \(severity>="ERROR"\) AND timestamp>="\S+Z" AND timestamp<"\S+Z"$/,
      );
      expect(value).toMatchObject({ scope: 'prod-logs', project: 'airlock-demo', order: 'desc', count: 5, truncated: true });
      expectNoRawValues(result);
      expectOneRecord(the(), result, 'tail_logs', 'ok');
    });

    it('refuses a filter that tries to widen the scope, with its position', async () => {
      const result = (await the().call('tail_logs', { scope: 'prod-logs', filter: 'severity>=ERROR) OR (true' })) as Structured;
      expect(result.isError).toBe(true);
      expect(textOf(result)).toMatch(/^Invalid arguments for tail_logs: filter: unexpected "\)" at line 1, column 16:\nseverity>=ERROR\) OR \(true\n {15}\^\n\[code: INVALID_INPUT; audit id: /);
      expectOneRecord(the(), result, 'tail_logs', 'invalid');
    });

    it('follows the live tail for a few seconds with progress per batch, and returns what it collected, masked', { timeout: 60_000 }, async () => {
      const a = the();
      a.progress.length = 0;
      const token = `follow-${kind.replace(/\W+/g, '-')}`;
      const result = (await a.call('tail_logs', { scope: 'live', since: '1m', follow_seconds: 5 }, token)) as Structured;
      expect(result.isError).toBeUndefined();
      const value = result.structuredContent ?? {};
      expect(value.followedSeconds).toBeGreaterThanOrEqual(4);
      const live = (value.entries as { insertId?: string }[]).filter((e) => e.insertId?.startsWith('live-') === true);
      expect(live.length).toBeGreaterThan(0);
      const mine = a.progress.filter((p) => p.progressToken === token);
      expect(mine[0]?.message).toBe('Policy allowed the call (test-live-tail)');
      // One notification per live batch, counting up, after the pipeline's own steps.
      const batches = mine.filter((p) => p.message?.includes('entries so far') === true);
      expect(batches.length).toBeGreaterThan(0);
      for (const p of batches) expect(p.message).toMatch(/^\d+ entries so far, last at \d{4}-\d\d-\d\dT\S+Z \(\d+ live\)$/);
      expect(mine.map((p) => p.progress)).toEqual(mine.map((_, i) => i + 1));
      expectNoRawValues(result);
      expectOneRecord(a, result, 'tail_logs', 'ok');
    });
  });
}
