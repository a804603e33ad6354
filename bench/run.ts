/**
 * `npm run bench`: governed query_sql vs a bare MCP tool running the same query the same way
 * (BEGIN READ ONLY, query, ROLLBACK on a pg Pool), both served by a low-level MCP Server over an in-memory
 * transport in this process, called by the SDK Client. Calls alternate between the two so drift hits both.
 * Prints p50/p99 per scenario and the governed/bare ratio, then the policy, masking, audit and approval
 * benchmarks. `BENCH_ONLY=query_sql`, `BENCH_ONLY=approvals`, `BENCH_ONLY=storage` (read_bucket),
 * `BENCH_ONLY=logging` (tail_logs), `BENCH_ONLY=load` (10,000 calls from 50 concurrent sessions over Streamable
 * HTTP, bench/load.ts; `BENCH_LOAD_REPLICAS=3` runs them on three replicas behind a proxy), `BENCH_ONLY=peer` (airlock against the MCP reference Postgres server,
 * bench/peer.ts), `BENCH_ONLY=http` (the peer bench's Streamable HTTP figure alone, in rounds; bench/http.ts), `BENCH_ONLY=metrics`
 * (airlock with metrics off and on; bench/metrics.ts), `BENCH_ONLY=log-filter` (the log filter parser on adversarial input) or `BENCH_ONLY=audit` (the audit store; `BENCH_AUDIT_RECORDS` caps its size, `BENCH_AUDIT_CALLS` sets the calls per size and pass) runs one table
 * alone.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import pg from 'pg';
import { fileURLToPath } from 'node:url';
import { ALL_TOOLS } from '../tools/index.js';
import { approvalsBench } from './approvals.js';
import { auditBench } from './audit.js';
import { httpBench } from './http.js';
import { loadBench } from './load.js';
import { metricsBench } from './metrics.js';
import { logFilterBench } from './log-filter.js';
import { loggingBench } from './logging.js';
import { maskingBench } from './masking.js';
import { peerBench } from './peer.js';
import { policyBench } from './policy.js';
import { storageBench } from './storage.js';
import { JsonAuditStore } from '../src/audit/store.js';
import { seedDemoDatabase } from '../src/connectors/demo-seed.js';
import { toolDeps } from '../src/main.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../src/connectors/embedded.js';
import { PostgresConnector } from '../src/connectors/postgres.js';
import { parseDevIdentity } from '../src/identity/dev.js';
import { ToolRegistry } from '../src/mcp/registry.js';
import { createGovernedServer } from '../src/mcp/server.js';
import { buildPipeline } from '../src/pipeline/chain.js';
import { loadPolicy } from '../src/policy/load.js';
import { loadSqlParser } from '../src/policy/sql/classify.js';

const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 1000);
const WARMUP = 100;

interface Scenario {
  readonly name: string;
  readonly sql: string;
  readonly params: readonly unknown[];
}

const SCENARIOS: readonly Scenario[] = [
  { name: '1 row (customer by id, card masked)', sql: 'SELECT id, name, email, card_number FROM customers WHERE id = $1', params: [3] },
  { name: '1,000 rows (generate_series, 3 columns)', sql: "SELECT g, md5(g::text) AS h, 'x' || g AS label FROM generate_series(1, 1000) AS g", params: [] },
];

function percentile(sorted: readonly number[], p: number): number {
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

/** The bare server is a v1 Server, the governed one a v2 Server: both take the v1 in-memory transport. */
async function connect(server: { connect(transport: InMemoryTransport): Promise<void> }): Promise<Client> {
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: 'bench', version: '1.0.0' });
  await client.connect(clientSide);
  return client;
}

/**
 * The baseline: what the MCP reference Postgres server does for one query — `BEGIN TRANSACTION READ ONLY`,
 * the query, rows as pretty-printed JSON text, and a `ROLLBACK` it does not wait for (here the connection
 * goes back to the pool once the ROLLBACK is done, as airlock's does). No identity, policy, masking or audit.
 */
function bareServer(pool: pg.Pool): Server {
  const server = new Server({ name: 'bare', version: '1.0.0' }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, () => ({
    tools: [{ name: 'query', description: 'bare query', inputSchema: { type: 'object' } }],
  }));
  server.setRequestHandler(CallToolRequestSchema, async (request) => {
    const args = request.params.arguments as { sql: string; params: unknown[] };
    const client = await pool.connect();
    try {
      await client.query('BEGIN TRANSACTION READ ONLY');
      const result = await client.query(args.sql, args.params);
      return { content: [{ type: 'text', text: JSON.stringify(result.rows, null, 2) }] };
    } finally {
      client.query('ROLLBACK').then(
        () => client.release(),
        () => client.release(true),
      );
    }
  });
  return server;
}

/** Peak and current resident set of a process, in MB (Linux /proc). */
function rssOf(pid: number): { peak: number; now: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { peak: kb('VmHWM') / 1024, now: kb('VmRSS') / 1024 };
}

