/**
 * Audit store benchmark (issue 19): the cost of one call's audit (a durable started entry, then the durable
 * outcome record, hash-chained) when the store already holds 1k, 100k and 1M records, and the time
 * `airlock audit verify` takes over the largest store.
 *
 * The stores are filled directly as segment files (the chain computed from a template of the record, checked
 * against `link`, and the whole store checked by `verifyStore` at the end), then opened by the real store.
 * Appends go to every size in turn, a few calls at a time in a rotating order, so load on the machine hits
 * every size alike; each store moves its journalled records to segments every `FLUSH_EVERY` calls, between
 * calls, as a server does once a second. Each size reports wall time per call (p50, p99) and CPU per call
 * (`process.cpuUsage()` over each batch of calls; the segment moves are counted separately).
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
function fillStore(dir: string, count: number, segmentBytes: number): number {
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
  calls: number;
  readonly wall: number[];
  cpu: number;
  flushCpu: number;
  flushWall: number;
  moved: number;
}

/** Calls per size in one turn of the rotation: short enough to interleave finely, long enough for cpuUsage. */
const BATCH = 10;
/** Each store moves its journal to segments after this many of its calls (a second of a busy server). */
const FLUSH_EVERY = 200;

export async function auditBench(max = Number(process.env.BENCH_AUDIT_RECORDS ?? 1_000_000), callsPerSize = Number(process.env.BENCH_AUDIT_CALLS ?? 10_000)): Promise<string[]> {
  const root = mkdtempSync(join(tmpdir(), 'airlock-audit-bench-'));
  const segmentBytes = 256 * 1024;
  const counts = [1_000, 100_000, 1_000_000].filter((s) => s <= max);
  const lines = [
    `audit store: one call's audit (started entry + outcome record), ${callsPerSize.toLocaleString('en-US')} calls per size, sizes taking turns ${BATCH} calls at a time; ${process.platform}, Node ${process.version}`,
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
      sizes.push({ records, store, next: records + 1, calls: 0, wall: [], cpu: 0, flushCpu: 0, flushWall: 0, moved: 0 });
    }
    lines.push(`filled ${counts.map((c) => c.toLocaleString('en-US')).join(' + ')} records (${filled.toLocaleString('en-US')} segments) in ${((performance.now() - t0) / 1000).toFixed(1)} s, ${(cpuMicros(fillCpu) / 1e6).toFixed(1)} s CPU`, '');
    for (let round = 0; sizes.some((s) => s.calls < callsPerSize); round++) {
      for (let k = 0; k < sizes.length; k++) {
        const size = sizes[(round + k) % sizes.length] as Size;
        const n = Math.min(BATCH, callsPerSize - size.calls);
        // The records are built before the clocks start: only the store's work is counted.
        const batch = Array.from({ length: n }, (_, b) => [started(size.next + b), finished(size.next + b)] as const);
        const batchCpu = process.cpuUsage();
        for (const [s, f] of batch) {
          const c0 = performance.now();
          await size.store.start(s);
          await size.store.append(f);
          size.wall.push(performance.now() - c0);
        }
        size.cpu += cpuMicros(batchCpu);
        size.calls += n;
        size.next += n;
        if (size.calls % FLUSH_EVERY === 0) {
          const f0 = performance.now();
          const fc = process.cpuUsage();
          await size.store.flush();
          size.flushCpu += cpuMicros(fc);
          size.flushWall += performance.now() - f0;
          size.moved += FLUSH_EVERY;
        }
        // Between calls, whatever else a server does runs (timers, I/O callbacks).
        await tick();
      }
    }
    lines.push('| records in store | p50 | p99 | CPU per call | segment moves, CPU per record | p50 vs 1k | p99 vs 1k | CPU vs 1k |', '|---|---|---|---|---|---|---|---|');
    const first = sizes[0] as Size;
    const stats = (s: Size): { p50: number; p99: number; cpu: number } => {
      const sorted = [...s.wall].sort((a, b) => a - b);
      return { p50: percentile(sorted, 50) * 1000, p99: percentile(sorted, 99) * 1000, cpu: s.cpu / s.calls };
    };
    const base = stats(first);
    for (const s of sizes) {
      const m = stats(s);
      lines.push(
        `| ${s.records.toLocaleString('en-US')} | ${m.p50.toFixed(0)} µs | ${m.p99.toFixed(0)} µs | ${m.cpu.toFixed(0)} µs | ${s.moved > 0 ? `${(s.flushCpu / s.moved).toFixed(1)} µs` : '–'} | ${(m.p50 / base.p50).toFixed(2)}× | ${(m.p99 / base.p99).toFixed(2)}× | ${(m.cpu / base.cpu).toFixed(2)}× |`,
      );
    }
    for (const s of sizes) await s.store.close();
    for (const s of sizes.slice(0, -1)) {
      const small = verifyStore(join(root, String(s.records)));
      if (!small.ok || small.records !== s.records + s.calls) throw new Error(`bench: the ${s.records} store does not verify: ${small.problems[0]?.message ?? `${small.records} records`}`);
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
