/**
 * tail_logs vs the bare Cloud Logging client (issue 18).
 *
 * `BENCH_LOGGING_N` entries (default 10,000) like the demo's (`demoLiveEntry`: JSON app logs with emails,
 * cards, passwords and bearer tokens; request logs with tokens in URLs, IPs and user agents; stack traces
 * with an AWS key; audit logs with principals and secrets), spread over two hours, are served by the loopback
 * Logging gRPC server (`startLocalLogging`, filters evaluated with airlock's own filter parser and matcher).
 * Both sides list all of them through the same filter, from the same server, in the same run:
 *
 * - **airlock**: the compiled CLI (`airlock serve --stdio`) with a runtime `--config` whose `logging.endpoint`
 *   is the local server, a policy with one log scope (the project), `limits.maxRows` 1,000 and a byte cap
 *   large enough for 1,000 entries, every masking detector on and the audit store on; the v1 SDK client calls
 *   `tail_logs` with the window as RFC 3339 times, `order: "asc"`, `limit: 1000`, and follows `nextPageToken`
 *   (as `page_token`) until every entry has been returned.
 * - **bare**: `@google-cloud/logging` in this process, `getEntries` with the very filter airlock sent
 *   upstream (its `filter` output), `orderBy: "timestamp asc"`, `pageSize: 1000`, paging with the returned
 *   query; no masking, no audit.
 *
 * Runs alternate between the sides (`BENCH_LOGGING_ROUNDS`, default 3, the order flips each round) after a
 * warm-up run each; the table gives entries/s at the median and the ratio.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Logging, type GetEntriesResponse } from '@google-cloud/logging';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { DEMO_PROJECT, demoLiveEntry } from '../src/connectors/demo-logs.js';
import { startLocalLogging } from '../src/connectors/local-logging.js';
import { localLoggingClientOptions } from '../src/connectors/local-logging-client.js';
import type { LogEntryJson } from '../src/connectors/log-entry-proto.js';
import { DETECTOR_NAMES } from '../src/masking/detectors.js';
import { logFilterMatcher } from '../src/policy/log-filter-match.js';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const PAGE = 1000;

type GetEntriesRequest = NonNullable<Parameters<Logging['getEntries']>[0]>;
const SPAN_MS = 2 * 3600_000;

/** Peak and current resident set of a process, in MB (Linux /proc). */
function rssOf(pid: number): { peak: number; now: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { peak: kb('VmHWM') / 1024, now: kb('VmRSS') / 1024 };
}

/** `n` demo-like entries, oldest first, evenly over the two hours before `end`. */
function entries(n: number, end: Date): LogEntryJson[] {
  const out: LogEntryJson[] = [];
  for (let i = 0; i < n; i++) out.push(demoLiveEntry(i, new Date(end.getTime() - SPAN_MS + Math.floor((i * SPAN_MS) / n))));
  return out;
}

interface TailResult {
  readonly isError?: boolean;
  readonly structuredContent?: { entries?: unknown[]; count?: number; nextPageToken?: string; filter?: string; truncated?: boolean };
}

/** Lists every entry of the window through tail_logs; returns the count, the filter sent upstream and the time. */
async function airlockList(client: Client, since: string, until: string): Promise<{ ms: number; count: number; calls: number; filter: string; chars: number }> {
  let count = 0;
  let calls = 0;
  let chars = 0;
  let filter = '';
  let pageToken: string | undefined;
  const began = performance.now();
  do {
    const result = (await client.callTool(
      { name: 'tail_logs', arguments: { scope: 'bench', since, until, order: 'asc', limit: PAGE, ...(pageToken === undefined ? {} : { page_token: pageToken }) } },
      undefined,
      { timeout: 300_000 },
    )) as TailResult;
    const value = result.structuredContent;
    if (result.isError === true || value?.entries === undefined) throw new Error(`tail_logs failed after ${count} entries: ${JSON.stringify(result).slice(0, 500)}`);
    calls++;
    count += value.entries.length;
    if (calls === 1) {
      filter = value.filter ?? '';
      chars = JSON.stringify(value.entries).length;
      // Masking must have happened: the demo's test card number never comes back whole.
      if (JSON.stringify(value.entries).includes('4111111111111111')) throw new Error('tail_logs returned an unmasked card number');
    }
    pageToken = value.nextPageToken;
  } while (pageToken !== undefined);
  return { ms: performance.now() - began, count, calls, filter, chars };
}

/** Lists every entry matching `filter` with the bare client, paging with the query it returns. */
async function bareList(logging: Logging, filter: string): Promise<{ ms: number; count: number }> {
  let count = 0;
  const began = performance.now();
  let query: GetEntriesRequest | undefined = { resourceNames: [`projects/${DEMO_PROJECT}`], filter, orderBy: 'timestamp asc', pageSize: PAGE, autoPaginate: false };
  while (query !== undefined) {
    const response: GetEntriesResponse = await logging.getEntries({ ...query, autoPaginate: false });
    count += response[0].length;
    // The client returns the next page's query (with its token) or null on the last page.
    query = (response[1] as GetEntriesRequest | null) ?? undefined;
  }
  return { ms: performance.now() - began, count };
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? Number.NaN) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

