/**
 * `approval.justificationRequired` (issue 17): the agent gives a `justification`; where it gave none and its
 * client supports MCP elicitation in place (2025-era connections), airlock asks the user for it. The answer is
 * shown to approvers and never bound. Real in-process server over Streamable HTTP, real v1 SDK clients.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema, type ElicitResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startAirlock, type RunningAirlock } from '../../src/main.js';
import { EXAMPLE_POLICY, readAudit, tempDir, textOf, writePolicy } from '../support/airlock.js';
import { httpConfig } from '../support/http.js';
import { writeFileSync } from 'node:fs';

const WRITE_SQL = 'UPDATE orders SET status = status WHERE id = $1';

function policy(): unknown {
  const p = JSON.parse(readFileSync(EXAMPLE_POLICY, 'utf8')) as { rules: { id: string; approval?: Record<string, unknown> }[] };
  const rule = p.rules.find((r) => r.id === 'writes-need-dba-approval');
  if (rule?.approval === undefined) throw new Error('the example policy lost its write rule');
  rule.approval.justificationRequired = true;
  return p;
}

interface StoredRequest {
  readonly id: string;
  readonly justification?: string;
  readonly binding: { readonly input: unknown };
}

describe('approval.justificationRequired, asked of the user through elicitation where the client can (issue 17)', () => {
  const dir = tempDir();
  const auditDir = join(dir, 'audit');
  const configPath = join(dir, 'airlock.json');
  writeFileSync(configPath, JSON.stringify({ approvals: { waitSeconds: 0 } }));
  let airlock: RunningAirlock | undefined;
  const stored = (id: string): StoredRequest | undefined => (JSON.parse(readFileSync(join(auditDir, 'approvals.json'), 'utf8')) as { requests: StoredRequest[] }).requests.find((r) => r.id === id);

  beforeAll(async () => {
    process.env.DATABASE_URL = inject('databaseUrl');
    airlock = await startAirlock(httpConfig(dir, { policyPath: writePolicy(dir, policy()), configPath, auditDir, devIdentity: 'ana@example.com,analysts' }), () => undefined);
  });
  afterAll(async () => {
    await airlock?.close();
  });

  async function agent(answer: ElicitResult | undefined): Promise<{ client: Client; transport: StreamableHTTPClientTransport; forms: string[] }> {
    const forms: string[] = [];
    const client = new Client({ name: 'justify', version: '1.0.0' }, answer === undefined ? {} : { capabilities: { elicitation: {} } });
    if (answer !== undefined) {
      client.setRequestHandler(ElicitRequestSchema, (request) => {
        forms.push(request.params.message);
        return answer;
      });
    }
    const transport = new StreamableHTTPClientTransport(new URL(`${airlock?.http?.url ?? ''}/mcp`));
    await client.connect(transport);
    return { client, transport, forms };
  }

  it('asks the user when the agent gave no justification, and shows their answer to approvers without binding it', async () => {
    const a = await agent({ action: 'accept', content: { justification: 'refund for ticket 9' } });
    try {
      const result = await a.client.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql: WRITE_SQL, params: [181] } });
      expect(result.structuredContent).toMatchObject({ status: 'pending_approval' });
      expect(a.forms).toHaveLength(1);
      expect(a.forms[0]).toContain("This query_sql call on shop needs a human approval, and policy asks why it is needed: Changing rows in the shop database needs a DBA's approval.");
      expect(a.forms[0]).toContain(`SQL:\n${WRITE_SQL}`);
      const request = stored(String((result.structuredContent as { requestId: string }).requestId));
      expect(request?.justification).toBe('refund for ticket 9');
      expect(request?.binding.input).toEqual({ connection: 'shop', sql: WRITE_SQL, params: [181] });
    } finally {
      await a.transport.terminateSession().catch(() => undefined);
      await a.client.close();
    }
  });

  it('does not ask when the agent gave one', async () => {
    const a = await agent({ action: 'accept', content: { justification: 'never used' } });
    try {
      const result = await a.client.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql: WRITE_SQL, params: [182], justification: 'from the agent' } });
      expect(a.forms).toEqual([]);
      expect(stored(String((result.structuredContent as { requestId: string }).requestId))?.justification).toBe('from the agent');
    } finally {
      await a.transport.terminateSession().catch(() => undefined);
      await a.client.close();
    }
  });

  it.each<[string, ElicitResult | undefined]>([
    ['the user declines', { action: 'decline' }],
    ['the user answers blank', { action: 'accept', content: { justification: '   ' } }],
    ['the client has no elicitation', undefined],
  ])('refuses with INVALID_INPUT naming justification when %s; no request opens, one record', async (_what, answer) => {
    const a = await agent(answer);
    try {
      const before = readAudit(auditDir).filter((r) => r.tool === 'approval').length;
      const result = await a.client.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql: WRITE_SQL, params: [183] } });
      expect(result.isError).toBe(true);
      expect(textOf(result)).toContain('justification: this call needs a human approval and policy asks for a justification');
      expect(readAudit(auditDir).filter((r) => r.tool === 'approval')).toHaveLength(before);
    } finally {
      await a.transport.terminateSession().catch(() => undefined);
      await a.client.close();
    }
  });
});
