import { randomBytes } from 'node:crypto';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { acquireFileLock } from '../file-lock.js';
import { once } from '../once.js';
import { sameIdentity, type ApprovalRecord, type ApprovalState, type Identity } from './model.js';

/**
 * Where approval requests live. A store keeps records as it is given them; it checks nothing about their
 * content (the service seals and verifies them). Its one duty beyond storage is atomicity: `insertOrJoin`
 * and `update` are each one indivisible step, so two approvers clicking at once cannot both win.
 */
export interface ApprovalStore {
  get(id: string): Promise<ApprovalRecord | undefined>;
  /** Every request still in state `pending` (expired ones included until something marks them). */
  listPending(): Promise<readonly ApprovalRecord[]>;
  /**
   * Stores `record`, unless a pending request with the same binding hash and requester exists: then
   * returns that one and stores nothing. Returns `record` when it was stored.
   */
  insertOrJoin(record: ApprovalRecord): Promise<ApprovalRecord>;
  /**
   * Compare-and-set: replaces request `id` with `next` only if its stored version is `expectedVersion`
   * and `next.version` is the one after it. False when another writer got there first.
   */
  update(id: string, expectedVersion: number, next: ApprovalRecord): Promise<boolean>;
  /** Requests matching `query`, newest first (by `createdAt`), at most `query.limit`. */
  list(query: ListQuery): Promise<readonly ApprovalRecord[]>;
  /**
   * Tells `listener` the id of every request another process changed (a store shared by replicas, such as
   * PostgreSQL with LISTEN/NOTIFY). Stores with one writer have no other process and leave it out.
   * Returns the unsubscribe function.
   */
  subscribe?(listener: (id: string) => void): () => void;
  close(): Promise<void>;
}

/** Which requests `list` returns. */
export interface ListQuery {
  /** Only these states (default: all). */
  readonly states?: readonly ApprovalState[];
  /** Only this requester's requests. */
  readonly requester?: Identity;
  /** Only requests naming at least one of these approver groups. */
  readonly approverGroups?: readonly string[];
  readonly limit: number;
}

/** Applies a list query to records in memory (the file and memory stores). */
export function selectRecords(records: Iterable<ApprovalRecord>, query: ListQuery): ApprovalRecord[] {
  const out: ApprovalRecord[] = [];
  for (const r of records) {
    if (query.states !== undefined && !query.states.includes(r.state)) continue;
    if (query.requester !== undefined && !sameIdentity(r.requester, query.requester)) continue;
    if (query.approverGroups !== undefined && !r.approverGroups.some((g) => query.approverGroups?.includes(g))) continue;
    out.push(r);
  }
  out.sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? -1 : 1));
  return out.slice(0, Math.max(0, query.limit)).map(copy);
}

/**
 * A store whose file or table cannot be used (unreadable, corrupt, foreign rows): it is never overwritten or
 * ignored, the read fails instead.
 */
export class ApprovalStoreError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ApprovalStoreError';
  }
}

/** State shared by both stores: a map of records, changed only through these two checks. */
class Records {
  constructor(readonly byId: Map<string, ApprovalRecord>) {}

  pendingTwin(record: ApprovalRecord): ApprovalRecord | undefined {
    for (const r of this.byId.values()) {
      if (r.state === 'pending' && r.bindingHash === record.bindingHash && sameIdentity(r.requester, record.requester)) return r;
    }
    return undefined;
  }

  canUpdate(id: string, expectedVersion: number, next: ApprovalRecord): boolean {
    if (next.id !== id) throw new TypeError(`approval store: update of ${id} with a record for ${next.id}`);
    if (next.version !== expectedVersion + 1) throw new TypeError(`approval store: version ${next.version} does not follow ${expectedVersion}`);
    return this.byId.get(id)?.version === expectedVersion;
  }
}

/** Copies in and out, so no caller holds a reference into the store. */
function copy(record: ApprovalRecord): ApprovalRecord {
  return structuredClone(record);
}

