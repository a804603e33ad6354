/**
 * The SHA-256, UTF-8 size and first characters of `JSON.stringify(value)`, computed without building that
 * text whole. A read_bucket response holds its masked content twice (text and structuredContent): one JSON
 * string of it and its UTF-8 copy cost four times the content at the peak of every large call.
 */
import { createHash } from 'node:crypto';

/** What the audit keeps of a response's JSON text. */
export interface JsonDigest {
  readonly sha256: string;
  readonly bytes: number;
  /** The first `headChars` characters of the JSON text (all of it when shorter). */
  readonly head: string;
  /** Characters of the whole JSON text. */
  readonly chars: number;
}

/** Containers are walked to this depth; below it each value is serialized whole (a row, a log entry). */
const WALK_DEPTH = 3;
/** Small pieces are gathered up to this many characters before they are hashed. */
const FLUSH_CHARS = 64 * 1024;

/** Digest of `JSON.stringify(value)` for JSON data (plain objects, arrays, primitives), piece by piece. */
export function jsonDigest(value: unknown, headChars: number): JsonDigest {
  const hash = createHash('sha256');
  let bytes = 0;
  let chars = 0;
  let head = '';
  let pending = '';
  const flush = (): void => {
    if (pending === '') return;
    hash.update(pending, 'utf8');
    bytes += Buffer.byteLength(pending, 'utf8');
    pending = '';
  };
  const emit = (piece: string): void => {
    if (head.length < headChars) head += piece.slice(0, headChars - head.length);
    chars += piece.length;
    if (piece.length >= FLUSH_CHARS) {
      flush();
      hash.update(piece, 'utf8');
      bytes += Buffer.byteLength(piece, 'utf8');
      return;
    }
    pending += piece;
    if (pending.length >= FLUSH_CHARS) flush();
  };
  const walk = (v: unknown, depth: number): void => {
    if (depth >= WALK_DEPTH || v === null || typeof v !== 'object' || !plain(v)) {
      // JSON.stringify's own answer; `undefined` only where walk() is never called with it (see below).
      emit(JSON.stringify(v));
      return;
    }
    if (Array.isArray(v)) {
      emit('[');
      (v as unknown[]).forEach((item, i) => {
        if (i > 0) emit(',');
        if (skipped(item)) emit('null');
        else walk(item, depth + 1);
      });
      emit(']');
      return;
    }
    emit('{');
    let first = true;
    for (const key of Object.keys(v)) {
      const item = (v as Record<string, unknown>)[key];
      if (skipped(item)) continue;
      emit(first ? `${JSON.stringify(key)}:` : `,${JSON.stringify(key)}:`);
      first = false;
      walk(item, depth + 1);
    }
    emit('}');
  };
  if (skipped(value)) throw new TypeError('jsonDigest: the value has no JSON text');
  walk(value, 0);
  flush();
  return { sha256: hash.digest('hex'), bytes, head: detached(head), chars };
}

/** Values JSON.stringify leaves out of objects (and writes as null in arrays). */
function skipped(v: unknown): boolean {
  return v === undefined || typeof v === 'function' || typeof v === 'symbol';
}

/** Plain data whose JSON text is its keys' and items': anything else (toJSON, boxed values) is serialized whole. */
function plain(v: object): boolean {
  if (typeof (v as { toJSON?: unknown }).toJSON === 'function') return false;
  if (Array.isArray(v)) return true;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Bytes of the buffer the UTF-8 of a response is written into for its hash, reused by every call. */
const SCRATCH_BYTES = 512 * 1024;
let scratch: Buffer | undefined;

/**
 * `JSON.stringify(value)` and its digest: one encoding that is hashed for the audit and sent to the agent as
 * it is. Only the text is kept: its UTF-8 is written once into a buffer every call reuses (encoding and hashing
 * are synchronous), and that gives both the hash and the byte count, where hashing the string and then
 * measuring it walked the text twice and allocated a copy of its bytes per call. A text too large for that
 * buffer is hashed as a string, so nothing large outlives the call.
 *
 * A text longer than `keepUtf8From` characters (and within the buffer's reach) is encoded into bytes of its
 * own instead, returned as `utf8`: a transport that writes those bytes sends the response without encoding
 * it a second time (a 1,000-row response is ~130 K characters: ~0.17 ms per encoding).
 */
export function encodeJson(value: unknown, headChars: number, keepUtf8From = Number.POSITIVE_INFINITY): { readonly text: string; readonly utf8?: Buffer; readonly digest: JsonDigest } {
  const text = JSON.stringify(value) as string | undefined;
  if (text === undefined) throw new TypeError('encodeJson: the value has no JSON text');
  let sha256: string;
  let bytes: number;
  if (text.length > keepUtf8From && text.length <= SCRATCH_BYTES / 3) {
    const utf8 = Buffer.from(text, 'utf8');
    sha256 = createHash('sha256').update(utf8).digest('hex');
    return { text, utf8, digest: { sha256, bytes: utf8.length, head: detached(text.slice(0, headChars)), chars: text.length } };
  }
  // At most three bytes per UTF-16 unit: a text that cannot overflow the buffer is written without measuring it.
  if (text.length <= SCRATCH_BYTES / 3) {
    scratch ??= Buffer.allocUnsafe(SCRATCH_BYTES);
    bytes = scratch.write(text, 0, 'utf8');
    sha256 = createHash('sha256').update(scratch.subarray(0, bytes)).digest('hex');
  } else {
    sha256 = createHash('sha256').update(text, 'utf8').digest('hex');
    bytes = Buffer.byteLength(text, 'utf8');
  }
  return { text, digest: { sha256, bytes, head: detached(text.slice(0, headChars)), chars: text.length } };
}

/** A character outside Latin-1: such a text has no one-byte form. */
const WIDE = /[\u0100-\uffff]/;

/**
 * A string of its own. V8 keeps a long `slice` (or a `+=` of slices) as a view of the string it came from, so a
 * head kept in an audit record would keep the whole response text alive as long as the record is in memory.
 * Latin-1 text (JSON of most results) is copied through its bytes: one new string, where JSON's round trip
 * made three (its quoted form, that form flattened, the parsed copy) on every large call. Other text takes
 * JSON's round trip, which copies it exactly (lone surrogates too).
 */
function detached(s: string): string {
  if (s.length < 13) return s;
  if (!WIDE.test(s)) return Buffer.from(s, 'latin1').toString('latin1');
  return JSON.parse(JSON.stringify(s)) as string;
}
