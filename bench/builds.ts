/**
 * `npm run bench:builds [-- REF]`: this build against an older commit (default: the last commit on the v1 MCP
 * SDK), side by side in one run. The older commit is exported with `git archive` into a temp folder, installed
 * (`npm ci`, from the npm cache when it has the packages) and compiled; then both builds are started as the
 * processes an agent spawns (`airlock serve --stdio`, `airlock serve --http`), in alternating rounds, against
 * the same embedded PostgreSQL, policy and query, and driven by the same raw JSON-RPC client (no SDK on the
 * client side, so the client costs the same for both). Figures: cold start to `initialize` answered, RSS after
 * initialize, 1-row `query_sql` p50 over stdio and over Streamable HTTP. Ratios are new/old.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seedDemoDatabase } from '../src/connectors/demo-seed.js';
import { freePort, startEmbeddedPostgres, type EmbeddedPostgres } from '../src/connectors/embedded.js';
import { HttpSession, keepAliveAgent, median, memoryOf, StdioRpc, stopChild } from './rpc.js';

/**
 * The MCP layer on the v1 SDK (`@modelcontextprotocol/sdk` 1.32), as it last served every transport: the
 * commits between it and the move to v2 screened HTTP messages twice (fixed by the move).
 */
const V1_SDK_BASELINE = '7e437c5';
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CALLS = Number(process.env.BENCH_CALLS ?? 200);
const SQL = 'SELECT id, name, card_number FROM customers WHERE id = 1';
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Build {
  readonly name: 'old' | 'new';
  readonly cli: string;
}

interface Sample {
  coldStartMs: number[];
  rssMb: number[];
  stdioP50: number[];
  httpP50: number[];
}

function run(command: string, args: string[], cwd: string): void {
  const r = spawnSync(command, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} failed in ${cwd}: ${r.stderr.slice(-2000)}`);
}

/** The older commit, exported, installed and compiled in `dir`. */
function buildOld(ref: string, dir: string): Build {
  const archive = spawnSync('git', ['-C', ROOT, 'archive', '--format=tar', ref], { maxBuffer: 1 << 30 });
  if (archive.status !== 0) throw new Error(`git archive ${ref}: ${archive.stderr.toString()}`);
  const tar = spawnSync('tar', ['-x', '-C', dir], { input: archive.stdout });
  if (tar.status !== 0) throw new Error(`tar: ${tar.stderr.toString()}`);
  run('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'], dir);
  run(process.execPath, [join(dir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], dir);
  return { name: 'old', cli: join(dir, 'dist', 'src', 'cli.js') };
}

function serveArgs(build: Build, policy: string, audit: string, transport: string[]): string[] {
  return [build.cli, 'serve', ...transport, '--policy', policy, '--audit-dir', audit, '--dev-identity', 'ana@example.com,analysts', '--log-level', 'warn'];
}

async function stdioRound(build: Build, policy: string, work: string, env: NodeJS.ProcessEnv, sample: Sample): Promise<void> {
  const started = performance.now();
  const child = spawn(process.execPath, serveArgs(build, policy, mkdtempSync(join(work, 'audit-')), ['--stdio']), { env, stdio: ['pipe', 'pipe', 'ignore'] });
  try {
    const rpc = new StdioRpc(child, build.name);
    await rpc.initialize();
    sample.coldStartMs.push(performance.now() - started);
    await rpc.request('tools/list', {});
    sample.rssMb.push(memoryOf(child.pid ?? 0).rssMb);
    const times: number[] = [];
    for (let i = 0; i < CALLS + 20; i++) {
      const t = performance.now();
      const answer = await rpc.request('tools/call', { name: 'query_sql', arguments: { connection: 'shop', sql: SQL } });
      if (i >= 20) times.push(performance.now() - t);
      if (i === 0 && !answer.includes('**** **** **** 1111')) throw new Error(`${build.name}: unexpected answer ${answer.slice(0, 300)}`);
    }
    sample.stdioP50.push(median(times));
  } finally {
    await stopChild(child);
  }
}

async function httpRound(build: Build, policy: string, work: string, env: NodeJS.ProcessEnv, sample: Sample): Promise<void> {
  const port = await freePort();
  const child = spawn(process.execPath, serveArgs(build, policy, mkdtempSync(join(work, 'audit-')), ['--http', '--port', String(port)]), { env, stdio: ['pipe', 'pipe', 'ignore'] });
  const agent = keepAliveAgent(1);
  try {
    const base = `http://127.0.0.1:${port}`;
    for (let ready = false; !ready; ) {
      if (child.exitCode !== null) throw new Error(`${build.name}: serve --http exited (${child.exitCode})`);
      ready = await fetch(`${base}/healthz`).then((r) => r.ok, () => false);
      if (!ready) await new Promise((r) => setTimeout(r, 50));
    }
    const session = new HttpSession(new URL(`${base}/mcp`), agent);
    await session.initialize();
    const times: number[] = [];
    for (let i = 0; i < CALLS + 20; i++) {
      const t = performance.now();
      const text = await session.request('tools/call', { name: 'query_sql', arguments: { connection: 'shop', sql: SQL } });
      if (i >= 20) times.push(performance.now() - t);
      if (i === 0 && !text.includes('**** **** **** 1111')) throw new Error(`${build.name}: unexpected HTTP answer ${text.slice(0, 300)}`);
    }
    sample.httpP50.push(median(times));
  } finally {
    await stopChild(child);
    agent.destroy();
  }
}

