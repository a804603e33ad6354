import pg from 'pg';
import { randomBytes } from 'node:crypto';
import type { ApprovalRecord } from './model.js';
import { ensureSchema } from '../connectors/pg-schema.js';
import { ApprovalStoreError, recordSchema, type ApprovalStore, type ListQuery } from './store.js';

export interface PgApprovalStoreOptions {
  readonly url: string;
  /** Table name (default `airlock_approvals`); its change channel is `<table>_changes`. */
  readonly table?: string;
  readonly poolSize?: number;
  /** Backoff of the LISTEN connection after it drops: first wait and longest wait in ms (default 250, 10000). */
  readonly reconnect?: { readonly initialMs?: number; readonly maxMs?: number };
  /** Told when the LISTEN connection drops and when it listens again (e.g. to log it). Must not throw. */
  readonly onListener?: (state: 'lost' | 'listening', error?: unknown) => void;
}

const TABLE = /^[a-z_][a-z0-9_]{0,40}$/;
const ID = /^apr_[A-Za-z0-9_-]+$/;
/** Attempts of `insertOrJoin` when the pending twin it collided with is decided before it is read. */
const MAX_JOIN_ATTEMPTS = 16;

/**
 * The DDL. The record is kept as text, exactly as JSON.stringify wrote it: `jsonb` would refuse a `\u0000`
 * in a statement and renormalise numbers, and the record must read back as it was sealed. The other
 * columns are copies of record fields for SQL to filter on; reads check that they agree with the record.
 */
function schema(t: string): string {
  return `
CREATE TABLE IF NOT EXISTS ${t} (
  id               text PRIMARY KEY,
  state            text NOT NULL,
  requester_issuer text NOT NULL,
  requester_sub    text NOT NULL,
  binding_hash     text NOT NULL,
  approver_groups  text[] NOT NULL,
  created_at       bigint NOT NULL,
  version          integer NOT NULL,
  record           text NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS ${t}_one_pending ON ${t} (requester_issuer, requester_sub, binding_hash) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS ${t}_created ON ${t} (created_at DESC);
CREATE INDEX IF NOT EXISTS ${t}_groups ON ${t} USING gin (approver_groups);
`;
}

interface Row {
  readonly id: string;
  readonly state: string;
  readonly requester_issuer: string;
  readonly requester_sub: string;
  readonly binding_hash: string;
  readonly approver_groups: string[];
  readonly created_at: string;
  readonly version: number;
  readonly record: string;
}

const COLUMNS = 'id, state, requester_issuer, requester_sub, binding_hash, approver_groups, created_at, version, record';

/** The column values of a record, in the order of COLUMNS. */
function columnsOf(r: ApprovalRecord): unknown[] {
  return [r.id, r.state, r.requester.issuer, r.requester.sub, r.bindingHash, [...r.approverGroups], r.createdAt, r.version, JSON.stringify(r)];
}

/**
 * The approval store in PostgreSQL, for several airlock replicas sharing one database. `insertOrJoin` is one
 * `INSERT … ON CONFLICT DO NOTHING` against a unique index over the pending requests of a requester and
 * binding, so two replicas opening the same request at once open one. `update` is one
 * `UPDATE … WHERE id AND version` (the row lock orders concurrent decisions; the loser changes nothing).
 * Every write notifies `<table>_changes` with the request id in the same statement, so a listener never
 * hears of a change before it can read it; each store listens on its own connection, which reconnects
 * with backoff when it drops. Every row read is checked against the strict record schema and its columns;
 * a row that fails is refused with an ApprovalStoreError, never skipped.
 */
