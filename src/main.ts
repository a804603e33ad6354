/**
 * Composition root: settings, policy, audit store, connectors, tools, pipeline and transport are wired
 * here and nowhere else. This is the only module that reads `process.env`.
 */
import { existsSync } from 'node:fs';
import { ALL_TOOLS } from '../tools/index.js';
import type { ChainedRecord } from './audit/chain.js';
import { CloudLoggingCopy } from './audit/cloud-logging.js';
import { PgAuditStore } from './audit/pg-store.js';
import type { AuditSink } from './audit/record.js';
import { JsonAuditStore } from './audit/store.js';
import { rejectedRequestRecord } from './audit/rejected.js';
import { limitRecord } from './audit/limited.js';
import { basename } from 'node:path';
import { resolveKeyring, resolveRetentionKey } from './audit/keys.js';
import { applyRetention } from './audit/retention.js';
import type { Keyring } from './audit/sealed.js';
import { ConfigError, loadRuntimeFile, type RuntimeFile, type ServeConfig } from './config.js';
import { seedDemoDatabase } from './connectors/demo-seed.js';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './connectors/embedded.js';
import { ImpersonationProvider } from './connectors/gcp-credentials.js';
import { createCloudSqlConnector } from './connectors/cloud-sql.js';
import { PostgresConnector, type ConnectionTarget } from './connectors/postgres.js';
import { UnknownResourceError, UpstreamUnavailableError } from './errors.js';
import { parseDevIdentity } from './identity/dev.js';
import { OidcVerifier } from './identity/oidc.js';
import type { Credential, Principal } from './identity/principal.js';
import { fileTokenSource, staticTokenSource, type TokenSource } from './identity/token-source.js';
import { createLogger, type Logger } from './log.js';
import { createApprovals } from './approval/approvals.js';
import { ToolRegistry } from './mcp/registry.js';
import { serveHttp, type HttpHandle } from './mcp/transports/http.js';
import { serveStdio } from './mcp/transports/stdio.js';
import { buildPipeline } from './pipeline/chain.js';
import { accessFor } from './policy/access.js';
import { explainCall } from './policy/explain.js';
import { sensitiveColumns } from './policy/sensitive.js';
import type { SensitivePredicate } from './policy/sql/lineage.js';
import type { Policy } from './policy/load.js';
import { PolicyWatcher } from './policy/watch.js';
import { classifySql, loadSqlParser, type SqlFacts } from './policy/sql/classify.js';
import type { CallContext } from './pipeline/context.js';
import type { SqlConnector } from './connectors/types.js';
import type { ApprovalSummary, CallerView, ToolDeps } from './tool.js';
import type { ApprovalService } from './approval/service.js';
import { VERSION } from './version.js';

/** Who may approve in the demo's console (dev sign-in): a DBA, as the demo policy's write rule asks. */
const DEMO_APPROVERS = [{ sub: 'dba@example.com', email: 'dba@example.com', groups: ['dba'] }] as const;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1']);

export interface RunningAirlock {
  readonly http?: HttpHandle;
  /** The live policy (hot-reloaded from the file). */
  readonly policy: () => Policy;
  /** Re-reads the policy file now (the CLI calls this on SIGHUP). */
  reloadPolicy(): Promise<unknown>;
  readonly auditDir: string;
  /** Set when `--demo` started an embedded PostgreSQL. */
  readonly databaseUrl?: string;
  /** Resolves when a stdio client disconnects. */
  readonly closed: Promise<void>;
  close(): Promise<void>;
}

function devBanner(log: Logger, principal: Principal): void {
  const who = `${principal.email ?? principal.sub} (groups: ${principal.groups.join(', ') || 'none'})`;
  for (const line of [
    '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
    `!!  DEV IDENTITY IN USE: every call runs as ${who}`,
    '!!  This identity is NOT verified. Use it only for the demo and tests.',
    '!!  Every audit record written by this process is marked devIdentity=true.',
    '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
  ]) {
    log('warn', line);
  }
}

