import { describe, expect, it } from 'vitest';
import { denseLog } from '../../../bench/masking-dense.js';
import { asFile, rng } from '../../../bench/masking-rng.js';
import { sparseLog } from '../../../bench/masking-sparse.js';
import { DETECTOR_NAMES } from '../../../src/masking/detectors.js';
import { MaskContext, Masker, type Finding } from '../../../src/masking/masker.js';
import { MaskingStream, type MaskingStreamOptions } from '../../../src/masking/stream.js';

const masker = new Masker({ detectors: [...DETECTOR_NAMES], style: 'redact', columns: [] });

interface Out {
  masked: string;
  findings: Finding[];
}

/** Pushes `text` as a first chunk of `first` characters, then chunks of `step`; returns what came out. */
function pieces(m: Masker, text: string, first: number, step: number, options: MaskingStreamOptions = {}): Out {
  const stream = new MaskingStream(m, options);
  const out: Out = { masked: '', findings: [] };
  const add = (chunk: { masked: string; findings: readonly Finding[] }): void => {
    out.masked += chunk.masked;
    out.findings.push(...chunk.findings);
  };
  add(stream.push(text.slice(0, first)));
  for (let at = first; at < text.length; at += step) add(stream.push(text.slice(at, at + step)));
  add(stream.end());
  return out;
}

const whole = (m: Masker, text: string): Out => ({ masked: m.maskText(text, new MaskContext()), findings: m.find(text) });