async function bigSelect(policyPath: string, auditDir: string, url: string, sql: string): Promise<{ p50: number; p99: number; peakRssMb: number; idleRssMb: number }> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [fileURLToPath(new URL('../src/cli.js', import.meta.url)), 'serve', '--stdio', '--policy', policyPath, '--audit-dir', auditDir, '--dev-identity', 'ana@example.com,analysts', '--log-level', 'warn'],
    env: { PATH: process.env.PATH ?? '', BENCH_DATABASE_URL: url },
    stderr: 'ignore',
  });
  const client = new Client({ name: 'bench-1m', version: '1.0.0' });
  await client.connect(transport);
  const pid = transport.pid;
  if (pid === null) throw new Error('airlock serve --stdio did not start');
  const idle = rssOf(pid).now;
  const times: number[] = [];
  for (let i = 0; i < 20; i++) {
    const started = performance.now();
    const result = await client.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql } });
    times.push(performance.now() - started);
    if (result.isError === true) throw new Error(`1M-row call failed: ${JSON.stringify(result.content)}`);
  }
  const peak = rssOf(pid).peak;
  await client.close();
  times.sort((x, y) => x - y);
  return { p50: percentile(times, 50), p99: percentile(times, 99), peakRssMb: peak, idleRssMb: idle };
}

