import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { Logger } from '../../src/log.js';
import { serveMetrics, type ServedMetrics } from '../../src/metrics/serve.js';

/** GET /metrics on the listener with the Host header a client would send. */
function scrape(url: string, host: string): Promise<number> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: Number(port), path: '/metrics', headers: { host } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

const lines: string[] = [];
const log: Logger = (_level, message) => void lines.push(message);
let served: ServedMetrics | undefined;

afterEach(async () => {
  await served?.close();
  served = undefined;
  lines.length = 0;
});

describe('the metrics listener of its own (issue 21)', () => {
  it('on loopback without a token, answers only its own names (no reading through DNS rebinding)', async () => {
    served = await serveMetrics({ port: 0, host: '127.0.0.1', transport: 'http' }, { version: 'test' }, log);
    const port = new URL(served.url ?? '').port;
    expect(await scrape(served.url ?? '', `127.0.0.1:${port}`)).toBe(200);
    expect(await scrape(served.url ?? '', `localhost:${port}`)).toBe(200);
    expect(await scrape(served.url ?? '', `rebound.attacker.example:${port}`)).toBe(403);
  });

  it('on every address without a token, answers a scraper that names the pod by its address, and warns at start', async () => {
    served = await serveMetrics({ port: 0, host: '0.0.0.0', transport: 'http' }, { version: 'test' }, log);
    const port = new URL(served.url ?? '').port;
    expect(await scrape(served.url ?? '', `10.4.2.17:${port}`)).toBe(200);
    expect(await scrape(served.url ?? '', `airlock.airlock.svc:${port}`)).toBe(200);
    expect(lines.some((l) => l.includes('NO token'))).toBe(true);
  });
});