/** An in-memory store: tests, and a single process that may lose its requests on restart. */
export function createMemoryApprovalStore(): ApprovalStore {
  const records = new Records(new Map());
  return {
    get: (id) => Promise.resolve(records.byId.has(id) ? copy(records.byId.get(id)!) : undefined),
    listPending: () => Promise.resolve([...records.byId.values()].filter((r) => r.state === 'pending').map(copy)),
    insertOrJoin(record) {
      const twin = records.pendingTwin(record);
      if (twin !== undefined) return Promise.resolve(copy(twin));
      if (records.byId.has(record.id)) return Promise.reject(new TypeError(`approval store: duplicate id ${record.id}`));
      records.byId.set(record.id, copy(record));
      return Promise.resolve(copy(record));
    },
    update(id, expectedVersion, next) {
      if (!records.canUpdate(id, expectedVersion, next)) return Promise.resolve(false);
      records.byId.set(id, copy(next));
      return Promise.resolve(true);
    },
    list: (query) => Promise.resolve(selectRecords(records.byId.values(), query)),
    close: () => Promise.resolve(),
  };
}

const FORMAT = 'airlock-approvals/1';

/**
 * The strict shape of a stored record, shared by every backend that reads records back (the JSON file,
 * PostgreSQL): an unknown or misspelled key is refused, never carried along. Built on first use: a new
 * store has nothing to read back.
 */
export const recordSchema = once(() => {
  const identity = z.strictObject({ issuer: z.string(), sub: z.string() });
  return z.strictObject({
    id: z.string().regex(/^apr_[A-Za-z0-9_-]+$/),
    version: z.number().int().positive(),
    state: z.enum(['pending', 'approved', 'denied', 'expired', 'consumed', 'withdrawn']),
    requester: identity,
    binding: z.strictObject({
      principal: identity,
      tool: z.string(),
      resource: z.string(),
      input: z.unknown(),
      ruleIds: z.array(z.string()),
      policyVersion: z.string(),
    }),
    bindingHash: z.string().regex(/^sha256:[0-9a-f]{64}$/),
    approverGroups: z.array(z.string()).min(1),
    quorum: z.number().int().positive(),
    justification: z.string().optional(),
    details: z
      .strictObject({
        requester: z.strictObject({ email: z.string().optional(), groups: z.array(z.string()) }),
        reason: z.string(),
        facts: z.record(z.string(), z.unknown()).optional(),
      })
      .optional(),
    createdAt: z.number().int(),
    expiresAt: z.number().int(),
    decisions: z.array(
      z.strictObject({
        approver: z.strictObject({ issuer: z.string(), sub: z.string(), email: z.string().optional(), groups: z.array(z.string()) }),
        verdict: z.enum(['approve', 'deny']),
        reason: z.string().optional(),
        at: z.number().int(),
      }),
    ),
    decidedAt: z.number().int().optional(),
    executeBy: z.number().int().optional(),
    consumedAt: z.number().int().optional(),
    expiredIn: z.enum(['decision', 'execution']).optional(),
    withdrawnAt: z.number().int().optional(),
    mac: z.string(),
  });
});
const fileSchema = once(() => z.strictObject({ format: z.literal(FORMAT), requests: z.array(recordSchema()) }));

export interface JsonApprovalStoreOptions {
  /** fsync each write: survives power loss, not only a crash (default false). */
  readonly fsync?: boolean;
  /**
   * How long a finished request (denied, expired, consumed, withdrawn) stays in the file after it ended
   * (default 30 days). Pending requests and unused grants are always kept.
   */
  readonly keepFinishedMs?: number;
  /** The store's clock (tests). */
  readonly now?: () => number;
}

/** The default of {@link JsonApprovalStoreOptions.keepFinishedMs}: 30 days. */
export const KEEP_FINISHED_MS = 30 * 86_400_000;

/** When a finished request ended: its last recorded instant (an expiry at its deadline). */
function endedAt(record: ApprovalRecord): number {
  const deadline = record.state === 'expired' ? (record.expiredIn === 'execution' ? record.executeBy : record.expiresAt) : undefined;
  return Math.max(record.createdAt, record.decidedAt ?? 0, record.consumedAt ?? 0, record.withdrawnAt ?? 0, deadline ?? 0);
}

/**
 * The records a write keeps: every request still open (pending, or approved and not yet used), and finished
 * ones that ended within `keepMs`. The file is rewritten whole on every change, so without this it would grow
 * with every request ever made, and each change cost more; the audit keeps each request's events for good.
 */
function retained(records: Map<string, ApprovalRecord>, keepMs: number, now: number): Map<string, ApprovalRecord> {
  const cutoff = now - keepMs;
  for (const [id, r] of records) if (r.state !== 'pending' && r.state !== 'approved' && endedAt(r) < cutoff) records.delete(id);
  return records;
}