async function main(): Promise<void> {
  // BENCH_ONLY=storage / logging: read_bucket and tail_logs against local Google API servers (no PostgreSQL).
  if (process.env.BENCH_ONLY === 'storage' || process.env.BENCH_ONLY === 'logging') {
    const work = mkdtempSync(join(tmpdir(), 'airlock-bench-'));
    try {
      const lines = process.env.BENCH_ONLY === 'storage' ? await storageBench(work) : await loggingBench(work);
      process.stdout.write(`${lines.join('\n')}\n`);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
    return;
  }
  // BENCH_ONLY=masking: the masking table alone (in-process, no PostgreSQL).
  if (process.env.BENCH_ONLY === 'masking') {
    process.stdout.write(`${(await maskingBench()).join('\n')}\n`);
    return;
  }
  // BENCH_ONLY=log-filter: the log filter parser's scaling on adversarial input alone (in-process).
  if (process.env.BENCH_ONLY === 'log-filter') {
    process.stdout.write(`${logFilterBench().join('\n')}\n`);
    return;
  }
  // BENCH_ONLY=audit: the audit store table alone (append at 1k/100k/1M records, then verify); no PostgreSQL.
  if (process.env.BENCH_ONLY === 'audit') {
    process.stdout.write(`${(await auditBench()).join('\n')}\n`);
    return;
  }
  let embedded: EmbeddedPostgres | undefined;
  let adminUrl = process.env.DATABASE_URL ?? '';
  if (adminUrl === '') {
    embedded = await startEmbeddedPostgres();
    adminUrl = embedded.adminUrl;
  }
  const work = mkdtempSync(join(tmpdir(), 'airlock-bench-'));
  try {
    // BENCH_ONLY=approvals: the approval latency table alone (it starts its own airlock processes).
    if (process.env.BENCH_ONLY === 'approvals') {
      process.stdout.write(`${(await approvalsBench(adminUrl, work)).join('\n')}\n`);
      return;
    }
    // BENCH_ONLY=load: 10,000 governed calls from 50 concurrent sessions (bench/load.ts; not part of the full run).
    if (process.env.BENCH_ONLY === 'load') {
      const shop = await seedDemoDatabase(adminUrl, 'airlock_bench_load');
      process.stdout.write(`${(await loadBench(adminUrl, shop.url, work)).join('\n')}\n`);
      return;
    }
    // BENCH_ONLY=http: the peer bench's Streamable HTTP figure alone, in rounds (bench/http.ts).
    if (process.env.BENCH_ONLY === 'http') {
      process.stdout.write(`${(await httpBench(adminUrl, work)).join('\n')}\n`);
      return;
    }
    // BENCH_ONLY=metrics: airlock with metrics off and on, side by side (bench/metrics.ts).
    if (process.env.BENCH_ONLY === 'metrics') {
      process.stdout.write(`${(await metricsBench(adminUrl, work)).join('\n')}\n`);
      return;
    }
    // BENCH_ONLY=peer: airlock against the MCP reference Postgres server, both as spawned processes.
    if (process.env.BENCH_ONLY === 'peer') {
      process.stdout.write(`${(await peerBench(adminUrl, work)).join('\n')}\n`);
      return;
    }
    const demo = await seedDemoDatabase(adminUrl, 'airlock_bench');
    await loadSqlParser();
    const policyPath = join(work, 'policies.json');
    writeFileSync(
      policyPath,
      JSON.stringify({
        version: 1,
        resources: { connections: { shop: { url: 'env:BENCH_DATABASE_URL' } } },
        rules: [{ id: 'read', effect: 'allow', principals: { groups: ['analysts'] }, tools: ['query_sql'], resources: ['shop'], sql: { classes: ['read'] }, limits: { maxRows: 5000 } }],
        masking: { detectors: ['CREDIT_CARD'], style: 'last4' },
      }),
    );
    const registry = new ToolRegistry(ALL_TOOLS);
    const policy = await loadPolicy(policyPath, registry.names());
    const audit = await JsonAuditStore.open(join(work, 'audit'));
    const sql = new PostgresConnector({ resolve: () => demo.url });
    const pipeline = buildPipeline({
      audit,
      tools: registry,
      policy: { current: () => policy },
      // The server's own tool dependencies (catalog-judged classification, its cache, policy views).
      deps: toolDeps(() => policy, sql, sql, registry),
      clock: { now: () => Date.now() },
      onAuditFailure: () => undefined,
    });
    const principal = parseDevIdentity('ana@example.com,analysts');
    const governed = await connect(
      createGovernedServer({
        name: 'airlock',
        version: 'bench',
        registry,
        pipeline,
        clock: { now: () => Date.now() },
        transport: 'in-memory',
        sessionId: () => 'bench',
        credential: () => ({ kind: 'dev', principal }),
      }),
    );
    const pool = new pg.Pool({ connectionString: demo.url, max: 10 });
    const bare = await connect(bareServer(pool));

    const lines: string[] = [
      `governed query_sql vs bare MCP tool, same process, in-memory transport, ${ITERATIONS} calls each (after ${WARMUP} warm-up), Node ${process.version}`,
      '',
      '| scenario | bare p50 | bare p99 | governed p50 | governed p99 | p50 ratio | p50 added |',
      '|---|---|---|---|---|---|---|',
    ];
    for (const scenario of SCENARIOS) {
      const times = { bare: [] as number[], governed: [] as number[] };
      const once = async (which: 'bare' | 'governed'): Promise<number> => {
        const started = performance.now();
        const result =
          which === 'bare'
            ? await bare.callTool({ name: 'query', arguments: { sql: scenario.sql, params: scenario.params } })
            : await governed.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql: scenario.sql, params: scenario.params } });
        const elapsed = performance.now() - started;
        if (result.isError === true) throw new Error(`${which} call failed: ${JSON.stringify(result.content)}`);
        return elapsed;
      };
      for (let i = 0; i < WARMUP; i++) {
        await once('bare');
        await once('governed');
      }
      for (let i = 0; i < ITERATIONS; i++) {
        // Alternate the order so neither side always runs second.
        if (i % 2 === 0) {
          times.bare.push(await once('bare'));
          times.governed.push(await once('governed'));
        } else {
          times.governed.push(await once('governed'));
          times.bare.push(await once('bare'));
        }
      }
      const b = [...times.bare].sort((x, y) => x - y);
      const g = [...times.governed].sort((x, y) => x - y);
      const ms = (v: number): string => `${v.toFixed(3)} ms`;
      lines.push(
        `| ${scenario.name} | ${ms(percentile(b, 50))} | ${ms(percentile(b, 99))} | ${ms(percentile(g, 50))} | ${ms(percentile(g, 99))} | ${(percentile(g, 50) / percentile(b, 50)).toFixed(2)}× | ${ms(percentile(g, 50) - percentile(b, 50))} |`,
      );
    }
    // BENCH_ONLY=query_sql: the governed-vs-bare table alone (for quick iterations).
    if (process.env.BENCH_ONLY !== 'query_sql') {
      // 1M-row SELECT through a separate airlock process (`airlock serve --stdio`, what an agent spawns), so
      // its peak RSS is airlock's alone: the cursor stops at the cap; the rest never leaves the server.
      const bigSql = "SELECT g, md5(g::text) AS h, repeat('x', 64) AS pad FROM generate_series(1, 1000000) AS g";
      const big = await bigSelect(policyPath, join(work, 'audit-1m'), demo.url, bigSql);
      lines.push(
        '',
        `1,000,000-row SELECT through airlock serve --stdio (capped at the policy's 5,000 rows), 20 calls: time to result p50 ${big.p50.toFixed(1)} ms, p99 ${big.p99.toFixed(1)} ms; peak RSS of the airlock process ${big.peakRssMb.toFixed(0)} MB (VmHWM; its idle RSS after start-up ${big.idleRssMb.toFixed(0)} MB)`,
      );
      lines.push('', `audit records written during the run: ${(await audit.records()).length}`, '');
      lines.push(...(await policyBench(sql, fileURLToPath(new URL('../..', import.meta.url)))));
      lines.push('', ...logFilterBench());
      lines.push('', ...(await maskingBench()));
      lines.push('', ...(await auditBench()));
      lines.push('', ...(await approvalsBench(adminUrl, work)));
      lines.push('', ...(await storageBench(work)));
      lines.push('', ...(await loggingBench(work)));
      lines.push('', ...(await peerBench(adminUrl, work)));
    }
    process.stdout.write(`${lines.join('\n')}\n`);
    await governed.close();
    await bare.close();
    await pool.end();
    await sql.close();
    await audit.close();
  } finally {
    rmSync(work, { recursive: true, force: true });
    await embedded?.stop();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
