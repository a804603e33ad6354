import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GENESIS, provenLink, recordHash, rememberStoredJson, storedLineMatches, type ChainedRecord, type ChainLink } from './chain.js';
import { openCalls, readJournal } from './read.js';
import { readTombstones, TOMBSTONES_NAME, tombstoneSignatureValid, type Tombstone } from './retention.js';
import { JOURNAL_NAME, listSegmentsSync, parseSegment, segmentLines, type SegmentHead } from './segments.js';

/** One break in the store, located as precisely as the evidence allows. */
export interface VerifyProblem {
  /** Segment file name, or `journal.jsonl`. */
  readonly file: string;
  /** Position of the record in that file (0-based); absent for problems with the file itself. */
  readonly index?: number;
  readonly recordId?: string;
  readonly seq?: number;
  readonly kind: 'edited' | 'deleted' | 'inserted' | 'reordered' | 'segment-replaced' | 'segment-missing' | 'malformed' | 'tombstone';
  readonly message: string;
}

export interface VerifyReport {
  readonly ok: boolean;
  readonly segments: number;
  readonly records: number;
  /** Records removed by retention, vouched for by signed tombstones. */
  readonly removed: number;
  /** Public keys (base64 Ed25519) that signed the tombstones: compare them with your retention key's. */
  readonly tombstoneKeys: readonly string[];
  /** Calls started and not finished: running now, or interrupted (recovered on the next open). */
  readonly open: number;
  /** `chain.hash` of the last record: keep it elsewhere to anchor the chain. */
  readonly head: string;
  readonly problems: readonly VerifyProblem[];
}

export interface VerifyOptions {
  /** Called after each file with (files checked, files in total, records so far). */
  readonly onProgress?: (files: number, totalFiles: number, records: number) => void;
  /** Keep at most this many problems (default 20). */
  readonly maxProblems?: number;
  /** The retention key's public half (base64): tombstones signed by any other key are reported. */
  readonly trustedTombstoneKey?: string;
  /**
   * A head hash noted earlier (from a previous verify): it must still be in the chain. The whole hash or
   * a unique prefix of at least 16 hex digits, with or without `sha256:` (see `headPrefix`).
   */
  readonly anchor?: string;
}

/** A head as a user may give it, as the lower-case hex prefix to look for; undefined when it is not one. */
export function headPrefix(text: string): string | undefined {
  const hex = text.trim().toLowerCase().replace(/^sha256:/, '');
  return /^[0-9a-f]{16,64}$/.test(hex) ? hex : undefined;
}

/** A segment as verify reads it. */
interface SegmentRead {
  readonly name: string;
  readonly bytes: Buffer;
  readonly head: SegmentHead;
  readonly count: number;
}

/** One stored record: its link proven from its line's bytes, or the record parsed. */
type Stored =
  | { readonly link: ChainLink; readonly bytes: Buffer; readonly start: number; readonly end: number; readonly record?: undefined }
  | { readonly link?: undefined; readonly record: unknown };

/**
 * Every stored record, oldest first, one segment in memory at a time: segments in order, then the journal's
 * records not yet in a segment. A segment in the layout the store writes is read line by line, and a line whose
 * link `provenLink` proves is not parsed at all; any other file is parsed whole, with the same errors as every
 * other reader.
 */
function* storedRecords(dir: string, onFile: (file: SegmentRead) => void, onJournal: () => void): Generator<Stored> {
  let lastSeq = 0;
  for (const name of listSegmentsSync(dir)) {
    const bytes = readFileSync(join(dir, name));
    const items = linesOf(bytes);
    let head: SegmentHead;
    let stored: readonly Stored[];
    if (items !== undefined) ({ head, items: stored } = items);
    else {
      const data = parseSegment(name, bytes.toString('utf8'));
      head = data.head;
      stored = data.records.map((record) => ({ record }));
    }
    onFile({ name, bytes, head, count: stored.length });
    const last = stored.at(-1);
    const lastLinkSeq = last === undefined ? undefined : (last.link ?? (last.record as Partial<ChainedRecord> | null)?.chain)?.seq;
    lastSeq = typeof lastLinkSeq === 'number' ? lastLinkSeq : Math.max(lastSeq, head.firstSeq - 1);
    yield* stored;
  }
  onJournal();
  for (const entry of readJournal(dir).entries) {
    if ('end' in entry && entry.end.chain.seq > lastSeq) yield { record: entry.end };
  }
}

