/**
 * Fuzzing the transports (issue 21): generated hostile JSON-RPC (bad JSON, wrong types, huge and duplicate
 * ids, deep nesting, oversized bodies, invalid UTF-8, batches, notifications) sent to a spawned
 * `airlock serve` over stdio, Streamable HTTP in a 2025-11-25 session and stateless on 2026-07-28, and
 * legacy SSE. After every generated batch the server must still answer; every message gets one answer
 * (a JSON-RPC error or a result) unless it is a notification; every answer that names an audit id has
 * exactly one record and no record is written that no answer names; the child's memory stays bounded.
 * The hand-written cases beside this file (hostile-requests, http-direct, stdio-direct) pin exact texts;
 * these check the invariants over inputs nobody wrote down. FUZZ_RUNS and FUZZ_SEED widen a run.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { request, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CLI, readAudit, tempDir, writePolicy } from '../support/airlock.js';
import { stopChild, waitForOutput } from '../support/child.js';
import { auditIdsIn, batchArb, frameArb, fuzzParameters, rssOf, type Expect, type FrameSpec } from '../support/fuzz.js';

const MAX_BODY = 65_536;
const MODERN = '2026-07-28';
const LEGACY = '2025-11-25';
const ANA = 'ana@example.com,analysts';
const ACCEPT = 'application/json, text/event-stream';
/** An answer that does not come within this is a hang. */
const ANSWER_MS = 20_000;

interface Reply {
  readonly id?: unknown;
  readonly method?: string;
  readonly result?: { isError?: boolean; tools?: unknown[] };
  readonly error?: { code: number; message: string };
}

/** One way into the server: sends a frame and returns the answers that belong to it. */
interface Channel {
  exchange(frame: string | Buffer, id: number, expect: Expect | 'batch'): Promise<Reply[]>;
  /** Extra answers nobody asked for since the last call (must stay empty). */
  strays(): Reply[];
}

/** Every frame of a run, with what came back, for the audit count at the end. */
interface Log {
  readonly answers: Reply[];
  readonly texts: string[];
}

function env(home: string): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '', HOME: home, XDG_STATE_HOME: join(home, 'state'), DATABASE_URL: inject('databaseUrl') };
}

/** A server-to-client message that is not an answer (log messages, progress). */
const isNotice = (m: Reply): boolean => typeof m.method === 'string';

/** Lines of JSON on a stream, and waiting for ones that match. */
class Inbox {
  readonly all: Reply[] = [];
  private readonly waiters = new Set<() => void>();
  texts: string[] = [];

  push(text: string): void {
    this.texts.push(text);
    this.all.push(JSON.parse(text) as Reply);
    for (const w of this.waiters) w();
  }

  async until(done: () => boolean, what: string, diagnostics: () => string): Promise<void> {
    if (done()) return;
    let wake: (() => void) | undefined;
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        wake = () => void (done() && resolve());
        this.waiters.add(wake);
        timer = setTimeout(() => reject(new Error(`no answer within ${ANSWER_MS} ms: ${what}\n${diagnostics()}`)), ANSWER_MS);
      });
    } finally {
      clearTimeout(timer);
      if (wake !== undefined) this.waiters.delete(wake);
    }
  }
}

/**
 * Frames over a stream where answers are not tied to a request (stdio lines, SSE events): after each frame a
 * `ping` with an id of its own follows; what arrives before that ping's answer (or later, under the frame's
 * own id) belongs to the frame. Answers are matched to a frame once; anything else is a stray.
 */
class StreamChannel implements Channel {
  private taken = 0;
  private sentinel = 0;
  private readonly inbox: Inbox;
  private readonly send: (frame: string | Buffer) => Promise<Reply[]>;
  private readonly diagnostics: () => string;

  constructor(inbox: Inbox, send: (frame: string | Buffer) => Promise<Reply[]>, diagnostics: () => string) {
    this.inbox = inbox;
    this.send = send;
    this.diagnostics = diagnostics;
  }

