/**
 * Masking benchmark (issue 6): MB/s over a generated mixed log with every detector on, and the latency
 * masking adds to a 1,000-row × 10-column SQL result. Deterministic input (seeded PRNG). Run alone with
 * `npm run build && node dist/bench/masking.js` (BENCH_MASK_MB sets the log size, default 50), or as part
 * of `npm run bench`.
 */
import { pathToFileURL } from 'node:url';
import { DETECTOR_NAMES } from '../src/masking/detectors.js';
import { MaskContext, Masker } from '../src/masking/masker.js';
import { MaskingStream } from '../src/masking/stream.js';
import type { RowsResult } from '../src/tool.js';

/** Deterministic pseudo-random numbers (mulberry32). */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const LINES = [
  (r: () => number) => `2026-11-29T10:${String(Math.floor(r() * 60)).padStart(2, '0')}:00Z INFO request id=${Math.floor(r() * 1e9)} path=/api/orders/${Math.floor(r() * 1e6)} status=200 ms=${Math.floor(r() * 900)}`,
  (r: () => number) => `2026-11-29T10:00:00Z WARN user ana.silva${Math.floor(r() * 100)}@example.com failed login from 10.${Math.floor(r() * 255)}.3.4`,
  () => '2026-11-29T10:00:00Z INFO charge card=4111 1111 1111 1111 amount=12.50 currency=EUR',
  () => '2026-11-29T10:00:00Z DEBUG config {"db_password":"hunter2-prod","api_key":"q8Zr4Lk2Vx9Tb7Nw3Hc6Jd1F","region":"eu"}',
  (r: () => number) => `2026-11-29T10:00:00Z INFO build v1.${Math.floor(r() * 20)}.3 deployed commit=${Math.floor(r() * 1e12).toString(16)} ticket=PROJ-${Math.floor(r() * 9999)}`,
  () => '2026-11-29T10:00:00Z ERROR upstream Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln',
];

/** The log as one string split into lines, as a reader of a log file gets them (flat strings). */
function generateLog(megabytes: number): { lines: string[]; bytes: number } {
  const r = rng(42);
  const parts: string[] = [];
  let size = 0;
  while (size < megabytes * 1024 * 1024) {
    const line = (LINES[Math.floor(r() * LINES.length)] ?? LINES[0])!(r);
    parts.push(line);
    size += line.length + 1;
  }
  return { lines: parts.join('\n').split('\n'), bytes: size };
}

function rowsResult(): RowsResult {
  const rows: unknown[][] = Array.from({ length: 1000 }, (_, i) => [
    i, `Customer ${i}`, `c${i}@example.com`, '4111 1111 1111 1111', 'PT', '2026-11-29 10:00:00+00', 12.5 * i, 'paid', `note ${i}`, { tier: 'gold' },
  ]);
  // Through JSON, as a driver delivers them: flat strings and plain objects.
  return { kind: 'rows', columns: Array.from({ length: 10 }, (_, i) => ({ name: `c${i}`, type: 'text' })), rows: JSON.parse(JSON.stringify(rows)) as unknown[][], rowCount: 1000, truncated: false };
}

const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
const percentile = (sorted: readonly number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;

export function maskingBench(megabytes = Number(process.env.BENCH_MASK_MB ?? 50), passes = Number(process.env.BENCH_MASK_PASSES ?? 3)): string[] {
  const masker = new Masker({ detectors: [...DETECTOR_NAMES], style: 'last4', columns: [] });
  // Result latency first, before the log exists: 50 MB of live strings would make every collection slower.
  const result = rowsResult();
  for (let i = 0; i < 500; i++) masker.maskResult(result); // warm-up (JIT: the optimising tier needs a few hundred runs)
  const times: number[] = [];
  for (let i = 0; i < 500; i++) {
    const a = performance.now();
    masker.maskResult(result);
    times.push(performance.now() - a);
  }
  times.sort((a, b) => a - b);

  const { lines, bytes } = generateLog(megabytes);
  // Per line, as logs arrive; several passes because this machine is shared and timings are noisy.
  const rates: number[] = [];
  let findings = 0;
  for (let pass = 0; pass < passes; pass++) {
    findings = 0;
    const started = performance.now();
    for (const line of lines) {
      const ctx = new MaskContext();
      masker.maskText(line, ctx);
      findings += ctx.total();
    }
    rates.push(bytes / 1024 / 1024 / ((performance.now() - started) / 1000));
  }
  // The same log as one file through the streaming masker (what `airlock mask --stream` does), 64 KiB chunks.
  const file = lines.join('\n');
  const streamRates: number[] = [];
  for (let pass = 0; pass < passes; pass++) {
    const started = performance.now();
    const stream = new MaskingStream(masker);
    for (let at = 0; at < file.length; at += 65_536) stream.push(file.slice(at, at + 65_536));
    stream.end();
    streamRates.push(bytes / 1024 / 1024 / ((performance.now() - started) / 1000));
  }
  return [
    `masking: ${(bytes / 1024 / 1024).toFixed(0)} MB generated mixed log (${lines.length.toLocaleString('en-US')} lines, ${findings.toLocaleString('en-US')} findings per pass), all ${DETECTOR_NAMES.length} detectors, one core`,
    '',
    '| measure | result | target |',
    '|---|---|---|',
    `| throughput, median of ${passes} passes | ${median(rates).toFixed(1)} MB/s (passes: ${rates.map((r) => r.toFixed(1)).join(', ')}) | ≥ 100 MB/s |`,
    `| throughput as one file through the streaming masker (64 KiB chunks), median of ${passes} | ${median(streamRates).toFixed(1)} MB/s (passes: ${streamRates.map((r) => r.toFixed(1)).join(', ')}) | ≥ 100 MB/s |`,
    `| 1,000 rows × 10 columns, p50 / p99 of ${times.length} | ${percentile(times, 50).toFixed(2)} ms / ${percentile(times, 99).toFixed(2)} ms | ≤ 2 ms |`,
  ];
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.stdout.write(`${maskingBench().join('\n')}\n`);
}