export async function openPgApprovalStore(options: PgApprovalStoreOptions): Promise<ApprovalStore> {
  const t = options.table ?? 'airlock_approvals';
  if (!TABLE.test(t)) throw new TypeError(`openPgApprovalStore: table "${t}" must be a lower-case identifier of at most 41 characters`);
  const channel = `${t}_changes`;
  // Tells this store's own notifications from other replicas': only theirs are news to its listeners.
  const origin = randomBytes(6).toString('hex');
  const pool = new pg.Pool({ connectionString: options.url, max: options.poolSize ?? 4, application_name: `airlock approvals ${t}` });
  pool.on('error', () => undefined);
  const listeners = new Set<(id: string) => void>();
  const listener = new ChangeListener({
    url: options.url,
    channel,
    applicationName: `airlock approvals ${t} listener`,
    initialMs: options.reconnect?.initialMs ?? 250,
    maxMs: options.reconnect?.maxMs ?? 10_000,
    onState: options.onListener,
    onPayload(payload) {
      const [id, from] = payload.split(' ');
      if (id === undefined || !ID.test(id) || from === origin) return;
      for (const l of [...listeners]) {
        try {
          l(id);
        } catch {
          // One listener's failure does not keep the change from the others.
        }
      }
    },
  });
  try {
    // The table and its unique index over pending requests stand for the schema.
    await ensureSchema(await pool.connect(), [t, `${t}_one_pending`], `airlock-approvals:${t}`, schema(t));
    await listener.start();
  } catch (error) {
    await listener.close();
    await pool.end().catch(() => undefined);
    throw error;
  }

  let closed = false;
  const query = async (text: string, values: unknown[]): Promise<pg.QueryResult<Row>> => {
    if (closed) throw new ApprovalStoreError(`approval store ${t} is closed`);
    return pool.query<Row>(text, values);
  };
  const read = (row: Row): ApprovalRecord => recordOf(row, t);
  const notify = (id: string): string => `${id} ${origin}`;

  return {
    async get(id) {
      const res = await query(`SELECT ${COLUMNS} FROM ${t} WHERE id = $1`, [id]);
      return res.rows[0] === undefined ? undefined : read(res.rows[0]);
    },

    async listPending() {
      const res = await query(`SELECT ${COLUMNS} FROM ${t} WHERE state = 'pending' ORDER BY created_at, id COLLATE "C"`, []);
      return res.rows.map(read);
    },

    async insertOrJoin(record) {
      for (let attempt = 0; attempt < MAX_JOIN_ATTEMPTS; attempt++) {
        const inserted = await query(
          `WITH ins AS (INSERT INTO ${t} (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING RETURNING id)
           SELECT pg_notify($10, $11) FROM ins`,
          [...columnsOf(record), channel, notify(record.id)],
        );
        if (inserted.rowCount === 1) return structuredClone(record);
        const twin = await query(`SELECT ${COLUMNS} FROM ${t} WHERE state = 'pending' AND requester_issuer = $1 AND requester_sub = $2 AND binding_hash = $3`, [
          record.requester.issuer,
          record.requester.sub,
          record.bindingHash,
        ]);
        if (twin.rows[0] !== undefined) return read(twin.rows[0]);
        const same = await query(`SELECT id FROM ${t} WHERE id = $1`, [record.id]);
        if (same.rows.length > 0) throw new TypeError(`approval store: duplicate id ${record.id}`);
        // The twin we collided with was decided between the two statements: insert again.
      }
      throw new ApprovalStoreError(`approval store ${t}: request ${record.id} did not settle (its pending twin kept changing)`);
    },

    async update(id, expectedVersion, next) {
      if (next.id !== id) throw new TypeError(`approval store: update of ${id} with a record for ${next.id}`);
      if (next.version !== expectedVersion + 1) throw new TypeError(`approval store: version ${next.version} does not follow ${expectedVersion}`);
      const res = await query(
        `WITH upd AS (
           UPDATE ${t} SET state = $2, requester_issuer = $3, requester_sub = $4, binding_hash = $5, approver_groups = $6, created_at = $7, version = $8, record = $9
            WHERE id = $1 AND version = $10 RETURNING id)
         SELECT pg_notify($11, $12) FROM upd`,
        [...columnsOf(next), expectedVersion, channel, notify(id)],
      );
      return res.rowCount === 1;
    },

    async list(q: ListQuery) {
      const where: string[] = [];
      const values: unknown[] = [];
      const param = (value: unknown): string => {
        values.push(value);
        return `$${values.length}`;
      };
      if (q.states !== undefined) where.push(`state = ANY(${param([...q.states])}::text[])`);
      if (q.requester !== undefined) where.push(`requester_issuer = ${param(q.requester.issuer)} AND requester_sub = ${param(q.requester.sub)}`);
      if (q.approverGroups !== undefined) where.push(`approver_groups && ${param([...q.approverGroups])}::text[]`);
      const limit = param(Math.max(0, Math.trunc(q.limit)));
      const res = await query(
        `SELECT ${COLUMNS} FROM ${t} ${where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`} ORDER BY created_at DESC, id COLLATE "C" LIMIT ${limit}`,
        values,
      );
      return res.rows.map(read);
    },

    subscribe(l) {
      listeners.add(l);
      return () => void listeners.delete(l);
    },

    async close() {
      if (closed) return;
      closed = true;
      listeners.clear();
      await listener.close();
      await pool.end();
    },
  };
}

/** A row as a record, or an ApprovalStoreError naming the row and what is wrong with it (fail closed). */
function recordOf(row: Row, t: string): ApprovalRecord {
  const refuse = (why: string, cause?: unknown): ApprovalStoreError =>
    new ApprovalStoreError(`approval store ${t}: request ${row.id} ${why}; airlock will not use it: restore the row from a backup or delete it`, cause === undefined ? undefined : { cause });
  let raw: unknown;
  try {
    raw = JSON.parse(row.record);
  } catch (error) {
    throw refuse(`is not valid JSON (${(error as Error).message})`, error);
  }
  const parsed = recordSchema().safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw refuse(`is not an airlock approval record (${issue === undefined ? '' : `${issue.path.join('.') || '(record)'}: ${issue.message}`})`);
  }
  const r = parsed.data;
  // The columns decide what SQL finds (pending twins, compare-and-set, lists): they must say what the record says.
  const differs =
    r.id !== row.id ? 'id'
    : r.state !== row.state ? 'state'
    : r.version !== row.version ? 'version'
    : r.requester.issuer !== row.requester_issuer || r.requester.sub !== row.requester_sub ? 'requester'
    : r.bindingHash !== row.binding_hash ? 'binding_hash'
    : String(r.createdAt) !== String(row.created_at) ? 'created_at'
    : JSON.stringify(r.approverGroups) !== JSON.stringify(row.approver_groups) ? 'approver_groups'
    : undefined;
  if (differs !== undefined) throw refuse(`has a ${differs} column that differs from its record`);
  return r;
}

interface ChangeListenerOptions {
  readonly url: string;
  readonly channel: string;
  readonly applicationName: string;
  readonly initialMs: number;
  readonly maxMs: number;
  readonly onState: ((state: 'lost' | 'listening', error?: unknown) => void) | undefined;
  readonly onPayload: (payload: string) => void;
}

/**
 * A dedicated connection that LISTENs on the change channel. When it drops it reconnects with exponential
 * backoff and jitter; what was notified meanwhile is lost, which the service's polling covers.
 */
class ChangeListener {
  private client: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private delay: number;
  private closed = false;

  constructor(private readonly o: ChangeListenerOptions) {
    this.delay = o.initialMs;
  }

  /** The first connection: its failure is the caller's (the store does not open). */
  async start(): Promise<void> {
    this.client = await this.connect();
  }

  private async connect(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: this.o.url, application_name: this.o.applicationName });
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client));
    client.on('notification', (n) => {
      if (n.channel === this.o.channel && n.payload !== undefined) this.o.onPayload(n.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${this.o.channel}`);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    return client;
  }

  private lost(client: pg.Client, error?: unknown): void {
    if (this.closed || this.client !== client) return;
    this.client = undefined;
    client.end().catch(() => undefined);
    this.report('lost', error);
    this.schedule();
  }

  private schedule(): void {
    if (this.closed || this.timer !== undefined) return;
    const wait = Math.round(this.delay * (0.5 + Math.random() / 2));
    this.delay = Math.min(this.delay * 2, this.o.maxMs);
    this.timer = setTimeout(() => void this.reconnect(), wait);
    // A dropped listener alone does not keep the process alive.
    this.timer.unref();
  }

  private async reconnect(): Promise<void> {
    this.timer = undefined;
    if (this.closed) return;
    let client: pg.Client;
    try {
      client = await this.connect();
    } catch {
      this.schedule();
      return;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.delay = this.o.initialMs;
    this.report('listening');
  }

  private report(state: 'lost' | 'listening', error?: unknown): void {
    try {
      this.o.onState?.(state, error);
    } catch {
      // A failing observer must not stop reconnection.
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }
}
