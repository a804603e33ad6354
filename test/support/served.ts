/**
 * A real `airlock serve --http` process for end-to-end tests: spawned from the compiled CLI with a runtime
 * config that trusts the local OIDC issuer, its URL read from its log, its log kept for assertions, and a
 * stop that waits for the exit. Plus what approvals tests share: tokens for people, the approval API, and
 * the agents of each transport and protocol era.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client as ClientV2, StreamableHTTPClientTransport as HttpTransportV2 } from '@modelcontextprotocol/client';
import { StdioClientTransport as StdioTransportV2 } from '@modelcontextprotocol/client/stdio';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ProgressNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { inject } from 'vitest';
import type { RequestView } from '../../src/approval/view.js';
import { CLI, tempDir } from './airlock.js';
import { stopChild, waitForOutput } from './child.js';
import type { LocalIssuer } from './oidc-issuer.js';

/** The resource tokens are issued for (fixed before any port is known). */
export const RESOURCE = 'https://airlock.test/mcp';
export const MODERN = '2026-07-28';

export interface Person {
  readonly sub: string;
  readonly email: string;
  readonly groups: readonly string[];
}

/** A token for `who` from the local issuer, for airlock's audience unless `claims` says otherwise. */
export function tokenFor(idp: LocalIssuer, who: Person, claims: Record<string, unknown> = {}): Promise<string> {
  return idp.sign({ sub: who.sub, aud: RESOURCE, email: who.email, email_verified: true, groups: [...who.groups], ...claims });
}

/** Writes the runtime config (identity trusting `idp`, plus `approvals`) and returns its path. */
export function writeRuntimeConfig(dir: string, idp: LocalIssuer, approvals: Record<string, unknown>): string {
  const path = join(dir, `airlock-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(path, JSON.stringify({ identity: { issuers: [{ issuer: idp.issuer, audiences: [RESOURCE], groupsClaim: 'groups' }], resource: RESOURCE, jwksCooldownSeconds: 0 }, approvals }));
  return path;
}

export interface Served {
  readonly url: string;
  readonly child: ChildProcess;
  /** Everything it logged so far. */
  log(): string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts `airlock serve --http` (the unbundled CLI unless `cli` is given) on a free loopback port; the caller stops it in `finally`. */
export async function serveHttp(options: { readonly configPath: string; readonly policyPath: string; readonly auditDir: string; readonly env?: Record<string, string>; readonly cli?: string; readonly args?: readonly string[] }): Promise<Served> {
  const child = spawn(
    process.execPath,
    [options.cli ?? CLI, 'serve', '--http', '--port', '0', '--config', options.configPath, '--policy', options.policyPath, '--audit-dir', options.auditDir, '--log-level', 'info', ...(options.args ?? [])],
    { cwd: tempDir('airlock-serve-'), env: { PATH: process.env.PATH ?? '', HOME: tempDir('airlock-home-'), DATABASE_URL: inject('databaseUrl'), ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  child.stderr.on('data', (c: Buffer) => void (log += c.toString()));
  child.stdout.on('data', (c: Buffer) => void (log += c.toString()));
  const match = await waitForOutput(child, /serving MCP on (http:\/\/\S+)\/mcp /, { stream: 'stderr' });
  return { url: match[1] ?? '', child, log: () => log, stop: async (signal = 'SIGTERM') => void (await stopChild(child, signal)) };
}

export interface ApiAnswer<T = unknown> {
  readonly status: number;
  readonly body: T;
}

/** One call of the approval API with a bearer token. */
export async function approvalApi<T = unknown>(url: string, token: string | undefined, path: string, body?: unknown): Promise<ApiAnswer<T>> {
  const res = await fetch(`${url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as T };
}

/** Waits until `check` holds (polling), or fails naming `what`. */
export async function until<T>(check: () => T | undefined | false | Promise<T | undefined | false>, what: string, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The pending request the approver sees whose stored input matches `match` (polls until it is listed). */
export function pendingRequest(url: string, approverToken: string, match: (r: RequestView) => boolean): Promise<RequestView> {
  return until(async () => {
    const { status, body } = await approvalApi<{ requests: RequestView[] }>(url, approverToken, '/approvals');
    if (status !== 200) throw new Error(`GET /approvals answered ${status}: ${JSON.stringify(body)}`);
    return body.requests.find(match);
  }, 'the request to be listed');
}

export interface ProgressMessage {
  readonly progressToken: string | number;
  readonly progress: number;
  readonly total?: number;
  readonly message?: string;
}

/** An agent on one transport and era: its calls, the progress notifications it saw, and its close. */
export interface Agent {
  readonly label: string;
  readonly progress: ProgressMessage[];
  call(name: string, args: Record<string, unknown>, progressToken?: string): Promise<CallResult>;
  close(): Promise<void>;
}

export interface CallResult {
  readonly isError?: boolean;
  readonly structuredContent?: Record<string, unknown>;
  readonly content?: { type: string; text?: string }[];
  readonly _meta?: Record<string, unknown>;
}

export type AgentKind = 'Streamable HTTP 2025 (session)' | 'Streamable HTTP 2026-07-28 (stateless)' | 'legacy SSE';
export const AGENT_KINDS: readonly AgentKind[] = ['Streamable HTTP 2025 (session)', 'Streamable HTTP 2026-07-28 (stateless)', 'legacy SSE'];

/** Connects an agent of `kind` to `url` with `token`; the caller closes it in `finally`. */
export async function connectAgent(kind: AgentKind, url: string, token: string): Promise<Agent> {
  const progress: ProgressMessage[] = [];
  const headers = { authorization: `Bearer ${token}` };
  const meta = (t: string | undefined): { _meta?: Record<string, unknown> } => (t === undefined ? {} : { _meta: { progressToken: t } });
  // Calls wait for approvers: longer than the SDKs' 60 s default would never be needed, shorter could cut a wait.
  const timeout = 120_000;
  if (kind === 'Streamable HTTP 2026-07-28 (stateless)') {
    const client = new ClientV2({ name: 'approvals-v2', version: '1.0.0' }, { versionNegotiation: { mode: { pin: MODERN } } });
    client.setNotificationHandler('notifications/progress', (n) => void progress.push(n.params));
    await client.connect(new HttpTransportV2(new URL(`${url}/mcp`), { requestInit: { headers } }));
    if (client.getNegotiatedProtocolVersion() !== MODERN) throw new Error(`negotiated ${String(client.getNegotiatedProtocolVersion())}`);
    return {
      label: kind,
      progress,
      call: async (name, args, t) => (await client.callTool({ name, arguments: args, ...meta(t) }, { timeout })) as CallResult,
      close: () => client.close(),
    };
  }
  const client = new Client({ name: 'approvals-v1', version: '1.0.0' });
  client.setNotificationHandler(ProgressNotificationSchema, (n) => void progress.push(n.params));
  if (kind === 'legacy SSE') {
    await client.connect(
      new SSEClientTransport(new URL(`${url}/sse`), {
        requestInit: { headers },
        eventSourceInit: { fetch: (u, init) => fetch(u, { ...init, headers: { ...(init?.headers as Record<string, string>), ...headers } }) },
      }),
    );
    return { label: kind, progress, call: async (name, args, t) => (await client.callTool({ name, arguments: args, ...meta(t) }, undefined, { timeout })), close: () => client.close() };
  }
  const transport = new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers } });
  await client.connect(transport);
  return {
    label: kind,
    progress,
    call: async (name, args, t) => (await client.callTool({ name, arguments: args, ...meta(t) }, undefined, { timeout })),
    close: async () => {
      await transport.terminateSession().catch(() => undefined);
      await client.close();
    },
  };
}

