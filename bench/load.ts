/**
 * Load (issue 21): many concurrent MCP sessions over Streamable HTTP calling every governed tool against real
 * `airlock serve --http` processes, with calls that policy sends to approval decided by a scripted approver
 * through the approval API. Used by `BENCH_ONLY=load npm run bench` (the full run) and by the e2e tests (the
 * same scenario, smaller), so that CI covers what the bench measures.
 *
 * The rig: the demo shop database in PostgreSQL, the demo bucket on the loopback Cloud Storage server, the
 * demo logs on the loopback Cloud Logging server, a local OIDC issuer, and one or more airlock replicas. With
 * one replica, the audit and approvals stay in the default JSON stores; with several, every replica shares
 * the PostgreSQL audit and approval stores and the agents reach them through a round-robin proxy with session
 * affinity (bench/affinity-proxy.ts).
 *
 * The scenario: `sessions` sessions (half 2025-11-25 Streamable HTTP sessions with the v1 client, half
 * stateless 2026-07-28 with the v2 client) spread over ten agent principals; each runs its share of the calls
 * one after the other, the kinds in a fixed rotation: query_sql reads (a customer, card masked), read_bucket
 * (list and read of the app's NDJSON log, masked), tail_logs (errors of the production scope), whoami,
 * list_resources, explain_policy, and, one call in fifty, an UPDATE that needs a DBA's approval. The approver
 * (another principal, group `dba`) polls `GET /approvals?state=pending` and approves each request once.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client as ClientV2, StreamableHTTPClientTransport as HttpTransportV2 } from '@modelcontextprotocol/client';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import pg from 'pg';
import type { ChainedRecord } from '../src/audit/chain.js';
import { pgRecords } from '../src/audit/pg-store.js';
import { iterateRecords } from '../src/audit/read.js';
import { writeDemoObjects } from '../src/connectors/demo-objects.js';
import { demoLogEntries } from '../src/connectors/demo-logs.js';
import { freePort } from '../src/connectors/embedded.js';
import { startLocalGcs, type LocalGcs } from '../src/connectors/local-gcs.js';
import { startLocalLogging, type LocalLogging } from '../src/connectors/local-logging.js';
import { logFilterMatcher } from '../src/policy/log-filter-match.js';
import { startAffinityProxy, type AffinityProxy } from './affinity-proxy.js';
import { startIssuer, type Issuer, type Person } from './approvals.js';

/** The compiled CLI and the example policy, as seen from dist/bench/ (tests pass their own paths). */
const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const POLICY = fileURLToPath(new URL('../../policies.json', import.meta.url));
const AUDIENCE = 'https://airlock.load/mcp';
const MODERN = '2026-07-28';
/** Agent principals the sessions are spread over (each keeps below the per-principal session and call caps). */
const PRINCIPALS = 10;
export const APPROVER: Person = { sub: 'dana', email: 'dana@example.com', groups: ['dba'] };
const agentPerson = (i: number): Person => ({ sub: `agent-${i}`, email: `agent-${i}@example.com`, groups: ['analysts'] });

export type CallKind = 'query_sql' | 'read_bucket list' | 'read_bucket read' | 'tail_logs' | 'whoami' | 'list_resources' | 'explain_policy' | 'query_sql approved';

/** One rotation of fifty calls: the mix every session runs (the approved write is one call in fifty). */
const ROTATION: readonly CallKind[] = [
  ...Array<CallKind>(14).fill('query_sql'),
  ...Array<CallKind>(6).fill('read_bucket list'),
  ...Array<CallKind>(8).fill('read_bucket read'),
  ...Array<CallKind>(12).fill('tail_logs'),
  ...Array<CallKind>(3).fill('whoami'),
  ...Array<CallKind>(3).fill('list_resources'),
  ...Array<CallKind>(3).fill('explain_policy'),
  'query_sql approved',
];

/** The tool each kind calls. */
const TOOL: Readonly<Record<CallKind, string>> = {
  query_sql: 'query_sql',
  'read_bucket list': 'read_bucket',
  'read_bucket read': 'read_bucket',
  tail_logs: 'tail_logs',
  whoami: 'whoami',
  list_resources: 'list_resources',
  explain_policy: 'explain_policy',
  'query_sql approved': 'query_sql',
};

