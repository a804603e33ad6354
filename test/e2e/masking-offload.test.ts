import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { auditIdOf, auditRecord, CLI, EXAMPLE_POLICY, tempDir, writePolicy } from '../support/airlock.js';
import { stopChild, waitForOutput } from '../support/child.js';

const BIG_SQL = "SELECT repeat('4111 1111 1111 1111 ', 1000000) AS cards";

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, attempts = 600): Promise<T> {
  for (let i = 0; i < attempts; i++) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`gave up waiting for ${what}`);
}

async function session(base: string): Promise<{ client: Client; close(): Promise<void> }> {
  const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`));
  const client = new Client({ name: 'masking-offload', version: '1.0.0' });
  await client.connect(transport);
  return {
    client,
    close: async () => {
      await transport.terminateSession().catch(() => undefined);
      await client.close();
    },
  };
}

describe('masking a large result (issue 15)', () => {
  it('masks a 20 MB value off the event loop: another session\'s call completes while it is being masked', async () => {
    const dir = tempDir();
    // The example policy, with a byte cap large enough for the value (the cap bounds masking work per call).
    const policy = JSON.parse(readFileSync(EXAMPLE_POLICY, 'utf8')) as { defaults?: { limits?: Record<string, number> }; rules: { id: string; limits?: Record<string, number> }[] };
    policy.defaults = { ...policy.defaults, limits: { ...policy.defaults?.limits, maxBytes: 64 * 1024 * 1024 } };
    for (const rule of policy.rules) if (rule.id === 'analysts-read-shop') rule.limits = { ...rule.limits, maxBytes: 64 * 1024 * 1024 };
    const auditDir = join(dir, 'audit');
    let child: ChildProcess | undefined;
    const monitor = new pg.Client({ connectionString: inject('adminUrl') });
    const open: { close(): Promise<void> }[] = [];
    try {
      await monitor.connect();
      child = spawn(
        process.execPath,
        [CLI, 'serve', '--http', '--port', '0', '--policy', writePolicy(dir, policy), '--audit-dir', auditDir, '--dev-identity', 'ana@example.com,analysts', '--log-level', 'info'],
        { cwd: dir, env: { PATH: process.env.PATH ?? '', HOME: dir, DATABASE_URL: inject('databaseUrl') }, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const base = (await waitForOutput(child, /serving MCP on (http:\/\/[^/\s]+)\/mcp/, { stream: 'stderr' }))[1] ?? '';
      const a = await session(base);
      open.push(a);
      const b = await session(base);
      open.push(b);
      const order: string[] = [];
      const big = a.client.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql: BIG_SQL } }, undefined, { timeout: 120_000 }).then((r) => {
        order.push('large');
        return r;
      });
      // The large call has started (its durable started entry is in the journal) and Postgres has finished
      // sending its value: from here on, airlock is masking it.
      await waitFor('the started entry', () => (readFileSync(join(auditDir, 'journal.jsonl'), 'utf8').includes("repeat('4111 1111 1111 1111 '") ? true : undefined));
      const running = "SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'SELECT repeat(''4111%'";
      // Usually seen running first; a very fast server may already be past it.
      await waitFor('the statement to run in Postgres', async () => ((await monitor.query<{ n: number }>(running)).rows[0]?.n === 1 ? true : undefined), 80).catch(() => undefined);
      await waitFor('the statement to finish in Postgres', async () => {
        const { rows } = await monitor.query<{ n: number }>(running);
        return rows[0]?.n === 0 ? true : undefined;
      });
      const small = await b.client.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT 1 AS one' } });
      order.push('small');
      expect(small.structuredContent).toMatchObject({ rows: [[1]] });
      const large = await big;
      expect(order).toEqual(['small', 'large']);

      // The value was masked in full, on the worker, with the same rules.
      const cell = (large.structuredContent as { rows: string[][] }).rows[0]?.[0] ?? '';
      expect(cell).toHaveLength(20_000_000);
      expect(cell.startsWith('**** **** **** 1111 **** **** **** 1111 ')).toBe(true);
      expect(cell).not.toMatch(/4111/);
      expect(auditRecord(auditDir, auditIdOf(large))).toMatchObject({ outcome: 'ok', result: { findings: { CREDIT_CARD: 1_000_000 }, maskedColumns: ['cards'] } });
      // The record's hash, size and preview are those of the JSON text of exactly what the agent received,
      // computed without building that text (issue 18).
      const received = JSON.stringify({ content: large.content, structuredContent: large.structuredContent });
      expect(auditRecord(auditDir, auditIdOf(large))).toMatchObject({
        response: { sha256: createHash('sha256').update(received, 'utf8').digest('hex'), bytes: Buffer.byteLength(received, 'utf8'), truncated: true, preview: received.slice(0, 16 * 1024) },
      });
    } finally {
      for (const s of open) await s.close().catch(() => undefined);
      if (child !== undefined) await stopChild(child);
      await monitor.end();
    }
  });
});
