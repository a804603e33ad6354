import { constants } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Low } from 'lowdb';
import { JSONFile } from 'lowdb/node';
import type { AuditRecord, AuditSink } from './record.js';

interface AuditFile {
  readonly format: 'airlock-audit';
  readonly version: 1;
  records: AuditRecord[];
}

/**
 * The JSON-file audit store (lowdb). Writes are atomic file replacements (write to a temp file, then
 * rename) and are serialised, so every append resolves only after its record is on disk.
 */
export class JsonAuditStore implements AuditSink {
  private readonly db: Low<AuditFile>;
  private queue: Promise<void> = Promise.resolve();
  readonly path: string;

  private constructor(path: string, db: Low<AuditFile>) {
    this.path = path;
    this.db = db;
  }

  /** Opens (or creates) `DIR/audit.json`; fails at start-up if the directory is not writable. */
  static async open(dir: string): Promise<JsonAuditStore> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await access(dir, constants.W_OK);
    const path = join(dir, 'audit.json');
    const db = new Low<AuditFile>(new JSONFile<AuditFile>(path), { format: 'airlock-audit', version: 1, records: [] });
    await db.read();
    if (!Array.isArray(db.data.records)) throw new TypeError(`${path}: not an airlock audit file`);
    return new JsonAuditStore(path, db);
  }

  append(record: AuditRecord): Promise<void> {
    const write = this.queue.then(async () => {
      this.db.data.records.push(record);
      try {
        await this.db.write();
      } catch (error) {
        // Keep memory and disk in step: a record that did not reach the disk is not kept.
        this.db.data.records.pop();
        throw error;
      }
    });
    this.queue = write.catch(() => undefined);
    return write;
  }

  /** All records, oldest first (a copy). */
  records(): readonly AuditRecord[] {
    return [...this.db.data.records];
  }
}
