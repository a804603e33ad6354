#!/usr/bin/env node
/**
 * The `airlock` command: serve (stdio or HTTP), start (the embedded demo), policy check.
 */
import { createReadStream, existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { ALL_TOOLS } from '../tools/index.js';
import { ConfigError, DEFAULTS, parseServeConfig, type ServeConfig } from './config.js';
import { createLogger } from './log.js';
import { auditCommand } from './audit/command.js';
import { serveAuditViewer } from './console/audit-viewer.js';
import { readRecords } from './audit/read.js';
import { DETECTOR_NAMES } from './masking/detectors.js';
import { MaskContext, Masker } from './masking/masker.js';
import { maskingTransform } from './masking/stream.js';
import type { MaskingSettings } from './policy/schema.js';
import { ToolRegistry } from './mcp/registry.js';
import { complianceKeyring, maskingSecretFrom, pgAuditOf, retentionPublicKey, offlineToolDeps, packageRoot, startAirlock, VERSION, type RunningAirlock } from './main.js';
import { explainCall } from './policy/explain.js';
import { decide, PrincipalInput, summarize, toPrincipal, type DecisionLine } from './policy/replay.js';
import { loadPolicy, PolicyLoadError } from './policy/load.js';
import { maskingFor } from './policy/masking.js';

const out = (text: string): void => {
  process.stdout.write(`${text}\n`);
};
const err = (text: string): void => {
  process.stderr.write(`${text}\n`);
};

const USAGE = `airlock ${VERSION}: governed MCP access to production data

Usage:
  airlock start [--port N] [--policy FILE] [--audit-dir DIR]
      The demo: embedded PostgreSQL with sample data, HTTP on 127.0.0.1:${DEFAULTS.port},
      dev identity ana@example.com (group analysts).
  airlock serve --stdio | --http [options]
  airlock policy check FILE
  airlock policy explain [--policy FILE] --principal JSON --tool NAME [--input JSON]
  airlock policy test [--policy FILE] --input calls.jsonl|AUDIT_DIR|AUDIT_SEGMENT|-
  airlock mask --jsonl [--policy FILE] [--detectors A,B] < lines.jsonl    ({"id","text"} → {"id","masked","findings"})
               [--principal JSON] [--tool NAME] [--resource NAME]        (with --policy: the detectors its overrides give that call)
  airlock mask FILE [--policy FILE] [--detectors A,B]
  airlock mask --stream [FILE] [--policy FILE] [--detectors A,B]          (masks in chunks: FILE or stdin → stdout)
  airlock audit verify|tail|search|export|replay [--audit-dir DIR] …   (airlock audit --help)

Serve options:
  --stdio                      MCP over stdin/stdout (the client spawns airlock)
  --http                       Streamable HTTP at /mcp and legacy SSE at /sse + /messages
  --port N                     HTTP port (default ${DEFAULTS.port}; 0 picks a free port)
  --host H                     HTTP bind address (default ${DEFAULTS.host})
  --policy FILE                policy file (default ${DEFAULTS.policyPath})
  --audit-dir DIR              audit directory (default ${DEFAULTS.auditDir})
  --audit-segment-bytes N      seal audit segments at N bytes (default ${DEFAULTS.auditSegmentBytes})
  --audit-fsync                fsync every audit journal write (survives power loss; slower)
  --config FILE                runtime config: trusted OIDC issuers, audiences, group claim (JSON)
  --token-file PATH            stdio: the caller's token, re-read when it rotates (or set AIRLOCK_TOKEN)
  --dev-identity EMAIL[,G...]  UNVERIFIED identity for demos and tests; marked in every audit record
  --demo                       start an embedded PostgreSQL with demo data if DATABASE_URL is not set
  --allowed-host H             extra Host header value to accept (repeatable)
  --allowed-origin O           extra Origin to accept (repeatable)
  --max-body-bytes N           largest HTTP request body (default ${DEFAULTS.maxBodyBytes})
  --session-idle-seconds N     close HTTP sessions idle this long (default ${DEFAULTS.sessionIdleMs / 1000})
  --log-level L                debug | info | warn | error (default info; logs go to stderr)
`;

const SERVE_OPTIONS = {
  stdio: { type: 'boolean' },
  http: { type: 'boolean' },
  port: { type: 'string' },
  host: { type: 'string' },
  policy: { type: 'string' },
  'audit-dir': { type: 'string' },
  'audit-segment-bytes': { type: 'string' },
  'audit-fsync': { type: 'boolean' },
  'dev-identity': { type: 'string' },
  config: { type: 'string' },
  'token-file': { type: 'string' },
  demo: { type: 'boolean' },
  'allowed-host': { type: 'string', multiple: true },
  'allowed-origin': { type: 'string', multiple: true },
  'max-body-bytes': { type: 'string' },
  'session-idle-seconds': { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type ServeFlags = ReturnType<typeof parseArgs<{ options: typeof SERVE_OPTIONS; strict: true; allowPositionals: false }>>['values'];

function toInt(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  return /^\d+$/.test(value) ? Number(value) : Number.NaN;
}

function serveConfig(flags: ServeFlags, overrides: Partial<ServeConfig> = {}): ServeConfig {
  if (flags.stdio === true && flags.http === true) throw new ConfigError('choose one transport: --stdio or --http');
  const transport = flags.stdio === true ? 'stdio' : flags.http === true ? 'http' : overrides.transport;
  if (transport === undefined) throw new ConfigError('choose a transport: --stdio or --http');
  return parseServeConfig({
    transport,
    policyPath: flags.policy ?? overrides.policyPath ?? DEFAULTS.policyPath,
    auditDir: flags['audit-dir'] ?? DEFAULTS.auditDir,
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
    allowedHosts: flags['allowed-host'] ?? [],
    allowedOrigins: flags['allowed-origin'] ?? [],
    logLevel: flags['log-level'] ?? DEFAULTS.logLevel,
  });
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

async function serve(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: SERVE_OPTIONS, strict: true, allowPositionals: false });
  if (values.help === true) return out(USAGE);
  const config = serveConfig(values);
  await runUntilStopped(await startAirlock(config));
}

async function start(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: SERVE_OPTIONS, strict: true, allowPositionals: false });
  if (values.help === true) return out(USAGE);
  const policyPath = existsSync(DEFAULTS.policyPath) ? DEFAULTS.policyPath : join(packageRoot(), 'policies.json');
  const devIdentity = 'ana@example.com,analysts';
  const config = serveConfig(values, { transport: 'http', demo: true, devIdentity, policyPath });
  const log = createLogger(config.logLevel);
  let airlock: RunningAirlock;
  try {
    airlock = await startAirlock(config, log);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || values.port !== undefined) throw error;
    log('warn', `port ${config.port} is in use; picking a free port`);
    airlock = await startAirlock({ ...config, port: 0 }, log);
  }
  const url = airlock.http?.url ?? '';
  const identity = config.devIdentity ?? devIdentity;
  err(`
airlock demo is running.

  Streamable HTTP:  ${url}/mcp
  Legacy SSE:       ${url}/sse
  Health:           ${url}/healthz
  Audit log:        ${airlock.auditDir}/
  Policy:           ${config.policyPath}
  Calls run as:     ${identity} (dev identity, unverified)

Try it with the MCP Inspector (another terminal):
  npx @modelcontextprotocol/inspector --cli ${url}/mcp --transport http --method tools/list
  npx @modelcontextprotocol/inspector --cli ${url}/mcp --transport http --method tools/call \\
    --tool-name query_sql --tool-arg 'connection="shop"' \\
    --tool-arg 'sql="SELECT name, email, card_number FROM customers LIMIT 3"'

Or serve the same demo over stdio (the client spawns airlock):
  npx airlock serve --stdio --demo --dev-identity ${identity}

Press Ctrl-C to stop (the embedded PostgreSQL is stopped and its data removed).
`);
  await runUntilStopped(airlock);
}

