/**
 * `BENCH_ONLY=peer npm run bench`: airlock against the real peer a user would otherwise install, the MCP
 * reference Postgres server (`@modelcontextprotocol/server-postgres` 0.6.2, a devDependency: nothing is
 * installed at run time). Both are spawned as an agent spawns them (`node …/server-postgres/dist/index.js URL`
 * and `node dist/bundle/cli.js serve --stdio …`, the file package.json's `bin` names), against the same PostgreSQL database, role and data, with the
 * same SQL, and driven by one raw JSON-RPC client (no SDK on the client side). Figures:
 *
 * 1. stdio cold start, spawn → `initialize` answered, median of 10 alternating spawns;
 * 2. 1-row call p50/p99 over stdio (the customer-by-id query with the card column), calls alternating;
 * 3. 1,000-row call p50/p99 over stdio, every row with a card number the policy masks, calls alternating;
 * 4. RSS under sustained 1,000-row calls, each server alone (VmRSS sampled every 100 ms: steady = median of
 *    the second half; peak = VmHWM);
 * 5. Streamable HTTP throughput, 50 sessions, 10,000 1-row calls in all: `airlock serve --http` against a
 *    bare MCP HTTP server on the same v2 SDK (bench/bare-http-server.ts); errors, airlock's audit records for
 *    the run and `airlock audit verify` of its store.
 *
 * Server CPU time (from /proc) is printed beside the wall-clock figures: on a shared machine it is the steadier
 * of the two. `BENCH_AIRLOCK_CLI=dist/src/cli.js` runs the unbundled build instead. `BENCH_PEER_CALLS` sets the calls of figure 4 (default 5,000), `BENCH_PEER_FIRST=peer|airlock`
 * which side runs first in figures 4 and 5 (default: chosen at random, printed).
 */
import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { seedDemoDatabase } from '../src/connectors/demo-seed.js';
import { freePort } from '../src/connectors/embedded.js';
import { failed, httpThroughput, type HttpLoad, type HttpRun, type HttpServerSpec } from './http-throughput.js';
import { cpuMsOf, median, memoryOf, percentile, RpcFailure, StdioRpc, stopChild } from './rpc.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PACKAGE = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: { airlock: string } };
/** The command an installed `airlock` runs (package.json `bin`: the bundle); `BENCH_AIRLOCK_CLI` picks another build. */
const CLI_PATH = process.env.BENCH_AIRLOCK_CLI ?? PACKAGE.bin.airlock;
export const CLI = join(ROOT, CLI_PATH);
const PEER = join(ROOT, 'node_modules', '@modelcontextprotocol', 'server-postgres', 'dist', 'index.js');
const BARE_HTTP = fileURLToPath(new URL('./bare-http-server.js', import.meta.url));

const COLD_STARTS = 10;
const ONE_ROW_CALLS = Number(process.env.BENCH_PEER_ONE_ROW_CALLS ?? 1000);
const THOUSAND_ROW_CALLS = Number(process.env.BENCH_PEER_THOUSAND_ROW_CALLS ?? 300);
const RSS_CALLS = Number(process.env.BENCH_PEER_CALLS ?? 5000);
const HTTP_SESSIONS = 50;
const HTTP_CALLS = Number(process.env.BENCH_PEER_HTTP_CALLS ?? 10_000);

/** The demo's first customer: card 4111 1111 1111 1111, which the policy masks to its last four digits. */
export const ONE_ROW_SQL = 'SELECT id, name, email, card_number FROM customers WHERE id = 1';
/** 1,000 rows, each with one of the demo's card numbers (all Luhn-valid), so every row is masked. */
const THOUSAND_ROW_SQL =
  'SELECT g AS n, c.name, c.email, c.card_number FROM generate_series(1, 1000) AS g JOIN customers c ON c.id = 1 + g % 12 ORDER BY g';
const RAW_CARD = '4111 1111 1111 1111';

export type Side = 'peer' | 'airlock';
type Child = ChildProcessByStdio<Writable, Readable, null>;

