import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { MaskingFailedError } from '../../../src/errors.js';
import { DETECTOR_NAMES } from '../../../src/masking/detectors.js';
import { MaskContext, Masker, type Finding } from '../../../src/masking/masker.js';
import { MaskingStream, maskingTransform } from '../../../src/masking/stream.js';
import { labelledSet, rng } from '../../support/masking-labelled.js';

const masker = new Masker({ detectors: [...DETECTOR_NAMES], style: 'redact', columns: [] });

/** Pushes `text` in chunks of the given sizes (cycled) and returns the masked text and findings. */
function streamed(text: string, sizes: readonly number[], options = { window: 1024 }): { masked: string; findings: Finding[] } {
  const stream = new MaskingStream(masker, options);
  let masked = '';
  const findings: Finding[] = [];
  for (let at = 0, k = 0; at < text.length; k++) {
    const size = sizes[k % sizes.length] ?? 1;
    const out = stream.push(text.slice(at, at + size));
    masked += out.masked;
    findings.push(...out.findings);
    at += size;
  }
  const out = stream.end();
  return { masked: masked + out.masked, findings: [...findings, ...out.findings] };
}

const whole = (text: string): { masked: string; findings: Finding[] } => ({ masked: masker.maskText(text, new MaskContext()), findings: masker.find(text) });

const KEY_FILE = JSON.stringify({
  type: 'service_account',
  private_key: `-----BEGIN PRIVATE KEY-----\n${'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7q8Zr4Lk2Vx9T\n'.repeat(26)}-----END PRIVATE KEY-----\n`,
  client_email: 'etl@proj-alpha.iam.gserviceaccount.com',
});

