/**
 * The loopback Cloud Storage server, driven only through the real `@google-cloud/storage` client (and raw
 * HTTP for the path tricks the client would encode away) (issue 18).
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CRC32C, Storage } from '@google-cloud/storage';
import type { StorageOptions } from '@google-cloud/storage';
import { startLocalGcs } from '../../src/connectors/local-gcs.js';
import type { GcsFault, GcsFaultRequest, LocalGcs } from '../../src/connectors/local-gcs.js';

// Before any client call: never probe the metadata server (a link-local address) from tests.
process.env.METADATA_SERVER_DETECTION = 'none';

const CSV = 'id,email,card\n1,ana@example.com,4111111111111111\n2,bo@example.com,5500005555555559\n';
const LOG = Array.from({ length: 200 }, (_, i) => `2026-01-01T00:00:${String(i % 60).padStart(2, '0')}Z GET /api?token=abc${i}\n`).join('');
const SECRET = 'OUTSIDE-THE-ROOT-DO-NOT-SERVE';
const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52]);

const FILES: Record<string, string | Buffer> = {
  'demo-bucket/a.txt': 'hello from a\n',
  'demo-bucket/app/config.json': '{"password":"hunter2"}\n',
  'demo-bucket/app/2026/01/app.ndjson': '{"msg":"one"}\n',
  'demo-bucket/app/2026/02/app.ndjson': '{"msg":"two"}\n',
  'demo-bucket/exports/cards.csv': CSV,
  'demo-bucket/exports/old.csv': CSV,
  'demo-bucket/logs/app.log.gz': gzipSync(LOG),
  'demo-bucket/img.png': PNG,
  'other-bucket/x.txt': 'other\n',
};

let tmp: string;
let root: string;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'airlock-gcs-'));
  root = join(tmp, 'root');
  for (const [path, content] of Object.entries(FILES)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content);
  }
  await writeFile(join(tmp, 'secret.txt'), SECRET);
  await symlink(join(tmp, 'secret.txt'), join(root, 'demo-bucket', 'link-out.txt'));
  await symlink(join(root, 'other-bucket', 'x.txt'), join(root, 'demo-bucket', 'link-other.txt'));
  await symlink(join(root, 'demo-bucket', 'a.txt'), join(root, 'demo-bucket', 'link-in.txt'));
  await symlink(tmp, join(root, 'demo-bucket', 'dir-out'));
  await symlink(tmp, join(root, 'escape-bucket'));
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function client(gcs: LocalGcs, extra: Partial<StorageOptions> = {}): Storage {
  return new Storage({
    apiEndpoint: gcs.url,
    projectId: 'demo',
    retryOptions: { maxRetries: 2, retryDelayMultiplier: 1, maxRetryDelay: 0.01, totalTimeout: 10 },
    ...extra,
  });
}

async function withGcs(fn: (gcs: LocalGcs) => Promise<void>, faults?: (req: GcsFaultRequest) => GcsFault | undefined): Promise<void> {
  const gcs = await startLocalGcs({ root, ...(faults ? { faults } : {}) });
  try {
    await fn(gcs);
  } finally {
    await gcs.close();
  }
}

function rawGet(url: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { headers, path }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

async function errorOf(p: Promise<unknown>): Promise<{ code: unknown; message: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as { code?: unknown; message: string };
    return { code: e.code, message: e.message };
  }
  throw new Error('expected a rejection');
}

describe('startLocalGcs (issue 18)', () => {
  it('lists names and common prefixes under a prefix with a delimiter', async () => {
    await withGcs(async (gcs) => {
      const [files, next, api] = await client(gcs).bucket('demo-bucket').getFiles({ prefix: 'app/', delimiter: '/', autoPaginate: false });
      expect(files.map((f) => f.name)).toEqual(['app/config.json']);
      expect((api as { prefixes?: string[] }).prefixes).toEqual(['app/2026/']);
      expect(next).toBeNull();
    });
  });

  it('lists the top level without links that leave the bucket or linked directories', async () => {
    await withGcs(async (gcs) => {
      const [files, , api] = await client(gcs).bucket('demo-bucket').getFiles({ delimiter: '/', autoPaginate: false });
      expect(files.map((f) => f.name)).toEqual(['a.txt', 'img.png', 'link-in.txt']);
      expect((api as { prefixes?: string[] }).prefixes).toEqual(['app/', 'exports/', 'logs/']);
    });
  });

  it('pages with maxResults and pageToken until every name was seen once', async () => {
    await withGcs(async (gcs) => {
      const bucket = client(gcs).bucket('demo-bucket');
      const seen: string[] = [];
      let query: object | null = { maxResults: 3, autoPaginate: false };
      let pages = 0;
      while (query !== null) {
        const [files, next]: [{ name: string }[], object | null, unknown] = await bucket.getFiles(query);
        expect(files.length).toBeLessThanOrEqual(3);
        seen.push(...files.map((f) => f.name));
        query = next;
        pages++;
      }
      expect(pages).toBe(3);
      expect(seen).toEqual(['a.txt', 'app/2026/01/app.ndjson', 'app/2026/02/app.ndjson', 'app/config.json', 'exports/cards.csv', 'exports/old.csv', 'img.png', 'link-in.txt', 'logs/app.log.gz']);
    });
  });

  it('counts prefixes in a page and continues after a prefix', async () => {
    await withGcs(async (gcs) => {
      const bucket = client(gcs).bucket('demo-bucket');
      const [first, next, api] = await bucket.getFiles({ delimiter: '/', maxResults: 2, autoPaginate: false });
      expect(first.map((f) => f.name)).toEqual(['a.txt']);
      expect((api as { prefixes?: string[] }).prefixes).toEqual(['app/']);
      const [second, , api2] = await bucket.getFiles({ ...(next as object), autoPaginate: false });
      expect(second.map((f) => f.name)).toEqual(['img.png']);
      expect((api2 as { prefixes?: string[] }).prefixes).toEqual(['exports/']);
    });
  });

  it('returns metadata with size as a string, type by extension and the hashes the client computes', async () => {
    await withGcs(async (gcs) => {
      const [meta] = await client(gcs).bucket('demo-bucket').file('exports/cards.csv').getMetadata();
      const crc = new CRC32C();
      crc.update(Buffer.from(CSV));
      expect(meta).toMatchObject({
        name: 'exports/cards.csv',
        bucket: 'demo-bucket',
        size: String(Buffer.byteLength(CSV)),
        contentType: 'text/csv',
        md5Hash: createHash('md5').update(CSV).digest('base64'),
        crc32c: crc.toString(),
        storageClass: 'STANDARD',
      });
      expect(meta.contentEncoding).toBeUndefined();
      expect(meta.generation).toMatch(/^\d+$/);
      expect(Number.isNaN(Date.parse(meta.updated ?? ''))).toBe(false);
    });
  });

  it('downloads whole objects with the client validating x-goog-hash', async () => {
    await withGcs(async (gcs) => {
      const bucket = client(gcs).bucket('demo-bucket');
      const [csv] = await bucket.file('exports/cards.csv').download();
      expect(csv.toString()).toBe(CSV);
      const [png] = await bucket.file('img.png').download({ validation: 'md5' });
      expect(png.equals(PNG)).toBe(true);
      const [linked] = await bucket.file('link-in.txt').download();
      expect(linked.toString()).toBe('hello from a\n');
    });
  });

  it('serves byte ranges, open-ended ranges and tails', async () => {
    await withGcs(async (gcs) => {
      const file = client(gcs).bucket('demo-bucket').file('exports/cards.csv');
      const read = async (opts: { start?: number; end?: number }): Promise<string> => {
        const chunks: Buffer[] = [];
        for await (const c of file.createReadStream(opts)) chunks.push(c as Buffer);
        return Buffer.concat(chunks).toString();
      };
      expect(await read({ start: 3, end: 12 })).toBe(CSV.slice(3, 13));
      expect(await read({ start: 20 })).toBe(CSV.slice(20));
      expect(await read({ end: -10 })).toBe(CSV.slice(-10));
      expect(await read({ start: 0, end: 100_000 })).toBe(CSV);
    });
  });

  it('serves a gzip object as stored with Content-Encoding gzip, which the client decompresses', async () => {
    await withGcs(async (gcs) => {
      const file = client(gcs).bucket('demo-bucket').file('logs/app.log.gz');
      const [meta] = await file.getMetadata();
      expect(meta).toMatchObject({ contentType: 'text/plain', contentEncoding: 'gzip', size: String(gzipSync(LOG).length) });
      const [text] = await file.download();
      expect(text.toString()).toBe(LOG);
      const [stored] = await file.download({ decompress: false });
      expect(stored.subarray(0, 2).equals(Buffer.from([0x1f, 0x8b]))).toBe(true);
    });
  });

  it('transcodes a gzip object for a request that does not accept gzip, ignoring Range', async () => {
    await withGcs(async (gcs) => {
      const plain = await rawGet(gcs.url, '/storage/v1/b/demo-bucket/o/logs%2Fapp.log.gz?alt=media', { 'Accept-Encoding': 'identity', Range: 'bytes=0-9' });
      expect(plain.status).toBe(200);
      expect(plain.headers['content-encoding']).toBeUndefined();
      expect(plain.headers['x-goog-stored-content-encoding']).toBe('gzip');
      expect(plain.body.toString()).toBe(LOG);
      const stored = await rawGet(gcs.url, '/download/storage/v1/b/demo-bucket/o/logs%2Fapp.log.gz?alt=media', { 'Accept-Encoding': 'gzip' });
      expect(stored.headers['content-encoding']).toBe('gzip');
      expect(stored.body.equals(gzipSync(LOG))).toBe(true);
    });
  });

  it('answers 404 in the JSON error shape for a missing object or bucket', async () => {
    await withGcs(async (gcs) => {
      const storage = client(gcs);
      expect(await errorOf(storage.bucket('demo-bucket').file('nope.txt').getMetadata())).toEqual({ code: 404, message: 'No such object: demo-bucket/nope.txt' });
      expect(await errorOf(storage.bucket('demo-bucket').file('nope.txt').download())).toMatchObject({ code: 404 });
      expect(await errorOf(storage.bucket('no-such-bucket').getFiles({ autoPaginate: false }))).toEqual({ code: 404, message: 'The specified bucket does not exist.' });
      const raw = await rawGet(gcs.url, '/storage/v1/b/demo-bucket/o/nope.txt');
      expect(JSON.parse(raw.body.toString())).toEqual({ error: { code: 404, message: 'No such object: demo-bucket/nope.txt', errors: [{ message: 'No such object: demo-bucket/nope.txt', domain: 'global', reason: 'notFound' }] } });
    });
  });

  it('answers an injected 403 once, without retries', async () => {
    let calls = 0;
    await withGcs(
      async (gcs) => {
        expect(await errorOf(client(gcs).bucket('demo-bucket').file('a.txt').getMetadata())).toEqual({ code: 403, message: 'The caller does not have permission.' });
        expect(calls).toBe(1);
      },
      () => (calls++, { status: 403 }),
    );
  });

  it('lets the client retry 429 and 503 and succeed when the fault clears', async () => {
    let calls = 0;
    await withGcs(
      async (gcs) => {
        const [meta] = await client(gcs).bucket('demo-bucket').file('a.txt').getMetadata();
        expect(meta.name).toBe('a.txt');
        expect(calls).toBe(3);
      },
      () => {
        calls++;
        return calls === 1 ? { status: 429 } : calls === 2 ? { status: 503 } : undefined;
      },
    );
  });

  it('gives 503 after the client used its retries', async () => {
    let calls = 0;
    await withGcs(
      async (gcs) => {
        expect(await errorOf(client(gcs).bucket('demo-bucket').getFiles({ autoPaginate: false }))).toEqual({ code: 503, message: 'The service is currently unavailable.' });
        expect(calls).toBe(3);
      },
      () => (calls++, { status: 503 }),
    );
  });

  it('hangs until the caller gives up (the client timeout option is not honoured), and serves the next call', async () => {
    let hang = true;
    await withGcs(
      async (gcs) => {
        const storage = client(gcs, { timeout: 200, retryOptions: { autoRetry: false } });
        // The client's HTTP layer (node-fetch 3 under teeny-request) ignores `timeout` and takes no signal:
        // a connector must bound each call itself. This pins that fact; if it changes, the race resolves.
        const pending = storage.bucket('demo-bucket').file('a.txt').getMetadata().then(() => 'answered', () => 'failed');
        const first = await Promise.race([pending, new Promise((r) => setTimeout(() => r('still waiting'), 1_000))]);
        expect(first).toBe('still waiting');
        // A stream bounded by its caller: destroying it ends the read with the caller's error.
        const stream = storage.bucket('demo-bucket').file('exports/cards.csv').createReadStream();
        const timer = setTimeout(() => stream.destroy(new Error('bounded by the caller')), 300);
        const err = await errorOf((async () => { for await (const _ of stream) void _; })());
        clearTimeout(timer);
        expect(err.message).toBe('bounded by the caller');
        hang = false;
        const [meta] = await storage.bucket('demo-bucket').file('a.txt').getMetadata();
        expect(meta.size).toBe('13');
      },
      () => (hang ? { hang: true } : undefined),
    );
  });

  it('drops the connection mid-object and the client download fails', async () => {
    await withGcs(
      async (gcs) => {
        const storage = client(gcs, { retryOptions: { autoRetry: false } });
        await expect(storage.bucket('demo-bucket').file('exports/cards.csv').download()).rejects.toThrow();
      },
      (req) => (req.media ? { dropAfterBytes: 10 } : undefined),
    );
  });

  it('sends no Authorization header to the custom endpoint', async () => {
    const seen: GcsFaultRequest[] = [];
    await withGcs(
      async (gcs) => {
        const bucket = client(gcs).bucket('demo-bucket');
        await bucket.getFiles({ autoPaginate: false });
        await bucket.file('a.txt').download();
        expect(seen.length).toBe(2);
        expect(seen.map((r) => r.headers.authorization)).toEqual([undefined, undefined]);
        expect(seen.map((r) => [r.bucket, r.object, r.media])).toEqual([['demo-bucket', undefined, false], ['demo-bucket', 'a.txt', true]]);
      },
      (req) => (seen.push(req), undefined),
    );
  });

  it('refuses object names that leave the bucket through the client', async () => {
    await withGcs(async (gcs) => {
      const bucket = client(gcs).bucket('demo-bucket');
      for (const name of ['../other-bucket/x.txt', '../../secret.txt', 'app/../../other-bucket/x.txt', '/etc/passwd', 'a.txt\0', 'app//config.json', './a.txt', 'app\\config.json']) {
        expect(await errorOf(bucket.file(name).download()), name).toMatchObject({ code: 400 });
      }
      for (const name of ['link-out.txt', 'link-other.txt', 'dir-out/secret.txt']) {
        expect(await errorOf(bucket.file(name).download()), name).toMatchObject({ code: 404 });
      }
      expect(await errorOf(client(gcs).bucket('escape-bucket').getFiles({ autoPaginate: false }))).toMatchObject({ code: 404 });
      // The client sends `/b/../o`, which URL normalisation turns into a path that names no bucket.
      expect(await errorOf(client(gcs).bucket('..').getFiles({ autoPaginate: false }))).toEqual({ code: 404, message: 'Not Found' });
    });
  });

  it('refuses raw path tricks with 400 or 404 and never serves a file outside the bucket', async () => {
    await withGcs(async (gcs) => {
      const cases: [string, number][] = [
        ['/storage/v1/b/demo-bucket/o/..%2F..%2Fsecret.txt?alt=media', 400],
        ['/storage/v1/b/demo-bucket/o/../../secret.txt?alt=media', 400],
        ['/storage/v1/b/demo-bucket/o/%2e%2e/%2e%2e/secret.txt?alt=media', 400],
        ['/storage/v1/b/demo-bucket/o/%2Fetc%2Fpasswd?alt=media', 400],
        ['/storage/v1/b/demo-bucket/o/a.txt%00.png?alt=media', 400],
        ['/storage/v1/b/demo-bucket/o/%E0%A4%A?alt=media', 400],
        ['/storage/v1/b/demo-bucket/o/%252e%252e%252fsecret.txt?alt=media', 404],
        ['/storage/v1/b/demo-bucket/o/..%252F..%252Fsecret.txt?alt=media', 404],
        ['/storage/v1/b/..%2Fsecret.txt/o?alt=media', 400],
        ['/storage/v1/b/%2e%2e/o/secret.txt?alt=media', 400],
        ['/storage/v1/b/../o/secret.txt?alt=media', 400],
        ['/storage/v1/b/demo-bucket/o/link-out.txt?alt=media', 404],
        ['/storage/v1/b/demo-bucket/o/dir-out%2Fsecret.txt?alt=media', 404],
        ['/storage/v1/b/escape-bucket/o/secret.txt?alt=media', 404],
        ['/storage/v1/../../secret.txt', 404],
      ];
      for (const [path, status] of cases) {
        const res = await rawGet(gcs.url, path);
        expect(res.status, path).toBe(status);
        expect(res.body.toString(), path).not.toContain(SECRET);
        expect((JSON.parse(res.body.toString()) as { error: { code: number } }).error.code, path).toBe(status);
      }
    });
  });

  it('refuses to bind anywhere but loopback and to serve a missing root', async () => {
    for (const host of ['0.0.0.0', '::', '192.168.1.10', 'localhost.example.com']) {
      await expect(startLocalGcs({ root, host }), host).rejects.toThrow(/loopback/);
    }
    await expect(startLocalGcs({ root: join(tmp, 'missing') })).rejects.toThrow(/root is not a directory/);
  });
});
