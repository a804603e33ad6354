import { constants } from 'node:fs';
import { access, mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LowSync } from 'lowdb';
import { DataFileSync } from 'lowdb/node';
import type { AuditRecord, AuditSink } from './record.js';

interface AuditFile {
  readonly format: 'airlock-audit';
  readonly version: 1;
  records: AuditRecord[];
}

export interface JsonAuditStoreOptions {
  /** Start a new segment once the current one would exceed this many bytes (default 32 KiB). */
  readonly segmentBytes?: number;
  readonly now?: () => Date;
}

const SEGMENT = /^audit-(\d{8})-(\d{3,})\.json$/;

/** Segment files of a store, oldest first. */
export async function listSegments(dir: string): Promise<string[]> {
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => SEGMENT.test(n));
  return names.sort((a, b) => {
    const [, da = '', na = ''] = SEGMENT.exec(a) ?? [];
    const [, db = '', nb = ''] = SEGMENT.exec(b) ?? [];
    return da === db ? Number(na) - Number(nb) : da.localeCompare(db);
  });
}

/** Records never change once appended, so each is serialised once and reused on every rewrite. */
const serialized = new WeakMap<AuditRecord, string>();

function recordJson(record: AuditRecord): string {
  let text = serialized.get(record);
  if (text === undefined) {
    text = JSON.stringify(record);
    serialized.set(record, text);
  }
  return text;
}

/** Valid JSON with one record per line: greppable, diffable, and cheap to rewrite. */
function stringifySegment(data: AuditFile): string {
  const head = `{"format":${JSON.stringify(data.format)},"version":${data.version},"records":[`;
  return data.records.length === 0 ? `${head}]}\n` : `${head}\n${data.records.map(recordJson).join(',\n')}\n]}\n`;
}

function day(date: Date): string {
  return date.toISOString().slice(0, 10).replaceAll('-', '');
}

/**
 * The JSON-file audit store (lowdb). lowdb rewrites a whole file on every write, so records go to
 * segments (`audit-YYYYMMDD-NNN.json`) that rotate by size and by day, keeping the cost of an append
 * bounded however large the log grows. Each write is an atomic file replacement (temp file, then
 * rename). Appends made in the same turn of the event loop are grouped into one write, done
 * synchronously (a few hundred microseconds, cheaper than four thread-pool round trips); `append`
 * resolves only once its record is on disk.
 */
export class JsonAuditStore implements AuditSink {
  private pending: { record: AuditRecord; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private scheduled = false;
  private current: { name: string; day: string; seq: number; db: LowSync<AuditFile>; bytes: number } | undefined;
  private readonly segmentBytes: number;
  private readonly now: () => Date;
  readonly dir: string;

  private constructor(dir: string, options: JsonAuditStoreOptions) {
    this.dir = dir;
    this.segmentBytes = options.segmentBytes ?? 32 * 1024;
    this.now = options.now ?? (() => new Date());
    if (!(this.segmentBytes >= 1024)) throw new TypeError('JsonAuditStore: segmentBytes must be at least 1024');
  }

  /** Opens (or creates) a store in DIR; fails at start-up if the directory is not writable. */
  static async open(dir: string, options: JsonAuditStoreOptions = {}): Promise<JsonAuditStore> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await access(dir, constants.W_OK);
    const store = new JsonAuditStore(dir, options);
    const segments = await listSegments(dir);
    const last = segments.at(-1);
    if (last !== undefined) {
      const [, d = '', n = '1'] = SEGMENT.exec(last) ?? [];
      const db = store.openSegment(last);
      store.current = { name: last, day: d, seq: Number(n), db, bytes: JSON.stringify(db.data).length };
    }
    return store;
  }

  /** Where new records go now (for operators: printed at start-up). */
  get path(): string {
    return join(this.dir, this.current?.name ?? `audit-${day(this.now())}-001.json`);
  }

  private openSegment(name: string): LowSync<AuditFile> {
    const path = join(this.dir, name);
    const db = new LowSync<AuditFile>(new DataFileSync<AuditFile>(path, { parse: (text) => JSON.parse(text) as AuditFile, stringify: stringifySegment }), {
      format: 'airlock-audit',
      version: 1,
      records: [],
    });
    db.read();
    if (db.data.format !== 'airlock-audit' || !Array.isArray(db.data.records)) throw new TypeError(`${path}: not an airlock audit file`);
    return db;
  }

  private segmentFor(recordBytes: number): NonNullable<JsonAuditStore['current']> {
    const today = day(this.now());
    const cur = this.current;
    if (cur !== undefined && cur.day === today && (cur.bytes + recordBytes <= this.segmentBytes || cur.db.data.records.length === 0)) return cur;
    const seq = cur !== undefined && cur.day === today ? cur.seq + 1 : 1;
    const name = `audit-${today}-${String(seq).padStart(3, '0')}.json`;
    const db = this.openSegment(name);
    this.current = { name, day: today, seq, db, bytes: JSON.stringify(db.data).length };
    return this.current;
  }

  append(record: AuditRecord): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ record, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // Group every append of this turn of the event loop into one write.
        queueMicrotask(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    try {
      this.writeBatch(batch);
    } catch (error) {
      // Opening or rotating a segment failed: nothing of this batch is acknowledged.
      for (const item of batch) item.reject(error);
    }
  }

  private writeBatch(batch: { record: AuditRecord; resolve: () => void; reject: (e: unknown) => void }[]): void {
    let i = 0;
    while (i < batch.length) {
      // Records for one segment go in one write; a batch may span a rotation.
      const first = batch[i] as (typeof batch)[number];
      const segment = this.segmentFor(recordJson(first.record).length + 2);
      const start = segment.db.data.records.length;
      const group: typeof batch = [];
      let bytes = segment.bytes;
      while (i < batch.length) {
        const item = batch[i] as (typeof batch)[number];
        const size = recordJson(item.record).length + 2;
        if (group.length > 0 && bytes + size > this.segmentBytes) break;
        group.push(item);
        bytes += size;
        i++;
      }
      segment.db.data.records.push(...group.map((g) => g.record));
      try {
        segment.db.write();
        segment.bytes = bytes;
        for (const g of group) g.resolve();
      } catch (error) {
        // Keep memory and disk in step: records that did not reach the disk are not kept.
        segment.db.data.records.length = start;
        for (const g of group) g.reject(error);
      }
    }
  }

  /** Every record in the store, oldest first, read from disk. */
  async records(): Promise<AuditRecord[]> {
    await new Promise<void>((r) => setImmediate(r));
    const out: AuditRecord[] = [];
    for (const name of await listSegments(this.dir)) {
      const file = JSON.parse(await readFile(join(this.dir, name), 'utf8')) as AuditFile;
      out.push(...file.records);
    }
    return out;
  }
}
