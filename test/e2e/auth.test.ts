import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startAirlock, type RunningAirlock } from '../../src/main.js';
import { auditIdOf, auditRecord, CLI, readAudit, ROOT, tempDir, textOf, writePolicy } from '../support/airlock.js';
import { httpConfig, raw } from '../support/http.js';
import { startLocalIssuer, type LocalIssuer } from '../support/oidc-issuer.js';
import { tokenAttacks } from '../support/token-attacks.js';

const run = promisify(execFile);
const silent = (): void => undefined;
const query = { connection: 'shop', sql: 'SELECT id, card_number FROM customers ORDER BY id LIMIT 1' };

let idp: LocalIssuer;
let airlock: RunningAirlock;
let dir: string;
let base: string;
let resource: string;
let configPath: string;


const callBody = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'query_sql', arguments: query } });
const mcpHeaders = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

function httpClient(token: string): { client: Client; transport: StreamableHTTPClientTransport } {
  const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
  return { client: new Client({ name: 'auth-e2e', version: '1.0.0' }), transport };
}

beforeAll(async () => {
  process.env.DATABASE_URL = inject('databaseUrl');
  idp = await startLocalIssuer();
  dir = tempDir();
  configPath = join(dir, 'airlock.json');
  // The resource identifier is fixed before the port is known: tokens are bound to it, not to the port.
  resource = 'https://airlock.test/mcp';
  writeFileSync(
    configPath,
    JSON.stringify({ identity: { issuers: [{ issuer: idp.issuer, audiences: [resource], groupsClaim: 'groups' }], resource, jwksCooldownSeconds: 0 } }),
  );
  airlock = await startAirlock(
    httpConfig(dir, { configPath }),
    silent,
  );
  base = airlock.http?.url ?? '';
});

afterAll(async () => {
  // Also when beforeAll failed half-way: stop what did start.
  try {
    await airlock?.close();
  } finally {
    await idp?.close();
  }
});

const analyst = () => idp.sign({ sub: 'ana', aud: resource, email: 'ana@example.com', email_verified: true, groups: ['analysts'] });

