/**
 * `approval.confirmByCaller` (issue 17): the caller's own user confirms the exact call through MCP
 * elicitation, answered by real SDK clients' elicitation handlers: the v1 client (2025-11-25: a form sent
 * while the call waits) over stdio, Streamable HTTP and SSE, and the v2 client pinned to 2026-07-28 (the
 * form comes back as `input_required`; the client asks and sends the call again) over stdio and Streamable
 * HTTP; clients without elicitation; audit records; the call runs (or not) in the real PostgreSQL.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client as ClientV2, StreamableHTTPClientTransport as HttpTransportV2 } from '@modelcontextprotocol/client';
import { StdioClientTransport as StdioTransportV2 } from '@modelcontextprotocol/client/stdio';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startAirlock, type RunningAirlock } from '../../src/main.js';
import { auditIdOf, auditRecord, CLI, EXAMPLE_POLICY, readAudit, tempDir, textOf, writePolicy } from '../support/airlock.js';
import { httpConfig, raw } from '../support/http.js';

const MODERN = '2026-07-28';
const TABLE = 'confirm_notes';
/** Writes here need the user's confirmation and then a DBA's approval. */
const GUARDED = 'confirm_guarded';
const CONFIRM_REASON = 'Changing notes needs the user at the keyboard to confirm the exact statement.';
const BOTH_REASON = 'Changing guarded notes needs the user to confirm and a DBA to approve.';

/** The example policy plus `shop_confirm` (the same database) whose writes the caller's user confirms. */
function policy(): unknown {
  const p = JSON.parse(readFileSync(EXAMPLE_POLICY, 'utf8')) as { resources: { connections: Record<string, unknown> }; rules: unknown[] };
  p.resources.connections.shop_confirm = { url: 'env:DATABASE_URL' };
  p.rules.push(
    { id: 'read-confirm-notes', effect: 'allow', principals: { groups: ['analysts'] }, tools: ['query_sql'], resources: ['shop_confirm'], sql: { classes: ['read'] } },
    {
      id: 'confirm-note-changes',
      effect: 'approve',
      principals: { groups: ['analysts'] },
      tools: ['query_sql'],
      resources: ['shop_confirm'],
      sql: { classes: ['write'], tablesWritten: [TABLE] },
      reason: CONFIRM_REASON,
      approval: { confirmByCaller: true },
    },
    {
      id: 'confirm-and-approve-deletes',
      effect: 'approve',
      principals: { groups: ['analysts'] },
      tools: ['query_sql'],
      resources: ['shop_confirm'],
      sql: { classes: ['write'], tablesWritten: [GUARDED] },
      reason: BOTH_REASON,
      approval: { confirmByCaller: true, approverGroups: ['dba'] },
    },
  );
  return p;
}

interface Form {
  readonly message: string;
  readonly requestedSchema: unknown;
}
type Answer = { action: 'accept'; content: Record<string, string | number | boolean> } | { action: 'decline' } | { action: 'cancel' };

/** One agent connection with (or without) an elicitation handler whose answer a test chooses. */
interface Agent {
  readonly era: '2025-11-25' | typeof MODERN;
  readonly forms: Form[];
  answer: Answer;
  call(args: Record<string, unknown>): Promise<unknown>;
  close(): Promise<void>;
}

type Kind = 'stdio, v1 client (2025-11-25)' | 'stdio, v2 client (2026-07-28)' | 'Streamable HTTP, v1 client (2025-11-25)' | 'Streamable HTTP, v2 client (2026-07-28)' | 'SSE, v1 client (2025-11-25)';
const KINDS: readonly Kind[] = ['stdio, v1 client (2025-11-25)', 'stdio, v2 client (2026-07-28)', 'Streamable HTTP, v1 client (2025-11-25)', 'Streamable HTTP, v2 client (2026-07-28)', 'SSE, v1 client (2025-11-25)'];

const insert = (note: string): Record<string, unknown> => ({ connection: 'shop_confirm', sql: `INSERT INTO ${TABLE} (id, note) VALUES ($1, $2)`, params: [7, note] });

