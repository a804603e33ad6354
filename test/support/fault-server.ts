/**
 * A real `airlock serve` process for fault tests, started with the dev identity (no issuer to fault), the
 * example policy (optionally changed), a loopback Cloud Storage server over a temp folder, and whatever
 * runtime config and environment the test gives. Its log is kept for assertions; `stop` waits for the exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { inject } from 'vitest';
import { CLI, EXAMPLE_POLICY, logText, tempDir } from './airlock.js';
import { stopChild, waitForOutput } from './child.js';

/** The example policy, parsed, for a test to change before it is written. */
export function examplePolicy(): Record<string, unknown> & { resources: Record<string, Record<string, Record<string, unknown>>> } {
  return JSON.parse(readFileSync(EXAMPLE_POLICY, 'utf8')) as Record<string, unknown> & { resources: Record<string, Record<string, Record<string, unknown>>> };
}

/** Writes objects under `root/bucket/…` for the loopback GCS server. */
export function writeObjects(root: string, bucket: string, objects: Record<string, string>): void {
  for (const [name, content] of Object.entries(objects)) {
    const path = join(root, bucket, ...name.split('/'));
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
  }
}

export interface FaultServer {
  readonly url: string;
  readonly child: ChildProcess;
  readonly auditDir: string;
  /** What the server wrote, JSON log lines shown as text. */
  log(): string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface FaultServerOptions {
  readonly dir: string;
  readonly policy: unknown;
  readonly runtime?: Record<string, unknown>;
  readonly env?: Record<string, string>;
  readonly auditDir?: string;
  /** Runs the server under `sh -c 'ulimit …; exec node …'` with these shell commands first. */
  readonly shellPrefix?: string;
  readonly port?: number;
  /** More `serve` flags. */
  readonly args?: readonly string[];
}

/** Starts `airlock serve --http` with the dev identity `ana@example.com,analysts`; the caller stops it in `finally`. */
export async function startFaultServer(options: FaultServerOptions): Promise<FaultServer> {
  const auditDir = options.auditDir ?? join(options.dir, 'audit');
  const policyPath = join(options.dir, 'policies.json');
  writeFileSync(policyPath, JSON.stringify(options.policy, null, 2));
  const configPath = join(options.dir, 'airlock.json');
  writeFileSync(configPath, JSON.stringify(options.runtime ?? {}));
  const args = [CLI, 'serve', '--http', '--port', String(options.port ?? 0), '--config', configPath, '--policy', policyPath, '--audit-dir', auditDir, '--dev-identity', 'ana@example.com,analysts,dba', '--log-level', 'info', ...(options.args ?? [])];
  const env = { PATH: process.env.PATH ?? '', HOME: tempDir('airlock-home-'), DATABASE_URL: inject('databaseUrl'), ...options.env };
  const quoted = [process.execPath, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const child =
    options.shellPrefix === undefined
      ? spawn(process.execPath, args, { cwd: options.dir, env, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn('/bin/sh', ['-c', `${options.shellPrefix}; exec ${quoted}`], { cwd: options.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stderr.on('data', (c: Buffer) => void (log += c.toString()));
  child.stdout.on('data', (c: Buffer) => void (log += c.toString()));
  const match = await waitForOutput(child, /serving MCP on (http:\/\/\S+)\/mcp /, { stream: 'stderr' });
  return { url: match[1] ?? '', child, auditDir, log: () => logText(log), stop: async (signal = 'SIGTERM') => void (await stopChild(child, signal)) };
}

export interface CallResult {
  readonly isError?: boolean;
  readonly structuredContent?: Record<string, unknown>;
  readonly content?: { type: string; text?: string }[];
  readonly _meta?: Record<string, unknown>;
}

/** An MCP client over Streamable HTTP (2025 era, with a session); the caller closes it in `finally`. */
export async function connectClient(url: string): Promise<{ call(name: string, args: Record<string, unknown>, signal?: AbortSignal): Promise<CallResult>; close(): Promise<void> }> {
  const transport = new StreamableHTTPClientTransport(new URL(`${url}/mcp`));
  const client = new Client({ name: 'e2e-faults', version: '1.0.0' });
  await client.connect(transport);
  return {
    call: async (name, args, signal) => (await client.callTool({ name, arguments: args }, undefined, { timeout: 120_000, ...(signal === undefined ? {} : { signal }) })),
    close: async () => {
      await transport.terminateSession().catch(() => undefined);
      await client.close();
    },
  };
}

/** The error code an error result carries. */
export function errorCode(result: CallResult): string | undefined {
  return (result._meta?.['airlock/error'] as { code?: string } | undefined)?.code;
}
