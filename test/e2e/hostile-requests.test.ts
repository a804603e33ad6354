import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { AuditRecord } from '../../src/audit/record.js';
import { DEPTH_MARKER } from '../../src/bounds.js';
import { startAirlock, type RunningAirlock } from '../../src/main.js';
import { auditIdOf, CLI, readAudit, tempDir, textOf, writePolicy } from '../support/airlock.js';
import { stopChild, waitForOutput } from '../support/child.js';
import { httpConfig, raw } from '../support/http.js';
import { startLocalIssuer, type LocalIssuer } from '../support/oidc-issuer.js';

/** `depth` nested containers: arrays, objects, or both in turn, with a leaf at the bottom. */
function nested(kind: 'array' | 'object' | 'mixed', depth: number): unknown {
  let value: unknown = 'leaf';
  for (let i = depth - 1; i >= 0; i--) {
    const asArray = kind === 'array' || (kind === 'mixed' && i % 2 === 0);
    value = asArray ? [value] : { k: value };
  }
  return value;
}

/** How deep `value` nests (iteratively: the values here are deeper than a recursive walk survives). */
function depthOf(value: unknown): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop() as [unknown, number];
    if (typeof node !== 'object' || node === null) continue;
    max = Math.max(max, depth + 1);
    for (const child of Object.values(node)) stack.push([child, depth + 1]);
  }
  return max;
}

const DEEP_VARIANTS: [string, () => Record<string, unknown>, number][] = [
  // [label, arguments, depth of the arguments as sent]
  ['deep arrays inside params', () => ({ connection: 'shop', sql: 'SELECT $1::text', params: [nested('array', 3000)] }), 3002],
  ['deep objects as an argument', () => ({ connection: 'shop', sql: 'SELECT 1', extra: nested('object', 3000) }), 3001],
  ['mixed arrays and objects', () => ({ connection: 'shop', sql: 'SELECT 1', params: [nested('mixed', 3000)] }), 3002],
  ['just over the bound', () => ({ connection: 'shop', sql: 'SELECT 1', params: [nested('array', 64)] }), 66],
];

const deepText = (id: string) => `Invalid arguments for query_sql: params.arguments: nested deeper than 64 levels\n[code: INVALID_INPUT; audit id: ${id}]`;

function recordsWith(auditDir: string, id: string): AuditRecord[] {
  return readAudit(auditDir).filter((r) => r.id === id);
}

/** The deep-input record: one record, INVALID_INPUT, the input kept down to the bound with the marker. */
function expectDeepRecord(auditDir: string, id: string, transport: string): void {
  const records = recordsWith(auditDir, id);
  expect(records).toHaveLength(1);
  const record = records[0] as AuditRecord;
  expect(record).toMatchObject({ transport, tool: 'query_sql', outcome: 'invalid', error: { code: 'INVALID_INPUT' }, decision: null });
  expect(depthOf(record.input)).toBe(64);
  expect(JSON.stringify(record.input)).toContain(JSON.stringify(DEPTH_MARKER));
  expect((record.input as { connection: string }).connection).toBe('shop');
}

/** Raw JSON-RPC over a spawned `airlock serve --stdio`: one line per message, answers by id. */
class StdioPeer {
  private buffer = '';
  private readonly waiting = new Map<number | string | null, (message: Record<string, unknown>) => void>();
  readonly child: ChildProcessWithoutNullStreams;
  readonly lines: string[] = [];
  stderr = '';

