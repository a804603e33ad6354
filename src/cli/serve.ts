/**
 * `airlock serve` and `airlock start`: settings from flags and the user's environment, then the server
 * until a signal (or the stdio client) ends it.
 */
import { existsSync, realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { parseArgs } from 'node:util';
import { LIMIT_FLAGS, LOG_FORMAT_ENV, parseServeConfig, type ServeConfig } from '../config.js';
import { DEFAULTS } from '../defaults.js';
import { createLogger } from '../log.js';
import { startAirlock, type RunningAirlock } from '../main.js';
import { defaultAuditDir, policyCandidates, stateDir } from '../paths.js';
import { packageRoot } from '../version.js';
import type { ServeOptions } from './commands.js';
import type { CliContext } from './context.js';
import { UsageError } from '../usage-error.js';

export type ServeFlags = ReturnType<typeof parseArgs<{ options: ServeOptions; strict: true; allowPositionals: true }>>['values'];

function toInt(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  return /^\d+$/.test(value) ? Number(value) : Number.NaN;
}

/** Integer flags that were given (the config schema holds their defaults). */
function optionalInts(flags: ServeFlags, names: Record<string, keyof ServeFlags>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, flag] of Object.entries(names)) {
    const value = flags[flag];
    if (typeof value === 'string') out[key] = toInt(value, Number.NaN);
  }
  return out;
}

/** The settings `serve` runs with, from its parsed flags (every value checked by the config schema). */
export function serveConfig(flags: ServeFlags, defaults: { auditDir: string; policyPath: string; logFormat: string | undefined }, overrides: Partial<ServeConfig> = {}): ServeConfig {
  if (flags.stdio === true && flags.http === true) throw new UsageError('choose one transport: --stdio or --http', 'serve');
  const transport = flags.stdio === true ? 'stdio' : flags.http === true ? 'http' : overrides.transport;
  if (transport === undefined) throw new UsageError('choose a transport: --stdio (the MCP client spawns airlock) or --http', 'serve');
  return parseServeConfig({
    transport,
    policyPath: flags.policy ?? defaults.policyPath,
    auditDir: flags['audit-dir'] ?? defaults.auditDir,
    auditSegmentBytes: toInt(flags['audit-segment-bytes'], DEFAULTS.auditSegmentBytes),
    auditFsync: flags['audit-fsync'] ?? false,
    ...(flags['dev-identity'] === undefined
      ? overrides.devIdentity === undefined
        ? {}
        : { devIdentity: overrides.devIdentity }
      : { devIdentity: flags['dev-identity'] }),
    ...(flags.config === undefined ? {} : { configPath: flags.config }),
    ...(flags['token-file'] === undefined ? {} : { tokenFile: flags['token-file'] }),
    demo: flags.demo ?? overrides.demo ?? false,
    host: flags.host ?? DEFAULTS.host,
    port: toInt(flags.port, overrides.port ?? DEFAULTS.port),
    maxBodyBytes: toInt(flags['max-body-bytes'], DEFAULTS.maxBodyBytes),
    sessionIdleMs: toInt(flags['session-idle-seconds'], DEFAULTS.sessionIdleMs / 1000) * 1000,
    keepAliveMs: toInt(flags['keep-alive-seconds'], DEFAULTS.keepAliveMs / 1000) * 1000,
    allowedHosts: flags['allowed-host'] ?? [],
    allowedOrigins: flags['allowed-origin'] ?? [],
    logLevel: flags['log-level'] ?? DEFAULTS.logLevel,
    logFormat: flags['log-format'] ?? defaults.logFormat ?? overrides.logFormat ?? 'json',
    ...(flags['metrics-port'] === undefined ? {} : { metricsPort: toInt(flags['metrics-port'], Number.NaN) }),
    ...(flags['metrics-host'] === undefined ? {} : { metricsHost: flags['metrics-host'] }),
    ...optionalInts(flags, LIMIT_FLAGS),
  });
}

/** `AIRLOCK_LOG_FORMAT`, when set (checked with the flags). */
function logFormatEnv(ctx: CliContext): string | undefined {
  const value = ctx.env[LOG_FORMAT_ENV];
  return value === undefined || value === '' ? undefined : value;
}

