/**
 * Masking benchmark (issue 6): MB/s over a generated mixed log with every detector on, and the latency
 * masking adds to a 1,000-row × 10-column SQL result.
 */
import { DETECTOR_NAMES } from '../src/masking/detectors.js';
import { MaskContext, Masker } from '../src/masking/masker.js';
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

export function maskingBench(megabytes = Number(process.env.BENCH_MASK_MB ?? 50)): string[] {
  const r = rng(42);
  const parts: string[] = [];
  let size = 0;
  while (size < megabytes * 1024 * 1024) {
    const line = (LINES[Math.floor(r() * LINES.length)] ?? LINES[0])!(r);
    parts.push(line);
    size += line.length + 1;
  }
  const masker = new Masker({ detectors: [...DETECTOR_NAMES], style: 'last4', columns: [] });
  // Per line, as logs arrive.
  const started = performance.now();
  let findings = 0;
  for (const line of parts) {
    const ctx = new MaskContext();
    masker.maskText(line, ctx);
    findings += ctx.total();
  }
  const seconds = (performance.now() - started) / 1000;

  const rows: unknown[][] = Array.from({ length: 1000 }, (_, i) => [
    i, `Customer ${i}`, `c${i}@example.com`, '4111 1111 1111 1111', 'PT', '2026-11-29 10:00:00+00', 12.5 * i, 'paid', `note ${i}`, { tier: 'gold' },
  ]);
  const result: RowsResult = { kind: 'rows', columns: Array.from({ length: 10 }, (_, i) => ({ name: `c${i}`, type: 'text' })), rows, rowCount: 1000, truncated: false };
  const times: number[] = [];
  for (let i = 0; i < 60; i++) {
    const a = performance.now();
    masker.maskResult(result);
    times.push(performance.now() - a);
  }
  times.sort((a, b) => a - b);
  return [
    `masking: ${(size / 1024 / 1024).toFixed(0)} MB generated mixed log (${parts.length.toLocaleString('en-US')} lines), all ${DETECTOR_NAMES.length} detectors, one core`,
    '',
    '| measure | result | target |',
    '|---|---|---|',
    `| throughput | ${(size / 1024 / 1024 / seconds).toFixed(1)} MB/s (${findings.toLocaleString('en-US')} findings) | ≥ 100 MB/s |`,
    `| 1,000 rows × 10 columns, p50 / p99 | ${(times[30] ?? 0).toFixed(2)} ms / ${(times[59] ?? 0).toFixed(2)} ms | ≤ 2 ms |`,
  ];
}
