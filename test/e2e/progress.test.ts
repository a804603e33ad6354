/**
 * Progress, log messages, cancellation and timeouts on every transport and protocol era (issue 16): the v1
 * client (2025-11-25) over stdio, Streamable HTTP and legacy SSE, and the v2 client pinned to 2026-07-28
 * over stdio and Streamable HTTP, against real airlock processes and the test PostgreSQL.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client as ClientV2, LOG_LEVEL_META_KEY, StreamableHTTPClientTransport as HttpTransportV2 } from '@modelcontextprotocol/client';
import { StdioClientTransport as StdioTransportV2 } from '@modelcontextprotocol/client/stdio';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { LoggingMessageNotificationSchema, ProgressNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startAirlock, type RunningAirlock } from '../../src/main.js';
import { auditIdOf, auditRecord, CLI, EXAMPLE_POLICY, readAudit, tempDir, textOf, writePolicy } from '../support/airlock.js';
import { httpConfig, raw } from '../support/http.js';

const MODERN = '2026-07-28';
/** The statement timeout of the `shop_fast` connection (the policy's `limits.timeoutMs`). */
const FAST_TIMEOUT_MS = 1000;
/** Runs for minutes unless stopped: a plain read the classifier allows. */
const slowSql = (tag: string): string => `SELECT count(*) AS ${tag} FROM generate_series(1, 3000000000)`;
/** One row with a sensitive column (masked whole). */
const oneRow = { name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT name, card_number FROM customers WHERE id = $1', params: [1] } };
/** Cut at one row (a warning) with a sensitive column (an info message). */
const cutRows = { name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT id, card_number FROM customers ORDER BY id', maxRows: 1 } };
const TRUNCATED = 'Result truncated at 1 row. Only the first 1 rows are shown. Narrow the query (WHERE, LIMIT, fewer columns) to see the rest.';
const MASKED_ONE = 'Masked 1 value (SENSITIVE_COLUMN 1) in columns: card_number';
const PROGRESS = ['Policy allowed the call (analysts-read-shop)', 'Running query_sql on shop', 'Read 1 row', 'Result masked'];

/** The example policy plus `shop_fast`: the same database under a one-second statement timeout. */
function policy(): unknown {
  const p = JSON.parse(readFileSync(EXAMPLE_POLICY, 'utf8')) as {
    resources: { connections: Record<string, unknown> };
    rules: { id: string; resources?: string[] }[];
  };
  p.resources.connections.shop_fast = { url: 'env:DATABASE_URL', limits: { maxRows: 1000, timeoutMs: FAST_TIMEOUT_MS } };
  const read = p.rules.find((r) => r.id === 'analysts-read-shop');
  if (read === undefined) throw new Error('example policy changed: no analysts-read-shop rule');
  read.resources = ['shop', 'shop_fast'];
  return p;
}

interface LogMessage {
  readonly level: string;
  readonly logger?: string;
  readonly data: unknown;
}

interface ProgressMessage {
  readonly progressToken: string | number;
  readonly progress: number;
  readonly total?: number;
  readonly message?: string;
}

interface CallOptions {
  /** Sent as `_meta.progressToken`. */
  readonly progressToken?: string;
  readonly signal?: AbortSignal;
  /** 2026-07-28: the request's log level (`_meta`); 2025-era clients set it per connection instead. */
  readonly logLevel?: 'info' | 'warning' | 'error';
}

/**
 * One agent connection, whatever its client, transport and era. Progress is taken as the notifications
 * arrive (the clients' own `onprogress` would drop those read together with the result: both SDK clients
 * run notification handlers a microtask after the response handler, which forgets the token).
 */
interface Agent {
  readonly era: '2025-11-25' | typeof MODERN;
  readonly logs: LogMessage[];
  readonly progress: ProgressMessage[];
  call(params: { name: string; arguments: Record<string, unknown> }, options?: CallOptions): Promise<unknown>;
  /** 2025 era: logging/setLevel for this connection. */
  setLevel(level: 'info' | 'warning' | 'error'): Promise<void>;
  close(): Promise<void>;
}

/** `_meta` of a call: the progress token and, on 2026-07-28, the request's log level. */
function metaOf(options: CallOptions): { _meta?: Record<string, unknown> } {
  const meta = {
    ...(options.progressToken === undefined ? {} : { progressToken: options.progressToken }),
    ...(options.logLevel === undefined ? {} : { [LOG_LEVEL_META_KEY]: options.logLevel }),
  };
  return Object.keys(meta).length === 0 ? {} : { _meta: meta };
}

function v1Agent(client: Client, close: () => Promise<void>): Agent {
  const logs: LogMessage[] = [];
  const progress: ProgressMessage[] = [];
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
    logs.push(n.params);
  });
  client.setNotificationHandler(ProgressNotificationSchema, (n) => {
    progress.push(n.params);
  });
  return {
    era: '2025-11-25',
    logs,
    progress,
    call: (params, options = {}) => client.callTool({ ...params, ...metaOf({ ...options, logLevel: undefined }) }, undefined, options.signal === undefined ? {} : { signal: options.signal }),
    setLevel: async (level) => {
      await client.setLoggingLevel(level);
    },
    close,
  };
}

