/**
 * Issue 21 (faults): `kill -9` of a running `airlock serve --http` in the middle of a load of reads and of
 * calls that open approval requests. After the kill every file is whole; a new process on the same
 * directory takes over, `airlock audit verify` passes, every call the agent was answered for is on record
 * as answered, and every request the agent was handed is still pending and collectable.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { auditIdOf, CLI, readAudit, tempDir } from '../support/airlock.js';
import { exited } from '../support/child.js';
import { connectClient, examplePolicy, startFaultServer, type CallResult } from '../support/fault-server.js';

const run = promisify(execFile);

interface Answered {
  readonly auditId: string;
  readonly requestId?: string;
}

describe('airlock serve --http killed with SIGKILL under load (issue 21)', () => {
  it('leaves the audit and approval files whole; after a restart the chain verifies and nothing acknowledged is lost (audit:crash-safe)', async () => {
    const dir = tempDir();
    const policy = examplePolicy();
    const runtime = { approvals: { waitSeconds: 0 } };
    const first = await startFaultServer({ dir, policy, runtime });
    const answered: Answered[] = [];
    const clients = await Promise.all([1, 2, 3, 4].map(() => connectClient(first.url)));
    let stop = false;
    try {
      const loop = async (n: number): Promise<void> => {
        const client = clients[n]!;
        for (let i = 0; !stop; i++) {
          // Even loops read; odd ones send writes that open one approval request each.
          const args = n % 2 === 0 ? { connection: 'shop', sql: `SELECT id, name FROM products WHERE id = ${(i % 6) + 1}` } : { connection: 'shop', sql: `UPDATE products SET price = price WHERE id = ${n * 100_000 + i}` };
          let result: CallResult;
          try {
            result = await client.call('query_sql', args);
          } catch {
            return; // the connection died with the server: this call was never answered
          }
          const requestId = result.structuredContent?.requestId;
          answered.push({ auditId: auditIdOf(result), ...(typeof requestId === 'string' ? { requestId } : {}) });
        }
      };
      const loops = [0, 1, 2, 3].map((n) => loop(n));
      while (answered.length < 200) await new Promise((r) => setTimeout(r, 10));
      first.child.kill('SIGKILL');
      expect(await exited(first.child)).toEqual({ code: null, signal: 'SIGKILL' });
      stop = true;
      await Promise.all(loops);
    } finally {
      stop = true;
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
      await first.stop('SIGKILL');
    }
    const auditDir = first.auditDir;
    // Whole files as the kill left them: every segment and the approvals file parse.
    for (const name of readdirSync(auditDir).filter((n) => n.endsWith('.json'))) expect(() => JSON.parse(readFileSync(join(auditDir, name), 'utf8')) as unknown, name).not.toThrow();
    const pendingIds = answered.flatMap((a) => (a.requestId === undefined ? [] : [a.requestId]));
    expect(pendingIds.length).toBeGreaterThan(20);

    const second = await startFaultServer({ dir, policy, runtime });
    const agent = await connectClient(second.url);
    try {
      const verify = await run(process.execPath, [CLI, 'audit', 'verify', '--audit-dir', auditDir], { env: { PATH: process.env.PATH ?? '', HOME: dir } });
      expect(verify.stdout).toMatch(/^ok: \d+ record\(s\) in \d+ segment\(s\) form an unbroken chain; head [0-9a-f]{64}\n$/);
      const byId = new Map(readAudit(auditDir).map((r) => [r.id, r]));
      for (const a of answered) expect(byId.get(a.auditId)?.outcome, a.auditId).toBe(a.requestId === undefined ? 'ok' : 'approval_required');
      // Calls in flight at the kill are on record as interrupted, never as half a record.
      for (const r of byId.values()) expect(['ok', 'approval_required', 'interrupted']).toContain(r.outcome);
      // Every request handed to the agent survived: the same principal collects each as still pending.
      for (const requestId of [...pendingIds.slice(0, 3), ...pendingIds.slice(-3)]) {
        const status = await agent.call('approval_status', { requestId });
        expect(status.structuredContent, requestId).toMatchObject({ status: 'pending_approval', requestId });
      }
    } finally {
      await agent.close().catch(() => undefined);
      await second.stop();
    }
  }, 120_000);
});
