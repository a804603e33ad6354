/**
 * Approval latency (issue 17): the time from an approver's click to the waiting agent receiving the result.
 *
 * Real `airlock serve --http` processes on the embedded PostgreSQL with the demo data, identities from a local
 * OIDC issuer (a JWKS on loopback). The agent (ana, analysts) is the v2 SDK client over Streamable HTTP; it
 * sends `UPDATE orders SET status = status WHERE id = $1`, which policy sends to a DBA's approval, with a
 * progress token, and waits in place. Once its first "waiting" progress notification arrives (the call is
 * waiting for a decision), the bench finds the request with `GET /approvals` as a DBA (bob) and POSTs the
 * decision. Measured per call:
 *
 * - click → result: from just before the decision POST to the moment the agent's `callTool` resolves;
 * - decision POST: the POST's own round trip (verify the token, decide, seal and write the record);
 * - allow: the same UPDATE by the same client on a connection alias (same database) whose rule is `allow`,
 *   so "added" = click → result minus what the call costs without approval.
 *
 * Stores: the lowdb JSON file (default), PostgreSQL (`approvals.postgres`), and PostgreSQL with the approver
 * on a second airlock process sharing the store, so that the wake comes through LISTEN/NOTIFY.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { seedDemoDatabase } from '../src/connectors/demo-seed.js';
import { freePort } from '../src/connectors/embedded.js';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const N = Number(process.env.BENCH_APPROVALS_N ?? 60);
const WARMUP = 5;
/**
 * `waiting` (default): the approver clicks once the agent was told it waits. `listed`: as soon as the request
 * is listed, however early (an approver who is faster than the agent's first status read).
 */
const CLICK = process.env.BENCH_APPROVALS_CLICK === 'listed' ? 'listed' : 'waiting';
const AUDIENCE = 'https://airlock.bench/mcp';
const SQL = 'UPDATE orders SET status = status WHERE id = $1';
/** The demo seeds 200 orders. */
const ORDERS = 200;

export interface Person {
  readonly sub: string;
  readonly email: string;
  readonly groups: readonly string[];
}
const ANA: Person = { sub: 'ana', email: 'ana@example.com', groups: ['analysts'] };
const BOB: Person = { sub: 'bob', email: 'bob@example.com', groups: ['dba'] };

/** The smallest OIDC issuer the verifier accepts with a configured `jwksUri`: one ES256 key on loopback. */
export interface Issuer {
  readonly issuer: string;
  readonly jwksUri: string;
  sign(who: Person): Promise<string>;
  close(): Promise<void>;
}

