import { createHash } from 'node:crypto';
import { constants, accessSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readdir, stat } from 'node:fs/promises';
import { Low } from 'lowdb';
import { DataFile } from 'lowdb/node';
import { GENESIS, link, type ChainedRecord } from './chain.js';
import { Journal, nodeJournalIo, type JournalIo } from './journal.js';
import { interruptedRecord } from './interrupted.js';
import { acquireLock } from './lock.js';
import { readJournal, readRecords } from './read.js';
import type { AuditRecord, AuditSink, StartedEntry } from './record.js';
import { dayOf, JOURNAL_NAME, listSegmentsSync, LOCK_NAME, readSegment, recordJson, SEGMENT_NAME, segmentName, segmentText, type SegmentHead } from './segments.js';


export interface JsonAuditStoreOptions {
  /** Seal a segment and start the next once it would exceed this many bytes (default 256 KiB: each move rewrites the current segment). */
  readonly segmentBytes?: number;
  /** How long finished records may wait in the journal before they are moved to a segment (default 1 s). */
  readonly flushIntervalMs?: number;
  /** Rewrite the journal down to what is not yet in a segment once it exceeds this (default 4 MiB). */
  readonly journalCompactBytes?: number;
  /** fsync every journal write: survives power loss, not only a crash of airlock (default false). */
  readonly fsync?: boolean;
  readonly now?: () => Date;
  /** File operations of the journal (tests inject failures here). */
  readonly io?: JournalIo;
  /** Background failures (moving records to segments, compaction); the records stay safe in the journal. */
  readonly onError?: (error: unknown) => void;
  /** Sees each record once it is durable (e.g. to copy it to Cloud Logging). Must not throw. */
  readonly onRecord?: (record: ChainedRecord) => void;
}

interface Pending {
  readonly entry: { readonly start: StartedEntry } | { readonly end: AuditRecord };
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * A finished record on its way to a segment, as the text it is stored as. Only the text is kept, not the record:
 * records wait here up to `flushIntervalMs` and the open segment holds them until it is sealed, and a record's
 * objects (input, facts, the response body) kept that long were copied by every young-generation GC and promoted.
 */
interface Moving {
  readonly text: string;
  readonly seq: number;
  readonly hash: string;
}

/** The open segment as it is written: its head and its records' stored lines. */
interface SegmentLines {
  readonly head: SegmentHead;
  readonly lines: string[];
}

interface Current {
  readonly name: string;
  readonly day: string;
  readonly seq: number;
  readonly db: Low<SegmentLines>;
  bytes: number;
  /** `chain.hash` of its last record, once it has one. */
  lastHash: string | undefined;
}

function moving(record: ChainedRecord): Moving {
  return { text: recordJson(record), seq: record.chain.seq, hash: record.chain.hash };
}

/** Write errors that mean "no room": on a full disk (ENOSPC), over a quota (EDQUOT) or a file-size limit (EFBIG). */
const SPACE_ERRORS = new Set(['ENOSPC', 'EDQUOT', 'EFBIG']);

/**
 * The JSON-file audit store. Every entry is first appended to a journal (`journal.jsonl`, one JSON line,
 * one write system call, grouped per turn of the event loop), which is what makes `start` and `append`
 * durable before the call runs and before its response is released. Finished records are hash-chained
 * as they are journalled and moved in the background, in order, into lowdb segments
 * (`audit-YYYYMMDD-NNN.json`, each replaced atomically, sealed by size or day, the next one's head
 * naming the SHA-256 of the sealed file). Opening the store takes a single-writer lock and recovers the
 * journal: records not yet in a segment are moved there, and calls that started but never finished
 * become `interrupted` records.
 */

export class JsonAuditStore implements AuditSink {
  readonly dir: string;
  private readonly segmentBytes: number;
  private readonly flushIntervalMs: number;
  private readonly journalCompactBytes: number;
  private readonly fsync: boolean;
  private readonly now: () => Date;
  private readonly onError: (error: unknown) => void;
  private readonly onRecord: ((record: ChainedRecord) => void) | undefined;
  private journal!: Journal;
  private releaseLock: () => void = () => undefined;
  private current: Current | undefined;
  /** Chain state of everything journalled. */
  private seq = 0;
  private lastHash = GENESIS;
  private pending: Pending[] = [];
  private scheduled = false;
  /** Journalled, chained, not yet in a segment. */
  private unflushed: Moving[] = [];
  /** Started calls without an outcome yet: the journal lines compaction must keep. */
  private readonly open = new Map<string, string>();
  private flushTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private closed = false;
  /**
   * Set when a journal write failed for lack of space (a full disk, a file-size limit): the next move to
   * segments compacts the journal whatever its size, so writes resume once what it holds is in segments.
   */
  private shortOfSpace = false;

