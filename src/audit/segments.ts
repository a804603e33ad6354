import { readdirSync } from 'node:fs';
import type { ChainedRecord } from './chain.js';

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

/** Records never change once appended, so each is serialised once and reused on every rewrite. */
const serialized = new WeakMap<object, string>();

export function recordJson(record: ChainedRecord): string {
  let text = serialized.get(record);
  if (text === undefined) {
    text = JSON.stringify(record);
    serialized.set(record, text);
  }
  return text;
}

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

/** An audit file that cannot be read as airlock's: the store refuses to open rather than guess. */
export class AuditFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuditFormatError';
  }
}
