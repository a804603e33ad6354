/**
 * The load scenario of `BENCH_ONLY=load npm run bench` (issue 21), small enough for CI: 10 concurrent
 * Streamable HTTP sessions (2025-11-25 sessions and stateless 2026-07-28) × 50 calls across every tool,
 * with the approved writes decided by a scripted approver through the approval API, against one real
 * `airlock serve --http` on the JSON stores. Zero errors, exactly the expected audit records, and
 * `airlock audit verify` passes.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { countBy, expectedAudit, runLoad, startLoadRig, type LoadRig } from '../../bench/load.js';
import { CLI, EXAMPLE_POLICY, tempDir } from '../support/airlock.js';

let rig: LoadRig | undefined;

beforeAll(async () => {
  rig = await startLoadRig({ adminUrl: inject('adminUrl'), databaseUrl: inject('databaseUrl'), work: tempDir('airlock-load-'), replicas: 1, cli: CLI, policyPath: EXAMPLE_POLICY });
}, 60_000);

afterAll(async () => {
  await rig?.close();
}, 60_000);

describe('airlock serve --http under load (issue 21)', () => {
  it('answers 500 mixed calls from 10 sessions without an error, with exactly one audit record per call and a chain that verifies', async () => {
    const r = rig as LoadRig;
    const report = await runLoad(r, { sessions: 10, callsPerSession: 50 });
    expect(report.outcomes.filter((o) => o.error !== undefined).map((o) => `${o.kind}: ${o.error}`)).toEqual([]);
    expect(report.outcomes).toHaveLength(500);
    expect(report.eras).toEqual({ '2025': 5, '2026': 5 });
    expect(report.approverFailures).toEqual([]);
    // Every tool is in the mix, and the approved writes were each decided once.
    expect(new Set(report.outcomes.map((o) => o.tool))).toEqual(new Set(['query_sql', 'read_bucket', 'tail_logs', 'whoami', 'list_resources', 'explain_policy']));
    const approved = report.outcomes.filter((o) => o.kind === 'query_sql approved').length;
    expect(approved).toBe(10);
    expect(report.approvals).toBe(approved);

    // The JSON store is read once its writer has stopped.
    await r.replicas[0]?.stop();
    const records = await r.records();
    expect(countBy(records)).toEqual(expectedAudit(report));
    const ids = new Set(records.map((x) => x.id));
    expect(report.outcomes.filter((o) => !ids.has(o.auditId ?? ''))).toEqual([]);
    // Each call's record names the caller the call came from.
    const bySession = new Map(records.map((x) => [x.id, x.principal?.sub]));
    expect(report.outcomes.every((o) => /^agent-\d$/.test(String(bySession.get(o.auditId ?? ''))))).toBe(true);
    const verify = r.verify();
    expect(verify.stdout).toMatch(/^ok: \d+ record\(s\) in \d+ segment\(s\) form an unbroken chain/);
    expect(verify.status).toBe(0);
  }, 120_000);
});
