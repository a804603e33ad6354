/**
 * Issue 21 (faults): the OIDC issuer's JWKS endpoint down, and its keys rotated while it is down, with a
 * real `airlock serve --http` verifying bearer tokens against the local issuer. A token that needs keys
 * airlock cannot fetch is refused with the fixed 401 text, its code and an audit id, and the record says
 * why; once the endpoint is back, the rotated-in key is fetched and accepted without a restart, and the
 * rotated-out key is refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditRecord } from '../support/airlock.js';
import { raw } from '../support/http.js';
import { startLocalIssuer, type LocalIssuer } from '../support/oidc-issuer.js';
import { connectAgent, serveHttp, serverDir, tokenFor, until, writeRuntimeConfig, type Served } from '../support/served.js';
import { writePolicy } from '../support/airlock.js';

const ana = { sub: 'ana', email: 'ana@example.com', groups: ['analysts'] };
const query = { connection: 'shop', sql: 'SELECT id, name FROM products WHERE id = 1' };
const callBody = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'query_sql', arguments: query } });
const mcpHeaders = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2026-07-28' };

let idp: LocalIssuer;
let server: Served;
let auditDir: string;

beforeAll(async () => {
  idp = await startLocalIssuer();
  const dirs = serverDir();
  auditDir = dirs.auditDir;
  server = await serveHttp({ configPath: writeRuntimeConfig(dirs.dir, idp, {}), policyPath: writePolicy(dirs.dir), auditDir });
}, 60_000);
afterAll(async () => {
  await server?.stop();
  await idp?.close();
});

/** One governed call as `token` on a fresh 2026-07-28 agent; the rows on success. */
async function callAs(token: string): Promise<unknown> {
  const agent = await connectAgent('Streamable HTTP 2026-07-28 (stateless)', server.url, token);
  try {
    return (await agent.call('query_sql', query)).structuredContent?.rows;
  } finally {
    await agent.close();
  }
}

/** A tools/call with `token`, refused at the gate: the audit id from the 401's fixed text, after checking it. */
async function refusedAs(token: string): Promise<string> {
  const res = await raw(`${server.url}/mcp`, { method: 'POST', headers: { ...mcpHeaders, authorization: `Bearer ${token}` }, body: callBody });
  expect(res.status).toBe(401);
  expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
  const message = (JSON.parse(res.body) as { error: { message: string } }).error.message;
  const id = /audit id: ([0-9a-f-]{36})\]$/.exec(message)?.[1] ?? '';
  expect(message).toBe(`Unauthorized: The access token is invalid or expired [code: UNAUTHENTICATED; audit id: ${id}]`);
  return id;
}

describe('bearer tokens while the JWKS endpoint is down and the keys rotate (issue 21)', () => {
  it('refuses tokens needing unfetchable keys with a fixed 401 and an audit record, then accepts the rotated-in key once the endpoint is back', async () => {
    const before = await tokenFor(idp, ana);
    expect(await callAs(before)).toEqual([[1, expect.any(String)]]);
    idp.setDown(true);
    try {
      await idp.rotate();
      const rotated = await tokenFor(idp, ana);
      const id = await refusedAs(rotated);
      expect(auditRecord(auditDir, id)).toMatchObject({ outcome: 'unauthenticated', principal: null, error: { code: 'UNAUTHENTICATED', detail: expect.stringMatching(/\((jwks_unavailable|unknown_key)\)/) as unknown } });
      // A token under the key fetched before the outage still verifies from the cache.
      expect(await callAs(before)).toEqual([[1, expect.any(String)]]);
    } finally {
      idp.setDown(false);
    }
    // Back: within the fetch backoff (1 s after a failure, then 2, 4, …) the new key is fetched, no restart.
    const rotated = await tokenFor(idp, ana);
    await until(async () => (await callAs(rotated).catch(() => undefined)) !== undefined, 'the rotated-in key to be accepted', 30_000);
    const stale = await idp.sign({ sub: 'ana', aud: 'https://airlock.test/mcp', email: ana.email, email_verified: true, groups: ana.groups }, { key: 'previous' });
    const id = await refusedAs(stale);
    expect(auditRecord(auditDir, id).error?.detail).toMatch(/\(unknown_key\)/);
  }, 90_000);
});