/** Resolves connection names from the live policy, reading secrets from the environment snapshot. */
function connectionResolver(policy: () => Policy, env: Record<string, string | undefined>): (name: string) => ConnectionTarget {
  return (name) => {
    const connection = policy().file.resources.connections[name];
    if (connection === undefined) throw new UnknownResourceError('connection', name);
    if (connection.cloudSql !== undefined) return { kind: 'cloudsql', ...connection.cloudSql };
    const variable = (connection.url ?? '').slice('env:'.length);
    const value = env[variable];
    if (value === undefined || value === '') {
      throw new UpstreamUnavailableError(`Database connection "${name}"`, { detail: `secret ${connection.url ?? '(none)'} is not set` });
    }
    return { kind: 'url', url: value };
  };
}

/** SQL classification with the connection's function catalog; without one (unreachable), the static list. */
function catalogClassifier(sql: PostgresConnector, policy: () => Policy, log?: Logger): ToolDeps['classifySql'] {
  // Lineage costs a walk (and view definitions) per call: only when the policy needs it.
  const lineageFor = new WeakMap<Policy, SensitivePredicate | undefined>();
  const predicate = (p: Policy): SensitivePredicate | undefined => {
    if (!lineageFor.has(p)) {
      const columnRules = p.file.rules.some((r) => r.sql?.columns !== undefined);
      lineageFor.set(p, sensitiveColumns(p.file.masking.columns) ?? (columnRules ? () => false : undefined));
    }
    return lineageFor.get(p);
  };
  // Agents repeat statements: the facts of a statement depend only on its text, the catalog snapshot and
  // the policy's sensitive columns, so they are kept (frozen) per snapshot and policy, most recent 512.
  const NONE = {};
  const cache = new WeakMap<object, WeakMap<object, Map<string, SqlFacts>>>();
  return async (text, connection) => {
    const catalog = await sql.catalog(connection).catch((error: unknown) => {
      log?.('debug', `catalog for "${connection}" unavailable: ${String(error)}`);
      return undefined;
    });
    const sensitive = predicate(policy());
    let byPredicate = cache.get(catalog ?? NONE);
    if (byPredicate === undefined) cache.set(catalog ?? NONE, (byPredicate = new WeakMap()));
    let entries = byPredicate.get(sensitive ?? NONE);
    if (entries === undefined) byPredicate.set(sensitive ?? NONE, (entries = new Map<string, SqlFacts>()));
    const hit = entries.get(text);
    if (hit !== undefined) {
      entries.delete(text);
      entries.set(text, hit);
      return hit;
    }
    const facts = deepFreeze(classifySql(text, catalog, sensitive));
    entries.set(text, facts);
    if (entries.size > 512) entries.delete(entries.keys().next().value as string);
    return facts;
  };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const item of Object.values(value)) deepFreeze(item);
  }
  return value;
}

/** What tools may use: the SQL connector, the classifier with this connection's catalog, policy views. */
export function toolDeps(policy: () => Policy, sql: SqlConnector, catalogs: PostgresConnector, registry: ToolRegistry, log?: Logger, approvals?: ApprovalService): ToolDeps {
  const deps: ToolDeps = {
    ...(approvals === undefined ? {} : { myApprovals: (caller: CallerView) => approvalSummaries(approvals, caller) }),
    sql,
    classifySql: catalogClassifier(catalogs, policy, log),
    hasConnection: (name) => Object.hasOwn(policy().file.resources.connections, name),
    accessFor: (caller) => accessFor(policy(), caller),
    explain: (caller, tool, input) =>
      explainCall({ policy: policy(), tools: registry, deps, principal: { ...caller, dev: !caller.verified }, tool, input }),
  };
  return deps;
}

/** The caller's approval requests for whoami: pending ones first, then the most recent others (10 in all). */
async function approvalSummaries(service: ApprovalService, caller: CallerView): Promise<ApprovalSummary[]> {
  const mine = await service.mine(caller, { limit: 50 });
  const ordered = [...mine.filter((r) => r.state === 'pending'), ...mine.filter((r) => r.state !== 'pending')].slice(0, 10);
  return ordered.map((r) => ({
    requestId: r.id,
    state: r.state,
    tool: r.binding.tool,
    resource: r.binding.resource,
    createdAt: new Date(r.createdAt).toISOString(),
    expiresAt: new Date(r.expiresAt).toISOString(),
    approvers: [...r.approverGroups],
  }));
}