function argumentsOf(kind: CallKind, n: number, tag: string): Record<string, unknown> {
  switch (kind) {
    case 'query_sql':
      return { connection: 'shop', sql: 'SELECT id, name, email, card_number FROM customers WHERE id = $1', params: [1 + (n % 8)] };
    case 'read_bucket list':
      return { bucket: 'data', action: 'list', prefix: 'app/' };
    case 'read_bucket read':
      return { bucket: 'data', action: 'read', object: 'app/logs/api-2026-12-01.ndjson' };
    case 'tail_logs':
      return { scope: 'prod-logs', filter: 'severity>=ERROR', limit: 20 };
    case 'whoami':
    case 'list_resources':
      return {};
    case 'explain_policy':
      return { tool: 'query_sql', arguments: { connection: 'shop', sql: 'UPDATE orders SET status = $1 WHERE id = $2', params: ['paid', 1] } };
    case 'query_sql approved':
      // A comment makes every approved call a distinct request (the same call twice would join one request).
      return { connection: 'shop', sql: `UPDATE orders SET status = status WHERE id = $1 /* ${tag} */`, params: [1 + (n % 200)] };
  }
}

/** Why a result is not what its kind must return, or undefined when it is. */
function wrongResult(kind: CallKind, result: CallResult): string | undefined {
  if (result.isError === true) return `error result: ${JSON.stringify(result).slice(0, 400)}`;
  const s = result.structuredContent ?? {};
  if (typeof s.auditId !== 'string') return 'no auditId';
  const text = JSON.stringify(s);
  switch (kind) {
    case 'query_sql': {
      const rows = s.rows as unknown[][] | undefined;
      if (rows?.length !== 1) return `expected one row, got ${JSON.stringify(rows).slice(0, 200)}`;
      // id, name, email, card_number: the card is masked to its last four digits.
      if (/\d{12}/.test(String(rows[0]?.[3]))) return `card number not masked: ${JSON.stringify(rows[0])}`;
      return undefined;
    }
    case 'query_sql approved':
      return s.rowsAffected === 1 ? undefined : `expected rowsAffected 1, got ${text.slice(0, 200)}`;
    case 'read_bucket read':
      return text.includes('ana.silva@example.com') || !text.includes('[EMAIL') ? `content not masked: ${text.slice(0, 200)}` : undefined;
    case 'read_bucket list':
      return Array.isArray(s.items) && s.items.length > 0 ? undefined : `no objects: ${text.slice(0, 200)}`;
    case 'tail_logs':
      return Array.isArray(s.entries) && s.entries.length > 0 ? undefined : `no entries: ${text.slice(0, 200)}`;
    default:
      return undefined;
  }
}

export interface CallResult {
  readonly isError?: boolean;
  readonly structuredContent?: Record<string, unknown>;
  readonly content?: unknown;
}

/** One `airlock serve --http` replica: a fixed port, so that a killed replica comes back where it was. */
export interface Replica {
  readonly name: string;
  readonly url: string;
  readonly auditDir: string;
  readonly configPath: string;
  /** What it printed to stderr (the last 64 KB). */
  log(): string;
  start(): Promise<void>;
  /** SIGTERM (graceful drain) or SIGKILL; waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface LoadRigOptions {
  /** A superuser URL: the shared stores' tables live in its database. */
  readonly adminUrl: string;
  /** The seeded demo shop database (airlock's role). */
  readonly databaseUrl: string;
  /** A scratch folder. */
  readonly work: string;
  /** 1: one replica on the JSON stores, reached directly. More: the PostgreSQL stores behind the proxy. */
  readonly replicas: number;
  /** How long a call waits in place for a decision (default 60 s). */
  readonly waitSeconds?: number;
  /** The compiled CLI (default: dist/src/cli.js next to this compiled file). */
  readonly cli?: string;
  /** The policy every replica serves (default: the repository's example policies.json). */
  readonly policyPath?: string;
}

