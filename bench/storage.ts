/**
 * read_bucket vs the bare Cloud Storage client (issue 18).
 *
 * A deterministic mixed-content object (`BENCH_STORAGE_MB`, default 50 MB: JSON lines, CSV-like lines and
 * plain log lines with emails, card numbers, IPs, bearer JWTs, API keys and passwords every few lines) is
 * generated into a temp folder and served by the loopback GCS JSON API server (`startLocalGcs`). Both sides
 * read it whole, from the same server, in the same run:
 *
 * - **airlock**: the compiled CLI (`airlock serve --stdio`, what an agent spawns) with a runtime `--config`
 *   whose `storage.endpoint` is the local server, a policy that allows the bucket's `bench/**` objects, every
 *   masking detector on and the audit store on; the v1 SDK client calls `read_bucket` with `range.start` and
 *   follows `next.range.start` until the content is no longer truncated. Two bucket aliases of the same bucket
 *   set the range size through `limits.maxBytes` (1 MiB and 4 MiB, the most read_bucket returns per call).
 * - **bare**: `@google-cloud/storage` in this process reading the very byte ranges airlock read
 *   (`file.download({ start, end })`), no masking, no audit.
 *
 * Reads alternate between the sides (`BENCH_STORAGE_ROUNDS` rounds, default 3; the order flips each round).
 * Each range size runs in a fresh airlock process whose peak RSS (VmHWM) is read from /proc at its end; a
 * second, larger object (`BENCH_STORAGE_BIG_MB`, default 200; 0 skips it) is read once per range size by
 * fresh processes too, to show whether the peak grows with the object.
 */
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { Storage } from '@google-cloud/storage';
import { startLocalGcs } from '../src/connectors/local-gcs.js';
import { DETECTOR_NAMES } from '../src/masking/detectors.js';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const BUCKET = 'airlock-bench';
const MIB = 1024 * 1024;
const RANGE_SIZES = (process.env.BENCH_STORAGE_RANGES ?? '1,4').split(',').map(Number);
/** One bucket alias per range size (MiB, `BENCH_STORAGE_RANGES`, default "1,4"): its `limits.maxBytes`. */
const RANGES = RANGE_SIZES.map((mib) => ({ alias: `bench${mib}m`, maxBytes: mib * MIB, label: `${mib} MiB` }));
// Test card numbers that pass the Luhn check, so the card detector has to validate and mask them.
const CARDS = ['4111111111111111', '5500005555555559', '378282246310005', '6011111111111117', '4012888888881881'];

/** Deterministic pseudo-random numbers (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function token(r: () => number, length: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let out = '';
  while (out.length < length) out += alphabet[Math.floor(r() * alphabet.length)];
  return out;
}

/** One line of the mixed object: roughly one in three carries something a detector must mask. */
function line(r: () => number, n: number): string {
  const minute = String(n % 60).padStart(2, '0');
  const ts = `2026-12-01T10:${minute}:${String(Math.floor(r() * 60)).padStart(2, '0')}Z`;
  const user = `user${Math.floor(r() * 5000)}@example.com`;
  switch (n % 9) {
    case 0:
      return JSON.stringify({ ts, level: 'info', msg: 'payment authorised', user: { email: user, id: `u_${token(r, 8)}` }, card_number: CARDS[n % CARDS.length], amount: Math.round(r() * 50000) / 100 });
    case 1:
      return `${n},${ts},${user},${CARDS[(n >> 1) % CARDS.length] ?? ''},EUR,${(r() * 500).toFixed(2)},shipped`;
    case 2:
      return `${ts} INFO request id=${Math.floor(r() * 1e9)} path=/api/orders/${Math.floor(r() * 1e6)} status=200 ms=${Math.floor(r() * 900)}`;
    case 3:
      return JSON.stringify({ ts, level: 'warn', msg: 'login failed', email: user, password: `Summer${2020 + (n % 6)}!${token(r, 4)}`, client_ip: `203.0.113.${n % 250}` });
    case 4:
      return `${ts} DEBUG worker ${token(r, 6)} heartbeat ok; queue depth ${Math.floor(r() * 40)}`;
    case 5:
      return `${ts} ERROR upstream call failed Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.${token(r, 40)}.${token(r, 43)}`;
    case 6:
      return `${n},${ts},order,${Math.floor(r() * 1e6)},${(r() * 500).toFixed(2)},EUR,pending`;
    case 7:
      return JSON.stringify({ ts, level: 'info', msg: 'calling partner API', api_key: `AIzaSy${token(r, 33)}`, request_id: token(r, 12) });
    default:
      return `${ts} INFO build v1.${n % 20}.3 deployed commit=${Math.floor(r() * 1e12).toString(16)} ticket=PROJ-${Math.floor(r() * 9999)}`;
  }
}

