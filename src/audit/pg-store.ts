import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { GENESIS, link, recordHash, type ChainedRecord } from './chain.js';
import { interruptedRecord } from './interrupted.js';
import type { AuditRecord, AuditSink, StartedEntry } from './record.js';
import type { VerifyProblem, VerifyReport } from './verify.js';

export interface PgAuditStoreOptions {
  readonly url: string;
  /** Table name prefix (default `airlock_audit`): `<prefix>`, `<prefix>_started`, `<prefix>_head`. */
  readonly table?: string;
  /** This replica's name in started entries (default: host name, pid and a random suffix, unique per process). */
  readonly replica?: string;
  readonly poolSize?: number;
  readonly now?: () => Date;
  /** Sees each record once it is committed (e.g. to copy it to Cloud Logging). Must not throw. */
  readonly onRecord?: (record: ChainedRecord) => void;
  /** How often the calls left open by replicas that are gone are looked for (default 60 s). */
  readonly sweepMs?: number;
  /** How long `open` waits for this replica's name to be free when another connection holds it (default 30 s). */
  readonly nameWaitMs?: number;
  /** Told when a sweep fails (e.g. to log it). Must not throw. */
  readonly onSweepError?: (error: unknown) => void;
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
 * Whether the store's tables, chain head and both append-only triggers are all in place and firing (a trigger
 * disabled, or enabled for replication sessions only, fires for no ordinary session).
 */
async function ready(client: pg.PoolClient, t: string): Promise<boolean> {
  const res = await client.query<{ n: string }>(
    `SELECT (SELECT count(*) FROM pg_trigger WHERE tgrelid = to_regclass($1) AND tgname IN ($2, $3) AND tgenabled IN ('O', 'A'))
          + (CASE WHEN to_regclass($4) IS NULL THEN 0 ELSE 1 END)
          + (CASE WHEN to_regclass($5) IS NULL THEN 0 ELSE 1 END) AS n`,
    [t, `${t}_append_only`, `${t}_no_truncate`, `${t}_started`, `${t}_head`],
  );
  if (Number(res.rows[0]?.n) !== 4) return false;
  const head = await client.query(`SELECT 1 FROM ${t}_head`);
  return head.rowCount === 1;
}

/** The names of this process's open stores: another default name of this host and pid is a process gone before it. */
const ours = new Set<string>();

/**
 * The default replica name, `host:pid:suffix`. Host and pid alone are not unique: every Cloud Run instance is
 * `localhost`, and a container's first process has the same pid everywhere, so two instances would wait
 * for each other's name. The suffix makes it unique; host and pid still tell a process of this host that
 * is gone (see deadHere).
 */