describe('HTTP with MCP authorization (bearer tokens from a local OIDC issuer)', () => {
  it('answers 401 with a challenge naming the protected-resource metadata, and audits the refusal', async () => {
    const res = await raw(`${base}/mcp`, { method: 'POST', headers: mcpHeaders, body: callBody });
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="airlock", resource_metadata="https://airlock.test/.well-known/oauth-protected-resource/mcp"');
    const message = (JSON.parse(res.body) as { error: { message: string } }).error.message;
    const id = /audit id: ([0-9a-f-]{36})/.exec(message)?.[1] ?? '';
    expect(message).toBe(`Unauthorized: a bearer token is required [code: UNAUTHENTICATED; audit id: ${id}]`);
    expect(auditRecord(join(dir, 'audit'), id)).toMatchObject({ outcome: 'unauthenticated', tool: 'query_sql', input: query, principal: null, error: { detail: 'no Authorization header' } });
  });

  it('serves the protected-resource metadata (RFC 9728) naming the trusted issuers', async () => {
    for (const path of ['/.well-known/oauth-protected-resource/mcp', '/.well-known/oauth-protected-resource']) {
      const res = await raw(`${base}${path}`);
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body)).toEqual({ resource, authorization_servers: [idp.issuer], bearer_methods_supported: ['header'], resource_name: 'airlock' });
    }
  });

  it('runs calls as the verified principal over Streamable HTTP; the audit keeps claims, never the token (audit:no-token)', async () => {
    const token = await analyst();
    const { client, transport } = httpClient(token);
    await client.connect(transport);
    try {
      const result = await client.callTool({ name: 'query_sql', arguments: query });
      expect(result.structuredContent).toMatchObject({ rows: [[1, '[MASKED]']] });
      const record = auditRecord(join(dir, 'audit'), auditIdOf(result));
      expect(record).toMatchObject({ outcome: 'ok', devIdentity: false, principal: { issuer: idp.issuer, sub: 'ana', email: 'ana@example.com', groups: ['analysts'], dev: false } });
      expect(JSON.stringify(readAudit(join(dir, 'audit')))).not.toContain(token.split('.')[2]);
    } finally {
      await transport.terminateSession();
      await client.close();
    }
  });

  it('whoami reports the verified identity and what it may use', async () => {
    const { client, transport } = httpClient(await analyst());
    await client.connect(transport);
    try {
      const result = await client.callTool({ name: 'whoami', arguments: {} });
      expect(result.structuredContent).toMatchObject({
        identity: { issuer: idp.issuer, sub: 'ana', email: 'ana@example.com', groups: ['analysts'], verified: true },
        resources: [
          { kind: 'connection', name: 'shop', effects: { read: 'allow', write: 'approve' } },
          { kind: 'bucket', name: 'data', effects: { read_bucket: 'allow' } },
          { kind: 'log_scope', name: 'prod-logs', effects: { tail_logs: 'allow' } },
          { kind: 'log_scope', name: 'audit-logs', effects: { tail_logs: 'approve' } },
        ],
      });
    } finally {
      await transport.terminateSession();
      await client.close();
    }
  });

  it('applies policy to the verified groups: a principal outside analysts is denied', async () => {
    const { client, transport } = httpClient(await idp.sign({ sub: 'bob', aud: resource, groups: ['sales'] }));
    await client.connect(transport);
    try {
      const result = await client.callTool({ name: 'query_sql', arguments: query });
      expect(textOf(result)).toContain('Denied by policy: no rule allows this call (default deny).');
    } finally {
      await transport.terminateSession();
      await client.close();
    }
  });

  it('verifies every request: a token that expires mid-session gets a clean 401 and an audit record (identity:per-request)', async () => {
    const short = await idp.sign({ sub: 'ana', aud: resource, groups: ['analysts'], exp: Math.floor(Date.now() / 1000) + 2 });
    const { client, transport } = httpClient(short);
    await client.connect(transport);
    const first = await client.callTool({ name: 'query_sql', arguments: query });
    expect(first.isError).toBeFalsy();
    // Past exp plus the configured clock tolerance (30 s by default) would be slow: use a token already expired instead.
    const expired = await idp.sign({ sub: 'ana', aud: resource, groups: ['analysts'], iat: 1, exp: Math.floor(Date.now() / 1000) - 120 });
    const res = await raw(`${base}/mcp`, {
      method: 'POST',
      headers: { ...mcpHeaders, authorization: `Bearer ${expired}`, 'mcp-session-id': transport.sessionId ?? '', 'mcp-protocol-version': '2025-06-18' },
      body: callBody,
    });
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
    const id = /audit id: ([0-9a-f-]{36})/.exec(res.body)?.[1] ?? '';
    // Recorded under no identity and outside the session it named (issue 15): the id is kept as claimed only.
    expect(auditRecord(join(dir, 'audit'), id)).toMatchObject({ outcome: 'unauthenticated', sessionId: '', claimedSessionId: transport.sessionId, error: { detail: expect.stringContaining('(expired)') as unknown } });
    await transport.terminateSession();
    await client.close();
  });

  it('refuses a token in the query string', async () => {
    const res = await raw(`${base}/mcp?access_token=${await analyst()}`, { method: 'POST', headers: mcpHeaders, body: callBody });
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toContain('error="invalid_request"');
  });

  it('does not let another principal use a session it did not open (identity:session-owner)', async () => {
    const { client, transport } = httpClient(await analyst());
    await client.connect(transport);
    try {
      const other = await idp.sign({ sub: 'mallory', aud: resource, groups: ['analysts'] });
      const res = await raw(`${base}/mcp`, {
        method: 'POST',
        headers: { ...mcpHeaders, authorization: `Bearer ${other}`, 'mcp-session-id': transport.sessionId ?? '' },
        body: callBody,
      });
      expect(res.status).toBe(403);
    } finally {
      await transport.terminateSession();
      await client.close();
    }
  });

  it('refuses every token of the attack suite at the gate with a fixed error and an audit record naming why (identity:attack-suite)', async () => {
    const stranger = await startLocalIssuer();
    try {
      const cases = tokenAttacks(idp, stranger, resource);
      for (const [label, make, reason] of cases) {
        const res = await raw(`${base}/mcp`, { method: 'POST', headers: { ...mcpHeaders, authorization: `Bearer ${await make()}` }, body: callBody });
        expect(res.status, label).toBe(401);
        const message = (JSON.parse(res.body) as { error: { message: string } }).error.message;
        expect(message, label).toMatch(/^Unauthorized: The access token is invalid or expired \[code: UNAUTHENTICATED; audit id: [0-9a-f-]{36}\]$/);
        const id = /audit id: ([0-9a-f-]{36})/.exec(message)?.[1] ?? '';
        const record = auditRecord(join(dir, 'audit'), id);
        expect(record.outcome, label).toBe('unauthenticated');
        expect(record.error?.detail, label).toMatch(reason);
      }
    } finally {
      await stranger.close();
    }
  });

  it('authenticates legacy SSE: the stream and every posted message', async () => {
    const token = await analyst();
    const transport = new SSEClientTransport(new URL(`${base}/sse`), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
      eventSourceInit: { fetch: (url, init) => fetch(url, { ...init, headers: { ...(init?.headers as Record<string, string>), authorization: `Bearer ${token}` } }) },
    });
    const client = new Client({ name: 'sse-auth', version: '1.0.0' });
    await client.connect(transport);
    try {
      const result = await client.callTool({ name: 'query_sql', arguments: query });
      expect(auditRecord(join(dir, 'audit'), auditIdOf(result))).toMatchObject({ transport: 'sse', outcome: 'ok', principal: { sub: 'ana' } });
    } finally {
      await client.close();
    }
    const anonymous = await raw(`${base}/sse`);
    expect(anonymous.status).toBe(401);
  });

  it('works with the MCP Inspector CLI and an Authorization header', async ({ signal }) => {
    const { stdout } = await run(
      join(ROOT, 'node_modules', '.bin', 'mcp-inspector'),
      ['--cli', `${base}/mcp`, '--transport', 'http', '--header', `Authorization: Bearer ${await analyst()}`, '--method', 'tools/call', '--tool-name', 'query_sql', '--tool-arg', 'connection="shop"', '--tool-arg', 'sql="SELECT card_number FROM customers WHERE id = 2"'],
      // Stopped with the test if it times out.
      { cwd: dir, signal, env: { ...process.env, HOME: dir } },
    );
    expect((JSON.parse(stdout) as { structuredContent: { rows: unknown[] } }).structuredContent.rows).toEqual([['[MASKED]']]);
  });
});