  constructor(args: string[], env: NodeJS.ProcessEnv) {
    this.child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr.on('data', (c: Buffer) => (this.stderr += c.toString()));
    this.child.stdout.on('data', (c: Buffer) => {
      this.buffer += c.toString();
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 1);
        const message = JSON.parse(line) as Record<string, unknown>;
        this.lines.push(line);
        this.waiting.get(message.id as number | null)?.(message);
      }
    });
  }

  write(text: string): void {
    this.child.stdin.write(`${text}\n`);
  }

  request(id: number | null, method: string, params: unknown, text?: string): Promise<Record<string, unknown>> {
    const answer = new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to ${id} (${method}); exit ${String(this.child.exitCode)}\n${this.stderr}`)), 20_000);
      this.waiting.set(id, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
    });
    this.write(text ?? JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    return answer;
  }
}

const databaseEnv = (): NodeJS.ProcessEnv => ({ PATH: process.env.PATH ?? '', HOME: tempDir('home-'), DATABASE_URL: inject('databaseUrl') });

describe('tools/call requests that nest deep or that the SDK would refuse, over stdio (issue 15)', () => {
  const dir = tempDir();
  const auditDir = join(dir, 'audit');
  let peer: StdioPeer;
  let nextId = 10;

  beforeAll(async () => {
    peer = new StdioPeer(['serve', '--stdio', '--policy', writePolicy(dir), '--audit-dir', auditDir, '--dev-identity', 'ana@example.com,analysts'], databaseEnv());
    const init = await peer.request(1, 'initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } });
    expect(init.result).toBeDefined();
    peer.write(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
  });

  afterAll(async () => {
    if (peer !== undefined) await stopChild(peer.child);
  });

  const call = async (params: unknown, text?: (id: number) => string): Promise<{ result: Record<string, unknown>; id: string }> => {
    const id = nextId++;
    const message = await peer.request(id, 'tools/call', params, text?.(id));
    expect(message.error).toBeUndefined();
    const result = message.result as Record<string, unknown>;
    return { result, id: auditIdOf(result) };
  };

  for (const [label, args] of DEEP_VARIANTS) {
    it(`answers INVALID_INPUT, audits once with the input cut at 64 levels, and keeps serving: ${label}`, async () => {
      const { result, id } = await call({ name: 'query_sql', arguments: args() });
      expect(result.isError).toBe(true);
      expect(textOf(result)).toBe(deepText(id));
      expectDeepRecord(auditDir, id, 'stdio');
      const list = await peer.request(nextId++, 'tools/list', {});
      expect((list.result as { tools: unknown[] }).tools).toHaveLength(7);
    });
  }

  it('accepts arguments exactly at the bound and runs the call', async () => {
    // 64 levels in all: the arguments object and 63 arrays (params is the outermost).
    const { result, id } = await call({ name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT 1 AS one', params: nested('array', 63) } });
    // The statement has no placeholder: the parameter is refused by the server, not by the depth bound.
    expect(textOf(result)).not.toContain('nested deeper');
    expect(recordsWith(auditDir, id)).toHaveLength(1);
    expect(depthOf(recordsWith(auditDir, id)[0]?.input)).toBe(64);
  });

  it('ignores a deep _meta (airlock does not walk it) and runs the call', async () => {
    const { result, id } = await call({ name: 'whoami', arguments: {}, _meta: { progressToken: 7, deep: nested('mixed', 3000) } });
    expect(result.isError).toBeFalsy();
    expect(recordsWith(auditDir, id)).toMatchObject([{ tool: 'whoami', outcome: 'ok', input: {} }]);
  });

  const refused: [string, unknown, string, string, unknown][] = [
    // [label, params, tool recorded, public issue text, input recorded]
    ['arguments: null', { name: 'whoami', arguments: null }, 'whoami', 'params.arguments: must be an object, got null', null],
    ['arguments as an array', { name: 'whoami', arguments: [1, 2] }, 'whoami', 'params.arguments: must be an object, got an array', [1, 2]],
    ['arguments as a string', { name: 'query_sql', arguments: 'SELECT 1' }, 'query_sql', 'params.arguments: must be an object, got a string', 'SELECT 1'],
    ['a numeric tool name', { name: 123, arguments: {} }, '123', 'params.name: the tool name must be a string, got a number', {}],
    ['an object as tool name', { name: { tool: 'query_sql' }, arguments: { connection: 'shop' } }, '{"tool":"query_sql"}', 'params.name: the tool name must be a string, got an object', { connection: 'shop' }],
    ['no tool name', { arguments: {} }, '(no name)', 'params.name: the tool name is missing', {}],
    ['a null _meta', { name: 'whoami', arguments: {}, _meta: null }, 'whoami', 'params._meta: must be an object, got null', {}],
    ['a string _meta', { name: 'whoami', arguments: {}, _meta: 'x' }, 'whoami', 'params._meta: must be an object, got a string', {}],
    ['a fractional progress token', { name: 'whoami', arguments: {}, _meta: { progressToken: 1.5 } }, 'whoami', 'params._meta.progressToken: must be a string or an integer, got a number', {}],
    ['an object progress token', { name: 'whoami', arguments: {}, _meta: { progressToken: { a: 1 } } }, 'whoami', 'params._meta.progressToken: must be a string or an integer, got an object', {}],
    ['params as an array', ['whoami'], '(no name)', 'params: must be an object, got an array; params.name: the tool name is missing', {}],
    ['params as a string', 'whoami', '(no name)', 'params: must be an object, got a string; params.name: the tool name is missing', {}],
  ];
  for (const [label, params, tool, issue, input] of refused) {
    it(`audits ${label} and answers a clean INVALID_INPUT, not a validator dump`, async () => {
      const { result, id } = await call(params);
      expect(result.isError).toBe(true);
      expect(textOf(result)).toBe(`Invalid arguments for ${tool}: ${issue}\n[code: INVALID_INPUT; audit id: ${id}]`);
      expect(textOf(result)).not.toMatch(/invalid_type|expected|"path"/);
      const records = recordsWith(auditDir, id);
      expect(records).toHaveLength(1);
      expect(records[0]).toMatchObject({ tool, outcome: 'invalid', error: { code: 'INVALID_INPUT' }, decision: null, devIdentity: true });
      expect(records[0]?.input).toEqual(input);
    });
  }

  it('refuses a progress token of 1e400 (Infinity once parsed) as INVALID_INPUT, audited', async () => {
    const { result, id } = await call(undefined, (n) => `{"jsonrpc":"2.0","id":${n},"method":"tools/call","params":{"name":"whoami","arguments":{},"_meta":{"progressToken":1e400}}}`);
    expect(textOf(result)).toBe(`Invalid arguments for whoami: params._meta.progressToken: must be a string or an integer, got a number\n[code: INVALID_INPUT; audit id: ${id}]`);
    expect(recordsWith(auditDir, id)).toMatchObject([{ tool: 'whoami', outcome: 'invalid' }]);
  });

  it('runs a call carrying the MCP task augmentation normally: a server that declares no tasks ignores it', async () => {
    for (const extra of [{ task: { ttl: 60000 } }, { task: 'x' }, { _meta: { 'io.modelcontextprotocol/related-task': { taskId: 7 } } }]) {
      const { result, id } = await call({ name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT 1 AS one' }, ...extra });
      expect(result.isError, JSON.stringify(extra)).toBeFalsy();
      expect(result.structuredContent).toMatchObject({ rows: [[1]] });
      expect(recordsWith(auditDir, id)).toMatchObject([{ tool: 'query_sql', outcome: 'ok', input: { connection: 'shop', sql: 'SELECT 1 AS one' } }]);
    }
  });

  it('keeps a __proto__ key in the recorded input and refuses it as an unknown argument', async () => {
    const { result, id } = await call(undefined, (n) => `{"jsonrpc":"2.0","id":${n},"method":"tools/call","params":{"name":"query_sql","arguments":{"connection":"shop","sql":"SELECT 1","__proto__":{"isAdmin":true}}}}`);
    expect(textOf(result)).toBe(`Invalid arguments for query_sql: (arguments): Unrecognized key: "__proto__"\n[code: INVALID_INPUT; audit id: ${id}]`);
    const record = recordsWith(auditDir, id)[0] as AuditRecord;
    expect(Object.hasOwn(record.input as object, '__proto__')).toBe(true);
    // The store keeps records as the canonical text they were hashed over: keys in sorted order.
    expect(JSON.stringify(record.input)).toBe('{"__proto__":{"isAdmin":true},"connection":"shop","sql":"SELECT 1"}');
  });

  it('keeps a __proto__ key nested in the arguments, also past the depth bound', async () => {
    const deepWithProto = `{"a":${'['.repeat(100)}${']'.repeat(100)},"__proto__":{"x":1}}`;
    const { result, id } = await call(undefined, (n) => `{"jsonrpc":"2.0","id":${n},"method":"tools/call","params":{"name":"query_sql","arguments":${deepWithProto}}}`);
    expect(textOf(result)).toBe(deepText(id));
    const record = recordsWith(auditDir, id)[0] as AuditRecord;
    expect(Object.hasOwn(record.input as object, '__proto__')).toBe(true);
  });

  it('cuts json values from the database at 64 levels, with the marker, instead of failing the call', async () => {
    for (const cast of ['json', 'jsonb']) {
      const { result, id } = await call({ name: 'query_sql', arguments: { connection: 'shop', sql: `SELECT (repeat('[', 3000) || '1' || repeat(']', 3000))::${cast} AS j` } });
      expect(result.isError, cast).toBeFalsy();
      const cell = (result.structuredContent as { rows: unknown[][] }).rows[0]?.[0];
      expect(depthOf(cell)).toBe(64);
      expect(JSON.stringify(cell)).toContain(JSON.stringify(DEPTH_MARKER));
      expect(recordsWith(auditDir, id)).toMatchObject([{ outcome: 'ok' }]);
    }
  });

  it('is still alive and answering after all of the above', async () => {
    const { result } = await call({ name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT 40 + 2 AS answer' } });
    expect(result.structuredContent).toMatchObject({ rows: [[42]] });
    expect(peer.child.exitCode).toBeNull();
  });
});

describe('stdio message lines over --max-body-bytes (issue 15)', () => {
  const dir = tempDir();
  let peer: StdioPeer;

  beforeAll(async () => {
    peer = new StdioPeer(['serve', '--stdio', '--max-body-bytes', '65536', '--policy', writePolicy(dir), '--audit-dir', auditDir, '--dev-identity', 'ana@example.com,analysts'], databaseEnv());
    await peer.request(1, 'initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } });
    peer.write(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
  });

  afterAll(async () => {
    if (peer !== undefined) await stopChild(peer.child);
  });

  const auditDir = join(dir, 'audit');
  /** The refusal of a line over the limit: id null (its id was never read), one INVALID_INPUT record. */
  const expectTooLarge = (answer: Record<string, unknown>): void => {
    const error = answer.error as { code: number; message: string };
    expect(answer.id).toBeNull();
    expect(error.code).toBe(-32600);
    const id = /^Invalid request: message: too large: a message is limited to 65536 bytes \(--max-body-bytes\); it was not read \[code: INVALID_INPUT; audit id: ([0-9a-f-]{36})\]$/.exec(error.message)?.[1];
    expect(id, error.message).toBeDefined();
    expect(recordsWith(auditDir, id as string)).toMatchObject([{ tool: '(unreadable message)', transport: 'stdio', outcome: 'invalid', input: null, devIdentity: true, principal: { email: 'ana@example.com' } }]);
  };
  const bigCall = (id: number, bytes: number) => JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'query_sql', arguments: { connection: 'shop', sql: `SELECT '${'x'.repeat(bytes)}'` } } });

  it('refuses a line over the limit with a JSON-RPC error, then answers the next request', async () => {
    for (const bytes of [70_000, 5_000_000]) {
      const refused = await peer.request(null, 'tools/call', undefined, bigCall(100, bytes));
      expectTooLarge(refused);
      const list = await peer.request(101 + bytes, 'tools/list', {});
      expect((list.result as { tools: unknown[] }).tools).toHaveLength(7);
    }
  });

  it('skips a long line that arrives in many pieces, and keeps the requests around it', async () => {
    const refused = peer.request(null, 'tools/call', undefined, '');
    const before = peer.request(200, 'tools/call', { name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT 1 AS before' } });
    const line = bigCall(201, 300_000);
    for (let i = 0; i < line.length; i += 8192) peer.child.stdin.write(line.slice(i, i + 8192));
    peer.write('');
    const after = peer.request(202, 'tools/call', { name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT 2 AS after' } });
    expectTooLarge(await refused);
    expect(((await before).result as { structuredContent: unknown }).structuredContent).toMatchObject({ rows: [[1]] });
    expect(((await after).result as { structuredContent: unknown }).structuredContent).toMatchObject({ rows: [[2]] });
    expect(peer.lines.some((l) => l.includes('"id":201'))).toBe(false);
  });

  it('serves a line just under the limit', async () => {
    const result = await peer.request(300, 'tools/call', undefined, bigCall(300, 60_000));
    expect((result.result as { structuredContent: { rows: string[][] } }).structuredContent.rows[0]?.[0]).toHaveLength(60_000);
    expect(peer.child.exitCode).toBeNull();
  });
});

describe('the same requests over Streamable HTTP and legacy SSE, with bearer tokens (issue 15)', () => {
  const dir = tempDir();
  const auditDir = join(dir, 'audit');
  const resource = 'https://airlock.test/mcp';
  let idp: LocalIssuer;
  let child: ChildProcessWithoutNullStreams | undefined;
  let base = '';

  beforeAll(async () => {
    idp = await startLocalIssuer();
    const configPath = join(dir, 'airlock.json');
    writeFileSync(configPath, JSON.stringify({ identity: { issuers: [{ issuer: idp.issuer, audiences: [resource], groupsClaim: 'groups' }], resource } }));
    child = spawn(process.execPath, [CLI, 'serve', '--http', '--port', '0', '--config', configPath, '--policy', writePolicy(dir), '--audit-dir', auditDir], {
      env: databaseEnv(),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    base = (await waitForOutput(child, /serving MCP on (http:\/\/[^\s]+)\/mcp/, { stream: 'stderr' }))[1] as string;
  });

  afterAll(async () => {
    try {
      if (child !== undefined) await stopChild(child);
    } finally {
      await idp?.close();
    }
  });

  const token = () => idp.sign({ sub: 'ana', aud: resource, email: 'ana@example.com', email_verified: true, groups: ['analysts'] });

  async function withClient(kind: 'http' | 'sse', body: (client: Client) => Promise<void>): Promise<void> {
    const bearer = await token();
    const transport: Transport =
      kind === 'http'
        ? new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { requestInit: { headers: { authorization: `Bearer ${bearer}` } } })
        : new SSEClientTransport(new URL(`${base}/sse`), {
            requestInit: { headers: { authorization: `Bearer ${bearer}` } },
            eventSourceInit: { fetch: (url, init) => fetch(url, { ...init, headers: { ...(init?.headers as Record<string, string>), authorization: `Bearer ${bearer}` } }) },
          });
    const client = new Client({ name: 'hostile', version: '1.0.0' });
    await client.connect(transport);
    try {
      await body(client);
    } finally {
      if (transport instanceof StreamableHTTPClientTransport) await transport.terminateSession();
      await client.close();
    }
  }

  // The client sends params as given: the SDK's client does not validate what it sends.
  const rawCall = (client: Client, params: unknown) => client.request({ method: 'tools/call', params: params as { name: string } }, CallToolResultSchema);

  for (const kind of ['http', 'sse'] as const) {
    it(`refuses deep arguments as INVALID_INPUT with one record, over ${kind}`, async () => {
      await withClient(kind, async (client) => {
        for (const [label, args] of DEEP_VARIANTS) {
          const result = await rawCall(client, { name: 'query_sql', arguments: args() });
          const id = auditIdOf(result);
          expect(textOf(result), label).toBe(deepText(id));
          expectDeepRecord(auditDir, id, kind);
          expect(recordsWith(auditDir, id)[0]?.principal).toMatchObject({ sub: 'ana', issuer: idp.issuer });
        }
        expect((await client.listTools()).tools).toHaveLength(7);
      });
    });

    it(`audits arguments: null, a numeric name and a bad _meta as INVALID_INPUT and runs a task-augmented call, over ${kind}`, async () => {
      await withClient(kind, async (client) => {
        const cases: [unknown, string, string][] = [
          [{ name: 'whoami', arguments: null }, 'whoami', 'params.arguments: must be an object, got null'],
          [{ name: 7, arguments: {} }, '7', 'params.name: the tool name must be a string, got a number'],
          [{ name: 'whoami', arguments: {}, _meta: null }, 'whoami', 'params._meta: must be an object, got null'],
          [{ name: 'whoami', arguments: {}, _meta: { progressToken: true } }, 'whoami', 'params._meta.progressToken: must be a string or an integer, got a boolean'],
        ];
        for (const [params, tool, issue] of cases) {
          const result = await rawCall(client, params);
          const id = auditIdOf(result);
          expect(textOf(result)).toBe(`Invalid arguments for ${tool}: ${issue}\n[code: INVALID_INPUT; audit id: ${id}]`);
          expect(recordsWith(auditDir, id)).toMatchObject([{ tool, transport: kind, outcome: 'invalid', principal: { sub: 'ana' } }]);
        }
        // The task augmentation is ignored (the server declares no tasks): the call runs.
        const result = await rawCall(client, { name: 'whoami', arguments: {}, task: { ttl: 1000 } });
        expect(result.isError).toBeFalsy();
        expect(recordsWith(auditDir, auditIdOf(result))).toMatchObject([{ tool: 'whoami', transport: kind, outcome: 'ok' }]);
      });
    });
  }

  it('audits an unauthenticated deep request once, with the input cut, and keeps serving', async () => {
    for (const [label, args] of DEEP_VARIANTS) {
      const res = await fetch(`${base}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'query_sql', arguments: args() } }),
      });
      expect(res.status, label).toBe(401);
      const message = ((await res.json()) as { error: { message: string } }).error.message;
      const id = /audit id: ([0-9a-f-]{36})/.exec(message)?.[1] ?? '';
      const records = recordsWith(auditDir, id);
      expect(records, label).toHaveLength(1);
      expect(records[0]).toMatchObject({ outcome: 'unauthenticated', tool: 'query_sql', principal: null });
      expect(depthOf(records[0]?.input)).toBe(64);
    }
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect(child?.exitCode).toBeNull();
  });
});