describe('approval.confirmByCaller through MCP elicitation (issue 17)', () => {
  const dir = tempDir();
  const auditDir = join(dir, 'audit');
  const policyPath = writePolicy(dir, policy());
  const configPath = join(dir, 'airlock.json');
  writeFileSync(configPath, JSON.stringify({ approvals: { waitSeconds: 0 } }));
  const dbUrl = new URL(inject('databaseUrl'));
  const adminUrl = new URL(inject('adminUrl'));
  adminUrl.pathname = dbUrl.pathname;
  const admin = new pg.Client({ connectionString: adminUrl.toString() });
  let airlock: RunningAirlock | undefined;
  let base = '';
  let seq = 0;
  const tag = (): string => `note_${process.pid}_${++seq}`;
  const rows = async (note: string): Promise<number> => (await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${TABLE} WHERE note = $1`, [note])).rows[0]?.n ?? -1;
  /** stdio children keep their own audit dirs (one writer each); `bare` is the client without elicitation. */
  const auditDirOf = (kind: Kind, bare = false): string => (kind.startsWith('stdio') ? join(dir, `audit-stdio-${KINDS.indexOf(kind)}${bare ? '-bare' : ''}`) : auditDir);
  /** Every record of calls whose input carries this tag (the form's leg included on 2026-07-28). */
  const recordsOf = (d: string, t: string): ReturnType<typeof readAudit> => readAudit(d).filter((r) => r.tool === 'query_sql' && JSON.stringify(r.input).includes(t));

  beforeAll(async () => {
    process.env.DATABASE_URL = inject('databaseUrl');
    await admin.connect();
    for (const table of [TABLE, GUARDED]) {
      await admin.query(`CREATE TABLE IF NOT EXISTS ${table} (id int NOT NULL, note text NOT NULL)`);
      await admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${table} TO ${pg.escapeIdentifier(decodeURIComponent(dbUrl.username))}`);
    }
    airlock = await startAirlock(httpConfig(dir, { policyPath, configPath, devIdentity: 'ana@example.com,analysts' }), () => undefined);
    base = airlock.http?.url ?? '';
  });

  afterAll(async () => {
    try {
      await airlock?.close();
    } finally {
      await admin.end();
    }
  });

  const stdioArgs = (kind: Kind, bare: boolean): string[] => [CLI, 'serve', '--stdio', '--policy', policyPath, '--config', configPath, '--audit-dir', auditDirOf(kind, bare), '--dev-identity', 'ana@example.com,analysts'];
  const stdioEnv = (): Record<string, string> => ({ PATH: process.env.PATH ?? '', DATABASE_URL: inject('databaseUrl') });

  /** Connects an agent; `elicitation: false` declares no elicitation capability. The caller closes it. */
  const connect = async (kind: Kind, elicitation = true): Promise<Agent> => {
    const forms: Form[] = [];
    const agent = { forms, answer: { action: 'decline' } as Answer };
    const v1 = async (transport: StdioClientTransport | StreamableHTTPClientTransport | SSEClientTransport): Promise<Agent> => {
      const client = new Client({ name: 'confirm-v1', version: '1.0.0' }, elicitation ? { capabilities: { elicitation: {} } } : {});
      if (elicitation) {
        client.setRequestHandler(ElicitRequestSchema, (request) => {
          forms.push({ message: request.params.message, requestedSchema: (request.params as { requestedSchema?: unknown }).requestedSchema });
          return agent.answer;
        });
      }
      await client.connect(transport);
      return Object.assign(agent, {
        era: '2025-11-25' as const,
        call: (args: Record<string, unknown>) => client.callTool({ name: 'query_sql', arguments: args }),
        close: async () => {
          if (transport instanceof StreamableHTTPClientTransport) await transport.terminateSession().catch(() => undefined);
          await client.close();
        },
      });
    };
    const v2 = async (transport: StdioTransportV2 | HttpTransportV2): Promise<Agent> => {
      const client = new ClientV2({ name: 'confirm-v2', version: '1.0.0' }, { versionNegotiation: { mode: { pin: MODERN } }, ...(elicitation ? { capabilities: { elicitation: { form: {} } } } : {}) });
      if (elicitation) {
        client.setRequestHandler('elicitation/create', (request) => {
          forms.push({ message: request.params.message, requestedSchema: (request.params as { requestedSchema?: unknown }).requestedSchema });
          return agent.answer;
        });
      }
      await client.connect(transport);
      expect(client.getNegotiatedProtocolVersion()).toBe(MODERN);
      const era: Agent['era'] = MODERN;
      return Object.assign(agent, {
        era,
        call: (args: Record<string, unknown>) => client.callTool({ name: 'query_sql', arguments: args }),
        close: () => client.close(),
      });
    };
    switch (kind) {
      case 'stdio, v1 client (2025-11-25)':
        return v1(new StdioClientTransport({ command: process.execPath, args: stdioArgs(kind, !elicitation), env: stdioEnv(), cwd: dir, stderr: 'ignore' }));
      case 'stdio, v2 client (2026-07-28)':
        return v2(new StdioTransportV2({ command: process.execPath, args: stdioArgs(kind, !elicitation), env: stdioEnv(), cwd: dir, stderr: 'ignore' }));
      case 'Streamable HTTP, v1 client (2025-11-25)':
        return v1(new StreamableHTTPClientTransport(new URL(`${base}/mcp`)));
      case 'Streamable HTTP, v2 client (2026-07-28)':
        return v2(new HttpTransportV2(new URL(`${base}/mcp`)));
      case 'SSE, v1 client (2025-11-25)':
        return v1(new SSEClientTransport(new URL(`${base}/sse`)));
    }
  };

  const expectedForm = (note: string): string =>
    [
      'Confirm this call before it runs. It runs exactly as shown below, once.',
      '',
      'Tool: query_sql',
      'Resource: shop_confirm',
      `Rule: confirm-note-changes: ${CONFIRM_REASON}`,
      '',
      'SQL:',
      `INSERT INTO ${TABLE} (id, note) VALUES ($1, $2)`,
      '',
      'Parameters:',
      '  $1 = 7 (number)',
      `  $2 = "${note}" (string)`,
    ].join('\n');

  for (const kind of KINDS) {
    describe(kind, () => {
      let agent: Agent | undefined;
      let bare: Agent | undefined;
      beforeAll(async () => {
        agent = await connect(kind);
        bare = await connect(kind, false);
      });
      afterAll(async () => {
        try {
          await agent?.close();
        } finally {
          await bare?.close();
        }
      });
      const the = (a: Agent | undefined): Agent => {
        if (a === undefined) throw new Error('not connected');
        return a;
      };

      it('runs the write once the user confirms the exact statement in the form, recorded as the caller\'s confirmation (issue 17)', async () => {
        const a = the(agent);
        const note = tag();
        a.forms.length = 0;
        a.answer = { action: 'accept', content: { confirm: true, note: 'yes, fixing ticket 12' } };
        const result = await a.call(insert(note));
        expect(textOf(result)).toMatch(/^0 rows \(1 affected\)/);
        expect(await rows(note)).toBe(1);
        expect(a.forms).toHaveLength(1);
        expect(a.forms[0]?.message).toBe(expectedForm(note));
        expect(a.forms[0]?.requestedSchema).toMatchObject({ type: 'object', properties: { confirm: { type: 'boolean' }, note: { type: 'string' } }, required: ['confirm'] });
        const record = auditRecord(auditDirOf(kind), auditIdOf(result));
        expect(record).toMatchObject({
          outcome: 'ok',
          protocol: a.era,
          decision: { effect: 'approve', ruleIds: ['confirm-note-changes'] },
          confirmation: { state: 'confirmed', by: { sub: 'ana@example.com', email: 'ana@example.com' }, note: 'yes, fixing ticket 12' },
          result: { rowsAffected: 1 },
        });
        expect(record.confirmation?.bindingHash).toMatch(/^sha256:[0-9a-f]{64}$/);
        // Never an approval: no request was opened, nobody approved.
        expect(record.approval).toBeUndefined();
        const all = recordsOf(auditDirOf(kind), note);
        // 2026-07-28: the leg that sent the form is recorded too, as asked, before the confirmed call.
        expect(all.map((r) => [r.outcome, r.confirmation?.state])).toEqual(a.era === MODERN ? [['approval_required', 'requested'], ['ok', 'confirmed']] : [['ok', 'confirmed']]);
      });

      for (const [answer, how, text] of [
        [{ action: 'decline' }, 'declined', 'Your user declined this call; it was not run. Do not send it again unless your user asks for it.'],
        [{ action: 'cancel' }, 'cancelled', 'Your user cancelled the confirmation of this call; it was not run. Do not send it again unless your user asks for it.'],
        [
          { action: 'accept', content: { confirm: false, note: 'wrong id' } },
          'not_confirmed',
          'Your user did not confirm this call (the form came back without "confirm" checked); it was not run. Their note: "wrong id". Do not send it again unless your user asks for it.',
        ],
      ] as const) {
        it(`refuses with CONFIRMATION_DECLINED and runs nothing when the user answers ${how} (issue 17)`, async () => {
          const a = the(agent);
          const note = tag();
          a.answer = answer;
          const result = await a.call(insert(note));
          const id = auditIdOf(result);
          expect(result).toMatchObject({ isError: true, _meta: { 'airlock/error': { code: 'CONFIRMATION_DECLINED', how, ruleIds: ['confirm-note-changes'] } } });
          expect(textOf(result)).toBe(`${text}\n[code: CONFIRMATION_DECLINED; audit id: ${id}]`);
          expect(await rows(note)).toBe(0);
          expect(auditRecord(auditDirOf(kind), id)).toMatchObject({ outcome: 'denied', error: { code: 'CONFIRMATION_DECLINED' }, confirmation: { state: 'declined', how, by: { sub: 'ana@example.com' } } });
          // Exactly one refusal record for the call.
          expect(recordsOf(auditDirOf(kind), note).filter((r) => r.error !== null)).toHaveLength(1);
        });
      }

      it('refuses with CONFIRMATION_UNAVAILABLE and runs nothing when the client has no elicitation (issue 17)', async () => {
        const b = the(bare);
        const note = tag();
        const result = await b.call(insert(note));
        const id = auditIdOf(result);
        expect(result).toMatchObject({ isError: true, _meta: { 'airlock/error': { code: 'CONFIRMATION_UNAVAILABLE', ruleIds: ['confirm-note-changes'] } } });
        expect(textOf(result)).toBe(
          `This call needs your user's confirmation, and your client does not support MCP elicitation; it was not run. Make it from an MCP client that supports elicitation forms (rules: confirm-note-changes).\n[code: CONFIRMATION_UNAVAILABLE; audit id: ${id}]`,
        );
        expect(await rows(note)).toBe(0);
        expect(auditRecord(auditDirOf(kind, true), id)).toMatchObject({ outcome: 'denied', error: { code: 'CONFIRMATION_UNAVAILABLE' }, confirmation: { state: 'unavailable' } });
        expect(recordsOf(auditDirOf(kind, true), note)).toHaveLength(1);
      });
    });
  }
});

