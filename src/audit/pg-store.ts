import pg from 'pg';
import { hostname } from 'node:os';
import { GENESIS, link, recordHash, type ChainedRecord } from './chain.js';
import { interruptedRecord } from './interrupted.js';
import type { AuditRecord, AuditSink, StartedEntry } from './record.js';
import type { VerifyProblem, VerifyReport } from './verify.js';

export interface PgAuditStoreOptions {
  readonly url: string;
  /** Table name prefix (default `airlock_audit`): `<prefix>`, `<prefix>_started`, `<prefix>_head`. */
  readonly table?: string;
  /** This replica's name in started entries (default: host name and pid). */
  readonly replica?: string;
  readonly poolSize?: number;
  readonly now?: () => Date;
  /** Sees each record once it is committed (e.g. to copy it to Cloud Logging). Must not throw. */
  readonly onRecord?: (record: ChainedRecord) => void;
}

interface Pending {
  readonly entry: { readonly start: StartedEntry } | { readonly end: AuditRecord };
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

const TABLE = /^[a-z_][a-z0-9_]{0,40}$/;

/** The DDL of the store: an append-only record table (UPDATE/DELETE/TRUNCATE raise), started entries, the chain head. */
function schema(t: string): string {
  return `
CREATE TABLE IF NOT EXISTS ${t} (
  seq        bigint PRIMARY KEY,
  id         text NOT NULL UNIQUE,
  time       timestamptz NOT NULL,
  session_id text NOT NULL,
  principal  text,
  tool       text NOT NULL,
  outcome    text NOT NULL,
  prev       text NOT NULL,
  hash       text NOT NULL,
  record     jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS ${t}_session ON ${t} (session_id, seq);
CREATE INDEX IF NOT EXISTS ${t}_time ON ${t} (time);
CREATE TABLE IF NOT EXISTS ${t}_started (
  id      text PRIMARY KEY,
  replica text NOT NULL,
  time    timestamptz NOT NULL,
  entry   jsonb NOT NULL
);
CREATE TABLE IF NOT EXISTS ${t}_head (
  one  boolean PRIMARY KEY DEFAULT true CHECK (one),
  seq  bigint NOT NULL,
  hash text NOT NULL
);
INSERT INTO ${t}_head (seq, hash) VALUES (0, '${GENESIS}') ON CONFLICT DO NOTHING;
CREATE OR REPLACE FUNCTION ${t}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'the airlock audit table is append-only'; END $$;
DROP TRIGGER IF EXISTS ${t}_append_only ON ${t};
CREATE TRIGGER ${t}_append_only BEFORE UPDATE OR DELETE ON ${t} FOR EACH ROW EXECUTE FUNCTION ${t}_append_only();
DROP TRIGGER IF EXISTS ${t}_no_truncate ON ${t};
CREATE TRIGGER ${t}_no_truncate BEFORE TRUNCATE ON ${t} FOR EACH STATEMENT EXECUTE FUNCTION ${t}_append_only();
`;
}

/**
 * The audit store in PostgreSQL, for several airlock replicas behind a load balancer. Records keep the
 * same hash chain as the JSON store; replicas take turns on it through a row lock on the chain head, so
 * the chain stays one line whatever the number of writers. Entries of one turn of the event loop go in one
 * transaction. A replica that starts again records its own calls left without an outcome as interrupted.
 */
export class PgAuditStore implements AuditSink {
  private readonly pool: pg.Pool;
  private readonly t: string;
  private readonly replica: string;
  private readonly now: () => Date;
  private readonly onRecord: ((record: ChainedRecord) => void) | undefined;
  private pending: Pending[] = [];
  private scheduled = false;
  private writing: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(options: PgAuditStoreOptions) {
    this.t = options.table ?? 'airlock_audit';
    if (!TABLE.test(this.t)) throw new TypeError(`PgAuditStore: table "${this.t}" must be a lower-case identifier`);
    this.replica = options.replica ?? `${hostname()}:${process.pid}`;
    this.now = options.now ?? (() => new Date());
    this.onRecord = options.onRecord;
    this.pool = new pg.Pool({ connectionString: options.url, max: options.poolSize ?? 4 });
    this.pool.on('error', () => undefined);
  }

