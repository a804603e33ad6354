/**
 * Canonical JSON for hashing: object keys sorted by UTF-16 code units, no whitespace, values that JSON
 * drops (undefined, functions, symbols) dropped the same way. A record hashes the same before and after a
 * JSON round trip, and after any tool re-serialises it with its keys in another order.
 */
export function canonicalJson(value: unknown): string {
  return canonicalWith(value, undefined, undefined, 0);
}

/** Canonical JSON of `value` with its top-level `key` replaced by `replacement` (added if absent). */
export function canonicalJsonWith(value: object, key: string, replacement: unknown): string {
  return canonicalWith(value, key, replacement, 0);
}

/**
 * Deeper than this, canonical JSON refuses with a TypeError instead of overflowing the stack. Inputs are
 * cut far above it (MAX_JSON_DEPTH), so only a value that escaped those bounds gets here.
 */
const MAX_CANONICAL_DEPTH = 512;

function skipped(item: unknown): boolean {
  return item === undefined || typeof item === 'function' || typeof item === 'symbol';
}

function canonicalWith(value: unknown, overrideKey: string | undefined, override: unknown, depth: number): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      // Same text as JSON.stringify: -0 → 0, non-finite → null.
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      if (value === null) return 'null';
      break;
    case 'bigint':
      throw new TypeError('canonicalJson: a BigInt has no JSON form');
    default:
      return 'null';
  }
  if (depth >= MAX_CANONICAL_DEPTH) throw new TypeError(`canonicalJson: nested deeper than ${MAX_CANONICAL_DEPTH} levels`);
  // Frozen values cannot change: their text is kept (the SQL facts of a repeated statement are shared).
  const frozen = overrideKey === undefined && Object.isFrozen(value);
  if (frozen) {
    const known = frozenText.get(value);
    if (known !== undefined) return known;
    const text = canonicalOf(value, undefined, undefined, depth);
    frozenText.set(value, text);
    return text;
  }
  return canonicalOf(value, overrideKey, override, depth);
}

const frozenText = new WeakMap<object, string>();

/**
 * The JSON text of object keys seen before, as they follow another member: `,"key":`. Records repeat the same
 * few dozen keys, and quoting them was a fifth of the cost of canonicalising a record; with the comma and the
 * colon in the same text, a member costs two string concatenations instead of four (the first member of an
 * object drops the comma). Bounded (keys also come from agents' input): short keys, a fixed count.
 */
const keyTexts = new Map<string, string>();

function keyText(key: string): string {
  let text = keyTexts.get(key);
  if (text === undefined) {
    text = `,${JSON.stringify(key)}:`;
    if (key.length <= 64 && keyTexts.size < 4096) keyTexts.set(key, text);
  }
  return text;
}

/** Up to this many keys are sorted in place by insertion; larger objects use `Array.prototype.sort`. */
const INSERTION_SORT_MAX = 32;

/**
 * Sorts object keys by UTF-16 code units, as `keys.sort()` does (keys are distinct, so the order is the same).
 * Records are objects of a few to a few dozen keys, mostly built in order already: insertion sort is a pass over
 * them, where the built-in sort copies every array into a work array first (a tenth of the bytes a call allocated).
 */
function sortKeys(keys: string[]): void {
  const n = keys.length;
  if (n > INSERTION_SORT_MAX) {
    keys.sort();
    return;
  }
  for (let i = 1; i < n; i++) {
    const key = keys[i] as string;
    let j = i - 1;
    if (!((keys[j] as string) > key)) continue;
    do {
      keys[j + 1] = keys[j] as string;
      j--;
    } while (j >= 0 && (keys[j] as string) > key);
    keys[j + 1] = key;
  }
}

function canonicalOf(value: object, overrideKey: string | undefined, override: unknown, depth: number): string {
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      const item: unknown = value[i];
      out += skipped(item) ? 'null' : canonicalWith(item, undefined, undefined, depth + 1);
    }
    return `${out}]`;
  }
  const toJson = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJson === 'function') return canonicalWith((toJson as () => unknown).call(value), undefined, undefined, depth + 1);
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  if (overrideKey !== undefined && !Object.hasOwn(record, overrideKey)) keys.push(overrideKey);
  sortKeys(keys);
  let out = '{';
  let first = true;
  for (const key of keys) {
    const item = key === overrideKey ? override : record[key];
    if (skipped(item)) continue;
    out += first ? keyText(key).slice(1) : keyText(key);
    first = false;
    out += canonicalWith(item, undefined, undefined, depth + 1);
  }
  return `${out}}`;
}

/**
 * `canonicalJsonWith(value, key, replacement)` in three parts: the text before the top-level `key`'s value, that
 * value's text, and the text after it. The audit chain hashes the whole and stores the record with its hash
 * written into that value, so a verifier can hash the stored bytes without canonicalising them again.
 */
export function canonicalJsonAround(value: object, key: string, replacement: unknown): readonly [string, string, string] {
  if (Array.isArray(value) || typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    throw new TypeError('canonicalJsonAround: the value must be a plain object');
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  if (!Object.hasOwn(record, key)) keys.push(key);
  sortKeys(keys);
  let out = '{';
  let first = true;
  let before = '';
  let middle = '';
  for (const k of keys) {
    const item = k === key ? replacement : record[k];
    if (skipped(item)) continue;
    out += first ? keyText(k).slice(1) : keyText(k);
    first = false;
    if (k === key) {
      before = out;
      middle = canonicalWith(item, undefined, undefined, 1);
      out = '';
    } else {
      out += canonicalWith(item, undefined, undefined, 1);
    }
  }
  if (middle === '') throw new TypeError(`canonicalJsonAround: the replacement for "${key}" has no JSON form`);
  return [before, middle, `${out}}`];
}
