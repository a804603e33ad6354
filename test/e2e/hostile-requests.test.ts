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
import { auditIdOf, CLI, readAudit, tempDir, textOf, writePolicy } from '../support/airlock.js';
import { stopChild, waitForOutput } from '../support/child.js';
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
      expect((list.result as { tools: unknown[] }).tools).toHaveLength(4);
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
    [
      'the MCP task augmentation',
      { name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT 1' }, task: { ttl: 60000 } },
      'query_sql',
      'params.task: airlock does not run tools as MCP tasks; call again without "task" (a call that needs approval returns a pending_approval handle instead)',
      { connection: 'shop', sql: 'SELECT 1' },
    ],
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

  it('keeps a __proto__ key in the recorded input and refuses it as an unknown argument', async () => {
    const { result, id } = await call(undefined, (n) => `{"jsonrpc":"2.0","id":${n},"method":"tools/call","params":{"name":"query_sql","arguments":{"connection":"shop","sql":"SELECT 1","__proto__":{"isAdmin":true}}}}`);
    expect(textOf(result)).toBe(`Invalid arguments for query_sql: (arguments): Unrecognized key: "__proto__"\n[code: INVALID_INPUT; audit id: ${id}]`);
    const record = recordsWith(auditDir, id)[0] as AuditRecord;
    expect(Object.hasOwn(record.input as object, '__proto__')).toBe(true);
    expect(JSON.stringify(record.input)).toBe('{"connection":"shop","sql":"SELECT 1","__proto__":{"isAdmin":true}}');
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
    peer = new StdioPeer(['serve', '--stdio', '--max-body-bytes', '65536', '--policy', writePolicy(dir), '--audit-dir', join(dir, 'audit'), '--dev-identity', 'ana@example.com,analysts'], databaseEnv());
    await peer.request(1, 'initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } });
    peer.write(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
  });

  afterAll(async () => {
    if (peer !== undefined) await stopChild(peer.child);
  });

  const tooLarge = { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Request too large: a message is limited to 65536 bytes (--max-body-bytes); it was not read' } };
  const bigCall = (id: number, bytes: number) => JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'query_sql', arguments: { connection: 'shop', sql: `SELECT '${'x'.repeat(bytes)}'` } } });

  it('refuses a line over the limit with a JSON-RPC error, then answers the next request', async () => {
    for (const bytes of [70_000, 5_000_000]) {
      const refused = await peer.request(null, 'tools/call', undefined, bigCall(100, bytes));
      expect(refused).toEqual(tooLarge);
      const list = await peer.request(101 + bytes, 'tools/list', {});
      expect((list.result as { tools: unknown[] }).tools).toHaveLength(4);
    }
  });

  it('skips a long line that arrives in many pieces, and keeps the requests around it', async () => {
    const refused = peer.request(null, 'tools/call', undefined, '');
    const before = peer.request(200, 'tools/call', { name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT 1 AS before' } });
    const line = bigCall(201, 300_000);
    for (let i = 0; i < line.length; i += 8192) peer.child.stdin.write(line.slice(i, i + 8192));
    peer.write('');
    const after = peer.request(202, 'tools/call', { name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT 2 AS after' } });
    expect(await refused).toEqual(tooLarge);
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
        expect((await client.listTools()).tools).toHaveLength(4);
      });
    });

    it(`audits arguments: null, a numeric name and a task field as INVALID_INPUT, over ${kind}`, async () => {
      await withClient(kind, async (client) => {
        const cases: [unknown, string, string][] = [
          [{ name: 'whoami', arguments: null }, 'whoami', 'params.arguments: must be an object, got null'],
          [{ name: 7, arguments: {} }, '7', 'params.name: the tool name must be a string, got a number'],
          [{ name: 'whoami', arguments: {}, task: {} }, 'whoami', 'params.task: airlock does not run tools as MCP tasks; call again without "task" (a call that needs approval returns a pending_approval handle instead)'],
        ];
        for (const [params, tool, issue] of cases) {
          const result = await rawCall(client, params);
          const id = auditIdOf(result);
          expect(textOf(result)).toBe(`Invalid arguments for ${tool}: ${issue}\n[code: INVALID_INPUT; audit id: ${id}]`);
          expect(recordsWith(auditDir, id)).toMatchObject([{ tool, transport: kind, outcome: 'invalid', principal: { sub: 'ana' } }]);
        }
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
