/**
 * An object's bytes turned into text for masking, as a stream: gunzipped on the way when the object is
 * gzip, read only up to a byte cap of decoded text (cut at a character boundary), stopped when it inflates
 * past a ratio cap (a compression bomb never reaches memory), and refused as binary when its first bytes
 * are not text. Nothing is buffered beyond the cap.
 */
import { pipeline, Readable, Transform, type TransformCallback } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip } from 'node:zlib';
import { CancelledError, ContentRejectedError } from '../errors.js';
import type { ContentFormat } from '../tool.js';

/** How an object's content is masked, or `binary` (metadata only). */
export type ObjectFormat = ContentFormat | 'binary';

const CSV_TYPES = new Set(['text/csv', 'text/tab-separated-values', 'application/csv']);
const JSON_TYPES = new Set(['application/json', 'text/json']);
const NDJSON_TYPES = new Set(['application/x-ndjson', 'application/ndjson', 'application/jsonl', 'application/x-jsonlines', 'application/jsonlines']);
const TEXT_APP_TYPES = new Set(['application/xml', 'application/yaml', 'application/x-yaml', 'application/javascript', 'application/sql', 'application/toml', 'application/x-sh']);
const BINARY_TYPE = /^(?:image|audio|video|font)\/|^application\/(?:pdf|zip|x-tar|x-7z-compressed|vnd\.|msword|x-protobuf|wasm)/;

const BY_EXTENSION: Readonly<Record<string, ContentFormat>> = {
  csv: 'csv',
  tsv: 'csv',
  json: 'json',
  ndjson: 'ndjson',
  jsonl: 'ndjson',
  txt: 'text',
  log: 'text',
  md: 'text',
  yaml: 'text',
  yml: 'text',
  xml: 'text',
  properties: 'text',
  env: 'text',
  ini: 'text',
  conf: 'text',
  cfg: 'text',
  toml: 'text',
  sql: 'text',
  html: 'text',
  htm: 'text',
  out: 'text',
  err: 'text',
};

/**
 * How an object's content is masked, from its name and `Content-Type`: a CSV, JSON (also `+json`) or NDJSON type wins,
 * then a binary type (images, PDF, archives), then the name's extension (for `.gz`, the name inside), then
 * any `text/*` type. Anything else (octet-stream, no type, no known extension) is binary.
 */
export function contentFormatOf(name: string, contentType: string | undefined): ObjectFormat {
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (CSV_TYPES.has(type)) return 'csv';
  if (JSON_TYPES.has(type)) return 'json';
  if (NDJSON_TYPES.has(type)) return 'ndjson';
  if (type.endsWith('+json')) return 'json';
  if (BINARY_TYPE.test(type)) return 'binary';
  const base = name.slice(name.lastIndexOf('/') + 1).toLowerCase();
  const inner = base.endsWith('.gz') ? base.slice(0, -3) : base;
  const dot = inner.lastIndexOf('.');
  const byName = dot < 0 ? undefined : BY_EXTENSION[inner.slice(dot + 1)];
  if (byName !== undefined) return byName;
  if (type.startsWith('text/') || TEXT_APP_TYPES.has(type) || type.endsWith('+xml')) return 'text';
  return 'binary';
}

export interface ReadObjectTextOptions {
  /** The bytes are gzip (`Content-Encoding: gzip` or a `.gz` object): gunzipped as they arrive. */
  readonly gzip: boolean;
  /** Most decoded bytes to turn into text; the rest is not read (`truncated`). */
  readonly maxBytes: number;
  /** Largest decoded/compressed ratio once 1 MiB is decoded (default 100); more is a compression bomb. */
  readonly maxRatio?: number;
  readonly signal: AbortSignal;
}

export interface ObjectText {
  /** The decoded text (empty when `binary`). */
  readonly text: string;
  /** Bytes read from the source (compressed bytes when gzip). */
  readonly bytesIn: number;
  /** Decoded bytes that `text` holds (a character cut at the cap is left out, so the next read starts here). */
  readonly bytesOut: number;
  /** The content goes on past `maxBytes`: it was not read further. */
  readonly truncated: boolean;
  /** The content is not text (NUL bytes, or mostly invalid UTF-8 or control characters): no text is given. */
  readonly binary: boolean;
}

/** Decoded bytes before the ratio cap applies: small files compress well and are no threat. */
const RATIO_GRACE = 1024 * 1024;
/** Bytes looked at to tell text from binary. */
const SNIFF_BYTES = 8 * 1024;

/**
 * Reads `source` into text (see the module comment). Rejects with ContentRejectedError (CONTENT_REJECTED)
 * for a compression bomb or corrupt gzip, with CancelledError when `signal` aborts; errors of the source
 * itself are passed on as they are. The source is destroyed whenever reading stops early.
 */