export interface Setup {
  readonly work: string;
  readonly url: string;
  readonly policy: string;
  readonly env: NodeJS.ProcessEnv;
}

/** A running stdio server and its client. */
interface StdioServer {
  readonly side: Side;
  readonly child: Child;
  readonly rpc: StdioRpc;
  readonly started: number;
}

export function auditFlags(setup: Setup, auditDir: string): string[] {
  return ['--policy', setup.policy, '--audit-dir', auditDir, '--dev-identity', 'ana@example.com,analysts', '--log-level', 'warn'];
}

function spawnStdio(side: Side, setup: Setup): StdioServer {
  const args = side === 'peer' ? [PEER, setup.url] : [CLI, 'serve', '--stdio', ...auditFlags(setup, mkdtempSync(join(setup.work, 'audit-')))];
  const started = performance.now();
  const child = spawn(process.execPath, args, { env: setup.env, stdio: ['pipe', 'pipe', 'ignore'] });
  return { side, child, rpc: new StdioRpc(child, side), started };
}

export function callParams(side: Side, sql: string): unknown {
  return side === 'peer' ? { name: 'query', arguments: { sql } } : { name: 'query_sql', arguments: { connection: 'shop', sql } };
}

/**
 * Throws unless `answer` is a successful tool result with the card masked (airlock) or in clear (the peer,
 * which does not mask): the benchmark must compare servers doing their job.
 */
export function checkAnswer(side: Side, answer: string, rows: number): void {
  const parsed = JSON.parse(answer) as { result?: { isError?: boolean; content?: { text?: string }[]; structuredContent?: { rows?: unknown[] } } };
  const result = parsed.result;
  if (result === undefined || result.isError === true) throw new RpcFailure(`${side}: the call failed: ${answer.slice(0, 400)}`);
  const text = result.content?.[0]?.text ?? '';
  if (side === 'peer') {
    const got = (JSON.parse(text) as unknown[]).length;
    if (got !== rows || !text.includes(RAW_CARD)) throw new RpcFailure(`peer: expected ${rows} row(s) with the card in clear, got ${got}`);
    return;
  }
  const got = result.structuredContent?.rows?.length;
  if (got !== rows) throw new RpcFailure(`airlock: expected ${rows} row(s), got ${String(got)}`);
  if (answer.includes(RAW_CARD) || !text.includes('1111')) throw new RpcFailure('airlock: the card column was not masked as the policy says');
}


interface ColdStarts {
  readonly ms: number[];
  /** Server CPU (user + system) spent up to `initialize` answered: steadier than wall clock on a busy machine. */
  readonly cpuMs: number[];
  readonly rssMb: number[];
}

async function coldStarts(setup: Setup): Promise<Record<Side, ColdStarts>> {
  const out: Record<Side, ColdStarts> = { peer: { ms: [], cpuMs: [], rssMb: [] }, airlock: { ms: [], cpuMs: [], rssMb: [] } };
  for (let i = 0; i < COLD_STARTS; i++) {
    for (const side of i % 2 === 0 ? (['peer', 'airlock'] as const) : (['airlock', 'peer'] as const)) {
      const server = spawnStdio(side, setup);
      try {
        await server.rpc.initialize();
        out[side].ms.push(performance.now() - server.started);
        out[side].cpuMs.push(cpuMsOf(server.child.pid ?? 0));
        out[side].rssMb.push(memoryOf(server.child.pid ?? 0).rssMb);
      } finally {
        await stopChild(server.child);
      }
    }
  }
  return out;
}

interface Latency {
  readonly times: Record<Side, number[]>;
  readonly cpuMsPerCall: Record<Side, number>;
}

