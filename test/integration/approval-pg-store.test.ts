import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { bindCall, type BindingInput } from '../../src/approval/binding.js';
import type { ApprovalRecord, Approver } from '../../src/approval/model.js';
import { openPgApprovalStore, type PgApprovalStoreOptions } from '../../src/approval/pg-store.js';
import { createApprovalService, type ApprovalService } from '../../src/approval/service.js';
import { ApprovalStoreError, createMemoryApprovalStore, type ApprovalStore, type ListQuery } from '../../src/approval/store.js';
import { AirlockError } from '../../src/errors.js';

const ISSUER = 'https://issuer.test';
const KEY = new Uint8Array(32).fill(7);
const ana = { issuer: ISSUER, sub: 'ana' };
const dba = (sub: string): Approver => ({ issuer: ISSUER, sub, groups: ['dba'] });
const call = (sql: string, input: Record<string, unknown> = {}): BindingInput => ({
  principal: ana,
  tool: 'query_sql',
  resource: 'shop',
  input: { connection: 'shop', sql, params: [1], ...input },
  ruleIds: ['w'],
  policyVersion: 'sha256:v1',
});
const clock = { now: () => Date.UTC(2026, 11, 6, 12) };
const opts = { approverGroups: ['dba'], timeoutSeconds: 600 };

const url = (): string => inject('adminUrl');
const newTable = (): string => `approvals_${randomBytes(5).toString('hex')}`;

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof AirlockError) return error.code;
    throw error;
  }
  return 'resolved';
}

/** Opens `n` stores on one table (the replicas), runs `body`, and closes them all whatever happens. */
async function withStores<T>(table: string, n: number, body: (stores: ApprovalStore[]) => Promise<T>, extra: Partial<PgApprovalStoreOptions> = {}): Promise<T> {
  const stores: ApprovalStore[] = [];
  try {
    for (let i = 0; i < n; i++) stores.push(await openPgApprovalStore({ url: url(), table, ...extra }));
    return await body(stores);
  } finally {
    await Promise.all(stores.map((s) => s.close()));
  }
}

const serviceOf = (store: ApprovalStore): ApprovalService => createApprovalService({ store, clock, key: KEY });

/** Runs `body` with an admin connection to the test server, closed whatever happens. */
async function withSql<T>(body: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url() });
  await client.connect();
  try {
    return await body(client);
  } finally {
    await client.end();
  }
}

