/**
 * Approvals end to end (issue 17): real `airlock serve` processes with a runtime config trusting a local
 * OIDC issuer, agents and approvers with real tokens, the example policy (writes to shop need a DBA), the
 * test PostgreSQL. The write changes nothing (`SET status = status`) but does update the row, which shows
 * in its `xmin`: a statement that runs moves it, one that does not leaves it.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { RequestView } from '../../src/approval/view.js';
import { auditIdOf, CLI, readAudit, textOf, writePolicy } from '../support/airlock.js';
import { startLocalIssuer, type LocalIssuer } from '../support/oidc-issuer.js';
import { AGENT_KINDS, approvalApi, approvalsCli, connectAgent, connectStdioAgent, MODERN, pendingRequest, serveHttp, serverDir, tokenFor, until, writeRuntimeConfig, type Agent, type Person, type Served } from '../support/served.js';

const ana: Person = { sub: 'ana', email: 'ana@example.com', groups: ['analysts'] };
const dana: Person = { sub: 'dana', email: 'dana@example.com', groups: ['dba'] };
const WRITE_SQL = 'UPDATE orders SET status = status WHERE id = $1';
const write = (id: number): Record<string, unknown> => ({ connection: 'shop', sql: WRITE_SQL, params: [id] });
const forOrder = (id: number) => (r: RequestView): boolean => JSON.stringify((r.input as { params?: unknown }).params) === JSON.stringify([id]);

let idp: LocalIssuer;
const admin = new pg.Client({ connectionString: inject('databaseUrl') });

/** The row version of an order: an UPDATE, even one that changes no value, gives it a new one. */
async function xminOf(id: number): Promise<string> {
  const { rows } = await admin.query<{ xmin: string }>('SELECT xmin::text AS xmin FROM orders WHERE id = $1', [id]);
  return rows[0]?.xmin ?? '';
}

beforeAll(async () => {
  idp = await startLocalIssuer();
  await admin.connect();
});
afterAll(async () => {
  try {
    await admin.end();
  } finally {
    await idp?.close();
  }
});

describe('an approved write over every HTTP transport (issue 17)', () => {
  const { dir, auditDir } = serverDir();
  let server: Served | undefined;
  const url = (): string => server?.url ?? '';
  beforeAll(async () => {
    server = await serveHttp({ configPath: writeRuntimeConfig(dir, idp, { waitSeconds: 60 }), policyPath: writePolicy(dir), auditDir });
  });
  afterAll(async () => {
    await server?.stop();
  });

  AGENT_KINDS.forEach((kind, index) => {
    it(`${kind}: the call waits with progress, a DBA approves through the API, the waiting call returns the rows affected (issue 17)`, async () => {
      const order = 150 + index;
      const before = await xminOf(order);
      const approver = await tokenFor(idp, dana);
      let agent: Agent | undefined;
      try {
        agent = await connectAgent(kind, url(), await tokenFor(idp, ana));
        const call = agent.call('query_sql', write(order), `tok-${index}`);
        const request = await pendingRequest(url(), approver, forOrder(order));
        expect(request).toMatchObject({ state: 'pending', tool: 'query_sql', resource: 'shop', input: write(order), requester: { sub: 'ana', email: 'ana@example.com' }, approverGroups: ['dba'], quorum: 1, canDecide: true, ruleIds: ['writes-need-dba-approval'] });
        expect(request.id).toMatch(/^apr_/);
        // The call has not run: the approver sees it before anything happens to the row.
        await until(() => agent?.progress.some((p) => p.message?.includes(request.id)), 'a progress notification');
        expect(await xminOf(order)).toBe(before);
        const waiting = agent.progress.find((p) => p.message?.startsWith('Waiting for approval'));
        expect(waiting?.progressToken).toBe(`tok-${index}`);
        expect(waiting?.message).toMatch(new RegExp(`^Waiting for approval by dba \\(request ${request.id}\\), \\d+ s left in this wait, request expires \\d\\d:\\d\\dZ \\(in 1[45] min\\)$`));

        const decided = await approvalApi<{ request: RequestView }>(url(), approver, `/approvals/${request.id}/decision`, { verdict: 'approve', reason: 'no-op update, fine' });
        expect(decided.status).toBe(200);
        expect(decided.body.request).toMatchObject({ id: request.id, state: 'approved', approvals: 1 });

        const result = await call;
        expect(result.isError).toBeFalsy();
        expect(result.structuredContent).toMatchObject({ rowsAffected: 1 });
        expect(await xminOf(order)).not.toBe(before);
        const messages = agent.progress.map((p) => p.message ?? '');
        expect(messages).toContain(`Approved by dana@example.com (request ${request.id}); running the approved call`);
        expect(messages.indexOf(`Approved by dana@example.com (request ${request.id}); running the approved call`)).toBeGreaterThan(messages.indexOf(waiting?.message ?? ''));

        const id = auditIdOf(result);
        await until(() => readAudit(auditDir).some((r) => r.approval?.requestId === request.id && r.approval.event === 'consumed'), 'the consumed event');
        const records = readAudit(auditDir).filter((r) => r.approval?.requestId === request.id);
        expect(records.filter((r) => r.tool === 'approval').map((r) => r.approval?.event)).toEqual(['requested', 'approved', 'consumed']);
        expect(records.find((r) => r.approval?.event === 'approved')).toMatchObject({ principal: { sub: 'dana', email: 'dana@example.com' }, approval: { detail: { reason: 'no-op update, fine', granted: true } } });
        expect(records.find((r) => r.approval?.event === 'requested')).toMatchObject({ principal: { sub: 'ana' } });
        const callRecord = records.find((r) => r.id === id);
        expect(callRecord).toMatchObject({
          tool: 'query_sql',
          outcome: 'ok',
          principal: { sub: 'ana', issuer: idp.issuer },
          input: write(order),
          result: { rowsAffected: 1 },
          approval: { requestId: request.id, state: 'consumed', role: 'opened', approvers: [{ sub: 'dana', email: 'dana@example.com', verdict: 'approve' }] },
        });
        // One call record for the write: it ran once.
        expect(readAudit(auditDir).filter((r) => r.tool === 'query_sql' && isDeepStrictEqual(r.input, write(order)))).toHaveLength(1);
      } finally {
        await agent?.close();
      }
    });
  });
});

