import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request, type ClientRequest } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { AuditRecord } from '../../src/audit/record.js';
import { startAirlock, type RunningAirlock } from '../../src/main.js';
import { auditIdOf, CLI, EXAMPLE_POLICY, readAudit, tempDir, textOf, writePolicy } from '../support/airlock.js';
import { httpConfig, raw, type RawResponse } from '../support/http.js';
import { startLocalIssuer, type LocalIssuer } from '../support/oidc-issuer.js';

const run = promisify(execFile);
const silent = (): void => undefined;
const resource = 'https://airlock.test/mcp';
const query = { connection: 'shop', sql: 'SELECT id FROM customers ORDER BY id LIMIT 1' };
const mcpHeaders = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' };
const callBody = (args: unknown = query): string => JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'query_sql', arguments: args } });
const now = (): number => Math.floor(Date.now() / 1000);

let corp: LocalIssuer;
let partner: LocalIssuer;
let airlock: RunningAirlock;
let dir: string;
let auditDir: string;
let base: string;



/** Opens a legacy SSE stream and resolves with its session id once the endpoint event arrives. */
function openSse(token: string): Promise<{ sessionId: string; req: ClientRequest }> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}/sse`, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => {
        text += c.toString();
        const match = /sessionId=([0-9a-f-]{36})/.exec(text);
        if (match?.[1] !== undefined) resolve({ sessionId: match[1], req });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

function auditIdIn(res: RawResponse): string {
  const id = /audit id: ([0-9a-f-]{36})/.exec(res.body)?.[1];
  if (id === undefined) throw new Error(`no audit id in ${res.status} ${res.body.slice(0, 300)}`);
  return id;
}

/** The one record with this id (fails when there is none or more than one). */
function onlyRecord(id: string): AuditRecord {
  const matches = readAudit(auditDir).filter((r) => r.id === id);
  expect(matches).toHaveLength(1);
  return matches[0] as AuditRecord;
}

async function session(token: string): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
  const client = new Client({ name: 'identity-gate', version: '1.0.0' });
  await client.connect(transport);
  return { client, transport };
}

async function closeSession(s: { client: Client; transport: StreamableHTTPClientTransport }): Promise<void> {
  await s.transport.terminateSession().catch(() => undefined);
  await s.client.close();
}

beforeAll(async () => {
  process.env.DATABASE_URL = inject('databaseUrl');
  corp = await startLocalIssuer();
  partner = await startLocalIssuer();
  dir = tempDir();
  auditDir = join(dir, 'audit');
  const configPath = join(dir, 'airlock.json');
  writeFileSync(
    configPath,
    JSON.stringify({
      identity: {
        resource,
        jwksCooldownSeconds: 0,
        issuers: [
          { issuer: corp.issuer, audiences: [resource], clockToleranceSeconds: 60, emailDomains: ['corp.example'], groups: { analysts: ['dana@corp.example'] } },
          { issuer: partner.issuer, audiences: [resource], emailDomains: ['partner.example'] },
        ],
      },
    }),
  );
  const policy = JSON.parse(readFileSync(EXAMPLE_POLICY, 'utf8')) as { rules: unknown[] };
  policy.rules.push({ id: 'kate-reads-shop', effect: 'allow', principals: { emails: ['kate@corp.example'] }, tools: ['query_sql'], resources: ['shop'], sql: { classes: ['read'] } });
  airlock = await startAirlock(
    httpConfig(dir, { configPath, policyPath: writePolicy(dir, policy), auditDir, maxBodyBytes: 4 << 20 }),
    silent,
  );
  base = airlock.http?.url ?? '';
});

afterAll(async () => {
  try {
    await airlock?.close();
  } finally {
    await corp?.close();
    await partner?.close();
  }
});

describe('emails and static groups over HTTP (issue 15)', () => {
  const kate = (issuer: LocalIssuer, claims: Record<string, unknown> = {}) => issuer.sign({ sub: 'kate', aud: resource, email: 'kate@corp.example', email_verified: true, ...claims });

  it('allows kate by her email rule only with a verified, comparable email from her own issuer (identity:verified-email)', async () => {
    const own = await session(await kate(corp));
    try {
      const result = await own.client.callTool({ name: 'query_sql', arguments: query });
      expect(result.isError).toBeFalsy();
    } finally {
      await closeSession(own);
    }
    const impostors: [string, Promise<string>][] = [
      ['another trusted issuer', kate(partner)],
      ['Kelvin sign', kate(corp, { sub: 'mallory', email: '\u212Aate@corp.example' })],
      ['full-width k', kate(corp, { sub: 'mallory', email: '\uFF4Bate@corp.example' })],
      ['email_verified "true"', kate(corp, { email_verified: 'true' })],
      ['email_verified 1', kate(corp, { email_verified: 1 })],
      ['email_verified missing', kate(corp, { email_verified: undefined })],
    ];
    for (const [label, token] of impostors) {
      const s = await session(await token);
      try {
        const result = await s.client.callTool({ name: 'query_sql', arguments: query });
        expect(textOf(result), label).toContain('Denied by policy: no rule allows this call (default deny).');
        expect(readAudit(auditDir).find((r) => r.id === auditIdOf(result))?.principal?.email, label).toBeNull();
      } finally {
        await closeSession(s);
      }
    }
  });

  it('gives static groups only for the issuer that lists them', async () => {
    const whoami = async (token: string): Promise<unknown> => {
      const s = await session(token);
      try {
        return ((await s.client.callTool({ name: 'whoami', arguments: {} })) as { structuredContent?: { identity?: unknown } }).structuredContent?.identity;
      } finally {
        await closeSession(s);
      }
    };
    expect(await whoami(await corp.sign({ sub: 'dana', aud: resource, email: 'dana@corp.example', email_verified: true }))).toMatchObject({ email: 'dana@corp.example', groups: ['analysts'] });
    expect(await whoami(await partner.sign({ sub: 'dana', aud: resource, email: 'dana@corp.example', email_verified: true }))).toMatchObject({ email: null, groups: [] });
    expect(await whoami(await corp.sign({ sub: 'dana', aud: resource, email: 'DANA@corp.example', email_verified: false }))).toMatchObject({ email: null, groups: [] });
  });
});

describe('claim types at the HTTP gate (issue 16)', () => {
  it('refuses subs that are not bounded strings with a 401 and one record; audit tail and search still read the store', async () => {
    for (const sub of [123, null, '', { a: 1 }, ['x'], 'kate\r\n\u001b[1mforged']) {
      const res = await raw(`${base}/mcp`, { method: 'POST', headers: { ...mcpHeaders, authorization: `Bearer ${await corp.sign({ sub: sub as string, aud: resource })}` }, body: callBody() });
      expect(res.status, JSON.stringify(sub)).toBe(401);
      const record = onlyRecord(auditIdIn(res));
      expect(record, JSON.stringify(sub)).toMatchObject({ outcome: 'unauthenticated', principal: null, error: { detail: expect.stringMatching(/\(claim_invalid\): sub/) as unknown } });
    }
    const env = { ...process.env, NO_COLOR: '1' };
    const tail = await run(process.execPath, [CLI, 'audit', 'tail', '-n', '50', '--audit-dir', auditDir], { env });
    expect(tail.stdout).toContain('unauthenticated');
    const search = await run(process.execPath, [CLI, 'audit', 'search', '--outcome', 'unauthenticated', '--audit-dir', auditDir], { env });
    expect(search.stdout).toContain('query_sql');
  });

  it('gives a token expired within the clock tolerance the same 401 as any expired token', async () => {
    const refusals: RawResponse[] = [];
    for (const exp of [now() - 2, now() - 50, now() - 3600]) {
      const token = await corp.sign({ sub: 'ana', aud: resource, iat: now() - 7200, exp });
      refusals.push(await raw(`${base}/mcp`, { method: 'POST', headers: { ...mcpHeaders, authorization: `Bearer ${token}` }, body: callBody() }));
    }
    for (const res of refusals) {
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
      expect(res.body.replace(/audit id: [0-9a-f-]{36}/, '')).toBe(refusals[2]?.body.replace(/audit id: [0-9a-f-]{36}/, ''));
      expect(onlyRecord(auditIdIn(res)).error?.detail).toMatch(/\(expired\)/);
    }
  });
});

describe('HTTP gate records (issue 15)', () => {
  const ana = () => corp.sign({ sub: 'ana', aud: resource, groups: ['analysts'] });
  const mallory = () => corp.sign({ sub: 'mallory', aud: resource, groups: ['analysts'] });

  it('records a verified caller using another principal\'s Streamable HTTP session under the caller, outside that session (audit:gate-refusals)', async () => {
    const victim = await session(await ana());
    try {
      const victimId = victim.transport.sessionId ?? '';
      const attempts: [string, Record<string, string>, string | undefined, string][] = [
        ['POST', mcpHeaders, callBody(), 'query_sql'],
        ['GET', { accept: 'text/event-stream' }, undefined, 'GET /mcp'],
        ['DELETE', {}, undefined, 'DELETE /mcp'],
      ];
      for (const [method, headers, body, tool] of attempts) {
        const res = await raw(`${base}/mcp`, { method, headers: { ...headers, authorization: `Bearer ${await mallory()}`, 'mcp-session-id': victimId }, ...(body === undefined ? {} : { body }) });
        expect(res.status, method).toBe(403);
        const id = auditIdIn(res);
        expect((JSON.parse(res.body) as { error: { message: string } }).error.message).toBe(`Forbidden: this session belongs to another principal [audit id: ${id}]`);
        expect(onlyRecord(id), method).toMatchObject({ outcome: 'denied', sessionId: '', claimedSessionId: victimId, tool, principal: { issuer: corp.issuer, sub: 'mallory' }, error: { code: 'POLICY_DENIED' } });
      }
      // The victim's session is intact (DELETE did not end it) and holds only the victim's own calls.
      const mine = await victim.client.callTool({ name: 'query_sql', arguments: query });
      expect(mine.isError).toBeFalsy();
      const inSession = readAudit(auditDir).filter((r) => r.sessionId === victimId);
      expect(inSession.length).toBeGreaterThan(0);
      expect(inSession.every((r) => r.principal?.sub === 'ana')).toBe(true);
    } finally {
      await closeSession(victim);
    }
  });

  it('records anonymous and invalid-token requests naming a victim\'s session outside it; audit replay of that session does not show them', async () => {
    const victim = await session(await ana());
    try {
      const victimId = victim.transport.sessionId ?? '';
      expect((await victim.client.callTool({ name: 'query_sql', arguments: query })).isError).toBeFalsy();
      const ids: string[] = [];
      for (const authorization of [undefined, 'Bearer not-a-jwt', `Bearer ${await corp.sign({ sub: 'ana', aud: 'https://elsewhere.example' })}`, 'Basic YTpi']) {
        const res = await raw(`${base}/mcp`, { method: 'POST', headers: { ...mcpHeaders, 'mcp-session-id': victimId, ...(authorization === undefined ? {} : { authorization }) }, body: callBody() });
        expect(res.status, authorization).toBe(401);
        const id = auditIdIn(res);
        ids.push(id);
        expect(onlyRecord(id), authorization).toMatchObject({ outcome: 'unauthenticated', principal: null, sessionId: '', claimedSessionId: victimId });
      }
      expect(ids).toHaveLength(4);
      const replay = await run(process.execPath, [CLI, 'audit', 'replay', '--session', victimId, '--format', 'json', '--audit-dir', auditDir]);
      const calls = JSON.parse(replay.stdout) as AuditRecord[];
      expect(calls.length).toBeGreaterThan(0);
      for (const id of ids) expect(calls.map((c) => c.id)).not.toContain(id);
      expect(calls.every((c) => c.principal?.sub === 'ana')).toBe(true);
    } finally {
      await closeSession(victim);
    }
  });

  it('records a verified caller naming an unknown session (404) under the caller', async () => {
    const unknown = '00000000-0000-4000-8000-000000000000';
    const res = await raw(`${base}/mcp`, { method: 'POST', headers: { ...mcpHeaders, authorization: `Bearer ${await mallory()}`, 'mcp-session-id': unknown }, body: callBody() });
    expect(res.status).toBe(404);
    expect(onlyRecord(auditIdIn(res))).toMatchObject({ outcome: 'invalid', sessionId: '', claimedSessionId: unknown, principal: { sub: 'mallory' }, tool: 'query_sql' });
  });

  it('on legacy SSE: authenticates before looking up the session, and records refusals outside the named session', async () => {
    const stream = await openSse(await ana());
    try {
      const url = `${base}/messages?sessionId=${stream.sessionId}`;
      const other = await raw(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${await mallory()}` }, body: callBody() });
      expect(other.status).toBe(403);
      expect(onlyRecord(auditIdIn(other))).toMatchObject({ transport: 'sse', outcome: 'denied', sessionId: '', claimedSessionId: stream.sessionId, principal: { sub: 'mallory' } });
      const anonymous = await raw(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: callBody() });
      expect(anonymous.status).toBe(401);
      expect(onlyRecord(auditIdIn(anonymous))).toMatchObject({ transport: 'sse', outcome: 'unauthenticated', principal: null, sessionId: '', claimedSessionId: stream.sessionId });
      // An anonymous probe of an id that does not exist gets the same 401: it learns nothing about which ids are live.
      const probe = await raw(`${base}/messages?sessionId=00000000-0000-4000-8000-000000000000`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: callBody() });
      expect(probe.status).toBe(401);
      expect(readAudit(auditDir).filter((r) => r.sessionId === stream.sessionId)).toEqual([]);
    } finally {
      stream.req.destroy();
    }
  });

  it('keeps an oversized anonymous input as its digest, size and a bounded prefix (audit:gate-refusals)', async () => {
    const inputs: unknown[] = [
      { connection: 'shop', sql: `SELECT '${'x'.repeat(3 << 20)}'` },
      { connection: 'shop', sql: 'SELECT 1', params: Array.from({ length: 300_000 }, (_, i) => i) },
      Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, 'v'])),
    ];
    for (const args of inputs) {
      const res = await raw(`${base}/mcp`, { method: 'POST', headers: mcpHeaders, body: callBody(args) });
      expect(res.status).toBe(401);
      const json = JSON.stringify(args);
      const record = onlyRecord(auditIdIn(res));
      expect(record.input).toEqual({
        $truncated: true,
        sha256: createHash('sha256').update(json).digest('hex'),
        bytes: Buffer.byteLength(json),
        prefix: json.slice(0, 1024),
      });
      // What the refusal adds to the store (the whole record), not the 3 MB it was sent.
      expect(Buffer.byteLength(JSON.stringify(record))).toBeLessThan(4096);
    }
    // A small input is kept as sent.
    const small = await raw(`${base}/mcp`, { method: 'POST', headers: mcpHeaders, body: callBody() });
    expect(onlyRecord(auditIdIn(small)).input).toEqual(query);
  });
});