async function main(): Promise<void> {
  const ref = process.argv[2] ?? V1_SDK_BASELINE;
  const work = mkdtempSync(join(tmpdir(), 'airlock-bench-builds-'));
  let embedded: EmbeddedPostgres | undefined;
  try {
    process.stderr.write(`building ${ref} beside this checkout…\n`);
    const oldDir = mkdtempSync(join(work, 'old-'));
    const builds: Build[] = [buildOld(ref, oldDir), { name: 'new', cli: join(ROOT, 'dist', 'src', 'cli.js') }];
    let adminUrl = process.env.DATABASE_URL ?? '';
    if (adminUrl === '') {
      embedded = await startEmbeddedPostgres();
      adminUrl = embedded.adminUrl;
    }
    const demo = await seedDemoDatabase(adminUrl, 'airlock_bench_builds');
    const policy = join(work, 'policies.json');
    // A policy both builds read: one connection, one read rule, the card column masked by content.
    writeFileSync(
      policy,
      JSON.stringify({
        version: 1,
        resources: { connections: { shop: { url: 'env:BENCH_DATABASE_URL' } } },
        rules: [{ id: 'read', effect: 'allow', principals: { groups: ['analysts'] }, tools: ['query_sql'], resources: ['shop'], sql: { classes: ['read'] } }],
        masking: { detectors: ['CREDIT_CARD'], style: 'last4' },
      }),
    );
    const env = { PATH: process.env.PATH ?? '', HOME: work, BENCH_DATABASE_URL: demo.url };
    const samples = new Map<string, Sample>(builds.map((b) => [b.name, { coldStartMs: [], rssMb: [], stdioP50: [], httpP50: [] }]));
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate which build goes first, so drift hits both.
      for (const build of round % 2 === 0 ? builds : [...builds].reverse()) {
        const sample = samples.get(build.name) as Sample;
        await stdioRound(build, policy, work, env, sample);
        await httpRound(build, policy, work, env, sample);
      }
      process.stderr.write(`round ${round + 1}/${ROUNDS} done\n`);
    }
    const o = samples.get('old') as Sample;
    const n = samples.get('new') as Sample;
    const row = (label: string, unit: string, a: number[], b: number[]): string =>
      `| ${label} | ${median(a).toFixed(unit === 'MB' ? 0 : 2)} ${unit} | ${median(b).toFixed(unit === 'MB' ? 0 : 2)} ${unit} | ${(median(b) / median(a)).toFixed(3)}× |`;
    process.stdout.write(
      [
        `old = ${ref}, new = this checkout; ${ROUNDS} alternating rounds, ${CALLS} calls per transport per round; medians`,
        '',
        '| figure | old | new | new/old |',
        '|---|---|---|---|',
        row('stdio cold start to initialize answered', 'ms', o.coldStartMs, n.coldStartMs),
        row('RSS after initialize (stdio)', 'MB', o.rssMb, n.rssMb),
        row('1-row query_sql p50, stdio', 'ms', o.stdioP50, n.stdioP50),
        row('1-row query_sql p50, Streamable HTTP (2025-11-25 session)', 'ms', o.httpP50, n.httpP50),
        '',
      ].join('\n'),
    );
  } finally {
    await embedded?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