async function runUntilStopped(airlock: RunningAirlock): Promise<void> {
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void airlock.close().finally(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on('SIGHUP', () => void airlock.reloadPolicy());
  await airlock.closed;
  stop();
}

/**
 * The policy `serve` uses without `--policy`: the first candidate that exists; with `--demo`, the demo
 * policy shipped with airlock (as `start` does, so a client can spawn the demo from any folder); else a
 * usage error naming every place looked at.
 */
function findPolicy(ctx: CliContext, demo: boolean): { path: string; note: string } {
  const candidates = policyCandidates(ctx.env);
  for (const candidate of candidates) {
    const path = resolve(ctx.cwd, candidate);
    if (existsSync(path)) return { path, note: `no --policy given: using ${path} (looked for ${candidates.join(', then ')})` };
  }
  if (demo) {
    const path = join(packageRoot(), 'policies.json');
    return { path, note: `no --policy given: using the demo policy ${path} (looked for ${candidates.join(', then ')} first)` };
  }
  const [local = './policies.json', user = ''] = candidates;
  throw new UsageError(`no policy file: looked for ${local} (in ${ctx.cwd}) and ${user}; give one with --policy FILE`, 'serve');
}

/** `airlock serve`. */
export async function runServe(flags: ServeFlags, ctx: CliContext): Promise<void> {
  // A missing transport is the first thing to say, before looking for files.
  if (flags.stdio !== true && flags.http !== true) throw new UsageError('choose a transport: --stdio (the MCP client spawns airlock) or --http', 'serve');
  const found = flags.policy === undefined ? findPolicy(ctx, flags.demo === true) : undefined;
  const config = serveConfig(flags, { auditDir: defaultAuditDir(ctx.env), policyPath: found?.path ?? '', logFormat: logFormatEnv(ctx) });
  const log = createLogger({ level: config.logLevel, format: config.logFormat });
  if (found !== undefined) log('info', found.note);
  await runUntilStopped(await startAirlock(config, log));
}

/** How to run this installation's `airlock`: the command on PATH when that is this one, else node and the script. */
function commandName(ctx: CliContext): string {
  for (const dir of (ctx.env.PATH ?? '').split(':')) {
    if (dir === '') continue;
    const candidate = join(dir, 'airlock');
    try {
      if (existsSync(candidate) && realpathSync(candidate) === realpathSync(ctx.script)) return 'airlock';
    } catch {
      // Not readable: not ours.
    }
  }
  return `node ${ctx.script}`;
}

/** `airlock start` (and `airlock demo`): the embedded demo over HTTP. */
export async function runStart(flags: ServeFlags, ctx: CliContext): Promise<void> {
  const local = resolve(ctx.cwd, 'policies.json');
  const policyPath = existsSync(local) ? local : join(packageRoot(), 'policies.json');
  const devIdentity = 'ana@example.com,analysts';
  // The demo is watched by a person at a terminal: text lines unless asked otherwise.
  const config = serveConfig(flags, { auditDir: defaultAuditDir(ctx.env), policyPath, logFormat: logFormatEnv(ctx) }, { transport: 'http', demo: true, devIdentity, logFormat: 'pretty' });
  const log = createLogger({ level: config.logLevel, format: config.logFormat });
  let airlock: RunningAirlock;
  try {
    airlock = await startAirlock(config, log);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || flags.port !== undefined) throw error;
    log('warn', `port ${config.port} is in use; picking a free port`);
    airlock = await startAirlock({ ...config, port: 0 }, log);
  }
  const url = airlock.http?.url ?? '';
  const identity = config.devIdentity ?? devIdentity;
  const embedded = airlock.databaseUrl !== undefined;
  const stdioAudit = join(stateDir(ctx.env), 'demo-stdio-audit');
  const command = commandName(ctx);
  ctx.err(`
airlock demo is running.

  Streamable HTTP:  ${url}/mcp
  Legacy SSE:       ${url}/sse
  Health:           ${url}/healthz
  Approvals:        ${url}/console (dev sign-in as dba@example.com; writes by ${identity.split(',')[0] ?? identity} wait for a DBA)
  Audit log:        ${airlock.auditDir}/
  Policy:           ${config.policyPath}
  Database:         ${embedded ? 'embedded PostgreSQL with the demo data (removed when the demo stops)' : 'DATABASE_URL (given; airlock only connects to it)'}
  Calls run as:     ${identity} (dev identity, unverified)

Try it with the MCP Inspector (another terminal):
  npx @modelcontextprotocol/inspector --cli ${url}/mcp --transport http --method tools/list
  npx @modelcontextprotocol/inspector --cli ${url}/mcp --transport http --method tools/call \\
    --tool-name query_sql --tool-arg 'connection="shop"' \\
    --tool-arg 'sql="SELECT name, email, card_number FROM customers LIMIT 3"'

Or let an MCP client spawn its own demo over stdio (${embedded ? 'its own embedded PostgreSQL and ' : ''}its own audit directory: one
airlock process writes one audit directory):
  ${command} serve --stdio --demo --policy ${config.policyPath} \\
    --dev-identity ${identity} --audit-dir ${stdioAudit}

Press Ctrl-C to stop${embedded ? ' (the embedded PostgreSQL is stopped and its data removed)' : ''}.
`);
  await runUntilStopped(airlock);
}