/** A segment's records read line by line; undefined when the file must be parsed whole. */
function linesOf(bytes: Buffer): { head: SegmentHead; items: Stored[] } | undefined {
  const split = segmentLines(bytes);
  if (split === undefined) return undefined;
  const items: Stored[] = [];
  const { bounds } = split;
  for (let i = 0; i < bounds.length; i += 2) {
    const start = bounds[i] as number;
    const end = bounds[i + 1] as number;
    const link = provenLink(bytes, start, end);
    if (link !== undefined) {
      items.push({ link, bytes, start, end });
      continue;
    }
    const line = bytes.toString('utf8', start, end);
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch {
      return undefined;
    }
    if (record !== null && typeof record === 'object') rememberStoredJson(record, line);
    items.push({ record });
  }
  return { head: split.head, items };
}

/**
 * The signed tombstones, or none and a problem when the file is there but not airlock's (altered, replaced, cut
 * short): that is a failed verification, not a store that cannot be read. Errors of I/O (a code from the
 * system) still throw: whether the store verifies is then unknown.
 */
function tombstonesOf(dir: string, add: (p: VerifyProblem) => number): readonly Tombstone[] {
  try {
    return readTombstones(dir).tombstones;
  } catch (error) {
    if (typeof (error as NodeJS.ErrnoException).code === 'string') throw error;
    add({ file: TOMBSTONES_NAME, kind: 'tombstone', message: `${TOMBSTONES_NAME} is not a tombstone file airlock wrote (${error instanceof Error ? error.message : String(error)}): it was altered or replaced` });
    return [];
  }
}

interface Gap {
  readonly problem: number;
  readonly from: number;
  readonly to: number;
}

/**
 * Checks a store end to end, one segment in memory at a time: every record's hash, every link (`seq` +1,
 * `prev` = hash before) across segments and the journal, and every segment head against the sealed file
 * before it. An edited record fails its own hash; a deleted, inserted or reordered one breaks the links
 * around it, and the report says which.
 */