/**
 * Tool dependencies for offline policy work (explain, test, replay): facts and decisions exactly as the
 * server computes them, but nothing can execute.
 */
export async function offlineToolDeps(policy: Policy): Promise<{ deps: ToolDeps; close(): Promise<void> }> {
  await loadSqlParser();
  // Catalogs are read from the connections named in the calls (when their secrets are set); nothing runs.
  const connector = new PostgresConnector({ resolve: connectionResolver(() => policy, { ...process.env }), cloudSqlConnector: () => createCloudSqlConnector() });
  const offline: SqlConnector = { catalog: (c) => connector.catalog(c), run: () => Promise.reject(new Error('offline: statements are not executed')) };
  const deps = toolDeps(() => policy, offline, connector, new ToolRegistry(ALL_TOOLS));
  return { deps, close: () => connector.close() };
}

/** The compliance keyring of a runtime config file (`airlock audit reveal`); `env:` keys from this process. */
/** The public half of the retention signing key of a runtime config file (`airlock audit verify --config`). */
export async function retentionPublicKey(configPath: string): Promise<string | undefined> {
  const retention = (await loadRuntimeFile(configPath)).audit?.retention;
  if (retention === undefined) return undefined;
  return resolveRetentionKey(retention, { ...process.env }).publicKey;
}

/** The PostgreSQL audit of a runtime config file, with its connection string from this process's environment. */
export async function pgAuditOf(configPath: string): Promise<{ url: string; table: string } | undefined> {
  const postgres = (await loadRuntimeFile(configPath)).audit?.postgres;
  if (postgres === undefined) return undefined;
  const url = process.env[postgres.url.slice('env:'.length)];
  if (url === undefined || url === '') throw new ConfigError(`audit.postgres.url: ${postgres.url} is not set`);
  return { url, table: postgres.table };
}

export async function complianceKeyring(configPath: string): Promise<Keyring> {
  const runtime = await loadRuntimeFile(configPath);
  const compliance = runtime.audit?.compliance;
  if (compliance === undefined) throw new ConfigError(`${configPath}: no "audit.compliance" keys are configured`);
  return resolveKeyring(compliance, { ...process.env });
}

/** Resolves a masking secret reference ("env:NAME") from the environment; for `airlock mask` too. */
export function maskingSecretFrom(env: Record<string, string | undefined> = { ...process.env }): (ref: string) => string | undefined {
  return (ref) => (ref.startsWith('env:') ? env[ref.slice('env:'.length)] : undefined);
}