/**
 * The JSON-file store (the default backend): one file, `0600`, rewritten whole on every change through a
 * temporary file and a rename, so a crash leaves the old or the new file and never half of one. A lock file
 * (`<path>.lock`) keeps other processes out: one writer. A file that is not valid JSON or not in the expected
 * shape is refused with an ApprovalStoreError naming the file and the problem; it is never overwritten. A new
 * store over the same file after a restart sees every pending request, decision and unused grant.
 *
 * Each change is checked and written in one synchronous step (as the audit journal writes), so changes are
 * indivisible without a queue and two approvers clicking at once cannot both win. An asynchronous write would
 * take four trips through a busy event loop (open, write, close, rename), and every change and read queued
 * behind it: under load that cost a decision seconds. Memory follows the file only once the file holds the
 * change: a failed write changes nothing. Each write also drops finished requests older than
 * `keepFinishedMs` (the audit keeps their events).
 */
export function openJsonApprovalStore(path: string, options: JsonApprovalStoreOptions = {}): ApprovalStore {
  const release = acquireStoreLock(`${path}.lock`);
  let records: Records;
  try {
    records = new Records(readStore(path));
  } catch (error) {
    release();
    throw error;
  }
  let closed = false;
  /** Runs one step of the store; a closed store refuses it, a throw rejects. */
  const step = <T>(body: () => T): Promise<T> => {
    try {
      if (closed) throw new ApprovalStoreError(`approval store ${path} is closed`);
      return Promise.resolve(body());
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  };
  const keepMs = options.keepFinishedMs ?? KEEP_FINISHED_MS;
  const now = options.now ?? Date.now;
  const persist = (changed: Map<string, ApprovalRecord>): void => {
    const next = retained(changed, keepMs, now());
    const text = `${JSON.stringify({ format: FORMAT, requests: [...next.values()] }, null, 1)}\n`;
    const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      writeFileSync(tmp, text, { mode: 0o600, flush: options.fsync ?? false });
      renameSync(tmp, path);
    } catch (error) {
      rmSync(tmp, { force: true });
      throw error;
    }
    records = new Records(next);
  };
  return {
    get: (id) => step(() => (records.byId.has(id) ? copy(records.byId.get(id)!) : undefined)),
    listPending: () => step(() => [...records.byId.values()].filter((r) => r.state === 'pending').map(copy)),
    insertOrJoin: (record) =>
      step(() => {
        const twin = records.pendingTwin(record);
        if (twin !== undefined) return copy(twin);
        if (records.byId.has(record.id)) throw new TypeError(`approval store: duplicate id ${record.id}`);
        persist(new Map(records.byId).set(record.id, copy(record)));
        return copy(record);
      }),
    update: (id, expectedVersion, next) =>
      step(() => {
        if (!records.canUpdate(id, expectedVersion, next)) return false;
        persist(new Map(records.byId).set(id, copy(next)));
        return true;
      }),
    list: (query) => step(() => selectRecords(records.byId.values(), query)),
    close: () => {
      if (!closed) release();
      closed = true;
      return Promise.resolve();
    },
  };
}

function readStore(path: string): Map<string, ApprovalRecord> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw new ApprovalStoreError(`approval store ${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`, { cause: error });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ApprovalStoreError(
      `approval store ${path} is not valid JSON (${(error as Error).message}); airlock will not use or overwrite it: restore it from a backup or move it away`,
      { cause: error },
    );
  }
  const parsed = fileSchema().safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const at = issue === undefined ? '' : `${issue.path.join('.') || '(file)'}: ${issue.message}`;
    throw new ApprovalStoreError(
      `approval store ${path} is not an airlock approvals file (${at}); airlock will not use or overwrite it: restore it from a backup or move it away`,
    );
  }
  const byId = new Map<string, ApprovalRecord>();
  for (const r of parsed.data.requests) {
    if (byId.has(r.id)) throw new ApprovalStoreError(`approval store ${path} holds request ${r.id} twice; airlock will not use or overwrite it`);
    byId.set(r.id, r);
  }
  return byId;
}

/** One writer per file (see `acquireFileLock`). */
function acquireStoreLock(path: string): () => void {
  return acquireFileLock(path, (held) => {
    const who = held === undefined ? 'an unreadable lock' : `process ${held.pid} on ${held.host}`;
    return new ApprovalStoreError(`approval store ${path.slice(0, -'.lock'.length)} is in use by ${who} (lock ${path}); one airlock process writes one approvals file`);
  });
}