function defaultReplica(): string {
  return `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
}

/**
 * The host and pid of a default replica name: `host:pid:suffix` (8 hex digits), or `host:pid` from older
 * versions. The suffix is tried first: one of digits only (one name in 40) would otherwise read as the pid,
 * and the rest of the name as the host.
 */
export function defaultNameParts(replica: string): { readonly host: string; readonly pid: number } | undefined {
  const m = /^(.*):(\d+):[0-9a-f]{8}$/.exec(replica) ?? /^(.*):(\d+)$/.exec(replica);
  return m === null ? undefined : { host: m[1] as string, pid: Number(m[2]) };
}

/**
 * Whether a default replica name (`host:pid:suffix`, or `host:pid` from older versions) is of this host and
 * its process no longer runs. `localhost` names no host (Cloud Run instances all have it), so its names are
 * left to the two sweeps. The same pid with another suffix, not one of this process's stores, is an earlier
 * process (a container restarted as pid 1 again).
 */
function deadHere(replica: string): boolean {
  const named = defaultNameParts(replica);
  if (named === undefined || named.host !== hostname() || named.host === 'localhost' || ours.has(replica)) return false;
  if (named.pid === process.pid) return true;
  try {
    process.kill(named.pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'EPERM';
  }
}

/** Why an outcome was not written: its call has a record already, and a call never has two. */
function refusal(record: AuditRecord): Error {
  return record.outcome === 'interrupted'
    ? new Error(`audit: call ${record.id} was already recorded; the interrupted record of a sweep is not written over it`)
    : new Error(`audit: call ${record.id} was already recorded (as interrupted, while this replica was taken for gone); its outcome is not recorded twice`);
}

/** The advisory lock key space of a table's replica names: `(hashtext('<table>:replica'), hashtext(name))`. */
const PRESENCE = (t: string): string => `${t}:replica`;

/**
 * The audit store in PostgreSQL, for several airlock replicas behind a load balancer. Records keep the
 * same hash chain as the JSON store; replicas take turns on it through a row lock on the chain head, so
 * the chain stays one line whatever the number of writers. Entries of one turn of the event loop go in one
 * transaction.
 *
 * Calls that started and never got an outcome (the replica was killed) are recorded as interrupted. Which
 * replicas are gone is the database's judgement, not a guess from host names: each replica holds an
 * advisory lock on its name for as long as its own connection lives, and the database frees it when the
 * process dies. A replica that starts again recovers its own open calls at once; those of a replica that
 * never comes back (an autoscaled instance) are recovered by any other replica once its lock has been free at
 * two sweeps in a row, so a replica that only lost its connection for a moment is not mistaken for a dead
 * one (at once for a default name of the same host whose process is gone). Should that still happen, its
 * late outcome is refused (the call answers AUDIT_UNAVAILABLE) and the interrupted record stands: a call
 * never has two records.
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
  /** The connection that holds this replica's name lock (once `held`), and probes the others'. */
  private presence: pg.Client | undefined;
  /** Whether `presence` holds the name lock now: a connection alone does not, until takeName succeeds. */
  private held = false;
  private sweeper: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> = Promise.resolve();
  /** Replicas whose lock was free at the last sweep: recovered if it still is at the next. */
  private suspects = new Set<string>();
  private readonly sweepMs: number;
  private readonly nameWaitMs: number;
  private readonly onSweepError: (error: unknown) => void;
  private readonly url: string;

  private constructor(options: PgAuditStoreOptions) {
    this.t = options.table ?? 'airlock_audit';
    if (!TABLE.test(this.t)) throw new TypeError(`PgAuditStore: table "${this.t}" must be a lower-case identifier`);
    this.replica = options.replica ?? defaultReplica();
    this.now = options.now ?? (() => new Date());
    this.onRecord = options.onRecord;
    this.url = options.url;
    this.sweepMs = options.sweepMs ?? 60_000;
    this.nameWaitMs = options.nameWaitMs ?? 30_000;
    this.onSweepError = options.onSweepError ?? (() => undefined);
    this.pool = new pg.Pool({ connectionString: options.url, max: options.poolSize ?? 4 });
    this.pool.on('error', () => undefined);
  }

  /** Connects, creates the tables if needed, takes this replica's name, and recovers its unfinished calls. */
  static async open(options: PgAuditStoreOptions): Promise<PgAuditStore> {
    const store = new PgAuditStore(options);
    try {
      const client = await store.pool.connect();
      try {
        // Two replicas starting together must not race on CREATE: one DDL at a time.
        await client.query('SELECT pg_advisory_lock(hashtext($1))', [store.t]);
        // Set up already (by the table's owner, or an earlier start): no DDL, so airlock's role need not own
        // the table, and then cannot switch its append-only triggers off (docs/audit.md).
        if (!(await ready(client, store.t))) await client.query(schema(store.t));
        await client.query('SELECT pg_advisory_unlock(hashtext($1))', [store.t]);
      } finally {
        client.release();
      }
      await store.takeName();
      ours.add(store.replica);
      await store.recoverOwn();
      // The first sweep only marks replicas that look gone; they are recovered from the next one on.
      await store.sweep();
      store.sweeper = setInterval(() => {
        store.sweeping = store.sweeping.then(() => store.sweep()).catch((error: unknown) => store.onSweepError(error));
      }, store.sweepMs);
      store.sweeper.unref();
    } catch (error) {
      ours.delete(store.replica);
      await store.presence?.end().catch(() => undefined);
      await store.pool.end().catch(() => undefined);
      throw error;
    }
    return store;
  }

  /**
   * Holds this replica's name lock on a connection of its own, for as long as the process lives. Another
   * holder is either a live replica with the same name (a configuration error: both would record each
   * other's calls as interrupted) or a sweeper recovering this name's calls for a moment: wait for it.
   */
  private async takeName(): Promise<void> {
    const deadline = Date.now() + this.nameWaitMs;
    for (;;) {
      const client = await this.presenceClient();
      let got: boolean;
      try {
        got = (await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1), hashtext($2)) AS ok', [PRESENCE(this.t), this.replica])).rows[0]?.ok === true;
      } catch (error) {
        await this.dropPresence(client);
        throw error;
      }
      if (got) {
        this.held = true;
        return;
      }
      if (Date.now() >= deadline) {
        // A connection without the lock must not pass for one with it: the next sweep starts over.
        await this.dropPresence(client);
        throw new Error(`audit.postgres: another running airlock holds the replica name "${this.replica}" on table ${this.t}; give every replica its own audit.postgres.replica (or leave it unset: the default is unique per process)`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Ends a presence connection that holds no name lock, and forgets it. */
  private async dropPresence(client: pg.Client): Promise<void> {
    if (this.presence === client) {
      this.presence = undefined;
      this.held = false;
    }
    await client.end().catch(() => undefined);
  }

  /** The presence connection, opened (again) when needed; the database notices a dead peer within ~30 s. */
  private async presenceClient(): Promise<pg.Client> {
    if (this.presence !== undefined) return this.presence;
    const client = new pg.Client({ connectionString: this.url, keepAlive: true, application_name: `airlock audit ${this.replica}`.slice(0, 63) });
    // Lost, the name is free for others to take this replica for gone: take it again soon, not at the next sweep.
    const lost = (): void => {
      if (this.presence !== client) return;
      this.presence = undefined;
      this.held = false;
      if (this.closed) return;
      setTimeout(() => {
        this.sweeping = this.sweeping.then(() => (this.closed || this.held ? undefined : this.takeName())).catch((error: unknown) => this.onSweepError(error));
      }, 1000).unref();
    };
    client.on('error', lost);
    client.on('end', lost);
    try {
      await client.connect();
      // Server-side keepalives: a replica whose host vanished (no FIN, no RST) frees its name in about 25 s.
      await client.query('SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3');
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    this.presence = client;
    return client;
  }

  /** This replica's calls left open by its previous process (it holds the name now, so none of them runs). */
  private async recoverOwn(): Promise<void> {
    const res = await this.pool.query<{ entry: StartedEntry }>(`SELECT entry FROM ${this.t}_started WHERE replica = $1 ORDER BY time`, [this.replica]);
    const at = this.now();
    await Promise.all(res.rows.map((row) => this.append(interruptedRecord(row.entry, at))));
  }

  /**
   * Recovers the open calls of replicas whose name lock was free at the last sweep and still is: the lock is
   * held while they are recovered, so the replica cannot start again in between and run into its own calls.
   */
  private async sweep(): Promise<void> {
    if (this.closed) return;
    // A replica without its name lock (its connection dropped, or taking the name again gave up) takes it
    // again before judging anyone else.
    if (!this.held) await this.takeName();
    const client = await this.presenceClient();
    const others = (await this.pool.query<{ replica: string }>(`SELECT DISTINCT replica FROM ${this.t}_started WHERE replica <> $1 ORDER BY replica`, [this.replica])).rows.map((r) => r.replica);
    const free = new Set<string>();
    const failed: string[] = [];
    for (const replica of others) {
      const got = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1), hashtext($2)) AS ok', [PRESENCE(this.t), replica]);
      if (got.rows[0]?.ok !== true) continue;
      try {
        free.add(replica);
        // A default name of this host whose process is gone needs no second look (short-lived stdio
        // processes on one host recover each other's calls as soon as the next one starts).
        if (!this.suspects.has(replica) && !deadHere(replica)) continue;
        const res = await this.pool.query<{ entry: StartedEntry }>(`SELECT entry FROM ${this.t}_started WHERE replica = $1 ORDER BY time`, [replica]);
        const at = this.now();
        // One call that cannot be recorded does not hold back the others, nor the other replicas.
        const results = await Promise.allSettled(res.rows.map((row) => this.append(interruptedRecord(row.entry, at))));
        for (const r of results) if (r.status === 'rejected') failed.push(`${replica}: ${String(r.reason)}`);
      } finally {
        await client.query('SELECT pg_advisory_unlock(hashtext($1), hashtext($2))', [PRESENCE(this.t), replica]);
      }
    }
    // Still free at the next sweep, a replica whose recovery failed is tried again then.
    this.suspects = free;
    if (failed.length > 0) throw new Error(`audit: recording the calls left open by stopped replicas failed for ${failed.length} call(s): ${failed.join('; ')}`);
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
    let ends = batch.flatMap((p) => ('end' in p.entry ? [p.entry.end] : []));
    const endIds = ends.map((e) => e.id);
    const committed: ChainedRecord[] = [];
    let refused = new Set<string>();
    let client: pg.PoolClient | undefined;
    try {
      client = await this.pool.connect();
      await client.query('BEGIN');
      if (ends.length > 0) {
        // The head lock first: from here on no other replica writes a record, so the check below holds.
        await client.query(`SELECT 1 FROM ${this.t}_head FOR UPDATE`);
        // A call already recorded (as interrupted, by a sweep that took this replica for gone) keeps that
        // record; its late outcome is refused alone, and the rest of the batch is written.
        const known = await client.query<{ id: string }>(`SELECT id FROM ${this.t} WHERE id = ANY($1::text[])`, [ends.map((e) => e.id)]);
        refused = new Set(known.rows.map((r) => r.id));
        ends = ends.filter((e) => !refused.has(e.id));
      }
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
      }
      // Refused calls too: a started entry whose call has its record already is not open any more, and left
      // behind it would be swept again and again.
      if (endIds.length > 0) await client.query(`DELETE FROM ${this.t}_started WHERE id = ANY($1::text[])`, [endIds]);
      await client.query('COMMIT');
      client.release();
      for (const p of batch) {
        if ('end' in p.entry && refused.has(p.entry.end.id)) p.reject(refusal(p.entry.end));
        else p.resolve();
      }
      if (this.onRecord !== undefined) for (const record of committed) this.onRecord(record);
    } catch (error) {
      if (client !== undefined) {
        await client.query('ROLLBACK').catch(() => undefined);
        client.release(true);
      }
      for (const p of batch) p.reject(error);
    }
  }

  /** Waits for queued entries and a running sweep, then gives up the replica name and closes the pool. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.sweeper !== undefined) clearInterval(this.sweeper);
    await this.sweeping.catch(() => undefined);
    await Promise.resolve();
    await this.writing;
    this.closed = true;
    ours.delete(this.replica);
    await this.presence?.end().catch(() => undefined);
    this.presence = undefined;
    this.held = false;
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
