import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import * as z from 'zod';
import { notifyConfigSchema } from './approval/notify/config.js';
import { identityConfigSchema } from './identity/config.js';
import { consoleConfigSchema } from './console/console-config.js';
import { once, ONE_SHOT } from './once.js';
import { parseStrictJson, StrictJsonError } from './strict-json.js';

/** Runtime settings for `airlock serve` / `airlock start`, from flags (checked here, once, at start-up). */
export const serveConfigSchema = once(() =>
  z.strictObject({
    transport: z.enum(['stdio', 'http']),
    policyPath: z.string().min(1),
    auditDir: z.string().min(1),
    /** Audit segments are sealed at this size (records reach them from the journal in the background). */
    auditSegmentBytes: z.int().min(4096).max(256 * 1024 * 1024).default(256 * 1024),
    /** fsync every audit journal write: records survive power loss, not only a crash of airlock. */
    auditFsync: z.boolean().default(false),
    /** Runtime config file (identity issuers, …). */
    configPath: z.string().min(1).optional(),
    /** stdio: read the caller's token from this file on each call (re-read when it rotates). */
    tokenFile: z.string().min(1).optional(),
    /** `EMAIL[,GROUP,...]`: an unverified identity for the demo and tests only. */
    devIdentity: z.string().min(3).optional(),
    /** Start an embedded PostgreSQL with demo data when DATABASE_URL is not set. */
    demo: z.boolean(),
    host: z.string().min(1),
    port: z.int().min(0).max(65_535),
    maxBodyBytes: z.int().min(1024).max(256 * 1024 * 1024),
    sessionIdleMs: z.int().min(1000),
    /**
     * How long an idle HTTP connection stays open for the next request. Behind a load balancer it must be
     * longer than the balancer's own idle timeout, or the balancer may send a request on a connection airlock
     * is closing and answer it 502 (Google Cloud load balancers keep backend connections 600 s: use 620).
     */
    keepAliveMs: z.int().min(1000).max(3_600_000).default(5000),
    allowedHosts: z.array(z.string().min(1)),
    allowedOrigins: z.array(z.string().url()),
    logLevel: z.enum(['debug', 'info', 'warn', 'error']),
    /** `json`: one JSON object a line (for log collectors); `pretty`: text for people. */
    logFormat: z.enum(['json', 'pretty']).default('json'),
    /** Serve `GET /metrics` on a listener of its own at this port (both transports); absent: no such listener. */
    metricsPort: z.int().min(0).max(65_535).optional(),
    /** The metrics listener's bind address. */
    metricsHost: z.string().min(1).default('127.0.0.1'),
    /** Calls one principal runs at once (the rest wait in its queue). */
    maxConcurrentCalls: z.int().min(1).max(1000).default(4),
    /** Calls of one principal that may wait for a slot; more are refused at once with TOO_MANY_CALLS. */
    callQueue: z.int().min(0).max(10_000).default(8),
    /** How long a queued call waits for a slot before TOO_MANY_CALLS. */
    callQueueMs: z.int().min(0).max(600_000).default(5000),
    /** Open HTTP sessions (Streamable HTTP and SSE), all principals together. */
    maxSessions: z.int().min(1).max(1_000_000).default(1000),
    /** Open HTTP sessions of one principal. */
    maxSessionsPerPrincipal: z.int().min(1).max(1_000_000).default(32),
    /** Output a stream (SSE, Streamable HTTP) may hold unread before its session is dropped. */
    maxSessionBufferBytes: z.int().min(64 * 1024).max(1024 * 1024 * 1024).default(16 * 1024 * 1024),
    /** Argument strings longer than this are audited as sha256 + a prefix of this size. */
    auditMaxValueBytes: z.int().min(256).max(16 * 1024 * 1024).default(8 * 1024),
    /** Arguments larger than this (as JSON, after cutting long strings) are audited as sha256 + a prefix. */
    auditMaxInputBytes: z.int().min(4096).max(64 * 1024 * 1024).default(256 * 1024),
  }),
);

export type ServeConfig = z.output<ReturnType<typeof serveConfigSchema>>;

/** Validates settings; every problem is reported with the flag it came from. */
export function parseServeConfig(input: unknown): ServeConfig {
  const parsed = serveConfigSchema().safeParse(input, ONE_SHOT);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((issue) => `  --${flagName(String(issue.path[0] ?? ''))}: ${issue.message}`);
  throw new ConfigError(`invalid settings:\n${lines.join('\n')}`);
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** The `--config FILE` document: deployment settings that are not policy. A secret appears by reference only. */
const secretRef = once(() =>
  z.string().regex(/^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+)$/, 'must be a reference: "env:NAME" or "file:/path" (never the secret itself)'),
);