/** The audit id in a JSON-RPC error's message. */
function auditIdInError(message: Record<string, unknown> | { error?: { message?: string } }): string {
  const text = (message as { error?: { message?: string } }).error?.message ?? '';
  const id = /audit id: ([0-9a-f-]{36})/.exec(text)?.[1];
  if (id === undefined) throw new Error(`no audit id in ${JSON.stringify(message).slice(0, 300)}`);
  return id;
}

describe('messages the SDK would drop unanswered, over stdio: answered with a JSON-RPC error and audited once (issue 15)', () => {
  const dir = tempDir();
  const auditDir = join(dir, 'audit');
  let peer: StdioPeer;

  beforeAll(async () => {
    peer = new StdioPeer(['serve', '--stdio', '--policy', writePolicy(dir), '--audit-dir', auditDir, '--dev-identity', 'ana@example.com,analysts'], databaseEnv());
    await peer.request(1, 'initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } });
    peer.write(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
  });

  afterAll(async () => {
    if (peer !== undefined) await stopChild(peer.child);
  });

  const cases: [string, string, number | null, number, string, string, unknown][] = [
    // [label, line, id answered, JSON-RPC code, message before the audit id, tool recorded, input recorded]
    ['a line that is not JSON', '{"jsonrpc":"2.0","id":5,"method":', null, -32700, 'Parse error: message: not valid JSON', '(unreadable message)', null],
    ['a batch', '[{"jsonrpc":"2.0","id":6,"method":"tools/list"}]', null, -32600, 'Invalid request: message: JSON-RPC batches are not accepted over stdio; send one message per line', '(unreadable message)', null],
    ['a bare number', '42', null, -32600, 'Invalid request: message: must be a JSON-RPC object, got a number', '(not a JSON-RPC message)', null],
    ['a tools/call with an object id', '{"jsonrpc":"2.0","id":{"x":1},"method":"tools/call","params":{"name":"whoami","arguments":{"a":1}}}', null, -32600, 'Invalid request: id: must be a string or an integer, got an object', 'whoami', { a: 1 }],
    ['a tools/call with a fractional id', '{"jsonrpc":"2.0","id":1.5,"method":"tools/call","params":{"name":"whoami","arguments":{}}}', null, -32600, 'Invalid request: id: must be a string or an integer, got a number', 'whoami', {}],
    ['a tools/call with no id', '{"jsonrpc":"2.0","method":"tools/call","params":{"name":"query_sql","arguments":{"connection":"shop","sql":"SELECT 1"}}}', null, -32600, 'Invalid request: id: a tools/call must have an id', 'query_sql', { connection: 'shop', sql: 'SELECT 1' }],
    ['a tools/call of JSON-RPC 1.0', '{"jsonrpc":"1.0","id":7,"method":"tools/call","params":{"name":"whoami","arguments":{}}}', 7, -32600, 'Invalid request: jsonrpc: must be "2.0"', 'whoami', {}],
    ['a tools/call with an extra member', '{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"whoami"},"auth":"x"}', 8, -32600, 'Invalid request: auth: is not a JSON-RPC request member', 'whoami', {}],
    ['a tools/list with a null _meta', '{"jsonrpc":"2.0","id":9,"method":"tools/list","params":{"_meta":null}}', 9, -32600, 'Invalid request: params._meta: must be an object, got null', 'tools/list', null],
    ['a tools/list with string params', '{"jsonrpc":"2.0","id":10,"method":"tools/list","params":"all"}', 10, -32600, 'Invalid request: params: must be an object, got a string', 'tools/list', null],
    ['a request whose method is a number', '{"jsonrpc":"2.0","id":11,"method":3}', 11, -32600, 'Invalid request: method: must be a string, got a number', '(no method)', null],
  ];
  for (const [label, line, answerId, code, text, tool, input] of cases) {
    it(`answers and audits ${label}`, async () => {
      const answer = await peer.request(answerId, 'raw', undefined, line);
      const error = answer.error as { code: number; message: string };
      expect(answer.id).toBe(answerId);
      expect(error.code).toBe(code);
      const id = auditIdInError(answer);
      expect(error.message).toBe(`${text} [code: INVALID_INPUT; audit id: ${id}]`);
      const records = recordsWith(auditDir, id);
      expect(records).toHaveLength(1);
      expect(records[0]).toMatchObject({ tool, transport: 'stdio', outcome: 'invalid', error: { code: 'INVALID_INPUT' }, devIdentity: true, principal: { email: 'ana@example.com' } });
      expect(records[0]?.input).toEqual(input);
    });
  }

  it('is still serving, and wrote exactly one record per refusal', async () => {
    const list = await peer.request(99, 'tools/list', {});
    expect((list.result as { tools: unknown[] }).tools).toHaveLength(7);
    expect(readAudit(auditDir).filter((r) => r.outcome === 'invalid')).toHaveLength(cases.length);
  });
});

describe('a refused stdio message without an identity is recorded as unauthenticated (issue 15)', () => {
  it('records the unreadable line under no principal and answers UNAUTHENTICATED', async () => {
    const dir = tempDir();
    const auditDir = join(dir, 'audit');
    const peer = new StdioPeer(['serve', '--stdio', '--policy', writePolicy(dir), '--audit-dir', auditDir], databaseEnv());
    try {
      await peer.request(1, 'initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } });
      const answer = await peer.request(null, 'raw', undefined, 'not json');
      const id = auditIdInError(answer);
      expect((answer.error as { message: string }).message).toContain('[code: UNAUTHENTICATED');
      expect(recordsWith(auditDir, id)).toMatchObject([{ outcome: 'unauthenticated', principal: null, tool: '(unreadable message)' }]);
    } finally {
      await stopChild(peer.child);
    }
  });
});

describe('HTTP bodies refused before the SDK: audited once under the caller, never inside a session (issue 15)', () => {
  const resource = 'https://airlock.test/mcp';
  const mcpHeaders = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' };
  let idp: LocalIssuer;
  let bearer: RunningAirlock | undefined;
  let dev: RunningAirlock | undefined;
  let bearerAudit = '';
  let devAudit = '';

  beforeAll(async () => {
    process.env.DATABASE_URL = inject('databaseUrl');
    idp = await startLocalIssuer();
    const dir = tempDir();
    const configPath = join(dir, 'airlock.json');
    writeFileSync(configPath, JSON.stringify({ identity: { resource, issuers: [{ issuer: idp.issuer, audiences: [resource], groupsClaim: 'groups' }] } }));
    bearerAudit = join(dir, 'audit');
    bearer = await startAirlock(httpConfig(dir, { configPath, auditDir: bearerAudit, maxBodyBytes: 65536 }), () => undefined);
    const devDir = tempDir();
    devAudit = join(devDir, 'audit');
    dev = await startAirlock(httpConfig(devDir, { auditDir: devAudit, maxBodyBytes: 65536, devIdentity: 'ana@example.com,analysts' }), () => undefined);
  });

  afterAll(async () => {
    try {
      await bearer?.close();
      await dev?.close();
    } finally {
      await idp?.close();
    }
  });

  const token = () => idp.sign({ sub: 'ana', aud: resource, email: 'ana@example.com', email_verified: true, groups: ['analysts'] });
  const post = async (base: string, path: string, body: string, headers: Record<string, string> = {}) => raw(`${base}${path}`, { method: 'POST', headers: { ...mcpHeaders, ...headers }, body });
  const idIn = (body: string): string => /audit id: ([0-9a-f-]{36})/.exec(body)?.[1] ?? '';
  const big = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'query_sql', arguments: { connection: 'shop', sql: `SELECT '${'x'.repeat(70_000)}'` } } });

  it('answers a body over --max-body-bytes with 413 and one record under the verified caller', async () => {
    const res = await post(bearer?.http?.url ?? '', '/mcp', big, { authorization: `Bearer ${await token()}` });
    expect(res.status).toBe(413);
    const error = (JSON.parse(res.body) as { error: { code: number; message: string } }).error;
    expect(error.code).toBe(-32600);
    expect(error.message).toBe(`Invalid request: body: too large: the limit is 65536 bytes (--max-body-bytes); it was not read [code: INVALID_INPUT; audit id: ${idIn(res.body)}]`);
    expect(recordsWith(bearerAudit, idIn(res.body))).toMatchObject([{ tool: '(unreadable message)', transport: 'http', outcome: 'invalid', sessionId: '', principal: { sub: 'ana', issuer: idp.issuer } }]);
  });

  it('answers the same body without a token with 401, recorded once under no principal', async () => {
    const res = await post(bearer?.http?.url ?? '', '/mcp', big);
    expect(res.status).toBe(401);
    expect(recordsWith(bearerAudit, idIn(res.body))).toMatchObject([{ tool: 'POST /mcp', outcome: 'unauthenticated', principal: null }]);
  });

  it('answers a body that is not JSON with 400 -32700, recorded under the caller, on /mcp and /messages', async () => {
    for (const path of ['/mcp', '/messages?sessionId=x']) {
      const res = await post(bearer?.http?.url ?? '', path, '{"jsonrpc":', { authorization: `Bearer ${await token()}` });
      expect(res.status, path).toBe(400);
      expect((JSON.parse(res.body) as { error: { code: number } }).error.code).toBe(-32700);
      expect(recordsWith(bearerAudit, idIn(res.body)), path).toMatchObject([{ tool: '(unreadable message)', transport: path === '/mcp' ? 'http' : 'sse', outcome: 'invalid', principal: { sub: 'ana' } }]);
    }
  });

  it('audits a request without a session that is not initialize (400)', async () => {
    const res = await post(bearer?.http?.url ?? '', '/mcp', JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/list' }), { authorization: `Bearer ${await token()}` });
    expect(res.status).toBe(400);
    expect(res.body).toContain('the first request must be initialize');
    expect(recordsWith(bearerAudit, idIn(res.body))).toMatchObject([{ tool: 'tools/list', outcome: 'invalid', principal: { sub: 'ana' } }]);
  });

  it('refuses malformed messages inside a session with 400, audited in that session under its owner', async () => {
    const base = bearer?.http?.url ?? '';
    const auth = { authorization: `Bearer ${await token()}` };
    const init = await post(base, '/mcp', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }), auth);
    const sessionId = String(init.headers['mcp-session-id']);
    const inSession = { ...auth, 'mcp-session-id': sessionId };
    await post(base, '/mcp', JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }), inSession);
    const bad: [string, number | null, string][] = [
      [JSON.stringify({ jsonrpc: '2.0', id: { a: 1 }, method: 'tools/call', params: { name: 'whoami', arguments: {} } }), null, 'id: must be a string or an integer, got an object'],
      [JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'tools/list', params: { _meta: { progressToken: null } } }), 4, 'params._meta.progressToken: must be a string or an integer, got null'],
      [JSON.stringify([{ jsonrpc: '2.0', id: 5, method: 'tools/list' }, { jsonrpc: '2.0', id: 6, method: 7 }]), 6, 'method: must be a string, got a number'],
    ];
    try {
      for (const [body, id, issue] of bad) {
        const res = await post(base, '/mcp', body, inSession);
        expect(res.status, body).toBe(400);
        const answer = JSON.parse(res.body) as { id: unknown; error: { message: string } } | { id: unknown; error: { message: string } }[];
        const one = Array.isArray(answer) ? answer[0] : answer;
        expect(one?.id, body).toBe(id);
        expect(one?.error.message).toContain(issue);
        expect(recordsWith(bearerAudit, idIn(res.body)), body).toMatchObject([{ transport: 'http', sessionId, outcome: 'invalid', principal: { sub: 'ana' } }]);
      }
    } finally {
      await raw(`${base}/mcp`, { method: 'DELETE', headers: inSession });
    }
  });

  it('audits 404 for an unknown session under the dev identity too', async () => {
    const res = await post(dev?.http?.url ?? '', '/mcp', JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }), { 'mcp-session-id': 'no-such-session' });
    expect(res.status).toBe(404);
    expect(recordsWith(devAudit, idIn(res.body))).toMatchObject([{ outcome: 'invalid', sessionId: '', claimedSessionId: 'no-such-session', devIdentity: true, principal: { email: 'ana@example.com' } }]);
  });

  it('answers a 413 under the dev identity with one record', async () => {
    const res = await post(dev?.http?.url ?? '', '/mcp', big);
    expect(res.status).toBe(413);
    expect(recordsWith(devAudit, idIn(res.body))).toMatchObject([{ outcome: 'invalid', devIdentity: true }]);
  });
});