/** `calls` calls on each of two running servers, alternating which goes first, after a warm-up. */
async function alternate(servers: Record<Side, StdioServer>, sql: string, rows: number, calls: number): Promise<Latency> {
  const once = async (side: Side): Promise<number> => {
    const t = performance.now();
    const answer = await servers[side].rpc.request('tools/call', callParams(side, sql));
    const elapsed = performance.now() - t;
    if (failed(answer)) checkAnswer(side, answer, rows);
    return elapsed;
  };
  for (const side of ['peer', 'airlock'] as const) checkAnswer(side, await servers[side].rpc.request('tools/call', callParams(side, sql)), rows);
  for (let i = 0; i < Math.max(20, calls / 10); i++) {
    await once('peer');
    await once('airlock');
  }
  const cpu0 = { peer: cpuMsOf(servers.peer.child.pid ?? 0), airlock: cpuMsOf(servers.airlock.child.pid ?? 0) };
  const times: Record<Side, number[]> = { peer: [], airlock: [] };
  for (let i = 0; i < calls; i++) {
    for (const side of i % 2 === 0 ? (['peer', 'airlock'] as const) : (['airlock', 'peer'] as const)) times[side].push(await once(side));
  }
  return {
    times,
    cpuMsPerCall: {
      peer: (cpuMsOf(servers.peer.child.pid ?? 0) - cpu0.peer) / calls,
      airlock: (cpuMsOf(servers.airlock.child.pid ?? 0) - cpu0.airlock) / calls,
    },
  };
}

interface Memory {
  readonly steadyMb: number;
  readonly peakMb: number;
  readonly callsPerSecond: number;
  readonly cpuMsPerCall: number;
}

/** One server alone under `calls` sequential 1,000-row calls, its VmRSS sampled every 100 ms. */
async function memoryUnderLoad(side: Side, setup: Setup, calls: number): Promise<Memory> {
  const server = spawnStdio(side, setup);
  const pid = server.child.pid ?? 0;
  const samples: number[] = [];
  const sampler = setInterval(() => {
    try {
      samples.push(memoryOf(pid).rssMb);
    } catch {
      // The process is gone; the call loop reports why.
    }
  }, 100);
  try {
    await server.rpc.initialize();
    checkAnswer(side, await server.rpc.request('tools/call', callParams(side, THOUSAND_ROW_SQL)), 1000);
    const cpu0 = cpuMsOf(pid);
    const started = performance.now();
    for (let i = 1; i < calls; i++) {
      const answer = await server.rpc.request('tools/call', callParams(side, THOUSAND_ROW_SQL));
      if (failed(answer)) checkAnswer(side, answer, 1000);
    }
    const elapsed = performance.now() - started;
    const secondHalf = samples.slice(Math.floor(samples.length / 2));
    return { steadyMb: median(secondHalf), peakMb: memoryOf(pid).peakMb, callsPerSecond: ((calls - 1) / elapsed) * 1000, cpuMsPerCall: (cpuMsOf(pid) - cpu0) / (calls - 1) };
  } finally {
    clearInterval(sampler);
    await stopChild(server.child);
  }
}

/** The bare v2-SDK HTTP server of figure 5 (bench/bare-http-server.ts), doing what the peer does. */
export function bareHttp(setup: Setup): HttpServerSpec {
  return { label: 'bare HTTP server', args: (port) => [BARE_HTTP, String(port), setup.url], ready: 'stdout', params: callParams('peer', ONE_ROW_SQL), check: (a) => checkAnswer('peer', a, 1) };
}

/**
 * `airlock serve --http` for figure 5, its audit in `auditDir`. One dev principal drives all 50 sessions:
 * its per-principal caps (4 calls at once, 32 sessions) are lifted so that no call waits at airlock's gate
 * that the bare server would not make wait too. `cli` picks the build (default: the one `bin` names).
 */
export function airlockHttp(setup: Setup, auditDir: string, options: { cli?: string; label?: string; extraArgs?: (port: number) => string[] } = {}): HttpServerSpec {
  return {
    label: options.label ?? 'airlock serve --http',
    args: (port) => [
      options.cli ?? CLI, 'serve', '--http', '--port', String(port), ...auditFlags(setup, auditDir),
      '--max-sessions-per-principal', String(HTTP_SESSIONS * 2), '--max-concurrent-calls', String(HTTP_SESSIONS), '--call-queue', String(HTTP_SESSIONS),
      ...(options.extraArgs?.(port) ?? []),
    ],
    ready: 'healthz',
    params: callParams('airlock', ONE_ROW_SQL),
    check: (a) => checkAnswer('airlock', a, 1),
  };
}

