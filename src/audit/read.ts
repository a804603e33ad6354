import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { rememberStoredJson, type ChainedRecord } from './chain.js';
import type { StartedEntry } from './record.js';
import { AuditFormatError, JOURNAL_NAME, listSegmentsSync, readSegment, type SegmentFile } from './segments.js';

/** One line of the journal: a call about to run, or a finished call's chained record. */
export type JournalEntry = { readonly start: StartedEntry } | { readonly end: ChainedRecord };

export interface JournalContents {
  readonly entries: readonly JournalEntry[];
  /** Byte length of the whole lines; anything after it is a line cut short by a crash. */
  readonly wholeBytes: number;
  readonly totalBytes: number;
}

/** Reads the journal; a last line without its newline (a crash mid-write) is left out, never guessed at. */
export function readJournal(dir: string): JournalContents {
  let buffer: Buffer;
  try {
    buffer = readFileSync(join(dir, JOURNAL_NAME));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], wholeBytes: 0, totalBytes: 0 };
    throw error;
  }
  const end = buffer.lastIndexOf(0x0a) + 1;
  const text = buffer.subarray(0, end).toString('utf8');
  const entries: JournalEntry[] = [];
  let lineNo = 0;
  for (const line of text.split('\n')) {
    lineNo++;
    if (line === '') continue;
    let entry: unknown;
    try {
      entry = endEntry(line) ?? JSON.parse(line);
    } catch {
      throw new AuditFormatError(`${JOURNAL_NAME} line ${lineNo}: not valid JSON`);
    }
    if (entry === null || typeof entry !== 'object' || (!('start' in entry) && !('end' in entry))) {
      throw new AuditFormatError(`${JOURNAL_NAME} line ${lineNo}: not a journal entry`);
    }
    entries.push(entry as JournalEntry);
  }
  return { entries, wholeBytes: end, totalBytes: buffer.length };
}

/**
 * A journal line `{"end":RECORD}` read as RECORD's text alone, so that the record remembers the exact text
 * it was written as (see `rememberStoredJson`); undefined when the line is anything else.
 */
function endEntry(line: string): JournalEntry | undefined {
  if (!line.startsWith('{"end":') || !line.endsWith('}')) return undefined;
  const text = line.slice(7, -1);
  let record: unknown;
  try {
    record = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (record === null || typeof record !== 'object') return undefined;
  rememberStoredJson(record, text);
  return { end: record as ChainedRecord };
}

/** Every finished call's record, oldest first (segments, then the journal's tail). */
export function readRecords(dir: string): ChainedRecord[] {
  return [...iterateRecords(dir)];
}

/**
 * Every finished call's record, oldest first, one segment in memory at a time (for stores of any size):
 * segments in order, then the journal's records not yet in a segment. `onFile` sees each file as it is read.
 */
export function* iterateRecords(
  dir: string,
  onFile?: (file: { name: string; bytes: Buffer; data: SegmentFile }) => void,
  onJournal?: () => void,
): Generator<ChainedRecord> {
  let lastSeq = 0;
  for (const name of listSegmentsSync(dir)) {
    const bytes = readFileSync(join(dir, name));
    const data = readSegment(name, bytes.toString('utf8'));
    onFile?.({ name, bytes, data });
    lastSeq = data.records.at(-1)?.chain.seq ?? Math.max(lastSeq, data.head.firstSeq - 1);
    yield* data.records;
  }
  onJournal?.();
  for (const entry of readJournal(dir).entries) {
    if ('end' in entry && entry.end.chain.seq > lastSeq) yield entry.end;
  }
}

/** Calls the journal shows as started and not finished (running now, or cut off by a crash). */
export function openCalls(dir: string): StartedEntry[] {
  const open = new Map<string, StartedEntry>();
  for (const entry of readJournal(dir).entries) {
    if ('start' in entry) open.set(entry.start.id, entry.start);
    else open.delete(entry.end.id);
  }
  return [...open.values()];
}

/**
 * Finished records with `chain.seq > after`, oldest first, reading segments from the newest back only as
 * far as needed (cheap on a large store: `audit tail` and `--follow`). With `last`, only the newest N.
 */
export function recordsAfter(dir: string, after: number, last?: number): ChainedRecord[] {
  const names = listSegmentsSync(dir);
  const newestSegment = names.at(-1);
  let segmentLastSeq = 0;
  const chunks: ChainedRecord[][] = [];
  let count = 0;
  for (let i = names.length - 1; i >= 0; i--) {
    const name = names[i] as string;
    const data = readSegment(name, readFileSync(join(dir, name), 'utf8'));
    if (name === newestSegment) segmentLastSeq = data.records.at(-1)?.chain.seq ?? data.head.firstSeq - 1;
    const wanted = data.records.filter((r) => r.chain.seq > after);
    chunks.unshift(wanted);
    count += wanted.length;
    if (data.head.firstSeq <= after + 1 || (last !== undefined && count >= last)) break;
  }
  const journal: ChainedRecord[] = [];
  for (const entry of readJournal(dir).entries) {
    if ('end' in entry && entry.end.chain.seq > Math.max(after, segmentLastSeq)) journal.push(entry.end);
  }
  const all = [...chunks.flat(), ...journal];
  return last === undefined ? all : all.slice(-last);
}