  async exchange(frame: string | Buffer, id: number, expect: Expect | 'batch'): Promise<Reply[]> {
    const from = this.inbox.all.length;
    const direct = await this.send(frame);
    const ping = `sentinel-${++this.sentinel}`;
    await this.send(JSON.stringify({ jsonrpc: '2.0', id: ping, method: 'ping' }));
    const answers = (): Reply[] => this.inbox.all.slice(from).filter((m) => !isNotice(m) && m.id !== ping);
    const byId = (): boolean => answers().some((m) => m.id === id);
    const pinged = (): boolean => this.inbox.all.slice(from).some((m) => m.id === ping);
    await this.inbox.until(
      () => pinged() && (expect === 'call' || expect === 'request' ? byId() : expect === 'refused' ? direct.length + answers().length > 0 : true),
      `frame ${String(id)} (${expect})`,
      this.diagnostics,
    );
    const mine = answers();
    this.taken = this.inbox.all.filter((m) => !isNotice(m)).length;
    return [...direct, ...mine];
  }

  strays(): Reply[] {
    return this.inbox.all.filter((m) => !isNotice(m)).slice(this.taken);
  }
}

/** Raw HTTP with bytes as given; the body read whole. */
function post(url: string, headers: Record<string, string>, body: string | Buffer): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body: text }));
    });
    req.setTimeout(ANSWER_MS, () => req.destroy(new Error(`no HTTP answer within ${ANSWER_MS} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** The JSON-RPC messages of an HTTP answer: an event stream, one JSON body or a JSON array; nothing else is an answer. */
function messagesOf(res: { status: number; type: string; body: string }): Reply[] {
  if (res.status === 202) {
    expect(res.body).toBe('');
    return [];
  }
  if (res.type.startsWith('text/event-stream')) {
    return res.body
      .split('\n')
      .filter((l) => l.startsWith('data: '))
      .map((l) => JSON.parse(l.slice(6)) as Reply)
      .filter((m) => !isNotice(m));
  }
  expect(res.type, `${res.status} ${res.body.slice(0, 200)}`).toMatch(/^application\/json/);
  return [JSON.parse(res.body) as Reply | Reply[]].flat();
}

/** Whether a frame is a JSON array (a batch, or an array of anything). */
function isArray(frame: string | Buffer): boolean {
  try {
    return Array.isArray(JSON.parse(frame.toString()));
  } catch {
    return false;
  }
}

/** The 2026-07-28 request shape: the per-request envelope in `params._meta` and the routing headers. */
function modernize(frame: string | Buffer): { body: string | Buffer; headers: Record<string, string> } {
  const headers: Record<string, string> = { 'mcp-protocol-version': MODERN };
  if (typeof frame !== 'string') return { body: frame, headers };
  let message: unknown;
  try {
    message = JSON.parse(frame);
  } catch {
    return { body: frame, headers };
  }
  if (message === null || typeof message !== 'object' || Array.isArray(message)) return { body: frame, headers };
  const m = message as { method?: unknown; params?: unknown };
  if (typeof m.method !== 'string') return { body: frame, headers };
  headers['mcp-method'] = m.method;
  const params = m.params === undefined ? {} : m.params;
  if (params === null || typeof params !== 'object' || Array.isArray(params)) return { body: frame, headers };
  const p = params as { name?: unknown; _meta?: unknown };
  if (m.method === 'tools/call' && typeof p.name === 'string') headers['mcp-name'] = p.name;
  const meta = p._meta !== null && typeof p._meta === 'object' ? p._meta : {};
  const envelope = { 'io.modelcontextprotocol/protocolVersion': MODERN, 'io.modelcontextprotocol/clientInfo': { name: 'fuzz', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': {} };
  try {
    return { body: JSON.stringify({ ...message, params: { ...params, _meta: { ...meta, ...envelope } } }), headers };
  } catch {
    // Too deep for JSON.stringify here too: the envelope goes into the text as the first member of params.
    return { body: frame.replace('"params":{', `"params":{"_meta":${JSON.stringify(envelope)},`), headers };
  }
}

/**
 * The shared frames plus oversized ones and batches: every protocol served here (2025-11-25 and later)
 * refuses a batch with one error, even a batch of notifications.
 */
function frames(): fc.Arbitrary<FrameSpec> {
  const oversized = fc.integer({ min: MAX_BODY + 1, max: 300_000 }).map((bytes) => ({
    label: `${bytes} bytes`,
    expect: 'refused' as const,
    build: (id: number) => JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'query_sql', arguments: { connection: 'shop', sql: `SELECT '${'x'.repeat(bytes)}'` } } }),
  }));
  const batch = batchArb.map((members) => ({
    label: `batch of ${members.map((m) => m.label).join(', ')}`,
    expect: 'refused' as const,
    build: (id: number) => `[${members.map((m, i) => String(m.build(id * 10 + i))).join(',')}]`,
  }));
  return fc.oneof({ arbitrary: frameArb, weight: 12 }, { arbitrary: oversized, weight: 1 }, { arbitrary: batch, weight: 1 });
}

/**
 * The fuzz property for one channel: after each generated list of frames, every frame had its answer (or
 * none, for notifications), nothing answered twice, and the server still lists its tools.
 */
async function fuzz(channel: Channel, channelKind: 'stream' | 'http', frames: fc.Arbitrary<FrameSpec>, log: Log, runs: number, fixed = false): Promise<void> {
  let next = 1_000;
  await fc.assert(
    fc.asyncProperty(fc.array(frames, { minLength: 1, maxLength: 6 }), async (specs) => {
      for (const spec of specs) {
        const id = next++;
        const frame = spec.build(id);
        const answers = await channel.exchange(frame, id, spec.expect);
        const what = `${spec.label}: ${JSON.stringify(answers).slice(0, 3000)}`;
        log.answers.push(...answers);
        log.texts.push(JSON.stringify(answers));
        if (spec.expect === 'notification') expect(answers, what).toEqual([]);
        else expect(answers.length, what).toBeGreaterThanOrEqual(1);
        if (spec.expect === 'call' || spec.expect === 'request' || spec.expect === 'refused') {
          // One answer per message; an array over HTTP (a batch) is answered member by member.
          if (!(channelKind === 'http' && isArray(frame))) expect(answers, what).toHaveLength(1);
        }
        for (const a of answers) {
          // An answer is a result or an error with a JSON-RPC code, never a crash report.
          expect(a.result !== undefined || a.error !== undefined, what).toBe(true);
          if (a.error !== undefined) {
            expect([-32700, -32600, -32601, -32602, -32000, -32020], what).toContain(a.error.code);
            expect(a.error.message, what).not.toMatch(/ZodError|invalid_type|\bat .*\.js:\d+|Internal error/);
          }
        }
        if (spec.expect === 'call') {
          const answer = answers.find((a) => a.id === id);
          expect(answer, what).toBeDefined();
          expect(new Set(auditIdsIn(JSON.stringify(answer))).size, what).toBe(1);
        }
      }
      const list = await channel.exchange(JSON.stringify({ jsonrpc: '2.0', id: next, method: 'tools/list' }), next++, 'request');
      expect(list[0]?.result?.tools).toHaveLength(7);
      expect(channel.strays()).toEqual([]);
    }),
    fuzzParameters(runs, { fixed }),
  );
}

/** Every audit id the answers name has one record, and every record written is named by an answer. */
function expectAudited(auditDir: string, log: Log): void {
  const named = new Set(log.texts.flatMap(auditIdsIn));
  const records = readAudit(auditDir);
  const counts = new Map<string, number>();
  for (const r of records) counts.set(r.id, (counts.get(r.id) ?? 0) + 1);
  for (const id of named) expect(counts.get(id), `records of ${id}`).toBe(1);
  expect(records.map((r) => r.id).filter((id) => !named.has(id))).toEqual([]);
}

/** RSS after the run may not exceed twice the RSS after the first messages (generous; a leak of the messages grows without bound). */
const RSS_FACTOR = 2;

describe('fuzzed JSON-RPC over stdio (issue 21)', () => {
  const dir = tempDir('airlock-fuzz-stdio-');
  const auditDir = join(dir, 'audit');
  let child: ChildProcessWithoutNullStreams | undefined;
  let stderr = '';
  const inbox = new Inbox();

  beforeAll(async () => {
    child = spawn(process.execPath, [CLI, 'serve', '--stdio', '--demo', '--policy', writePolicy(dir), '--audit-dir', auditDir, '--dev-identity', ANA, '--max-body-bytes', String(MAX_BODY), '--log-level', 'warn'], {
      cwd: dir,
      env: env(join(dir, 'home')),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    let buffer = '';
    child.stdout.on('data', (c: Buffer) => {
      buffer += c.toString();
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        inbox.push(buffer.slice(0, nl));
        buffer = buffer.slice(nl + 1);
      }
    });
    child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: LEGACY, capabilities: {}, clientInfo: { name: 'fuzz', version: '1' } } })}\n`);
    await inbox.until(() => inbox.all.some((m) => m.id === 0), 'initialize', () => stderr);
    child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' })}\n`);
  }, 60_000);

  afterAll(async () => {
    if (child !== undefined) await stopChild(child);
  });

  it('answers every frame once (notifications never), keeps serving, audits every answer it names, and stays within its memory bound', async () => {
    const proc = child as ChildProcessWithoutNullStreams;
    // One message per line: a newline inside a generated text would make it two frames.
    const send = (frame: string | Buffer): Promise<Reply[]> =>
      new Promise((resolve) => proc.stdin.write(Buffer.concat([typeof frame === 'string' ? Buffer.from(frame.replace(/[\r\n]/g, ' ')) : frame, Buffer.from('\n')]), () => resolve([])));
    const channel = new StreamChannel(inbox, send, () => `exit ${String(proc.exitCode)}\n${stderr.slice(-2000)}`);
    const log: Log = { answers: [], texts: [] };
    await fuzz(channel, 'stream', frames(), log, 3, true);
    const start = await rssOf(proc.pid as number);
    await fuzz(channel, 'stream', frames(), log, 60);
    const end = await rssOf(proc.pid as number);
    expect(end, `RSS ${start} → ${end}`).toBeLessThan(start * RSS_FACTOR);
    expect(proc.exitCode).toBeNull();
    expectAudited(auditDir, log);
  }, 300_000);
});

