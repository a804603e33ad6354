import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startAirlock, type RunningAirlock } from '../../src/main.js';
import { tempDir } from '../support/airlock.js';
import { httpConfig, raw } from '../support/http.js';

let airlock: RunningAirlock | undefined;
let base = '';
let port = 0;

beforeAll(async () => {
  process.env.DATABASE_URL = inject('databaseUrl');
  airlock = await startAirlock(httpConfig(tempDir(), { allowedHosts: ['Airlock.Example.com', 'proxy.example:8443'] }), () => undefined);
  base = airlock.http?.url ?? '';
  port = airlock.http?.port ?? 0;
});

afterAll(async () => {
  await airlock?.close();
});

// A path past the Host check: 404 once the Host is accepted, 403 when it is refused.
const status = async (host: string): Promise<number> => (await raw(`${base}/no-such-path`, { headers: { host } })).status;

describe('serveHttp --allowed-host (issue 21: behind a TLS load balancer the Host header has no port)', () => {
  it('accepts a name given without a port bare and on the listening port, in any case', async () => {
    expect(await status('airlock.example.com')).toBe(404);
    expect(await status('AIRLOCK.example.com')).toBe(404);
    expect(await status(`airlock.example.com:${port}`)).toBe(404);
  });

  it('accepts a name given with a port only with that port', async () => {
    expect(await status('proxy.example:8443')).toBe(404);
    expect(await status('proxy.example')).toBe(403);
    expect(await status(`proxy.example:${port}`)).toBe(403);
  });

  it('still refuses other names and other ports of an allowed name (http:dns-rebinding)', async () => {
    expect(await status('attacker.example')).toBe(403);
    expect(await status('airlock.example.com:444')).toBe(403);
    expect(await status('airlock.example.com.attacker.example')).toBe(403);
    const refused = await raw(`${base}/mcp`, { headers: { host: 'attacker.example' } });
    expect(JSON.parse(refused.body)).toEqual({
      jsonrpc: '2.0',
      error: { code: -32000, message: 'Forbidden: Host header "attacker.example" is not allowed (DNS rebinding protection; see --allowed-host)' },
      id: null,
    });
  });

  it('answers a health check that names it by address with the bare status and nothing else', async () => {
    // A GKE Ingress or Cloud Load Balancing health check sends the pod's address as the Host.
    const foreign = await raw(`${base}/healthz`, { headers: { host: `10.8.0.7:${port}` } });
    expect(foreign.status).toBe(200);
    expect(JSON.parse(foreign.body)).toEqual({ status: 'ok' });
    const own = JSON.parse((await raw(`${base}/healthz`, { headers: { host: 'airlock.example.com' } })).body) as Record<string, unknown>;
    expect(own).toMatchObject({ status: 'ok' });
    expect(Object.keys(own)).toContain('sessions');
    // With an Origin (a browser's cross-origin read) the Host check applies as everywhere.
    expect((await raw(`${base}/healthz`, { headers: { host: `10.8.0.7:${port}`, origin: 'http://attacker.example' } })).status).toBe(403);
  });
});
