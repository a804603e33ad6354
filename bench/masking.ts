/**
 * Masking benchmark (issues 6 and 20): MB/s with every detector on, one core, in this process (no process
 * start), over generated inputs — the dense mixed log (one finding per ~90 bytes), production-like sparse
 * request logs (one per ~4 KB) and adversarial inputs — line by line through `Masker.maskText` and as one
 * stream in 64 KiB chunks through `MaskingStream` (what `airlock mask --stream` uses), plus the latency of
 * masking a 1,000-row × 10-column SQL result. Every figure is measured for the working tree's engine and for
 * today's engine (git commit BASELINE_COMMIT, built by masking-baseline.ts) alternately in the same run, and
 * printed with their ratio. Run alone with `npm run build && BENCH_ONLY=masking node dist/bench/run.js`
 * (or `node dist/bench/masking.js`); BENCH_MASK_MB sets the dense and sparse sizes (default 16),
 * BENCH_MASK_ADV_MB each adversarial input (default 4), BENCH_MASK_PASSES the passes (default 3).
 */
import { cpus, loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import type { RowsResult } from '../src/tool.js';
import { accuracyTable } from './masking-accuracy.js';
import { ADVERSARIAL, adversarialLog } from './masking-adversarial.js';
import { BASELINE_COMMIT, CURRENT_ENGINE, loadBaseline, type EngineMasker, type MaskingEngine } from './masking-baseline.js';
import { denseLog } from './masking-dense.js';
import { asFile, type GeneratedLog } from './masking-rng.js';
import { sparseLog } from './masking-sparse.js';

/** Stop a pass over an input after this long (a quadratic engine would otherwise run for hours). */
const PASS_BUDGET_MS = Number(process.env.BENCH_MASK_BUDGET_MS ?? 20_000);
const CHUNK = 65_536;

interface Side {
  readonly name: 'current' | 'today';
  readonly engine: MaskingEngine;
  readonly masker: EngineMasker;
}

/** One pass of one engine over an input: bytes it got through, findings, wall and CPU time. */
interface Pass {
  readonly bytes: number;
  readonly findings: number;
  readonly wallMs: number;
  readonly cpuMs: number;
  readonly capped: boolean;
}

interface Figure {
  readonly passes: Record<Side['name'], Pass[]>;
}

const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
const percentile = (sorted: readonly number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
const mbps = (p: Pass): number => p.bytes / 1024 / 1024 / (p.wallMs / 1000);
const cpuMbps = (p: Pass): number => p.bytes / 1024 / 1024 / (p.cpuMs / 1000);

function timed(run: (deadline: number) => { bytes: number; findings: number; capped: boolean }): Pass {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const out = run(started + PASS_BUDGET_MS);
  const wallMs = performance.now() - started;
  const used = process.cpuUsage(cpu);
  return { ...out, wallMs, cpuMs: (used.user + used.system) / 1000 };
}

/** Line by line, a fresh context per line (as a log tail masks entries). */
function lineByLine(masker: EngineMasker, engine: MaskingEngine, log: GeneratedLog, deadline: number): { bytes: number; findings: number; capped: boolean } {
  let findings = 0;
  let bytes = 0;
  const { lines } = log;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const ctx = new engine.MaskContext();
    masker.maskText(line, ctx);
    findings += ctx.total();
    bytes += line.length + 1;
    if ((i & 63) === 63 && performance.now() > deadline) return { bytes, findings, capped: true };
  }
  return { bytes, findings, capped: false };
}

/**
 * The floor of any JavaScript scanner on this machine: a loop that reads every character of every line and
 * looks it up in a 128-entry table, nothing else (no detector, no masking). What a scanner in this
 * language can reach at most on the same lines.
 */
const FLOOR_TABLE = new Uint8Array(128).map((_, c) => (c >= 48 && c <= 58 ? 1 : c === 61 || c === 64 ? 2 : 0));
function bareLoop(log: GeneratedLog, deadline: number): { bytes: number; findings: number; capped: boolean } {
  let bytes = 0;
  let anchors = 0;
  const { lines } = log;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    for (let k = 0; k < line.length; k++) {
      const c = line.charCodeAt(k);
      if (c < 128 && FLOOR_TABLE[c] !== 0) anchors++;
    }
    bytes += line.length + 1;
    if ((i & 63) === 63 && performance.now() > deadline) return { bytes, findings: anchors, capped: true };
  }
  return { bytes, findings: anchors, capped: false };
}

/** Characters the output loop wrote (kept and reported, so the compiler cannot drop the strings it builds). */
let written = 0;