/** A fresh folder with a runtime config and an audit dir, for one server. */
export function serverDir(): { dir: string; auditDir: string } {
  const dir = tempDir('airlock-approvals-');
  return { dir, auditDir: join(dir, 'audit') };
}

export interface CliRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `airlock approvals …` as a real process against `url`, with `token` in a file (as an approver keeps it). */
export function approvalsCli(url: string, token: string, args: readonly string[]): Promise<CliRun> {
  const file = join(tempDir('airlock-token-'), 'token');
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'approvals', ...args, '--url', url, '--token-file', file], {
      cwd: tempDir('airlock-cli-'),
      env: { PATH: process.env.PATH ?? '', HOME: tempDir('airlock-home-') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', reject);
    child.once('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

export type StdioEra = '2025-11-25' | typeof MODERN;

/** Spawns `airlock serve --stdio` through an SDK client of `era` (v1 for 2025, v2 pinned to 2026-07-28). */
export async function connectStdioAgent(era: StdioEra, args: readonly string[], env: Record<string, string>): Promise<Agent> {
  const progress: ProgressMessage[] = [];
  const spawnAs = { command: process.execPath, args: [CLI, 'serve', '--stdio', ...args], env: { PATH: process.env.PATH ?? '', HOME: tempDir('airlock-home-'), ...env }, cwd: tempDir('airlock-stdio-'), stderr: 'ignore' as const };
  const meta = (t: string | undefined): { _meta?: Record<string, unknown> } => (t === undefined ? {} : { _meta: { progressToken: t } });
  const timeout = 120_000;
  if (era === MODERN) {
    const client = new ClientV2({ name: 'approvals-stdio-v2', version: '1.0.0' }, { versionNegotiation: { mode: { pin: MODERN } } });
    client.setNotificationHandler('notifications/progress', (n) => void progress.push(n.params));
    await client.connect(new StdioTransportV2(spawnAs));
    return { label: `stdio ${era}`, progress, call: async (name, a, t) => (await client.callTool({ name, arguments: a, ...meta(t) }, { timeout })) as CallResult, close: () => client.close() };
  }
  const client = new Client({ name: 'approvals-stdio-v1', version: '1.0.0' });
  client.setNotificationHandler(ProgressNotificationSchema, (n) => void progress.push(n.params));
  await client.connect(new StdioClientTransport(spawnAs));
  return { label: `stdio ${era}`, progress, call: async (name, a, t) => (await client.callTool({ name, arguments: a, ...meta(t) }, undefined, { timeout })), close: () => client.close() };
}
