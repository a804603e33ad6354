/**
 * Issue 21 (faults): what a stopping airlock does with work that arrives after SIGTERM. While the calls in
 * flight drain, a new tools/call is refused at once with SHUTTING_DOWN and its audit id and recorded; on
 * HTTP, `/healthz` answers 503 "draining" and a new session is refused with 503 and `Connection: close`.
 * A real `airlock serve` (HTTP, then stdio) and real clients; the call that keeps the drain going is a read
 * from a loopback Cloud Storage server that never answers.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { request } from 'node:http';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startLocalGcs, type GcsFault, type GcsFaultRequest, type LocalGcs } from '../../src/connectors/local-gcs.js';
import { verifyStore } from '../../src/audit/verify.js';
import { auditIdOf, auditRecord, CLI, readAudit, tempDir, textOf } from '../support/airlock.js';
import { exited, stopChild } from '../support/child.js';
import { connectClient, errorCode, examplePolicy, startFaultServer, writeObjects } from '../support/fault-server.js';
import { until } from '../support/served.js';

let gcs: LocalGcs;
let fault: ((req: GcsFaultRequest) => GcsFault | undefined) | undefined;
const seen: GcsFaultRequest[] = [];

beforeAll(async () => {
  const root = tempDir('airlock-gcs-');
  writeObjects(root, 'airlock-demo-data', { 'app/logs/a.log': 'one line\n' });
  gcs = await startLocalGcs({ root, faults: (req) => (seen.push(req), fault?.(req)) });
});
afterAll(async () => {
  await gcs?.close();
});

/** The example policy with a bucket time limit far past the drain bound (the hang outlives the drain). */
function policy(): unknown {
  const p = examplePolicy();
  p.resources.buckets!.data!.limits = { timeoutMs: 60_000 };
  return p;
}

const REFUSED = 'airlock is shutting down and takes no new calls; the call was not run. Call again in a moment.';
const HANGING_READ = { bucket: 'data', action: 'read', object: 'app/logs/a.log' } as const;

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** One HTTP request on its own connection, with the headers as the server sent them. */
function send(url: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const req = request(`${url}${path}`, { method, agent: false, headers: { ...(text === undefined ? {} : { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }), ...headers } }, (res) => {
      let data = '';
      res.on('data', (c: Buffer) => void (data += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: data }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(text);
  });
}

const INITIALIZE = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'late', version: '1' } } };