function v2Agent(client: ClientV2): Agent {
  const logs: LogMessage[] = [];
  const progress: ProgressMessage[] = [];
  client.setNotificationHandler('notifications/message', (n) => {
    logs.push(n.params);
  });
  client.setNotificationHandler('notifications/progress', (n) => {
    progress.push(n.params);
  });
  return {
    era: MODERN,
    logs,
    progress,
    call: (params, options = {}) => client.callTool({ ...params, ...metaOf(options) }, options.signal === undefined ? {} : { signal: options.signal }),
    setLevel: () => Promise.reject(new Error('2026-07-28 has no per-connection log level')),
    close: () => client.close(),
  };
}

async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

type Kind = 'stdio, v1 client (2025-11-25)' | 'stdio, v2 client (2026-07-28)' | 'Streamable HTTP, v1 client (2025-11-25)' | 'Streamable HTTP, v2 client (2026-07-28)' | 'SSE, v1 client (2025-11-25)';
const KINDS: readonly Kind[] = ['stdio, v1 client (2025-11-25)', 'stdio, v2 client (2026-07-28)', 'Streamable HTTP, v1 client (2025-11-25)', 'Streamable HTTP, v2 client (2026-07-28)', 'SSE, v1 client (2025-11-25)'];

describe('progress, log messages, cancellation and timeouts on every transport and era (issue 16)', () => {
  const dir = tempDir();
  const auditDir = join(dir, 'audit');
  const policyPath = writePolicy(dir, policy());
  const admin = new pg.Client({ connectionString: inject('adminUrl') });
  let airlock: RunningAirlock | undefined;
  let base = '';
  let tagSeq = 0;
  const tag = (): string => `progress_e2e_${process.pid}_${++tagSeq}`;
  const active = async (t: string): Promise<number> =>
    (await admin.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'active' AND query LIKE $1 AND pid <> pg_backend_pid()", [`%${t}%`])).rows[0]?.n ?? -1;
  /** stdio children keep their own audit dirs: an audit dir has one writer. */
  const auditDirOf = (kind: Kind): string => (kind.startsWith('stdio') ? join(dir, `audit-stdio-${KINDS.indexOf(kind)}`) : auditDir);
  const recordOf = (kind: Kind, t: string): ReturnType<typeof readAudit>[number] | undefined =>
    readAudit(auditDirOf(kind)).find((r) => r.tool === 'query_sql' && JSON.stringify(r.input).includes(t));

  beforeAll(async () => {
    process.env.DATABASE_URL = inject('databaseUrl');
    await admin.connect();
    airlock = await startAirlock(httpConfig(dir, { policyPath, devIdentity: 'ana@example.com,analysts' }), () => undefined);
    base = airlock.http?.url ?? '';
  });

  afterAll(async () => {
    try {
      await airlock?.close();
    } finally {
      await admin.end();
    }
  });

  const stdioArgs = (kind: Kind): string[] => [CLI, 'serve', '--stdio', '--policy', policyPath, '--audit-dir', auditDirOf(kind), '--dev-identity', 'ana@example.com,analysts'];
  const stdioEnv = (): Record<string, string> => ({ PATH: process.env.PATH ?? '', DATABASE_URL: inject('databaseUrl') });

  /** Connects an agent of one kind; the caller closes it in `finally`. */
  const connect = async (kind: Kind): Promise<Agent> => {
    switch (kind) {
      case 'stdio, v1 client (2025-11-25)': {
        const client = new Client({ name: 'progress-v1', version: '1.0.0' });
        await client.connect(new StdioClientTransport({ command: process.execPath, args: stdioArgs(kind), env: stdioEnv(), cwd: dir, stderr: 'ignore' }));
        return v1Agent(client, () => client.close());
      }
      case 'stdio, v2 client (2026-07-28)': {
        const client = new ClientV2({ name: 'progress-v2', version: '1.0.0' }, { versionNegotiation: { mode: { pin: MODERN } } });
        await client.connect(new StdioTransportV2({ command: process.execPath, args: stdioArgs(kind), env: stdioEnv(), cwd: dir, stderr: 'ignore' }));
        expect(client.getNegotiatedProtocolVersion()).toBe(MODERN);
        return v2Agent(client);
      }
      case 'Streamable HTTP, v1 client (2025-11-25)': {
        const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`));
        const client = new Client({ name: 'progress-v1', version: '1.0.0' });
        await client.connect(transport);
        return v1Agent(client, async () => {
          await transport.terminateSession().catch(() => undefined);
          await client.close();
        });
      }
      case 'Streamable HTTP, v2 client (2026-07-28)': {
        const client = new ClientV2({ name: 'progress-v2', version: '1.0.0' }, { versionNegotiation: { mode: { pin: MODERN } } });
        await client.connect(new HttpTransportV2(new URL(`${base}/mcp`)));
        expect(client.getNegotiatedProtocolVersion()).toBe(MODERN);
        return v2Agent(client);
      }
      case 'SSE, v1 client (2025-11-25)': {
        const client = new Client({ name: 'progress-sse', version: '1.0.0' });
        await client.connect(new SSEClientTransport(new URL(`${base}/sse`)));
        return v1Agent(client, () => client.close());
      }
    }
  };

  for (const kind of KINDS) {
    describe(kind, () => {
      let agent: Agent | undefined;
      beforeAll(async () => {
        agent = await connect(kind);
      });
      afterAll(async () => {
        await agent?.close();
      });
      const the = (): Agent => {
        if (agent === undefined) throw new Error('not connected');
        return agent;
      };

      it('reports progress at each step, in order, with the token the client sent, and none without one; the audit record is the same (issue 16)', async () => {
        const agent = the();
        agent.progress.length = 0;
        const token = `tok-${tag()}`;
        const result = await agent.call(oneRow, { progressToken: token });
        expect((result as { structuredContent?: unknown }).structuredContent).toMatchObject({ rows: [['Ana Silva', '[MASKED]']] });
        expect(agent.progress).toEqual(PROGRESS.map((message, i) => ({ progressToken: token, progress: i + 1, message })));
        agent.progress.length = 0;
        const plainResult = await agent.call(oneRow);
        expect(agent.progress).toEqual([]);
        const withProgress = auditRecord(auditDirOf(kind), auditIdOf(result));
        const plain = auditRecord(auditDirOf(kind), auditIdOf(plainResult));
        expect(withProgress).toMatchObject({ outcome: 'ok', protocol: agent.era, principal: { email: 'ana@example.com' }, result: plain.result ?? {} });
        expect(Object.keys(withProgress).sort()).toEqual(Object.keys(plain).sort());
      });

      it('sends log messages at the level the client asked for and none below it (issue 16)', async () => {
        const agent = the();
        const logged = async (level: 'info' | 'warning' | 'error'): Promise<LogMessage[]> => {
          agent.logs.length = 0;
          if (agent.era === MODERN) await agent.call(cutRows, { logLevel: level });
          else {
            await agent.setLevel(level);
            await agent.call(cutRows);
          }
          return [...agent.logs];
        };
        if (agent.era !== MODERN) {
          // Before the client chooses a level: warnings only (an info message on every call costs every agent).
          agent.logs.length = 0;
          await agent.call(cutRows);
          expect(agent.logs).toEqual([{ level: 'warning', logger: 'airlock', data: TRUNCATED }]);
        }
        expect(await logged('info')).toEqual([
          { level: 'warning', logger: 'airlock', data: TRUNCATED },
          { level: 'info', logger: 'airlock', data: MASKED_ONE },
        ]);
        expect(await logged('warning')).toEqual([{ level: 'warning', logger: 'airlock', data: TRUNCATED }]);
        expect(await logged('error')).toEqual([]);
        if (agent.era === MODERN) {
          // 2026-07-28 has no connection state: a request without a log level gets no messages.
          agent.logs.length = 0;
          await agent.call(cutRows);
          expect(agent.logs).toEqual([]);
        }
      });

      it('answers TIMEOUT when a statement runs past the policy timeoutMs, audited as timed_out, and the statement is gone (issue 16)', async () => {
        const t = tag();
        const result = await the().call({ name: 'query_sql', arguments: { connection: 'shop_fast', sql: slowSql(t) } });
        const id = auditIdOf(result);
        expect(result).toMatchObject({ isError: true, _meta: { 'airlock/error': { code: 'TIMEOUT', auditId: id, limitMs: FAST_TIMEOUT_MS } } });
        expect(textOf(result)).toBe(`The call exceeded its time limit of ${FAST_TIMEOUT_MS} ms and was stopped. Narrow the request.\n[code: TIMEOUT; audit id: ${id}]`);
        expect(auditRecord(auditDirOf(kind), id)).toMatchObject({ outcome: 'timed_out', error: { code: 'TIMEOUT' }, protocol: the().era });
        await until(async () => (await active(t)) === 0, 'the timed-out statement to end');
      });

      it('cancels the statement when the client aborts the call, audited as cancelled (issue 16)', async () => {
        const t = tag();
        const controller = new AbortController();
        const call = the().call({ name: 'query_sql', arguments: { connection: 'shop', sql: slowSql(t) } }, { signal: controller.signal });
        call.catch(() => undefined);
        await until(async () => (await active(t)) === 1, 'the statement to run');
        controller.abort('changed my mind');
        await expect(call).rejects.toThrow();
        await until(() => recordOf(kind, t) !== undefined, 'the cancelled record');
        expect(recordOf(kind, t)).toMatchObject({ outcome: 'cancelled', error: { code: 'CANCELLED' }, protocol: the().era });
        await until(async () => (await active(t)) === 0, 'the cancelled statement to end');
        // The connection still serves calls.
        expect(textOf(await the().call({ name: 'whoami', arguments: {} }))).toContain('ana@example.com');
      });
    });
  }

  describe('raw 2026-07-28 requests on Streamable HTTP', () => {
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': 'query_sql' };
    const body = (meta: Record<string, unknown>): string =>
      JSON.stringify({
        jsonrpc: '2.0',
        id: 9,
        method: 'tools/call',
        params: {
          ...oneRow,
          _meta: { 'io.modelcontextprotocol/protocolVersion': MODERN, 'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': {}, ...meta },
        },
      });

    it('sends no notifications without a progress token or log level: the answer is plain JSON (issue 16)', async () => {
      const res = await raw(`${base}/mcp`, { method: 'POST', headers, body: body({}) });
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toContain('application/json');
      expect(JSON.parse(res.body)).toMatchObject({ id: 9, result: { structuredContent: { rows: [['Ana Silva', '[MASKED]']] } } });
    });

    it('streams progress with the exact token, then the result, when the request carries one (issue 16)', async () => {
      const res = await raw(`${base}/mcp`, { method: 'POST', headers, body: body({ progressToken: 'tok-7' }) });
      expect(res.headers['content-type']).toContain('text/event-stream');
      const messages = res.body.split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)) as { method?: string; params?: unknown; id?: number });
      expect(messages.filter((m) => m.method !== undefined)).toEqual(PROGRESS.map((message, i) => ({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 'tok-7', progress: i + 1, message } })));
      expect(messages.at(-1)).toMatchObject({ id: 9, result: { structuredContent: { rows: [['Ana Silva', '[MASKED]']] } } });
    });
  });
});