export function verifyStore(dir: string, options: VerifyOptions = {}): VerifyReport {
  const max = options.maxProblems ?? 20;
  const problems: VerifyProblem[] = [];
  const add = (p: VerifyProblem): number => {
    if (problems.length < max) problems.push(p);
    return problems.length - 1;
  };
  const open = openCalls(dir).length;
  const segmentNames = listSegmentsSync(dir);
  const totalFiles = segmentNames.length + 1;
  let files = 0;
  let expectedSeq = 1;
  let prevHash = GENESIS;
  // Segments removed by retention: signed tombstones take their place in the chain.
  const tombstones = tombstonesOf(dir, add);
  let removed = 0;
  let lastRemoved: Tombstone['segments'][number] | undefined;
  for (const [i, t] of tombstones.entries()) {
    const where = { file: TOMBSTONES_NAME, index: i };
    if (!tombstoneSignatureValid(t)) add({ ...where, kind: 'tombstone', message: `${TOMBSTONES_NAME} entry ${i} has no valid signature: it was altered or forged` });
    else if (options.trustedTombstoneKey !== undefined && t.signature.publicKey !== options.trustedTombstoneKey) {
      add({ ...where, kind: 'tombstone', message: `${TOMBSTONES_NAME} entry ${i} is signed by key ${t.signature.publicKey}, not by the retention key` });
    }
    if (t.firstSeq !== expectedSeq || t.prevHash !== prevHash) {
      add({ ...where, kind: 'tombstone', message: `${TOMBSTONES_NAME} entry ${i} covers records ${t.firstSeq}–${t.lastSeq} but the chain is at ${expectedSeq}` });
    }
    removed += t.lastSeq - t.firstSeq + 1;
    expectedSeq = t.lastSeq + 1;
    prevHash = t.lastHash;
    lastRemoved = t.segments.at(-1);
  }
  let records = 0;
  const seen = new Set<number>();
  const anchor = options.anchor === undefined ? undefined : headPrefix(options.anchor);
  if (options.anchor !== undefined && anchor === undefined) {
    throw new TypeError(`--head: "${options.anchor}" is not a head: give the whole hash or at least its first 16 hex digits (with or without "sha256:")`);
  }
  // Every hash the given head could mean: one is found, none is a removal, several need more digits.
  const anchorMatches = new Set<string>();
  const gaps: Gap[] = [];
  let before: SegmentRead | undefined;
  let currentFile = JOURNAL_NAME;
  let indexInFile = 0;

  const checkHead = (file: SegmentRead): void => {
    const { head } = file;
    if (before === undefined) {
      if (head.previous === null) return;
      const vouched = lastRemoved !== undefined && lastRemoved.segment === head.previous.segment && lastRemoved.sha256 === head.previous.sha256 && lastRemoved.records === head.previous.records && head.previous.lastHash === prevHash;
      if (!vouched) add({ file: file.name, kind: 'segment-missing', message: `${file.name} follows ${head.previous.segment}, which is neither in the directory nor covered by a tombstone` });
      return;
    }
    if (head.previous === null || head.previous.segment !== before.name) {
      add({ file: file.name, kind: 'segment-missing', message: `${file.name} should follow ${head.previous?.segment ?? '(nothing)'}, but the segment before it is ${before.name}` });
      return;
    }
    const sha = createHash('sha256').update(before.bytes).digest('hex');
    if (sha !== head.previous.sha256) {
      add({ file: before.name, kind: 'segment-replaced', message: `${before.name} changed after it was sealed (SHA-256 ${sha.slice(0, 12)}…; the head of ${file.name} says ${head.previous.sha256.slice(0, 12)}…)` });
    }
    const { count } = before;
    if (count !== head.previous.records) {
      add({ file: before.name, kind: count < head.previous.records ? 'deleted' : 'inserted', message: `${before.name} holds ${count} records; it was sealed with ${head.previous.records}` });
    }
  };

  const onFile = (file: SegmentRead): void => {
    if (before !== undefined) options.onProgress?.(++files, totalFiles, records);
    checkHead(file);
    before = file;
    currentFile = file.name;
    indexInFile = 0;
  };

  const onJournal = (): void => {
    currentFile = JOURNAL_NAME;
    indexInFile = 0;
  };
  for (const item of storedRecords(dir, onFile, onJournal)) {
    const index = indexInFile++;
    records++;
    const file = currentFile;
    // A proven line is parsed only when a message needs its id.
    const idOf = (): string => {
      const record = item.link === undefined ? item.record : (JSON.parse(item.bytes.toString('utf8', item.start, item.end)) as unknown);
      return String((record as { id?: unknown } | null | undefined)?.id);
    };
    const chain = item.link ?? (item.record as Partial<ChainedRecord> | null | undefined)?.chain;
    if (chain === undefined || chain === null || typeof chain.seq !== 'number' || typeof chain.hash !== 'string' || typeof chain.prev !== 'string') {
      add({ file, index, recordId: idOf(), kind: 'malformed', message: `${file} record ${index} has no chain link` });
      continue;
    }
    const at = (): { file: string; index: number; recordId: string; seq: number } => ({ file, index, recordId: idOf(), seq: chain.seq });
    const label = (): string => `${file} record ${index} (id ${idOf()}, seq ${chain.seq})`;
    if (item.link === undefined && !storedLineMatches(item.record as ChainedRecord, chain.hash) && recordHash(item.record as ChainedRecord, chain.seq, chain.prev) !== chain.hash) {
      add({ ...at(), kind: 'edited', message: `${label()} was changed after it was written: its content does not match its hash` });
    }
    if (chain.seq > expectedSeq) {
      const n = chain.seq - expectedSeq;
      const problem = add({ ...at(), kind: 'deleted', message: `${label()}: ${n > 1 ? `records ${expectedSeq}–${chain.seq - 1} are` : `record ${expectedSeq} is`} missing before it` });
      gaps.push({ problem, from: expectedSeq, to: chain.seq });
    } else if (chain.seq < expectedSeq) {
      add(
        seen.has(chain.seq)
          ? { ...at(), kind: 'inserted', message: `${label()}: a second record claims seq ${chain.seq}` }
          : { ...at(), kind: 'reordered', message: `${label()}: expected seq ${expectedSeq}; this one belongs earlier` },
      );
    } else if (chain.prev !== prevHash) {
      add({ ...at(), kind: 'inserted', message: `${label()}: it does not link to the record before it` });
    }
    if (anchor !== undefined && chain.hash.startsWith(anchor)) anchorMatches.add(chain.hash);
    seen.add(chain.seq);
    expectedSeq = Math.max(expectedSeq, chain.seq + 1);
    prevHash = chain.hash;
  }
  options.onProgress?.(totalFiles, totalFiles, records);
  if (anchor !== undefined) for (const t of tombstones) if (t.lastHash.startsWith(anchor)) anchorMatches.add(t.lastHash);
  if (anchorMatches.size > 1) {
    throw new TypeError(`--head: "${String(options.anchor)}" is the start of ${anchorMatches.size} different hashes in this store: give more of its hex digits`);
  }
  if (anchor !== undefined && anchorMatches.size === 0) {
    add({ file: '(chain)', kind: 'deleted', message: `the anchored head ${String(options.anchor)} is not in the chain: records noted earlier were removed or rewritten` });
  }
  // A "gap" whose records all turned up later was a move, not a deletion.
  for (const gap of gaps) {
    const p = problems[gap.problem];
    if (p === undefined || p.kind !== 'deleted') continue;
    let moved = true;
    for (let s = gap.from; s < gap.to && moved; s++) moved = seen.has(s);
    if (moved) problems[gap.problem] = { ...p, kind: 'reordered', message: p.message.replace(/missing before it$/, 'not before it: they appear later') };
  }
  return { ok: problems.length === 0, segments: segmentNames.length, records, removed, tombstoneKeys: [...new Set(tombstones.map((t) => t.signature.publicKey))], open, head: prevHash, problems };
}
