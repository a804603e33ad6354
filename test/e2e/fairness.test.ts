import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { AuditRecord } from '../../src/audit/record.js';
import type { ServeConfig } from '../../src/config.js';
import { startAirlock, type RunningAirlock } from '../../src/main.js';
import { auditIdOf, auditRecord, readAudit, tempDir, textOf } from '../support/airlock.js';
import { httpConfig, raw } from '../support/http.js';
import { startLocalIssuer, type LocalIssuer } from '../support/oidc-issuer.js';

const silent = (): void => undefined;
const resource = 'https://airlock.test/mcp';
const mcpHeaders = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

let idp: LocalIssuer;

beforeAll(async () => {
  process.env.DATABASE_URL = inject('databaseUrl');
  idp = await startLocalIssuer();
});

afterAll(async () => {
  await idp?.close();
});

const tokenFor = (sub: string): Promise<string> => idp.sign({ sub, aud: resource, email: `${sub}@example.com`, email_verified: true, groups: ['analysts'] });

interface Instance {
  readonly airlock: RunningAirlock;
  readonly base: string;
  readonly auditDir: string;
}

async function start(settings: Partial<ServeConfig>): Promise<Instance> {
  const dir = tempDir();
  const configPath = join(dir, 'airlock.json');
  writeFileSync(configPath, JSON.stringify({ identity: { issuers: [{ issuer: idp.issuer, audiences: [resource], groupsClaim: 'groups' }], resource, jwksCooldownSeconds: 0 } }));
  const airlock = await startAirlock(
    httpConfig(dir, { configPath, ...settings }),
    silent,
  );
  return { airlock, base: airlock.http?.url ?? '', auditDir: join(dir, 'audit') };
}

async function connectHttp(base: string, token: string): Promise<{ client: Client; close(): Promise<void> }> {
  const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
  const client = new Client({ name: 'fairness-e2e', version: '1.0.0' });
  await client.connect(transport);
  return {
    client,
    close: async () => {
      await transport.terminateSession().catch(() => undefined);
      await client.close();
    },
  };
}

async function connectSse(base: string, token: string): Promise<{ client: Client; close(): Promise<void> }> {
  const headers = { authorization: `Bearer ${token}` };
  const transport = new SSEClientTransport(new URL(`${base}/sse`), {
    requestInit: { headers },
    eventSourceInit: { fetch: (url, init) => fetch(url, { ...init, headers: { ...(init?.headers as Record<string, string>), ...headers } }) },
  });
  const client = new Client({ name: 'fairness-e2e-sse', version: '1.0.0' });
  await client.connect(transport);
  return { client, close: () => client.close() };
}


const initializeBody = JSON.stringify({
  jsonrpc: '2.0',
  id: 0,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
});

function errorCodeOf(result: unknown): string | undefined {
  return (result as { _meta?: { 'airlock/error'?: { code?: string } } })._meta?.['airlock/error']?.code;
}

/** Records of one principal with one error code. */
function recordsOf(auditDir: string, sub: string, code: string): AuditRecord[] {
  return readAudit(auditDir).filter((r) => r.principal?.sub === sub && r.error?.code === code);
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, attempts = 200): Promise<T> {
  for (let i = 0; i < attempts; i++) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`gave up waiting for ${what}`);
}

/** The test database as superuser (locks, pg_stat_activity). */
function adminClient(): pg.Client {
  const url = new URL(inject('adminUrl'));
  url.pathname = `/${new URL(inject('databaseUrl')).pathname.slice(1)}`;
  return new pg.Client({ connectionString: url.toString() });
}