type Found = readonly { readonly start: number; readonly end: number; readonly type: string }[];

/**
 * The other half of the floor: writing the masked lines alone, with every finding already known (the
 * working tree's), as the output must be: each finding replaced by a numbered placeholder, the same value
 * by the same one (a map per line), the text between copied. No detection, no counting, no style.
 */
function outputLoop(log: GeneratedLog, found: readonly Found[], deadline: number): { bytes: number; findings: number; capped: boolean } {
  let bytes = 0;
  let findings = 0;
  const { lines } = log;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const spans = found[i]!;
    bytes += line.length + 1;
    if (spans.length === 0) continue;
    const numbered = new Map<string, string>();
    let out = '';
    let last = 0;
    for (const f of spans) {
      const value = line.slice(f.start, f.end);
      let placeholder = numbered.get(value);
      if (placeholder === undefined) {
        placeholder = `[${f.type}_${numbered.size + 1}]`;
        numbered.set(value, placeholder);
      }
      out += line.slice(last, f.start) + placeholder;
      last = f.end;
    }
    written += out.length + line.length - last;
    findings += spans.length;
    if ((i & 63) === 63 && performance.now() > deadline) return { bytes, findings, capped: true };
  }
  return { bytes, findings, capped: false };
}

/** The whole input as one stream in 64 KiB chunks. */
function streamed(masker: EngineMasker, engine: MaskingEngine, file: string, deadline: number): { bytes: number; findings: number; capped: boolean } {
  const stream = new engine.MaskingStream(masker);
  for (let at = 0; at < file.length; at += CHUNK) {
    stream.push(file.slice(at, at + CHUNK));
    if (performance.now() > deadline) return { bytes: at + CHUNK, findings: stream.context.total(), capped: true };
  }
  stream.end();
  return { bytes: file.length, findings: stream.context.total(), capped: false };
}

/** Both engines over the same input, alternating which goes first, after one warm-up run each. */
function compare(sides: readonly Side[], passes: number, run: (side: Side, deadline: number) => { bytes: number; findings: number; capped: boolean }, warm: (side: Side) => void): Figure {
  for (const side of sides) warm(side);
  const out: Figure = { passes: { current: [], today: [] } };
  for (let pass = 0; pass < passes; pass++) {
    const order = pass % 2 === 0 ? sides : [...sides].reverse();
    for (const side of order) out.passes[side.name].push(timed((deadline) => run(side, deadline)));
  }
  return out;
}

function rowsResult(): RowsResult {
  const rows: unknown[][] = Array.from({ length: 1000 }, (_, i) => [
    i, `Customer ${i}`, `c${i}@example.com`, '4111 1111 1111 1111', 'PT', '2026-11-29 10:00:00+00', 12.5 * i, 'paid', `note ${i}`, { tier: 'gold' },
  ]);
  // Through JSON, as a driver delivers them: flat strings and plain objects.
  return { kind: 'rows', columns: Array.from({ length: 10 }, (_, i) => ({ name: `c${i}`, type: 'text' })), rows: JSON.parse(JSON.stringify(rows)) as unknown[][], rowCount: 1000, truncated: false };
}

/** p50/p99 of masking the 1,000-row result, both engines alternating call by call. */
function resultLatency(sides: readonly Side[], calls: number): Record<Side['name'], number[]> {
  const result = rowsResult();
  for (let i = 0; i < calls; i++) for (const side of sides) side.masker.maskResult(result); // JIT warm-up
  const times: Record<Side['name'], number[]> = { current: [], today: [] };
  for (let i = 0; i < calls; i++) {
    for (const side of i % 2 === 0 ? sides : [...sides].reverse()) {
      const a = performance.now();
      side.masker.maskResult(result);
      times[side.name].push(performance.now() - a);
    }
  }
  for (const t of Object.values(times)) t.sort((a, b) => a - b);
  return times;
}

const fmt = (v: number): string => (v >= 100 ? v.toFixed(0) : v.toFixed(1));

