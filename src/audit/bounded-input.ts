import { createHash } from 'node:crypto';

/** How much of a call's arguments the audit keeps verbatim. */
export interface AuditInputLimits {
  /** A string (value or key) longer than this, in UTF-8 bytes, is kept as its sha256 and a prefix. */
  readonly maxValueBytes: number;
  /** Arguments whose JSON (after cutting long strings) is larger than this are kept as sha256 and a prefix. */
  readonly maxInputBytes: number;
  /** Bytes of JSON kept as the prefix when the whole arguments are summarised (default: maxInputBytes). */
  readonly prefixBytes?: number;
}

export const DEFAULT_AUDIT_INPUT_LIMITS: AuditInputLimits = Object.freeze({ maxValueBytes: 8 * 1024, maxInputBytes: 256 * 1024 });

/**
 * What stands in the audit for a value too large to keep: its digest and size describe the whole value,
 * `prefix` is its beginning (a string's text; for whole arguments, their JSON text).
 */
export interface TruncatedValue {
  readonly $truncated: true;
  readonly sha256: string;
  readonly bytes: number;
  readonly prefix: string;
}

/** Deeper structures are summarised whole (their depth alone makes them hostile, and walking them costs stack). */
const MAX_DEPTH = 64;

/**
 * The arguments as the audit keeps them: unchanged when small, otherwise with every oversized string
 * replaced by a `TruncatedValue`, and the whole replaced by one when it is still too large. Keys are kept
 * as own properties (`__proto__` included). The call itself runs on the full arguments.
 */
export function boundedInput(value: unknown, limits: AuditInputLimits = DEFAULT_AUDIT_INPUT_LIMITS): unknown {
  const size = { bound: 0 };
  const cut = cutStrings(value, limits.maxValueBytes, 0, size);
  const prefix = limits.prefixBytes ?? limits.maxInputBytes;
  if (cut === TOO_DEEP) return truncated(safeJson(value), prefix);
  // Most arguments are small: the walk's upper bound of their JSON size decides without serialising them.
  if (size.bound <= limits.maxInputBytes) return cut;
  const json = safeJson(cut);
  if (Buffer.byteLength(json, 'utf8') <= limits.maxInputBytes) return cut;
  return truncated(safeJson(value), prefix);
}

const TOO_DEEP = Symbol('too deep');

/**
 * At most this many UTF-8 bytes of JSON per UTF-16 unit of a string: an escape (`\u001f`) is 6 characters, and
 * no unescaped unit takes more than 3 bytes.
 */
const JSON_BYTES_PER_UNIT = 6;
/** More than any number, `true`, `false` or `null` takes as JSON. */
const SCALAR_BOUND = 32;

/** A truncated value's JSON: its fixed fields (digest, size) and its prefix of at most `max` bytes. */
const truncatedBound = (max: number): number => 160 + max * JSON_BYTES_PER_UNIT;

function cutStrings(value: unknown, max: number, depth: number, size: { bound: number }): unknown {
  if (typeof value === 'string') {
    if (value.length * 3 <= max || Buffer.byteLength(value, 'utf8') <= max) {
      size.bound += 2 + value.length * JSON_BYTES_PER_UNIT;
      return value;
    }
    size.bound += truncatedBound(max);
    return truncated(value, max);
  }
  if (value === null || typeof value !== 'object') {
    size.bound += SCALAR_BOUND;
    return value;
  }
  if (depth >= MAX_DEPTH) return TOO_DEEP;
  size.bound += 2;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const next = cutStrings(item, max, depth + 1, size);
      size.bound += 1;
      if (next === TOO_DEEP) return TOO_DEEP;
      if (next !== item) (out ??= value.slice(0, i)).push(next);
      else out?.push(item);
    }
    return out ?? value;
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  let out: Record<string, unknown> | undefined;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    const item = record[key];
    const next = cutStrings(item, max, depth + 1, size);
    if (next === TOO_DEEP) return TOO_DEEP;
    const longKey = key.length * 3 > max && Buffer.byteLength(key, 'utf8') > max;
    size.bound += 4 + (longKey ? 400 + Math.min(max, 256) * JSON_BYTES_PER_UNIT : key.length * JSON_BYTES_PER_UNIT);
    const newKey = longKey ? `${utf8Prefix(key, Math.min(max, 256))}…[sha256:${sha256(key)}]` : key;
    if (out === undefined && (next !== item || longKey)) {
      out = {};
      for (let j = 0; j < i; j++) setOwn(out, keys[j] as string, record[keys[j] as string]);
    }
    if (out !== undefined) setOwn(out, newKey, next);
  }
  return out ?? value;
}

function truncated(text: string, max: number): TruncatedValue {
  return { $truncated: true, sha256: sha256(text), bytes: Buffer.byteLength(text, 'utf8'), prefix: utf8Prefix(text, max) };
}

/** The longest prefix of `text` within `max` UTF-8 bytes that does not split a surrogate pair. */
function utf8Prefix(text: string, max: number): string {
  // At most `max` characters fit; find the longest slice of them that fits in bytes.
  let lo = 0;
  let hi = Math.min(text.length, max);
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (Buffer.byteLength(text.slice(0, mid), 'utf8') <= max) lo = mid;
    else hi = mid - 1;
  }
  const code = text.charCodeAt(lo - 1);
  return text.slice(0, lo > 0 && code >= 0xd800 && code <= 0xdbff ? lo - 1 : lo);
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** JSON of hostile input: what cannot be serialised (too deep for the engine, cyclic) is described instead. */
function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? 'null';
  } catch (error) {
    return `(not serialisable: ${error instanceof Error ? error.message : String(error)})`;
  }
}

/** Defined, not assigned: a "__proto__" key stays an own property. */
function setOwn(out: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
}