/** Writes `megabytes` MB (10^6 bytes) of mixed lines to `path`, streaming, and returns its size. */
export function generateObject(path: string, megabytes: number): number {
  const r = rng(0xb0c4e7);
  const target = megabytes * 1_000_000;
  const fd = openSync(path, 'w');
  let size = 0;
  let n = 0;
  try {
    while (size < target) {
      const chunk: string[] = [];
      for (let i = 0; i < 2000; i++) chunk.push(line(r, n++));
      const buf = Buffer.from(`${chunk.join('\n')}\n`);
      writeSync(fd, buf);
      size += buf.length;
    }
  } finally {
    closeSync(fd);
  }
  return size;
}

/** Peak and current resident set of a process, in MB (Linux /proc). */
function rssOf(pid: number): { peak: number; now: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { peak: kb('VmHWM') / 1024, now: kb('VmRSS') / 1024 };
}

interface Airlock {
  readonly client: Client;
  readonly pid: number;
  readonly idleRssMb: number;
  close(): Promise<void>;
}

async function startAirlock(work: string, name: string, gcsUrl: string, extraArgs: readonly string[] = []): Promise<Airlock> {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  const policyPath = join(dir, 'policies.json');
  writeFileSync(
    policyPath,
    JSON.stringify({
      version: 1,
      resources: { buckets: Object.fromEntries(RANGES.map((r) => [r.alias, { bucket: BUCKET, limits: { maxBytes: r.maxBytes } }])) },
      // Limits merge to the strictest of defaults, resource and rule: the defaults allow the larger range.
      defaults: { limits: { timeoutMs: 120_000, maxBytes: Math.max(...RANGES.map((r) => r.maxBytes)) } },
      rules: [{ id: 'read-bench', effect: 'allow', principals: { groups: ['analysts'] }, tools: ['read_bucket'], resources: RANGES.map((r) => r.alias), objects: ['bench/**'] }],
      masking: { detectors: [...DETECTOR_NAMES], style: 'last4' },
    }),
  );
  const configPath = join(dir, 'airlock.json');
  writeFileSync(configPath, JSON.stringify({ storage: { endpoint: gcsUrl } }));
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [...extraArgs, CLI, 'serve', '--stdio', '--config', configPath, '--policy', policyPath, '--audit-dir', join(dir, 'audit'), '--dev-identity', 'ana@example.com,analysts', '--log-level', 'warn'],
    env: { PATH: process.env.PATH ?? '', HOME: dir },
    cwd: dir,
    stderr: 'inherit',
    // An 8 MiB range answers with ~16 MB (the content as structuredContent and again as text): past the SDK
    // stdio client's default 10 MiB line buffer, which closes the connection. See BENCHMARKS.md.
    maxBufferSize: 256 * MIB,
  });
  const client = new Client({ name: 'bench-read-bucket', version: '1.0.0' });
  await client.connect(transport);
  const pid = transport.pid;
  if (pid === null) throw new Error('airlock serve --stdio did not start');
  return { client, pid, idleRssMb: rssOf(pid).now, close: () => client.close() };
}

interface ReadResult {
  readonly isError?: boolean;
  readonly structuredContent?: { content?: string; truncated?: boolean; next?: { range: { start: number } }; metadata?: { size: number } };
  readonly content?: unknown;
}

