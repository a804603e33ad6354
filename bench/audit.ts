/**
 * Audit store benchmark (issue 19): the cost of one call's audit (a durable started entry, then the durable
 * outcome record, hash-chained) when the store already holds 1k, 100k and 1M records, and the time
 * `airlock audit verify` takes over the largest store.
 *
 * The stores are filled directly as segment files (the chain computed from a template of the record, checked
 * against `link`, and the whole store checked by `verifyStore` at the end), then opened by the real store.
 * Appends go to every size in turn, call by call in a rotating order, so load on the machine hits every size
 * alike; each store moves its journalled records to segments every `FLUSH_EVERY` calls, between calls, as a
 * server does once a second. Each size reports wall time and CPU time per call (p50, p99; CPU from
 * `process.cpuUsage()`, which preemption by other processes does not inflate) in two passes, the segment moves'
 * CPU per record apart, and every figure's ratio to the 1k store.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalJsonAround } from '../src/audit/canonical.js';
import { GENESIS, link, storedJson } from '../src/audit/chain.js';
import type { AuditRecord, StartedEntry } from '../src/audit/record.js';
import { dayOf, segmentName, segmentText, type SegmentHead } from '../src/audit/segments.js';
import { JsonAuditStore } from '../src/audit/store.js';
import { verifyStore } from '../src/audit/verify.js';

/** The parts of a record that change from call to call. */
interface Varying {
  readonly id: string;
  readonly time: string;
  readonly session: string;
  readonly user: string;
  /** The statement's parameter: a number, or a placeholder in the template. */
  readonly param: number | string;
  readonly n: string;
}

function varying(i: number): Varying {
  return {
    id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    time: new Date(1_795_000_000_000 + i).toISOString(),
    session: String(i % 50),
    user: String(i % 200),
    param: i,
    n: String(i),
  };
}

function startedOf(v: Varying): StartedEntry {
  return {
    id: v.id,
    time: v.time,
    sessionId: `session-${v.session}`,
    transport: 'http',
    principal: { issuer: 'https://issuer.example.com', sub: `user-${v.user}`, email: `user${v.user}@example.com`, groups: ['analysts'], dev: false },
    devIdentity: false,
    tool: 'query_sql',
    input: { connection: 'shop', sql: 'SELECT id, name, email, card_number FROM customers WHERE id = $1', params: [v.param] },
    facts: { resource: { kind: 'connection', name: 'shop' } },
    decision: { effect: 'allow', ruleIds: ['analysts-read-shop'], reason: 'allowed by analysts-read-shop', policyVersion: 'sha256:4f1c0d5e' },
  };
}

function finishedOf(v: Varying): AuditRecord {
  return {
    ...startedOf(v),
    durationMs: 2,
    downstream: [{ kind: 'postgres_role', principal: 'airlock_app' }],
    outcome: 'ok',
    error: null,
    result: { rowCount: 1, truncated: false, maskedColumns: ['card_number'], findings: { CREDIT_CARD: 1 } },
    response: {
      sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      bytes: 420,
      truncated: false,
      body: { content: [{ type: 'text', text: `1 row (masked: card_number)\nid | name | email | card_number\n${v.n} | Ana Silva | [EMAIL_1] | **** **** **** 1111` }] },
    },
  };
}

const started = (i: number): StartedEntry => startedOf(varying(i));
const finished = (i: number): AuditRecord => finishedOf(varying(i));

/**
 * The canonical text of `finished(i)` around its chain, built by filling in a template: ~20× cheaper than
 * canonicalising each record, which is what makes a 1M store quick to build.
 */
function templateOf(): (i: number) => readonly [string, string] {
  const marks: Varying = { id: '@@id@@', time: '@@time@@', session: '@@session@@', user: '@@user@@', param: '@@param@@', n: '@@n@@' };
  const [before, , after] = canonicalJsonAround(finishedOf(marks), 'chain', { seq: 0, prev: GENESIS });
  // The parameter is a number in real records: no quotes around it.
  const split = (text: string): string[] => text.replace('"@@param@@"', '@@param@@').split(/@@(\w+)@@/);
  const parts = [split(before), split(after)] as const;
  return (i) => {
    const v = varying(i);
    const fill = (p: readonly string[]): string => {
      let out = p[0] as string;
      for (let k = 1; k < p.length; k += 2) out += String(v[p[k] as keyof Varying]) + (p[k + 1] as string);
      return out;
    };
    return [fill(parts[0]), fill(parts[1])];
  };
}