describe('a decision that takes longer than the wait (issue 17)', () => {
  const { dir, auditDir } = serverDir();
  let server: Served | undefined;
  const url = (): string => server?.url ?? '';
  beforeAll(async () => {
    server = await serveHttp({ configPath: writeRuntimeConfig(dir, idp, { waitSeconds: 1 }), policyPath: writePolicy(dir), auditDir });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('returns a pending handle; the approver approves with the CLI; approval_status returns the result (issue 17)', async () => {
    const order = 160;
    const before = await xminOf(order);
    let agent: Agent | undefined;
    try {
      agent = await connectAgent('Streamable HTTP 2025 (session)', url(), await tokenFor(idp, ana));
      const pending = await agent.call('query_sql', write(order));
      expect(pending.isError).toBeFalsy();
      const handle = pending.structuredContent as { status: string; requestId: string; approvers: string[]; expiresAt: string; consoleUrl: string };
      expect(handle).toMatchObject({ status: 'pending_approval', approvers: ['dba'], quorum: 1, approvals: 0, consoleUrl: `${url()}/console#/requests/${handle.requestId}` });
      expect(textOf(pending)).toContain(`Then call approval_status with {"requestId": "${handle.requestId}"}`);
      expect(await xminOf(order)).toBe(before);

      const cli = await approvalsCli(url(), await tokenFor(idp, dana), ['approve', handle.requestId]);
      expect(cli).toMatchObject({ status: 0, stderr: '' });
      expect(cli.stdout).toMatch(new RegExp(`^Approved ${handle.requestId} \\(1 of 1\\): the requester's call can run once, until \\d{4}-`));

      const collected = await agent.call('approval_status', { requestId: handle.requestId });
      expect(collected.isError).toBeFalsy();
      expect(collected.structuredContent).toMatchObject({ rowsAffected: 1 });
      expect(await xminOf(order)).not.toBe(before);
      const record = readAudit(auditDir).find((r) => r.id === auditIdOf(collected));
      expect(record).toMatchObject({ tool: 'approval_status', outcome: 'ok', approval: { requestId: handle.requestId, state: 'consumed', role: 'collected', approvers: [{ sub: 'dana', verdict: 'approve' }] } });
      const pendingRecord = readAudit(auditDir).find((r) => r.id === auditIdOf(pending));
      expect(pendingRecord).toMatchObject({ tool: 'query_sql', outcome: 'approval_required', approval: { requestId: handle.requestId, state: 'pending', role: 'opened' } });
    } finally {
      await agent?.close();
    }
  });
});

describe('a stdio agent and an HTTP approver process sharing the PostgreSQL store (issue 17)', () => {
  const key = randomBytes(32).toString('base64');
  (['2025-11-25', MODERN] as const).forEach((era, index) => {
    it(`stdio ${era}: the call waits in its own process, the DBA approves on the HTTP process, the call wakes and returns the result (issue 17)`, async () => {
      const order = 165 + index;
      const before = await xminOf(order);
      const table = `e2e_approvals_${process.pid}_${index}_${Date.now() % 100_000}`;
      const { dir, auditDir: httpAudit } = serverDir();
      const stdioAudit = join(dir, 'audit-stdio');
      const configPath = writeRuntimeConfig(dir, idp, { waitSeconds: 60, key: 'env:APPROVALS_KEY', postgres: { url: 'env:APPROVALS_DB', table } });
      const policyPath = writePolicy(dir);
      const env = { APPROVALS_DB: inject('adminUrl'), APPROVALS_KEY: key };
      const tokenFile = join(dir, 'agent-token');
      writeFileSync(tokenFile, await tokenFor(idp, ana), { mode: 0o600 });
      let server: Served | undefined;
      let agent: Agent | undefined;
      try {
        server = await serveHttp({ configPath, policyPath, auditDir: httpAudit, env });
        agent = await connectStdioAgent(era, ['--config', configPath, '--policy', policyPath, '--audit-dir', stdioAudit, '--token-file', tokenFile], { DATABASE_URL: inject('databaseUrl'), ...env });
        const call = agent.call('query_sql', write(order), `stdio-${index}`);
        const approver = await tokenFor(idp, dana);
        const request = await pendingRequest(server.url, approver, forOrder(order));
        expect(request).toMatchObject({ state: 'pending', requester: { sub: 'ana', issuer: idp.issuer }, input: write(order) });
        await until(() => agent?.progress.some((p) => p.message?.startsWith(`Waiting for approval by dba (request ${request.id})`)), 'the waiting progress');
        expect(await xminOf(order)).toBe(before);
        expect((await approvalApi(server.url, approver, `/approvals/${request.id}/decision`, { verdict: 'approve' })).status).toBe(200);

        const result = await call;
        expect(result.structuredContent).toMatchObject({ rowsAffected: 1 });
        expect(await xminOf(order)).not.toBe(before);
        expect(agent.progress.map((p) => p.message)).toContain(`Approved by dana@example.com (request ${request.id}); running the approved call`);
        // Each process records what it did: the stdio one the request, the use and the call; the HTTP one the decision.
        await until(() => readAudit(stdioAudit).some((r) => r.approval?.event === 'consumed'), 'the consumed event');
        expect(readAudit(stdioAudit).filter((r) => r.tool === 'approval').map((r) => r.approval?.event)).toEqual(['requested', 'consumed']);
        expect(readAudit(stdioAudit).find((r) => r.id === auditIdOf(result))).toMatchObject({ transport: 'stdio', outcome: 'ok', principal: { sub: 'ana' }, approval: { requestId: request.id, state: 'consumed', approvers: [{ sub: 'dana', verdict: 'approve' }] } });
        await until(() => readAudit(httpAudit).some((r) => r.approval?.event === 'approved'), 'the approved event');
        expect(readAudit(httpAudit).filter((r) => r.approval?.requestId === request.id).map((r) => [r.approval?.event, r.principal?.sub])).toEqual([['approved', 'dana']]);
        const stored = await approvalApi<{ request: RequestView }>(server.url, approver, `/approvals/${request.id}`);
        expect(stored.body.request).toMatchObject({ state: 'consumed' });
      } finally {
        await agent?.close();
        await server?.stop();
      }
    });
  });
});

describe('a restart while a call waits (issue 17)', () => {
  it('the pending request survives SIGTERM; after the restart the DBA approves and the agent collects on the new process (issue 17)', async () => {
    const order = 168;
    const before = await xminOf(order);
    const { dir, auditDir } = serverDir();
    const configPath = writeRuntimeConfig(dir, idp, { waitSeconds: 60 });
    const policyPath = writePolicy(dir);
    let server: Served | undefined;
    let agent: Agent | undefined;
    try {
      server = await serveHttp({ configPath, policyPath, auditDir });
      agent = await connectAgent('Streamable HTTP 2025 (session)', server.url, await tokenFor(idp, ana));
      const call = agent.call('query_sql', write(order), 'restart');
      call.catch(() => undefined);
      const request = await pendingRequest(server.url, await tokenFor(idp, dana), forOrder(order));
      await until(() => agent?.progress.some((p) => p.message?.includes(request.id)), 'the waiting progress');
      const stopped = server.stop();
      // The waiting call ends with the handle to collect later: shutting down is not the agent withdrawing.
      const ended = await call.then((r) => r, (error: unknown) => ({ error: String(error) }));
      await stopped;
      expect(server.child.exitCode).toBe(0);
      expect(ended).toMatchObject({ structuredContent: { status: 'pending_approval', requestId: request.id } });
      expect(readAudit(auditDir).find((r) => r.id === auditIdOf(ended))).toMatchObject({ tool: 'query_sql', outcome: 'approval_required', approval: { requestId: request.id, state: 'pending', role: 'opened' } });
      await agent.close();
      agent = undefined;
      expect(readAudit(auditDir).filter((r) => r.approval?.requestId === request.id && r.tool === 'approval').map((r) => r.approval?.event)).toEqual(['requested']);

      server = await serveHttp({ configPath, policyPath, auditDir });
      const approver = await tokenFor(idp, dana);
      const listed = await pendingRequest(server.url, approver, forOrder(order));
      expect(listed).toMatchObject({ id: request.id, state: 'pending' });
      expect((await approvalApi(server.url, approver, `/approvals/${request.id}/decision`, { verdict: 'approve' })).status).toBe(200);
      agent = await connectAgent('Streamable HTTP 2026-07-28 (stateless)', server.url, await tokenFor(idp, ana));
      const collected = await agent.call('approval_status', { requestId: request.id });
      expect(collected.structuredContent).toMatchObject({ rowsAffected: 1 });
      expect(await xminOf(order)).not.toBe(before);
      await until(() => readAudit(auditDir).some((r) => r.approval?.requestId === request.id && r.approval.event === 'consumed'), 'the consumed event');
      expect(readAudit(auditDir).filter((r) => r.approval?.requestId === request.id && r.tool === 'approval').map((r) => r.approval?.event)).toEqual(['requested', 'approved', 'consumed']);
      expect(readAudit(auditDir).find((r) => r.id === auditIdOf(collected))).toMatchObject({ tool: 'approval_status', outcome: 'ok', approval: { requestId: request.id, role: 'collected' } });
    } finally {
      await agent?.close();
      await server?.stop();
    }
  });

  it('a stdio agent\'s server stopped mid-wait answers with the handle; the same principal collects it over HTTP after the approval (issue 17)', async () => {
    const order = 169;
    const before = await xminOf(order);
    const { dir, auditDir } = serverDir();
    const configPath = writeRuntimeConfig(dir, idp, { waitSeconds: 60 });
    const policyPath = writePolicy(dir);
    const tokenFile = join(dir, 'agent-token');
    writeFileSync(tokenFile, await tokenFor(idp, ana), { mode: 0o600 });
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'serve', '--stdio', '--config', configPath, '--policy', policyPath, '--audit-dir', auditDir, '--token-file', tokenFile],
      env: { PATH: process.env.PATH ?? '', DATABASE_URL: inject('databaseUrl') },
      cwd: dir,
      stderr: 'ignore',
    });
    const client = new Client({ name: 'stdio-restart', version: '1.0.0' });
    let server: Served | undefined;
    let agent: Agent | undefined;
    try {
      await client.connect(transport);
      const call = client.callTool({ name: 'query_sql', arguments: write(order) }, undefined, { timeout: 120_000 });
      call.catch(() => undefined);
      const file = join(auditDir, 'approvals.json');
      const requestId = await until(() => (existsSync(file) ? /"(apr_[A-Za-z0-9_-]+)"/.exec(readFileSync(file, 'utf8'))?.[1] : undefined), 'the stored request');
      const pid = transport.pid;
      if (pid === null) throw new Error('the stdio server has no pid');
      process.kill(pid, 'SIGTERM');
      const ended = (await call) as { structuredContent?: unknown };
      expect(ended.structuredContent).toMatchObject({ status: 'pending_approval', requestId });
      await client.close();

      server = await serveHttp({ configPath, policyPath, auditDir });
      const approver = await tokenFor(idp, dana);
      expect((await approvalApi(server.url, approver, `/approvals/${requestId}/decision`, { verdict: 'approve' })).status).toBe(200);
      agent = await connectAgent('legacy SSE', server.url, await tokenFor(idp, ana));
      const collected = await agent.call('approval_status', { requestId });
      expect(collected.structuredContent).toMatchObject({ rowsAffected: 1 });
      expect(await xminOf(order)).not.toBe(before);
      await until(() => readAudit(auditDir).some((r) => r.approval?.requestId === requestId && r.approval.event === 'consumed'), 'the consumed event');
      expect(readAudit(auditDir).filter((r) => r.approval?.requestId === requestId && r.tool === 'approval').map((r) => r.approval?.event)).toEqual(['requested', 'approved', 'consumed']);
      expect(readAudit(auditDir).filter((r) => r.approval?.requestId === requestId && r.tool !== 'approval').map((r) => [r.transport, r.tool, r.outcome])).toEqual([
        ['stdio', 'query_sql', 'approval_required'],
        ['sse', 'approval_status', 'ok'],
      ]);
    } finally {
      await client.close();
      await agent?.close();
      await server?.stop();
    }
  });
});