export interface LoadRig {
  /** Where agents and the approver connect: the proxy, or the single replica. */
  readonly url: string;
  readonly replicas: readonly Replica[];
  readonly proxy: AffinityProxy | undefined;
  /** The PostgreSQL stores' tables (several replicas only). */
  readonly tables: { readonly audit: string; readonly approvals: string } | undefined;
  readonly issuer: Issuer;
  tokenOf(who: Person): Promise<string>;
  /** Every audit record: the shared table, or the single replica's directory (stop it first). */
  records(): Promise<ChainedRecord[]>;
  /** Calls started and not finished, as the shared store still lists them (several replicas only). */
  startedEntries(): Promise<number>;
  /** `airlock audit verify` as a command, with this rig's store. */
  verify(): { status: number | null; stdout: string; stderr: string };
  close(): Promise<void>;
}

const STORE_URL_ENV = 'LOAD_STORE_URL';

export async function startLoadRig(options: LoadRigOptions): Promise<LoadRig> {
  const closers: (() => Promise<void>)[] = [];
  const close = async (): Promise<void> => {
    for (const c of closers.splice(0).reverse()) await c().catch(() => undefined);
  };
  try {
    const bucketRoot = join(options.work, 'gcs');
    mkdirSync(bucketRoot, { recursive: true });
    await writeDemoObjects(bucketRoot);
    const gcs: LocalGcs = await startLocalGcs({ root: bucketRoot });
    closers.push(() => gcs.close());
    const logging: LocalLogging = await startLocalLogging({ entries: demoLogEntries(new Date()), match: logFilterMatcher() });
    closers.push(() => logging.close());
    const issuer = await startIssuer(AUDIENCE);
    closers.push(() => issuer.close());
    const cli = options.cli ?? CLI;
    const shared = options.replicas > 1;
    const proxy = shared ? await startAffinityProxy() : undefined;
    if (proxy !== undefined) closers.push(() => proxy.close());
    const suffix = randomBytes(4).toString('hex');
    const tables = shared ? { audit: `load_audit_${suffix}`, approvals: `load_approvals_${suffix}` } : undefined;
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH ?? '',
      HOME: options.work,
      DATABASE_URL: options.databaseUrl,
      [STORE_URL_ENV]: options.adminUrl,
      APPROVALS_KEY: randomBytes(32).toString('base64'),
    };
    const replicas: Replica[] = [];
    for (let i = 0; i < options.replicas; i++) {
      const name = `replica-${i + 1}`;
      const runtime = {
        identity: { issuers: [{ issuer: issuer.issuer, audiences: [AUDIENCE], jwksUri: issuer.jwksUri }], resource: AUDIENCE },
        approvals: { waitSeconds: options.waitSeconds ?? 60, ...(tables === undefined ? {} : { postgres: { url: `env:${STORE_URL_ENV}`, table: tables.approvals }, key: 'env:APPROVALS_KEY' }) },
        ...(tables === undefined ? {} : { audit: { postgres: { url: `env:${STORE_URL_ENV}`, table: tables.audit, replica: name } } }),
        storage: { endpoint: gcs.url },
        logging: { endpoint: logging.address },
      };
      const configPath = join(options.work, `${name}.json`);
      writeFileSync(configPath, JSON.stringify(runtime));
      const replica = await replicaProcess({ cli, policyPath: options.policyPath ?? POLICY, name, configPath, auditDir: join(options.work, `audit-${name}`), env, allowedHost: proxy?.host });
      replicas.push(replica);
      closers.push(() => replica.stop());
    }
    await Promise.all(replicas.map((r) => r.start()));
    proxy?.setTargets(replicas.map((r) => r.url));
    const url = proxy?.url ?? replicas[0]?.url ?? '';
    const withClient = async <T>(body: (client: pg.Client) => Promise<T>): Promise<T> => {
      const client = new pg.Client({ connectionString: options.adminUrl });
      await client.connect();
      try {
        return await body(client);
      } finally {
        await client.end();
      }
    };
    return {
      url,
      replicas,
      proxy,
      tables,
      issuer,
      tokenOf: (who) => issuer.sign(who),
      async records() {
        if (tables !== undefined) {
          const out: ChainedRecord[] = [];
          for await (const r of pgRecords(options.adminUrl, tables.audit)) out.push(r);
          return out;
        }
        return [...iterateRecords(replicas[0]?.auditDir ?? '')];
      },
      startedEntries: () => (tables === undefined ? Promise.resolve(0) : withClient(async (c) => Number((await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${tables.audit}_started`)).rows[0]?.n))),
      verify() {
        const where = tables === undefined ? ['--audit-dir', replicas[0]?.auditDir ?? ''] : ['--config', replicas[0]?.configPath ?? ''];
        const r = spawnSync(process.execPath, [cli, 'audit', 'verify', ...where], { env, encoding: 'utf8' });
        return { status: r.status, stdout: r.stdout, stderr: r.stderr };
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

async function replicaProcess(o: { cli: string; policyPath: string; name: string; configPath: string; auditDir: string; env: NodeJS.ProcessEnv; allowedHost: string | undefined }): Promise<Replica> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  mkdirSync(o.auditDir, { recursive: true });
  let child: ChildProcess | undefined;
  let stderr = '';
  const stop = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<void> => {
    const c = child;
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((resolve) => c.once('exit', resolve));
    c.kill(signal);
    const timer = setTimeout(() => c.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  };
  return {
    name: o.name,
    url,
    auditDir: o.auditDir,
    configPath: o.configPath,
    log: () => stderr,
    stop,
    async start() {
      const args = [o.cli, 'serve', '--http', '--port', String(port), '--policy', o.policyPath, '--config', o.configPath, '--audit-dir', o.auditDir, '--log-level', 'warn'];
      // Behind the proxy, as behind a load balancer: the proxy's Host, and idle connections kept longer than the
      // proxy keeps them (it reuses them; a connection closed under it would turn a call into a 502).
      if (o.allowedHost !== undefined) args.push('--allowed-host', o.allowedHost, '--keep-alive-seconds', '620');
      const c = spawn(process.execPath, args, { env: o.env, stdio: ['ignore', 'ignore', 'pipe'] });
      child = c;
      c.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-65_536)));
      try {
        for (let ready = false; !ready; ) {
          if (c.exitCode !== null || c.signalCode !== null) throw new Error(`airlock serve --http (${o.name}) exited (${c.exitCode ?? c.signalCode}): ${stderr}`);
          ready = await fetch(`${url}/healthz`).then((r) => r.ok, () => false);
          if (!ready) await new Promise((r) => setTimeout(r, 50));
        }
      } catch (error) {
        await stop();
        throw error;
      }
    },
  };
}

/** An MCP session of one agent: the 2025 era (v1 client, a session on one replica) or 2026-07-28 (v2, stateless). */
export interface Session {
  readonly era: '2025' | '2026';
  readonly principal: Person;
  /** The Mcp-Session-Id of a 2025 session. */
  readonly sessionId: string | undefined;
  call(name: string, args: Record<string, unknown>): Promise<CallResult>;
  close(): Promise<void>;
}

export async function openSession(url: string, era: '2025' | '2026', principal: Person, token: string): Promise<Session> {
  const headers = { authorization: `Bearer ${token}` };
  const timeout = 120_000;
  if (era === '2026') {
    const client = new ClientV2({ name: 'load-v2', version: '1.0.0' }, { versionNegotiation: { mode: { pin: MODERN } } });
    await client.connect(new HttpTransportV2(new URL(`${url}/mcp`), { requestInit: { headers } }));
    if (client.getNegotiatedProtocolVersion() !== MODERN) throw new Error(`negotiated ${String(client.getNegotiatedProtocolVersion())}`);
    return { era, principal, sessionId: undefined, call: async (name, args) => (await client.callTool({ name, arguments: args }, { timeout })) as CallResult, close: () => client.close() };
  }
  const client = new Client({ name: 'load-v1', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers } });
  await client.connect(transport);
  return {
    era,
    principal,
    sessionId: transport.sessionId,
    call: async (name, args) => (await client.callTool({ name, arguments: args }, undefined, { timeout })) as CallResult,
    close: async () => {
      await transport.terminateSession().catch(() => undefined);
      await client.close();
    },
  };
}

/**
 * The scripted approver: polls the pending requests it may decide and approves each one once, until stopped.
 * Its decisions go to `url` (the proxy spreads them over the replicas). A decision that fails is a failure of
 * the run (the request is not tried again).
 */
export function startApprover(url: string, token: string): { decided: () => number; failures: string[]; listMs: number[]; decideMs: number[]; stop(): Promise<void> } {
  const decided = new Set<string>();
  const failures: string[] = [];
  const listMs: number[] = [];
  const decideMs: number[] = [];
  let stopped = false;
  const auth = { authorization: `Bearer ${token}` };
  const loop = (async () => {
    while (!stopped) {
      try {
        const t0 = performance.now();
        const res = await fetch(`${url}/approvals?state=pending&limit=200`, { headers: auth });
        const body = (await res.json()) as { requests?: { id: string }[] };
        listMs.push(performance.now() - t0);
        if (res.status !== 200) throw new Error(`GET /approvals answered ${res.status}: ${JSON.stringify(body).slice(0, 300)}`);
        // Every listed request is decided at once, as a team of approvers would: the approver is not the bottleneck.
        await Promise.all(
          (body.requests ?? [])
            .filter((r) => !decided.has(r.id))
            .map(async (r) => {
              decided.add(r.id);
              const t1 = performance.now();
              const post = await fetch(`${url}/approvals/${r.id}/decision`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ verdict: 'approve', reason: 'load test' }) });
              const text = await post.text();
              if (post.status !== 200) throw new Error(`POST decision of ${r.id} answered ${post.status}: ${text.slice(0, 300)}`);
              decideMs.push(performance.now() - t1);
            }),
        );
      } catch (error) {
        failures.push(error instanceof Error ? error.message : String(error));
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    decided: () => decided.size,
    failures,
    listMs,
    decideMs,
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

export interface LoadOptions {
  readonly sessions: number;
  /** Calls per session, each session's one after the other. */
  readonly callsPerSession: number;
  /** Told after each call with the number of calls finished so far (e.g. to kill a replica mid-run). */
  readonly onCall?: (done: number) => void;
}

export interface CallOutcome {
  readonly kind: CallKind;
  readonly tool: string;
  readonly session: number;
  readonly ms: number;
  /** The audit id of a good result. */
  readonly auditId?: string;
  /** What was wrong: a thrown error, an error result, or a result that is not what the call must return. */
  readonly error?: string;
}

export interface LoadReport {
  readonly outcomes: readonly CallOutcome[];
  readonly wallMs: number;
  readonly approvals: number;
  readonly approverFailures: readonly string[];
  /** The approver's round trips: `GET /approvals` and each decision POST, in ms. */
  readonly approverMs: { readonly list: readonly number[]; readonly decide: readonly number[] };
  /** Sessions per era, and the replica each 2025 session was pinned to (behind the proxy). */
  readonly eras: { readonly '2025': number; readonly '2026': number };
  readonly pinned: readonly (string | undefined)[];
}

/** Runs the scenario against a rig: opens every session, runs every call, and returns each call's outcome. */
export async function runLoad(rig: LoadRig, options: LoadOptions): Promise<LoadReport> {
  const tokens = await Promise.all(Array.from({ length: PRINCIPALS }, (_, i) => rig.tokenOf(agentPerson(i))));
  const approver = startApprover(rig.url, await rig.tokenOf(APPROVER));
  const sessions: Session[] = [];
  try {
    for (let s = 0; s < options.sessions; s++) {
      const p = s % PRINCIPALS;
      sessions.push(await openSession(rig.url, s % 2 === 0 ? '2025' : '2026', agentPerson(p), tokens[p] ?? ''));
    }
    const outcomes: CallOutcome[] = [];
    const started = performance.now();
    await Promise.all(
      sessions.map(async (session, s) => {
        for (let n = 0; n < options.callsPerSession; n++) {
          // Each session starts at another point of the rotation, so the kinds overlap in time.
          const kind = ROTATION[(n + s * 7) % ROTATION.length] ?? 'whoami';
          const t0 = performance.now();
          try {
            const result = await session.call(TOOL[kind], argumentsOf(kind, n + s, `s${s}c${n}`));
            const ms = performance.now() - t0;
            const wrong = wrongResult(kind, result);
            outcomes.push({ kind, tool: TOOL[kind], session: s, ms, ...(wrong === undefined ? { auditId: String(result.structuredContent?.auditId) } : { error: wrong }) });
          } catch (error) {
            outcomes.push({ kind, tool: TOOL[kind], session: s, ms: performance.now() - t0, error: errorText(error) });
          }
          options.onCall?.(outcomes.length);
        }
      }),
    );
    const wallMs = performance.now() - started;
    return {
      outcomes,
      wallMs,
      approvals: approver.decided(),
      approverFailures: approver.failures,
      approverMs: { list: approver.listMs, decide: approver.decideMs },
      eras: { '2025': sessions.filter((x) => x.era === '2025').length, '2026': sessions.filter((x) => x.era === '2026').length },
      pinned: sessions.filter((x) => x.sessionId !== undefined).map((x) => rig.proxy?.pinnedTo(x.sessionId ?? '')),
    };
  } finally {
    await approver.stop();
    await Promise.all(sessions.map((x) => x.close().catch(() => undefined)));
  }
}

/** An error's message with its causes (`fetch failed` says nothing without them). */
function errorText(error: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = error, depth = 0; e !== undefined && e !== null && depth < 4; depth++) {
    const x = e as { message?: unknown; code?: unknown; cause?: unknown };
    parts.push(`${typeof x.message === 'string' ? x.message : typeof e === 'string' ? e : JSON.stringify(e)}${typeof x.code === 'string' ? ` (${x.code})` : ''}`);
    e = x.cause;
  }
  return parts.join(': ');
}

/** `tool/outcome` → count, for the audit check. */
export function countBy(items: readonly { tool: string; outcome: string }[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const { tool, outcome } of items) out[`${tool}/${outcome}`] = (out[`${tool}/${outcome}`] ?? 0) + 1;
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

/**
 * The audit records a clean run must leave, by `tool/outcome`: one `ok` record per call, and per approved
 * call three approval events (requested, approved, consumed) recorded under the tool `approval`.
 */
export function expectedAudit(report: LoadReport): Record<string, number> {
  const calls = report.outcomes.map((o) => ({ tool: o.tool, outcome: 'ok' }));
  const approvals = report.outcomes.filter((o) => o.kind === 'query_sql approved').flatMap(() => [0, 1, 2].map(() => ({ tool: 'approval', outcome: 'ok' })));
  return countBy([...calls, ...approvals]);
}

/**
 * Where an approved call's time went, from the approval events in the audit (each recorded when it happened):
 * requested → approved is the approver's part (the scripted approver's polling and its decision POST),
 * approved → consumed is airlock's (the waiting call woken, the request read again and the grant spent).
 */
export function approvalSplits(records: readonly ChainedRecord[]): { decide: number[]; wake: number[] } {
  const events = new Map<string, Map<string, number>>();
  for (const r of records) {
    const a = r.approval;
    if (r.tool !== 'approval' || a?.event === undefined) continue;
    const byEvent = events.get(a.requestId) ?? new Map<string, number>();
    byEvent.set(a.event, Date.parse(r.time));
    events.set(a.requestId, byEvent);
  }
  const decide: number[] = [];
  const wake: number[] = [];
  for (const e of events.values()) {
    const [requested, approved, consumed] = [e.get('requested'), e.get('approved'), e.get('consumed')];
    if (requested !== undefined && approved !== undefined) decide.push(approved - requested);
    if (approved !== undefined && consumed !== undefined) wake.push(consumed - approved);
  }
  return { decide, wake };
}

export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

/**
 * `BENCH_ONLY=load`: the full run (`BENCH_LOAD_SESSIONS` sessions, default 50; `BENCH_LOAD_CALLS` calls in all,
 * default 10,000; `BENCH_LOAD_REPLICAS` replicas, default 1). Fails (throws) on any error or audit mismatch.
 */
export async function loadBench(adminUrl: string, databaseUrl: string, work: string): Promise<string[]> {
  const sessions = Number(process.env.BENCH_LOAD_SESSIONS ?? 50);
  const calls = Number(process.env.BENCH_LOAD_CALLS ?? 10_000);
  const replicas = Number(process.env.BENCH_LOAD_REPLICAS ?? 1);
  const rig = await startLoadRig({ adminUrl, databaseUrl, work, replicas });
  try {
    process.stderr.write(`load bench: ${sessions} sessions, ${calls} calls, ${replicas} replica(s)…\n`);
    const report = await runLoad(rig, { sessions, callsPerSession: Math.ceil(calls / sessions) });
    // The JSON store is read once its writer has stopped; the shared table can be read at any time.
    if (replicas === 1) await rig.replicas[0]?.stop();
    const records = await rig.records();
    const verify = rig.verify();
    const errors = report.outcomes.filter((o) => o.error !== undefined);
    const expected = expectedAudit(report);
    const actual = countBy(records);
    const auditMatches = JSON.stringify(expected) === JSON.stringify(actual);
    const ids = new Set(records.map((r) => r.id));
    const missing = report.outcomes.filter((o) => o.auditId !== undefined && !ids.has(o.auditId)).length;
    const governed = report.outcomes.filter((o) => o.kind !== 'query_sql approved').map((o) => o.ms);
    const approved = report.outcomes.filter((o) => o.kind === 'query_sql approved').map((o) => o.ms);
    const ms = (v: number): string => `${v.toFixed(1)} ms`;
    const splits = approvalSplits(records);
    const byKind = Object.entries(countBy(report.outcomes.map((o) => ({ tool: o.kind, outcome: o.error === undefined ? 'ok' : 'error' }))));
    const lines = [
      `Load: ${report.outcomes.length} governed calls from ${sessions} concurrent MCP sessions over Streamable HTTP (${report.eras['2025']} 2025-11-25 sessions, ${report.eras['2026']} stateless 2026-07-28) of ${PRINCIPALS} agents, ${replicas === 1 ? 'one `airlock serve --http` on the JSON stores' : `${replicas} replicas on the PostgreSQL stores behind a round-robin proxy with session affinity`}; Node ${process.version}`,
      '',
      '| calls | wall | calls/s | p50 | p99 | approved calls (p50 / p99) | errors | audit records (expected) | chain |',
      '|---|---|---|---|---|---|---|---|---|',
      `| ${report.outcomes.length} | ${(report.wallMs / 1000).toFixed(1)} s | ${(report.outcomes.length / (report.wallMs / 1000)).toFixed(0)} | ${ms(percentile(governed, 50))} | ${ms(percentile(governed, 99))} | ${approved.length}: ${ms(percentile(approved, 50))} / ${ms(percentile(approved, 99))} | ${errors.length} | ${records.length} (${Object.values(expected).reduce((a, b) => a + b, 0)})${auditMatches ? '' : ' **mismatch**'} | ${verify.status === 0 ? 'verifies' : '**broken**'} |`,
      '',
      `approved calls: requested → approved (the approver's polling and decision) p50 ${ms(percentile(splits.decide, 50))}, p99 ${ms(percentile(splits.decide, 99))}; approved → grant consumed by the waiting call (airlock's wake) p50 ${ms(percentile(splits.wake, 50))}, p99 ${ms(percentile(splits.wake, 99))}; the approver's round trips: GET /approvals p50 ${ms(percentile(report.approverMs.list, 50))} (${report.approverMs.list.length} polls), decision POST p50 ${ms(percentile(report.approverMs.decide, 50))}, p99 ${ms(percentile(report.approverMs.decide, 99))}`,
      '',
      `calls by kind: ${byKind.map(([k, n]) => `${k} ${n}`).join(', ')}; audit by tool/outcome: ${Object.entries(actual).map(([k, n]) => `${k} ${n}`).join(', ')}; approvals decided by the approver: ${report.approvals}`,
    ];
    if (errors.length > 0 || !auditMatches || missing > 0 || verify.status !== 0 || report.approverFailures.length > 0) {
      throw new Error(
        `load bench failed:\n${lines.join('\n')}\nfirst errors: ${errors.slice(0, 5).map((e) => `${e.kind}: ${e.error}`).join('\n')}\nexpected ${JSON.stringify(expected)}\nactual ${JSON.stringify(actual)}\nmissing records: ${missing}\nverify: ${verify.stdout}${verify.stderr}\napprover: ${report.approverFailures.slice(0, 5).join('\n')}`,
      );
    }
    return lines;
  } finally {
    await rig.close();
  }
}