describe('airlock serve --http after SIGTERM, while a call drains (issue 21)', () => {
  it('answers /healthz 503 draining, refuses a new session with 503 and Connection: close, and refuses a new call on an open session with SHUTTING_DOWN; each is audited (faults:drain-refuses)', async () => {
    const dir = tempDir();
    const server = await startFaultServer({ dir, policy: policy(), runtime: { storage: { endpoint: gcs.url } } });
    const first = await connectClient(server.url);
    const second = await connectClient(server.url);
    try {
      const ready = await send(server.url, 'GET', '/healthz');
      expect(ready.status).toBe(200);
      expect(JSON.parse(ready.body)).toMatchObject({ status: 'ok' });
      seen.length = 0;
      fault = () => ({ hang: true });
      const pending = first.call('read_bucket', HANGING_READ);
      await until(() => seen.length > 0, 'the read to reach Cloud Storage');
      server.child.kill('SIGTERM');
      await until(() => /stopping: waiting up to 5 s for 1 call\(s\) in flight/.test(server.log()), 'the drain to begin');

      // Readiness: out of the load balancer's rotation, for probes by loopback name and by address alike.
      const health = await send(server.url, 'GET', '/healthz');
      expect(health.status).toBe(503);
      expect(health.headers.connection).toBe('close');
      expect(JSON.parse(health.body)).toMatchObject({ status: 'draining' });
      const probe = await send(server.url, 'GET', '/healthz', undefined, { host: 'pod-ip.internal' });
      expect(probe.status).toBe(503);
      expect(JSON.parse(probe.body)).toEqual({ status: 'draining' });

      // A new session: refused, audited, and its connection closed.
      const late = await send(server.url, 'POST', '/mcp', INITIALIZE);
      expect(late.status).toBe(503);
      expect(late.headers.connection).toBe('close');
      const message = (JSON.parse(late.body) as { error: { message: string } }).error.message;
      const sessionRecord = /\[code: SHUTTING_DOWN; audit id: ([0-9a-f-]{36})\]$/.exec(message)?.[1];
      expect(message).toMatch(/^airlock is shutting down and takes no new sessions; connect again in a moment\. \[code: SHUTTING_DOWN; audit id: /);

      // A new call on a session opened before the signal: refused at once, not run, audited under the caller.
      const refused = await second.call('query_sql', { connection: 'shop', sql: 'SELECT count(*) FROM products' });
      expect(refused.isError).toBe(true);
      expect(errorCode(refused)).toBe('SHUTTING_DOWN');
      const id = auditIdOf(refused);
      expect(textOf(refused)).toBe(`${REFUSED}\n[code: SHUTTING_DOWN; audit id: ${id}]`);

      // The call in flight drains as before: stopped after the bound, answered CANCELLED; the process exits.
      const stopped = await pending;
      expect(errorCode(stopped)).toBe('CANCELLED');
      expect(await exited(server.child)).toEqual({ code: 0, signal: null });

      expect(auditRecord(server.auditDir, id)).toMatchObject({
        tool: 'query_sql',
        outcome: 'error',
        downstream: [],
        principal: { sub: 'ana@example.com' },
        error: { code: 'SHUTTING_DOWN', message: REFUSED, detail: 'the call arrived after airlock began to stop' },
      });
      expect(auditRecord(server.auditDir, sessionRecord ?? '')).toMatchObject({ tool: 'initialize', outcome: 'error', error: { code: 'SHUTTING_DOWN' } });
      expect(readAudit(server.auditDir).map((r) => r.error?.code ?? r.outcome).sort()).toEqual(['CANCELLED', 'SHUTTING_DOWN', 'SHUTTING_DOWN']);
      expect(verifyStore(server.auditDir).problems).toEqual([]);
    } finally {
      fault = undefined;
      await first.close().catch(() => undefined);
      await second.close().catch(() => undefined);
      await server.stop();
    }
  }, 60_000);
});

type Child = ChildProcessByStdio<Writable, Readable, Readable>;
type Message = { id?: unknown; method?: string; result?: { isError?: boolean; content?: { text?: string }[]; _meta?: Record<string, unknown> } };

describe('airlock serve --stdio after SIGTERM, while a call drains (issue 21)', () => {
  it('refuses a tools/call read after the signal with SHUTTING_DOWN and its audit id, and records it', async () => {
    const dir = tempDir();
    const auditDir = join(dir, 'audit');
    const policyPath = join(dir, 'policies.json');
    writeFileSync(policyPath, JSON.stringify(policy()));
    const configPath = join(dir, 'airlock.json');
    writeFileSync(configPath, JSON.stringify({ storage: { endpoint: gcs.url } }));
    const child: Child = spawn(process.execPath, [CLI, 'serve', '--stdio', '--config', configPath, '--policy', policyPath, '--audit-dir', auditDir, '--dev-identity', 'ana@example.com,analysts,dba', '--log-level', 'info'], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', HOME: dir, DATABASE_URL: inject('databaseUrl') },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const seenLines: Message[] = [];
    let buffer = '';
    let log = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        seenLines.push(JSON.parse(buffer.slice(0, nl)) as Message);
        buffer = buffer.slice(nl + 1);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => void (log += chunk.toString('utf8')));
    const write = (message: unknown): void => void child.stdin.write(`${JSON.stringify(message)}\n`);
    const answer = (id: number): Promise<Message> => until(() => seenLines.find((m) => m.id === id && m.method === undefined), `the answer to ${id}`);
    try {
      write(INITIALIZE);
      await answer(1);
      write({ jsonrpc: '2.0', method: 'notifications/initialized' });
      seen.length = 0;
      fault = () => ({ hang: true });
      write({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'read_bucket', arguments: HANGING_READ } });
      await until(() => seen.length > 0, 'the read to reach Cloud Storage');
      child.kill('SIGTERM');
      await until(() => /stopping: waiting up to 5 s for 1 call\(s\) in flight/.test(log), 'the drain to begin');
      write({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT 1' } } });
      const refused = await answer(3);
      expect(refused.result?.isError).toBe(true);
      const id = auditIdOf(refused.result);
      expect(textOf(refused.result)).toBe(`${REFUSED}\n[code: SHUTTING_DOWN; audit id: ${id}]`);
      expect((await answer(2)).result?._meta?.['airlock/error']).toMatchObject({ code: 'CANCELLED' });
      expect(await exited(child)).toEqual({ code: 0, signal: null });
      expect(auditRecord(auditDir, id)).toMatchObject({ tool: 'query_sql', transport: 'stdio', outcome: 'error', error: { code: 'SHUTTING_DOWN' } });
      expect(verifyStore(auditDir).problems).toEqual([]);
    } finally {
      fault = undefined;
      await stopChild(child);
    }
  }, 60_000);
});