export async function readObjectText(source: AsyncIterable<Buffer> | Readable, options: ReadObjectTextOptions): Promise<ObjectText> {
  const { gzip, maxBytes, signal } = options;
  const maxRatio = options.maxRatio ?? 100;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new TypeError('readObjectText: maxBytes must be a non-negative integer');
  if (!(maxRatio > 0)) throw new TypeError('readObjectText: maxRatio must be a positive number');
  const input = source instanceof Readable ? source : Readable.from(source, { objectMode: false });
  if (signal.aborted) {
    input.destroy();
    throw new CancelledError({ detail: 'cancelled before the object was read' });
  }
  let bytesIn = 0;
  const counter = new Transform({
    transform(chunk: Buffer | string, _encoding: BufferEncoding, callback: TransformCallback) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      bytesIn += bytes.length;
      callback(null, bytes);
    },
  });
  const gunzip = gzip ? createGunzip() : undefined;
  // Errors reach the loop below through the last stream; the callback only keeps them from going unhandled.
  const out: Readable = gunzip === undefined ? pipeline(input, counter, () => undefined) : pipeline(input, counter, gunzip, () => undefined);
  const onAbort = (): void => {
    out.destroy(new CancelledError({ detail: 'cancelled while the object was read' }));
  };
  signal.addEventListener('abort', onAbort, { once: true });

  const decoder = new StringDecoder('utf8');
  const parts: string[] = [];
  const sniff = new Sniffer();
  let decoded = 0;
  let used = 0;
  let truncated = false;
  let binary = false;
  try {
    for await (const chunk of out as AsyncIterable<Buffer>) {
      if (chunk.length === 0) continue;
      decoded += chunk.length;
      // The engine's own count of compressed bytes it consumed (not the bytes handed to it: one 64 KiB chunk
      // of a bomb inflates to 64 MiB, and most of it would be read before the ratio looked high).
      if (gunzip !== undefined && decoded > RATIO_GRACE && decoded > maxRatio * Math.max(gunzip.bytesWritten, 1)) {
        throw new ContentRejectedError('too_compressed', { detail: `${decoded} bytes decoded from ${gunzip.bytesWritten} compressed bytes (cap ${maxRatio}:1)` });
      }
      if (used >= maxBytes) {
        truncated = true;
        break;
      }
      const take = chunk.length <= maxBytes - used ? chunk : chunk.subarray(0, maxBytes - used);
      if (!sniff.done) {
        sniff.add(take);
        if (sniff.done && sniff.binary) {
          binary = true;
          break;
        }
      }
      parts.push(decoder.write(take));
      sniff.tail(take);
      used += take.length;
      if (take !== chunk) {
        truncated = true;
        break;
      }
    }
    if (!binary && !sniff.done && sniff.finish()) binary = true;
  } catch (error) {
    if (signal.aborted) throw new CancelledError({ detail: 'cancelled while the object was read', cause: error });
    if (error instanceof ContentRejectedError) throw error;
    // zlib's own errors carry a Z_* code; a source's error passes through gunzip as it is.
    if (gunzip !== undefined && isZlibError(error)) throw new ContentRejectedError('corrupt', { detail: `gunzip: ${(error as Error).message}`, cause: error });
    throw error;
  } finally {
    signal.removeEventListener('abort', onAbort);
    // Stopping early (cap, binary, error): nothing more is read upstream.
    if (!input.destroyed) input.destroy();
    if (!out.destroyed) out.destroy();
  }
  if (binary) return { text: '', bytesIn, bytesOut: 0, truncated: false, binary: true };
  // A character cut at the cap is left out (its bytes stay for the next read); a complete read ends the
  // decoder, which shows a dangling partial character as U+FFFD.
  const pending = truncated ? sniff.pendingBytes() : 0;
  const text = parts.join('') + (truncated ? '' : decoder.end());
  return { text, bytesIn, bytesOut: used - pending, truncated, binary: false };
}

function isZlibError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('Z_');
}

/** Tells text from binary on the first SNIFF_BYTES, and keeps the last bytes read to find a cut character. */
class Sniffer {
  done = false;
  binary = false;
  private head: Buffer = Buffer.alloc(0);
  private last: Buffer = Buffer.alloc(0);

  add(bytes: Buffer): void {
    const room = SNIFF_BYTES - this.head.length;
    this.head = Buffer.concat([this.head, bytes.subarray(0, room)]);
    if (this.head.length >= SNIFF_BYTES) this.finish();
  }

  /** Decides on what was read (the content ended before SNIFF_BYTES); returns whether it is binary. */
  finish(): boolean {
    this.done = true;
    this.binary = looksBinary(this.head);
    return this.binary;
  }

  tail(bytes: Buffer): void {
    this.last = bytes.length >= 4 ? bytes.subarray(bytes.length - 4) : Buffer.concat([this.last, bytes]).subarray(-4);
  }

  /** Bytes at the end of what was read that start a character not finished yet (0 to 3). */
  pendingBytes(): number {
    const b = this.last;
    for (let back = 1; back <= Math.min(4, b.length); back++) {
      const byte = b[b.length - back] ?? 0;
      if ((byte & 0xc0) === 0x80) continue; // a continuation byte: look further back for its lead
      const need = byte >= 0xf0 && byte <= 0xf4 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc2 && byte < 0xe0 ? 2 : 1;
      return need > back ? back : 0;
    }
    return 0;
  }
}

/** NUL bytes, or more than one character in ten invalid UTF-8 or a control character other than whitespace. */
function looksBinary(head: Buffer): boolean {
  if (head.length === 0) return false;
  if (head.includes(0)) return true;
  // A character cut at the end of the sample is not invalid: it is left out of the count.
  const text = new StringDecoder('utf8').write(head);
  let bad = 0;
  let chars = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    chars++;
    if (c === 0xfffd || (c < 32 && c !== 9 && c !== 10 && c !== 13 && c !== 12 && c !== 27) || c === 127) bad++;
  }
  return bad * 10 > chars;
}
