/**
 * A 2025-era tools/call POST on a Streamable HTTP session is answered by airlock's transport itself (no web
 * Request, no SDK stream): the same status codes, headers, framing and messages as the SDK's transport, the
 * SDK's own refusals for a POST it would refuse, cancellation by notification and by disconnect, and exactly
 * one audit record per call (issue 19).
 */
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { Client as ClientV2, StreamableHTTPClientTransport as HttpTransportV2 } from '@modelcontextprotocol/client';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startAirlock, type RunningAirlock } from '../../src/main.js';
import { auditIdOf, auditRecord, readAudit, tempDir } from '../support/airlock.js';
import { httpConfig, raw, type RawResponse } from '../support/http.js';

const silent = (): void => undefined;
const oneRow = { name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT name, card_number FROM customers WHERE id = $1', params: [1] } };
const ACCEPT = 'application/json, text/event-stream';

let airlock: RunningAirlock;
let dir: string;
let base: string;
let admin: pg.Client;

beforeAll(async () => {
  process.env.DATABASE_URL = inject('databaseUrl');
  dir = tempDir();
  airlock = await startAirlock(httpConfig(dir, { devIdentity: 'ana@example.com,analysts' }), silent);
  base = airlock.http?.url ?? '';
  admin = new pg.Client({ connectionString: inject('adminUrl') });
  await admin.connect();
});

afterAll(async () => {
  await admin?.end();
  await airlock?.close();
});

interface Session {
  readonly id: string;
  readonly headers: Record<string, string>;
  post(body: unknown, headers?: Record<string, string>): Promise<RawResponse>;
  close(): Promise<void>;
}

async function open(protocolVersion = '2025-11-25'): Promise<Session> {
  const headers = { 'content-type': 'application/json', accept: ACCEPT };
  const init = await raw(`${base}/mcp`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion, capabilities: {}, clientInfo: { name: 'direct-19', version: '1' } } }),
  });
  const id = String(init.headers['mcp-session-id'] ?? '');
  const sessionHeaders = { ...headers, 'mcp-session-id': id, 'mcp-protocol-version': protocolVersion };
  const post = (body: unknown, extra: Record<string, string> = {}): Promise<RawResponse> =>
    raw(`${base}/mcp`, { method: 'POST', headers: { ...sessionHeaders, ...extra }, body: JSON.stringify(body) });
  expect((await post({ jsonrpc: '2.0', method: 'notifications/initialized' })).status).toBe(202);
  return { id, headers: sessionHeaders, post, close: async () => void (await raw(`${base}/mcp`, { method: 'DELETE', headers: sessionHeaders })) };
}

function events(body: string): Record<string, unknown>[] {
  return body
    .split('\n')
    .filter((l) => l.startsWith('data: '))
    .map((l) => JSON.parse(l.slice(6)) as Record<string, unknown>);
}

/** The JSON-RPC messages of an answer, whether it came as an event stream or as one JSON body (or array). */
function messagesIn(res: RawResponse): Record<string, unknown>[] {
  if (res.headers['content-type'] === 'text/event-stream') return events(res.body);
  return [JSON.parse(res.body) as Record<string, unknown> | Record<string, unknown>[]].flat();
}

/** The one audit record of a refusal whose error message ends with its audit id. */
function refusalRecord(message: string): ReturnType<typeof readAudit>[number] {
  const auditId = /\[audit id: ([0-9a-f-]{36})\]$/.exec(message)?.[1];
  expect(auditId, message).toBeDefined();
  const records = readAudit(`${dir}/audit`).filter((r) => r.id === auditId);
  expect(records).toHaveLength(1);
  return records[0] as ReturnType<typeof readAudit>[number];
}

const callRecords = (sessionId: string): ReturnType<typeof readAudit> => readAudit(`${dir}/audit`).filter((r) => r.sessionId === sessionId && r.tool === 'query_sql');

/** A statement that runs until cancelled, tagged so pg_stat_activity can find it. */
const slowCall = (tag: string): Record<string, unknown> => ({ name: 'query_sql', arguments: { connection: 'shop', sql: `SELECT count(*) AS ${tag} FROM generate_series(1, 3000000000)` } });