/** Hundreds of malformed frames, built from every field of a request: each must get exactly one reply. */
function invalidFrames(): string[] {
  const frames: string[] = [];
  const badIds: unknown[] = [1.5, -0.25, 9007199254740992, true, false, null, {}, [], [1], { id: 1 }];
  const badMethods: unknown[] = [null, 1, true, [], {}, ['tools/call']];
  const badParams: unknown[] = ['x', 1, true, [], [1, 2], null];
  const badMeta: unknown[] = [null, 'x', 1, [], { progressToken: null }, { progressToken: 1.5 }, { progressToken: {} }, { progressToken: [] }, { progressToken: true }];
  const methods = ['tools/call', 'tools/list', 'ping', 'logging/setLevel', 'no/such/method'];
  let n = 1000;
  for (const method of methods) {
    for (const id of badIds) frames.push(JSON.stringify({ jsonrpc: '2.0', id, method, params: {} }));
    for (const params of badParams) frames.push(JSON.stringify({ jsonrpc: '2.0', id: n++, method, params }));
    for (const meta of badMeta) frames.push(JSON.stringify({ jsonrpc: '2.0', id: n++, method, params: { name: 'whoami', arguments: {}, _meta: meta } }));
    for (const jsonrpc of ['1.0', 2, null, '2.0 ', undefined]) frames.push(JSON.stringify({ jsonrpc, id: n++, method, params: {} }));
    frames.push(JSON.stringify({ jsonrpc: '2.0', id: n++, method, params: {}, extra: 1 }));
  }
  for (const method of badMethods) frames.push(JSON.stringify({ jsonrpc: '2.0', id: n++, method }));
  // 1e400 and big integers only exist as text.
  frames.push(`{"jsonrpc":"2.0","id":1e400,"method":"tools/list"}`, `{"jsonrpc":"2.0","id":9007199254740993,"method":"tools/list"}`, `{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"tools/list"}`);
  for (const text of ['{', '}', '[', ']', '"just a string"', '42', 'true', 'null', '[]', '{}', '{"jsonrpc":"2.0"}', 'garbage', '{"a":1,}', "{'a':1}", '\u0000', '{"jsonrpc":"2.0","id":1,"method":"tools/list"', '[{"jsonrpc":"2.0","id":5,"method":"ping"}]', '[1,2,3]']) frames.push(text);
  // A tools/call without an id (a notification that must not be one) and responses to nothing.
  frames.push(JSON.stringify({ jsonrpc: '2.0', method: 'tools/call', params: { name: 'whoami', arguments: {} } }));
  return frames;
}