  private constructor(dir: string, options: JsonAuditStoreOptions) {
    this.dir = dir;
    this.segmentBytes = options.segmentBytes ?? 256 * 1024;
    this.flushIntervalMs = options.flushIntervalMs ?? 1000;
    this.journalCompactBytes = options.journalCompactBytes ?? 4 * 1024 * 1024;
    this.fsync = options.fsync ?? false;
    this.now = options.now ?? (() => new Date());
    this.onError = options.onError ?? (() => undefined);
    this.onRecord = options.onRecord;
    if (!(this.segmentBytes >= 1024)) throw new TypeError('JsonAuditStore: segmentBytes must be at least 1024');
    if (!(this.flushIntervalMs >= 0)) throw new TypeError('JsonAuditStore: flushIntervalMs must be >= 0');
  }

  /**
   * Opens (or creates) the store in DIR: checks it is writable, takes the single-writer lock, and
   * recovers whatever a previous process left in the journal.
   */
  static async open(dir: string, options: JsonAuditStoreOptions = {}): Promise<JsonAuditStore> {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    accessSync(dir, constants.W_OK);
    const store = new JsonAuditStore(dir, options);
    store.releaseLock = acquireLock(join(dir, LOCK_NAME), store.now());
    try {
      await store.recover(options.io ?? nodeJournalIo);
    } catch (error) {
      store.releaseLock();
      throw error;
    }
    return store;
  }

  /** The journal and sealed segments, in bytes (a file removed meanwhile counts 0). */
  async sizeBytes(): Promise<number> {
    const names = (await readdir(this.dir)).filter((n) => n === JOURNAL_NAME || SEGMENT_NAME.test(n));
    const sizes = await Promise.all(names.map((n) => stat(join(this.dir, n)).then((s) => s.size, () => 0)));
    return sizes.reduce((a, b) => a + b, 0);
  }

  /** Where finished records go now. */
  get path(): string {
    return join(this.dir, this.current?.name ?? segmentName(dayOf(this.now()), 1));
  }

  private async recover(io: JournalIo): Promise<void> {
    // Only the newest segment matters here: the chain continues from its last record.
    const lastName = listSegmentsSync(this.dir).at(-1);
    if (lastName !== undefined) {
      const bytes = readFileSync(join(this.dir, lastName));
      const last = { name: lastName, bytes, file: readSegment(lastName, bytes.toString('utf8')) };
      const [, day = '', n = '1'] = SEGMENT_NAME.exec(last.name) ?? [];
      const db = this.segmentDb(last.name, { head: last.file.head, lines: last.file.records.map(recordJson) });
      const lastRecord = last.file.records.at(-1);
      this.current = { name: last.name, day, seq: Number(n), db, bytes: last.bytes.length, lastHash: lastRecord?.chain.hash };
      this.seq = lastRecord?.chain.seq ?? last.file.head.firstSeq - 1;
      this.lastHash = lastRecord?.chain.hash ?? last.file.head.previous?.lastHash ?? GENESIS;
    }
    const journal = readJournal(this.dir);
    this.journal = new Journal(join(this.dir, JOURNAL_NAME), io, this.fsync);
    // A line cut short by a crash was never acknowledged: drop it so the journal is whole lines again.
    if (journal.wholeBytes < journal.totalBytes) this.journal.truncate(journal.wholeBytes);
    const started = new Map<string, StartedEntry>();
    let lineNo = 0;
    for (const entry of journal.entries) {
      lineNo++;
      if ('start' in entry) {
        started.set(entry.start.id, entry.start);
        continue;
      }
      started.delete(entry.end.id);
      const { chain } = entry.end;
      if (chain.seq <= this.seq) continue;
      const expected = link(entry.end, this.seq + 1, this.lastHash);
      if (chain.seq !== this.seq + 1 || chain.prev !== this.lastHash || chain.hash !== expected.chain.hash) {
        throw new AuditRecoveryError(`${JOURNAL_NAME} entry ${lineNo} (record ${entry.end.id}, seq ${chain.seq}) does not continue the chain at seq ${this.seq}; run \`airlock audit verify\``);
      }
      this.unflushed.push(moving(entry.end));
      this.seq = chain.seq;
      this.lastHash = chain.hash;
    }
    if (started.size > 0) {
      const at = this.now();
      const lines = [...started.values()].map((entry) => this.chainLine(interruptedRecord(entry, at)));
      this.journal.write(lines.map((l) => l.line).join(''));
      for (const l of lines) this.commitEnd(l.record);
    }
    await this.flushSegments(true);
    this.compactJournal(true);
  }