/** One table row: the working tree's engine, today's, and the median of the per-pass ratios. */
function row(label: string, figure: Figure, target: string): string {
  const cur = figure.passes.current;
  const tod = figure.passes.today;
  const capped = [...cur, ...tod].some((p) => p.capped) ? ` (a pass stopped after ${PASS_BUDGET_MS / 1000} s)` : '';
  const curCell = `**${fmt(median(cur.map(mbps)))}** (${cur.map((p) => fmt(mbps(p))).join(', ')}); CPU ${fmt(median(cur.map(cpuMbps)))}`;
  const findings = (passes: readonly Pass[]): string => (passes[0] === undefined ? '–' : (passes[0].findings / (passes[0].bytes / 1024)).toFixed(2));
  if (tod.length === 0) return `| ${label}${capped} | ${curCell} | – | – | ${findings(cur)} / – | ${target} |`;
  const ratios = cur.map((p, i) => mbps(p) / mbps(tod[i]!));
  const cpuRatios = cur.map((p, i) => cpuMbps(p) / cpuMbps(tod[i]!));
  const todCell = `${fmt(median(tod.map(mbps)))} (${tod.map((p) => fmt(mbps(p))).join(', ')}); CPU ${fmt(median(tod.map(cpuMbps)))}`;
  return `| ${label}${capped} | ${curCell} | ${todCell} | **${median(ratios).toFixed(2)}×**; CPU ${median(cpuRatios).toFixed(2)}× | ${findings(cur)} / ${findings(tod)} | ${target} |`;
}