/** Reads the whole object through read_bucket; returns the byte ranges it read and its elapsed time. */
async function airlockRead(client: Client, alias: string, object: string, size: number): Promise<{ ms: number; ranges: [number, number][]; chars: number }> {
  const ranges: [number, number][] = [];
  let chars = 0;
  let start = 0;
  const began = performance.now();
  for (;;) {
    const result = (await client.callTool({ name: 'read_bucket', arguments: { bucket: alias, action: 'read', object, range: { start } } }, undefined, { timeout: 300_000 })) as ReadResult;
    const value = result.structuredContent;
    if (result.isError === true || value?.content === undefined) throw new Error(`read_bucket failed at ${start}: ${JSON.stringify(result).slice(0, 500)}`);
    // Masking must have happened: no raw test card number may come back.
    if (ranges.length === 0 && CARDS.some((c) => value.content?.includes(c) === true)) throw new Error('read_bucket returned an unmasked card number');
    chars += value.content.length;
    const next = value.truncated === true ? value.next?.range.start : undefined;
    ranges.push([start, (next ?? size) - 1]);
    if (next === undefined) break;
    if (next <= start) throw new Error(`read_bucket did not advance: ${start} → ${next}`);
    start = next;
  }
  const ms = performance.now() - began;
  const last = ranges.at(-1);
  if (last?.[1] !== size - 1) throw new Error(`read_bucket stopped at ${last?.[1]} of ${size}`);
  return { ms, ranges, chars };
}

/** Reads the same byte ranges with the bare client. */
async function bareRead(storage: Storage, object: string, ranges: readonly [number, number][]): Promise<number> {
  const file = storage.bucket(BUCKET).file(object);
  let bytes = 0;
  const began = performance.now();
  for (const [start, end] of ranges) {
    const [buf] = await file.download({ start, end });
    bytes += buf.length;
  }
  const ms = performance.now() - began;
  const want = ranges.reduce((sum, [s, e]) => sum + (e - s + 1), 0);
  if (bytes !== want) throw new Error(`bare client read ${bytes} bytes, expected ${want}`);
  return ms;
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? Number.NaN) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

const mbps = (bytes: number, ms: number): number => bytes / 1e6 / (ms / 1000);

/**
 * Runs the read_bucket benchmark in `work` (objects and airlock state live there and go with it).
 * Returns the Markdown lines of its tables.
 */