  /** Connects, creates the tables if needed, and recovers this replica's unfinished calls. */
  static async open(options: PgAuditStoreOptions): Promise<PgAuditStore> {
    const store = new PgAuditStore(options);
    try {
      const client = await store.pool.connect();
      try {
        // Two replicas starting together must not race on CREATE: one DDL at a time.
        await client.query('SELECT pg_advisory_lock(hashtext($1))', [store.t]);
        await client.query(schema(store.t));
        await client.query('SELECT pg_advisory_unlock(hashtext($1))', [store.t]);
      } finally {
        client.release();
      }
      await store.recover();
    } catch (error) {
      await store.pool.end().catch(() => undefined);
      throw error;
    }
    return store;
  }

  /**
   * Calls this replica started and never finished: those of an earlier process with the same replica
   * name, or (with the default `host:pid` names) of a process on this host that no longer runs.
   */
  private async recover(): Promise<void> {
    const res = await this.pool.query<{ replica: string; entry: StartedEntry }>(`SELECT replica, entry FROM ${this.t}_started ORDER BY time`);
    const host = hostname();
    const dead = (replica: string): boolean => {
      const m = /^(.*):(\d+)$/.exec(replica);
      if (m === null || m[1] !== host || Number(m[2]) === process.pid) return false;
      try {
        process.kill(Number(m[2]), 0);
        return false;
      } catch (error) {
        return (error as NodeJS.ErrnoException).code !== 'EPERM';
      }
    };
    const at = this.now();
    const orphans = res.rows.filter((row) => row.replica === this.replica || dead(row.replica));
    await Promise.all(orphans.map((row) => this.append(interruptedRecord(row.entry, at))));
  }

  /** The audit tables' size on disk, indexes included (PostgreSQL's own count). */
  async sizeBytes(): Promise<number> {
    const res = await this.pool.query<{ bytes: string }>(`SELECT (pg_total_relation_size($1::regclass) + pg_total_relation_size($2::regclass))::text AS bytes`, [this.t, `${this.t}_started`]);
    return Number(res.rows[0]?.bytes ?? 0);
  }

  get description(): string {
    return `PostgreSQL table ${this.t} (replica ${this.replica})`;
  }

  start(entry: StartedEntry): Promise<void> {
    return this.enqueue({ start: entry });
  }

  append(record: AuditRecord): Promise<void> {
    return this.enqueue({ end: record });
  }

  private enqueue(entry: Pending['entry']): Promise<void> {
    if (this.closed) return Promise.reject(new Error('audit store is closed'));
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ entry, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        queueMicrotask(() => {
          this.scheduled = false;
          const batch = this.pending;
          this.pending = [];
          // One transaction at a time from this replica; the head lock orders replicas.
          this.writing = this.writing.then(() => this.write(batch));
        });
      }
    });
  }

  private async write(batch: Pending[]): Promise<void> {
    const starts = batch.flatMap((p) => ('start' in p.entry ? [p.entry.start] : []));
    const ends = batch.flatMap((p) => ('end' in p.entry ? [p.entry.end] : []));
    const committed: ChainedRecord[] = [];
    let client: pg.PoolClient | undefined;
    try {
      client = await this.pool.connect();
      await client.query('BEGIN');
      if (starts.length > 0) {
        await client.query(
          `INSERT INTO ${this.t}_started (id, replica, time, entry) SELECT x.id, $1, x.time::timestamptz, x.entry FROM jsonb_to_recordset($2::jsonb) AS x(id text, time text, entry jsonb)`,
          [this.replica, JSON.stringify(starts.map((s) => ({ id: s.id, time: s.time, entry: s })))],
        );
      }
      if (ends.length > 0) {
        const head = await client.query<{ seq: string; hash: string }>(`SELECT seq, hash FROM ${this.t}_head FOR UPDATE`);
        let seq = Number(head.rows[0]?.seq ?? 0);
        let prev = head.rows[0]?.hash ?? GENESIS;
        const rows = ends.map((record) => {
          const chained = link(record, seq + 1, prev);
          seq = chained.chain.seq;
          prev = chained.chain.hash;
          committed.push(chained);
          return { seq, id: record.id, time: record.time, session_id: record.sessionId, principal: record.principal?.email ?? record.principal?.sub ?? null, tool: record.tool, outcome: record.outcome, prev: chained.chain.prev, hash: chained.chain.hash, record: chained };
        });
        await client.query(
          `INSERT INTO ${this.t} (seq, id, time, session_id, principal, tool, outcome, prev, hash, record)
           SELECT x.seq, x.id, x.time::timestamptz, x.session_id, x.principal, x.tool, x.outcome, x.prev, x.hash, x.record
             FROM jsonb_to_recordset($1::jsonb) AS x(seq bigint, id text, time text, session_id text, principal text, tool text, outcome text, prev text, hash text, record jsonb)`,
          [JSON.stringify(rows)],
        );
        await client.query(`UPDATE ${this.t}_head SET seq = $1, hash = $2`, [seq, prev]);
        await client.query(`DELETE FROM ${this.t}_started WHERE id = ANY($1::text[])`, [ends.map((e) => e.id)]);
      }
      await client.query('COMMIT');
      client.release();
      for (const p of batch) p.resolve();
      if (this.onRecord !== undefined) for (const record of committed) this.onRecord(record);
    } catch (error) {
      if (client !== undefined) {
        await client.query('ROLLBACK').catch(() => undefined);
        client.release(true);
      }
      for (const p of batch) p.reject(error);
    }
  }

  /** Waits for queued entries, then closes the pool. */
  async close(): Promise<void> {
    if (this.closed) return;
    await Promise.resolve();
    await this.writing;
    this.closed = true;
    await this.pool.end();
  }
}

