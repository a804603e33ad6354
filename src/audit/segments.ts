import { readdirSync } from 'node:fs';
import { rememberStoredJson, storedJson, type ChainedRecord } from './chain.js';

/** What the head of a segment says about the one before it, so that segments are chained too. */
export interface SegmentHead {
  /** `chain.seq` of this segment's first record. */
  readonly firstSeq: number;
  /** The sealed segment before this one; null for the store's first segment. */
  readonly previous: {
    readonly segment: string;
    /** SHA-256 of that file's bytes as sealed. */
    readonly sha256: string;
    readonly records: number;
    /** `chain.hash` of its last record. */
    readonly lastHash: string;
  } | null;
}

/** One segment file: valid JSON, one record per line. */
export interface SegmentFile {
  readonly format: 'airlock-audit';
  readonly version: 2;
  readonly head: SegmentHead;
  records: ChainedRecord[];
}

export const SEGMENT_NAME = /^audit-(\d{8})-(\d{3,})\.json$/;
export const JOURNAL_NAME = 'journal.jsonl';
export const LOCK_NAME = 'audit.lock';

export function segmentName(day: string, seq: number): string {
  return `audit-${day}-${String(seq).padStart(3, '0')}.json`;
}

/** `YYYYMMDD` in UTC. */
export function dayOf(date: Date): string {
  return date.toISOString().slice(0, 10).replaceAll('-', '');
}

function order(a: string, b: string): number {
  const [, da = '', na = ''] = SEGMENT_NAME.exec(a) ?? [];
  const [, db = '', nb = ''] = SEGMENT_NAME.exec(b) ?? [];
  return da === db ? Number(na) - Number(nb) : da.localeCompare(db);
}

/** Segment files of a store, oldest first. */
export function listSegmentsSync(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => SEGMENT_NAME.test(n)).sort(order);
}

/** The JSON a record is stored as (see `storedJson`: the canonical text its hash was computed over). */
export const recordJson = storedJson;

/** Valid JSON with one record per line: greppable, diffable, cheap to rewrite. */
export function stringifySegment(data: SegmentFile): string {
  const head = `{"format":"airlock-audit","version":2,"head":${JSON.stringify(data.head)},"records":[`;
  return data.records.length === 0 ? `${head}]}\n` : `${head}\n${data.records.map(recordJson).join(',\n')}\n]}\n`;
}

/** Parses a segment's text; throws naming the file when it is not a version-2 airlock segment. */
export function parseSegment(name: string, text: string): SegmentFile {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new AuditFormatError(`${name}: not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  const file = data as Partial<SegmentFile> | null;
  if (file === null || typeof file !== 'object' || file.format !== 'airlock-audit' || !Array.isArray(file.records)) {
    throw new AuditFormatError(`${name}: not an airlock audit file`);
  }
  if (file.version !== 2 || typeof file.head !== 'object' || file.head === null) {
    throw new AuditFormatError(`${name}: audit format version ${String(file.version)} is not supported (expected 2, hash-chained); move older files out of the audit directory`);
  }
  return file as SegmentFile;
}

const PREFIX = '{"format":"airlock-audit","version":2,"head":';
const OPEN_RECORDS = ',"records":[';
const NO_RECORDS = ',"records":[]}';

/**
 * Reads a segment's text as `parseSegment` does, one record line at a time when the file has the layout
 * `stringifySegment` writes (each record then remembers the line it came from: see `rememberStoredJson`), and
 * as one JSON document otherwise (a file someone reformatted reads the same, only slower).
 */
export function readSegment(name: string, text: string): SegmentFile {
  return byLines(text) ?? parseSegment(name, text);
}

function byLines(text: string): SegmentFile | undefined {
  if (!text.startsWith(PREFIX)) return undefined;
  const lines = text.split('\n');
  const header = lines[0] as string;
  const empty = header.endsWith(NO_RECORDS);
  if (empty ? lines.length !== 2 : !header.endsWith(OPEN_RECORDS) || lines.length < 4 || lines.at(-2) !== ']}') return undefined;
  if (lines.at(-1) !== '') return undefined;
  try {
    const head: unknown = JSON.parse(header.slice(PREFIX.length, header.length - (empty ? NO_RECORDS : OPEN_RECORDS).length));
    if (head === null || typeof head !== 'object' || Array.isArray(head)) return undefined;
    const records: ChainedRecord[] = [];
    const last = lines.length - 3;
    for (let i = 1; i <= last; i++) {
      let line = lines[i] as string;
      if (i < last) {
        if (!line.endsWith(',')) return undefined;
        line = line.slice(0, -1);
      }
      const record = JSON.parse(line) as unknown;
      if (record !== null && typeof record === 'object') rememberStoredJson(record, line);
      records.push(record as ChainedRecord);
    }
    return { format: 'airlock-audit', version: 2, head: head as SegmentHead, records };
  } catch {
    return undefined;
  }
}

const PREFIX_BYTES = Buffer.from(PREFIX, 'latin1');
const TAIL = '\n]}\n';

/** A segment in the layout `stringifySegment` writes, split into record lines without parsing them. */
export interface SegmentLines {
  readonly head: SegmentHead;
  /** Start and end offsets of each record's JSON in the file's bytes, two numbers per record. */
  readonly bounds: readonly number[];
}

/**
 * Splits a segment's bytes into its record lines when the file has the layout `stringifySegment` writes;
 * undefined otherwise. The lines are not parsed: the file is the segment `parseSegment` would read only if
 * each of them is one JSON value, which the caller proves (by hash) or checks (by parsing).
 */
export function segmentLines(bytes: Buffer): SegmentLines | undefined {
  if (bytes.compare(PREFIX_BYTES, 0, PREFIX_BYTES.length, 0, Math.min(bytes.length, PREFIX_BYTES.length)) !== 0) return undefined;
  const firstBreak = bytes.indexOf(0x0a);
  if (firstBreak < 0) return undefined;
  const header = bytes.toString('utf8', 0, firstBreak);
  const empty = header.endsWith(NO_RECORDS);
  if (empty ? firstBreak !== bytes.length - 1 : !header.endsWith(OPEN_RECORDS)) return undefined;
  let head: unknown;
  try {
    head = JSON.parse(header.slice(PREFIX.length, header.length - (empty ? NO_RECORDS : OPEN_RECORDS).length));
  } catch {
    return undefined;
  }
  if (head === null || typeof head !== 'object' || Array.isArray(head)) return undefined;
  const bounds: number[] = [];
  if (empty) return { head: head as SegmentHead, bounds };
  const tailAt = bytes.length - TAIL.length;
  if (tailAt <= firstBreak || bytes.toString('latin1', tailAt) !== TAIL) return undefined;
  for (let start = firstBreak + 1; ; ) {
    const lineEnd = bytes.indexOf(0x0a, start);
    if (lineEnd === tailAt) {
      bounds.push(start, lineEnd);
      return { head: head as SegmentHead, bounds };
    }
    // Every record line but the last ends with the comma that separates it from the next.
    if (lineEnd < 0 || lineEnd > tailAt || bytes[lineEnd - 1] !== 0x2c) return undefined;
    bounds.push(start, lineEnd - 1);
    start = lineEnd + 1;
  }
}

/** An audit file that cannot be read as airlock's: the store refuses to open rather than guess. */
export class AuditFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuditFormatError';
  }
}
