/**
 * Issue 21 (faults): SIGTERM while calls run. A stopping airlock lets calls in flight finish for a bounded
 * time, then stops the ones still running: each is answered CANCELLED with the fixed text and its audit id
 * and recorded as cancelled, and the process exits. A real `airlock serve --http` and a real MCP client; the
 * call that outlives the bound is a read from a loopback Cloud Storage server that never answers.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLocalGcs, type GcsFault, type GcsFaultRequest, type LocalGcs } from '../../src/connectors/local-gcs.js';
import { verifyStore } from '../../src/audit/verify.js';
import { auditIdOf, auditRecord, readAudit, tempDir, textOf } from '../support/airlock.js';
import { exited } from '../support/child.js';
import { connectClient, errorCode, examplePolicy, startFaultServer, writeObjects } from '../support/fault-server.js';
import { until } from '../support/served.js';

let gcs: LocalGcs;
let fault: ((req: GcsFaultRequest) => GcsFault | undefined) | undefined;
const seen: GcsFaultRequest[] = [];

beforeAll(async () => {
  const root = tempDir('airlock-gcs-');
  writeObjects(root, 'airlock-demo-data', { 'app/logs/a.log': 'one line\n' });
  gcs = await startLocalGcs({ root, faults: (req) => (seen.push(req), fault?.(req)) });
});
afterAll(async () => {
  await gcs?.close();
});

/** The example policy with a bucket time limit far past the drain bound (the hang outlives the drain). */
function policy(): unknown {
  const p = examplePolicy();
  p.resources.buckets!.data!.limits = { timeoutMs: 60_000 };
  return p;
}

describe('airlock serve --http stopped with SIGTERM while calls run (issue 21)', () => {
  it('answers a call still running after the drain bound with CANCELLED and its audit id, records it cancelled, and exits (faults:shutdown-answers)', async () => {
    const dir = tempDir();
    const server = await startFaultServer({ dir, policy: policy(), runtime: { storage: { endpoint: gcs.url } } });
    const client = await connectClient(server.url);
    try {
      const ok = await client.call('query_sql', { connection: 'shop', sql: 'SELECT count(*) FROM products' });
      expect(ok.isError).toBeUndefined();
      seen.length = 0;
      fault = () => ({ hang: true });
      const pending = client.call('read_bucket', { bucket: 'data', action: 'read', object: 'app/logs/a.log' });
      await until(() => seen.length > 0, 'the read to reach Cloud Storage');
      server.child.kill('SIGTERM');
      const result = await pending;
      expect(result.isError).toBe(true);
      expect(errorCode(result)).toBe('CANCELLED');
      const id = auditIdOf(result);
      expect(textOf(result)).toBe(`airlock is shutting down and stopped this call before it finished; call again once it is back.\n[code: CANCELLED; audit id: ${id}]`);
      expect(await exited(server.child)).toEqual({ code: 0, signal: null });
      expect(server.log()).toMatch(/INFO stopping: waiting up to 5 s for 1 call\(s\) in flight\n/);
      expect(server.log()).toMatch(/WARN stopping: 1 call\(s\) still running after 5 s are stopped and recorded as cancelled\n/);
      expect(auditRecord(server.auditDir, id)).toMatchObject({ tool: 'read_bucket', outcome: 'cancelled', error: { code: 'CANCELLED' } });
      expect(auditRecord(server.auditDir, id).error?.detail).toMatch(/^airlock stopped while the call ran: /);
      // Nothing left half-done: no interrupted record, and the chain verifies.
      expect(readAudit(server.auditDir).map((r) => r.outcome)).toEqual(['ok', 'cancelled']);
      expect(verifyStore(server.auditDir).problems).toEqual([]);
    } finally {
      fault = undefined;
      await client.close().catch(() => undefined);
      await server.stop();
    }
  }, 60_000);

  it('stops every one of many calls in flight with CANCELLED, and writes no listener warning while they run (issue 21)', async () => {
    const dir = tempDir();
    // One principal runs all the calls at once: its gate must not queue or refuse them.
    const server = await startFaultServer({ dir, policy: policy(), runtime: { storage: { endpoint: gcs.url } }, args: ['--max-concurrent-calls', '20', '--call-queue', '20'] });
    const client = await connectClient(server.url);
    const calls = 14;
    try {
      seen.length = 0;
      fault = () => ({ hang: true });
      const pending = Array.from({ length: calls }, () => client.call('read_bucket', { bucket: 'data', action: 'read', object: 'app/logs/a.log' }));
      await until(() => seen.length >= calls, 'every read to reach Cloud Storage');
      // Node warns once more than 10 listeners wait on one signal: one per call on the shutdown signal did.
      expect(server.log()).not.toContain('MaxListenersExceededWarning');
      server.child.kill('SIGTERM');
      const results = await Promise.all(pending);
      expect(results.map(errorCode)).toEqual(Array.from({ length: calls }, () => 'CANCELLED'));
      expect(await exited(server.child)).toEqual({ code: 0, signal: null });
      expect(server.log()).toMatch(new RegExp(`WARN stopping: ${calls} call\\(s\\) still running after 5 s are stopped and recorded as cancelled\n`));
      expect(server.log()).not.toContain('MaxListenersExceededWarning');
      expect(readAudit(server.auditDir).map((r) => r.outcome)).toEqual(Array.from({ length: calls }, () => 'cancelled'));
      expect(verifyStore(server.auditDir).problems).toEqual([]);
    } finally {
      fault = undefined;
      await client.close().catch(() => undefined);
      await server.stop();
    }
  }, 60_000);

  it('lets a call that finishes within the bound return its result before the process exits', async () => {
    const dir = tempDir();
    const server = await startFaultServer({ dir, policy: policy(), runtime: { storage: { endpoint: gcs.url } } });
    const client = await connectClient(server.url);
    try {
      // A second or two of work in PostgreSQL: running when SIGTERM comes, done well within the bound.
      const sql = 'SELECT count(*)::int AS n FROM generate_series(1, 5000000) AS g(i) WHERE i % 7 = 0';
      const pending = client.call('query_sql', { connection: 'shop', sql });
      await until(() => readAudit(server.auditDir).length === 0 && /"tool":"query_sql"/.test(journalText(server.auditDir)), 'the query to start');
      server.child.kill('SIGTERM');
      const result = await pending;
      expect(result.isError).toBeUndefined();
      expect(result.structuredContent).toMatchObject({ rows: [[714285]] });
      expect(await exited(server.child)).toEqual({ code: 0, signal: null });
      // It was in flight when the signal came, and was not stopped.
      expect(server.log()).toMatch(/INFO stopping: waiting up to 5 s for 1 call\(s\) in flight\n/);
      expect(server.log()).not.toContain('still running after');
      expect(auditRecord(server.auditDir, auditIdOf(result))).toMatchObject({ outcome: 'ok' });
      expect(verifyStore(server.auditDir).problems).toEqual([]);
    } finally {
      await client.close().catch(() => undefined);
      await server.stop();
    }
  }, 60_000);
});

/** The journal's text (a started entry is there while the call runs). */
function journalText(auditDir: string): string {
  try {
    return readFileSync(join(auditDir, 'journal.jsonl'), 'utf8');
  } catch {
    return '';
  }
}