/** Starts airlock with validated settings. */
export async function startAirlock(config: ServeConfig, log: Logger = createLogger(config.logLevel)): Promise<RunningAirlock> {
  const env: Record<string, string | undefined> = { ...process.env };
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async (): Promise<void> => {
    for (const fn of cleanups.reverse()) await fn().catch((e: unknown) => log('warn', `shutdown: ${String(e)}`));
    cleanups.length = 0;
  };
  try {
    const runtime: RuntimeFile = config.configPath === undefined ? {} : await loadRuntimeFile(config.configPath);
    const complianceConfig = runtime.audit?.compliance;
    const compliance = complianceConfig === undefined ? undefined : { keyring: resolveKeyring(complianceConfig, env), maxBytes: complianceConfig.maxBytes };
    const verifier = runtime.identity === undefined ? undefined : new OidcVerifier(runtime.identity);
    if (verifier !== undefined && config.devIdentity !== undefined) {
      throw new ConfigError('--dev-identity cannot be combined with identity issuers in --config: a verified deployment never falls back to an unverified identity');
    }
    // The flag is the more specific choice: a client's config names --token-file while the user's shell may
    // still export an old AIRLOCK_TOKEN that the client passes on. The file wins, and the log says so.
    const envToken = config.tokenFile === undefined ? env.AIRLOCK_TOKEN : undefined;
    if (config.tokenFile !== undefined && (env.AIRLOCK_TOKEN ?? '') !== '' && config.transport === 'stdio') {
      log('warn', `AIRLOCK_TOKEN is set too: ignored, the token comes from --token-file ${config.tokenFile}`);
    }
    const registry = new ToolRegistry(ALL_TOOLS);
    const policies = await PolicyWatcher.start(config.policyPath, { knownTools: registry.names(), log });
    cleanups.push(() => Promise.resolve(policies.close()));
    const policy = (): Policy => policies.current();
    log('info', `policy ${config.policyPath} loaded (${policy().file.rules.length} rules, version ${policy().version.slice(0, 19)}…); watching it for changes`);
    const cloudLogging = runtime.audit?.cloudLogging;
    const auditCopy =
      cloudLogging === undefined
        ? undefined
        : new CloudLoggingCopy({
            projectId: cloudLogging.projectId,
            logName: cloudLogging.logName,
            ...(cloudLogging.emulator === undefined ? {} : { emulator: cloudLogging.emulator }),
            onError: (error) => log('warn', `audit copy to Cloud Logging: ${error instanceof Error ? error.message : String(error)} (records are safe in the audit store; retrying)`),
          });
    const onRecord = auditCopy === undefined ? undefined : (record: ChainedRecord): void => auditCopy.copy(record);
    const pgAudit = runtime.audit?.postgres;
    let audit: AuditSink & { close(): Promise<void> };
    let jsonAudit: JsonAuditStore | undefined;
    if (pgAudit !== undefined) {
      const url = env[pgAudit.url.slice('env:'.length)];
      if (url === undefined || url === '') throw new ConfigError(`audit.postgres.url: ${pgAudit.url} is not set`);
      if (runtime.audit?.retention !== undefined) throw new ConfigError('audit.retention applies to the JSON store; with audit.postgres, expire rows with the database\'s own tools');
      const store = await PgAuditStore.open({ url, table: pgAudit.table, ...(pgAudit.replica === undefined ? {} : { replica: pgAudit.replica }), ...(onRecord === undefined ? {} : { onRecord }) });
      audit = store;
      log('info', `audit log: ${store.description}`);
    } else {
      jsonAudit = await JsonAuditStore.open(config.auditDir, {
        segmentBytes: config.auditSegmentBytes,
        fsync: config.auditFsync,
        onError: (error) => log('warn', `audit: moving journalled records to a segment failed (they stay in the journal; retrying): ${String(error)}`),
        ...(onRecord === undefined ? {} : { onRecord }),
      });
      audit = jsonAudit;
      log('info', `audit log: ${jsonAudit.dir} (journal.jsonl, then hash-chained segments audit-YYYYMMDD-NNN.json${config.auditFsync ? '; fsync on every write' : ''})`);
    }
    cleanups.push(() => audit.close());
    if (auditCopy !== undefined) {
      // Runs after the store closes (cleanups run in reverse): the last records are copied too.
      cleanups.splice(cleanups.length - 1, 0, () => auditCopy.close());
      log('info', `audit: every record is also copied to Cloud Logging (project ${cloudLogging?.projectId ?? ''}, log ${cloudLogging?.logName ?? ''}${cloudLogging?.emulator === undefined ? '' : `, local server ${cloudLogging.emulator}`})`);
    }
    const retention = runtime.audit?.retention;
    if (retention !== undefined && jsonAudit !== undefined) {
      const store = jsonAudit;
      const { key, publicKey } = resolveRetentionKey(retention, env);
      const retain = (): void => {
        try {
          const removed = applyRetention(store.dir, { days: retention.days, key, now: new Date(), current: basename(store.path) });
          if (removed.length > 0) log('info', `audit retention: removed ${removed.length} segment(s) older than ${retention.days} day(s), tombstone signed by ${publicKey}`);
        } catch (error) {
          log('warn', `audit retention: ${error instanceof Error ? error.message : String(error)}`);
        }
      };
      retain();
      const timer = setInterval(retain, 60 * 60 * 1000);
      timer.unref();
      cleanups.push(() => Promise.resolve(clearInterval(timer)));
      log('info', `audit retention: ${retention.days} day(s); tombstones signed by Ed25519 key ${publicKey}`);
    }
    if (compliance !== undefined) log('info', `audit: unmasked results sealed with AES-256-GCM under key "${compliance.keyring.current.id}" (airlock audit reveal ID --config …)`);
    await loadSqlParser();

    let embedded: EmbeddedPostgres | undefined;
    let databaseUrl: string | undefined;
    if (config.demo && (env.DATABASE_URL ?? '') === '') {
      log('info', 'starting embedded PostgreSQL for the demo…');
      embedded = await startEmbeddedPostgres({ log: (line) => log('debug', `postgres: ${line}`) });
      cleanups.push(() => (embedded as EmbeddedPostgres).stop());
      const demo = await seedDemoDatabase(embedded.adminUrl);
      databaseUrl = demo.url;
      env.DATABASE_URL = demo.url;
      log('info', `embedded PostgreSQL ready on 127.0.0.1:${embedded.port}; demo database "${demo.database}" as role ${demo.role}`);
    }

    const resolveConnection = connectionResolver(policy, env);
    for (const [name, connection] of Object.entries(policy().file.resources.connections)) {
      if (connection.url === undefined) continue;
      const variable = connection.url.slice('env:'.length);
      if ((env[variable] ?? '') === '') log('warn', `connection "${name}": ${connection.url} is not set; calls to it will fail`);
    }
    const sql = new PostgresConnector({
      resolve: resolveConnection,
      cloudSqlConnector: () => createCloudSqlConnector(),
      onPoolError: (name, error) => log('warn', `connection "${name}": idle client error: ${error.message}`),
      onUnavailable: (name, host, error) => log('warn', `connection "${name}" (${host}) is unreachable: ${error.message}; calls to it fail with UPSTREAM_UNAVAILABLE`),
    });
    cleanups.push(() => sql.close());

    let impersonation: ImpersonationProvider | undefined;
    const downstreamConfig = policy().file.downstream.impersonation;
    if (downstreamConfig !== undefined) {
      // airlock's own credentials (Application Default Credentials); agents' tokens are never used downstream.
      impersonation = await ImpersonationProvider.fromApplicationDefault({ lifetimeSeconds: downstreamConfig.lifetimeSeconds });
      log('info', `downstream: per-principal impersonation of ${downstreamConfig.byGroup.length} service account mapping(s), tokens ≤ ${downstreamConfig.lifetimeSeconds} s`);
    }

    const clock = { now: () => Date.now() };
    const stopping = new AbortController();
    const approvals = await createApprovals(runtime.approvals, {
      auditDir: config.auditDir,
      env,
      audit,
      clock,
      log,
      ...(verifier === undefined ? {} : { verifier }),
      // The demo's console offers a marked dev sign-in as a DBA, on loopback HTTP (no TLS, so no Secure cookie).
      ...(config.demo && config.devIdentity !== undefined ? { devApprovers: DEMO_APPROVERS, ...(LOOPBACK_HOSTS.has(config.host) ? { secureCookies: false } : {}) } : {}),
    });
    // Closed before the audit store (cleanups run in reverse): its last events are recorded.
    cleanups.push(() => approvals.close());
    log('info', `approvals: requests kept in ${approvals.description}; calls wait up to ${approvals.waitMs / 1000} s in place`);
    const deps = toolDeps(policy, sql, sql, registry, log, approvals.service);
    const governed = buildPipeline({
      audit,
      tools: registry,
      policy: policies,
      deps,
      clock,
      onAuditFailure: (error, id) => log('error', `audit write failed for call ${id}: ${String(error)}`),
      ...(compliance === undefined ? {} : { compliance }),
      maskingSecrets: maskingSecretFrom(env),
      ...(verifier === undefined ? {} : { verifier }),
      ...(impersonation === undefined ? {} : { impersonation }),
      concurrency: { maxConcurrent: config.maxConcurrentCalls, maxQueued: config.callQueue, queueWaitMs: config.callQueueMs },
      auditInput: { maxValueBytes: config.auditMaxValueBytes, maxInputBytes: config.auditMaxInputBytes },
      approvals: { service: approvals.service, waitMs: approvals.waitMs, consoleUrl: (id) => approvals.consoleUrl(id), stopping: stopping.signal },
    });
    // Calls in flight finish (and are audited) before shutdown closes pools and stores.
    const inflight = new Set<Promise<void>>();
    const pipeline = (ctx: CallContext): Promise<void> => {
      const call = governed(ctx);
      inflight.add(call);
      void call.finally(() => inflight.delete(call)).catch(() => undefined);
      return call;
    };
    const drain = async (): Promise<void> => {
      // Calls waiting for a decision answer with their pending handle now instead of holding up the shutdown.
      stopping.abort();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.allSettled([...inflight]), new Promise((r) => (timer = setTimeout(r, 5000)))]);
      clearTimeout(timer);
    };

    let credential: Credential = { kind: 'none' };
    let tokenSource: TokenSource | undefined;
    if (config.devIdentity !== undefined) {
      const principal = parseDevIdentity(config.devIdentity);
      devBanner(log, principal);
      credential = { kind: 'dev', principal };
    } else if (config.transport === 'stdio' && (config.tokenFile !== undefined || (envToken ?? '') !== '')) {
      if (verifier === undefined) throw new ConfigError('a stdio token was given, but no identity issuers are configured (--config FILE with "identity")');
      tokenSource = config.tokenFile !== undefined ? fileTokenSource(config.tokenFile) : staticTokenSource(envToken ?? '');
      log('info', `stdio identity: bearer token from ${config.tokenFile !== undefined ? `--token-file ${config.tokenFile}` : 'AIRLOCK_TOKEN'}, verified on every call`);
      // Read on every call (it may appear later), but a path that is wrong now is worth saying at once.
      if (config.tokenFile !== undefined && !existsSync(config.tokenFile)) log('warn', `--token-file ${config.tokenFile} does not exist (yet): calls are refused as UNAUTHENTICATED until it does`);
    } else if (verifier !== undefined && config.transport === 'http') {
      log('info', `HTTP identity: bearer tokens from ${verifier.issuers().join(', ')}, verified on every request`);
    } else {
      log('warn', 'no identity source configured: every call will be refused as UNAUTHENTICATED');
    }

    const common = { name: 'airlock', version: VERSION, registry, pipeline, clock };
    if (config.transport === 'stdio') {
      const source = tokenSource;
      const stdio = await serveStdio({ ...common, log, maxLineBytes: config.maxBodyBytes, credential: () => (source === undefined ? credential : source.current()) });
      cleanups.push(drain);
      log('info', 'serving MCP on stdio');
      return {
        policy,
        reloadPolicy: () => policies.reload(),
        auditDir: config.auditDir,
        ...(databaseUrl === undefined ? {} : { databaseUrl }),
        closed: stdio.closed,
        close: cleanup,
      };
    }
    const http = await serveHttp({
      ...common,
      host: config.host,
      port: config.port,
      maxBodyBytes: config.maxBodyBytes,
      sessionIdleMs: config.sessionIdleMs,
      allowedHosts: config.allowedHosts,
      allowedOrigins: config.allowedOrigins,
      credential: () => credential,
      health: () => ({ version: VERSION, policyVersion: policy().version }),
      log,
      sessionCaps: { maxTotal: config.maxSessions, maxPerPrincipal: config.maxSessionsPerPrincipal },
      maxSessionBufferBytes: config.maxSessionBufferBytes,
      onLimited: (event) => audit.append(limitRecord(event, new Date())),
      onRejected: (rejection) => audit.append(rejectedRequestRecord(rejection, new Date())),
      routes: approvals.routes,
      ...(verifier === undefined
        ? {}
        : {
            auth: {
              verifier,
              ...(runtime.identity?.resource === undefined ? {} : { resource: runtime.identity.resource }),
            },
          }),
    });
    cleanups.push(() => http.close());
    cleanups.push(drain);
    approvals.setBaseUrl(http.url);
    log('info', `serving MCP on ${http.url}/mcp (Streamable HTTP) and ${http.url}/sse (legacy SSE)`);
    return {
      http,
      policy,
      reloadPolicy: () => policies.reload(),
      auditDir: config.auditDir,
      ...(databaseUrl === undefined ? {} : { databaseUrl }),
      closed: new Promise<void>(() => undefined),
      close: cleanup,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
