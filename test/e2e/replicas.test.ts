/**
 * More than one replica (issue 21): three `airlock serve --http` processes on one PostgreSQL audit and
 * approval store, behind a round-robin proxy with session affinity on loopback (bench/affinity-proxy.ts),
 * as a load balancer would put them. Stateless 2026-07-28 requests land on any replica, 2025-era sessions
 * stay on the replica that opened them, an approval decided on one replica wakes the call waiting on
 * another, the audit is one chain that verifies, and a replica killed with SIGKILL loses no call that was
 * answered.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { APPROVER, countBy, expectedAudit, openSession, runLoad, startLoadRig, type LoadRig } from '../../bench/load.js';
import { CLI, EXAMPLE_POLICY, tempDir } from '../support/airlock.js';

let rig: LoadRig | undefined;
const the = (): LoadRig => {
  if (rig === undefined) throw new Error('the replicas did not start');
  return rig;
};

beforeAll(async () => {
  rig = await startLoadRig({ adminUrl: inject('adminUrl'), databaseUrl: inject('databaseUrl'), work: tempDir('airlock-replicas-'), replicas: 3, cli: CLI, policyPath: EXAMPLE_POLICY });
}, 90_000);

afterAll(async () => {
  await rig?.close();
}, 60_000);

async function sql<T extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: inject('adminUrl') });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

describe('three replicas on the PostgreSQL stores behind a proxy (issue 21)', () => {
  it('serves mixed calls from both eras on every replica with one audit chain, exactly one record per call', async () => {
    const r = the();
    const before = new Map(r.proxy?.routed());
    const report = await runLoad(r, { sessions: 6, callsPerSession: 50 });
    expect(report.outcomes.filter((o) => o.error !== undefined).map((o) => `${o.kind}: ${o.error}`)).toEqual([]);
    expect(report.approverFailures).toEqual([]);
    expect(report.eras).toEqual({ '2025': 3, '2026': 3 });
    // Each 2025 session was pinned to one replica (its later requests went there, or they would have failed
    // with an unknown session), and the stateless requests were spread over all three.
    expect(report.pinned.every((p) => r.replicas.some((x) => x.url === p))).toBe(true);
    for (const replica of r.replicas) expect((r.proxy?.routed().get(replica.url) ?? 0) - (before.get(replica.url) ?? 0)).toBeGreaterThan(50);

    const records = await r.records();
    expect(countBy(records)).toEqual(expectedAudit(report));
    const ids = new Set(records.map((x) => x.id));
    expect(report.outcomes.filter((o) => !ids.has(o.auditId ?? ''))).toEqual([]);
    expect(await r.startedEntries()).toBe(0);
    const verify = r.verify();
    expect(verify.stdout + verify.stderr).toMatch(/unbroken chain/);
    expect(verify.status).toBe(0);
  }, 180_000);

  it('wakes a call waiting on one replica when the approver decides on another', async () => {
    const r = the();
    const [a, b] = r.replicas;
    if (a === undefined || b === undefined) throw new Error('two replicas expected');
    const agent = await openSession(a.url, '2026', { sub: 'agent-0', email: 'agent-0@example.com', groups: ['analysts'] }, await r.tokenOf({ sub: 'agent-0', email: 'agent-0@example.com', groups: ['analysts'] }));
    try {
      const sqlText = `UPDATE orders SET status = status WHERE id = $1 /* cross-replica ${Date.now()} */`;
      const call = agent.call('query_sql', { connection: 'shop', sql: sqlText, params: [7] });
      const auth = { authorization: `Bearer ${await r.tokenOf(APPROVER)}` };
      // The approver sees the request on replica b (it was opened on a) and decides there.
      let id: string | undefined;
      for (let i = 0; id === undefined && i < 400; i++) {
        const list = (await (await fetch(`${b.url}/approvals?state=pending`, { headers: auth })).json()) as { requests: { id: string; call?: { sql?: string } }[] };
        id = list.requests.find((x) => JSON.stringify(x).includes('cross-replica'))?.id;
        if (id === undefined) await new Promise((res) => setTimeout(res, 50));
      }
      expect(id).toMatch(/^apr_/);
      const decided = await fetch(`${b.url}/approvals/${id}/decision`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ verdict: 'approve', reason: 'cross-replica' }) });
      expect(decided.status).toBe(200);
      const result = await call;
      expect(result.isError).not.toBe(true);
      expect(result.structuredContent?.rowsAffected).toBe(1);
      // The call ran on a once, under the grant b recorded.
      const rows = await sql<{ state: string }>(`SELECT state FROM ${r.tables?.approvals} WHERE id = $1`, [id]);
      expect(rows).toEqual([{ state: 'consumed' }]);
    } finally {
      await agent.close();
    }
  }, 60_000);

  it('loses no answered call when a replica is killed with SIGKILL mid-load, and the restarted replica closes what it left open', async () => {
    const r = the();
    const victim = r.replicas[1];
    if (victim === undefined) throw new Error('three replicas expected');
    let killed: Promise<void> | undefined;
    const report = await runLoad(r, {
      sessions: 6,
      callsPerSession: 40,
      onCall: (done) => {
        if (done === 60) killed = victim.stop('SIGKILL');
      },
    });
    await killed;
    const answered = report.outcomes.filter((o) => o.auditId !== undefined);
    const failed = report.outcomes.filter((o) => o.error !== undefined);
    // Calls went on after the kill: the other replicas answered everything that was not pinned to the victim.
    expect(answered.length).toBeGreaterThan(120);
    expect(failed.filter((o) => !/is down|failed: ECONNRESET|fetch failed|socket|terminated|Session not found|closed|aborted/i.test(o.error ?? '')).map((o) => o.error)).toEqual([]);

    // Every answered call has its record, under its tool, with outcome ok.
    const records = new Map((await r.records()).map((x) => [x.id, x]));
    expect(answered.filter((o) => records.get(o.auditId ?? '')?.tool !== o.tool || records.get(o.auditId ?? '')?.outcome !== 'ok')).toEqual([]);

    // Calls the victim had started and not finished are rows of the started table until it comes back.
    const open = await r.startedEntries();
    await victim.start();
    expect(await r.startedEntries()).toBe(0);
    const interrupted = (await r.records()).filter((x) => x.outcome === 'interrupted');
    expect(interrupted).toHaveLength(open);
    const verify = r.verify();
    expect(verify.stdout + verify.stderr).toMatch(/unbroken chain/);
    expect(verify.status).toBe(0);
  }, 180_000);
});
