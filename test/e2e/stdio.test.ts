import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { auditIdOf, auditRecord, CLI, readAudit, tempDir, textOf, writePolicy } from '../support/airlock.js';

const dir = tempDir();
const auditDir = `${dir}/audit`;
let client: Client;
let stderr = '';

beforeAll(async () => {
  // Calls that need approval wait one second in place here, then return their pending handle.
  writeFileSync(`${dir}/airlock.json`, JSON.stringify({ approvals: { waitSeconds: 1 } }));
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI, 'serve', '--stdio', '--policy', writePolicy(dir), '--audit-dir', auditDir, '--config', `${dir}/airlock.json`, '--dev-identity', 'ana@example.com,analysts'],
    env: { PATH: process.env.PATH ?? '', DATABASE_URL: inject('databaseUrl') },
    cwd: dir,
    stderr: 'pipe',
  });
  transport.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  client = new Client({ name: 'e2e-stdio', version: '1.0.0' });
  await client.connect(transport);
});

afterAll(async () => {
  // Closes stdin, then SIGTERM, then SIGKILL, and waits for the server to exit.
  await client?.close();
});

describe('airlock serve --stdio (spawned process, SDK client)', () => {
  it('lists the governed tools with annotations', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(['query_sql', 'read_bucket', 'tail_logs', 'list_resources', 'explain_policy', 'whoami', 'approval_status']);
    expect(tools[0]?.annotations).toMatchObject({ readOnlyHint: false, destructiveHint: true, openWorldHint: false });
    expect(tools[1]?.annotations).toMatchObject({ readOnlyHint: true, destructiveHint: false, openWorldHint: false });
  });

  it('prints the dev-identity warning loudly at start-up, on stderr', () => {
    expect(stderr).toContain('DEV IDENTITY IN USE: every call runs as ana@example.com (groups: analysts)');
  });

  it('returns masked rows and writes an audit record marked dev identity (audit:records-success)', async () => {
    const result = await client.callTool({
      name: 'query_sql',
      arguments: { connection: 'shop', sql: 'SELECT name, card_number FROM customers WHERE id = $1', params: [1] },
    });
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({
      columns: [{ name: 'name', type: 'text' }, { name: 'card_number', type: 'text' }],
      rows: [['Ana Silva', '[MASKED]']],
      rowCount: 1,
      truncated: false,
      masked: ['card_number'],
    });
    expect(textOf(result)).toBe('1 row (masked: card_number)\nname | card_number\nAna Silva | [MASKED]');
    const record = auditRecord(auditDir, auditIdOf(result));
    expect(record).toMatchObject({
      transport: 'stdio',
      tool: 'query_sql',
      outcome: 'ok',
      devIdentity: true,
      principal: { email: 'ana@example.com', groups: ['analysts'], dev: true },
      decision: { effect: 'allow', ruleIds: ['analysts-read-shop'] },
      result: { rowCount: 1, truncated: false, maskedColumns: ['card_number'], findings: { SENSITIVE_COLUMN: 1 } },
    });
    expect(JSON.stringify(readAudit(auditDir))).not.toContain('4111 1111 1111 1111');
  });

  it('denies DDL with the rule’s reason and audits the denial (audit:records-denials)', async () => {
    const result = await client.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql: 'DROP TABLE customers' } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/^Denied by policy: Schema changes, destructive statements, privilege changes and session or server commands are not allowed through airlock\.\n\[code: POLICY_DENIED; audit id: [0-9a-f-]{36}\]$/);
    const record = auditRecord(auditDir, auditIdOf(result));
    expect(record).toMatchObject({
      outcome: 'denied',
      error: { code: 'POLICY_DENIED' },
      decision: { effect: 'deny', ruleIds: ['no-schema-or-admin'] },
      facts: { resource: { kind: 'connection', name: 'shop' }, sql: { class: 'destructive', statementType: 'DropStmt' } },
      result: null,
    });
  });

  it('holds writes that need approval, then returns a pending handle that says who must approve (issue 17)', async () => {
    const result = await client.callTool({
      name: 'query_sql',
      arguments: { connection: 'shop', sql: "UPDATE customers SET name = 'x' WHERE id = 1" },
    });
    expect(result.isError).toBeUndefined();
    const pending = result.structuredContent as { status: string; requestId: string; approvers: string[] };
    expect(pending).toMatchObject({ status: 'pending_approval', approvers: ['dba'], quorum: 1, approvals: 0 });
    expect(textOf(result)).toContain(`This query_sql call needs a human approval and has not run yet (request ${pending.requestId}).`);
    expect(textOf(result)).toContain('Ask the user to have someone in dba approve it');
    const record = auditRecord(auditDir, auditIdOf(result));
    expect(record).toMatchObject({ outcome: 'approval_required', decision: { effect: 'approve' }, approval: { requestId: pending.requestId, state: 'pending', role: 'opened' } });
    // The request itself is in the audit too, linked by its id.
    expect(readAudit(auditDir).some((r) => r.tool === 'approval' && r.approval?.event === 'requested' && r.approval.requestId === pending.requestId)).toBe(true);
  });

  it('reports invalid arguments by path and audits them (audit:records-invalid)', async () => {
    const result = await client.callTool({ name: 'query_sql', arguments: { connection: 7, sql: 'SELECT 1', extra: true } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toContain('Invalid arguments for query_sql: connection: Invalid input: expected string, received number; (arguments): Unrecognized key: "extra"');
    expect(auditRecord(auditDir, auditIdOf(result))).toMatchObject({
      outcome: 'invalid',
      error: { code: 'INVALID_INPUT' },
      input: { connection: 7, sql: 'SELECT 1', extra: true },
      decision: null,
    });
  });

  it('answers an unknown tool with the available tools and audits it (audit:records-unknown-tool)', async () => {
    const result = await client.callTool({ name: 'drop_database', arguments: {} });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toContain('Unknown tool "drop_database". Available tools: query_sql, read_bucket, tail_logs, list_resources, explain_policy, whoami, approval_status.');
    expect(auditRecord(auditDir, auditIdOf(result))).toMatchObject({ tool: 'drop_database', outcome: 'unknown_tool', error: { code: 'UNKNOWN_TOOL' } });
  });

  it('rejects several statements in one call before anything runs', async () => {
    const result = await client.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT 1; DROP TABLE customers' } });
    expect(textOf(result)).toContain('SQL rejected: exactly one statement per call is allowed; got 2.');
    expect(auditRecord(auditDir, auditIdOf(result))).toMatchObject({ outcome: 'denied', error: { code: 'SQL_REJECTED' } });
  });

  it('answers SQL that does not parse as INVALID_SQL with where, not as a policy denial, and audits it (issue 14)', async () => {
    const result = await client.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT name FROM customers WHERE' } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(
      /^SQL syntax error at line 1, column 33 \(character 33\): syntax error at end of input\. The statement was not run; fix it and call again\.\n\[code: INVALID_SQL; audit id: [0-9a-f-]{36}\]$/,
    );
    expect(result._meta).toMatchObject({ 'airlock/error': { code: 'INVALID_SQL', position: 33, line: 1, column: 33 } });
    expect(auditRecord(auditDir, auditIdOf(result))).toMatchObject({ outcome: 'invalid', error: { code: 'INVALID_SQL' }, decision: null, result: null });
  });

  it('names params that do not fit the placeholders as the caller’s INVALID_INPUT, not "unavailable" (issue 14)', async () => {
    const result = await client.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT name FROM customers WHERE id = $1 AND name = $2', params: [1] } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/^Invalid arguments for query_sql: params: the statement has 2 placeholders \(\$1, \$2\) but 1 value was given\n\[code: INVALID_INPUT; audit id: [0-9a-f-]{36}\]$/);
    expect(auditRecord(auditDir, auditIdOf(result))).toMatchObject({ outcome: 'invalid', error: { code: 'INVALID_INPUT' }, decision: null });
  });

  it('lists the resources the caller may use and what runs on each (list_resources, issue 14)', async () => {
    const result = await client.callTool({ name: 'list_resources', arguments: {} });
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toEqual({
      resources: [
        {
          kind: 'connection',
          name: 'shop',
          description: 'Demo shop database (embedded PostgreSQL in `npm start`, or DATABASE_URL)',
          access: [
            { tool: 'query_sql', effect: 'allow', sqlClasses: ['read'], conditional: false },
            { tool: 'query_sql', effect: 'approve', sqlClasses: ['write', 'server_state'], approverGroups: ['dba'], conditional: false },
          ],
        },
      ],
      auditId: auditIdOf(result),
    });
    expect(textOf(result)).toContain('  query_sql: read runs; write, server_state needs approval (approvers: dba)');
    expect(auditRecord(auditDir, auditIdOf(result))).toMatchObject({ tool: 'list_resources', outcome: 'ok', decision: { effect: 'allow', ruleIds: ['everyone-introspection'] } });
  });

  it('tells the caller who it is and what policy lets it do (whoami)', async () => {
    const result = await client.callTool({ name: 'whoami', arguments: {} });
    expect(result.structuredContent).toMatchObject({
      identity: { issuer: 'airlock:dev-identity', sub: 'ana@example.com', groups: ['analysts'], verified: false },
      resources: [{ kind: 'connection', name: 'shop', effects: { read: 'allow', write: 'approve', server_state: 'approve', ddl: 'deny', destructive: 'deny', admin: 'deny' } }],
    });
    expect(textOf(result)).toContain('You are ana@example.com (issuer airlock:dev-identity; groups: analysts) [UNVERIFIED dev identity].');
  });

  it('explains a call without running it (explain_policy)', async () => {
    const result = await client.callTool({
      name: 'explain_policy',
      arguments: { tool: 'query_sql', arguments: { connection: 'shop', sql: "UPDATE orders SET status = 'x' WHERE id = 1" } },
    });
    expect(result.structuredContent).toMatchObject({
      tool: 'query_sql',
      effect: 'approve',
      ruleIds: ['writes-need-dba-approval'],
      facts: { sql: { class: 'write', tables: ['orders'], tablesWritten: ['orders'] } },
      approval: { approverGroups: ['dba'] },
      error: null,
    });
    expect(textOf(result)).toContain('query_sql: approve (rules: writes-need-dba-approval)');
  });

  it('writes exactly one audit record per call, and one per approval event', () => {
    const records = readAudit(auditDir);
    expect(records.filter((r) => r.tool !== 'approval')).toHaveLength(11);
    expect(records.filter((r) => r.tool === 'approval').map((r) => r.approval?.event)).toEqual(['requested']);
  });
});