describe('fuzzed JSON-RPC over Streamable HTTP (both eras) and legacy SSE (issue 21)', () => {
  const dir = tempDir('airlock-fuzz-http-');
  const auditDir = join(dir, 'audit');
  let child: ChildProcessWithoutNullStreams | undefined;
  let base = '';
  let stderr = '';

  beforeAll(async () => {
    child = spawn(
      process.execPath,
      [CLI, 'serve', '--http', '--port', '0', '--demo', '--policy', writePolicy(dir), '--audit-dir', auditDir, '--dev-identity', ANA, '--max-body-bytes', String(MAX_BODY), '--log-level', 'info'],
      { cwd: dir, env: env(join(dir, 'home')), stdio: ['pipe', 'pipe', 'pipe'] },
    );
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    base = (await waitForOutput(child, /serving MCP on (http:\/\/[^\s]+)\/mcp/, { stream: 'stderr', timeoutMs: 60_000 }))[1] as string;
  }, 90_000);

  afterAll(async () => {
    if (child !== undefined) await stopChild(child);
  });

  const diagnostics = (): string => `exit ${String(child?.exitCode)}\n${stderr.slice(-2000)}`;
  const headers = { 'content-type': 'application/json', accept: ACCEPT };

  /** A direct channel: each POST's own answer is the frame's answer. */
  const direct = (url: string, extra: (frame: string | Buffer) => { body: string | Buffer; headers: Record<string, string> }): Channel => ({
    async exchange(frame) {
      const { body, headers: more } = extra(frame);
      const res = await post(url, { ...headers, ...more }, body);
      expect(res.status, `${res.status} ${res.body.slice(0, 300)}\n${diagnostics()}`).toBeLessThan(500);
      return messagesOf(res);
    },
    strays: () => [],
  });

  it('answers every frame in a 2025-11-25 session once and keeps the session serving', async () => {
    const session = await openSession();
    const log: Log = { answers: [], texts: [] };
    const pid = child?.pid as number;
    const channel = direct(`${base}/mcp`, (frame) => ({ body: frame, headers: session }));
    await fuzz(channel, 'http', frames(), log, 3, true);
    const start = await rssOf(pid);
    await fuzz(channel, 'http', frames(), log, 40);
    expect(await rssOf(pid), `RSS from ${start}`).toBeLessThan(start * RSS_FACTOR);
    expectAuditedSubset(log);
  }, 300_000);

  it('answers every stateless 2026-07-28 frame once', async () => {
    const log: Log = { answers: [], texts: [] };
    await fuzz(direct(`${base}/mcp`, modernize), 'http', frames(), log, 40);
    expectAuditedSubset(log);
  }, 300_000);

  // Found by the fuzzer (seed 21): the SDK checked the Mcp-Name header against the rewritten body and
  // answered -32020 before any handler ran, so the call was never audited. Kept as fixed cases.
  const headerCases: [string, unknown, Record<string, string>, string][] = [
    ['a tools/call without a name and no Mcp-Name header', { arguments: [['xg 5p^1', true, false, null, null]] }, {}, '(no name)'],
    ['a tools/call with a numeric name', { name: 7, arguments: {} }, { 'mcp-name': '7' }, '7'],
    ['a well-formed tools/call whose Mcp-Name header names another tool', { name: 'whoami', arguments: {} }, { 'mcp-name': 'query_sql' }, 'whoami'],
    ['a well-formed tools/call without the Mcp-Name header', { name: 'whoami', arguments: {} }, {}, 'whoami'],
  ];
  for (const [label, params, extra, tool] of headerCases) {
    it(`audits ${label} on 2026-07-28 that the SDK refuses for its headers, and answers with the SDK's code and the audit id (issue 21)`, async () => {
      const { body, headers: modern } = modernize(JSON.stringify({ jsonrpc: '2.0', id: 77, method: 'tools/call', params }));
      delete modern['mcp-name'];
      const res = await post(`${base}/mcp`, { ...headers, ...modern, ...extra }, body);
      expect(res.status).toBe(400);
      const answer = JSON.parse(res.body) as Reply;
      expect(answer.id).toBe(77);
      expect(answer.error?.code).toBe(-32020);
      expect(answer.error?.message).toMatch(/^Invalid request: headers: Bad Request: the request headers and body disagree: /);
      const ids = auditIdsIn(res.body);
      expect(ids).toHaveLength(1);
      allTexts.push(res.body);
      expect(readAudit(auditDir).filter((r) => r.id === ids[0])).toMatchObject([{ tool, transport: 'http', protocol: MODERN, outcome: 'invalid', error: { code: 'INVALID_INPUT' } }]);
    });
  }

  // Found by the fuzzer (seed 7): routing a POST without a session re-serialised the body with
  // JSON.stringify, which overflowed the stack on 9,786 levels of nesting: 500 and nothing audited.
  const deep = (depth: number): string => `${'['.repeat(depth)}1${']'.repeat(depth)}`;
  it('refuses a body nested 9,786 levels deep without a session with 400, audited, over both eras (issue 21)', async () => {
    for (const extra of [{}, { 'mcp-protocol-version': MODERN }] as Record<string, string>[]) {
      const res = await post(`${base}/mcp`, { ...headers, ...extra }, deep(9_786));
      expect(res.status, res.body).toBe(400);
      const answers = messagesOf(res);
      expect(answers).toHaveLength(1);
      expect(answers[0]?.error?.message).toMatch(/^Invalid request: message: must be a JSON-RPC object, got an array \[code: INVALID_INPUT; audit id: [0-9a-f-]{36}\]$/);
      allTexts.push(res.body);
      expect(readAudit(auditDir).filter((r) => r.id === auditIdsIn(res.body)[0])).toHaveLength(1);
    }
  });

  it('answers a 2026-07-28 request whose params nest 10,000 levels deep under its id, not with a 500 (issue 21)', async () => {
    const { body, headers: modern } = modernize(`{"jsonrpc":"2.0","id":9,"method":"tools/list","params":{"x":${deep(10_000)}}}`);
    const res = await post(`${base}/mcp`, { ...headers, ...modern }, body);
    expect(res.status, res.body).toBeLessThan(500);
    const answers = messagesOf(res);
    expect(answers).toHaveLength(1);
    expect(answers[0]?.id).toBe(9);
    expect(answers[0]?.result?.tools).toHaveLength(7);
  });

  it('answers every frame posted to a legacy SSE session once, on the stream or in the POST answer', async () => {
    const inbox = new Inbox();
    const { endpoint, close } = await openSse(inbox);
    try {
      const send = async (frame: string | Buffer): Promise<Reply[]> => {
        const res = await post(`${base}${endpoint}`, headers, frame);
        expect(res.status, `${res.status} ${res.body.slice(0, 300)}\n${diagnostics()}`).toBeLessThan(500);
        return res.status === 202 ? [] : messagesOf(res);
      };
      const log: Log = { answers: [], texts: [] };
      await fuzz(new StreamChannel(inbox, send, diagnostics), 'http', frames(), log, 40);
      expectAuditedSubset(log);
    } finally {
      close();
    }
  }, 300_000);

  it('still serves, and every record in the shared audit directory is named by an answer', () => {
    expect(child?.exitCode).toBeNull();
    const named = new Set(allTexts.flatMap(auditIdsIn));
    const records = readAudit(auditDir);
    const counts = new Map<string, number>();
    for (const r of records) counts.set(r.id, (counts.get(r.id) ?? 0) + 1);
    for (const id of named) expect(counts.get(id), `records of ${id}`).toBe(1);
    // Sessions opened and closed by the test itself are recorded too (their own tools: GET /sse, DELETE).
    expect(records.filter((r) => !named.has(r.id) && !r.tool.startsWith('GET ') && !r.tool.startsWith('DELETE ')).map((r) => `${r.tool} ${r.outcome}`)).toEqual([]);
  });

  const allTexts: string[] = [];
  function expectAuditedSubset(log: Log): void {
    allTexts.push(...log.texts);
    const named = new Set(log.texts.flatMap(auditIdsIn));
    const counts = new Map<string, number>();
    for (const r of readAudit(auditDir)) counts.set(r.id, (counts.get(r.id) ?? 0) + 1);
    for (const id of named) expect(counts.get(id), `records of ${id}`).toBe(1);
  }

  async function openSession(): Promise<Record<string, string>> {
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(`${base}/mcp`, { method: 'POST', headers }, resolve);
      req.on('error', reject);
      req.end(JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: LEGACY, capabilities: {}, clientInfo: { name: 'fuzz', version: '1' } } }));
    });
    res.resume();
    const session = { 'mcp-session-id': String(res.headers['mcp-session-id']), 'mcp-protocol-version': LEGACY };
    const initialized = await post(`${base}/mcp`, { ...headers, ...session }, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
    expect(initialized.status).toBe(202);
    return session;
  }

  /** Opens GET /sse, feeds its message events to `inbox`, and returns the endpoint to POST to. */
  async function openSse(inbox: Inbox): Promise<{ endpoint: string; close: () => void }> {
    return new Promise((resolve, reject) => {
      const req = request(`${base}/sse`, { headers: { accept: 'text/event-stream' } }, (res) => {
        let buffer = '';
        res.on('data', (c: Buffer) => {
          buffer += c.toString();
          for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
            const event = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const name = /^event: (.*)$/m.exec(event)?.[1] ?? 'message';
            const data = event
              .split('\n')
              .filter((l) => l.startsWith('data: '))
              .map((l) => l.slice(6))
              .join('\n');
            if (name === 'endpoint') resolve({ endpoint: data, close: () => req.destroy() });
            else if (name === 'message') inbox.push(data);
          }
        });
      });
      req.on('error', reject);
      req.end();
    });
  }
});
