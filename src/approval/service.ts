import { randomBytes } from 'node:crypto';
import { hashBinding, type BoundCall, type CallBinding } from './binding.js';
import {
  ApprovalExpiredError,
  ApprovalForbiddenError,
  ApprovalInvalidError,
  ApprovalMismatchError,
  ApprovalNotFoundError,
  ApprovalPendingError,
  ApprovalUsedError,
  ApprovalWithdrawnError,
  finalStateError,
} from './errors.js';
import { integrityProblem, sameIdentity, seal, type ApprovalEvent, type ApprovalRecord, type Approver, type Identity, type UnsealedRecord, type Verdict } from './model.js';
import type { ApprovalStore } from './store.js';
import type { ApprovalState, RequestDetails } from './model.js';

export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
}

export interface ApprovalServiceOptions {
  readonly store: ApprovalStore;
  readonly clock: Clock;
  /**
   * HMAC key (at least 32 bytes) sealing every record the service writes. Records that fail it are never
   * used, so whoever can write the store but does not hold the key cannot forge a decision.
   */
  readonly key: Uint8Array;
  /** How long an approved grant may wait to be used (default 10 minutes). */
  readonly executionWindowMs?: number;
  /** Records every event as it happens (e.g. in the audit); awaited before the step returns. Must not reject. */
  readonly onEvent?: (event: ApprovalEvent) => void | Promise<void>;
}

export interface RequestOptions {
  readonly approverGroups: readonly string[];
  readonly quorum?: number;
  /** How long approvers have to decide. */
  readonly timeoutSeconds: number;
  readonly justification?: string;
  /** Shown to approvers (sealed with the record, not part of the binding). */
  readonly details?: RequestDetails;
}

/** A request as it is now, and what this step did to it. */
export interface ApprovalResult {
  readonly request: ApprovalRecord;
  readonly events: readonly ApprovalEvent[];
}

export interface ApprovalService {
  /** Opens a request for the bound call, or joins the caller's pending one for the same call. */
  request(call: BoundCall, options: RequestOptions): Promise<ApprovalResult>;
  /** Records an approver's verdict. Throws a typed error when the approver or the moment is wrong. */
  decide(requestId: string, approver: Approver, verdict: Verdict, reason?: string): Promise<ApprovalResult>;
  /** The requester's own request (anyone else: APPROVAL_NOT_FOUND), marked expired once its time is up. */
  status(requestId: string, requester: Identity): Promise<ApprovalResult>;
  /** Uses an approved grant for exactly the call it binds, once. Returns the consumed request. */
  consume(requestId: string, requester: Identity, call: BoundCall | CallBinding): Promise<ApprovalResult>;
  /** Marks every pending request past its deadline expired. */
  expireDue(): Promise<readonly ApprovalEvent[]>;
  /** The requester withdraws a pending request (its waiting call was cancelled). */
  withdraw(requestId: string, requester: Identity): Promise<ApprovalResult>;
  /**
   * Requests an approver may see: those naming one of the approver's groups, and the approver's own
   * (which they can see but never decide). Newest first.
   */
  listFor(viewer: Approver, query?: { readonly states?: readonly ApprovalState[]; readonly limit?: number }): Promise<readonly ApprovalRecord[]>;
  /** One request as `listFor` would show it to `viewer`; anyone else: APPROVAL_NOT_FOUND. */
  view(requestId: string, viewer: Approver): Promise<ApprovalRecord>;
  /** The requester's own requests, newest first. */
  mine(requester: Identity, query?: { readonly states?: readonly ApprovalState[]; readonly limit?: number }): Promise<readonly ApprovalRecord[]>;
  /** A request as stored, checked (MAC and invariants), with no visibility rule: for airlock's own use (notifications). */
  record(requestId: string): Promise<ApprovalRecord>;
  /** Sees every event of this service as it happens, and the ids other processes changed. Returns unsubscribe. */
  subscribe(listener: (change: { readonly requestId: string; readonly event?: ApprovalEvent }) => void): () => void;
}

const DEFAULT_EXECUTION_WINDOW_MS = 10 * 60_000;
const MAX_TIMEOUT_SECONDS = 7 * 24 * 3600;
/** Each lost compare-and-set means another writer made progress; this only bounds a broken store. */
const MAX_ATTEMPTS = 64;

/**
 * The approval service: the rules of who may decide what, and when a grant may run. Every read is checked
 * (MAC and invariants), every write is a compare-and-set on the record's version, so concurrent decisions
 * are serialised by the store and each is recorded once or refused.
 */
