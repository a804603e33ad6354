import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startAirlock, type RunningAirlock } from '../../src/main.js';
import { auditIdOf, auditRecord, readAudit, tempDir } from '../support/airlock.js';
import { httpConfig, raw, type RawResponse } from '../support/http.js';

const silent = (): void => undefined;
const oneRow = { name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT name, card_number FROM customers WHERE id = $1', params: [1] } };
const PROGRESS = ['Policy allowed the call (analysts-read-shop)', 'Running query_sql on shop', 'Read 1 row', 'Result masked'];

let airlock: RunningAirlock;
let dir: string;
let base: string;

beforeAll(async () => {
  process.env.DATABASE_URL = inject('databaseUrl');
  dir = tempDir();
  airlock = await startAirlock(httpConfig(dir, { devIdentity: 'ana@example.com,analysts' }), silent);
  base = airlock.http?.url ?? '';
});

afterAll(async () => {
  await airlock?.close();
});

interface Session {
  readonly id: string;
  post(body: unknown): Promise<RawResponse>;
  close(): Promise<void>;
}

/** A 2025-era session opened with raw requests, so the test sees each answer's framing as sent. */
async function open(protocolVersion = '2025-11-25'): Promise<Session & { readonly init: RawResponse }> {
  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  const init = await raw(`${base}/mcp`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ jsonrpc: '2.0', id: 'init-1', method: 'initialize', params: { protocolVersion, capabilities: {}, clientInfo: { name: 'raw-19', version: '1' } } }),
  });
  const id = String(init.headers['mcp-session-id'] ?? '');
  const sessionHeaders = { ...headers, 'mcp-session-id': id, 'mcp-protocol-version': protocolVersion };
  const post = (body: unknown): Promise<RawResponse> => raw(`${base}/mcp`, { method: 'POST', headers: sessionHeaders, body: JSON.stringify(body) });
  const initialized = await post({ jsonrpc: '2.0', method: 'notifications/initialized' });
  expect(initialized.status).toBe(202);
  return { id, init, post, close: async () => void (await raw(`${base}/mcp`, { method: 'DELETE', headers: sessionHeaders })) };
}

/** The JSON-RPC messages of an SSE body, in order. */
function events(body: string): { id?: unknown; method?: string; params?: unknown; result?: unknown; error?: unknown }[] {
  return body
    .split('\n')
    .filter((l) => l.startsWith('data: '))
    .map((l) => JSON.parse(l.slice(6)) as { id?: unknown; method?: string });
}

function expectPlainJson(res: RawResponse, sessionId: string): void {
  expect(res.status).toBe(200);
  expect(res.headers['content-type']).toBe('application/json');
  expect(res.headers['mcp-session-id']).toBe(sessionId);
  expect(Number(res.headers['content-length'])).toBe(Buffer.byteLength(res.body));
  expect(res.headers['transfer-encoding']).toBeUndefined();
}

