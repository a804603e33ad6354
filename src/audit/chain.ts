import { createHash } from 'node:crypto';
import { canonicalJsonAround, canonicalJsonWith } from './canonical.js';
import type { AuditRecord } from './record.js';

/** The `prev` of the first record of a store. */
export const GENESIS = '0'.repeat(64);

/** Where a record sits in the store's hash chain. */
export interface ChainLink {
  /** 1 for the first record of the store, then +1 per record, across segments. */
  readonly seq: number;
  /** `hash` of the record before (GENESIS for the first). */
  readonly prev: string;
  /** SHA-256 over the canonical JSON of the record with `chain` = `{ seq, prev }`. */
  readonly hash: string;
}

export type ChainedRecord = AuditRecord & { readonly chain: ChainLink };

/** The hash a record must carry at position `seq` after `prev`. */
export function recordHash(record: AuditRecord, seq: number, prev: string): string {
  return createHash('sha256')
    .update(canonicalJsonWith(record, 'chain', { seq, prev }))
    .digest('hex');
}

/** Records never change once linked, so each is serialised once and reused on every rewrite. */
const stored = new WeakMap<object, string>();

/**
 * Links a record after `prev`. Its stored JSON (see `storedJson`) is the canonical text that was hashed with
 * `"hash":"…",` written at the start of the top-level `chain`: one serialisation serves the hash and the
 * store, and `hashOfStored` can check the stored line without canonicalising it again.
 */
export function link(record: AuditRecord, seq: number, prev: string): ChainedRecord {
  const [before, chainText, after] = canonicalJsonAround(record, 'chain', { seq, prev });
  const hash = createHash('sha256').update(before).update(chainText).update(after).digest('hex');
  const chained: ChainedRecord = { ...record, chain: { seq, prev, hash } };
  // chainText is `{"prev":"…","seq":N}`: "hash" sorts before both.
  stored.set(chained, `${before}{"hash":"${hash}",${chainText.slice(1)}${after}`);
  return chained;
}

/** The JSON a chained record is stored as: what `link` made, or (for a record read back) its JSON. */
export function storedJson(record: ChainedRecord): string {
  let text = stored.get(record);
  if (text === undefined) {
    text = JSON.stringify(record);
    stored.set(record, text);
  }
  return text;
}

/**
 * Notes the exact text a record was parsed from (a segment line, a journal entry's record), so that a rewrite
 * keeps its bytes and `storedLineMatches` can check them. `line` must be one JSON value that parses to `record`.
 */
export function rememberStoredJson(record: object, line: string): void {
  stored.set(record, line);
}

const HASH = /^[0-9a-f]{64}$/;
/** `"chain":{` */
const CHAIN_OPEN = 9;
/** `"hash":"` + 64 hex digits + `",` */
const HASH_MEMBER = 8 + 64 + 2;

/**
 * Checks a record against the hash it claims from the text it was read from, without canonicalising: true when
 * that text with `"hash":"<hash>",` cut from the first `"chain":{"hash":"<hash>",` hashes to `hash`. In valid
 * JSON that text can only be a real key "chain" whose object starts with that member (a quote inside a string
 * is escaped), and SHA-256 then proves the rest is, byte for byte, the canonical text that was hashed: the
 * record is the one that was linked. False means "not proven this way" (no text known, a store written before
 * this form, an edited record): the caller must then check with `recordHash`, which decides.
 */
export function storedLineMatches(record: ChainedRecord, hash: string): boolean {
  const line = stored.get(record);
  if (line === undefined || !HASH.test(hash)) return false;
  const at = line.indexOf(`"chain":{"hash":"${hash}",`);
  if (at < 0) return false;
  const cut = at + CHAIN_OPEN;
  return createHash('sha256').update(line.slice(0, cut)).update(line.slice(cut + HASH_MEMBER)).digest('hex') === hash;
}

/** `{"chain":{"hash":"` */
const LINE_HEAD = Buffer.from('{"chain":{"hash":"', 'latin1');
const PREV_AT = 82;
const PREV_MARK = Buffer.from('","prev":"', 'latin1');
const SEQ_MARK = Buffer.from('","seq":', 'latin1');
const BRACE = 0x7d;

/**
 * The chain link of the stored record in `bytes[start, end)` (one line of a segment, without its separator),
 * proven without parsing the record: when the line starts with its top-level `chain` (no key of this record
 * sorts before "chain") as `link` writes it, and the line with `"hash":"…",` cut out hashes to that hash, SHA-256
 * proves the line is the canonical text that was linked plus that member, so the `seq` and `prev` read from
 * their fixed places are the record's. Undefined means "not proven this way" (another layout, an older store,
 * an edited record): parse the line and check it with `storedLineMatches` and `recordHash`.
 */
export function provenLink(bytes: Buffer, start: number, end: number): ChainLink | undefined {
  const seqAt = PREV_AT + PREV_MARK.length + 64 + SEQ_MARK.length;
  if (end - start <= seqAt + 2) return undefined;
  if (bytes.compare(LINE_HEAD, 0, LINE_HEAD.length, start, start + LINE_HEAD.length) !== 0) return undefined;
  if (bytes.compare(PREV_MARK, 0, PREV_MARK.length, start + PREV_AT, start + PREV_AT + PREV_MARK.length) !== 0) return undefined;
  const prevAt = start + PREV_AT + PREV_MARK.length;
  if (bytes.compare(SEQ_MARK, 0, SEQ_MARK.length, prevAt + 64, prevAt + 64 + SEQ_MARK.length) !== 0) return undefined;
  const digitsAt = start + seqAt;
  const close = bytes.indexOf(BRACE, digitsAt);
  if (close < 0 || close >= end) return undefined;
  const hash = bytes.toString('latin1', start + LINE_HEAD.length, start + PREV_AT);
  const digest = createHash('sha256')
    .update(bytes.subarray(start, start + CHAIN_OPEN + 1))
    .update(bytes.subarray(start + CHAIN_OPEN + 1 + HASH_MEMBER, end))
    .digest('hex');
  if (digest !== hash) return undefined;
  // Proven canonical text: the digits are the seq as JSON wrote it.
  return { seq: Number(bytes.toString('latin1', digitsAt, close)), prev: bytes.toString('latin1', prevAt, prevAt + 64), hash };
}