/** The newest `last` records of a PostgreSQL audit table after `after`, oldest first (`audit tail`). */
export async function pgRecordsAfter(url: string, table: string, after: number, last?: number): Promise<ChainedRecord[]> {
  if (!TABLE.test(table)) throw new TypeError(`table "${table}" must be a lower-case identifier`);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const res =
      last === undefined
        ? await client.query<{ record: ChainedRecord }>(`SELECT record FROM ${table} WHERE seq > $1 ORDER BY seq`, [after])
        : await client.query<{ record: ChainedRecord }>(`SELECT record FROM (SELECT seq, record FROM ${table} WHERE seq > $1 ORDER BY seq DESC LIMIT $2) t ORDER BY seq`, [after, last]);
    return res.rows.map((r) => r.record);
  } finally {
    await client.end();
  }
}

/** Reads a PostgreSQL audit table in chain order, a page at a time. */
export async function* pgRecords(url: string, table = 'airlock_audit', pageSize = 5000): AsyncGenerator<ChainedRecord> {
  if (!TABLE.test(table)) throw new TypeError(`table "${table}" must be a lower-case identifier`);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    let after = 0;
    for (;;) {
      const res = await client.query<{ seq: string; record: ChainedRecord }>(`SELECT seq, record FROM ${table} WHERE seq > $1 ORDER BY seq LIMIT $2`, [after, pageSize]);
      for (const row of res.rows) yield row.record;
      if (res.rows.length < pageSize) return;
      after = Number(res.rows.at(-1)?.seq);
    }
  } finally {
    await client.end();
  }
}

/** Verifies a PostgreSQL audit table: every record's hash and every link, in seq order. */
export async function verifyPgStore(url: string, table = 'airlock_audit', maxProblems = 20): Promise<VerifyReport> {
  const problems: VerifyProblem[] = [];
  let expected = 1;
  let prev = GENESIS;
  let records = 0;
  for await (const record of pgRecords(url, table)) {
    records++;
    const { seq } = record.chain;
    const where = { file: table, index: seq, recordId: record.id, seq };
    if (problems.length < maxProblems && recordHash(record, seq, record.chain.prev) !== record.chain.hash) {
      problems.push({ ...where, kind: 'edited', message: `${table} seq ${seq} (id ${record.id}) was changed after it was written` });
    }
    if (problems.length < maxProblems && (seq !== expected || record.chain.prev !== prev)) {
      problems.push({ ...where, kind: seq > expected ? 'deleted' : 'inserted', message: `${table} seq ${seq} (id ${record.id}) does not follow seq ${expected - 1}` });
    }
    expected = Math.max(expected, seq + 1);
    prev = record.chain.hash;
  }
  // The head row says where the chain ends: records cut from the end leave no broken link, only this.
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const head = (await client.query<{ seq: string; hash: string }>(`SELECT seq, hash FROM ${table}_head`)).rows[0];
    if (head !== undefined && (Number(head.seq) !== expected - 1 || head.hash !== prev) && problems.length < maxProblems) {
      problems.push({
        file: `${table}_head`,
        seq: Number(head.seq),
        kind: 'deleted',
        message: Number(head.seq) > expected - 1 ? `the chain ends at seq ${expected - 1}, but ${table}_head says ${head.seq}: records at the end were removed` : `${table}_head (seq ${head.seq}) does not match the chain's end (seq ${expected - 1})`,
      });
    }
  } finally {
    await client.end();
  }
  return { ok: problems.length === 0, segments: 0, records, removed: 0, tombstoneKeys: [], open: 0, head: prev, problems };
}