describe('Streamable HTTP answers on 2025-era sessions (issue 19)', () => {
  it('answers initialize as one JSON body carrying the new session id (issue 19)', async () => {
    const session = await open();
    try {
      expect(session.id).toMatch(/^[0-9a-f-]{36}$/);
      expectPlainJson(session.init, session.id);
      expect(JSON.parse(session.init.body)).toMatchObject({ jsonrpc: '2.0', id: 'init-1', result: { protocolVersion: '2025-11-25', serverInfo: { name: 'airlock' } } });
    } finally {
      await session.close();
    }
  });

  it('answers a tools/call that sent nothing else as one JSON body, masked and audited once under the session (issue 19)', async () => {
    const session = await open();
    try {
      for (const id of [7, 'call-seven']) {
        const res = await session.post({ jsonrpc: '2.0', id, method: 'tools/call', params: oneRow });
        expectPlainJson(res, session.id);
        const answer = JSON.parse(res.body) as { jsonrpc: string; id: unknown; result: { structuredContent: unknown; content: { text: string }[]; _meta: Record<string, { auditId: string }> } };
        expect(answer).toMatchObject({ jsonrpc: '2.0', id, result: { structuredContent: { rows: [['Ana Silva', '[MASKED]']], masked: ['card_number'] } } });
        expect(answer.result.content[0]?.text).not.toContain('4111');
        const auditId = auditIdOf(answer.result);
        expect(auditRecord(`${dir}/audit`, auditId)).toMatchObject({ transport: 'http', sessionId: session.id, protocol: '2025-11-25', outcome: 'ok', tool: 'query_sql' });
        expect(readAudit(`${dir}/audit`).filter((r) => r.id === auditId)).toHaveLength(1);
      }
    } finally {
      await session.close();
    }
  });

  it('answers a refused call and a JSON-RPC error as one JSON body each (issue 19)', async () => {
    const session = await open();
    try {
      const denied = await session.post({ jsonrpc: '2.0', id: 21, method: 'tools/call', params: { name: 'query_sql', arguments: { connection: 'shop', sql: 'TRUNCATE orders' } } });
      expectPlainJson(denied, session.id);
      const answer = JSON.parse(denied.body) as { id: number; result: { isError: boolean; content: { text: string }[] } };
      expect(answer).toMatchObject({ id: 21, result: { isError: true } });
      expect(answer.result.content[0]?.text).toMatch(/POLICY_DENIED/);
      expect(auditRecord(`${dir}/audit`, auditIdOf(answer.result))).toMatchObject({ transport: 'http', sessionId: session.id, outcome: 'denied' });
      const unknown = await session.post({ jsonrpc: '2.0', id: 22, method: 'no/such-method', params: {} });
      expectPlainJson(unknown, session.id);
      expect(JSON.parse(unknown.body)).toMatchObject({ jsonrpc: '2.0', id: 22, error: { code: -32601 } });
    } finally {
      await session.close();
    }
  });

  it('streams progress with the exact token, then the result last, when the call carries a progress token (issue 19)', async () => {
    const session = await open();
    try {
      const res = await session.post({ jsonrpc: '2.0', id: 31, method: 'tools/call', params: { ...oneRow, _meta: { progressToken: 'tok-19' } } });
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('text/event-stream');
      const messages = events(res.body);
      expect(messages.slice(0, -1)).toEqual(PROGRESS.map((message, i) => ({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 'tok-19', progress: i + 1, message } })));
      expect(messages.at(-1)).toMatchObject({ id: 31, result: { structuredContent: { rows: [['Ana Silva', '[MASKED]']] } } });
      // The next call without a token is plain JSON again on the same session.
      expectPlainJson(await session.post({ jsonrpc: '2.0', id: 32, method: 'tools/call', params: oneRow }), session.id);
    } finally {
      await session.close();
    }
  });

  it('streams a batch on a 2025-03-26 session, one event per answer (issue 19)', async () => {
    const session = await open('2025-03-26');
    try {
      const res = await session.post([
        { jsonrpc: '2.0', id: 41, method: 'tools/list' },
        { jsonrpc: '2.0', id: 42, method: 'tools/call', params: oneRow },
      ]);
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('text/event-stream');
      const messages = events(res.body);
      expect(messages.map((m) => m.id).sort()).toEqual([41, 42]);
      expect(messages.find((m) => m.id === 42)).toMatchObject({ result: { structuredContent: { rows: [['Ana Silva', '[MASKED]']] } } });
    } finally {
      await session.close();
    }
  });

  it('opens the GET stream at once: 200 text/event-stream before any message (issue 19)', async () => {
    const session = await open();
    try {
      const head = await new Promise<{ status: number; type: string | undefined }>((resolve, reject) => {
        const req = request(`${base}/mcp`, { headers: { accept: 'text/event-stream', 'mcp-session-id': session.id, 'mcp-protocol-version': '2025-11-25' } }, (res) => {
          resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'] });
          req.destroy();
        });
        req.on('error', reject);
        req.end();
      });
      expect(head).toEqual({ status: 200, type: 'text/event-stream' });
    } finally {
      await session.close();
    }
  });

  it('serves the SDK client, which reads either framing, on a session with JSON answers (issue 19)', async () => {
    const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`));
    const client = new Client({ name: 'sdk-19', version: '1.0.0' });
    await client.connect(transport);
    try {
      const progress: string[] = [];
      const plain = await client.callTool(oneRow);
      expect(plain.structuredContent).toMatchObject({ rows: [['Ana Silva', '[MASKED]']] });
      const streamed = await client.callTool(oneRow, undefined, { onprogress: (p) => progress.push(String(p.message)) });
      expect(streamed.structuredContent).toMatchObject({ rows: [['Ana Silva', '[MASKED]']] });
      expect(progress).toEqual(PROGRESS);
    } finally {
      await transport.terminateSession();
      await client.close();
    }
  });
});
