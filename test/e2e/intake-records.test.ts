/**
 * Issue 21 ("every tools/call is audited"): a call that airlock screened must reach a handler, or be
 * recorded. The legacy SSE transport parses the Content-Type header again, more strictly than HTTP does
 * (`application/json;`, with an empty parameter, is JSON to one and an error to the other): airlock had
 * screened the call, and the transport then refused the POST with a bare 400 before any handler, leaving
 * the call without an answer in MCP terms and without an audit record. A real `airlock serve --http` and
 * the SDK's SSE client, whose requests carry that header.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { auditIdOf, auditRecord, CLI, readAudit, tempDir, writePolicy } from '../support/airlock.js';
import { exited, stopChild } from '../support/child.js';
import { startLocalGcs } from '../../src/connectors/local-gcs.js';
import { examplePolicy, startFaultServer, writeObjects } from '../support/fault-server.js';
import { until } from '../support/served.js';

/** fetch, with the Content-Type of every POST sent as `application/json;` (valid JSON to HTTP, odd to a strict parser). */
const oddContentType: typeof fetch = (input, init) => {
  if (init?.method !== 'POST') return fetch(input, init);
  const headers = new Headers(init.headers);
  headers.set('content-type', 'application/json;');
  return fetch(input, { ...init, headers });
};

describe('legacy SSE: a tools/call whose Content-Type has an empty parameter (issue 21)', () => {
  it('is served and audited, not refused by the transport after screening', async () => {
    const dir = tempDir();
    const server = await startFaultServer({ dir, policy: examplePolicy() });
    const client = new Client({ name: 'e2e-odd-content-type', version: '1.0.0' });
    try {
      await client.connect(new SSEClientTransport(new URL(`${server.url}/sse`), { fetch: oddContentType }));
      const result = await client.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT count(*)::int AS n FROM products' } });
      expect(result.isError).toBeUndefined();
      expect(auditRecord(server.auditDir, auditIdOf(result))).toMatchObject({ tool: 'query_sql', transport: 'sse', outcome: 'ok' });
      expect(readAudit(server.auditDir).filter((r) => r.tool === 'query_sql')).toHaveLength(1);
    } finally {
      await client.close().catch(() => undefined);
      await server.stop();
    }
  }, 60_000);
});