/** Runs the tail_logs benchmark in `work`. Returns the Markdown lines of its table. */
export async function loggingBench(work: string): Promise<string[]> {
  const n = Number(process.env.BENCH_LOGGING_N ?? 10_000);
  const rounds = Number(process.env.BENCH_LOGGING_ROUNDS ?? 3);
  // BENCH_LOGGING_PROF=DIR: the airlock process writes a CPU profile there.
  const prof = process.env.BENCH_LOGGING_PROF;
  // The Logging client must never probe the metadata server (a link-local address) from this process.
  process.env.METADATA_SERVER_DETECTION = 'none';
  const end = new Date(Date.now() - 60_000);
  const since = new Date(end.getTime() - SPAN_MS - 60_000).toISOString();
  const until = new Date(end.getTime() + 30_000).toISOString();
  const server = await startLocalLogging({
    entries: entries(n, end),
    match: logFilterMatcher(),
  });
  const dir = join(work, 'logging');
  mkdirSync(dir, { recursive: true });
  const policyPath = join(dir, 'policies.json');
  writeFileSync(
    policyPath,
    JSON.stringify({
      version: 1,
      resources: { logScopes: { bench: { project: DEMO_PROJECT } } },
      // 16 MiB: 1,000 of these entries serialise to ~1 MB, so the row cap (not the byte cap) ends each page.
      defaults: { limits: { maxRows: PAGE, maxBytes: 16 * 1024 * 1024, maxWindow: '24h', timeoutMs: 120_000 } },
      rules: [{ id: 'read-logs', effect: 'allow', principals: { groups: ['analysts'] }, tools: ['tail_logs'], resources: ['bench'] }],
      masking: { detectors: [...DETECTOR_NAMES], style: 'last4' },
    }),
  );
  const configPath = join(dir, 'airlock.json');
  writeFileSync(configPath, JSON.stringify({ logging: { endpoint: server.address } }));
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [...(prof === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', prof]), CLI, 'serve', '--stdio', '--config', configPath, '--policy', policyPath, '--audit-dir', join(dir, 'audit'), '--dev-identity', 'ana@example.com,analysts', '--log-level', 'warn'],
    env: { PATH: process.env.PATH ?? '', HOME: dir },
    cwd: dir,
    stderr: 'inherit',
  });
  const client = new Client({ name: 'bench-tail-logs', version: '1.0.0' });
  const logging = new Logging(localLoggingClientOptions(server.address, DEMO_PROJECT));
  try {
    await client.connect(transport);
    const pid = transport.pid;
    if (pid === null) throw new Error('airlock serve --stdio did not start');
    process.stderr.write(`logging bench: ${n} entries…\n`);
    const warm = await airlockList(client, since, until);
    // A shortfall is reported in the table rather than stopping the run: it is a finding about tail_logs paging.
    const shortfall = warm.count === n ? '' : ` **tail_logs returned ${warm.count} of the ${n} entries over ${warm.calls} pages** (the bare client: all of them).`;
    if (warm.count < n * 0.9) throw new Error(`tail_logs listed ${warm.count} entries, expected ${n}`);
    const warmBare = await bareList(logging, warm.filter);
    if (warmBare.count !== n) throw new Error(`the bare client listed ${warmBare.count} entries, expected ${n}`);
    const a: number[] = [];
    const b: number[] = [];
    for (let i = 0; i < rounds; i++) {
      if (i % 2 === 1) b.push((await bareList(logging, warm.filter)).ms);
      a.push((await airlockList(client, since, until)).ms);
      if (i % 2 === 0) b.push((await bareList(logging, warm.filter)).ms);
    }
    const am = median(a);
    const bm = median(b);
    const rate = (ms: number): number => n / (ms / 1000);
    const perRound = a.map((ms, i) => (rate(ms) / rate(b[i] ?? Number.NaN)).toFixed(2)).join(', ');
    const m = rssOf(pid);
    return [
      `tail_logs (airlock serve --stdio, all ${DETECTOR_NAMES.length} detectors, audit on) vs bare @google-cloud/logging \`getEntries\` with the same filter, same loopback Logging server; ${n} entries in pages of ${PAGE}; median of ${rounds} alternating rounds after 1 warm-up; Node ${process.version}`,
      '',
      '| measure | bare client | airlock tail_logs (masked) | airlock / bare (throughput) | added per call |',
      '|---|---|---|---|---|',
      `| ${n.toLocaleString('en-US')} entries, ${warm.calls} calls of ≤ ${PAGE} | ${rate(bm).toFixed(0)} entries/s (${(bm / 1000).toFixed(2)} s) | ${rate(am).toFixed(0)} entries/s (${(am / 1000).toFixed(2)} s) | **${(rate(am) / rate(bm)).toFixed(3)}×** (rounds: ${perRound}) | ${((am - bm) / warm.calls).toFixed(1)} ms |`,
      '',
      `First page: ${warm.chars.toLocaleString('en-US')} characters of masked entries as JSON; airlock RSS after the run ${m.now.toFixed(0)} MB, peak ${m.peak.toFixed(0)} MB (VmHWM). Filter sent upstream: \`${warm.filter}\`.${shortfall}`,
    ];
  } finally {
    await client.close().catch(() => undefined);
    await server.close();
  }
}
