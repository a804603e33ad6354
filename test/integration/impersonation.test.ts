import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OAuth2Client } from 'google-auth-library';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImpersonationProvider } from '../../src/connectors/gcp-credentials.js';
import { UpstreamUnavailableError } from '../../src/errors.js';
import type { Principal } from '../../src/identity/principal.js';

process.env.METADATA_SERVER_DETECTION = 'none';

/** A local fake of the IAM Credentials API's generateAccessToken, on loopback. */
let server: Server;
let endpoint = '';
const requests: { sa: string; auth: string | undefined; body: { scope?: string[]; lifetime?: string } }[] = [];
let expiresInSeconds = 900;

beforeAll(async () => {
  server = createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => {
      const match = /^\/v1\/projects\/-\/serviceAccounts\/([^/:]+):generateAccessToken$/.exec(req.url ?? '');
      const sa = decodeURIComponent(match?.[1] ?? '');
      requests.push({ sa, auth: req.headers.authorization, body: JSON.parse(text || '{}') as { scope?: string[]; lifetime?: string } });
      res.setHeader('content-type', 'application/json');
      if (req.headers.authorization !== 'Bearer airlock-own-token' || sa.startsWith('forbidden')) {
        res.statusCode = 403;
        res.end(JSON.stringify({ error: { code: 403, status: 'PERMISSION_DENIED', message: `Permission 'iam.serviceAccounts.getAccessToken' denied on ${sa}` } }));
        return;
      }
      res.end(JSON.stringify({ accessToken: `ya29.${sa}.${requests.length}`, expireTime: new Date(Date.now() + expiresInSeconds * 1000).toISOString() }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
});

function source(token = 'airlock-own-token'): OAuth2Client {
  const client = new OAuth2Client();
  client.setCredentials({ access_token: token, expiry_date: Date.now() + 3_600_000 });
  return client;
}

const ana: Principal = { issuer: 'https://idp', sub: 'ana', email: 'ana@example.com', groups: ['analysts'], clientId: undefined, dev: false };
const ben: Principal = { ...ana, sub: 'ben' };

describe('ImpersonationProvider (IAM Credentials generateAccessToken, local fake)', () => {
  it('gets a short-lived token for the service account with airlock’s own credentials, and caches it per principal', async () => {
    requests.length = 0;
    expiresInSeconds = 900;
    const provider = new ImpersonationProvider({ sourceClient: source(), endpoint, lifetimeSeconds: 600 });
    const first = await provider.tokenFor(ana, 'reader@proj.iam.gserviceaccount.com');
    expect(first.accessToken).toBe('ya29.reader@proj.iam.gserviceaccount.com.1');
    expect(first.serviceAccount).toBe('reader@proj.iam.gserviceaccount.com');
    expect(requests[0]).toEqual({
      sa: 'reader@proj.iam.gserviceaccount.com',
      auth: 'Bearer airlock-own-token',
      body: { delegates: [], scope: ['https://www.googleapis.com/auth/cloud-platform'], lifetime: '600s' },
    });
    expect(await provider.tokenFor(ana, 'reader@proj.iam.gserviceaccount.com')).toEqual(first);
    expect(requests).toHaveLength(1);
    const other = await provider.tokenFor(ben, 'reader@proj.iam.gserviceaccount.com');
    expect(other.accessToken).not.toBe(first.accessToken);
    expect(requests).toHaveLength(2);
  });

  it('refreshes a token that is close to expiry', async () => {
    requests.length = 0;
    expiresInSeconds = 30; // inside the 60 s refresh margin
    const provider = new ImpersonationProvider({ sourceClient: source(), endpoint });
    const a = await provider.tokenFor(ana, 'reader@proj.iam.gserviceaccount.com');
    const b = await provider.tokenFor(ana, 'reader@proj.iam.gserviceaccount.com');
    expect(b.accessToken).not.toBe(a.accessToken);
    expect(requests).toHaveLength(2);
    expiresInSeconds = 900;
  });

  it('turns permission denied into a clear error naming the service account', async () => {
    const provider = new ImpersonationProvider({ sourceClient: source(), endpoint });
    const error = await provider.tokenFor(ana, 'forbidden@proj.iam.gserviceaccount.com').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamUnavailableError);
    expect((error as UpstreamUnavailableError).publicMessage).toBe(
      'Acting as service account forbidden@proj.iam.gserviceaccount.com (permission denied) is unavailable right now; try again shortly.',
    );
    expect((error as Error).message).toContain('PERMISSION_DENIED');
  });

  it('refuses lifetimes over 15 minutes at build time', () => {
    expect(() => new ImpersonationProvider({ sourceClient: source(), lifetimeSeconds: 3600 })).toThrow('lifetimeSeconds must be 60..900');
  });
});

describe('execute stage: googleToken() for tools (policy picks the service account per group)', () => {
  it('impersonates the mapped service account for the caller and records it in the audit', async () => {
    const { defineTool } = await import('../../src/tool.js');
    const z = await import('zod');
    const { ToolRegistry } = await import('../../src/mcp/registry.js');
    const { buildPipeline } = await import('../../src/pipeline/chain.js');
    const { parsePolicy } = await import('../../src/policy/load.js');
    const probe = defineTool({
      name: 'probe_gcp',
      description: 'Test tool: asks the execute stage for Google credentials and reports which account it got.',
      input: z.strictObject({}),
      annotations: { title: 'probe', readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true },
      facts: () => ({}),
      async execute(_input, ctx) {
        const token = await ctx.googleToken();
        return { kind: 'rows', columns: [{ name: 'sa', type: 'text' }], rows: [[token.serviceAccount]], rowCount: 1, truncated: false };
      },
    });
    const registry = new ToolRegistry([probe]);
    const policy = parsePolicy(
      JSON.stringify({
        version: 1,
        rules: [{ id: 'probe', effect: 'allow', tools: ['probe_gcp'] }],
        downstream: { impersonation: { lifetimeSeconds: 300, byGroup: [{ groups: ['analysts'], serviceAccount: 'analyst-reader@proj-12345.iam.gserviceaccount.com' }] } },
      }),
      'policies.json',
      registry.names(),
    );
    const records: unknown[] = [];
    const run = buildPipeline({
      audit: { start: () => Promise.resolve(), append: (r) => Promise.resolve(void records.push(r)) },
      tools: registry,
      policy: { current: () => policy },
      deps: { sql: { run: () => Promise.reject(new Error('unused')), catalog: () => Promise.reject(new Error('unused')) }, classifySql: () => { throw new Error('unused'); }, hasConnection: () => false, accessFor: () => [], explain: () => { throw new Error('unused'); } },
      clock: { now: () => Date.now() },
      onAuditFailure: () => undefined,
      impersonation: new ImpersonationProvider({ sourceClient: source(), endpoint, lifetimeSeconds: 300 }),
    });
    const call = (principal: Principal) => {
      const ctx = { id: `c-${principal.sub}`, startedAt: Date.now(), sessionId: 's', transport: 'in-memory' as const, toolName: 'probe_gcp', rawArguments: {}, credential: { kind: 'dev' as const, principal }, signal: new AbortController().signal };
      return run(ctx).then(() => ctx as typeof ctx & { response?: { structuredContent?: unknown; content: { text: string }[] } });
    };
    const ok = await call(ana);
    expect(ok.response?.structuredContent).toMatchObject({ rows: [['analyst-reader@proj-12345.iam.gserviceaccount.com']] });
    expect(records[0]).toMatchObject({ outcome: 'ok', downstream: [{ kind: 'google_service_account', principal: 'analyst-reader@proj-12345.iam.gserviceaccount.com' }] });
    const denied = await call({ ...ana, sub: 'sam', groups: ['sales'] });
    expect(denied.response?.content[0]?.text).toContain('Google credentials for this caller is unavailable right now');
  });
});