describe('a stdio agent on the JSON store with approvals.listen: approvers use its own console and API port (issue 17)', () => {
  it('serves /approvals on the listen address; the DBA approves there and the stdio call returns the result', async () => {
    const order = 179;
    const before = await xminOf(order);
    const port = await freePort();
    const { dir, auditDir } = serverDir();
    const configPath = writeRuntimeConfig(dir, idp, { waitSeconds: 60, listen: `127.0.0.1:${port}` });
    const policyPath = writePolicy(dir);
    const tokenFile = join(dir, 'agent-token');
    writeFileSync(tokenFile, await tokenFor(idp, ana), { mode: 0o600 });
    const url = `http://127.0.0.1:${port}`;
    let agent: Agent | undefined;
    try {
      agent = await connectStdioAgent('2025-11-25', ['--config', configPath, '--policy', policyPath, '--audit-dir', auditDir, '--token-file', tokenFile], { DATABASE_URL: inject('databaseUrl') });
      const call = agent.call('query_sql', write(order), 'listen-0');
      const approver = await tokenFor(idp, dana);
      const request = await pendingRequest(url, approver, forOrder(order));
      // The console is there too, and the MCP endpoints are not: this port is for approvers only.
      expect((await fetch(`${url}/console`)).status).toBe(200);
      expect((await fetch(`${url}/mcp`, { method: 'POST' })).status).toBe(404);
      // A request naming another host is refused (DNS rebinding), as on the MCP port.
      expect(await statusWithHost(port, '/approvals', `evil.example:${port}`)).toBe(403);
      expect((await approvalApi(url, approver, `/approvals/${request.id}/decision`, { verdict: 'approve', reason: 'ok' })).status).toBe(200);
      const result = await call;
      expect(result.structuredContent).toMatchObject({ rowsAffected: 1 });
      expect(await xminOf(order)).not.toBe(before);
      expect(readAudit(auditDir).filter((r) => r.approval?.requestId === request.id && r.tool === 'approval').map((r) => r.approval?.event)).toEqual(['requested', 'approved', 'consumed']);
    } finally {
      await agent?.close();
    }
  });
});

/** The status of a GET sent with the given Host header (fetch does not let a caller set Host). */
async function statusWithHost(port: number, path: string, host: string): Promise<number | undefined> {
  const { request } = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.once('error', reject);
    req.end();
  });
}

/** A loopback port nothing listens on right now. */
async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}