/** Audit settings of the runtime file (built on first use, as every schema of the runtime file). */
export const auditConfigSchema = once(() =>
  z.strictObject({
    /** Keep an encrypted copy of each unmasked result (AES-256-GCM), readable with `airlock audit reveal`. */
    compliance: z
      .strictObject({
        keys: z.array(z.strictObject({ id: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, ".", "_" or "-" (at most 64)'), key: secretRef() })).min(1),
        /** Which key seals new copies (default: the first). */
        current: z.string().optional(),
        /** Largest unmasked result sealed whole, in bytes of JSON (default 4 MiB); longer ones keep their first part. */
        maxBytes: z.int().min(1024).max(64 * 1024 * 1024).default(4 * 1024 * 1024),
      })
      .refine((c) => c.current === undefined || c.keys.some((k) => k.id === c.current), { message: 'current must name one of keys[].id', path: ['current'] })
      .optional(),
    /** Keep the audit in PostgreSQL instead of JSON files (several replicas share one chain). */
    postgres: z
      .strictObject({
        url: z.string().regex(/^env:[A-Za-z_][A-Za-z0-9_]*$/, 'must be "env:NAME" (a connection string in the environment)'),
        table: z.string().regex(/^[a-z_][a-z0-9_]{0,40}$/, 'a lower-case identifier').default('airlock_audit'),
        /** This replica's name in started entries (default: host name and pid). */
        replica: z.string().min(1).max(200).optional(),
      })
      .optional(),
    /** Also copy every record to Cloud Logging (airlock's own credentials), for log sinks and BigQuery. */
    cloudLogging: z
      .strictObject({
        projectId: z.string().regex(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, 'a Google Cloud project id'),
        logName: z.string().regex(/^[A-Za-z0-9_./-]{1,100}$/).default('airlock-audit'),
        /** A local Logging server, loopback only (tests, emulators): plaintext and no credentials. */
        emulator: z.string().regex(/^(127\.0\.0\.1|localhost|\[::1\]):\d{1,5}$/, 'must be a loopback host:port').optional(),
      })
      .optional(),
    /** Remove sealed segments older than `days`, leaving a tombstone signed with `signingKey` (Ed25519 PEM). */
    retention: z.strictObject({ days: z.int().min(1).max(36_500), signingKey: secretRef() }).optional(),
  }),
);

/** Approval settings of the runtime file: where requests live, how long calls wait, where approvers decide. */
export const approvalsConfigSchema = once(() =>
  z
    .strictObject({
      /** The JSON store file (default: `approvals.json` in the audit directory). */
      file: z.string().min(1).optional(),
      /** Keep requests in PostgreSQL instead (several replicas share them; decisions wake calls on every replica). */
      postgres: z
        .strictObject({
          url: z.string().regex(/^env:[A-Za-z_][A-Za-z0-9_]*$/, 'must be "env:NAME" (a connection string in the environment)'),
          table: z.string().regex(/^[a-z_][a-z0-9_]{0,40}$/, 'a lower-case identifier').default('airlock_approvals'),
        })
        .optional(),
      /**
       * HMAC key (at least 32 bytes, base64 or hex) sealing every stored request: whoever can write the store
       * but lacks the key cannot forge a decision. Default: a random key kept next to the JSON store (0600).
       */
      key: secretRef().optional(),
      /**
       * JSON store: how long finished requests (denied, expired, consumed, withdrawn) stay in the file after they
       * ended (default 30). The audit keeps their events; the file is rewritten whole on every change.
       */
      keepFinishedDays: z.int().min(1).max(36_500).default(30),
      /** How long an approved grant waits to be collected (default 10 minutes). */
      executionWindowSeconds: z.int().min(10).max(86_400).default(600),
      /** How long a call waits in place for a decision before it returns a pending handle (default 45 s). */
      waitSeconds: z.int().min(0).max(300).default(45),
      /**
       * stdio deployments: also serve the console and the approval API on this `host:port` (the process has no
       * HTTP port of its own). Ignored by `serve --http`, whose port serves them already.
       */
      listen: z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'host:port, e.g. "127.0.0.1:7301"').optional(),
      /** The console's public base URL, for links in results and notifications (default: this server's URL). */
      publicUrl: z.string().url().optional(),
      /** Channels that announce requests and decisions (Slack incoming webhooks, signed JSON webhooks). */
      notify: notifyConfigSchema().optional(),
      /** The approvers' web console at `/console`. */
      console: consoleConfigSchema().optional(),
    })
    // Replicas must seal and check records with one key: a random key per replica would refuse the others' requests.
    .refine((a) => a.postgres === undefined || a.key !== undefined, { message: 'approvals.postgres needs approvals.key (one key shared by every replica, e.g. "env:APPROVALS_KEY")', path: ['key'] })
    // Links in Slack and webhooks must reach the console from outside this machine.
    .refine((a) => a.notify === undefined || a.publicUrl !== undefined, { message: 'approvals.notify needs approvals.publicUrl (the console address approvers open from a notification)', path: ['publicUrl'] }),
);
export type ApprovalsConfig = z.output<ReturnType<typeof approvalsConfigSchema>>;

/**
 * Where a Google API is reached. Absent: Google's production endpoint with airlock's own credentials
 * (Application Default Credentials, or the impersonated service account policy assigns). An `http://`
 * endpoint must be on loopback and is called without credentials (a local server in tests and demos).
 */
const endpointConfigSchema = once(() =>
  z.strictObject({
    endpoint: z
      .string()
      .regex(/^(https?:\/\/)?[A-Za-z0-9.\-[\]:]+(:\d{1,5})?\/?$/, 'an endpoint like "https://storage.googleapis.com", "http://127.0.0.1:4443" or "127.0.0.1:8085"')
      .optional(),
  }),
);
/** `storage` (and `logging`) of the runtime file. */
export type EndpointConfig = z.output<ReturnType<typeof endpointConfigSchema>>;

/** The whole `--config` document (built on first use: a server started without `--config` never needs it). */
export const runtimeFileSchema = once(() =>
  z.strictObject({
    $schema: z.string().optional(),
    identity: identityConfigSchema().optional(),
    audit: auditConfigSchema().optional(),
    approvals: approvalsConfigSchema().optional(),
    /** Cloud Storage for read_bucket. */
    storage: endpointConfigSchema().optional(),
    /** Cloud Logging for tail_logs. */
    logging: endpointConfigSchema().optional(),
  }),
);
export type RuntimeFile = z.output<ReturnType<typeof runtimeFileSchema>>;

/** Reads and validates `--config FILE`, reporting every problem with its path. */
export async function loadRuntimeFile(path: string): Promise<RuntimeFile> {
  const label = basename(path);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`--config: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
  let json: unknown;
  try {
    json = parseStrictJson(text);
  } catch (error) {
    if (error instanceof StrictJsonError) throw new ConfigError(`invalid config:\n${error.problems.map((p) => `  ${label}:${p.line}:${p.column}: ${p.message}`).join('\n')}`);
    throw new ConfigError(`${label}: not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  const parsed = runtimeFileSchema().safeParse(json, ONE_SHOT);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((issue) => {
    const where = issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
    const message = issue.code === 'unrecognized_keys' ? `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}` : issue.message;
    return `  ${label}: ${where === '' ? '(top level)' : where}: ${message}`;
  });
  throw new ConfigError(`invalid config:\n${lines.join('\n')}`);
}

/** The environment variable that sets `--log-format` when the flag is not given. */
export const LOG_FORMAT_ENV = 'AIRLOCK_LOG_FORMAT';

/** The optional resource bounds of `serve`: setting → the flag that sets it (a whole number each). */
export const LIMIT_FLAGS = {
  maxConcurrentCalls: 'max-concurrent-calls',
  callQueue: 'call-queue',
  callQueueMs: 'call-queue-ms',
  maxSessions: 'max-sessions',
  maxSessionsPerPrincipal: 'max-sessions-per-principal',
  maxSessionBufferBytes: 'max-session-buffer-bytes',
  auditMaxValueBytes: 'audit-max-value-bytes',
  auditMaxInputBytes: 'audit-max-input-bytes',
} as const;

function flagName(key: string): string {
  const map: Record<string, string> = {
    configPath: 'config',
    tokenFile: 'token-file',
    policyPath: 'policy',
    auditDir: 'audit-dir',
    auditSegmentBytes: 'audit-segment-bytes',
    auditFsync: 'audit-fsync',
    devIdentity: 'dev-identity',
    maxBodyBytes: 'max-body-bytes',
    sessionIdleMs: 'session-idle-seconds',
    keepAliveMs: 'keep-alive-seconds',
    allowedHosts: 'allowed-host',
    allowedOrigins: 'allowed-origin',
    logLevel: 'log-level',
    logFormat: `log-format (or ${LOG_FORMAT_ENV})`,
    metricsPort: 'metrics-port',
    metricsHost: 'metrics-host',
    ...LIMIT_FLAGS,
  };
  return map[key] ?? key;
}