  start(entry: StartedEntry): Promise<void> {
    return this.enqueue({ start: entry });
  }

  append(record: AuditRecord): Promise<void> {
    return this.enqueue({ end: record });
  }

  private enqueue(entry: Pending['entry']): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`audit store ${this.dir} is closed`));
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ entry, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // Every entry of this turn of the event loop goes in one write.
        queueMicrotask(() => this.writePending());
      }
    });
  }

  private chainLine(record: AuditRecord): { record: ChainedRecord; line: string } {
    const chained = link(record, this.seq + 1, this.lastHash);
    const line = `{"end":${recordJson(chained)}}\n`;
    this.seq = chained.chain.seq;
    this.lastHash = chained.chain.hash;
    return { record: chained, line };
  }

  private commitEnd(record: ChainedRecord): void {
    this.open.delete(record.id);
    this.unflushed.push(moving(record));
    this.scheduleFlush();
  }

  private writePending(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    if (batch.length === 0) return;
    const chainBefore = { seq: this.seq, lastHash: this.lastHash };
    const lines: string[] = [];
    const ends: ChainedRecord[] = [];
    const starts: { id: string; line: string }[] = [];
    const written: Pending[] = [];
    for (const item of batch) {
      // This runs in a microtask where nothing would catch: an entry that cannot be serialised (a
      // cycle, a value nested too deep) fails its own call only, before it touches the chain.
      try {
        if ('start' in item.entry) {
          const line = `${JSON.stringify(item.entry)}\n`;
          starts.push({ id: item.entry.start.id, line });
          lines.push(line);
        } else {
          const { record, line } = this.chainLine(item.entry.end);
          ends.push(record);
          lines.push(line);
        }
        written.push(item);
      } catch (error) {
        item.reject(error);
      }
    }
    if (written.length === 0) return;
    try {
      this.journal.write(lines.join(''));
    } catch (error) {
      // Nothing of this batch is acknowledged, and the chain continues as if it never happened.
      this.seq = chainBefore.seq;
      this.lastHash = chainBefore.lastHash;
      for (const item of written) item.reject(error);
      if (SPACE_ERRORS.has((error as NodeJS.ErrnoException).code ?? '')) {
        this.shortOfSpace = true;
        this.scheduleFlush();
      }
      return;
    }
    for (const s of starts) this.open.set(s.id, s.line);
    for (const record of ends) this.commitEnd(record);
    for (const item of written) item.resolve();
    try {
      if (this.onRecord !== undefined) for (const record of ends) this.onRecord(record);
    } catch (error) {
      this.onError(error);
    }
  }

  private scheduleFlush(): void {
    if (this.flushTimer !== undefined || this.closed) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      void this.flushSegments().catch(this.onError);
    }, this.flushIntervalMs);
    this.flushTimer.unref();
  }

  /**
   * Moves journalled records into segments, in order; one at a time. A segment is sealed only when the next
   * record does not fit. Records journalled while a segment is being written wait for the next move (the
   * timer their commit set), unless `drain` asks for everything now (`flush`, `close`): sealing on their
   * arrival cut a busy store into segments of one or two records, each a file written, renamed and hashed.
   */
  private flushSegments(drain = false): Promise<void> {
    const run = this.flushing.then(async () => {
      while (this.unflushed.length > 0) {
        const segment = this.segmentFor();
        const { lines } = segment.db.data;
        const start = lines.length;
        let bytes = segment.bytes;
        let taken = 0;
        let full = false;
        for (const record of this.unflushed) {
          const size = record.text.length + 2;
          if (taken + start > 0 && bytes + size > this.segmentBytes) {
            full = true;
            break;
          }
          lines.push(record.text);
          bytes += size;
          taken++;
        }
        if (taken === 0) {
          // Full already: the next record starts a new segment.
          this.seal();
          continue;
        }
        try {
          await segment.db.write();
        } catch (error) {
          lines.length = start;
          this.scheduleFlush();
          throw error;
        }
        segment.bytes = bytes;
        segment.lastHash = (this.unflushed[taken - 1] as Moving).hash;
        this.unflushed.splice(0, taken);
        if (full) this.seal();
        else if (!drain) break;
      }
      this.compactJournal(this.shortOfSpace);
    });
    this.flushing = run.catch(() => undefined);
    return run;
  }

  /** The segment new records go to, starting a new one on a new day. */
  private segmentFor(): Current {
    const today = dayOf(this.now());
    const cur = this.current;
    if (cur !== undefined && cur.day === today) return cur;
    return this.startSegment(today, cur === undefined || cur.day !== today ? 1 : cur.seq + 1);
  }

  /** Seals the current segment (it is full) and starts the next. */
  private seal(): void {
    const cur = this.current as Current;
    const today = dayOf(this.now());
    this.startSegment(today, cur.day === today ? cur.seq + 1 : 1);
  }

  private startSegment(day: string, seq: number): Current {
    const prev = this.current;
    let previous: SegmentHead['previous'] = null;
    if (prev !== undefined) {
      const { head, lines } = prev.db.data;
      previous = {
        segment: prev.name,
        sha256: createHash('sha256').update(segmentText(head, lines)).digest('hex'),
        records: lines.length,
        lastHash: prev.lastHash ?? head.previous?.lastHash ?? GENESIS,
      };
    }
    const first = this.unflushed[0];
    const head: SegmentHead = { firstSeq: first?.seq ?? this.seq + 1, previous };
    const name = segmentName(day, seq);
    const data: SegmentLines = { head, lines: [] };
    this.current = { name, day, seq, db: this.segmentDb(name, data), bytes: segmentText(head, []).length, lastHash: undefined };
    return this.current;
  }

  private segmentDb(name: string, data: SegmentLines): Low<SegmentLines> {
    const adapter = new DataFile<SegmentLines>(join(this.dir, name), {
      // The store never reads a segment back through lowdb (see recover).
      parse: () => {
        throw new TypeError(`${name}: the open segment is not read back through its writer`);
      },
      stringify: (segment) => segmentText(segment.head, segment.lines),
    });
    return new Low<SegmentLines>(adapter, data);
  }

  /**
   * Rewrites the journal down to what no segment holds yet (calls still running, records not yet moved),
   * atomically (temp file, then rename). `force` compacts whatever the size.
   */
  private compactJournal(force: boolean): void {
    if (!force && this.journal.bytes < this.journalCompactBytes) return;
    const keep = [...this.open.values(), ...this.unflushed.map((r) => `{"end":${r.text}}\n`)].join('');
    const path = join(this.dir, JOURNAL_NAME);
    const tmp = `${path}.tmp`;
    try {
      writeFileSync(tmp, keep, { mode: 0o600, flush: this.fsync });
      renameSync(tmp, path);
      this.journal.reopen();
      this.shortOfSpace = false;
    } catch (error) {
      this.onError(error);
    }
  }

  /**
   * Moves every journalled record to its segment now, instead of within `flushIntervalMs` (an operator's
   * drain before a copy, a benchmark that must know which store did the work).
   */
  flush(): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`audit store ${this.dir} is closed`));
    return this.flushSegments(true);
  }

  /** Moves everything to segments, empties the journal and releases the lock. */
  async close(): Promise<void> {
    if (this.closed) return;
    await Promise.resolve();
    if (this.scheduled) this.writePending();
    this.closed = true;
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    try {
      await this.flushSegments(true);
      this.compactJournal(true);
    } finally {
      this.journal.close();
      this.releaseLock();
    }
  }

  /** Every finished call's record, oldest first, once what is queued now is journalled. */
  async records(): Promise<ChainedRecord[]> {
    await new Promise<void>((r) => setImmediate(r));
    return readRecords(this.dir);
  }
}

/** The store's journal does not continue its segments' chain: opening it would hide the break. */
export class AuditRecoveryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuditRecoveryError';
  }
}