export async function startIssuer(audience = AUDIENCE): Promise<Issuer> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = randomUUID();
  const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }] });
  const server: Server = createServer((req, res) => {
    if (req.url === '/jwks') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(jwks);
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const key: CryptoKey = privateKey;
  return {
    issuer,
    jwksUri: `${issuer}/jwks`,
    sign: (who) =>
      new SignJWT({ email: who.email, email_verified: true, groups: [...who.groups] })
        .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
        .setIssuer(issuer)
        .setSubject(who.sub)
        .setAudience(audience)
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(key),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** `shop` sends writes to a DBA; `shop_direct` (the same database) allows them: the baseline call. */
function writePolicy(dir: string): string {
  const path = join(dir, 'policies.json');
  writeFileSync(
    path,
    JSON.stringify({
      version: 1,
      resources: { connections: { shop: { url: 'env:BENCH_DATABASE_URL' }, shop_direct: { url: 'env:BENCH_DATABASE_URL' } } },
      rules: [
        { id: 'writes-need-dba', effect: 'approve', principals: { groups: ['analysts'] }, tools: ['query_sql'], resources: ['shop'], sql: { classes: ['write'] }, reason: 'Writes to shop need a DBA', approval: { approverGroups: ['dba'], quorum: 1, timeoutSeconds: 600 } },
        { id: 'writes-allowed', effect: 'allow', principals: { groups: ['analysts'] }, tools: ['query_sql'], resources: ['shop_direct'], sql: { classes: ['write'] } },
      ],
    }),
  );
  return path;
}

type Store = 'json' | 'postgres';

function writeConfig(dir: string, issuer: Issuer, store: Store): string {
  const path = join(dir, `airlock-${store}.json`);
  writeFileSync(
    path,
    JSON.stringify({
      identity: { issuers: [{ issuer: issuer.issuer, audiences: [AUDIENCE], jwksUri: issuer.jwksUri }], resource: AUDIENCE },
      approvals: {
        waitSeconds: 60,
        ...(store === 'postgres' ? { postgres: { url: 'env:BENCH_APPROVALS_URL', table: 'bench_approvals' }, key: 'env:BENCH_APPROVALS_KEY' } : {}),
      },
    }),
  );
  return path;
}

interface Airlock {
  readonly url: string;
  readonly stop: () => Promise<void>;
}

async function startAirlock(dir: string, name: string, policy: string, config: string, env: NodeJS.ProcessEnv): Promise<Airlock> {
  const port = await freePort();
  const audit = join(dir, `audit-${name}`);
  mkdirSync(audit, { recursive: true });
  const child: ChildProcess = spawn(process.execPath, [CLI, 'serve', '--http', '--port', String(port), '--policy', policy, '--config', config, '--audit-dir', audit, '--log-level', 'warn'], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  };
  const url = `http://127.0.0.1:${port}`;
  try {
    for (let ready = false; !ready; ) {
      if (child.exitCode !== null) throw new Error(`airlock serve --http (${name}) exited with ${child.exitCode}: ${stderr}`);
      ready = await fetch(`${url}/healthz`).then((r) => r.ok, () => false);
      if (!ready) await new Promise((r) => setTimeout(r, 50));
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, stop };
}

/** The agent: a v2 SDK client with ana's token, which records when each call's wait for approval began. */
interface Agent {
  readonly protocol: string;
  call(connection: string, id: number, progressToken?: string): Promise<{ isError?: boolean; structuredContent?: unknown; content?: unknown }>;
  /** Resolves on the first "waiting" progress notification for this token. */
  waiting(progressToken: string): Promise<void>;
  close(): Promise<void>;
}

async function connectAgent(url: string, token: string): Promise<Agent> {
  const client = new Client({ name: 'bench-agent', version: '1.0.0' });
  const waiters = new Map<string, () => void>();
  client.setNotificationHandler('notifications/progress', (n) => {
    const key = String(n.params.progressToken);
    if (n.params.message?.startsWith('Waiting for approval') === true) {
      waiters.get(key)?.();
      waiters.delete(key);
    }
  });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  return {
    protocol: client.getNegotiatedProtocolVersion() ?? 'unknown',
    call: (connection, id, progressToken) =>
      client.callTool(
        { name: 'query_sql', arguments: { connection, sql: SQL, params: [id] }, ...(progressToken === undefined ? {} : { _meta: { progressToken } }) },
        { timeout: 120_000 },
      ),
    waiting: (progressToken) => new Promise<void>((resolve) => waiters.set(progressToken, resolve)),
    close: () => client.close(),
  };
}

interface Samples {
  clickToResult: number[];
  post: number[];
  allow: number[];
  /** From the decision POST's answer to the agent's result: the wake, the grant, the write and the response. */
  afterPost: number[];
  /** From the agent's call to its first "waiting" notification: everything before a human can click. */
  beforeWait: number[];
}

function check(what: string, result: { isError?: boolean; structuredContent?: unknown; content?: unknown }): void {
  const rowsAffected = (result.structuredContent as { rowsAffected?: unknown } | undefined)?.rowsAffected;
  if (result.isError === true || rowsAffected !== 1) throw new Error(`${what}: unexpected result ${JSON.stringify(result).slice(0, 500)}`);
}

/** One approved call: the agent waits, the approver (on `approverUrl`) finds the request and approves it. */
async function approvedCall(agent: Agent, approverUrl: string, dbaToken: string, id: number): Promise<{ clickToResult: number; post: number; afterPost: number; beforeWait: number }> {
  const progressToken = `bench-${randomUUID()}`;
  const waiting = agent.waiting(progressToken);
  const started = performance.now();
  const call = agent.call('shop', id, progressToken);
  let beforeWait = Number.NaN;
  void waiting.then(() => (beforeWait = performance.now() - started));
  if (CLICK === 'waiting') await waiting;
  const auth = { authorization: `Bearer ${dbaToken}` };
  let request: { id: string } | undefined;
  for (let polls = 0; request === undefined; polls++) {
    const list = (await (await fetch(`${approverUrl}/approvals?state=pending`, { headers: auth })).json()) as { requests?: { id: string; requester: { sub: string } }[] };
    const pending = list.requests?.filter((r) => r.requester.sub === ANA.sub) ?? [];
    if (pending.length > 1 || (pending.length === 0 && (CLICK === 'waiting' || polls > 2000))) throw new Error(`expected one pending request, found ${JSON.stringify(list).slice(0, 500)}`);
    request = pending[0];
  }
  const clicked = performance.now();
  const res = await fetch(`${approverUrl}/approvals/${request.id}/decision`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ verdict: 'approve', reason: 'bench' }) });
  const body = await res.text();
  const answered = performance.now();
  if (res.status !== 200) throw new Error(`decision POST answered ${res.status}: ${body.slice(0, 500)}`);
  const result = await call;
  const done = performance.now();
  check('approved call', result);
  if (CLICK === 'listed' && done - clicked > 1000) process.stderr.write(`approvals bench: request ${request.id} took ${(done - clicked).toFixed(0)} ms from click to result\n`);
  return { clickToResult: done - clicked, post: answered - clicked, afterPost: done - answered, beforeWait };
}

async function allowedCall(agent: Agent, id: number): Promise<number> {
  const started = performance.now();
  const result = await agent.call('shop_direct', id);
  const elapsed = performance.now() - started;
  check('allowed call', result);
  return elapsed;
}

async function measure(agent: Agent, approverUrl: string, dbaToken: string): Promise<Samples> {
  const samples: Samples = { clickToResult: [], post: [], allow: [], afterPost: [], beforeWait: [] };
  for (let i = 0; i < WARMUP + N; i++) {
    const id = 1 + (i % ORDERS);
    // Alternate the order so that neither side always runs second.
    const approved = async (): Promise<void> => {
      const s = await approvedCall(agent, approverUrl, dbaToken, id);
      if (i < WARMUP) return;
      samples.clickToResult.push(s.clickToResult);
      samples.post.push(s.post);
      samples.afterPost.push(s.afterPost);
      samples.beforeWait.push(s.beforeWait);
    };
    const allowed = async (): Promise<void> => {
      const t = await allowedCall(agent, id);
      if (i >= WARMUP) samples.allow.push(t);
    };
    if (i % 2 === 0) {
      await approved();
      await allowed();
    } else {
      await allowed();
      await approved();
    }
  }
  return samples;
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

const ms = (v: number): string => `${v.toFixed(1)} ms`;

/** The brief's figure: click → result against the same call under an `allow` rule. */
function mainRow(label: string, s: Samples): string {
  const p = percentile;
  return `| ${label} | ${ms(p(s.clickToResult, 50))} | ${ms(p(s.clickToResult, 99))} | ${ms(p(s.allow, 50))} | ${ms(p(s.allow, 99))} | **${ms(p(s.clickToResult, 50) - p(s.allow, 50))}** |`;
}

/** Where the approved call's time goes, and what it costs in all (its machine time, the human's wait left out). */
function detailRow(label: string, s: Samples): string {
  const p = percentile;
  const machine = s.clickToResult.map((c, i) => c + (s.beforeWait[i] ?? Number.NaN));
  return `| ${label} | ${ms(p(s.post, 50))} | ${ms(p(s.post, 99))} | ${ms(p(s.afterPost, 50))} | ${ms(p(s.beforeWait, 50))} | ${ms(p(machine, 50))} | ${ms(p(machine, 50) - p(s.allow, 50))} |`;
}

/**
 * Runs the approval latency benchmark against the PostgreSQL at `adminUrl` (a superuser URL: the demo
 * database is created, and the PostgreSQL approval store's table lives in the admin database), in `work`.
 * Returns the Markdown lines of its table.
 */
export async function approvalsBench(adminUrl: string, work: string): Promise<string[]> {
  const demo = await seedDemoDatabase(adminUrl, 'airlock_bench_approvals');
  const issuer = await startIssuer();
  const stops: (() => Promise<void>)[] = [];
  try {
    const policy = writePolicy(work);
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH ?? '',
      HOME: work,
      BENCH_DATABASE_URL: demo.url,
      BENCH_APPROVALS_URL: adminUrl,
      BENCH_APPROVALS_KEY: randomBytes(32).toString('base64'),
    };
    const anaToken = await issuer.sign(ANA);
    const bobToken = await issuer.sign(BOB);
    const rows: string[] = [];
    const details: string[] = [];
    let protocol = '';

    const run = async (label: string, store: Store, crossProcess: boolean): Promise<void> => {
      const config = writeConfig(work, issuer, store);
      const a = await startAirlock(work, `${store}-a`, policy, config, env);
      stops.push(a.stop);
      const b = crossProcess ? await startAirlock(work, `${store}-b`, policy, config, env) : undefined;
      if (b !== undefined) stops.push(b.stop);
      const agent = await connectAgent(a.url, anaToken);
      stops.push(() => agent.close());
      protocol = agent.protocol;
      process.stderr.write(`approvals bench: ${label}…\n`);
      const samples = await measure(agent, (b ?? a).url, bobToken);
      rows.push(mainRow(label, samples));
      details.push(detailRow(label, samples));
      await agent.close();
      await b?.stop();
      await a.stop();
    };
    await run('lowdb JSON file', 'json', false);
    await run('PostgreSQL', 'postgres', false);
    await run('PostgreSQL, approver on a second process (LISTEN/NOTIFY)', 'postgres', true);

    return [
      `Approval latency${CLICK === 'listed' ? ' (approver clicks as soon as the request is listed)' : ''}: real \`airlock serve --http\` processes, v2 SDK client over Streamable HTTP (protocol ${protocol}), bearer tokens from a local issuer; ${N} approved calls and ${N} allowed calls per store (after ${WARMUP} warm-up each), alternating; Node ${process.version}`,
      '',
      '| store | click → result p50 | click → result p99 | allow-rule call p50 | allow-rule call p99 | added at p50 (click → result − allow) |',
      '|---|---|---|---|---|---|',
      ...rows,
      '',
      '| store | decision POST p50 | decision POST p99 | POST answered → result p50 | call → "waiting" p50 | machine time of the approved call p50 (call → waiting + click → result) | machine time − allow, p50 |',
      '|---|---|---|---|---|---|---|',
      ...details,
    ];
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    await issuer.close();
  }
}