/** The HTTP load of figure 5: 50 sessions, `calls` (default 10,000) calls in all. */
export function httpLoad(setup: Setup, calls = HTTP_CALLS): HttpLoad {
  return { sessions: HTTP_SESSIONS, calls, env: setup.env, port: freePort };
}

/** airlock's own reading of its audit store: tool-call records of the run, and `airlock audit verify`. */
export function auditOf(auditDir: string, env: NodeJS.ProcessEnv): { records: number; toolCalls: number; ok: number; verify: string; verifyExit: number } {
  const exported = spawnSync(process.execPath, [CLI, 'audit', 'export', '--audit-dir', auditDir, '--format', 'jsonl'], { env, encoding: 'utf8', maxBuffer: 1 << 30 });
  if (exported.status !== 0) throw new Error(`airlock audit export failed (${exported.status}): ${exported.stderr.slice(-500)}`);
  const records = exported.stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as { tool?: string; outcome?: string });
  const verify = spawnSync(process.execPath, [CLI, 'audit', 'verify', '--audit-dir', auditDir], { env, encoding: 'utf8' });
  return {
    records: records.length,
    toolCalls: records.filter((r) => r.tool === 'query_sql').length,
    ok: records.filter((r) => r.tool === 'query_sql' && r.outcome === 'ok').length,
    verify: (verify.stdout || verify.stderr).trim().split('\n')[0] ?? '',
    verifyExit: verify.status ?? -1,
  };
}