describe('openPgApprovalStore (issue 17)', () => {
  it('creates its table and keeps pending requests, decisions and unused grants across a restart', async () => {
    const table = newTable();
    const ids = await withStores(table, 1, async ([store]) => {
      const service = serviceOf(store!);
      const pending = (await service.request(bindCall(call('UPDATE a SET x = 1')), { ...opts, quorum: 2 })).request.id;
      await service.decide(pending, dba('bob'), 'approve', 'ok by me');
      const granted = (await service.request(bindCall(call('UPDATE b SET x = 1')), opts)).request.id;
      await service.decide(granted, dba('bob'), 'approve');
      const denied = (await service.request(bindCall(call('UPDATE c SET x = 1')), opts)).request.id;
      await service.decide(denied, dba('bob'), 'deny', 'no');
      return { pending, granted, denied };
    });
    const columns = await withSql(async (sql) => (await sql.query<{ column_name: string; data_type: string }>(`SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position`, [table])).rows);
    expect(columns).toEqual([
      { column_name: 'id', data_type: 'text' },
      { column_name: 'state', data_type: 'text' },
      { column_name: 'requester_issuer', data_type: 'text' },
      { column_name: 'requester_sub', data_type: 'text' },
      { column_name: 'binding_hash', data_type: 'text' },
      { column_name: 'approver_groups', data_type: 'ARRAY' },
      { column_name: 'created_at', data_type: 'bigint' },
      { column_name: 'version', data_type: 'integer' },
      { column_name: 'record', data_type: 'text' },
    ]);
    await withStores(table, 1, async ([store]) => {
      const service = serviceOf(store!);
      expect((await store!.listPending()).map((r) => r.id)).toEqual([ids.pending]);
      const joined = await service.request(bindCall(call('UPDATE a SET x = 1')), { ...opts, quorum: 2 });
      expect(joined.events.map((e) => e.type)).toEqual(['joined']);
      expect(joined.request.id).toBe(ids.pending);
      expect(joined.request.decisions).toMatchObject([{ approver: { sub: 'bob' }, verdict: 'approve', reason: 'ok by me' }]);
      expect(await codeOf(service.decide(ids.pending, dba('bob'), 'approve'))).toBe('APPROVAL_FORBIDDEN');
      expect((await service.decide(ids.pending, dba('carol'), 'approve')).request.state).toBe('approved');
      expect((await service.consume(ids.granted, ana, bindCall(call('UPDATE b SET x = 1')))).request.state).toBe('consumed');
      expect(await codeOf(service.consume(ids.denied, ana, bindCall(call('UPDATE c SET x = 1'))))).toBe('APPROVAL_DENIED');
    });
    // The grant used after the first restart stays used after a second one.
    await withStores(table, 1, async ([store]) => {
      const service = serviceOf(store!);
      expect(await codeOf(service.consume(ids.granted, ana, bindCall(call('UPDATE b SET x = 1'))))).toBe('APPROVAL_USED');
      expect((await service.status(ids.pending, ana)).request.state).toBe('approved');
      expect((await service.consume(ids.pending, ana, bindCall(call('UPDATE a SET x = 1')))).request.state).toBe('consumed');
    });
    const rows = await withSql(async (sql) => (await sql.query<{ id: string; state: string; version: number }>(`SELECT id, state, version FROM ${table} ORDER BY id`)).rows);
    expect(rows.map((r) => [r.id, r.state, r.version]).sort()).toEqual(
      [
        [ids.pending, 'consumed', 4],
        [ids.granted, 'consumed', 3],
        [ids.denied, 'denied', 2],
      ].sort(),
    );
  });

  it('reads every record back exactly as it was sealed: NUL, lone surrogates, large and fractional numbers, odd keys', async () => {
    const table = newTable();
    const odd = JSON.parse('{"__proto__": {"x": 1}, "z": 0.30000000000000004, "a": 1e21, "big": 9007199254740991, "neg": -1.5e-7}') as Record<string, unknown>;
    const input = { nul: 'a\u0000b', surrogate: '\ud800 and \udfff', emoji: '😀', odd, nested: [[], {}, null, true, '1', 1] };
    const bound = bindCall(call("UPDATE t SET note = E'\\\\x00' WHERE id = 1", input));
    const id = await withStores(table, 1, async ([store]) => (await serviceOf(store!).request(bound, { ...opts, justification: 'fix\u0000it', details: { requester: { groups: ['analysts'] }, reason: 'writes need a DBA', facts: { rows: 12.5 } } })).request.id);
    await withStores(table, 1, async ([store]) => {
      const service = serviceOf(store!);
      const stored = (await store!.get(id))!;
      expect(stored.binding.input).toEqual(bound.binding.input);
      expect(JSON.stringify(stored.binding.input)).toBe(JSON.stringify(bound.binding.input));
      expect(stored.justification).toBe('fix\u0000it');
      // The MAC verifies after the round trip: the approver can decide, the agent can collect.
      expect((await service.decide(id, dba('bob'), 'approve')).request.state).toBe('approved');
      expect((await service.consume(id, ana, bound)).request.state).toBe('consumed');
    });
  });

  it('records concurrent decisions once on one store: quorum 2 of five approvers clicking at once', async () => {
    await withStores(newTable(), 1, async ([store]) => {
      const service = serviceOf(store!);
      const { request } = await service.request(bindCall(call('DELETE FROM t')), { ...opts, quorum: 2 });
      const outcomes = await Promise.all(['b1', 'b2', 'b3', 'b4', 'b5'].map((s) => codeOf(service.decide(request.id, dba(s), 'approve'))));
      expect(outcomes.filter((o) => o === 'resolved')).toHaveLength(2);
      expect(outcomes.filter((o) => o === 'APPROVAL_USED')).toHaveLength(3);
      expect(await store!.get(request.id)).toMatchObject({ state: 'approved', version: 3, decisions: [{ verdict: 'approve' }, { verdict: 'approve' }] });
    });
  });

  it('two replicas deciding the same request at the same moment record exactly one decision', async () => {
    await withStores(newTable(), 2, async ([a, b]) => {
      const [sa, sb] = [serviceOf(a!), serviceOf(b!)];
      for (let i = 0; i < 10; i++) {
        const { request } = await sa.request(bindCall(call(`DELETE FROM t WHERE id = ${i}`)), opts);
        // Approve against approve, and approve against deny: whichever commits first is the decision.
        const verdictB = i % 2 === 0 ? 'approve' : 'deny';
        const outcomes = await Promise.all([codeOf(sa.decide(request.id, dba('bob'), 'approve')), codeOf(sb.decide(request.id, dba('carol'), verdictB))]);
        expect(outcomes.filter((o) => o === 'resolved'), String(outcomes)).toHaveLength(1);
        expect(outcomes.filter((o) => o === 'APPROVAL_USED'), String(outcomes)).toHaveLength(1);
        const stored = (await b!.get(request.id))!;
        expect(stored.version).toBe(2);
        expect(stored.decisions).toHaveLength(1);
        const winner = outcomes[0] === 'resolved' ? { sub: 'bob', state: 'approved' } : { sub: 'carol', state: verdictB === 'approve' ? 'approved' : 'denied' };
        expect(stored).toMatchObject({ state: winner.state, decisions: [{ approver: { sub: winner.sub } }] });
      }
    });
  });

  it('two replicas with quorum 2 and one approver each approve once, with both decisions counted once', async () => {
    await withStores(newTable(), 2, async ([a, b]) => {
      const [sa, sb] = [serviceOf(a!), serviceOf(b!)];
      for (let i = 0; i < 10; i++) {
        const { request } = await sa.request(bindCall(call(`UPDATE t SET x = ${i}`)), { ...opts, quorum: 2 });
        const results = await Promise.all([sa.decide(request.id, dba('bob'), 'approve'), sb.decide(request.id, dba('carol'), 'approve')]);
        // Exactly one of the two decisions completed the quorum.
        expect(results.map((r) => r.events[0]).filter((e) => e?.type === 'approved' && e.granted)).toHaveLength(1);
        const stored = (await a!.get(request.id))!;
        expect(stored).toMatchObject({ state: 'approved', version: 3 });
        expect(stored.decisions.map((d) => d.approver.sub).sort()).toEqual(['bob', 'carol']);
        expect((await sb.consume(request.id, ana, bindCall(call(`UPDATE t SET x = ${i}`)))).request.state).toBe('consumed');
        expect(await codeOf(sa.consume(request.id, ana, bindCall(call(`UPDATE t SET x = ${i}`))))).toBe('APPROVAL_USED');
      }
    });
  });

  it('simultaneous identical requests on two replicas open one request; the other joins it', async () => {
    const table = newTable();
    await withStores(table, 2, async ([a, b]) => {
      const [sa, sb] = [serviceOf(a!), serviceOf(b!)];
      for (let i = 0; i < 10; i++) {
        const bound = bindCall(call(`INSERT INTO t VALUES (${i})`));
        const [ra, rb] = await Promise.all([sa.request(bound, opts), sb.request(bound, opts)]);
        expect(ra.request.id).toBe(rb.request.id);
        expect([ra.events[0]?.type, rb.events[0]?.type].sort()).toEqual(['joined', 'requested']);
      }
      // Once decided, the same call opens a fresh request.
      const bound = bindCall(call('INSERT INTO t VALUES (0)'));
      const first = (await sa.request(bound, opts)).request;
      await sb.decide(first.id, dba('bob'), 'deny');
      const again = await sb.request(bound, opts);
      expect(again.events.map((e) => e.type)).toEqual(['requested']);
      expect(again.request.id).not.toBe(first.id);
    });
    const counts = await withSql(async (sql) => (await sql.query<{ state: string; n: number }>(`SELECT state, count(*)::int AS n FROM ${table} GROUP BY state ORDER BY state`)).rows);
    expect(counts).toEqual([
      { state: 'denied', n: 1 },
      { state: 'pending', n: 10 },
    ]);
  });

  it("wakes a call waiting on replica B when replica A records a decision (LISTEN/NOTIFY), and tells a store only of other replicas' changes", async () => {
    await withStores(newTable(), 2, async ([a, b]) => {
      const heard: { a: string[]; b: string[] } = { a: [], b: [] };
      a!.subscribe!((id) => heard.a.push(id));
      b!.subscribe!((id) => heard.b.push(id));
      const [sa, sb] = [serviceOf(a!), serviceOf(b!)];
      const { request } = await sb.request(bindCall(call('DELETE FROM t WHERE id = 7')), opts);
      const stop = new AbortController();
      try {
        // A wait far longer than the test may take: it can only end through the change.
        const waiting = changeOf(sb, request.id, stop.signal);
        await sa.decide(request.id, dba('bob'), 'approve');
        await waiting;
        expect(stop.signal.aborted).toBe(false);
        expect((await sb.status(request.id, ana)).request.state).toBe('approved');
      } finally {
        stop.abort();
      }
      // Notifications come in commit order: once A hears B's later write, it would have heard its own.
      const other = (await sb.request(bindCall(call('DELETE FROM t WHERE id = 8')), opts)).request.id;
      await until(() => heard.a.includes(other));
      expect(heard.a).toEqual([request.id, other]);
      expect(heard.b).toEqual([request.id]);
    });
  });

  it('notifies only once the write is committed: a replica reading the id it heard always finds the change', async () => {
    await withStores(newTable(), 2, async ([a, b]) => {
      const reads: Promise<string>[] = [];
      b!.subscribe!((id) => reads.push(b!.get(id).then((r) => `${id} ${r?.state ?? 'missing'} v${r?.version ?? 0}`)));
      const sa = serviceOf(a!);
      const expected: string[] = [];
      for (let i = 0; i < 5; i++) {
        const { request } = await sa.request(bindCall(call(`UPDATE t SET n = ${i}`)), opts);
        await until(() => reads.length === expected.length + 1);
        // The read finishes before the next write, so it can only show this write.
        await reads.at(-1);
        expected.push(`${request.id} pending v1`);
        await sa.decide(request.id, dba('bob'), 'approve');
        await until(() => reads.length === expected.length + 1);
        await reads.at(-1);
        expected.push(`${request.id} approved v2`);
      }
      expect(await Promise.all(reads)).toEqual(expected);
    });
  });

  it('listens again after its LISTEN connection is killed, and a decision on A then wakes B', async () => {
    const table = newTable();
    const states: string[] = [];
    let listening: () => void = () => undefined;
    const back = new Promise<void>((resolve) => (listening = resolve));
    await withStores(
      table,
      2,
      async ([a, b]) => {
        await withSql((sql) => sql.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, [`airlock approvals ${table} listener`]));
        await back;
        expect([...states].sort()).toEqual(['listening', 'listening', 'lost', 'lost']);
        const [sa, sb] = [serviceOf(a!), serviceOf(b!)];
        const { request } = await sb.request(bindCall(call('TRUNCATE t')), opts);
        const stop = new AbortController();
        try {
          const waiting = changeOf(sb, request.id, stop.signal);
          await sa.decide(request.id, dba('bob'), 'deny', 'not today');
          await waiting;
          expect(stop.signal.aborted).toBe(false);
          expect(await codeOf(sb.consume(request.id, ana, bindCall(call('TRUNCATE t'))))).toBe('APPROVAL_DENIED');
        } finally {
          stop.abort();
        }
      },
      {
        reconnect: { initialMs: 20, maxMs: 200 },
        onListener: (state) => {
          states.push(state);
          // Both replicas' listeners were killed; wait for both to be back.
          if (states.filter((s) => s === 'listening').length === 2) listening();
        },
      },
    );
  });

  it('lists with the same filters, order and limit as the in-memory store', async () => {
    const memory = createMemoryApprovalStore();
    const now = { t: Date.UTC(2026, 11, 6, 12) };
    await withStores(newTable(), 1, async ([store]) => {
      const service = createApprovalService({ store: store!, clock: { now: () => now.t }, key: KEY });
      const people = [ana, { issuer: ISSUER, sub: 'bo' }, { issuer: 'https://other.test', sub: 'ana' }];
      const groupsets = [['dba'], ['sre', 'dba'], ['security']];
      for (let i = 0; i < 18; i++) {
        // Some requests share a creation time: the order among them is by id.
        now.t += i % 3 === 0 ? 1000 : 0;
        const principal = people[i % 3]!;
        const bound = bindCall({ ...call(`UPDATE t SET x = ${i}`), principal });
        const groups = groupsets[i % 3]!;
        const record = (await service.request(bound, { approverGroups: groups, timeoutSeconds: 600 })).request;
        await memory.insertOrJoin(record);
        if (i % 4 === 1) {
          const approver = { issuer: ISSUER, sub: 'carl', groups };
          const decided = (await service.decide(record.id, approver, i % 8 === 1 ? 'approve' : 'deny')).request;
          expect(await memory.update(record.id, 1, decided)).toBe(true);
        }
      }
      const queries: ListQuery[] = [
        { limit: 100 },
        { limit: 5 },
        { limit: 0 },
        { states: ['pending'], limit: 100 },
        { states: ['approved', 'denied'], limit: 100 },
        { states: [], limit: 100 },
        { requester: ana, limit: 100 },
        { requester: { issuer: 'https://other.test', sub: 'ana' }, states: ['pending'], limit: 3 },
        { approverGroups: ['dba'], limit: 100 },
        { approverGroups: ['sre', 'security'], limit: 7 },
        { approverGroups: [], limit: 100 },
        { approverGroups: ['dba'], requester: ana, states: ['pending', 'denied'], limit: 100 },
      ];
      for (const q of queries) {
        const [fromPg, fromMemory] = await Promise.all([store!.list(q), memory.list(q)]);
        expect(fromPg, JSON.stringify(q)).toEqual(fromMemory);
      }
      expect((await store!.list({ limit: 100 })).length).toBe(18);
      expect((await store!.listPending()).map((r) => r.id).sort()).toEqual((await memory.listPending()).map((r) => r.id).sort());
    });
  });

  it('does not honour a decision forged by editing a row in SQL (MAC and invariants): APPROVAL_INVALID', async () => {
    const table = newTable();
    const bound = bindCall(call('DROP TABLE orders'));
    await withStores(table, 1, async ([store]) => {
      const service = serviceOf(store!);
      const id = (await service.request(bound, { ...opts, quorum: 2 })).request.id;
      const original = await withSql(async (sql) => (await sql.query<{ record: string }>(`SELECT record FROM ${table} WHERE id = $1`, [id])).rows[0]!.record);
      const forgeries: [string, (r: Record<string, unknown>) => void][] = [
        ['state flipped to approved with a decision', (r) => Object.assign(r, { state: 'approved', executeBy: Date.UTC(2027, 0, 1), decidedAt: 1, decisions: [{ approver: { issuer: ISSUER, sub: 'bob', groups: ['dba'] }, verdict: 'approve', at: 1 }] })],
        ['quorum lowered', (r) => Object.assign(r, { quorum: 1 })],
        ['approver groups widened', (r) => Object.assign(r, { approverGroups: ['dba', 'analysts'] })],
        ['deadline extended', (r) => Object.assign(r, { expiresAt: Date.UTC(2030, 0, 1) })],
        ['mac removed', (r) => Object.assign(r, { mac: '' })],
      ];
      for (const [name, forge] of forgeries) {
        const record = JSON.parse(original) as Record<string, unknown>;
        forge(record);
        // A forger who keeps the columns in step with the record: only the MAC can tell.
        await withSql((sql) =>
          sql.query(`UPDATE ${table} SET record = $2, state = $3, approver_groups = $4 WHERE id = $1`, [id, JSON.stringify(record), record.state, record.approverGroups]),
        );
        expect(await codeOf(service.consume(id, ana, bound)), name).toBe('APPROVAL_INVALID');
        expect(await codeOf(service.decide(id, dba('bob'), 'approve')), name).toBe('APPROVAL_INVALID');
        expect(await service.listFor(dba('bob')), name).toEqual([]);
      }
      await withSql((sql) => sql.query(`UPDATE ${table} SET record = $2, state = 'pending', approver_groups = '{dba}' WHERE id = $1`, [id, original]));
      expect((await service.decide(id, dba('bob'), 'approve')).request).toMatchObject({ state: 'pending', decisions: [{ approver: { sub: 'bob' } }] });
    });
  });

  it('does not let an edited statement ride on an approved grant', async () => {
    const table = newTable();
    await withStores(table, 1, async ([store]) => {
      const service = serviceOf(store!);
      const { request } = await service.request(bindCall(call('DELETE FROM t WHERE id = 1')), opts);
      await service.decide(request.id, dba('bob'), 'approve');
      const forged = bindCall(call('DELETE FROM t'));
      const record = { ...(await store!.get(request.id))!, binding: forged.binding, bindingHash: forged.bindingHash };
      await withSql((sql) => sql.query(`UPDATE ${table} SET record = $2, binding_hash = $3 WHERE id = $1`, [request.id, JSON.stringify(record), forged.bindingHash]));
      expect(await codeOf(service.consume(request.id, ana, forged))).toBe('APPROVAL_INVALID');
      expect(await codeOf(service.consume(request.id, ana, bindCall(call('DELETE FROM t WHERE id = 1'))))).toBe('APPROVAL_INVALID');
    });
  });

  it('fails closed on a row that is not a sound record: refused with ApprovalStoreError by get, list and listPending', async () => {
    const table = newTable();
    await withStores(table, 1, async ([store]) => {
      const service = serviceOf(store!);
      const id = (await service.request(bindCall(call('UPDATE t SET y = 2')), opts)).request.id;
      const original = (await store!.get(id))!;
      const text = JSON.stringify(original);
      const cases: [string, string, string][] = [
        ['record = $2', '{"id":', 'is not valid JSON ('],
        ['record = $2', JSON.stringify({ ...original, extra: true }), 'is not an airlock approval record ((record): '],
        ['record = $2', JSON.stringify({ ...original, quorum: 'one' }), 'is not an airlock approval record (quorum: '],
        ['record = $2', JSON.stringify({ ...original, id: 'apr_other' }), 'has a id column that differs from its record'],
        ['version = 5, record = $2', text, 'has a version column that differs from its record'],
        ["requester_sub = 'mallory', record = $2", text, 'has a requester column that differs from its record'],
        ["approver_groups = '{dba,sre}', record = $2", text, 'has a approver_groups column that differs from its record'],
        ['created_at = 1, record = $2', text, 'has a created_at column that differs from its record'],
        ["binding_hash = 'sha256:x', record = $2", text, 'has a binding_hash column that differs from its record'],
      ];
      for (const [set, record, message] of cases) {
        await withSql((sql) => sql.query(`UPDATE ${table} SET ${set} WHERE id = $1`, [id, record]));
        const expected = `approval store ${table}: request ${id} ${message}`;
        await expect(store!.get(id), set).rejects.toThrow(ApprovalStoreError);
        await expect(store!.get(id), set).rejects.toThrow(expected);
        await expect(store!.list({ limit: 10 }), set).rejects.toThrow(expected);
        await expect(store!.listPending(), set).rejects.toThrow(expected);
        await expect(service.decide(id, dba('bob'), 'approve'), set).rejects.toThrow('airlock will not use it');
        // Put the sound row back for the next case.
        await withSql((sql) =>
          sql.query(`UPDATE ${table} SET record = $2, version = 1, requester_sub = 'ana', approver_groups = '{dba}', created_at = $3, binding_hash = $4, state = 'pending' WHERE id = $1`, [id, text, original.createdAt, original.bindingHash]),
        );
      }
      expect(await store!.get(id)).toEqual(original);
      // A state column that says approved over a pending record is refused too.
      await withSql((sql) => sql.query(`UPDATE ${table} SET state = 'approved' WHERE id = $1`, [id]));
      await expect(store!.get(id)).rejects.toThrow(`approval store ${table}: request ${id} has a state column that differs from its record`);
    });
  });

  it('opens one table when replicas start together on an empty database', async () => {
    const table = newTable();
    const stores = await Promise.allSettled([1, 2, 3].map(() => openPgApprovalStore({ url: url(), table })));
    try {
      expect(stores.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
      const [a, b, c] = stores.map((s) => (s.status === 'fulfilled' ? s.value : undefined));
      const { request } = await serviceOf(a!).request(bindCall(call('UPDATE t SET w = 1')), opts);
      expect((await serviceOf(b!).decide(request.id, dba('bob'), 'approve')).request.state).toBe('approved');
      expect((await c!.get(request.id))?.state).toBe('approved');
    } finally {
      await Promise.all(stores.map((s) => (s.status === 'fulfilled' ? s.value.close() : Promise.resolve())));
    }
  });

  it('runs as a role without CREATE once the table exists, and says why it cannot create one', async () => {
    const db = `approvals_priv_${randomBytes(4).toString('hex')}`;
    const at = (base: string): string => {
      const u = new URL(base);
      u.pathname = `/${db}`;
      return u.toString();
    };
    const app = at(inject('databaseUrl'));
    const role = decodeURIComponent(new URL(app).username);
    await withSql((sql) => sql.query(`CREATE DATABASE ${db}`));
    try {
      // The operator sets the table up once with an owner role, then grants airlock only what it uses.
      await (await openPgApprovalStore({ url: at(url()), table: 'airlock_approvals' })).close();
      const owner = new pg.Client({ connectionString: at(url()) });
      await owner.connect();
      try {
        await owner.query(`GRANT SELECT, INSERT, UPDATE ON airlock_approvals TO ${role}`);
      } finally {
        await owner.end();
      }
      await expect(openPgApprovalStore({ url: app, table: 'approvals_other' })).rejects.toThrow('permission denied for schema public');
      const store = await openPgApprovalStore({ url: app });
      try {
        const service = serviceOf(store);
        const bound = bindCall(call('UPDATE t SET v = 1'));
        const { request } = await service.request(bound, opts);
        await service.decide(request.id, dba('bob'), 'approve');
        expect((await service.consume(request.id, ana, bound)).request.state).toBe('consumed');
      } finally {
        await store.close();
      }
    } finally {
      await withSql((sql) => sql.query(`DROP DATABASE ${db} WITH (FORCE)`));
    }
  });

  it('refuses a bad table name at build time, and any use after close', async () => {
    await expect(openPgApprovalStore({ url: url(), table: 'Approvals; DROP TABLE x' })).rejects.toThrow(TypeError);
    await expect(openPgApprovalStore({ url: url(), table: 'a'.repeat(42) })).rejects.toThrow('must be a lower-case identifier');
    const table = newTable();
    const store = await openPgApprovalStore({ url: url(), table });
    await store.close();
    await store.close();
    await expect(store.get('apr_x')).rejects.toThrow(`approval store ${table} is closed`);
  });

  it('refuses a write whose version does not follow, and a duplicate id, like the other stores', async () => {
    await withStores(newTable(), 1, async ([store]) => {
      const { request } = await serviceOf(store!).request(bindCall(call('UPDATE t SET z = 1')), opts);
      const next: ApprovalRecord = { ...request, version: 3 };
      await expect(store!.update(request.id, 1, next)).rejects.toThrow('approval store: version 3 does not follow 1');
      await expect(store!.update(request.id, 1, { ...request, id: 'apr_other', version: 2 })).rejects.toThrow(`approval store: update of ${request.id} with a record for apr_other`);
      expect(await store!.update(request.id, 2, { ...request, version: 3 })).toBe(false);
      const twinless: ApprovalRecord = { ...request, bindingHash: `sha256:${'0'.repeat(64)}` };
      await expect(store!.insertOrJoin(twinless)).rejects.toThrow(`approval store: duplicate id ${request.id}`);
      expect(await store!.get(request.id)).toEqual(request);
    });
  });
});

/** Waits until `check` holds (checked every 10 ms, for at most 10 s). */
async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(check()).toBe(true);
}

/** Resolves when `service` hears of a change to request `id` (its own, or another replica's), or on abort. */
function changeOf(service: ApprovalService, id: string, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const stop = service.subscribe((change) => {
      if (change.requestId !== id) return;
      stop();
      resolve();
    });
    signal.addEventListener('abort', () => {
      stop();
      resolve();
    }, { once: true });
  });
}
