/**
 * `BENCH_ONLY=metrics npm run bench`: what Prometheus metrics cost per call. The same airlock build, data,
 * policy and SQL (the peer bench's 1-row `query_sql`, card masked, audit on), run with metrics off and with
 * `--metrics-port` (every call counted, timed per stage and in the audit writes), side by side in one run:
 *
 * 1. stdio: two servers, 1-row calls alternating call by call after a warm-up; p50 and server CPU per call;
 * 2. Streamable HTTP: 50 sessions and `BENCH_PEER_HTTP_CALLS` (default 10,000) calls per run, the two sides
 *    one after the other in `BENCH_METRICS_ROUNDS` (default 3) rounds, the order turned each round;
 *    throughput, p50 and server CPU per call.
 *
 * The metrics side is scraped after its calls: the run fails unless `airlock_calls_total` counts every call.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from '../src/connectors/embedded.js';
import { failed, httpThroughput, type HttpRun } from './http-throughput.js';
import { airlockHttp, auditFlags, callParams, checkAnswer, CLI, httpLoad, ONE_ROW_SQL, peerSetup, type Setup } from './peer.js';
import { cpuMsOf, median, percentile, RpcFailure, StdioRpc, stopChild } from './rpc.js';

const ROUNDS = Number(process.env.BENCH_METRICS_ROUNDS ?? 3);
const STDIO_CALLS = Number(process.env.BENCH_METRICS_STDIO_CALLS ?? 2000);

type Mode = 'off' | 'on';
const MODES: readonly Mode[] = ['off', 'on'];

/** Throws unless the exposition on `port` counts `calls` ok query_sql calls. */
async function checkCounted(port: number, calls: number): Promise<void> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('airlock_calls_total{') && l.includes('tool="query_sql"') && l.includes('outcome="ok"'));
  const counted = Number(line?.split(' ').at(-1));
  if (counted !== calls) throw new RpcFailure(`metrics: airlock_calls_total counts ${String(line)}, expected ${calls} calls`);
}

/** Both stdio servers at once, 1-row calls alternating call by call (which side goes first turns each call). */
async function stdioPair(setup: Setup): Promise<Record<Mode, { times: number[]; cpuMsPerCall: number }>> {
  const metricsPort = await freePort();
  const start = (mode: Mode): { child: ReturnType<typeof spawn>; rpc: StdioRpc } => {
    const args = [CLI, 'serve', '--stdio', ...auditFlags(setup, mkdtempSync(join(setup.work, 'audit-'))), ...(mode === 'on' ? ['--metrics-port', String(metricsPort)] : [])];
    const child = spawn(process.execPath, args, { env: setup.env, stdio: ['pipe', 'pipe', 'ignore'] });
    return { child, rpc: new StdioRpc(child, `metrics ${mode}`) };
  };
  const servers = { off: start('off'), on: start('on') };
  try {
    const params = callParams('airlock', ONE_ROW_SQL);
    for (const mode of MODES) {
      await servers[mode].rpc.initialize();
      checkAnswer('airlock', await servers[mode].rpc.request('tools/call', params), 1);
    }
    const once = async (mode: Mode): Promise<number> => {
      const t = performance.now();
      const answer = await servers[mode].rpc.request('tools/call', params);
      const elapsed = performance.now() - t;
      if (failed(answer)) checkAnswer('airlock', answer, 1);
      return elapsed;
    };
    const warmUp = Math.max(100, STDIO_CALLS / 2);
    for (let i = 0; i < warmUp; i++) for (const mode of MODES) await once(mode);
    const cpu0 = { off: cpuMsOf(servers.off.child.pid ?? 0), on: cpuMsOf(servers.on.child.pid ?? 0) };
    const times: Record<Mode, number[]> = { off: [], on: [] };
    for (let i = 0; i < STDIO_CALLS; i++) for (const mode of i % 2 === 0 ? MODES : [...MODES].reverse()) times[mode].push(await once(mode));
    const cpu = (mode: Mode): number => (cpuMsOf(servers[mode].child.pid ?? 0) - cpu0[mode]) / STDIO_CALLS;
    const result = { off: { times: times.off, cpuMsPerCall: cpu('off') }, on: { times: times.on, cpuMsPerCall: cpu('on') } };
    await checkCounted(metricsPort, 1 + warmUp + STDIO_CALLS);
    return result;
  } finally {
    await Promise.all(MODES.map(async (mode) => stopChild(servers[mode].child)));
  }
}