/** A 2025-era session (2025-11-25 unless asked) opened over plain HTTP requests; returns its id. */
async function openSession(url: string, version = '2025-11-25'): Promise<string> {
  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  const init = await fetch(`${url}/mcp`, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: version, capabilities: {}, clientInfo: { name: 'e2e-batch', version: '1' } } }) });
  await init.text();
  const sessionId = init.headers.get('mcp-session-id') ?? '';
  expect(sessionId).not.toBe('');
  const ready = await fetch(`${url}/mcp`, { method: 'POST', headers: { ...headers, 'mcp-session-id': sessionId, 'mcp-protocol-version': version }, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
  await ready.text();
  return sessionId;
}

describe('a tools/call refused after screening (review of issue 21)', () => {
  it('is recorded once, with its arguments as received, when its batch is refused on a 2025-11-25 session; not again as unserved', async () => {
    const dir = tempDir();
    const server = await startFaultServer({ dir, policy: examplePolicy() });
    try {
      const sessionId = await openSession(server.url);
      const batch = [{ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT 42 AS batch_marker' } } }];
      const refused = await fetch(`${server.url}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-11-25' },
        body: JSON.stringify(batch),
      });
      expect(refused.status).toBe(400);
      const answers = (await refused.json()) as { id: unknown; error?: { code: number; message: string } }[];
      expect(answers).toHaveLength(1);
      expect(answers[0]).toMatchObject({ id: 2, error: { code: -32600 } });
      // The ticket would expire a minute from now: stopping records every ticket still open, so an untaken
      // one would show up here as a second, unserved record.
      await server.stop();
      const records = readAudit(server.auditDir).filter((r) => r.tool === 'query_sql');
      expect(records).toHaveLength(1);
      expect(records[0]).toMatchObject({ transport: 'http', outcome: 'invalid', input: { connection: 'shop', sql: 'SELECT 42 AS batch_marker' } });
      expect(records[0]?.error?.code).not.toBe('UNSERVED');
    } finally {
      await server.stop();
    }
  }, 60_000);
});

describe('airlock serve --stdio: a tools/call the SDK refuses before any handler (review of issue 21)', () => {
  it('is recorded as unserved when airlock stops, as a stdio call of the caller, with its arguments', async () => {
    const dir = tempDir();
    const auditDir = join(dir, 'audit');
    const policyPath = writePolicy(dir);
    const child = spawn(process.execPath, [CLI, 'serve', '--stdio', '--policy', policyPath, '--audit-dir', auditDir, '--dev-identity', 'ana@example.com,analysts'], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', HOME: dir, DATABASE_URL: inject('databaseUrl') },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    try {
      let out = '';
      child.stderr.resume();
      child.stdout.on('data', (c: Buffer) => void (out += c.toString('utf8')));
      // A 2026-07-28 envelope without the client's capabilities: the SDK answers -32602 itself, after the
      // screen gave the call a ticket, and no handler ever takes it.
      const call = { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'whoami', arguments: { note: 'kept' }, _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } } };
      child.stdin.write(`${JSON.stringify(call)}\n`);
      const line = await until(() => out.split('\n').find((l) => l.includes('"id":7')), 'the answer to the call');
      expect(JSON.parse(line)).toMatchObject({ id: 7, error: { code: -32602 } });
      child.stdin.end();
      expect(await exited(child)).toEqual({ code: 0, signal: null });
      const records = readAudit(auditDir).filter((r) => r.tool === 'whoami');
      expect(records).toHaveLength(1);
      expect(records[0]).toMatchObject({
        transport: 'stdio',
        sessionId: '',
        principal: { sub: 'ana@example.com', groups: ['analysts'], dev: true },
        input: { note: 'kept' },
        outcome: 'error',
        error: { code: 'UNSERVED' },
      });
      expect(records[0]?.claimedSessionId).toMatch(/^[0-9a-f-]{36}$/);
    } finally {
      await stopChild(child);
    }
  }, 60_000);
});

describe('a batch with a request whose id is already in flight (review of issue 21)', () => {
  it('is refused whole: every request in it is answered and recorded once, none left to expire unserved', async () => {
    const root = tempDir('airlock-gcs-');
    writeObjects(root, 'airlock-demo-data', { 'app/logs/a.log': 'one line\n' });
    let reached = false;
    const gcs = await startLocalGcs({ root, faults: () => ((reached = true), { hang: true }) });
    const dir = tempDir();
    const server = await startFaultServer({ dir, policy: examplePolicy(), runtime: { storage: { endpoint: gcs.url } } });
    const hanging = new AbortController();
    try {
      // 2025-03-26 is the last revision that takes batches.
      const sessionId = await openSession(server.url, '2025-03-26');
      const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': sessionId, 'mcp-protocol-version': '2025-03-26' };
      const post = (body: unknown, signal?: AbortSignal): Promise<Response> => fetch(`${server.url}/mcp`, { method: 'POST', headers, body: JSON.stringify(body), ...(signal === undefined ? {} : { signal }) });
      const first = post({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'read_bucket', arguments: { bucket: 'data', action: 'read', object: 'app/logs/a.log' } } }, hanging.signal).catch(() => undefined);
      await until(() => reached, 'the first call to reach Cloud Storage');
      const batch = [
        { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT 2 AS dup_marker' } } },
        { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT 3 AS fresh_marker' } } },
      ];
      const refused = await post(batch);
      expect(refused.status).toBe(400);
      const answers = (await refused.json()) as { id: unknown; error?: { code: number } }[];
      expect(answers.map((a) => [a.id, a.error?.code])).toEqual([
        [2, -32600],
        [3, -32600],
      ]);
      hanging.abort();
      await first;
      await server.stop();
      const records = readAudit(server.auditDir).filter((r) => r.tool === 'query_sql');
      expect(records.map((r) => [r.input, r.outcome]).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))).toEqual([
        [{ connection: 'shop', sql: 'SELECT 2 AS dup_marker' }, 'invalid'],
        [{ connection: 'shop', sql: 'SELECT 3 AS fresh_marker' }, 'invalid'],
      ]);
    } finally {
      hanging.abort();
      await server.stop();
      await gcs.close();
    }
  }, 60_000);
});
