import { Readable } from 'node:stream';
import { crc32, createGzip, deflateSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { contentFormatOf, readObjectText } from '../../src/connectors/object-text.js';
import { CancelledError, ContentRejectedError } from '../../src/errors.js';

const MiB = 1024 * 1024;
const signal = (): AbortSignal => new AbortController().signal;

/** A source of `total` bytes made of `unit` repeated, produced on demand; counts what it produced. */
function producer(unit: Buffer, total: number): { stream: Readable; produced: () => number } {
  let produced = 0;
  const stream = new Readable({
    read() {
      if (produced >= total) {
        this.push(null);
        return;
      }
      const chunk = unit.subarray(0, Math.min(unit.length, total - produced));
      produced += chunk.length;
      this.push(chunk);
    },
  });
  return { stream, produced: () => produced };
}

function chunks(parts: (string | Buffer)[]): Readable {
  return Readable.from(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

/** A real 4×4 RGB PNG: signature, IHDR, IDAT (deflated scanlines), IEND, each chunk with its CRC. */
function png(): Buffer {
  const chunk = (type: string, data: Buffer): Buffer => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(4, 0);
  ihdr.writeUInt32BE(4, 4);
  ihdr.writeUInt8(8, 8); // bit depth
  ihdr.writeUInt8(2, 9); // colour type RGB
  const rows = Buffer.concat(Array.from({ length: 4 }, (_, y) => Buffer.from([0, ...Array.from({ length: 12 }, (_, x) => (x * 40 + y * 17) % 256)])));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(rows)), chunk('IEND', Buffer.alloc(0))]);
}

describe('contentFormatOf (issue 18)', () => {
  it.each<[string, string | undefined, string]>([
    ['exports/orders.csv', 'text/csv; charset=utf-8', 'csv'],
    ['exports/orders.tsv', undefined, 'csv'],
    ['data', 'text/tab-separated-values', 'csv'],
    ['config/app.json', 'application/json', 'json'],
    ['config/app.json', 'application/octet-stream', 'json'],
    ['x', 'application/vnd.api+json', 'json'],
    ['logs/app.ndjson', undefined, 'ndjson'],
    ['logs/app.jsonl', 'text/plain', 'ndjson'],
    ['logs/app', 'application/x-ndjson', 'ndjson'],
    ['logs/app', 'application/jsonl', 'ndjson'],
    ['logs/app.log.gz', 'application/gzip', 'text'],
    ['exports/users.csv.gz', 'application/x-gzip', 'csv'],
    ['logs/app.ndjson.gz', undefined, 'ndjson'],
    ['README.md', undefined, 'text'],
    ['k8s/deploy.YAML', undefined, 'text'],
    ['.env', undefined, 'text'],
    ['app/.env', 'text/plain', 'text'],
    ['app/prod.env', undefined, 'text'],
    ['notes', 'text/plain', 'text'],
    ['page.html', undefined, 'text'],
    ['db/dump.sql', undefined, 'text'],
    ['img/logo.png', 'image/png', 'binary'],
    ['img/logo.json', 'image/png', 'binary'],
    ['docs/report.pdf', 'application/pdf', 'binary'],
    ['blob.bin', 'application/octet-stream', 'binary'],
    ['archive.tar.gz', undefined, 'binary'],
    ['noext', undefined, 'binary'],
  ])('%s (%s) → %s', (name, type, format) => {
    expect(contentFormatOf(name, type)).toBe(format);
  });
});