describe('approval.confirmByCaller on raw 2026-07-28 requests: the answer is bound to the call (issue 17)', () => {
  const dir = tempDir();
  const auditDir = join(dir, 'audit');
  const policyPath = writePolicy(dir, policy());
  const configPath = join(dir, 'airlock.json');
  writeFileSync(configPath, JSON.stringify({ approvals: { waitSeconds: 0 } }));
  const dbUrl = new URL(inject('databaseUrl'));
  const adminUrl = new URL(inject('adminUrl'));
  adminUrl.pathname = dbUrl.pathname;
  const admin = new pg.Client({ connectionString: adminUrl.toString() });
  let airlock: RunningAirlock | undefined;
  let base = '';
  let id = 100;
  const rows = async (table: string, note: string): Promise<number> => (await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE note = $1`, [note])).rows[0]?.n ?? -1;

  beforeAll(async () => {
    process.env.DATABASE_URL = inject('databaseUrl');
    await admin.connect();
    for (const table of [TABLE, GUARDED]) {
      await admin.query(`CREATE TABLE IF NOT EXISTS ${table} (id int NOT NULL, note text NOT NULL)`);
      await admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${table} TO ${pg.escapeIdentifier(decodeURIComponent(dbUrl.username))}`);
    }
    airlock = await startAirlock(httpConfig(dir, { policyPath, configPath, devIdentity: 'ana@example.com,analysts' }), () => undefined);
    base = airlock.http?.url ?? '';
  });

  afterAll(async () => {
    try {
      await airlock?.close();
    } finally {
      await admin.end();
    }
  });

  interface Reply {
    readonly resultType?: string;
    readonly inputRequests?: Record<string, { method: string; params: { message: string } }>;
    readonly requestState?: string;
    readonly isError?: boolean;
    readonly content?: { text: string }[];
    readonly structuredContent?: Record<string, unknown>;
    readonly _meta?: Record<string, { code?: string; auditId?: string }>;
  }

  /** One tools/call as a 2026-07-28 client sends it (with elicitation), and its result. */
  const call = async (args: Record<string, unknown>, retry: { inputResponses?: unknown; requestState?: string } = {}): Promise<Reply> => {
    const res = await raw(`${base}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': MODERN, 'mcp-method': 'tools/call', 'mcp-name': 'query_sql' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: ++id,
        method: 'tools/call',
        params: {
          name: 'query_sql',
          arguments: args,
          ...retry,
          _meta: { 'io.modelcontextprotocol/protocolVersion': MODERN, 'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' }, 'io.modelcontextprotocol/clientCapabilities': { elicitation: { form: {} } } },
        },
      }),
    });
    expect(res.status).toBe(200);
    const body = res.headers['content-type']?.includes('text/event-stream') ? (res.body.split('\n').filter((l) => l.startsWith('data: ')).at(-1)?.slice(6) ?? '') : res.body;
    return (JSON.parse(body) as { result: Reply }).result;
  };
  const accept = { airlock_confirm: { action: 'accept', content: { confirm: true } } };

  it('asks again, and runs nothing, when the answer comes back with changed SQL or parameters (issue 17)', async () => {
    const note = `bound_${process.pid}`;
    const first = await call(insert(note));
    expect(first.resultType).toBe('input_required');
    expect(first.inputRequests?.airlock_confirm?.method).toBe('elicitation/create');
    expect(first.inputRequests?.airlock_confirm?.params.message).toContain(`  $2 = "${note}" (string)`);
    const state = first.requestState ?? '';
    for (const changed of [
      { ...insert(note), sql: `INSERT INTO ${TABLE} (id, note) VALUES ($1, $2) ` },
      { ...insert(note), params: [8, note] },
      { ...insert(note), params: ['7', note] },
      { ...insert(`${note}x`) },
    ]) {
      const again = await call(changed, { inputResponses: accept, requestState: state });
      // A fresh form for the call as it now is: the old answer does not carry over.
      expect(again.resultType).toBe('input_required');
      expect(again.requestState).not.toBe(state);
    }
    expect(await rows(TABLE, note)).toBe(0);
    expect(await rows(TABLE, `${note}x`)).toBe(0);
    // The answer to the form of the exact call runs it, once.
    const done = await call(insert(note), { inputResponses: accept, requestState: state });
    expect(done.resultType).toBe('complete');
    expect(done.content?.[0]?.text).toMatch(/^0 rows \(1 affected\)/);
    expect(await rows(TABLE, note)).toBe(1);
    // A replayed answer is not a confirmation: a fresh form, nothing runs again.
    const replay = await call(insert(note), { inputResponses: accept, requestState: state });
    expect(replay.resultType).toBe('input_required');
    expect(await rows(TABLE, note)).toBe(1);
  });

  it('asks again when the state is forged or the answer is missing (issue 17)', async () => {
    const note = `forged_${process.pid}`;
    const first = await call(insert(note));
    const state = first.requestState ?? '';
    const [head, mac] = state.split('.').length === 3 ? [state.slice(0, state.lastIndexOf('.')), state.slice(state.lastIndexOf('.') + 1)] : [state, ''];
    const forged = `${head}.${mac.startsWith('A') ? `B${mac.slice(1)}` : `A${mac.slice(1)}`}`;
    expect((await call(insert(note), { inputResponses: accept, requestState: forged })).resultType).toBe('input_required');
    expect((await call(insert(note), { inputResponses: accept })).resultType).toBe('input_required');
    expect((await call(insert(note), { requestState: state })).resultType).toBe('input_required');
    expect((await call(insert(note), { inputResponses: { airlock_confirm: 'yes' }, requestState: state })).resultType).toBe('input_required');
    expect(await rows(TABLE, note)).toBe(0);
  });

  it('opens the approvers\' request only after the user confirms, and the confirmation is not an approval (issue 17)', async () => {
    const note = `guarded_${process.pid}`;
    const args = { connection: 'shop_confirm', sql: `INSERT INTO ${GUARDED} (id, note) VALUES (1, $1)`, params: [note] };
    const first = await call(args);
    expect(first.resultType).toBe('input_required');
    expect(first.inputRequests?.airlock_confirm?.params.message).toContain(`Rule: confirm-and-approve-deletes: ${BOTH_REASON}`);
    expect(first.inputRequests?.airlock_confirm?.params.message).toContain('After you confirm, an approver in dba must still approve it.');
    // Nothing is pending for approvers before the user confirms.
    expect(readAudit(auditDir).filter((r) => r.tool === 'approval' && r.approval?.event === 'requested')).toHaveLength(0);
    const pending = await call(args, { inputResponses: accept, requestState: first.requestState ?? '' });
    expect(pending.structuredContent).toMatchObject({ status: 'pending_approval', approvers: ['dba'], quorum: 1, approvals: 0 });
    expect(await rows(GUARDED, note)).toBe(0);
    const record = auditRecord(auditDir, String(pending.structuredContent?.auditId));
    expect(record).toMatchObject({ outcome: 'approval_required', confirmation: { state: 'confirmed', by: { sub: 'ana@example.com' } }, approval: { role: 'opened', state: 'pending', approvers: [] } });
    expect(readAudit(auditDir).filter((r) => r.tool === 'approval' && r.approval?.event === 'requested')).toHaveLength(1);
  });
});
