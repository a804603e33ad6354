/**
 * Audit store benchmark (audit-store issue): the cost of one call's audit (a started entry, then the
 * outcome record) when the store already holds 1k, 100k and 1M records, and the time `airlock audit
 * verify` takes over the whole store.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditRecord, StartedEntry } from '../src/audit/record.js';
import { JsonAuditStore } from '../src/audit/store.js';
import { verifyStore } from '../src/audit/verify.js';

function started(i: number): StartedEntry {
  return {
    id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    time: new Date(1_795_000_000_000 + i).toISOString(),
    sessionId: `session-${i % 50}`,
    transport: 'http',
    principal: { issuer: 'https://issuer.example.com', sub: `user-${i % 200}`, email: `user${i % 200}@example.com`, groups: ['analysts'], dev: false },
    devIdentity: false,
    tool: 'query_sql',
    input: { connection: 'shop', sql: 'SELECT id, name, email, card_number FROM customers WHERE id = $1', params: [i] },
    facts: { resource: { kind: 'connection', name: 'shop' } },
    decision: { effect: 'allow', ruleIds: ['analysts-read-shop'], reason: 'allowed by analysts-read-shop', policyVersion: 'sha256:4f1c0d5e' },
  };
}

function finished(i: number): AuditRecord {
  return {
    ...started(i),
    durationMs: 2,
    downstream: [{ kind: 'postgres_role', principal: 'airlock_app' }],
    outcome: 'ok',
    error: null,
    result: { rowCount: 1, truncated: false, maskedColumns: ['card_number'], findings: { CREDIT_CARD: 1 } },
    response: {
      sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      bytes: 420,
      truncated: false,
      body: { content: [{ type: 'text', text: `1 row (masked: card_number)\nid | name | email | card_number\n${i} | Ana Silva | [EMAIL_1] | **** **** **** 1111` }] },
    },
  };
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export async function auditBench(max = Number(process.env.BENCH_AUDIT_RECORDS ?? 1_000_000)): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-audit-bench-'));
  const lines = [`audit store: one call's audit (started entry + outcome record) with the store at each size; ${process.platform}, Node ${process.version}`, '', '| records in store | p50 | p99 | vs 1k p50 |', '|---|---|---|---|'];
  try {
    const store = await JsonAuditStore.open(dir);
    let n = 0;
    let base = 0;
    for (const size of [1_000, 100_000, 1_000_000].filter((s) => s <= max)) {
      // Fill in large batches (one journal write each), letting segment moves run as they would.
      while (n < size) {
        const batch: Promise<void>[] = [];
        for (let k = 0; k < 500 && n < size; k++, n++) batch.push(store.append(finished(n)));
        await Promise.all(batch);
        await tick();
      }
      const times: number[] = [];
      for (let k = 0; k < 2000; k++, n++) {
        const t0 = performance.now();
        await store.start(started(n));
        await store.append(finished(n));
        times.push(performance.now() - t0);
        // A call takes a little while; moves to segments happen between calls, as in a server.
        if (k % 4 === 0) await tick();
      }
      times.sort((a, b) => a - b);
      const p50 = percentile(times, 50);
      if (base === 0) base = p50;
      lines.push(`| ${size.toLocaleString('en-US')} | ${(p50 * 1000).toFixed(0)} µs | ${(percentile(times, 99) * 1000).toFixed(0)} µs | ${(p50 / base).toFixed(2)}× |`);
    }
    await store.close();
    const t0 = performance.now();
    const report = verifyStore(dir);
    const seconds = (performance.now() - t0) / 1000;
    lines.push(
      '',
      `airlock audit verify over ${report.records.toLocaleString('en-US')} records in ${report.segments.toLocaleString('en-US')} segments: ${seconds.toFixed(1)} s (${Math.round(report.records / seconds).toLocaleString('en-US')} records/s), ${report.ok ? 'ok' : 'FAILED'}`,
    );
    return lines;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