describe('readObjectText (issue 18)', () => {
  it('reads plain text whole from chunks split inside characters', async () => {
    const text = 'naïve café €100 ✓ ana@example.com\n'.repeat(50);
    const bytes = Buffer.from(text);
    const parts = Array.from({ length: Math.ceil(bytes.length / 7) }, (_, i) => bytes.subarray(i * 7, i * 7 + 7));
    expect(await readObjectText(chunks(parts), { gzip: false, maxBytes: MiB, signal: signal() })).toEqual({ text, bytesIn: bytes.length, bytesOut: bytes.length, truncated: false, binary: false });
    // An async iterable works as well as a Readable.
    async function* gen(): AsyncGenerator<Buffer> {
      yield* parts;
    }
    expect((await readObjectText(gen(), { gzip: false, maxBytes: MiB, signal: signal() })).text).toBe(text);
  });

  it('gunzips a real gzip stream as it arrives and counts compressed and decoded bytes', async () => {
    const text = Array.from({ length: 5000 }, (_, i) => `{"i":${i},"email":"user${i}@example.com"}`).join('\n');
    const gz = gzipSync(text);
    const parts = Array.from({ length: Math.ceil(gz.length / 1000) }, (_, i) => gz.subarray(i * 1000, i * 1000 + 1000));
    const out = await readObjectText(chunks(parts), { gzip: true, maxBytes: 10 * MiB, signal: signal() });
    expect(out).toEqual({ text, bytesIn: gz.length, bytesOut: Buffer.byteLength(text), truncated: false, binary: false });
  });

  it('cuts at maxBytes only at a character boundary, and stops reading the source there', async () => {
    // "ab" then "€" (3 bytes): a cap of 4 falls inside the euro sign.
    for (const split of [1, 2, 3, 100]) {
      const bytes = Buffer.from('ab€€€€ and much more');
      const parts = Array.from({ length: Math.ceil(bytes.length / split) }, (_, i) => bytes.subarray(i * split, i * split + split));
      expect(await readObjectText(chunks(parts), { gzip: false, maxBytes: 4, signal: signal() })).toEqual({ text: 'ab', bytesIn: expect.any(Number) as number, bytesOut: 2, truncated: true, binary: false });
      expect(await readObjectText(chunks(parts), { gzip: false, maxBytes: 5, signal: signal() })).toMatchObject({ text: 'ab€', bytesOut: 5, truncated: true });
      expect(await readObjectText(chunks(parts), { gzip: false, maxBytes: 7, signal: signal() })).toMatchObject({ text: 'ab€', bytesOut: 5, truncated: true });
    }
    // A 4-byte character cut after 1, 2 and 3 of its bytes.
    for (const cap of [1, 2, 3]) expect(await readObjectText(chunks(['😀x']), { gzip: false, maxBytes: cap, signal: signal() })).toMatchObject({ text: '', bytesOut: 0, truncated: true });

    const endless = producer(Buffer.from('line of log text\n'.repeat(1000)), 1024 * MiB);
    const out = await readObjectText(endless.stream, { gzip: false, maxBytes: 100_000, signal: signal() });
    expect(out).toMatchObject({ bytesOut: 100_000, truncated: true, binary: false });
    expect(out.text).toHaveLength(100_000);
    expect(endless.stream.destroyed).toBe(true);
    expect(endless.produced()).toBeLessThan(2 * MiB);
  });

  it('is not truncated when the content ends exactly at the cap', async () => {
    expect(await readObjectText(chunks(['abcd']), { gzip: false, maxBytes: 4, signal: signal() })).toMatchObject({ text: 'abcd', truncated: false });
    expect(await readObjectText(chunks(['abcd', 'e']), { gzip: false, maxBytes: 4, signal: signal() })).toMatchObject({ text: 'abcd', truncated: true });
    expect(await readObjectText(chunks([]), { gzip: false, maxBytes: 4, signal: signal() })).toEqual({ text: '', bytesIn: 0, bytesOut: 0, truncated: false, binary: false });
  });

  it('stops a gzip bomb (1 GiB of text compressed, made as a stream) with CONTENT_REJECTED after a few MiB', async () => {
    const raw = producer(Buffer.from('AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n'.repeat(2048)), 1024 * MiB);
    const gz = raw.stream.pipe(createGzip());
    const error = await rejection(readObjectText(gz, { gzip: true, maxBytes: 512 * MiB, signal: signal() }));
    expect(error).toBeInstanceOf(ContentRejectedError);
    const rejected = error as ContentRejectedError;
    expect(rejected.code).toBe('CONTENT_REJECTED');
    expect(rejected.reason).toBe('too_compressed');
    expect(rejected.data).toEqual({ reason: 'too_compressed' });
    expect(rejected.publicMessage).toBe('The content was not returned: it decompresses to far more than its compressed size (a possible compression bomb).');
    expect(gz.destroyed).toBe(true);
    // Only what was needed to see the ratio was ever made (the compressor had read ahead a little).
    expect(raw.produced()).toBeLessThan(64 * MiB);
    raw.stream.destroy();
  });

  it('honours a lower ratio cap, and lets ordinary compressed text through the default one', async () => {
    const text = Array.from({ length: 40_000 }, (_, i) => `2026-12-01T10:00:${String(i % 60).padStart(2, '0')}Z INFO request ${i} served in ${i % 97} ms`).join('\n');
    const gz = gzipSync(text);
    expect((await readObjectText(chunks([gz]), { gzip: true, maxBytes: 64 * MiB, signal: signal() })).text).toBe(text);
    const error = await rejection(readObjectText(chunks([gz]), { gzip: true, maxBytes: 64 * MiB, maxRatio: 1.5, signal: signal() }));
    expect((error as ContentRejectedError).reason).toBe('too_compressed');
  });

  it('refuses a bomb that arrives in one chunk by what the engine consumed, not what it was handed (issue 18)', async () => {
    // ~65 KB of gzip that inflates to 64 MiB, handed over at once: at 2 MiB out, the ratio is far past 100.
    const gz = gzipSync(Buffer.alloc(64 * MiB, 'a'));
    const error = await rejection(readObjectText(chunks([gz]), { gzip: true, maxBytes: 2 * MiB, signal: signal() }));
    expect((error as ContentRejectedError).reason).toBe('too_compressed');
  });

  it('stops a bomb of zeros as binary content after its first bytes', async () => {
    const raw = producer(Buffer.alloc(64 * 1024), 1024 * MiB);
    const gz = raw.stream.pipe(createGzip());
    expect(await readObjectText(gz, { gzip: true, maxBytes: 512 * MiB, signal: signal() })).toMatchObject({ text: '', binary: true, bytesOut: 0 });
    expect(raw.produced()).toBeLessThan(64 * MiB);
    raw.stream.destroy();
  });

  it('rejects corrupt and cut gzip with CONTENT_REJECTED (corrupt), and passes a source error on as it is', async () => {
    const notGzip = await rejection(readObjectText(chunks(['plain text, not gzip at all']), { gzip: true, maxBytes: MiB, signal: signal() }));
    expect(notGzip).toBeInstanceOf(ContentRejectedError);
    expect((notGzip as ContentRejectedError).reason).toBe('corrupt');
    expect((notGzip as ContentRejectedError).publicMessage).toBe('The content was not returned: its compressed data is corrupt.');
    const gz = gzipSync('some log text that is long enough to be cut\n'.repeat(200));
    const cut = await rejection(readObjectText(chunks([gz.subarray(0, gz.length >> 1)]), { gzip: true, maxBytes: MiB, signal: signal() }));
    expect((cut as ContentRejectedError).reason).toBe('corrupt');
    const flipped = Buffer.from(gz);
    flipped[20] = (flipped[20] ?? 0) ^ 0xff;
    flipped[21] = (flipped[21] ?? 0) ^ 0xff;
    expect(await rejection(readObjectText(chunks([flipped]), { gzip: true, maxBytes: MiB, signal: signal() }))).toBeInstanceOf(ContentRejectedError);

    const dropped = new Error('connection reset mid-object');
    async function* failing(): AsyncGenerator<Buffer> {
      yield gz.subarray(0, 30);
      throw dropped;
    }
    expect(await rejection(readObjectText(failing(), { gzip: true, maxBytes: MiB, signal: signal() }))).toBe(dropped);
    expect(await rejection(readObjectText(failing(), { gzip: false, maxBytes: MiB, signal: signal() }))).toBe(dropped);
  });

  it('returns no text for binary content: a real PNG, NUL bytes, mostly invalid UTF-8; keeps text with a few odd bytes', async () => {
    const image = png();
    expect(await readObjectText(chunks([image]), { gzip: false, maxBytes: MiB, signal: signal() })).toEqual({ text: '', bytesIn: image.length, bytesOut: 0, truncated: false, binary: true });
    expect(await readObjectText(chunks([gzipSync(image)]), { gzip: true, maxBytes: MiB, signal: signal() })).toMatchObject({ text: '', binary: true });
    expect((await readObjectText(chunks(['text then a NUL\0 byte']), { gzip: false, maxBytes: MiB, signal: signal() })).binary).toBe(true);
    const latin1 = Buffer.from(Array.from({ length: 4000 }, (_, i) => 0x80 + (i % 120)));
    expect((await readObjectText(chunks([latin1]), { gzip: false, maxBytes: MiB, signal: signal() })).binary).toBe(true);
    const controls = Buffer.from(Array.from({ length: 4000 }, (_, i) => (i % 3 === 0 ? 1 + (i % 8) : 0x61)));
    expect((await readObjectText(chunks([controls]), { gzip: false, maxBytes: MiB, signal: signal() })).binary).toBe(true);
    // A Latin-1 "café" in mostly ASCII text, tabs, form feeds and ANSI colours are still text.
    const mostlyText = Buffer.concat([Buffer.from('caf'), Buffer.from([0xe9]), Buffer.from(' \t\f\u001b[31mred\u001b[0m and plain words '.repeat(20))]);
    const out = await readObjectText(chunks([mostlyText]), { gzip: false, maxBytes: MiB, signal: signal() });
    expect(out.binary).toBe(false);
    expect(out.text.startsWith('caf\ufffd \t\f')).toBe(true);
    // Binary past the first 8 KiB is not looked for: the sample decides.
    const late = Buffer.concat([Buffer.from('x'.repeat(9000)), image]);
    expect((await readObjectText(chunks([late]), { gzip: false, maxBytes: MiB, signal: signal() })).binary).toBe(false);
  });

  it('rejects with CANCELLED when the signal aborts mid-read, and destroys the source', async () => {
    const controller = new AbortController();
    let reads = 0;
    const source = new Readable({
      read() {
        reads++;
        // One chunk, then nothing more: the upstream hangs.
        if (reads === 1) this.push(half);
      },
    });
    const gz = gzipSync('a slow object\n'.repeat(1000));
    const half = gz.subarray(0, gz.length >> 1);
    const reading = rejection(readObjectText(source, { gzip: true, maxBytes: MiB, signal: controller.signal }));
    await new Promise((r) => setTimeout(r, 20));
    expect(reads).toBeGreaterThan(0);
    controller.abort();
    const error = await reading;
    expect(error).toBeInstanceOf(CancelledError);
    expect(source.destroyed).toBe(true);

    const hanging = new Readable({ read() {} });
    const hung = readObjectText(hanging, { gzip: false, maxBytes: MiB, signal: controller.signal });
    expect(await rejection(hung)).toBeInstanceOf(CancelledError);
    expect(hanging.destroyed).toBe(true);
  });

  it('refuses bad options at the call (caller misuse)', async () => {
    await expect(readObjectText(chunks(['x']), { gzip: false, maxBytes: -1, signal: signal() })).rejects.toBeInstanceOf(TypeError);
    await expect(readObjectText(chunks(['x']), { gzip: false, maxBytes: 1.5, signal: signal() })).rejects.toBeInstanceOf(TypeError);
    await expect(readObjectText(chunks(['x']), { gzip: true, maxBytes: 1, maxRatio: 0, signal: signal() })).rejects.toBeInstanceOf(TypeError);
  });
});