export function createApprovalService(options: ApprovalServiceOptions): ApprovalService {
  const { store, clock, key, onEvent } = options;
  if (!(key instanceof Uint8Array) || key.length < 32) throw new TypeError('createApprovalService: key must be at least 32 bytes');
  const executionWindowMs = options.executionWindowMs ?? DEFAULT_EXECUTION_WINDOW_MS;
  if (!Number.isInteger(executionWindowMs) || executionWindowMs <= 0) throw new TypeError('createApprovalService: executionWindowMs must be a positive integer');
  const sealKey = Uint8Array.from(key);

  const iso = (ms: number): string => new Date(ms).toISOString();
  const listeners = new Set<(change: { readonly requestId: string; readonly event?: ApprovalEvent }) => void>();
  const tell = (change: { readonly requestId: string; readonly event?: ApprovalEvent }): void => {
    for (const listener of [...listeners]) {
      try {
        listener(change);
      } catch {
        // A listener's failure is its own; the others and the service go on.
      }
    }
  };
  /** Each event is recorded (awaited: the caller answers only after its audit) and then told to listeners. */
  const emit = async (events: ApprovalEvent[]): Promise<ApprovalEvent[]> => {
    for (const e of events) {
      await onEvent?.(e);
      tell({ requestId: e.requestId, event: e });
    }
    return events;
  };
  // Changes made by other processes of a shared store wake waiters here too.
  const unsubscribeStore = store.subscribe?.((requestId) => tell({ requestId }));
  void unsubscribeStore;
  const MAX_LIST = 500;
  const limitOf = (limit: number | undefined): number => Math.min(MAX_LIST, Math.max(1, Math.trunc(limit ?? 100)));
  const sealed = (records: readonly ApprovalRecord[]): ApprovalRecord[] => records.filter((r) => integrityProblem(r, sealKey) === undefined);
  const visibleTo = (record: ApprovalRecord, viewer: Approver): boolean =>
    sameIdentity(record.requester, viewer) || viewer.groups.some((g) => record.approverGroups.includes(g));

  async function load(id: string): Promise<ApprovalRecord> {
    const record = typeof id === 'string' && id.startsWith('apr_') ? await store.get(id) : undefined;
    if (record === undefined) throw new ApprovalNotFoundError(String(id));
    const problem = integrityProblem(record, sealKey);
    if (problem !== undefined) throw new ApprovalInvalidError(id, { detail: `approval request ${id} rejected: ${problem}` });
    return record;
  }

  /** Seals `next` as the version after `record` and writes it; false when another writer changed it first. */
  function write(record: ApprovalRecord, next: Omit<UnsealedRecord, 'version'>): Promise<boolean> {
    return store.update(record.id, record.version, seal({ ...next, version: record.version + 1 }, sealKey));
  }

  /** The unsealed copy of a record (to derive the next one from). */
  function open(record: ApprovalRecord): Omit<UnsealedRecord, 'version'> {
    const { mac, version, ...rest } = record;
    void mac;
    void version;
    return rest;
  }

  function expiredEvent(record: ApprovalRecord, phase: 'decision' | 'execution', now: number): ApprovalEvent {
    return { type: 'expired', requestId: record.id, at: iso(now), bindingHash: record.bindingHash, phase };
  }

  /**
   * Marks `record` expired if its time is up; returns the event, or undefined when it is still live. Loses
   * gracefully to a concurrent writer (the caller re-reads).
   */
  async function expireIfDue(record: ApprovalRecord, now: number): Promise<ApprovalEvent | 'raced' | undefined> {
    const phase = record.state === 'pending' && now >= record.expiresAt ? 'decision' : record.state === 'approved' && record.executeBy !== undefined && now >= record.executeBy ? 'execution' : undefined;
    if (phase === undefined) return undefined;
    if (!(await write(record, { ...open(record), state: 'expired', expiredIn: phase }))) return 'raced';
    return expiredEvent(record, phase, now);
  }

  function boundOf(call: BoundCall | CallBinding): string {
    return 'bindingHash' in call ? hashBinding(call.binding) : hashBinding(call);
  }

  return {
    async request(call, opts) {
      const groups = [...new Set(opts.approverGroups)];
      if (groups.length === 0 || groups.some((g) => typeof g !== 'string' || g === '')) throw new TypeError('request: approverGroups must name at least one group');
      const quorum = opts.quorum ?? 1;
      if (!Number.isInteger(quorum) || quorum < 1) throw new TypeError('request: quorum must be a positive integer');
      if (!Number.isInteger(opts.timeoutSeconds) || opts.timeoutSeconds < 1 || opts.timeoutSeconds > MAX_TIMEOUT_SECONDS) {
        throw new TypeError(`request: timeoutSeconds must be an integer from 1 to ${MAX_TIMEOUT_SECONDS}`);
      }
      // The hash is recomputed, never taken from the caller: a request is bound to what it holds.
      const bindingHash = hashBinding(call.binding);
      const requester: Identity = { issuer: call.binding.principal.issuer, sub: call.binding.principal.sub };
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const now = clock.now();
        const fresh = seal(
          {
            id: `apr_${randomBytes(16).toString('base64url')}`,
            version: 1,
            state: 'pending',
            requester,
            binding: call.binding,
            bindingHash,
            approverGroups: groups,
            quorum,
            ...(opts.justification === undefined ? {} : { justification: opts.justification }),
            ...(opts.details === undefined ? {} : { details: opts.details }),
            createdAt: now,
            expiresAt: now + opts.timeoutSeconds * 1000,
            decisions: [],
          },
          sealKey,
        );
        const stored = await store.insertOrJoin(fresh);
        if (stored.id === fresh.id) {
          const event: ApprovalEvent = { type: 'requested', requestId: fresh.id, at: iso(now), bindingHash, requester, approverGroups: groups, quorum, expiresAt: iso(fresh.expiresAt) };
          return { request: fresh, events: await emit([event]) };
        }
        const twin = await load(stored.id);
        const expired = await expireIfDue(twin, now);
        if (expired === undefined) {
          return { request: twin, events: await emit([{ type: 'joined', requestId: twin.id, at: iso(now), bindingHash, requester }]) };
        }
        // The twin ran out of time: record that, then open a new request on the next pass.
        if (expired !== 'raced') await emit([expired]);
      }
      throw new Error('approval store: request did not settle');
    },

    async decide(requestId, approver, verdict, reason) {
      if (verdict !== 'approve' && verdict !== 'deny') throw new TypeError('decide: verdict must be approve or deny');
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const record = await load(requestId);
        const now = clock.now();
        // Who decides is checked before anything about the request's state is revealed.
        if (sameIdentity(approver, record.requester)) throw new ApprovalForbiddenError(record.id, 'own_request');
        if (!approver.groups.some((g) => record.approverGroups.includes(g))) throw new ApprovalForbiddenError(record.id, 'not_an_approver');
        if (record.state === 'expired') throw new ApprovalExpiredError(record.id);
        if (record.state === 'withdrawn') throw new ApprovalWithdrawnError(record.id);
        if (record.state !== 'pending') throw new ApprovalUsedError(record.id, 'decision');
        const expired = await expireIfDue(record, now);
        if (expired === 'raced') continue;
        if (expired !== undefined) {
          await emit([expired]);
          throw new ApprovalExpiredError(record.id);
        }
        if (record.decisions.some((d) => sameIdentity(d.approver, approver))) throw new ApprovalForbiddenError(record.id, 'already_decided');
        const who = { issuer: approver.issuer, sub: approver.sub, ...(approver.email === undefined ? {} : { email: approver.email }) };
        const decision = { approver: { ...who, groups: [...approver.groups] }, verdict, ...(reason === undefined ? {} : { reason }), at: now };
        const decisions = [...record.decisions, decision];
        const approvals = decisions.filter((d) => d.verdict === 'approve').length;
        const base = open(record);
        let next: Omit<UnsealedRecord, 'version'>;
        let event: ApprovalEvent;
        if (verdict === 'deny') {
          next = { ...base, decisions, state: 'denied', decidedAt: now };
          event = { type: 'denied', requestId: record.id, at: iso(now), bindingHash: record.bindingHash, approver: who, ...(reason === undefined ? {} : { reason }) };
        } else {
          const granted = approvals >= record.quorum;
          next = granted ? { ...base, decisions, state: 'approved', decidedAt: now, executeBy: now + executionWindowMs } : { ...base, decisions };
          event = {
            type: 'approved',
            requestId: record.id,
            at: iso(now),
            bindingHash: record.bindingHash,
            approver: who,
            ...(reason === undefined ? {} : { reason }),
            approvals,
            quorum: record.quorum,
            granted,
            ...(granted ? { executeBy: iso(now + executionWindowMs) } : {}),
          };
        }
        if (!(await write(record, next))) continue;
        return { request: await load(record.id), events: await emit([event]) };
      }
      throw new Error('approval store: decision did not settle');
    },

    async status(requestId, requester) {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const record = await load(requestId).catch((error: unknown) => {
          // Someone else's request, even a damaged one, is simply not there for this caller.
          if (error instanceof ApprovalInvalidError) throw new ApprovalNotFoundError(requestId, { detail: error.message });
          throw error;
        });
        if (!sameIdentity(record.requester, requester)) throw new ApprovalNotFoundError(requestId);
        const expired = await expireIfDue(record, clock.now());
        if (expired === 'raced') continue;
        if (expired === undefined) return { request: record, events: [] };
        return { request: await load(record.id), events: await emit([expired]) };
      }
      throw new Error('approval store: status did not settle');
    },

    async consume(requestId, requester, call) {
      const hash = boundOf(call);
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const record = await load(requestId);
        if (!sameIdentity(record.requester, requester)) throw new ApprovalNotFoundError(requestId);
        const now = clock.now();
        const refusal = finalStateError(record);
        if (refusal !== undefined) throw refusal;
        if (record.state === 'pending') {
          const expired = await expireIfDue(record, now);
          if (expired === 'raced') continue;
          if (expired !== undefined) {
            await emit([expired]);
            throw new ApprovalExpiredError(record.id);
          }
          throw new ApprovalPendingError(record.id);
        }
        const expired = await expireIfDue(record, now);
        if (expired === 'raced') continue;
        if (expired !== undefined) {
          await emit([expired]);
          throw new ApprovalExpiredError(record.id);
        }
        if (hash !== record.bindingHash) {
          throw new ApprovalMismatchError(record.id, { detail: `binding ${hash} differs from the approved ${record.bindingHash}` });
        }
        if (!(await write(record, { ...open(record), state: 'consumed', consumedAt: now }))) continue;
        const event: ApprovalEvent = { type: 'consumed', requestId: record.id, at: iso(now), bindingHash: record.bindingHash, requester: { issuer: requester.issuer, sub: requester.sub } };
        return { request: await load(record.id), events: await emit([event]) };
      }
      throw new Error('approval store: consume did not settle');
    },

    async expireDue() {
      const now = clock.now();
      const events: ApprovalEvent[] = [];
      for (const pending of await store.listPending()) {
        if (integrityProblem(pending, sealKey) !== undefined) continue;
        const event = await expireIfDue(pending, now);
        if (event !== undefined && event !== 'raced') events.push(event);
      }
      return emit(events);
    },

    async withdraw(requestId, requester) {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const record = await load(requestId);
        if (!sameIdentity(record.requester, requester)) throw new ApprovalNotFoundError(requestId);
        // Only an undecided request can be withdrawn; a decision already made stands as recorded.
        if (record.state !== 'pending') return { request: record, events: [] };
        const now = clock.now();
        if (!(await write(record, { ...open(record), state: 'withdrawn', withdrawnAt: now }))) continue;
        const event: ApprovalEvent = { type: 'withdrawn', requestId: record.id, at: iso(now), bindingHash: record.bindingHash, requester: { issuer: requester.issuer, sub: requester.sub } };
        return { request: await load(record.id), events: await emit([event]) };
      }
      throw new Error('approval store: withdraw did not settle');
    },

    async listFor(viewer, query = {}) {
      const limit = limitOf(query.limit);
      const [theirs, own] = await Promise.all([
        store.list({ ...(query.states === undefined ? {} : { states: query.states }), approverGroups: viewer.groups, limit }),
        store.list({ ...(query.states === undefined ? {} : { states: query.states }), requester: viewer, limit }),
      ]);
      const byId = new Map<string, ApprovalRecord>();
      for (const r of [...theirs, ...own]) byId.set(r.id, r);
      return sealed([...byId.values()].sort((a, b) => b.createdAt - a.createdAt)).slice(0, limit);
    },

    async view(requestId, viewer) {
      const record = await load(requestId).catch((error: unknown) => {
        if (error instanceof ApprovalInvalidError) throw new ApprovalNotFoundError(requestId, { detail: error.message });
        throw error;
      });
      if (!visibleTo(record, viewer)) throw new ApprovalNotFoundError(requestId);
      const expired = await expireIfDue(record, clock.now());
      if (expired === undefined || expired === 'raced') return expired === 'raced' ? load(record.id) : record;
      await emit([expired]);
      return load(record.id);
    },

    async mine(requester, query = {}) {
      return sealed(await store.list({ ...(query.states === undefined ? {} : { states: query.states }), requester, limit: limitOf(query.limit) }));
    },

    record: (requestId) => load(requestId),

    subscribe(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
  };
}