export async function storageBench(work: string): Promise<string[]> {
  const megabytes = Number(process.env.BENCH_STORAGE_MB ?? 50);
  const bigMegabytes = Number(process.env.BENCH_STORAGE_BIG_MB ?? 200);
  const rounds = Number(process.env.BENCH_STORAGE_ROUNDS ?? 3);
  // BENCH_STORAGE_PROF=DIR: the airlock process of the main object writes a CPU profile there.
  const prof = process.env.BENCH_STORAGE_PROF;
  const root = join(work, 'gcs');
  mkdirSync(join(root, BUCKET, 'bench'), { recursive: true });
  const object = `bench/mixed-${megabytes}mb.log`;
  const size = generateObject(join(root, BUCKET, ...object.split('/')), megabytes);
  const bigObject = `bench/mixed-${bigMegabytes}mb.log`;
  const bigSize = bigMegabytes > 0 ? generateObject(join(root, BUCKET, ...bigObject.split('/')), bigMegabytes) : 0;
  const gcs = await startLocalGcs({ root });
  const lines: string[] = [];
  try {
    const storage = new Storage({ apiEndpoint: gcs.url, projectId: 'airlock-bench' });
    // Prime the server's hash cache (it hashes a file once per version) so neither side pays for it.
    await storage.bucket(BUCKET).file(object).getMetadata();
    if (bigSize > 0) await storage.bucket(BUCKET).file(bigObject).getMetadata();

    const rows: string[] = [];
    const rssRows: string[] = [];
    // One fresh airlock process per range size and object, so that each peak RSS belongs to one of them.
    for (const range of RANGES) {
      process.stderr.write(`storage bench: ${megabytes} MB in ${range.label} ranges…\n`);
      const airlock = await startAirlock(work, `main-${range.alias}`, gcs.url, prof === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', prof]);
      try {
        // Warm-up: one pass each side (loads the client in airlock, JIT on both sides).
        const warm = await airlockRead(airlock.client, range.alias, object, size);
        await bareRead(storage, object, warm.ranges);
        const a: number[] = [];
        const b: number[] = [];
        let chars = 0;
        for (let i = 0; i < rounds; i++) {
          // The order flips each round so that neither side always runs second.
          if (i % 2 === 1) b.push(await bareRead(storage, object, warm.ranges));
          const run = await airlockRead(airlock.client, range.alias, object, size);
          a.push(run.ms);
          chars = run.chars;
          if (i % 2 === 0) b.push(await bareRead(storage, object, run.ranges));
        }
        const calls = warm.ranges.length;
        const am = median(a);
        const bm = median(b);
        const perRound = a.map((ms, i) => (mbps(size, ms) / mbps(size, b[i] ?? Number.NaN)).toFixed(3)).join(', ');
        rows.push(
          `| ${(size / 1e6).toFixed(1)} MB, ${range.label} ranges (${calls} calls) | ${mbps(size, bm).toFixed(1)} MB/s (${(bm / 1000).toFixed(2)} s) | ${mbps(size, am).toFixed(1)} MB/s (${(am / 1000).toFixed(2)} s) | **${(mbps(size, am) / mbps(size, bm)).toFixed(3)}×** (rounds: ${perRound}) | ${((am - bm) / calls).toFixed(1)} ms |`,
        );
        if (chars < size * 0.5) throw new Error(`read_bucket returned only ${chars} characters of ${size} bytes`);
        rssRows.push(`| ${(size / 1e6).toFixed(1)} MB | ${range.label} | ${rounds + 1} passes | ${airlock.idleRssMb.toFixed(0)} MB | **${rssOf(airlock.pid).peak.toFixed(0)} MB** |`);
      } finally {
        await airlock.close();
      }
    }
    if (bigSize > 0) {
      for (const range of RANGES) {
        process.stderr.write(`storage bench: ${bigMegabytes} MB in ${range.label} ranges…\n`);
        const big = await startAirlock(work, `big-${range.alias}`, gcs.url);
        try {
          const run = await airlockRead(big.client, range.alias, bigObject, bigSize);
          const bare = await bareRead(storage, bigObject, run.ranges);
          rows.push(
            `| ${(bigSize / 1e6).toFixed(1)} MB, ${range.label} ranges (${run.ranges.length} calls), one pass | ${mbps(bigSize, bare).toFixed(1)} MB/s (${(bare / 1000).toFixed(2)} s) | ${mbps(bigSize, run.ms).toFixed(1)} MB/s (${(run.ms / 1000).toFixed(2)} s) | **${(mbps(bigSize, run.ms) / mbps(bigSize, bare)).toFixed(3)}×** | ${((run.ms - bare) / run.ranges.length).toFixed(1)} ms |`,
          );
          rssRows.push(`| ${(bigSize / 1e6).toFixed(1)} MB | ${range.label} | 1 pass | ${big.idleRssMb.toFixed(0)} MB | **${rssOf(big.pid).peak.toFixed(0)} MB** |`);
        } finally {
          await big.close();
        }
      }
    }
    lines.push(
      `read_bucket (airlock serve --stdio, all ${DETECTOR_NAMES.length} detectors, audit on) vs bare @google-cloud/storage \`file.download({ start, end })\` of the same ranges, same loopback GCS server; median of ${rounds} alternating rounds after 1 warm-up; Node ${process.version}`,
      '',
      '| object, range size | bare client | airlock read_bucket (masked) | airlock / bare (throughput) | added per call |',
      '|---|---|---|---|---|',
      ...rows,
      '',
      '| object | range size | reads in the process | airlock RSS after start | airlock peak RSS (VmHWM) |',
      '|---|---|---|---|---|',
      ...rssRows,
    );
  } finally {
    await gcs.close();
  }
  return lines;
}