async function running(tag: string): Promise<number> {
  const result = await admin.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'active' AND query LIKE $1 AND pid <> pg_backend_pid()", [`%${tag}%`]);
  return result.rows[0]?.n ?? -1;
}

async function until(check: () => Promise<boolean> | boolean, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('a 2025-era tools/call POST served by airlock directly (issue 19)', () => {
  it('answers one JSON body whose result bytes are the ones the audit record hashed, one record per call (issue 19)', async () => {
    const session = await open();
    try {
      for (const id of [1, 'str-1', 0, -5]) {
        const res = await session.post({ jsonrpc: '2.0', id, method: 'tools/call', params: oneRow });
        expect(res.status).toBe(200);
        expect(res.headers['content-type']).toBe('application/json');
        expect(res.headers['mcp-session-id']).toBe(session.id);
        expect(Number(res.headers['content-length'])).toBe(Buffer.byteLength(res.body));
        const answer = JSON.parse(res.body) as { jsonrpc: string; id: unknown; result: { content: { text: string }[] } };
        expect(answer).toMatchObject({ jsonrpc: '2.0', id, result: { structuredContent: { rows: [['Ana Silva', '[MASKED]']], masked: ['card_number'] } } });
        expect(answer.result.content[0]?.text).not.toContain('4111');
        const record = auditRecord(`${dir}/audit`, auditIdOf(answer.result));
        // The result's JSON text as it came over the wire is the text the record's hash covers.
        const sent = res.body.slice('{"result":'.length, res.body.lastIndexOf(',"jsonrpc"'));
        expect(JSON.parse(sent)).toEqual(answer.result);
        expect(record.response).toMatchObject({ sha256: createHash('sha256').update(sent, 'utf8').digest('hex'), bytes: Buffer.byteLength(sent) });
      }
      expect(callRecords(session.id)).toHaveLength(4);
    } finally {
      await session.close();
    }
  });

  it('streams progress for an integer token, then the result, on the same POST as SDK-framed SSE events (issue 19)', async () => {
    const session = await open();
    try {
      const res = await session.post({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { ...oneRow, _meta: { progressToken: 19 } } });
      expect(res.status).toBe(200);
      expect(res.headers).toMatchObject({ 'content-type': 'text/event-stream', 'cache-control': 'no-cache, no-transform', 'mcp-session-id': session.id });
      expect(res.body.startsWith('event: message\ndata: {')).toBe(true);
      expect(res.body.endsWith('}\n\n')).toBe(true);
      const messages = events(res.body);
      expect(messages.length).toBe(5);
      expect(messages.slice(0, -1).map((m) => (m.params as { progressToken: unknown; progress: number }).progressToken)).toEqual([19, 19, 19, 19]);
      expect(messages.slice(0, -1).map((m) => (m.params as { progress: number }).progress)).toEqual([1, 2, 3, 4]);
      expect(messages.at(-1)).toMatchObject({ jsonrpc: '2.0', id: 2, result: { structuredContent: { rows: [['Ana Silva', '[MASKED]']] } } });
      expect(callRecords(session.id)).toHaveLength(1);
    } finally {
      await session.close();
    }
  });

  it('refuses a POST the SDK transport would refuse with its own status and message, runs nothing, and records the refusal (issue 19)', async () => {
    const session = await open();
    try {
      const call = { jsonrpc: '2.0', id: 3, method: 'tools/call', params: oneRow };
      const cases: [Record<string, string>, number, string][] = [
        [{ accept: 'application/json' }, 406, 'Not Acceptable: Client must accept both application/json and text/event-stream'],
        [{ accept: 'text/event-stream' }, 406, 'Not Acceptable: Client must accept both application/json and text/event-stream'],
        [{ 'content-type': 'text/plain' }, 415, 'Unsupported Media Type: Content-Type must be application/json'],
        [{ 'mcp-protocol-version': '1999-01-01' }, 400, 'Bad Request: Unsupported protocol version: 1999-01-01'],
      ];
      for (const [headers, status, message] of cases) {
        const res = await session.post(call, headers);
        expect(res.status).toBe(status);
        const body = JSON.parse(res.body) as { jsonrpc: string; id: unknown; error: { code: number; message: string } };
        expect(body).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32000 } });
        expect(body.error.message.startsWith(message)).toBe(true);
        // One record of the refusal, under the caller, naming the session it claimed and the call it carried.
        const record = refusalRecord(body.error.message);
        expect(record).toMatchObject({ outcome: 'invalid', sessionId: '', claimedSessionId: session.id, tool: 'query_sql', principal: { email: 'ana@example.com' } });
        expect(JSON.stringify(record)).toContain(message);
      }
      expect(callRecords(session.id)).toHaveLength(0);
      // The same id is free again: nothing stayed in flight.
      const ok = await session.post(call);
      expect(ok.status).toBe(200);
      expect(JSON.parse(ok.body)).toMatchObject({ id: 3, result: { structuredContent: { rows: [['Ana Silva', '[MASKED]']] } } });
      expect(callRecords(session.id)).toHaveLength(1);
    } finally {
      await session.close();
    }
  });

  it('refuses a GET or DELETE with a header the transport refuses, records it, and the session goes on (issue 19)', async () => {
    const session = await open();
    try {
      const cases: [string, Record<string, string>, number, string][] = [
        ['GET', { accept: 'application/json' }, 406, 'Not Acceptable: Client must accept text/event-stream'],
        ['GET', { accept: 'text/event-stream', 'mcp-protocol-version': '1999-01-01' }, 400, 'Bad Request: Unsupported protocol version: 1999-01-01'],
        ['DELETE', { 'mcp-protocol-version': '1999-01-01' }, 400, 'Bad Request: Unsupported protocol version: 1999-01-01'],
      ];
      for (const [method, headers, status, message] of cases) {
        const res = await raw(`${base}/mcp`, { method, headers: { ...session.headers, ...headers } });
        expect(res.status, `${method} ${JSON.stringify(headers)}`).toBe(status);
        const text = (JSON.parse(res.body) as { error: { message: string } }).error.message;
        expect(text.startsWith(message)).toBe(true);
        expect(refusalRecord(text)).toMatchObject({ outcome: 'invalid', sessionId: '', claimedSessionId: session.id, tool: `${method} /mcp` });
      }
      // Nothing was ended: the session still serves calls.
      const ok = await session.post({ jsonrpc: '2.0', id: 8, method: 'tools/call', params: oneRow });
      expect(JSON.parse(ok.body)).toMatchObject({ id: 8, result: { structuredContent: { rows: [['Ana Silva', '[MASKED]']] } } });
    } finally {
      await session.close();
    }
  });

  it('refuses an initialize POST with a header the transport refuses, opens no session, and records it (issue 19)', async () => {
    const init = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'direct-19', version: '1' } } };
    for (const [headers, status] of [
      [{ 'content-type': 'application/json', accept: 'application/json' }, 406],
      [{ 'content-type': 'text/plain', accept: ACCEPT }, 415],
    ] as const) {
      const res = await raw(`${base}/mcp`, { method: 'POST', headers, body: JSON.stringify(init) });
      expect(res.status).toBe(status);
      expect(res.headers['mcp-session-id']).toBeUndefined();
      const message = (JSON.parse(res.body) as { error: { message: string } }).error.message;
      expect(refusalRecord(message)).toMatchObject({ outcome: 'invalid', sessionId: '', tool: 'initialize', error: { code: 'INVALID_INPUT' } });
    }
  });

  it('ends the POST without an answer when the client sends notifications/cancelled; the call is audited cancelled once (issue 19)', async () => {
    const session = await open();
    try {
      const tag = 'direct_cancel_19a';
      const pendingCall = session.post({ jsonrpc: '2.0', id: 'slow-1', method: 'tools/call', params: slowCall(tag) });
      await until(async () => (await running(tag)) === 1, 'the statement to run');
      // While it runs, the same id is refused (and audited) as a duplicate.
      const duplicate = await session.post({ jsonrpc: '2.0', id: 'slow-1', method: 'tools/call', params: oneRow });
      expect(duplicate.status).toBe(400);
      expect(JSON.parse(duplicate.body)).toMatchObject({ jsonrpc: '2.0', id: 'slow-1', error: { code: -32600 } });
      expect((JSON.parse(duplicate.body) as { error: { message: string } }).error.message).toContain('a request with id "slow-1" is already in flight on this session; use a new id');
      const cancelled = await session.post({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'slow-1', reason: 'changed my mind' } });
      expect(cancelled.status).toBe(202);
      const res = await pendingCall;
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('text/event-stream');
      expect(events(res.body)).toEqual([]);
      await until(async () => (await running(tag)) === 0 && callRecords(session.id).some((r) => r.outcome === 'cancelled'), 'the cancelled record');
      const records = callRecords(session.id);
      expect(records.filter((r) => r.outcome === 'cancelled')).toHaveLength(1);
      expect(records.filter((r) => r.outcome === 'cancelled')[0]).toMatchObject({ error: { code: 'CANCELLED' }, transport: 'http' });
      // The duplicate's refusal is the session's one other record of this tool.
      expect(records.filter((r) => r.error?.code === 'INVALID_INPUT')).toHaveLength(1);
      expect(records).toHaveLength(2);
      // The session goes on, and the id may be used again: by a request the SDK serves (its answer is not
      // taken for a late message of the cancelled call), then by another call.
      const list = await session.post({ jsonrpc: '2.0', id: 'slow-1', method: 'tools/list' });
      expect(list.status).toBe(200);
      const listed = messagesIn(list).at(-1);
      expect(listed).toMatchObject({ id: 'slow-1', result: { tools: expect.arrayContaining([expect.objectContaining({ name: 'query_sql' })]) as unknown } });
      const again = await session.post({ jsonrpc: '2.0', id: 'slow-1', method: 'tools/call', params: oneRow });
      expect(again.status).toBe(200);
      expect(JSON.parse(again.body)).toMatchObject({ id: 'slow-1', result: { structuredContent: { rows: [['Ana Silva', '[MASKED]']] } } });
    } finally {
      await session.close();
    }
  });

  it('cancels the call when the client goes away mid-call; nothing is written for it and the session goes on (issue 19)', async () => {
    const session = await open();
    try {
      const tag = 'direct_cancel_19b';
      const req = request(`${base}/mcp`, { method: 'POST', headers: session.headers });
      let received = '';
      const closed = new Promise<void>((resolve) => {
        req.on('response', (res) => res.on('data', (c: Buffer) => (received += c.toString())));
        req.on('error', () => resolve());
        req.on('close', () => resolve());
      });
      req.end(JSON.stringify({ jsonrpc: '2.0', id: 77, method: 'tools/call', params: { ...slowCall(tag), _meta: { progressToken: 'p-77' } } }));
      await until(async () => (await running(tag)) === 1, 'the statement to run');
      req.destroy();
      await closed;
      // Progress streamed before the client left; no answer came.
      expect(events(received).length).toBeGreaterThan(0);
      expect(events(received).every((m) => m.method === 'notifications/progress')).toBe(true);
      await until(async () => (await running(tag)) === 0 && callRecords(session.id).some((r) => r.outcome === 'cancelled'), 'the cancelled record');
      expect(callRecords(session.id)).toHaveLength(1);
      expect(callRecords(session.id)[0]).toMatchObject({ outcome: 'cancelled', error: { code: 'CANCELLED' } });
      // The id is free for any request: one the SDK serves gets its answer (not dropped as a late message of
      // the call that went away), then another call.
      const list = await session.post({ jsonrpc: '2.0', id: 77, method: 'tools/list' });
      expect(list.status).toBe(200);
      const listed = messagesIn(list).at(-1);
      expect(listed).toMatchObject({ id: 77, result: { tools: expect.arrayContaining([expect.objectContaining({ name: 'query_sql' })]) as unknown } });
      const next = await session.post({ jsonrpc: '2.0', id: 77, method: 'tools/call', params: oneRow });
      expect(next.status).toBe(200);
      expect(JSON.parse(next.body)).toMatchObject({ id: 77, result: { structuredContent: { rows: [['Ana Silva', '[MASKED]']] } } });
      expect(callRecords(session.id)).toHaveLength(2);
    } finally {
      await session.close();
    }
  });

  it('answers a batch member that reuses the id of a direct call whose client went away (2025-03-26) (issue 19)', async () => {
    const session = await open('2025-03-26');
    try {
      const tag = 'direct_cancel_19d';
      const req = request(`${base}/mcp`, { method: 'POST', headers: session.headers });
      const closed = new Promise<void>((resolve) => {
        req.on('response', (res) => res.resume());
        req.on('error', () => resolve());
        req.on('close', () => resolve());
      });
      req.end(JSON.stringify({ jsonrpc: '2.0', id: 78, method: 'tools/call', params: slowCall(tag) }));
      await until(async () => (await running(tag)) === 1, 'the statement to run');
      req.destroy();
      await closed;
      await until(async () => (await running(tag)) === 0 && callRecords(session.id).some((r) => r.outcome === 'cancelled'), 'the cancelled record');
      // A batch (2025-03-26 allows them) whose one member reuses the id: its answer must not be taken for a late
      // message of the call that went away.
      const batch = await session.post([{ jsonrpc: '2.0', id: 78, method: 'tools/list' }]);
      expect(batch.status).toBe(200);
      expect(messagesIn(batch)).toEqual([expect.objectContaining({ id: 78, result: expect.objectContaining({ tools: expect.any(Array) as unknown }) as unknown })]);
    } finally {
      await session.close();
    }
  });

  it('ends a waiting POST without an answer when its session is deleted (issue 19)', async () => {
    const session = await open();
    const tag = 'direct_cancel_19c';
    const pendingCall = session.post({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: slowCall(tag) });
    await until(async () => (await running(tag)) === 1, 'the statement to run');
    await session.close();
    const res = await pendingCall;
    expect(res.status).toBe(200);
    expect(events(res.body)).toEqual([]);
    await until(async () => (await running(tag)) === 0 && callRecords(session.id).length === 1, 'the record');
    expect(callRecords(session.id)[0]).toMatchObject({ outcome: 'cancelled' });
  });

  it('serves the v1 and v2 SDK clients on 2025-11-25, with and without progress, one record per call (issue 19)', async () => {
    const v1Transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`));
    const v1 = new Client({ name: 'sdk-v1-19', version: '1.0.0' });
    const v2Transport = new HttpTransportV2(new URL(`${base}/mcp`));
    // The v2 client speaks the 2025 era unless it opts into 2026-07-28.
    const v2 = new ClientV2({ name: 'sdk-v2-19', version: '1.0.0' });
    await v1.connect(v1Transport);
    try {
      await v2.connect(v2Transport);
      expect(v2.getNegotiatedProtocolVersion()).toBe('2025-11-25');
      const callers = [
        (params: typeof oneRow, onprogress?: (p: { message?: string }) => void) => v1.callTool(params, undefined, onprogress === undefined ? {} : { onprogress }),
        (params: typeof oneRow, onprogress?: (p: { message?: string }) => void) => v2.callTool(params, onprogress === undefined ? {} : { onprogress }),
      ];
      for (const call of callers) {
        const progress: string[] = [];
        const results = await Promise.all([
          call(oneRow),
          call(oneRow, (p) => progress.push(String(p.message))),
          call({ name: 'query_sql', arguments: { connection: 'shop', sql: 'TRUNCATE orders' } } as unknown as typeof oneRow),
        ]);
        expect(results[0].structuredContent).toMatchObject({ rows: [['Ana Silva', '[MASKED]']] });
        expect(results[1].structuredContent).toMatchObject({ rows: [['Ana Silva', '[MASKED]']] });
        expect(progress).toEqual(['Policy allowed the call (analysts-read-shop)', 'Running query_sql on shop', 'Read 1 row', 'Result masked']);
        expect(results[2].isError).toBe(true);
        for (const result of results) expect(readAudit(`${dir}/audit`).filter((r) => r.id === auditIdOf(result))).toHaveLength(1);
      }
      expect(v1Transport.sessionId).toBeDefined();
      expect(callRecords(v1Transport.sessionId ?? '')).toHaveLength(3);
    } finally {
      await v1Transport.terminateSession().catch(() => undefined);
      await v1.close();
      await v2Transport.terminateSession().catch(() => undefined);
      await v2.close();
    }
  });
});