async function policy(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  const toolNames = ALL_TOOLS.map((t) => t.name);
  if (sub === 'check') {
    const [file, ...extra] = rest;
    if (file === undefined || extra.length > 0) throw new ConfigError('usage: airlock policy check FILE');
    const loaded = await loadPolicy(file, toolNames);
    return out(`${file}: OK (${loaded.file.rules.length} rules, version ${loaded.version})`);
  }
  if (sub === 'explain') {
    const { values } = parseArgs({
      args: rest,
      options: { policy: { type: 'string' }, principal: { type: 'string' }, tool: { type: 'string' }, input: { type: 'string' } },
      strict: true,
      allowPositionals: false,
    });
    if (values.principal === undefined || values.tool === undefined) {
      throw new ConfigError('usage: airlock policy explain [--policy FILE] --principal JSON --tool NAME [--input JSON]');
    }
    const loaded = await loadPolicy(values.policy ?? DEFAULTS.policyPath, toolNames);
    const principal = toPrincipal(PrincipalInput.parse(parseJsonFlag('--principal', values.principal)));
    const input = values.input === undefined ? {} : parseJsonFlag('--input', values.input);
    const offline = await offlineToolDeps(loaded);
    try {
      return out(JSON.stringify(await explainCall({ policy: loaded, tools: new ToolRegistry(ALL_TOOLS), deps: offline.deps, principal, tool: values.tool, input }), null, 2));
    } finally {
      await offline.close();
    }
  }
  if (sub === 'test') {
    const { values } = parseArgs({ args: rest, options: { policy: { type: 'string' }, input: { type: 'string' } }, strict: true, allowPositionals: false });
    if (values.input === undefined) throw new ConfigError('usage: airlock policy test [--policy FILE] --input calls.jsonl|AUDIT_DIR|AUDIT_SEGMENT|-');
    const loaded = await loadPolicy(values.policy ?? DEFAULTS.policyPath, toolNames);
    const offline = await offlineToolDeps(loaded);
    const ctx = { policy: loaded, tools: new ToolRegistry(ALL_TOOLS), deps: offline.deps };
    const lines: DecisionLine[] = [];
    let bad = 0;
    for await (const value of readInputs(values.input)) {
      const decided = await decide(ctx, value);
      if (decided === undefined) continue;
      out(JSON.stringify(decided));
      if ('effect' in decided) lines.push(decided);
      else bad++;
    }
    await offline.close();
    const summary = summarize(lines);
    if (summary.total > 0) {
      const changes = Object.entries(summary.changed).map(([k, v]) => `${k}: ${v}`);
      err(`replayed ${summary.total} recorded calls against ${loaded.version.slice(0, 19)}…: ${summary.unchanged} unchanged, ${summary.total - summary.unchanged} changed${changes.length > 0 ? ` (${changes.join(', ')})` : ''}`);
    }
    if (bad > 0) {
      err(`${bad} input line(s) were not calls or audit records`);
      process.exitCode = 1;
    }
    return;
  }
  throw new ConfigError('usage: airlock policy check FILE | explain … | test …');
}

