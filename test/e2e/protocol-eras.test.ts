/**
 * One airlock for 2025-era and 2026-07-28 clients (issue 16): the v1 client (2025-11-25) and the v2 client
 * (auto and pinned 2026-07-28) over stdio and Streamable HTTP, raw 2025-06-18 and 2025-03-26 sessions, the
 * bearer gate on both eras, sessions that end when the client goes, and the audit's protocol field.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { request, type ClientRequest } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client as ClientV2, StreamableHTTPClientTransport as HttpTransportV2 } from '@modelcontextprotocol/client';
import { StdioClientTransport as StdioTransportV2 } from '@modelcontextprotocol/client/stdio';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startAirlock, type RunningAirlock } from '../../src/main.js';
import { auditIdOf, auditRecord, CLI, readAudit, tempDir, textOf, writePolicy } from '../support/airlock.js';
import { httpConfig, raw, type RawResponse } from '../support/http.js';
import { startLocalIssuer, type LocalIssuer } from '../support/oidc-issuer.js';

const MODERN = '2026-07-28';
const mcpHeaders = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

/** The headers a 2026-07-28 client sends with a tools/call (the transport checks them against the body). */
function modernHeaders(tool: string): Record<string, string> {
  return { ...mcpHeaders, 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': tool };
}
const whoami = { name: 'whoami', arguments: {} };

/** The per-request `_meta` envelope a 2026-07-28 client puts on every request. */
function envelope(): Record<string, unknown> {
  return {
    'io.modelcontextprotocol/protocolVersion': MODERN,
    'io.modelcontextprotocol/clientInfo': { name: 'raw-2026', version: '1.0.0' },
    'io.modelcontextprotocol/clientCapabilities': {},
  };
}

function modernCall(id: number, params: { name: string; arguments: unknown }): string {
  return JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { ...params, _meta: envelope() } });
}