describe('stdio with a verified token', () => {
  async function stdioClient(env: Record<string, string>, args: string[] = []): Promise<Client> {
    const d = tempDir();
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'serve', '--stdio', '--config', configPath, '--policy', writePolicy(d), '--audit-dir', join(d, 'audit'), ...args],
      env: { PATH: process.env.PATH ?? '', DATABASE_URL: inject('databaseUrl'), ...env },
      cwd: d,
      stderr: 'ignore',
    });
    const client = new Client({ name: 'stdio-auth', version: '1.0.0' });
    await client.connect(transport);
    return client;
  }

  it('verifies AIRLOCK_TOKEN on every call', async () => {
    const client = await stdioClient({ AIRLOCK_TOKEN: await analyst() });
    try {
      const result = await client.callTool({ name: 'query_sql', arguments: query });
      expect(result.structuredContent).toMatchObject({ rows: [[1, '[MASKED]']] });
    } finally {
      await client.close();
    }
  });

  it('refuses calls when AIRLOCK_TOKEN is not valid', async () => {
    const client = await stdioClient({ AIRLOCK_TOKEN: await idp.sign({ sub: 'x', aud: 'wrong' }) });
    try {
      const result = await client.callTool({ name: 'query_sql', arguments: query });
      expect(textOf(result)).toContain('No verified identity: this call carries no valid credential.\n[code: UNAUTHENTICATED;');
    } finally {
      await client.close();
    }
  });

  it('refuses a token whose sub is not a string, and uses no look-alike email, on stdio too (issue 15)', async () => {
    const numeric = await stdioClient({ AIRLOCK_TOKEN: await idp.signRaw(JSON.stringify({ iss: idp.issuer, aud: resource, sub: 123, exp: Math.floor(Date.now() / 1000) + 300 })) });
    try {
      const result = await numeric.callTool({ name: 'whoami', arguments: {} });
      expect(textOf(result)).toContain('No verified identity: this call carries no valid credential.\n[code: UNAUTHENTICATED;');
    } finally {
      await numeric.close();
    }
    const kelvin = await stdioClient({ AIRLOCK_TOKEN: await idp.sign({ sub: 'm', aud: resource, email: '\u212Aate@corp.example', email_verified: true }) });
    try {
      const result = (await kelvin.callTool({ name: 'whoami', arguments: {} })) as { structuredContent?: { identity?: unknown } };
      expect(result.structuredContent?.identity).toMatchObject({ sub: 'm', email: null, verified: true });
    } finally {
      await kelvin.close();
    }
  });

  it('uses --token-file when AIRLOCK_TOKEN is inherited from the shell too (issue 14)', async () => {
    const d = tempDir();
    const file = join(d, 'token');
    writeFileSync(file, await idp.sign({ sub: 'from-file', aud: resource, groups: ['analysts'] }));
    const client = await stdioClient({ AIRLOCK_TOKEN: await idp.sign({ sub: 'x', aud: 'wrong' }) }, ['--token-file', file]);
    try {
      const result = (await client.callTool({ name: 'whoami', arguments: {} })) as { structuredContent?: { identity?: { sub?: string; verified?: boolean } } };
      expect(result.structuredContent?.identity).toMatchObject({ sub: 'from-file', verified: true });
    } finally {
      await client.close();
    }
  });

  it('re-reads --token-file when the token rotates', async () => {
    const d = tempDir();
    const file = join(d, 'token');
    writeFileSync(file, await idp.sign({ sub: 'first', aud: resource, groups: ['analysts'] }));
    const client = await stdioClient({}, ['--token-file', file]);
    try {
      expect((await client.callTool({ name: 'query_sql', arguments: query })).isError).toBeFalsy();
      writeFileSync(file, 'garbage');
      await new Promise((r) => setTimeout(r, 20));
      expect((await client.callTool({ name: 'query_sql', arguments: query })).isError).toBe(true);
      writeFileSync(file, await idp.sign({ sub: 'second', aud: resource, groups: ['analysts'] }));
      await new Promise((r) => setTimeout(r, 20));
      expect((await client.callTool({ name: 'query_sql', arguments: query })).isError).toBeFalsy();
    } finally {
      await client.close();
    }
  });
});