describe('MaskingStream', () => {
  it("keeps a CSV header's column context for every later record, cut between records (quoted line breaks too)", () => {
    const r = rng(5);
    const rows = Array.from({ length: 600 }, (_, i) => {
      const password = `pw-${Math.floor(r() * 1e9).toString(36)}`;
      // Every seventh note is quoted and holds a line break and a quote, so a record spans lines.
      const note = i % 7 === 0 ? `"line one\nline ""two"" of ${i}"` : `note ${i}`;
      return `${i},user${i},${password},${note}`;
    });
    const text = `id,login,password,note\n${rows.join('\n')}\n`;
    expect(text.length).toBeGreaterThan(10 * 1024);
    const r2 = rng(6);
    const sizes = Array.from({ length: 40 }, () => 1 + Math.floor(r2() * 700));
    const out = streamed(text, sizes, { window: 256 });
    // Masked exactly as the whole text is, where the header is in view of every record.
    expect(out).toEqual(whole(text));
    expect(out.findings.filter((f) => f.type === 'PASSWORD')).toHaveLength(600);
    expect(out.masked).not.toMatch(/pw-/);
    expect(out.masked.split('\n').at(-2)).toBe('599,user599,[PASSWORD_600],note 599');
  });

  it("keeps the header's context when the first record is still being read at the first cut", () => {
    const text = `notes,password\n${'x'.repeat(40_000)},hunter2\nn,s3cr3tpw\nn,letmein9\n`;
    const out = streamed(text, [4096], { window: 16 * 1024 });
    expect(out).toEqual(whole(text));
    expect(out.masked).not.toMatch(/hunter2|s3cr3tpw|letmein9/);
  });

  it('keeps the context when the first record is an open quoted field at the first cut, pushed line by line', () => {
    const text = `id,note,password\n1,"${'some note line xxxx\n'.repeat(1700)}",hunter2\n2,plain,Tr0ub4dor2\n3,plain,Tr0ub4dor3\n`;
    const stream = new MaskingStream(masker);
    let masked = '';
    for (const line of text.split(/(?<=\n)/)) masked += stream.push(line).masked;
    masked += stream.end().masked;
    expect(masked).toBe(whole(text).masked);
    expect(masked).not.toMatch(/hunter2|Tr0ub4dor/);
  });

  it('is not CSV when the first line looks like a header but the first record already has more fields', () => {
    const text = `time,level,token\n${'value,'.repeat(12_000)}end\nnext,line,q8Zr4Lk2Vx9Tb7Nw3Hc6Jd1F\n`;
    expect(streamed(text, [4096], { window: 16 * 1024 })).toEqual(whole(text));
  });

  it('fails closed on a CSV record that outgrows the hold-back (its column context could not be kept)', () => {
    const stream = new MaskingStream(masker, { window: 256, pemHold: 1024 });
    expect(stream.push(`id,password\n1,"${'x'.repeat(600)}`).masked).toBe('id,password\n');
    expect(() => stream.push('y'.repeat(2000))).toThrow(MaskingFailedError);
    expect(() => stream.push('more')).toThrow(MaskingFailedError);
  });

  it('gives the same masked text and findings (offsets into the whole stream) as masking it whole', () => {
    const text = labelledSet(7, 6, 3).map((s) => s.text).join('\n');
    const r = rng(11);
    const sizes = Array.from({ length: 50 }, () => 1 + Math.floor(r() * 400));
    expect(streamed(text, sizes)).toEqual(whole(text));
    expect(streamed(text, [1])).toEqual(whole(text));
  });

  it('finds a service-account key split anywhere, though it is longer than the window', () => {
    const text = `log line 1\n${KEY_FILE}\nlog line 2\n`;
    expect(KEY_FILE.length).toBeGreaterThan(1500);
    const expected = whole(text);
    expect(expected.findings.map((f) => f.type)).toEqual(['GCP_SA_KEY', 'EMAIL']);
    for (let split = 1; split < text.length; split += 37) {
      expect(streamed(text, [split, 100_000], { window: 64 })).toEqual(expected);
    }
  });

  it('holds an open BEGIN block only up to pemHold, then masks it as a truncated key', () => {
    const stream = new MaskingStream(masker, { window: 64, pemHold: 512 });
    const first = stream.push(`x -----BEGIN PRIVATE KEY-----\n${'A'.repeat(200)}`);
    // Only the text before the open block goes out.
    expect(first.masked).toBe('x ');
    let out = first.masked;
    for (let i = 0; i < 20; i++) out += stream.push('B'.repeat(64)).masked;
    out += stream.end().masked;
    expect(out).toMatch(/^x \[PRIVATE_KEY_1\]/);
    expect(out).not.toContain('AAAA');
  });

  it('fails closed: a masking error stops the stream and nothing held back is emitted', () => {
    const busy = new Masker({ detectors: [], style: 'redact', columns: [], custom: [{ name: 'BUSY', pattern: '[^z]*z|a' }] });
    const stream = new MaskingStream(busy, { window: 64 });
    expect(() => stream.push('a'.repeat(300_000))).toThrow(MaskingFailedError);
    expect(() => stream.push('more')).toThrow(MaskingFailedError);
    expect(() => stream.end()).toThrow(MaskingFailedError);
  });

  it('rejects a window too small to hold a token (wiring error)', () => {
    expect(() => new MaskingStream(masker, { window: 8 })).toThrow(TypeError);
  });

  it('stays linear when fed an unterminated key or long runs in small chunks', () => {
    for (const text of [`-----BEGIN PRIVATE KEY-----\n${'A'.repeat(1_000_000)}`, '1'.repeat(1_000_000), '@'.repeat(1_000_000)]) {
      const started = performance.now();
      streamed(text, [997]);
      // A generous bound only a super-linear stream would break (not a performance assertion).
      expect(performance.now() - started).toBeLessThan(8000);
    }
  });
});

describe('maskingTransform', () => {
  it('masks UTF-8 bytes split anywhere, multi-byte characters included', async () => {
    const text = `é ana@example.com 😀 ${KEY_FILE} ü\n`.repeat(20);
    const bytes = Buffer.from(text, 'utf8');
    const pieces = Array.from({ length: Math.ceil(bytes.length / 333) }, (_, i) => bytes.subarray(i * 333, (i + 1) * 333));
    let out = '';
    for await (const chunk of Readable.from(pieces).pipe(maskingTransform(masker, { window: 256 }))) out += String(chunk);
    expect(out).toBe(masker.maskText(text, new MaskContext()));
  });

  it('errors the stream on a masking failure and emits nothing after it', async () => {
    const busy = new Masker({ detectors: [], style: 'redact', columns: [], custom: [{ name: 'BUSY', pattern: '[^z]*z|a' }] });
    const chunks: string[] = [];
    const run = async (): Promise<void> => {
      for await (const chunk of Readable.from(['ok '.repeat(100), 'a'.repeat(300_000)]).pipe(maskingTransform(busy, { window: 64 }))) chunks.push(String(chunk));
    };
    await expect(run()).rejects.toBeInstanceOf(MaskingFailedError);
    expect(chunks.join('')).not.toContain('aaaa');
  });
});