function parseJsonFlag(flag: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ConfigError(`${flag}: not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
}

/** Calls from a JSONL file (or - for stdin), an audit segment, or an audit directory (every segment, in order). */
async function* readInputs(source: string): AsyncGenerator<unknown> {
  if (source !== '-' && (await stat(source)).isDirectory()) {
    // Every finished call, segments then the journal's tail, in chain order.
    yield* readRecords(source);
    return;
  }
  const text = source === '-' ? await readStdin() : await readFile(source, 'utf8');
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{"format":"airlock-audit"') || trimmed.startsWith('{\n  "format"')) {
    const file = JSON.parse(text) as { records?: unknown[] };
    yield* file.records ?? [];
    return;
  }
  for (const [i, raw] of text.split('\n').entries()) {
    if (raw.trim() === '') continue;
    try {
      yield JSON.parse(raw) as unknown;
    } catch {
      yield { invalidLine: i + 1 };
    }
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** `airlock mask`: try detectors and rules on your own samples before rollout. */
async function mask(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      jsonl: { type: 'boolean' },
      stream: { type: 'boolean' },
      policy: { type: 'string' },
      detectors: { type: 'string' },
      principal: { type: 'string' },
      tool: { type: 'string' },
      resource: { type: 'string' },
    },
    strict: true,
    allowPositionals: true,
  });
  let settings: MaskingSettings = { detectors: [...DETECTOR_NAMES], style: 'redact', columns: [] };
  if (values.policy !== undefined) settings = (await loadPolicy(values.policy, ALL_TOOLS.map((t) => t.name))).file.masking;
  if (values.principal !== undefined || values.tool !== undefined || values.resource !== undefined) {
    // The detectors the policy's masking overrides give one kind of call, as the server would.
    if (values.policy === undefined) throw new ConfigError('--principal, --tool and --resource choose among the masking overrides of a policy: give --policy FILE');
    if (values.detectors !== undefined) throw new ConfigError('--detectors sets the detectors itself: use it without --principal, --tool and --resource');
    const tool = values.tool ?? 'query_sql';
    const tools = ALL_TOOLS.map((t) => t.name);
    if (!tools.includes(tool)) throw new ConfigError(`--tool: unknown tool "${tool}" (known: ${tools.join(', ')})`);
    const principal = values.principal === undefined ? undefined : toPrincipal(PrincipalInput.parse(parseJsonFlag('--principal', values.principal)));
    const call = maskingFor(settings, { principal, tool, resource: values.resource });
    err(`airlock: detectors for ${tool}${values.resource === undefined ? '' : ` on ${values.resource}`}: ${call.detectors.join(', ') || 'none'}${call.overrides.length > 0 ? ` (overrides: ${call.overrides.join(', ')})` : ''}`);
    settings = { ...settings, detectors: [...call.detectors] };
  }
  if (values.detectors !== undefined) {
    const names = values.detectors.split(',').map((d) => d.trim());
    const unknown = names.filter((n) => !(DETECTOR_NAMES as readonly string[]).includes(n));
    if (unknown.length > 0) throw new ConfigError(`--detectors: unknown ${unknown.join(', ')} (known: ${DETECTOR_NAMES.join(', ')})`);
    settings = { ...settings, detectors: names as MaskingSettings['detectors'] };
  }
  // Style hmac needs its key from the environment, as the server would (fails here without it).
  const masker = new Masker(settings, { hmacKey: settings.hmacKey === undefined ? undefined : maskingSecretFrom()(settings.hmacKey) });
  if (values.jsonl === true) {
    const text = await readStdin();
    for (const [i, raw] of text.split('\n').entries()) {
      if (raw.trim() === '') continue;
      let line: { id?: unknown; text?: unknown };
      try {
        line = JSON.parse(raw) as { id?: unknown; text?: unknown };
      } catch {
        out(JSON.stringify({ line: i + 1, error: 'not valid JSON' }));
        process.exitCode = 1;
        continue;
      }
      if (typeof line.text !== 'string') {
        out(JSON.stringify({ id: line.id ?? null, error: '"text" must be a string' }));
        process.exitCode = 1;
        continue;
      }
      try {
        // The findings the masked text was made from: built-in and custom detectors, CSV header context.
        const findings = masker.find(line.text);
        out(JSON.stringify({ id: line.id ?? null, masked: masker.apply(line.text, findings, new MaskContext()), findings }));
      } catch (error) {
        // Fail closed: a line that cannot be masked is not echoed.
        out(JSON.stringify({ id: line.id ?? null, error: `masking failed: ${error instanceof Error ? error.message : String(error)}` }));
        process.exitCode = 1;
      }
    }
    return;
  }
  const [file, ...extra] = positionals;
  if (values.stream === true && extra.length === 0) {
    const input = file === undefined ? process.stdin : createReadStream(file);
    try {
      await pipeline(input, maskingTransform(masker), process.stdout);
    } catch (error) {
      // Fail closed: the output stops at the last fully masked chunk, and says so.
      const cause = (error as { cause?: unknown }).cause;
      err(`airlock: masking failed, output stopped: ${cause instanceof Error ? cause.message : error instanceof Error ? error.message : String(error)}`);
      process.exitCode = 1;
    }
    return;
  }
  if (file === undefined || extra.length > 0) throw new ConfigError('usage: airlock mask FILE | airlock mask --jsonl < lines.jsonl | airlock mask --stream [FILE]  [--policy FILE] [--detectors A,B]');
  process.stdout.write(masker.maskText(await readFile(file, 'utf8'), new MaskContext()));
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return serve(rest);
    case 'start':
    case 'demo':
      return start(rest);
    case 'policy':
      return policy(rest);
    case 'mask':
      return mask(rest);
    case 'audit':
      process.exitCode = await auditCommand(rest, DEFAULTS.auditDir, { out, err: (t) => process.stderr.write(t), progress: process.stderr.isTTY || rest.includes('--progress'), now: () => new Date(), keyring: complianceKeyring, tombstoneKey: retentionPublicKey, view: (dir, host, port) => serveAuditViewer({ dir, host, port }), pgAudit: pgAuditOf });
      return;
    case '--version':
    case '-v':
      return out(VERSION);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      return out(USAGE);
    default:
      throw new ConfigError(`unknown command "${command}"\n\n${USAGE}`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof PolicyLoadError) err(`airlock: ${error.message}`);
  else if (error instanceof ConfigError || error instanceof TypeError) err(`airlock: ${error.message}`);
  else if ((error as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || (error as { code?: string }).code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    err(`airlock: ${(error as Error).message}\n\n${USAGE}`);
  } else err(`airlock: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exit(2);
});