const ms = (v: number, digits = 2): string => `${v.toFixed(digits)} ms`;
const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}×`;

/**
 * The peer bench's database and policy on a PostgreSQL reachable as `adminUrl`: the demo shop, one read rule
 * with the shipped default limits (1,000 rows, 1 MiB: room for the 1,000-row query), the card column masked
 * by content. Temp files go under `work`.
 */
export async function peerSetup(adminUrl: string, work: string): Promise<Setup> {
  const demo = await seedDemoDatabase(adminUrl, 'airlock_bench_peer');
  const policy = join(work, 'peer-policies.json');
  writeFileSync(
    policy,
    JSON.stringify({
      version: 1,
      resources: { connections: { shop: { url: 'env:BENCH_DATABASE_URL' } } },
      rules: [{ id: 'read', effect: 'allow', principals: { groups: ['analysts'] }, tools: ['query_sql'], resources: ['shop'], sql: { classes: ['read'] } }],
      masking: { detectors: ['CREDIT_CARD'], style: 'last4' },
    }),
  );
  return { work, url: demo.url, policy, env: { PATH: process.env.PATH ?? '', HOME: work, BENCH_DATABASE_URL: demo.url } };
}

/** The peer benchmark on a PostgreSQL reachable as `adminUrl`; temp files go under `work`. */
export async function peerBench(adminUrl: string, work: string): Promise<string[]> {
  const setup = await peerSetup(adminUrl, work);
  const firstEnv = process.env.BENCH_PEER_FIRST;
  const first: Side = firstEnv === 'peer' || firstEnv === 'airlock' ? firstEnv : Math.random() < 0.5 ? 'peer' : 'airlock';
  const order: readonly Side[] = first === 'peer' ? ['peer', 'airlock'] : ['airlock', 'peer'];
  const progress = (message: string): boolean => process.stderr.write(`peer: ${message}\n`);

  progress(`cold start, ${COLD_STARTS} alternating spawns each`);
  const cold = await coldStarts(setup);

  progress(`1-row and 1,000-row calls over stdio, alternating`);
  const servers = { peer: spawnStdio('peer', setup), airlock: spawnStdio('airlock', setup) };
  let one: Latency;
  let thousand: Latency;
  try {
    await servers.peer.rpc.initialize();
    await servers.airlock.rpc.initialize();
    one = await alternate(servers, ONE_ROW_SQL, 1, ONE_ROW_CALLS);
    thousand = await alternate(servers, THOUSAND_ROW_SQL, 1000, THOUSAND_ROW_CALLS);
  } finally {
    await Promise.all([stopChild(servers.peer.child), stopChild(servers.airlock.child)]);
  }

  const memory = {} as Record<Side, Memory>;
  for (const side of order) {
    progress(`RSS: ${side} alone, ${RSS_CALLS} × 1,000-row calls`);
    memory[side] = await memoryUnderLoad(side, setup, RSS_CALLS);
  }

  const http = {} as Record<Side, HttpRun>;
  const httpAudit = mkdtempSync(join(setup.work, 'audit-http-'));
  for (const side of order) {
    progress(`Streamable HTTP: ${side === 'peer' ? 'bare server' : 'airlock'}, ${HTTP_SESSIONS} sessions, ${HTTP_CALLS} calls`);
    http[side] = await httpThroughput(side === 'peer' ? bareHttp(setup) : airlockHttp(setup, httpAudit), httpLoad(setup));
  }
  const audit = auditOf(httpAudit, setup.env);

  const p = (side: Side, l: Latency, q: number): number => percentile(l.times[side], q);
  const coldP = median(cold.peer.ms);
  const coldA = median(cold.airlock.ms);
  return [
    `airlock vs the MCP reference Postgres server (@modelcontextprotocol/server-postgres 0.6.2, "peer"), same PostgreSQL, role, data and SQL, one raw JSON-RPC client, Node ${process.version}, airlock run as node ${CLI_PATH}. ` +
      `Stdio figures alternate between the sides call by call; RSS and HTTP run each server alone (${order.join(' first, then ')}). Server CPU from /proc (10 ms ticks).`,
    '',
    '| figure | airlock | peer / bare | ratio (airlock/peer) | added |',
    '|---|---|---|---|---|',
    `| stdio cold start to \`initialize\` answered, median of ${COLD_STARTS} | ${ms(coldA, 0)} | ${ms(coldP, 0)} | ${ratio(coldA, coldP)} | ${ms(coldA - coldP, 0)} |`,
    `| stdio cold start, server CPU to \`initialize\` answered, median | ${ms(median(cold.airlock.cpuMs), 0)} | ${ms(median(cold.peer.cpuMs), 0)} | ${ratio(median(cold.airlock.cpuMs), median(cold.peer.cpuMs))} | ${ms(median(cold.airlock.cpuMs) - median(cold.peer.cpuMs), 0)} |`,
    `| RSS right after \`initialize\`, median | ${median(cold.airlock.rssMb).toFixed(0)} MB | ${median(cold.peer.rssMb).toFixed(0)} MB | ${ratio(median(cold.airlock.rssMb), median(cold.peer.rssMb))} | |`,
    `| 1-row call p50 over stdio (${ONE_ROW_CALLS} each) | ${ms(p('airlock', one, 50), 3)} | ${ms(p('peer', one, 50), 3)} | ${ratio(p('airlock', one, 50), p('peer', one, 50))} | **${ms(p('airlock', one, 50) - p('peer', one, 50), 3)}** |`,
    `| 1-row call p99 over stdio | ${ms(p('airlock', one, 99), 3)} | ${ms(p('peer', one, 99), 3)} | ${ratio(p('airlock', one, 99), p('peer', one, 99))} | ${ms(p('airlock', one, 99) - p('peer', one, 99), 3)} |`,
    `| 1-row call, server CPU per call | ${ms(one.cpuMsPerCall.airlock, 3)} | ${ms(one.cpuMsPerCall.peer, 3)} | ${ratio(one.cpuMsPerCall.airlock, one.cpuMsPerCall.peer)} | ${ms(one.cpuMsPerCall.airlock - one.cpuMsPerCall.peer, 3)} |`,
    `| 1,000-row call p50 over stdio, card column masked (${THOUSAND_ROW_CALLS} each) | ${ms(p('airlock', thousand, 50))} | ${ms(p('peer', thousand, 50))} | **${ratio(p('airlock', thousand, 50), p('peer', thousand, 50))}** | ${ms(p('airlock', thousand, 50) - p('peer', thousand, 50))} |`,
    `| 1,000-row call p99 over stdio | ${ms(p('airlock', thousand, 99))} | ${ms(p('peer', thousand, 99))} | ${ratio(p('airlock', thousand, 99), p('peer', thousand, 99))} | ${ms(p('airlock', thousand, 99) - p('peer', thousand, 99))} |`,
    `| 1,000-row call, server CPU per call | ${ms(thousand.cpuMsPerCall.airlock)} | ${ms(thousand.cpuMsPerCall.peer)} | ${ratio(thousand.cpuMsPerCall.airlock, thousand.cpuMsPerCall.peer)} | ${ms(thousand.cpuMsPerCall.airlock - thousand.cpuMsPerCall.peer)} |`,
    `| RSS steady under ${RSS_CALLS.toLocaleString('en-US')} × 1,000-row calls (median of the second half) | ${memory.airlock.steadyMb.toFixed(0)} MB | ${memory.peer.steadyMb.toFixed(0)} MB | **${ratio(memory.airlock.steadyMb, memory.peer.steadyMb)}** | |`,
    `| RSS peak (VmHWM) in that run | ${memory.airlock.peakMb.toFixed(0)} MB | ${memory.peer.peakMb.toFixed(0)} MB | ${ratio(memory.airlock.peakMb, memory.peer.peakMb)} | |`,
    `| 1,000-row calls/s in that run (one at a time), server CPU per call | ${memory.airlock.callsPerSecond.toFixed(0)}/s, ${ms(memory.airlock.cpuMsPerCall)} | ${memory.peer.callsPerSecond.toFixed(0)}/s, ${ms(memory.peer.cpuMsPerCall)} | ${ratio(memory.airlock.callsPerSecond, memory.peer.callsPerSecond)} | |`,
    `| Streamable HTTP, ${HTTP_SESSIONS} sessions, ${HTTP_CALLS.toLocaleString('en-US')} 1-row calls: throughput vs a bare v2-SDK server | ${http.airlock.callsPerSecond.toFixed(0)} calls/s | ${http.peer.callsPerSecond.toFixed(0)} calls/s | **${ratio(http.airlock.callsPerSecond, http.peer.callsPerSecond)}** | |`,
    `| Streamable HTTP, server CPU per call | ${ms(http.airlock.cpuMsPerCall, 3)} | ${ms(http.peer.cpuMsPerCall, 3)} | ${ratio(http.airlock.cpuMsPerCall, http.peer.cpuMsPerCall)} | ${ms(http.airlock.cpuMsPerCall - http.peer.cpuMsPerCall, 3)} |`,
    `| Streamable HTTP errors | ${http.airlock.errors} | ${http.peer.errors} | | |`,
    '',
    `airlock's audit store for the HTTP run: ${audit.records} record(s), ${audit.toolCalls} query_sql call record(s) (${audit.ok} ok; expected ${HTTP_CALLS}: ${audit.toolCalls === HTTP_CALLS ? 'yes' : '**NO**'}); \`airlock audit verify\`: exit ${audit.verifyExit}, "${audit.verify}"`,
    ...(http.airlock.errors + http.peer.errors > 0 ? [`first HTTP error: airlock "${http.airlock.firstError}", bare "${http.peer.firstError}"`] : []),
    `airlock serve --http ran with --max-sessions-per-principal ${HTTP_SESSIONS * 2} --max-concurrent-calls ${HTTP_SESSIONS} --call-queue ${HTTP_SESSIONS} (one dev principal drives all sessions); the bare HTTP server is bench/bare-http-server.ts on @modelcontextprotocol/server 2.x + @modelcontextprotocol/node, stateful sessions, pg pool of 10 like airlock's.`,
  ];
}
