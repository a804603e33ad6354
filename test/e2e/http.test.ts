import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ServeConfig } from '../../src/config.js';
import { startAirlock, type RunningAirlock } from '../../src/main.js';
import { auditIdOf, auditRecord, tempDir, textOf } from '../support/airlock.js';
import { httpConfig, raw } from '../support/http.js';

const silent = (): void => undefined;

function config(dir: string, overrides: Partial<ServeConfig> = {}): ServeConfig {
  return httpConfig(dir, { devIdentity: 'ana@example.com,analysts', maxBodyBytes: 64 * 1024, ...overrides });
}


const callArgs = { connection: 'shop', sql: 'SELECT id, card_number FROM customers ORDER BY id LIMIT 2' };

let airlock: RunningAirlock;
let dir: string;
let base: string;

beforeAll(async () => {
  process.env.DATABASE_URL = inject('databaseUrl');
  dir = tempDir();
  airlock = await startAirlock(config(dir), silent);
  base = airlock.http?.url ?? '';
});

afterAll(async () => {
  await airlock?.close();
});

describe('airlock serve --http: Streamable HTTP', () => {
  it('serves tools/list and governed calls on /mcp with a stateful session', async () => {
    const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`));
    const client = new Client({ name: 'e2e-http', version: '1.0.0' });
    await client.connect(transport);
    try {
      expect(transport.sessionId).toMatch(/^[0-9a-f-]{36}$/);
      expect((await client.listTools()).tools.map((t) => t.name)).toEqual(['query_sql', 'read_bucket', 'tail_logs', 'list_resources', 'explain_policy', 'whoami', 'approval_status']);
      const result = await client.callTool({ name: 'query_sql', arguments: callArgs });
      expect(result.structuredContent).toMatchObject({ rows: [[1, '[MASKED]'], [2, '[MASKED]']], masked: ['card_number'] });
      expect(auditRecord(`${dir}/audit`, auditIdOf(result))).toMatchObject({
        transport: 'http',
        sessionId: transport.sessionId,
        outcome: 'ok',
        devIdentity: true,
      });
    } finally {
      await transport.terminateSession();
      await client.close();
    }
  });

  it('answers /healthz with the policy version', async () => {
    const res = await raw(`${base}/healthz`, {});
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ status: 'ok', policyVersion: airlock.policy().version });
  });

  it('refuses a foreign Host header (DNS rebinding) with a JSON-RPC error (http:dns-rebinding)', async () => {
    const res = await raw(`${base}/mcp`, { method: 'POST', headers: { host: 'attacker.example:80', 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body)).toEqual({
      jsonrpc: '2.0',
      error: { code: -32000, message: 'Forbidden: Host header "attacker.example:80" is not allowed (DNS rebinding protection; see --allowed-host)' },
      id: null,
    });
  });

  it('refuses a foreign Origin', async () => {
    const res = await raw(`${base}/healthz`, { headers: { origin: 'http://attacker.example' } });
    expect(res.status).toBe(403);
    expect((JSON.parse(res.body) as { error: { message: string } }).error.message).toBe('Forbidden: Origin "http://attacker.example" is not allowed (see --allowed-origin)');
  });

  it('answers an over-large body with a JSON-RPC error, not an HTML 413', async () => {
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'query_sql', arguments: { sql: 'x'.repeat(70 * 1024) } } });
    const res = await raw(`${base}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body,
    });
    expect(res.status).toBe(413);
    const answer = JSON.parse(res.body) as { jsonrpc: string; id: unknown; error: { code: number; message: string } };
    expect(answer).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32600 } });
    expect(answer.error.message).toMatch(/^Invalid request: body: too large: the limit is 65536 bytes \(--max-body-bytes\); it was not read \[code: INVALID_INPUT; audit id: [0-9a-f-]{36}\]$/);
  });

  it('refuses a request with an unknown session id', async () => {
    const res = await raw(`${base}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': 'nope' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(res.status).toBe(404);
    expect((JSON.parse(res.body) as { error: { message: string } }).error.message).toMatch(/^Session not found: start a new session with an initialize request \[audit id: [0-9a-f-]{36}\]$/);
  });
});

describe('airlock serve --http: legacy SSE', () => {
  it('serves governed calls over GET /sse + POST /messages on the same port', async () => {
    const transport = new SSEClientTransport(new URL(`${base}/sse`));
    const client = new Client({ name: 'e2e-sse', version: '1.0.0' });
    await client.connect(transport);
    try {
      const result = await client.callTool({ name: 'query_sql', arguments: callArgs });
      expect(textOf(result)).toContain('[MASKED]');
      const denied = await client.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql: 'TRUNCATE orders' } });
      expect(denied.isError).toBe(true);
      expect(auditRecord(`${dir}/audit`, auditIdOf(result))).toMatchObject({ transport: 'sse', outcome: 'ok' });
      expect(auditRecord(`${dir}/audit`, auditIdOf(denied))).toMatchObject({ transport: 'sse', outcome: 'denied' });
    } finally {
      await client.close();
    }
  });
});

describe('HTTP session lifecycle and identity', () => {
  it('keeps idle connections open for --keep-alive-seconds, so a load balancer\'s reused connection is not closed under it (issue 21)', async () => {
    // Node announces its idle timeout in every keep-alive answer: the header is what the server does.
    expect((await raw(`${base}/healthz`, { headers: { connection: 'keep-alive' } })).headers['keep-alive']).toBe('timeout=5');
    const d = tempDir();
    const behindBalancer = await startAirlock(config(d, { keepAliveMs: 620_000 }), silent);
    try {
      const answer = await raw(`${behindBalancer.http?.url ?? ''}/healthz`, { headers: { connection: 'keep-alive' } });
      expect(answer.status).toBe(200);
      expect(answer.headers['keep-alive']).toBe('timeout=620');
    } finally {
      await behindBalancer.close();
    }
  });

  it('closes sessions that stay idle past --session-idle-seconds', async () => {
    const d = tempDir();
    const short = await startAirlock(config(d, { sessionIdleMs: 1000 }), silent);
    try {
      const transport = new StreamableHTTPClientTransport(new URL(`${short.http?.url ?? ''}/mcp`));
      const client = new Client({ name: 'idle', version: '1.0.0' });
      await client.connect(transport);
      expect(short.http?.sessionCount()).toBe(1);
      await new Promise((r) => setTimeout(r, 1600));
      expect(short.http?.sessionCount()).toBe(0);
      await expect(client.listTools()).rejects.toThrow(/Session not found/);
      await client.close();
    } finally {
      await short.close();
    }
  });

  it('refuses every call as UNAUTHENTICATED when no identity source is configured, and audits it (audit:records-unauthenticated)', async () => {
    const d = tempDir();
    const anon = await startAirlock(config(d, { devIdentity: undefined }), silent);
    try {
      const transport = new StreamableHTTPClientTransport(new URL(`${anon.http?.url ?? ''}/mcp`));
      const client = new Client({ name: 'anon', version: '1.0.0' });
      await client.connect(transport);
      const result = await client.callTool({ name: 'query_sql', arguments: callArgs });
      expect(result.isError).toBe(true);
      expect(textOf(result)).toContain('No verified identity: this call carries no valid credential.\n[code: UNAUTHENTICATED;');
      expect(auditRecord(`${d}/audit`, auditIdOf(result))).toMatchObject({ outcome: 'unauthenticated', principal: null, devIdentity: false, decision: null });
      await transport.terminateSession();
      await client.close();
    } finally {
      await anon.close();
    }
  });
});