/** The masking figures as markdown lines (the bench prints them; BENCHMARKS.md quotes them). */
export async function maskingBench(
  megabytes = Number(process.env.BENCH_MASK_MB ?? 16),
  adversarialMb = Number(process.env.BENCH_MASK_ADV_MB ?? 4),
  passes = Number(process.env.BENCH_MASK_PASSES ?? 3),
): Promise<string[]> {
  const loadBefore = loadavg();
  const baseline = await loadBaseline();
  const settings = { detectors: [...CURRENT_ENGINE.DETECTOR_NAMES], style: 'last4' as const, columns: [] as [] };
  const sides: Side[] = [{ name: 'current', engine: CURRENT_ENGINE, masker: new CURRENT_ENGINE.Masker(settings) }];
  if ('engine' in baseline) {
    const today = baseline.engine;
    sides.push({ name: 'today', engine: today, masker: new today.Masker({ ...settings, detectors: [...today.DETECTOR_NAMES] }) });
  }
  const table: string[] = [];
  const streamVsLines: string[] = [];

  // Result latency first, before the logs exist: tens of MB of live strings make every collection slower.
  const latency = resultLatency(sides, 500);

  const warmLines = (log: GeneratedLog) => (side: Side): void => {
    lineByLine(side.masker, side.engine, { lines: log.lines.slice(0, Math.min(log.lines.length, 10_000)), bytes: 0 }, Number.POSITIVE_INFINITY);
  };
  const textual = [
    { name: `dense mixed log, ${megabytes} MB`, make: () => denseLog(megabytes), target: '≥ 100 MB/s' },
    { name: `sparse request logs, ${megabytes} MB`, make: () => sparseLog(megabytes), target: '≥ 300 MB/s' },
  ];
  const densities: string[] = [];
  const floors: string[] = [];
  for (const input of textual) {
    const log = input.make();
    const lines = compare(sides, passes, (side, deadline) => lineByLine(side.masker, side.engine, log, deadline), warmLines(log));
    table.push(row(`${input.name}, line by line`, lines, input.target));
    const file = asFile(log);
    const stream = compare(sides, passes, (side, deadline) => streamed(side.masker, side.engine, file, deadline), (side) => streamed(side.masker, side.engine, file.slice(0, 1024 * 1024), Number.POSITIVE_INFINITY));
    table.push(row(`${input.name}, one stream in 64 KiB chunks`, stream, 'no slower than line by line'));
    for (const side of sides) {
      const ratio = (rate: (p: Pass) => number): string => (median(stream.passes[side.name].map(rate)) / median(lines.passes[side.name].map(rate))).toFixed(2);
      streamVsLines.push(`${input.name.split(',')[0]}, ${side.name === 'current' ? 'working tree' : `today (${BASELINE_COMMIT})`}: stream/line-by-line ${ratio(mbps)}× by wall time, ${ratio(cpuMbps)}× by CPU time (target ≥ 1)`);
    }
    const floor: Pass[] = [];
    bareLoop(log, Number.POSITIVE_INFINITY);
    for (let pass = 0; pass < passes; pass++) floor.push(timed((deadline) => bareLoop(log, deadline)));
    floors.push(`${input.name.split(',')[0]}: a bare loop that only reads each character and looks it up in a table (no detector) runs at ${fmt(median(floor.map(cpuMbps)))} MB/s by CPU (passes ${floor.map((f) => fmt(cpuMbps(f))).join(', ')}): the ceiling of any JavaScript scanner on these lines in this run.`);
    const found = log.lines.map((line) => sides[0]!.masker.find(line));
    const output: Pass[] = [];
    outputLoop(log, found, Number.POSITIVE_INFINITY);
    for (let pass = 0; pass < passes; pass++) output.push(timed((deadline) => outputLoop(log, found, deadline)));
    const nsPerByte = (p: Pass): number => (p.cpuMs * 1e6) / p.bytes;
    const both = median(floor.map(nsPerByte)) + median(output.map(nsPerByte));
    const perFinding = (ns: number): string => (output[0]!.findings === 0 ? '–' : ((ns * output[0]!.bytes) / output[0]!.findings).toFixed(0));
    const engineNs = median(lines.passes.current.map(nsPerByte));
    floors.push(
      `${input.name.split(',')[0]}: writing the masked lines alone, every finding already known (numbered placeholders, the same value the same one, the text between copied), runs at ${fmt(median(output.map(cpuMbps)))} MB/s by CPU (${perFinding(median(output.map(nsPerByte)))} ns per finding); with the bare loop, ${fmt(1e3 / both / 1.048576)} MB/s before anything is found. ` +
        `The working tree's engine spends ${perFinding(engineNs)} ns per finding in all (${output[0]!.findings.toLocaleString('en-US')} findings; ${written.toLocaleString('en-US')} characters written by the output loop).`,
    );
    if ('planted' in log) {
      const planted = (log as ReturnType<typeof sparseLog>).planted;
      densities.push(`sparse request logs: ${planted.length.toLocaleString('en-US')} planted findings in ${(log.bytes / 1024 / 1024).toFixed(1)} MB, one per ${(log.bytes / planted.length / 1024).toFixed(2)} KB; findings the engines report per KB are in the table (more than planted = false findings, e.g. versions typed as IP addresses).`);
    } else {
      const found = lines.passes.current[0]?.findings ?? 0;
      densities.push(`dense mixed log: one finding per ${(log.bytes / Math.max(1, found)).toFixed(0)} bytes (working tree's engine).`);
    }
  }
  for (const input of ADVERSARIAL) {
    for (const length of [4096, 65_536]) {
      const log = adversarialLog(input, adversarialMb, length);
      const figure = compare(sides, passes, (side, deadline) => lineByLine(side.masker, side.engine, log, deadline), warmLines({ lines: log.lines.slice(0, 16), bytes: 0 }));
      table.push(row(`adversarial ${input.name}: ${input.shape}, ${adversarialMb} MB in lines of ${length / 1024} KiB`, figure, '≥ 50 MB/s, same at both lengths'));
    }
  }
  const loadAfter = loadavg();
  const p = (name: Side['name'], q: number): string => (latency[name].length === 0 ? '–' : `${percentile(latency[name], q).toFixed(2)} ms`);
  const hasToday = sides.length > 1;
  return [
    `masking: all ${CURRENT_ENGINE.DETECTOR_NAMES.length} detectors, one core, in-process (no process start), Node ${process.version}, ${cpus().length} CPUs, load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')} before and ${loadAfter.map((l) => l.toFixed(2)).join(' ')} after. ` +
      (hasToday
        ? `"current" is the working tree's engine, "today" the engine at commit ${BASELINE_COMMIT} (built from git); the two alternate pass by pass over the same input. `
        : `No same-run ratio: ${'reason' in baseline ? baseline.reason : ''}. `) +
      `MB/s = input bytes / wall time, median of ${passes} passes (each pass in parentheses); CPU = input bytes / process CPU time (user + system) of the pass, the figure to trust when the machine is shared; ratios are medians of the per-pass ratios. The first run of each engine over each input is a warm-up (not counted). Command: \`npm run build && BENCH_ONLY=masking node dist/bench/run.js\`.`,
    '',
    '| input | current MB/s | today MB/s | ratio current/today (wall; CPU) | findings per KB (current / today) | target |',
    '|---|---|---|---|---|---|',
    ...table,
    `| 1,000 rows × 10 columns, p50 / p99 of ${latency.current.length} | **${p('current', 50)}** / ${p('current', 99)} | ${p('today', 50)} / ${p('today', 99)} | ${hasToday ? `**${(percentile(latency.current, 50) / percentile(latency.today, 50)).toFixed(2)}×** (p50 time)` : '–'} | | ≤ 1 ms |`,
    '',
    ...densities,
    ...streamVsLines,
    ...floors,
    '',
    ...accuracyTable(CURRENT_ENGINE, hasToday && 'engine' in baseline ? baseline.engine : undefined),
  ];
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.stdout.write(`${(await maskingBench()).join('\n')}\n`);
}