describe('per-principal concurrency limit (issue 15)', () => {
  it('caps one principal\'s running calls with a short queue; the rest get TOO_MANY_CALLS (audited) and other principals run', async () => {
    const admin = adminClient();
    const monitor = adminClient();
    await admin.connect();
    await monitor.connect();
    let instance: Instance | undefined;
    const open: { close(): Promise<void> }[] = [];
    try {
      instance = await start({ maxConcurrentCalls: 2, callQueue: 1, callQueueMs: 300 });
      const { base, auditDir } = instance;
      // Slow reads without pg_sleep: the admin holds a lock every read of orders waits for.
      await admin.query('BEGIN');
      await admin.query('LOCK TABLE orders IN ACCESS EXCLUSIVE MODE');
      const ana = await connectHttp(base, await tokenFor('ana'));
      open.push(ana);
      const slow = { name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT count(*)::int AS n FROM orders' } };
      const running = [ana.client.callTool(slow), ana.client.callTool(slow)];
      await waitFor('two blocked reads', async () => {
        // Another connection: inside the locking transaction, pg_stat_activity is a snapshot.
        const { rows } = await monitor.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%FROM orders%'");
        return rows[0]?.n === 2 ? true : undefined;
      });

      // A third call waits in the queue, no slot frees, and it is refused with the public text and code.
      const queued = await ana.client.callTool(slow);
      expect(queued.isError).toBe(true);
      expect(errorCodeOf(queued)).toBe('TOO_MANY_CALLS');
      expect(textOf(queued)).toBe(
        `Too many calls in flight: at most 2 of your calls run at once, and none finished in time. The call was not run; wait for your running calls to finish and try again.\n[code: TOO_MANY_CALLS; audit id: ${auditIdOf(queued)}]`,
      );
      expect(auditRecord(auditDir, auditIdOf(queued))).toMatchObject({
        outcome: 'error',
        principal: { sub: 'ana' },
        tool: 'query_sql',
        error: { code: 'TOO_MANY_CALLS', detail: 'no slot freed within 300 ms (2 calls running for this principal)' },
      });

      // Two at once: one takes the queue's only place (and times out), the other finds it full.
      const pair = await Promise.all([ana.client.callTool(slow), ana.client.callTool({ name: 'whoami', arguments: {} })]);
      expect(pair.map(errorCodeOf)).toEqual(['TOO_MANY_CALLS', 'TOO_MANY_CALLS']);
      expect(pair.map((r) => auditRecord(auditDir, auditIdOf(r)).error?.detail).sort()).toEqual([
        '2 calls running and 1 waiting for this principal (queue full)',
        'no slot freed within 300 ms (2 calls running for this principal)',
      ]);

      // Other principals are not affected, on either transport.
      const bob = await connectSse(base, await tokenFor('bob'));
      open.push(bob);
      const bobs = await bob.client.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT count(*)::int AS n FROM customers' } });
      expect(bobs.isError).toBeFalsy();
      const carl = await connectHttp(base, await tokenFor('carl'));
      open.push(carl);
      expect((await carl.client.callTool({ name: 'whoami', arguments: {} })).isError).toBeFalsy();

      // Released: ana's running calls finish and her next call runs.
      await admin.query('COMMIT');
      for (const result of await Promise.all(running)) expect(result.structuredContent).toMatchObject({ rows: [[expect.any(Number)]] });
      expect((await ana.client.callTool(slow)).isError).toBeFalsy();
      // Exactly one record per refusal, under the caller.
      expect(recordsOf(auditDir, 'ana', 'TOO_MANY_CALLS')).toHaveLength(3);
      expect(readAudit(auditDir).filter((r) => r.error?.code === 'TOO_MANY_CALLS')).toHaveLength(3);
    } finally {
      await admin.query('ROLLBACK').catch(() => undefined);
      await admin.end();
      await monitor.end();
      for (const c of open) await c.close().catch(() => undefined);
      await instance?.airlock.close();
    }
  });
});

describe('HTTP session caps (issue 15)', () => {
  it('refuses sessions past the per-principal and total caps with a clear HTTP error and one audit record each', async () => {
    let instance: Instance | undefined;
    const open: { close(): Promise<void> }[] = [];
    try {
      instance = await start({ maxSessionsPerPrincipal: 2, maxSessions: 3 });
      const { base, auditDir } = instance;
      const ana = await tokenFor('ana');
      const first = await connectHttp(base, ana);
      open.push(first);
      open.push(await connectSse(base, ana));
      // A third session of ana's: Streamable HTTP initialize and GET /sse alike.
      const refused = await raw(`${base}/mcp`, { method: 'POST', headers: { ...mcpHeaders, authorization: `Bearer ${ana}` }, body: initializeBody });
      expect(refused.status).toBe(429);
      const message = (JSON.parse(refused.body) as { error: { message: string } }).error.message;
      const id = /audit id: ([0-9a-f-]{36})/.exec(message)?.[1] ?? '';
      expect(message).toBe(`Too many sessions: you already have 2 open sessions (the limit is 2). Close unused sessions (DELETE /mcp) or wait for idle ones to expire [code: TOO_MANY_SESSIONS; audit id: ${id}]`);
      expect(auditRecord(auditDir, id)).toMatchObject({ outcome: 'error', transport: 'http', tool: 'initialize', principal: { sub: 'ana' }, error: { code: 'TOO_MANY_SESSIONS', detail: 'per-principal session cap 2 reached' } });
      const sse = await raw(`${base}/sse`, { headers: { authorization: `Bearer ${ana}` } });
      expect(sse.status).toBe(429);
      expect(recordsOf(auditDir, 'ana', 'TOO_MANY_SESSIONS').map((r) => [r.transport, r.tool])).toEqual([
        ['http', 'initialize'],
        ['sse', 'GET /sse'],
      ]);

      // Another principal fills the last slot; the next one meets the total cap.
      open.push(await connectHttp(base, await tokenFor('bob')));
      const carl = await tokenFor('carl');
      const full = await raw(`${base}/mcp`, { method: 'POST', headers: { ...mcpHeaders, authorization: `Bearer ${carl}` }, body: initializeBody });
      expect(full.status).toBe(503);
      expect(full.headers['retry-after']).toBe('30');
      expect((JSON.parse(full.body) as { error: { message: string } }).error.message).toMatch(/^Too many sessions: the server has 3 open sessions \(its limit\); try again later \[code: TOO_MANY_SESSIONS; audit id: [0-9a-f-]{36}\]$/);
      expect(recordsOf(auditDir, 'carl', 'TOO_MANY_SESSIONS')).toMatchObject([{ error: { detail: 'total session cap 3 reached' } }]);

      // Ending a session frees its slot: carl gets in.
      await first.close();
      open.shift();
      const carlSession = await connectHttp(base, carl);
      open.push(carlSession);
      expect((await carlSession.client.callTool({ name: 'whoami', arguments: {} })).isError).toBeFalsy();
      expect(instance.airlock.http?.sessionCount()).toBe(3);
      // Refused initializes left no session behind and hold no slot.
      expect(readAudit(auditDir).filter((r) => r.error?.code === 'TOO_MANY_SESSIONS')).toHaveLength(3);
    } finally {
      for (const c of open) await c.close().catch(() => undefined);
      await instance?.airlock.close();
    }
  });
});

describe('unread SSE output (issue 15)', () => {
  it('drops a legacy SSE session whose client stops reading once its unread output passes the bound, and records it', async () => {
    let instance: Instance | undefined;
    let stream: IncomingMessage | undefined;
    try {
      instance = await start({ maxSessionBufferBytes: 64 * 1024 });
      const { base, auditDir } = instance;
      const token = await tokenFor('ana');
      // A raw SSE client: read the endpoint event, then stop reading.
      stream = await new Promise<IncomingMessage>((resolve, reject) => {
        request(`${base}/sse`, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } }, resolve).on('error', reject).end();
      });
      const s = stream;
      const endpoint = await new Promise<string>((resolve) => {
        let text = '';
        const onData = (c: Buffer): void => {
          text += c.toString();
          const match = /event: endpoint\ndata: (\S+)\n/.exec(text);
          if (match?.[1] !== undefined) {
            s.off('data', onData);
            s.pause();
            resolve(match[1]);
          }
        };
        s.on('data', onData);
      });
      const sessionId = new URL(endpoint, base).searchParams.get('sessionId') ?? '';
      const post = (id: number, body: unknown): Promise<{ status: number; body: string }> =>
        raw(`${base}${endpoint}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ jsonrpc: '2.0', id, ...(body as object) }) });
      expect((await post(0, { method: 'initialize', params: (JSON.parse(initializeBody) as { params: unknown }).params })).status).toBe(202);
      // Each result is ~400 KB; the socket buffers take some, then airlock's own buffer grows past the bound.
      const big = { method: 'tools/call', params: { name: 'query_sql', arguments: { connection: 'shop', sql: "SELECT repeat('x', 400000) AS big" } } };
      let calls = 0;
      const gone = await waitFor('the session to be dropped', async () => {
        calls++;
        const res = await post(calls, big);
        return res.status === 404 ? res.body : undefined;
      });
      expect((JSON.parse(gone) as { error: { message: string } }).error.message).toMatch(/^Session not found: open GET \/sse first \[audit id: [\w-]+\]$/);
      // Far fewer results than the 200 it would take without the bound were held.
      expect(calls).toBeLessThan(200);
      const dropped = await waitFor('the drop record', () => {
        const records = readAudit(auditDir).filter((r) => r.error?.code === 'SESSION_DROPPED');
        return records.length > 0 ? records : undefined;
      });
      expect(dropped).toHaveLength(1);
      expect(dropped[0]).toMatchObject({ transport: 'sse', sessionId, tool: 'GET /sse', outcome: 'error', principal: { sub: 'ana' }, error: { message: 'Session dropped: its client stopped reading' } });
      expect(dropped[0]?.error?.detail).toMatch(/^\d+ bytes of output unread \(limit 65536\)$/);
      expect(instance.airlock.http?.sessionCount()).toBe(0);
    } finally {
      stream?.destroy();
      await instance?.airlock.close();
    }
  });
});

describe('audited input size (issue 15)', () => {
  it('keeps oversized argument strings as sha256 + prefix, marked, while the call runs on the full input', async () => {
    let instance: Instance | undefined;
    let session: { client: Client; close(): Promise<void> } | undefined;
    try {
      instance = await start({ auditMaxValueBytes: 1024, auditMaxInputBytes: 8192 });
      const { base, auditDir } = instance;
      session = await connectHttp(base, await tokenFor('ana'));
      const sha = (text: string): string => createHash('sha256').update(text).digest('hex');

      // A long statement: the call runs on all of it (the result proves the end of the text was read).
      const sql = `SELECT 'head' AS a, '${'y'.repeat(45_000)}' = '${'y'.repeat(45_000)}' AS same, 'tail' AS z`;
      const ok = await session.client.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql } });
      expect(ok.structuredContent).toMatchObject({ rows: [['head', true, 'tail']] });
      const record = auditRecord(auditDir, auditIdOf(ok));
      expect(record.input).toEqual({ connection: 'shop', sql: { $truncated: true, sha256: sha(sql), bytes: sql.length, prefix: sql.slice(0, 1024) } });
      expect(JSON.stringify(record).length).toBeLessThan(30_000);

      // A refused call (bad arguments) with a long value and a long key: both cut, the rest kept.
      const longKey = 'k'.repeat(5000);
      const bad = await session.client.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql: 42, [longKey]: 'v', note: 'é'.repeat(3000) } });
      expect(errorCodeOf(bad)).toBe('INVALID_INPUT');
      const badInput = auditRecord(auditDir, auditIdOf(bad)).input as Record<string, unknown>;
      expect(badInput.sql).toBe(42);
      expect(badInput.note).toEqual({ $truncated: true, sha256: sha('é'.repeat(3000)), bytes: 6000, prefix: 'é'.repeat(512) });
      expect(Object.keys(badInput)).toContain(`${'k'.repeat(256)}…[sha256:${sha(longKey)}]`);

      // Many short values that add up: the whole input is kept as the digest of its JSON and a prefix.
      const many = { connection: 'shop', sql: 'SELECT 1 AS one', params: Array.from({ length: 3000 }, (_, i) => `p${i}`) };
      const manyResult = await session.client.callTool({ name: 'query_sql', arguments: many });
      const manyInput = auditRecord(auditDir, auditIdOf(manyResult)).input as { $truncated: boolean; sha256: string; bytes: number; prefix: string };
      const json = JSON.stringify(many);
      expect(manyInput).toEqual({ $truncated: true, sha256: sha(json), bytes: json.length, prefix: json.slice(0, 8192) });

      // Small inputs are kept as they came.
      const small = await session.client.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT 1 AS one' } });
      expect(auditRecord(auditDir, auditIdOf(small)).input).toEqual({ connection: 'shop', sql: 'SELECT 1 AS one' });
    } finally {
      await session?.close();
      await instance?.airlock.close();
    }
  });
});