/**
 * Writes a store of `count` finished records as sealed segments of about `segmentBytes`, as `JsonAuditStore`
 * would have left them (the same chain, heads and layout). Returns the number of segments.
 */
export function fillStore(dir: string, count: number, segmentBytes: number): number {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const around = templateOf();
  const day = dayOf(new Date());
  let prev = GENESIS;
  let head: SegmentHead = { firstSeq: 1, previous: null };
  let lines: string[] = [];
  let bytes = segmentText(head, []).length;
  let segments = 0;
  const write = (): void => {
    const name = segmentName(day, ++segments);
    const text = segmentText(head, lines);
    writeFileSync(join(dir, name), text, { mode: 0o600 });
    const sha256 = createHash('sha256').update(text).digest('hex');
    head = { firstSeq: head.firstSeq + lines.length, previous: { segment: name, sha256, records: lines.length, lastHash: prev } };
    lines = [];
    bytes = segmentText(head, []).length;
  };
  for (let seq = 1; seq <= count; seq++) {
    const [before, after] = around(seq);
    const chainText = `{"prev":"${prev}","seq":${seq}}`;
    const hash = createHash('sha256').update(before).update(chainText).update(after).digest('hex');
    const line = `${before}{"hash":"${hash}",${chainText.slice(1)}${after}`;
    // The template must give exactly what the store writes: checked on a sample of records.
    if (seq % 100_003 === 1 && storedJson(link(finished(seq), seq, prev)) !== line) throw new Error(`bench: the record template differs from link() at seq ${seq}`);
    if (lines.length > 0 && bytes + line.length + 2 > segmentBytes) write();
    lines.push(line);
    bytes += line.length + 2;
    prev = hash;
  }
  if (lines.length > 0) write();
  return segments;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const cpuMicros = (since: NodeJS.CpuUsage): number => {
  const d = process.cpuUsage(since);
  return d.user + d.system;
};

interface Size {
  readonly records: number;
  readonly store: JsonAuditStore;
  /** The next record number to append. */
  next: number;
  /** Calls since the last segment move. */
  sinceFlush: number;
}

interface Pass {
  readonly wall: number[];
  readonly cpu: number[];
  flushCpu: number;
  moved: number;
}

/** Each store moves its journal to segments after this many of its calls (a second of a busy server). */
const FLUSH_EVERY = 200;

/**
 * One pass: `calls` calls per size, one size after another in a rotating order (noise on the machine lasts far
 * longer than a call, so it hits every size alike). Wall and CPU (`process.cpuUsage()`, which a preempted
 * process does not accrue) are taken per call; segment moves run between calls and are counted apart.
 */
async function measure(sizes: readonly Size[], calls: number): Promise<Pass[]> {
  const passes = sizes.map((): Pass => ({ wall: [], cpu: [], flushCpu: 0, moved: 0 }));
  for (let round = 0; round < calls; round++) {
    for (let k = 0; k < sizes.length; k++) {
      const at = (round + k) % sizes.length;
      const size = sizes[at] as Size;
      const pass = passes[at] as Pass;
      // The records are built before the clocks start: only the store's work is counted.
      const s = started(size.next);
      const f = finished(size.next);
      size.next++;
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      await size.store.start(s);
      await size.store.append(f);
      pass.wall.push((performance.now() - t0) * 1000);
      pass.cpu.push(cpuMicros(cpu0));
      if (++size.sinceFlush === FLUSH_EVERY) {
        const fc = process.cpuUsage();
        await size.store.flush();
        pass.flushCpu += cpuMicros(fc);
        pass.moved += size.sinceFlush;
        size.sinceFlush = 0;
      }
    }
    // Between calls, whatever else a server does runs (timers, I/O callbacks).
    await tick();
  }
  return passes;
}

export async function auditBench(max = Number(process.env.BENCH_AUDIT_RECORDS ?? 1_000_000), callsPerSize = Number(process.env.BENCH_AUDIT_CALLS ?? 10_000)): Promise<string[]> {
  const root = mkdtempSync(join(tmpdir(), 'airlock-audit-bench-'));
  const segmentBytes = 256 * 1024;
  const counts = [1_000, 100_000, 1_000_000].filter((s) => s <= max);
  const lines = [
    `audit store: one call's audit (started entry + outcome record) with the store at each size; the sizes take turns call by call, two passes of ${callsPerSize.toLocaleString('en-US')} calls per size; ${process.platform}, Node ${process.version}`,
    '',
  ];
  const sizes: Size[] = [];
  try {
    const t0 = performance.now();
    const fillCpu = process.cpuUsage();
    let filled = 0;
    for (const records of counts) {
      const dir = join(root, String(records));
      filled += fillStore(dir, records, segmentBytes);
      // No timer moves: each store moves its records when the rotation says (see FLUSH_EVERY).
      const store = await JsonAuditStore.open(dir, { segmentBytes, flushIntervalMs: 3_600_000 });
      sizes.push({ records, store, next: records + 1, sinceFlush: 0 });
    }
    lines.push(`filled ${counts.map((c) => c.toLocaleString('en-US')).join(' + ')} records (${filled.toLocaleString('en-US')} segments) in ${((performance.now() - t0) / 1000).toFixed(1)} s, ${(cpuMicros(fillCpu) / 1e6).toFixed(1)} s CPU`, '');
    // A short warm-up so that neither pass pays for compiling the code.
    await measure(sizes, Math.min(500, callsPerSize));
    lines.push(
      '| pass | records in store | wall p50 | wall p99 | CPU p50 | CPU p99 | CPU mean | segment moves, CPU per record | wall p99 vs 1k | CPU p99 vs 1k | CPU mean vs 1k |',
      '|---|---|---|---|---|---|---|---|---|---|---|',
    );
    for (let pass = 1; pass <= 2; pass++) {
      const results = await measure(sizes, callsPerSize);
      const stats = results.map((r) => {
        const wall = [...r.wall].sort((a, b) => a - b);
        const cpu = [...r.cpu].sort((a, b) => a - b);
        return { p50: percentile(wall, 50), p99: percentile(wall, 99), cpu50: percentile(cpu, 50), cpu99: percentile(cpu, 99), cpuMean: cpu.reduce((a, b) => a + b, 0) / cpu.length, move: r.moved > 0 ? r.flushCpu / r.moved : Number.NaN };
      });
      const base = stats[0] as (typeof stats)[number];
      const us = (n: number): string => `${n.toFixed(0)} µs`;
      for (const [i, m] of stats.entries()) {
        lines.push(
          `| ${pass} | ${(sizes[i] as Size).records.toLocaleString('en-US')} | ${us(m.p50)} | ${us(m.p99)} | ${us(m.cpu50)} | ${us(m.cpu99)} | ${us(m.cpuMean)} | ${Number.isNaN(m.move) ? '–' : `${m.move.toFixed(1)} µs`} | ${(m.p99 / base.p99).toFixed(2)}× | ${(m.cpu99 / base.cpu99).toFixed(2)}× | ${(m.cpuMean / base.cpuMean).toFixed(2)}× |`,
        );
      }
    }
    for (const s of sizes) await s.store.close();
    for (const s of sizes.slice(0, -1)) {
      const small = verifyStore(join(root, String(s.records)));
      if (!small.ok || small.records !== s.next - 1) throw new Error(`bench: the ${s.records} store does not verify: ${small.problems[0]?.message ?? `${small.records} records`}`);
    }
    const largest = sizes.at(-1) as Size;
    const v0 = performance.now();
    const vc = process.cpuUsage();
    const report = verifyStore(join(root, String(largest.records)));
    const seconds = (performance.now() - v0) / 1000;
    lines.push(
      '',
      `airlock audit verify over ${report.records.toLocaleString('en-US')} records in ${report.segments.toLocaleString('en-US')} segments: ${seconds.toFixed(1)} s (${Math.round(report.records / seconds).toLocaleString('en-US')} records/s), ${(cpuMicros(vc) / 1e6).toFixed(1)} s CPU, ${report.ok ? 'ok' : `FAILED: ${report.problems[0]?.message ?? ''}`}`,
    );
    return lines;
  } finally {
    for (const s of sizes) await s.store.close().catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  }
}