async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('stdio serves both eras from one process (issue 16)', () => {
  const dir = tempDir();
  const auditDir = join(dir, 'audit');
  const args = [CLI, 'serve', '--stdio', '--policy', writePolicy(dir), '--audit-dir', auditDir, '--dev-identity', 'ana@example.com,analysts'];
  const env = (): Record<string, string> => ({ PATH: process.env.PATH ?? '', DATABASE_URL: inject('databaseUrl') });

  it('negotiates 2026-07-28 with a v2 client in auto mode and audits the call with that protocol and no session id', async () => {
    const client = new ClientV2({ name: 'v2-auto', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
    try {
      await client.connect(new StdioTransportV2({ command: process.execPath, args, env: env(), cwd: dir, stderr: 'ignore' }));
      expect(client.getNegotiatedProtocolVersion()).toBe(MODERN);
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toEqual(['query_sql', 'read_bucket', 'tail_logs', 'list_resources', 'explain_policy', 'whoami', 'approval_status']);
      const result = await client.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT name, card_number FROM customers WHERE id = $1', params: [1] } });
      expect(result.structuredContent).toMatchObject({ rows: [['Ana Silva', '[MASKED]']] });
      expect(auditRecord(auditDir, auditIdOf(result))).toMatchObject({ transport: 'stdio', protocol: MODERN, outcome: 'ok', principal: { email: 'ana@example.com', dev: true } });
    } finally {
      await client.close();
    }
  });

  it('serves a v2 client pinned to 2026-07-28', async () => {
    const client = new ClientV2({ name: 'v2-pinned', version: '1.0.0' }, { versionNegotiation: { mode: { pin: MODERN } } });
    try {
      await client.connect(new StdioTransportV2({ command: process.execPath, args, env: env(), cwd: dir, stderr: 'ignore' }));
      expect(client.getNegotiatedProtocolVersion()).toBe(MODERN);
      const result = await client.callTool(whoami);
      expect(textOf(result)).toContain('ana@example.com');
      expect(auditRecord(auditDir, auditIdOf(result))).toMatchObject({ transport: 'stdio', protocol: MODERN, tool: 'whoami', outcome: 'ok' });
    } finally {
      await client.close();
    }
  });

  it('serves the v1 client on 2025-11-25 with the same identity, and audits that protocol', async () => {
    const client = new Client({ name: 'v1', version: '1.0.0' });
    try {
      await client.connect(new StdioClientTransport({ command: process.execPath, args, env: env(), cwd: dir, stderr: 'ignore' }));
      const result = await client.callTool(whoami);
      expect(textOf(result)).toContain('ana@example.com');
      const record = auditRecord(auditDir, auditIdOf(result));
      expect(record).toMatchObject({ transport: 'stdio', protocol: '2025-11-25', tool: 'whoami', outcome: 'ok', principal: { email: 'ana@example.com' } });
      expect(record.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    } finally {
      await client.close();
    }
  });
});

describe('Streamable HTTP on one /mcp for both eras, behind the bearer gate (issue 16)', () => {
  let idp: LocalIssuer;
  let airlock: RunningAirlock;
  let dir: string;
  let base: string;
  const logs: string[] = [];
  const resource = 'https://airlock.test/mcp';
  const audit = (): ReturnType<typeof readAudit> => readAudit(join(dir, 'audit'));
  const analyst = (): Promise<string> => idp.sign({ sub: 'ana', aud: resource, email: 'ana@example.com', email_verified: true, groups: ['analysts'] });
  const other = (): Promise<string> => idp.sign({ sub: 'bob', aud: resource, email: 'bob@example.com', email_verified: true, groups: ['analysts'] });

  beforeAll(async () => {
    process.env.DATABASE_URL = inject('databaseUrl');
    idp = await startLocalIssuer();
    dir = tempDir();
    const configPath = join(dir, 'airlock.json');
    writeFileSync(configPath, JSON.stringify({ identity: { issuers: [{ issuer: idp.issuer, audiences: [resource], groupsClaim: 'groups' }], resource, jwksCooldownSeconds: 0 } }));
    airlock = await startAirlock(httpConfig(dir, { configPath, logLevel: 'info' }), (_level: string, line: string) => logs.push(line));
    base = airlock.http?.url ?? '';
  });

  afterAll(async () => {
    try {
      await airlock?.close();
    } finally {
      await idp?.close();
    }
  });

  const v2Client = async (mode: 'auto' | 'pin', token: string): Promise<ClientV2> => {
    const client = new ClientV2({ name: `v2-${mode}`, version: '1.0.0' }, { versionNegotiation: { mode: mode === 'auto' ? 'auto' : { pin: MODERN } } });
    await client.connect(new HttpTransportV2(new URL(`${base}/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
    return client;
  };

  for (const mode of ['pin', 'auto'] as const) {
    it(`serves a v2 client (${mode === 'pin' ? 'pinned to 2026-07-28' : 'auto mode'}) statelessly: calls run as the verified principal, audited with protocol 2026-07-28 and no session`, async () => {
      const client = await v2Client(mode, await analyst());
      try {
        expect(client.getNegotiatedProtocolVersion()).toBe(MODERN);
        const result = await client.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT id, card_number FROM customers ORDER BY id LIMIT 1' } });
        expect(result.structuredContent).toMatchObject({ rows: [[1, '[MASKED]']] });
        expect(auditRecord(join(dir, 'audit'), auditIdOf(result))).toMatchObject({
          transport: 'http',
          protocol: MODERN,
          sessionId: '',
          outcome: 'ok',
          principal: { sub: 'ana', email: 'ana@example.com', dev: false },
          client: { name: `v2-${mode}`, version: '1.0.0' },
        });
        // 2026-07-28 opens no session on the server.
        expect(airlock.http?.sessionCount()).toBe(0);
      } finally {
        await client.close();
      }
    });
  }

  it('replays 2026-07-28 calls, which have no session, by principal and client program (airlock audit replay --principal --client)', async () => {
    const client = await v2Client('pin', await analyst());
    const ids: string[] = [];
    try {
      for (const sql of ['SELECT 1 AS one', 'SELECT 2 AS two']) ids.push(auditIdOf(await client.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql } })));
    } finally {
      await client.close();
    }
    const run = promisify(execFile);
    const replay = async (...args: string[]): Promise<{ id: string; sessionId: string; client?: { name: string } }[]> =>
      JSON.parse((await run(process.execPath, [CLI, 'audit', 'replay', '--audit-dir', join(dir, 'audit'), '--format', 'json', ...args])).stdout) as { id: string; sessionId: string; client?: { name: string } }[];
    const mine = await replay('--principal', 'ana@example.com', '--client', 'v2-pin', '--since', '10m');
    expect(mine.map((r) => r.id)).toEqual(expect.arrayContaining(ids));
    expect(mine.every((r) => r.sessionId === '' && r.client?.name === 'v2-pin')).toBe(true);
    // Nothing matches: an empty timeline and exit code 1.
    await expect(replay('--principal', 'bob@example.com', '--client', 'v2-pin')).rejects.toMatchObject({ code: 1, stdout: '[]\n' });
    // One of the two: a session or a principal.
    await expect(run(process.execPath, [CLI, 'audit', 'replay', '--audit-dir', join(dir, 'audit'), '--session', 'x', '--principal', 'ana'])).rejects.toMatchObject({ code: 2 });
    await expect(run(process.execPath, [CLI, 'audit', 'replay', '--audit-dir', join(dir, 'audit'), '--client', 'v2-pin'])).rejects.toMatchObject({ code: 2 });
  });

  it('refuses a 2026-07-28 request without a token with 401 and the challenge, audited once under no principal', async () => {
    const res = await raw(`${base}/mcp`, { method: 'POST', headers: modernHeaders('whoami'), body: modernCall(3, whoami) });
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="airlock", resource_metadata="https://airlock.test/.well-known/oauth-protected-resource/mcp"');
    const message = (JSON.parse(res.body) as { error: { message: string } }).error.message;
    const id = /audit id: ([0-9a-f-]{36})/.exec(message)?.[1] ?? '';
    expect(message).toBe(`Unauthorized: a bearer token is required [code: UNAUTHENTICATED; audit id: ${id}]`);
    expect(audit().filter((r) => r.id === id)).toMatchObject([{ outcome: 'unauthenticated', tool: 'whoami', principal: null }]);
    // The v2 client sees the refusal as a failed connect, not as a served call.
    await expect(v2Client('pin', 'not-a-token')).rejects.toThrow();
  });

  it('screens 2026-07-28 requests like any other: a malformed call is answered with a JSON-RPC error and audited under the caller', async () => {
    const res = await raw(`${base}/mcp`, {
      method: 'POST',
      headers: { ...modernHeaders('whoami'), authorization: `Bearer ${await other()}` },
      body: modernCall(4, { name: 'whoami', arguments: null }),
    });
    const answer = JSON.parse(res.body.replace(/^[\s\S]*?data: /, '').split('\n')[0] ?? '') as { id: number; result: { isError: boolean; content: { text: string }[] } };
    expect(answer.id).toBe(4);
    expect(answer.result.isError).toBe(true);
    const id = /audit id: ([0-9a-f-]{36})/.exec(answer.result.content[0]?.text ?? '')?.[1] ?? '';
    expect(audit().filter((r) => r.id === id)).toMatchObject([{ outcome: 'invalid', protocol: MODERN, sessionId: '', principal: { sub: 'bob' }, error: { code: 'INVALID_INPUT' } }]);
  });

  it('serves the v1 client on 2025-11-25 beside them, in a session, and audits that protocol and session', async () => {
    const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { requestInit: { headers: { authorization: `Bearer ${await analyst()}` } } });
    const client = new Client({ name: 'v1', version: '1.0.0' });
    await client.connect(transport);
    try {
      const result = await client.callTool(whoami);
      expect(auditRecord(join(dir, 'audit'), auditIdOf(result))).toMatchObject({ transport: 'http', protocol: '2025-11-25', sessionId: transport.sessionId, principal: { sub: 'ana' }, client: { name: 'v1', version: '1.0.0' } });
    } finally {
      await transport.terminateSession();
      await client.close();
    }
  });

  for (const version of ['2025-06-18', '2025-03-26']) {
    it(`serves a raw ${version} session and audits its protocol`, async () => {
      const headers = { ...mcpHeaders, authorization: `Bearer ${await analyst()}` };
      const init = await raw(`${base}/mcp`, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: version, capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }) });
      expect(init.status).toBe(200);
      expect(init.body).toContain(`"protocolVersion":"${version}"`);
      const session = { ...headers, 'mcp-session-id': String(init.headers['mcp-session-id']), 'mcp-protocol-version': version };
      try {
        await raw(`${base}/mcp`, { method: 'POST', headers: session, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
        const call = await raw(`${base}/mcp`, { method: 'POST', headers: session, body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: whoami }) });
        const id = /"auditId":"([0-9a-f-]{36})"/.exec(call.body)?.[1] ?? '';
        expect(audit().filter((r) => r.id === id)).toMatchObject([{ protocol: version, sessionId: session['mcp-session-id'], outcome: 'ok' }]);
      } finally {
        await raw(`${base}/mcp`, { method: 'DELETE', headers: session });
      }
    });
  }

  it('shows open sessions per era on /healthz', async () => {
    const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { requestInit: { headers: { authorization: `Bearer ${await analyst()}` } } });
    const client = new Client({ name: 'v1', version: '1.0.0' });
    await client.connect(transport);
    try {
      const health = JSON.parse((await raw(`${base}/healthz`)).body) as Record<string, unknown>;
      expect(health).toMatchObject({ status: 'ok', sessions: 1, eras: { '2025': { sessions: 1, http: 1, sse: 0, byVersion: { '2025-11-25': 1 } }, [MODERN]: { sessions: 0, inFlight: 0 } } });
    } finally {
      await transport.terminateSession();
      await client.close();
    }
  });

  it('logs the protocol errors the SDK reports (a request naming a revision airlock does not serve)', async () => {
    const body = JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/list', params: { _meta: { ...envelope(), 'io.modelcontextprotocol/protocolVersion': '2099-01-01' } } });
    const res = await raw(`${base}/mcp`, { method: 'POST', headers: { ...mcpHeaders, authorization: `Bearer ${await analyst()}` }, body });
    expect((JSON.parse(res.body) as { error: { code: number } }).error.code).toBe(-32022);
    expect(logs.join('\n')).toMatch(/http \(2026-07-28\): .*2099-01-01/);
  });
});

describe('sessions end when the client goes (issue 16)', () => {
  let airlock: RunningAirlock;
  let base: string;

  beforeAll(async () => {
    process.env.DATABASE_URL = inject('databaseUrl');
    airlock = await startAirlock(httpConfig(tempDir(), { devIdentity: 'ana@example.com,analysts' }), () => undefined);
    base = airlock.http?.url ?? '';
  });

  afterAll(async () => {
    await airlock?.close();
  });

  const health = async (): Promise<{ sessions: number }> => JSON.parse((await raw(`${base}/healthz`)).body) as { sessions: number };

  it('ends a Streamable HTTP session at once on DELETE', async () => {
    const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`));
    const client = new Client({ name: 'v1', version: '1.0.0' });
    await client.connect(transport);
    try {
      expect(airlock.http?.sessionCount()).toBe(1);
      await transport.terminateSession();
      expect(airlock.http?.sessionCount()).toBe(0);
      expect(await health()).toMatchObject({ sessions: 0 });
    } finally {
      await client.close();
    }
  });

  it('ends a Streamable HTTP session when its client closes the GET stream (no DELETE)', async () => {
    const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`));
    const client = new Client({ name: 'v1', version: '1.0.0' });
    await client.connect(transport);
    const sessionId = transport.sessionId ?? '';
    // The client opens its GET stream after initialization.
    await client.callTool(whoami);
    expect(airlock.http?.sessionCount()).toBe(1);
    await client.close();
    await until(() => airlock.http?.sessionCount() === 0, 'the session to end');
    const after = await raw(`${base}/mcp`, { method: 'POST', headers: { ...mcpHeaders, 'mcp-session-id': sessionId }, body: JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'tools/list' }) });
    expect(after.status).toBe(404);
  });

  it('ends a legacy SSE session when its stream closes, and frees its slot', async () => {
    const transport = new SSEClientTransport(new URL(`${base}/sse`));
    const client = new Client({ name: 'v1-sse', version: '1.0.0' });
    await client.connect(transport);
    await client.callTool(whoami);
    expect(airlock.http?.sessionCount()).toBe(1);
    await client.close();
    await until(() => airlock.http?.sessionCount() === 0, 'the SSE session to end');
  });
});

describe('defects of the 2025 HTTP path the move does not carry over (issue 16)', () => {
  let airlock: RunningAirlock;
  let base: string;
  let dir: string;
  const admin = new pg.Client({ connectionString: inject('adminUrl') });
  const audit = (): ReturnType<typeof readAudit> => readAudit(join(dir, 'audit'));

  beforeAll(async () => {
    process.env.DATABASE_URL = inject('databaseUrl');
    dir = tempDir();
    airlock = await startAirlock(httpConfig(dir, { devIdentity: 'ana@example.com,analysts' }), () => undefined);
    base = airlock.http?.url ?? '';
    await admin.connect();
  });

  afterAll(async () => {
    try {
      await admin.end();
    } finally {
      await airlock?.close();
    }
  });

  const active = async (tag: string): Promise<number> =>
    (await admin.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'active' AND query LIKE $1 AND pid <> pg_backend_pid()", [`%${tag}%`])).rows[0]?.n ?? -1;
  const slow = (tag: string): { name: string; arguments: unknown } => ({ name: 'query_sql', arguments: { connection: 'shop', sql: `SELECT count(*) AS ${tag} FROM generate_series(1, 3000000000)` } });
  const recordOf = (tool: string, tag: string): ReturnType<typeof readAudit>[number] | undefined =>
    audit().find((r) => r.tool === tool && JSON.stringify(r.input).includes(tag) && r.outcome !== 'invalid');

  /** A 2025-11-25 session opened with raw requests; returns its headers. */
  const openSession = async (version = '2025-11-25'): Promise<Record<string, string>> => {
    const init = await raw(`${base}/mcp`, { method: 'POST', headers: mcpHeaders, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: version, capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }) });
    const session = { ...mcpHeaders, 'mcp-session-id': String(init.headers['mcp-session-id']), 'mcp-protocol-version': version };
    await raw(`${base}/mcp`, { method: 'POST', headers: session, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
    return session;
  };

  /** A POST left open: resolves with the response once it ends; `req` aborts it. */
  const openPost = (headers: Record<string, string>, body: string): { req: ClientRequest; done: Promise<RawResponse> } => {
    let req!: ClientRequest;
    const done = new Promise<RawResponse>((resolve, reject) => {
      req = request(`${base}/mcp`, { method: 'POST', headers }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
    return { req, done };
  };

  it('refuses a second request with an id already in flight on the session, audited; the first call still answers', async () => {
    const session = await openSession();
    const tag = 'dup_id_e2e_7713';
    const first = openPost(session, JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: slow(tag) }));
    try {
      await until(async () => (await active(tag)) === 1, 'the first call to run');
      const dup = await raw(`${base}/mcp`, { method: 'POST', headers: session, body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: whoami }) });
      expect(dup.status).toBe(400);
      const answer = JSON.parse(dup.body) as { id: unknown; error: { code: number; message: string } };
      expect(answer.id).toBe(7);
      expect(answer.error.code).toBe(-32600);
      expect(answer.error.message).toMatch(/^Invalid request: id: a request with id 7 is already in flight on this session; use a new id \[code: INVALID_INPUT; audit id: [0-9a-f-]{36}\]$/);
      const id = /audit id: ([0-9a-f-]{36})/.exec(answer.error.message)?.[1] ?? '';
      expect(audit().filter((r) => r.id === id)).toMatchObject([{ tool: 'whoami', outcome: 'invalid', sessionId: session['mcp-session-id'], principal: { email: 'ana@example.com' } }]);
      // A string id "7" is another id.
      const other = await raw(`${base}/mcp`, { method: 'POST', headers: session, body: JSON.stringify({ jsonrpc: '2.0', id: '7', method: 'tools/call', params: whoami }) });
      expect(other.status).toBe(200);
      expect(other.body).toContain('"id":"7"');
      // Cancel the first: its POST stream closes, its record says cancelled.
      await raw(`${base}/mcp`, { method: 'POST', headers: session, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 7, reason: 'test' } }) });
      const ended = await first.done;
      expect(ended.status).toBe(200);
      await until(() => recordOf('query_sql', tag) !== undefined, 'the cancelled record');
      expect(recordOf('query_sql', tag)).toMatchObject({ outcome: 'cancelled', error: { code: 'CANCELLED' } });
      expect(await active(tag)).toBe(0);
      // Once answered (here: cancelled), the id may be used again.
      const again = await raw(`${base}/mcp`, { method: 'POST', headers: session, body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: whoami }) });
      expect(again.status).toBe(200);
    } finally {
      first.req.destroy();
      await raw(`${base}/mcp`, { method: 'DELETE', headers: session });
    }
  });

  it('cancels the statement when a 2025 Streamable HTTP client disconnects mid-call, and audits it as cancelled', async () => {
    const session = await openSession();
    const tag = 'gone_2025_e2e_4410';
    const call = openPost(session, JSON.stringify({ jsonrpc: '2.0', id: 11, method: 'tools/call', params: slow(tag) }));
    call.done.catch(() => undefined);
    try {
      await until(async () => (await active(tag)) === 1, 'the call to run');
      call.req.destroy();
      await until(() => recordOf('query_sql', tag) !== undefined, 'the record');
      expect(recordOf('query_sql', tag)).toMatchObject({ outcome: 'cancelled', error: { code: 'CANCELLED' }, protocol: '2025-11-25', sessionId: session['mcp-session-id'] });
      await until(async () => (await active(tag)) === 0, 'the statement to stop');
    } finally {
      await raw(`${base}/mcp`, { method: 'DELETE', headers: session });
    }
  });

  it('cancels the statement when a 2026-07-28 client disconnects mid-call, and audits it as cancelled', async () => {
    const tag = 'gone_2026_e2e_5120';
    const call = openPost(modernHeaders('query_sql'), modernCall(12, slow(tag)));
    call.done.catch(() => undefined);
    await until(async () => (await active(tag)) === 1, 'the call to run');
    call.req.destroy();
    await until(() => recordOf('query_sql', tag) !== undefined, 'the record');
    expect(recordOf('query_sql', tag)).toMatchObject({ outcome: 'cancelled', error: { code: 'CANCELLED' }, protocol: MODERN, sessionId: '' });
    await until(async () => (await active(tag)) === 0, 'the statement to stop');
  });

  it('refuses JSON-RPC batches on 2025-06-18 and later (each request answered and audited), and serves them on 2025-03-26', async () => {
    const batch = JSON.stringify([
      { jsonrpc: '2.0', id: 21, method: 'tools/list' },
      { jsonrpc: '2.0', id: 22, method: 'tools/call', params: whoami },
    ]);
    for (const version of ['2025-11-25', '2025-06-18']) {
      const session = await openSession(version);
      try {
        const res = await raw(`${base}/mcp`, { method: 'POST', headers: session, body: batch });
        expect(res.status).toBe(400);
        expect(res.headers['content-type']).toBe('application/json');
        const answers = JSON.parse(res.body) as { id: unknown; error: { code: number; message: string } }[];
        expect(answers.map((a) => [a.id, a.error.code])).toEqual([[21, -32600], [22, -32600]]);
        expect(answers[1]?.error.message).toContain(`JSON-RPC batches are not accepted on protocol ${version} and later; send one message per request`);
        for (const a of answers) {
          const id = /audit id: ([0-9a-f-]{36})/.exec(a.error.message)?.[1] ?? '';
          expect(audit().filter((r) => r.id === id)).toHaveLength(1);
        }
      } finally {
        await raw(`${base}/mcp`, { method: 'DELETE', headers: session });
      }
    }
    const old = await openSession('2025-03-26');
    try {
      const res = await raw(`${base}/mcp`, { method: 'POST', headers: old, body: batch });
      expect(res.status).toBe(200);
      expect(res.body).toContain('"id":21');
      expect(res.body).toContain('"id":22');
    } finally {
      await raw(`${base}/mcp`, { method: 'DELETE', headers: old });
    }
  });

  it('answers SSE messages with a wrong content type with a JSON-RPC error (not text/plain), audited', async () => {
    // A raw SSE stream: its first event names the session's message endpoint.
    let stream!: ClientRequest;
    const endpoint = await new Promise<string>((resolve, reject) => {
      stream = request(`${base}/sse`, { headers: { accept: 'text/event-stream' } }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => {
          text += c.toString();
          const found = /event: endpoint\ndata: (\S+)/.exec(text);
          if (found?.[1] !== undefined) resolve(found[1]);
        });
      });
      stream.on('error', reject);
      stream.end();
    });
    const sessionId = new URL(endpoint, base).searchParams.get('sessionId') ?? '';
    try {
      const res = await raw(`${base}${endpoint}`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ jsonrpc: '2.0', id: 31, method: 'tools/list' }) });
      expect(res.status).toBe(415);
      expect(res.headers['content-type']).toBe('application/json');
      const answer = JSON.parse(res.body) as { id: unknown; error: { code: number; message: string } };
      expect(answer.id).toBeNull();
      expect(answer.error.code).toBe(-32600);
      expect(answer.error.message).toMatch(/^Invalid request: body: Content-Type must be application\/json \[code: INVALID_INPUT; audit id: [0-9a-f-]{36}\]$/);
      const id = /audit id: ([0-9a-f-]{36})/.exec(answer.error.message)?.[1] ?? '';
      expect(audit().filter((r) => r.id === id)).toMatchObject([{ transport: 'sse', outcome: 'invalid', sessionId }]);
    } finally {
      stream.destroy();
    }
  });
});