/** Log lines of about 60 characters with nothing to find, `bytes` of them. */
function filler(bytes: number, seed: number): string {
  const r = rng(seed);
  let out = '';
  while (out.length < bytes) out += `2026-11-29T10:00:00Z INFO request ok path=/api/orders/${Math.floor(r() * 1e4)}\n`;
  return out;
}

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
const JWT = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: 'user-1234567890', name: 'Ana Silva', scope: 'orders:read orders:write '.repeat(8), iat: 1764410000 })}.${'Qm9vZ2xlZm9vYmFyYmF6cXV4'.repeat(2)}`;
const PEM = `-----BEGIN PRIVATE KEY-----\n${'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7q8Zr4Lk2Vx9T\n'.repeat(4)}-----END PRIVATE KEY-----`;

/** A token in the line(s) it is written in, and what masking it whole finds there. */
const SAMPLES: readonly { readonly name: string; readonly text: string; readonly types: readonly string[]; readonly window: number }[] = [
  { name: 'a card', text: 'INFO charge card=4111 1111 1111 1111 amount=12.50 currency=EUR', types: ['CREDIT_CARD'], window: 64 },
  { name: 'an email', text: 'WARN user ana.silva42@example.com failed login', types: ['EMAIL'], window: 64 },
  { name: 'a phone number', text: 'INFO call back +1 (415) 555-2671 today', types: ['PHONE'], window: 64 },
  { name: 'a password= value', text: 'DEBUG config db_password=hunter2-prod region=eu', types: ['PASSWORD'], window: 64 },
  // A YAML block value is on the line after its key: the key reaches the next text as left context.
  { name: 'a YAML block password', text: 'config:\n  password: |\n    s3cr3t-Value-42\n  region: eu', types: ['PASSWORD'], window: 64 },
  { name: 'a JWT', text: `ERROR upstream Authorization: Bearer ${JWT} rejected`, types: ['JWT'], window: 1024 },
  { name: 'a PEM block', text: `DEBUG key loaded\n${PEM}\nafter`, types: ['PRIVATE_KEY'], window: 1024 },
  // The value takes the line breaks after its END line: a cut right after the first must not end it there.
  { name: "a key file's private_key with real line breaks", text: `private_key=${PEM}\n\nnext=1`, types: ['GCP_SA_KEY'], window: 1024 },
  // A dotted quad in a user-agent field is a version: the field opens more than 256 characters before it,
  // so the line is scanned whole, never from the middle.
  { name: 'nothing in a long user-agent field', text: `{"ts":"2026-11-29T10:00:00Z","user_agent":"Mozilla/5.0 (X11; Linux x86_64) ${'Ext/2 '.repeat(60)}(build 10.2.3.4) Safari/537.36","status":200}`, types: [], window: 1024 },
];

describe('MaskingStream', () => {
  for (const sample of SAMPLES) {
    it(`finds ${sample.name} split at any point around the line cuts`, () => {
      const before = filler(2 * sample.window + 600, 1);
      const text = `${before}${sample.text}\n${filler(600, 2)}`;
      const expected = whole(masker, text);
      expect(expected.findings.map((f) => f.type)).toEqual(sample.types);
      const options = { window: sample.window, pemHold: 4096 };
      for (let split = before.length - 100; split <= before.length + sample.text.length + 100; split++) {
        // The first chunk ends at `split` and is scanned at once: cut at a line start near the token.
        expect(pieces(masker, text, split, text.length, options)).toEqual(expected);
        // Then small chunks: cut again and again while the token's lines arrive.
        expect(pieces(masker, text, split, 7, options)).toEqual(expected);
      }
    });
  }

  it('finds CSV values under a header split at any point around the line cuts', () => {
    const r = rng(3);
    const rows = Array.from({ length: 120 }, (_, i) => `${i},user${i},pw-${Math.floor(r() * 1e9).toString(36)},${i % 9 === 0 ? '"two\nlines"' : `note ${i}`}`);
    const text = `id,login,password,note\n${rows.join('\n')}\n`;
    const expected = whole(masker, text);
    expect(expected.findings.filter((f) => f.type === 'PASSWORD')).toHaveLength(120);
    const middle = text.indexOf('\n60,');
    for (let split = middle - 150; split <= middle + 150; split++) {
      expect(pieces(masker, text, split, text.length, { window: 64 })).toEqual(expected);
      expect(pieces(masker, text, split, 7, { window: 64 })).toEqual(expected);
    }
  });

  it('holds back only the last line (and LINE_MARGIN characters) when lines are shorter than the window', () => {
    const text = filler(40_000, 4);
    const stream = new MaskingStream(masker);
    const out = stream.push(`${text}a partial line`);
    // Everything up to the last line break at least 64 characters from the end goes out at once.
    const cut = text.lastIndexOf('\n', text.length + 'a partial line'.length - 65) + 1;
    expect(out.masked).toBe(text.slice(0, cut));
    expect(stream.end().masked).toBe(`${text.slice(cut)}a partial line`);
  });

  it('is never taken for CSV after its first text, though a later line looks like a header', () => {
    // The header-like line is exactly the left context of the text scanned after the cut before the record.
    const header = `note_a,${'a,'.repeat(120)}password`;
    expect(header).toHaveLength(255);
    const record = `${'n'.repeat(60)},${'1,'.repeat(120)}hunter2-${'z'.repeat(40)}`;
    const text = `${filler(20_000, 5)}${header}\n${record}\n${filler(20_000, 6)}`;
    expect(whole(masker, text).findings).toEqual([]);
    const first = text.indexOf(record) + 100;
    expect(pieces(masker, text, first, text.length)).toEqual(whole(masker, text));
  });

  // The reference is masking the whole text at once; the generated logs are one entry a line, as a log
  // file is. A sparse log is kept under 256 KB with every detector on: past PHONE_CHECKS_PER_STRING
  // checks in one string, masking a whole text marks phone-shaped runs unchecked, so a longer text masked
  // whole would find more than its pieces do; longer ones are compared without PHONE.
  const noPhone = new Masker({ detectors: DETECTOR_NAMES.filter((d) => d !== 'PHONE'), style: 'redact', columns: [] });
  const r = rng(9);
  const mixed = Array.from({ length: 60 }, () => 1 + Math.floor(r() * 9000));
  const logs = [
    { name: 'the dense mixed log (1 MiB)', m: masker, text: asFile(denseLog(1)) },
    { name: 'a sparse request log (128 KiB)', m: masker, text: asFile(sparseLog(0.125)) },
    { name: 'a sparse request log without PHONE (1 MiB)', m: noPhone, text: asFile(sparseLog(1)) },
  ];
  for (const log of logs) {
    it(`gives the findings of masking ${log.name} whole, in chunks of 1,000, 4,099, 65,543 and mixed sizes`, () => {
      const expected = whole(log.m, log.text);
      expect(expected.findings.length).toBeGreaterThan(10);
      for (const size of [1000, 4099, 65_543]) expect(pieces(log.m, log.text, size, size)).toEqual(expected);
      const stream = new MaskingStream(log.m);
      const out: Out = { masked: '', findings: [] };
      for (let at = 0, k = 0; at < log.text.length; k++) {
        const size = mixed[k % mixed.length] ?? 1;
        const chunk = stream.push(log.text.slice(at, at + size));
        out.masked += chunk.masked;
        out.findings.push(...chunk.findings);
        at += size;
      }
      const last = stream.end();
      expect({ masked: out.masked + last.masked, findings: [...out.findings, ...last.findings] }).toEqual(expected);
    });
  }
});
