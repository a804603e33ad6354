/**
 * openStorage (issue 18): the demo bucket served by the local GCS server and read through the real
 * client, the endpoint rules, cancellation, and the demo folder removed on close.
 */
import { existsSync } from 'node:fs';
import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { demoObjects, demoPng } from '../../src/connectors/demo-objects.js';
import { openStorage, storageEndpoint } from '../../src/connectors/storage.js';
import { createLogger } from '../../src/log.js';
import { parsePolicy, type Policy } from '../../src/policy/load.js';

process.env.METADATA_SERVER_DETECTION = 'none';

const POLICY: Policy = parsePolicy(
  JSON.stringify({ version: 1, resources: { buckets: { demo: { bucket: 'airlock-demo-data' } } }, rules: [{ id: 'r', effect: 'allow', tools: ['read_bucket'] }] }),
  'policies.json',
  ['read_bucket'],
);

const call = (timeoutMs = 5000): { signal: AbortSignal; deadline: number; timeoutMs: number } => ({ signal: new AbortController().signal, deadline: Date.now() + timeoutMs, timeoutMs });

describe('openStorage (issue 18)', () => {
  it('serves the generated demo bucket through the real client and removes it on close', async () => {
    const lines: string[] = [];
    const storage = await openStorage({ demo: true, policy: () => POLICY, config: undefined, env: {}, log: createLogger({ format: 'pretty', write: (l) => lines.push(l) }) });
    try {
      expect(storage.hasBucket('demo')).toBe(true);
      expect(storage.hasBucket('airlock-demo-data')).toBe(false);
      const listing = await storage.list('demo', { prefix: '', maxResults: 100 }, call());
      expect(listing.items.map((i) => i.name).sort()).toEqual(Object.keys(demoObjects()).sort());
      const csv = await storage.read('demo', { object: 'exports/customers-2026-11.csv', maxBytes: 1 << 20 }, call());
      expect(csv).toMatchObject({ format: 'csv', truncated: false, metadata: { contentType: 'text/csv' } });
      expect(csv.text?.split('\n')[0]).toBe('customer_id,full_name,email,card_number,phone,country,created_at');
      expect(csv.text).toContain('4111 1111 1111 1111');
      const log = await storage.read('demo', { object: 'app/logs/worker.log.gz', maxBytes: 1 << 20 }, call());
      expect(log).toMatchObject({ format: 'text', metadata: { contentEncoding: 'gzip' } });
      expect(log.text).toContain('AKIAIOSFODNN7EXAMPLE');
      const key = await storage.read('demo', { object: 'config/service.json', maxBytes: 1 << 20 }, call());
      const sa = JSON.parse(key.text ?? '') as { type: string; private_key: string };
      expect(sa.type).toBe('service_account');
      expect(sa.private_key).toMatch(/^-----BEGIN PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+\n-----END PRIVATE KEY-----\n$/);
      const ndjson = await storage.read('demo', { object: 'app/logs/api-2026-12-01.ndjson', maxBytes: 1 << 20 }, call());
      expect(ndjson.format).toBe('ndjson');
      for (const line of (ndjson.text ?? '').trim().split('\n')) expect(JSON.parse(line)).toHaveProperty('client_ip');
      const png = await storage.read('demo', { object: 'app/assets/logo.png', maxBytes: 1 << 20 }, call());
      expect(png).toMatchObject({ format: 'binary', bytesRead: 0, metadata: { contentType: 'image/png', size: demoPng().length } });
      expect(png.text).toBeUndefined();
      // The same object reads the same on every run (no binary file is kept in the repository).
      expect(demoObjects()['config/service.json']).toBe(demoObjects()['config/service.json']);
      expect(demoObjects()['exports/customers-2026-11.csv']).toBe(csv.text);
    } finally {
      await storage.close();
    }
    const dir = /from (\S+)\n$/.exec(lines.find((l) => l.includes('demo Cloud Storage')) ?? '')?.[1];
    expect(dir).toBeDefined();
    expect(existsSync(dir as string)).toBe(false);
  });

  it('builds a PNG that decodes: signature, IHDR 16×16 RGB, and 16 rows of pixels', () => {
    const png = demoPng();
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(png.toString('latin1', 12, 16)).toBe('IHDR');
    expect([png.readUInt32BE(16), png.readUInt32BE(20), png[24], png[25]]).toEqual([16, 16, 8, 2]);
    const idatLength = png.readUInt32BE(33);
    expect(png.toString('latin1', 37, 41)).toBe('IDAT');
    expect(inflateSync(png.subarray(41, 41 + idatLength)).length).toBe(16 * (1 + 16 * 3));
  });

  it('answers a cancelled call with CANCELLED and an unknown bucket with UNKNOWN_RESOURCE', async () => {
    const storage = await openStorage({ demo: true, policy: () => POLICY, config: undefined, env: {}, log: () => undefined });
    try {
      const aborted = new AbortController();
      aborted.abort();
      await expect(storage.list('demo', { prefix: '', maxResults: 10 }, { signal: aborted.signal, deadline: Date.now() + 5000 })).rejects.toMatchObject({ code: 'CANCELLED' });
      await expect(storage.read('nope', { object: 'a.txt', maxBytes: 10 }, call())).rejects.toMatchObject({ code: 'UNKNOWN_RESOURCE' });
    } finally {
      await storage.close();
    }
  });
});

describe('storageEndpoint (issue 18)', () => {
  it('takes https anywhere and http only on loopback (without credentials)', () => {
    expect(storageEndpoint(undefined)).toEqual({ url: undefined, local: false });
    expect(storageEndpoint('https://storage.example.com/')).toEqual({ url: 'https://storage.example.com', local: false });
    expect(storageEndpoint('http://127.0.0.1:4443')).toEqual({ url: 'http://127.0.0.1:4443', local: true });
    expect(storageEndpoint('127.0.0.1:4443')).toEqual({ url: 'http://127.0.0.1:4443', local: true });
    expect(storageEndpoint('http://[::1]:4443')).toEqual({ url: 'http://[::1]:4443', local: true });
    for (const bad of ['http://10.0.0.5:4443', 'http://storage.example.com', 'http://169.254.169.254', 'http://127.0.0.1.example.com']) {
      expect(() => storageEndpoint(bad), bad).toThrow(/storage\.endpoint: an http:\/\/ endpoint must be on loopback/);
    }
  });
});