describe('every malformed stdio frame gets exactly one JSON-RPC reply (issue 16)', () => {
  it(`answers each of ${invalidFrames().length} invalid frames once, and keeps serving`, async () => {
    const dir = tempDir();
    const auditDir = join(dir, 'audit');
    const peer = new StdioPeer(['serve', '--stdio', '--policy', writePolicy(dir), '--audit-dir', auditDir, '--dev-identity', 'ana@example.com,analysts'], databaseEnv());
    try {
      await peer.request(1, 'initialize', { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } });
      peer.write(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
      const before = peer.lines.length;
      const frames = invalidFrames();
      for (const frame of frames) peer.write(frame);
      // The last request is valid: when its answer is in, every earlier frame has had its turn.
      const last = await peer.request(2, 'tools/list', {});
      expect((last.result as { tools: unknown[] }).tools).toHaveLength(7);
      // Refusals are audited before they are answered, so a valid request sent after them may be answered
      // first: wait for every frame's answer (a missing one fails here), then a little for any extra one.
      for (let waited = 0; peer.lines.length - before - 1 < frames.length && waited < 20_000; waited += 50) await new Promise((r) => setTimeout(r, 50));
      await new Promise((r) => setTimeout(r, 200));
      type Reply = { id?: unknown; error?: { code: number; message: string }; result?: { isError?: boolean; content?: { text: string }[] } };
      const replies = peer.lines.slice(before).map((l) => JSON.parse(l) as Reply);
      const answers = replies.filter((r) => r.id !== 2);
      expect(answers.length, `replies to ${frames.length} frames`).toBe(frames.length);
      for (const a of answers) {
        // A JSON-RPC error, or (a tools/call that names its request well enough) a refused tool result.
        if (a.error === undefined) {
          expect(a.result?.isError, JSON.stringify(a)).toBe(true);
          expect(a.result?.content?.[0]?.text).toMatch(/\[code: INVALID_INPUT; audit id: [0-9a-f-]{36}\]$/);
          continue;
        }
        expect([-32700, -32600, -32601, -32602], JSON.stringify(a)).toContain(a.error.code);
        expect(a.error.message).not.toMatch(/invalid_type|ZodError|"path"|\bat .*\.js:\d+/);
      }
      expect(peer.child.exitCode).toBeNull();
    } finally {
      await stopChild(peer.child);
    }
  });
});