/** The metrics-on/off table on a PostgreSQL reachable as `adminUrl`; temp files go under `work`. */
export async function metricsBench(adminUrl: string, work: string): Promise<string[]> {
  const setup = await peerSetup(adminUrl, work);
  process.stderr.write(`metrics: stdio, ${STDIO_CALLS} 1-row calls each, alternating\n`);
  const stdio = await stdioPair(setup);
  const load = httpLoad(setup);
  const http: Record<Mode, HttpRun[]> = { off: [], on: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const mode of round % 2 === 0 ? MODES : [...MODES].reverse()) {
      process.stderr.write(`metrics: HTTP round ${round + 1}/${ROUNDS}, metrics ${mode}, ${load.sessions} sessions, ${load.calls} calls\n`);
      const metricsPort = await freePort();
      const base = airlockHttp(setup, mkdtempSync(join(work, 'audit-http-')), { label: `airlock, metrics ${mode}`, ...(mode === 'on' ? { extraArgs: () => ['--metrics-port', String(metricsPort)] } : {}) });
      http[mode].push(await httpThroughput(mode === 'on' ? { ...base, after: async () => checkCounted(metricsPort, load.calls) } : base, load));
    }
  }
  const p50 = (mode: Mode): number => percentile(stdio[mode].times, 50);
  const med = (mode: Mode, pick: (r: HttpRun) => number): number => median(http[mode].map(pick));
  const ratios = (pick: (r: HttpRun) => number): number[] => http.on.map((r, i) => pick(r) / pick(http.off[i] as HttpRun));
  const row = (label: string, off: string, on: string, ratio: string): string => `| ${label} | ${off} | ${on} | ${ratio} |`;
  return [
    `airlock with metrics off and on (--metrics-port), same build (node ${CLI}), data, policy and 1-row query_sql (card masked, audit on), Node ${process.version}. ` +
      `stdio: two servers, calls alternating; HTTP: ${load.sessions} sessions, ${load.calls.toLocaleString('en-US')} calls per run, ${ROUNDS} round(s), order turned each round (ratios are per round, then the median).`,
    '',
    '| figure | metrics off | metrics on | on / off |',
    '|---|---|---|---|',
    row(`stdio 1-row p50 (${STDIO_CALLS} each)`, `${p50('off').toFixed(3)} ms`, `${p50('on').toFixed(3)} ms`, `**${(p50('on') / p50('off')).toFixed(3)}×** (${((p50('on') - p50('off')) * 1000).toFixed(0)} µs)`),
    row('stdio server CPU per call', `${stdio.off.cpuMsPerCall.toFixed(3)} ms`, `${stdio.on.cpuMsPerCall.toFixed(3)} ms`, `${(stdio.on.cpuMsPerCall / stdio.off.cpuMsPerCall).toFixed(3)}×`),
    ...http.off.map((off, i) => {
      const on = http.on[i] as HttpRun;
      return row(`HTTP round ${i + 1}: calls/s, p50`, `${off.callsPerSecond.toFixed(0)}/s, ${off.p50Ms.toFixed(2)} ms`, `${on.callsPerSecond.toFixed(0)}/s, ${on.p50Ms.toFixed(2)} ms`, `${(on.callsPerSecond / off.callsPerSecond).toFixed(3)}×, ${(on.p50Ms / off.p50Ms).toFixed(3)}×`);
    }),
    row('HTTP throughput, median', `${med('off', (r) => r.callsPerSecond).toFixed(0)}/s`, `${med('on', (r) => r.callsPerSecond).toFixed(0)}/s`, `**${median(ratios((r) => r.callsPerSecond)).toFixed(3)}×**`),
    row('HTTP p50, median', `${med('off', (r) => r.p50Ms).toFixed(2)} ms`, `${med('on', (r) => r.p50Ms).toFixed(2)} ms`, `**${median(ratios((r) => r.p50Ms)).toFixed(3)}×**`),
    row('HTTP server CPU per call, median', `${med('off', (r) => r.cpuMsPerCall).toFixed(3)} ms`, `${med('on', (r) => r.cpuMsPerCall).toFixed(3)} ms`, `${median(ratios((r) => r.cpuMsPerCall)).toFixed(3)}×`),
    row('HTTP errors', String(http.off.reduce((n, r) => n + r.errors, 0)), String(http.on.reduce((n, r) => n + r.errors, 0)), ''),
    '',
    'The metrics side was scraped after each run: airlock_calls_total counted every call.',
  ];
}
