/**
 * Composition root: settings, policy, audit store, connectors, tools, pipeline and transport are wired
 * here and nowhere else. This is the only module that reads `process.env`.
 */
import { ALL_TOOLS } from '../tools/index.js';
import type { AuditSink } from './audit/record.js';
import { randomUUID } from 'node:crypto';
import { rejectedRequestRecord, unservedCallRecord } from './audit/rejected.js';
import { limitRecord } from './audit/limited.js';
import { resolveKeyring, resolveRetentionKey } from './audit/keys.js';
import type { Keyring } from './audit/sealed.js';
import { ConfigError, loadRuntimeFile, type RuntimeFile, type ServeConfig } from './config.js';
import { ImpersonationProvider } from './connectors/gcp-credentials.js';
import { createCloudSqlConnector } from './connectors/cloud-sql.js';
import { trackCalls, type CallTracker } from './calls-in-flight.js';
import { createLogger, type Logger } from './log.js';
import { createApprovals, type Approvals, type ApprovalsDeps } from './approval/approvals.js';
import { listenForApprovers } from './approval/listen.js';
import { openAudit } from './audit/open.js';
import { connectionResolver, openDatabases } from './connectors/database.js';
import type { LazySqlConnector } from './connectors/lazy-sql.js';
import { loggingIsLocal, offlineLogging, openLogging } from './connectors/logging.js';
import { offlineStorage, openStorage } from './connectors/storage.js';
import { identifyCallers, type Callers } from './identity/callers.js';
import { ToolRegistry } from './mcp/registry.js';
import type { HttpHandle } from './mcp/transports/http.js';
import type { UnservedCall } from './mcp/screen.js';
import { buildPipeline } from './pipeline/chain.js';
import { accessFor } from './policy/access.js';
import { explainCall } from './policy/explain.js';
import { sensitiveColumns } from './policy/sensitive.js';
import type { SensitivePredicate } from './policy/sql/lineage.js';
import type { Policy } from './policy/load.js';
import { PolicyWatcher } from './policy/watch.js';
import type * as SqlClassifier from './policy/sql/classify.js';
import type { SqlFacts } from './policy/sql/classify.js';
import { warmPhoneTables } from './masking/phone-lib.js';
import type { CallContext } from './pipeline/context.js';
import type { SqlConnector } from './connectors/types.js';
import type { ApprovalSummary, CallerView, ToolDeps } from './tool.js';
import type { ApprovalService } from './approval/service.js';
import { VERSION } from './version.js';
import { NO_TELEMETRY } from './telemetry.js';
import { timedAuditSink } from './audit/timed.js';
import type { ServedMetrics } from './metrics/serve.js';
import type { OpenAudit } from './audit/open.js';

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

/** SQL classification with the connection's function catalog; without one (unreachable), the static list. */
function catalogClassifier(sql: Pick<SqlConnector, 'catalog'>, policy: () => Policy, log?: Logger): ToolDeps['classifySql'] {
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
    const { classifySql } = await sqlParser();
    const facts = deepFreeze(classifySql(text, catalog, sensitive));
    entries.set(text, facts);
    if (entries.size > 512) entries.delete(entries.keys().next().value as string);
    return facts;
  };
}

let parser: Promise<typeof SqlClassifier> | undefined;

/**
 * The SQL classifier with Postgres's parser (WASM) loaded: on first use, or earlier by `warmUp`. A load
 * failure is the first call's failure (fail closed), and the next call tries again.
 */
function sqlParser(): Promise<typeof SqlClassifier> {
  if (parser === undefined) {
    const loading = import('./policy/sql/classify.js').then(async (m) => {
      await m.loadSqlParser();
      return m;
    });
    parser = loading;
    // Once per load, not once per call: a failed load is forgotten so that the next call tries again.
    loading.catch(() => {
      if (parser === loading) parser = undefined;
    });
  }
  return parser;
}

/**
 * Loads what calls need and `initialize` does not (the SQL parser, the phone tables' patterns), once the server
 * is up: the first call then finds them ready. Each also loads on its own first use, so nothing depends
 * on this having run or succeeded.
 */
function warmUp(log: Logger, sql: LazySqlConnector): void {
  const phones = (): void => {
    try {
      warmPhoneTables();
    } catch (error) {
      log('warn', `phone tables did not compile (calls that mask fail closed until they do): ${String(error)}`);
    }
  };
  // One after the other, each in its own turn: a request that arrives meanwhile is answered between them.
  sqlParser()
    .catch((error: unknown) => log('warn', `SQL parser did not load (calls fail closed until it does): ${String(error)}`))
    .then(() => sql.load())
    .catch((error: unknown) => log('warn', `PostgreSQL driver did not load (SQL calls fail until it does): ${String(error)}`))
    .finally(() => setImmediate(phones));
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const item of Object.values(value)) deepFreeze(item);
  }
  return value;
}

/** What tools may use: the SQL connector, the classifier with this connection's catalog, policy views. */
export function toolDeps(
  policy: () => Policy,
  sql: SqlConnector,
  catalogs: Pick<SqlConnector, 'catalog'>,
  registry: ToolRegistry,
  log?: Logger,
  approvals?: ApprovalService,
  connectors: Pick<ToolDeps, 'storage' | 'logging'> = {},
): ToolDeps {
  const deps: ToolDeps = {
    ...connectors,
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
  await sqlParser();
  // Catalogs are read from the connections named in the calls (when their secrets are set); nothing runs.
  const { PostgresConnector } = await import('./connectors/postgres.js');
  const connector = new PostgresConnector({ resolve: connectionResolver(() => policy, { ...process.env }), cloudSqlConnector: () => createCloudSqlConnector() });
  const offline: SqlConnector = { catalog: (c) => connector.catalog(c), run: () => Promise.reject(new Error('offline: statements are not executed')) };
  const deps = toolDeps(() => policy, offline, connector, new ToolRegistry(ALL_TOOLS), undefined, undefined, { storage: offlineStorage(() => policy), logging: offlineLogging(() => policy) });
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

/** Things a running airlock owns, closed in the reverse order they were opened (each failure logged). */
class Owned {
  private readonly items: { close(): void | Promise<void> }[] = [];
  constructor(private readonly log: Logger) {}
  add<T extends { close(): void | Promise<void> }>(item: T): T {
    this.items.push(item);
    return item;
  }
  async close(): Promise<void> {
    for (const item of this.items.splice(0).reverse()) {
      try {
        await item.close();
      } catch (error) {
        this.log('warn', `shutdown: ${String(error)}`);
      }
    }
  }
}

/**
 * Starts airlock with validated settings. Each capability is created by its own factory, which checks its
 * settings and owns its resources; this function only says what is made from what, in order.
 */
export async function startAirlock(config: ServeConfig, log: Logger = createLogger({ level: config.logLevel, format: config.logFormat })): Promise<RunningAirlock> {
  const env: Record<string, string | undefined> = { ...process.env };
  const owned = new Owned(log);
  try {
    const runtime: RuntimeFile = config.configPath === undefined ? {} : await loadRuntimeFile(config.configPath);
    const registry = new ToolRegistry(ALL_TOOLS);
    const policies = owned.add(await watchPolicy(config.policyPath, registry, log));
    const policy = (): Policy => policies.current();
    const opened = owned.add(await openAudit({ config: runtime.audit, dir: config.auditDir, segmentBytes: config.auditSegmentBytes, fsync: config.auditFsync, env, log }));
    // The approvals gauge reads the store once approvals exist (they are created below, with the telemetry).
    const late: { approvals?: Approvals } = {};
    const metrics = await openMetrics(config, env, { audit: opened, approvals: () => late.approvals, log, owned });
    const telemetry = metrics?.telemetry ?? NO_TELEMETRY;
    const audit = { ...opened, sink: metrics === undefined ? opened.sink : timedAuditSink(opened.sink, telemetry) };
    // HTTP serves many clients at once: it starts ready. stdio answers `initialize` first (see serveTransport).
    if (config.transport === 'http') await sqlParser();
    const databases = owned.add(await openDatabases({ demo: config.demo, policy, env, log }));
    if (googleOnLoopback(config, runtime)) process.env.METADATA_SERVER_DETECTION = 'none';
    const storage = owned.add(await openStorage({ demo: config.demo, policy, config: runtime.storage, env, log }));
    const logging = owned.add(await openLogging({ demo: config.demo, policy, config: runtime.logging, env, log }));
    const impersonation = await downstreamImpersonation(policy(), log);
    const clock = { now: () => Date.now() };
    const callers = await identifyCallers({ transport: config.transport, identity: runtime.identity, devIdentity: config.devIdentity, tokenFile: config.tokenFile, env, log });
    const approvals = owned.add(await createApprovals(runtime.approvals, { auditDir: runtime.audit?.postgres === undefined ? config.auditDir : undefined, env, audit: audit.sink, clock, log, ...optional({ verifier: callers.verifier }), ...demoApprovers(config), served: config.transport === 'http' || runtime.approvals?.listen !== undefined, ...optional({ telemetry: metrics?.telemetry }) }));
    late.approvals = approvals;
    log('info', `approvals: requests kept in ${approvals.description}; calls wait up to ${approvals.waitMs / 1000} s in place`);
    const deps = toolDeps(policy, databases.sql, databases.sql, registry, log, approvals.service, { storage, logging });
    const stopping = new AbortController();
    const calls = trackCalls(
      buildPipeline({
        audit: audit.sink,
        tools: registry,
        policy: policies,
        deps,
        clock,
        onAuditFailure: (error, id) => log('error', `audit write failed for call ${id}: ${String(error)}`),
        maskingSecrets: maskingSecretFrom(env),
        ...optional({ compliance: audit.compliance, verifier: callers.verifier, impersonation }),
        concurrency: { maxConcurrent: config.maxConcurrentCalls, maxQueued: config.callQueue, queueWaitMs: config.callQueueMs },
        auditInput: { maxValueBytes: config.auditMaxValueBytes, maxInputBytes: config.auditMaxInputBytes },
        approvals: { service: approvals.service, waitMs: approvals.waitMs, consoleUrl: (id) => approvals.consoleUrl(id), stopping: stopping.signal },
        log,
        draining: stopping.signal,
        ...optional({ telemetry: metrics?.telemetry }),
      }),
      stopping,
      log,
    );
    const running = { policy, reloadPolicy: () => policies.reload(), auditDir: config.auditDir, ...optional({ databaseUrl: databases.databaseUrl }), close: () => owned.close() };
    const served = await serveTransport(config, { registry, calls, clock, callers, audit: audit.sink, approvals, policy, runtime, log, owned, sql: databases.sql, metrics });
    return { ...running, ...served };
  } catch (error) {
    await owned.close();
    throw error;
  }
}

/**
 * Prometheus metrics, when asked for (`--metrics-port`, or `AIRLOCK_METRICS_TOKEN` for `/metrics` on the
 * HTTP port). Without either, prom-client is never loaded and calls report nowhere.
 */
async function openMetrics(
  config: ServeConfig,
  env: Readonly<Record<string, string | undefined>>,
  parts: { audit: OpenAudit; approvals: () => Approvals | undefined; log: Logger; owned: Owned },
): Promise<ServedMetrics | undefined> {
  const token = env.AIRLOCK_METRICS_TOKEN === '' ? undefined : env.AIRLOCK_METRICS_TOKEN;
  if (config.metricsPort === undefined && token === undefined) return undefined;
  const { serveMetrics } = await import('./metrics/serve.js');
  const settings = { host: config.metricsHost, transport: config.transport, ...optional({ port: config.metricsPort, token }) };
  const sources = { version: VERSION, approvalsPending: () => parts.approvals()?.pending() ?? Promise.resolve(0), auditBytes: () => parts.audit.sizeBytes() };
  return parts.owned.add(await serveMetrics(settings, sources, parts.log));
}

/** Drops the keys whose value is undefined (for optional settings under exactOptionalPropertyTypes). */
function optional<T extends Record<string, unknown>>(values: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}

/**
 * Whether Cloud Storage or Cloud Logging is reached on a loopback server (the demo, tests): such a server
 * is called without credentials, and the auth library must never probe the metadata server.
 */
function googleOnLoopback(config: ServeConfig, runtime: RuntimeFile): boolean {
  return config.demo || runtime.storage?.endpoint?.startsWith('http://') === true || loggingIsLocal({ demo: config.demo, config: runtime.logging });
}

/** The policy file, loaded and watched for changes. */
async function watchPolicy(path: string, registry: ToolRegistry, log: Logger): Promise<PolicyWatcher> {
  const policies = await PolicyWatcher.start(path, { knownTools: registry.names(), log });
  const p = policies.current();
  log('info', `policy ${path} loaded (${p.file.rules.length} rules, version ${p.version.slice(0, 19)}…); watching it for changes`);
  return policies;
}

/** Per-principal Google credentials when the policy maps groups to service accounts. */
async function downstreamImpersonation(policy: Policy, log: Logger): Promise<ImpersonationProvider | undefined> {
  const downstream = policy.file.downstream.impersonation;
  if (downstream === undefined) return undefined;
  // airlock's own credentials (Application Default Credentials); agents' tokens are never used downstream.
  const provider = await ImpersonationProvider.fromApplicationDefault({ lifetimeSeconds: downstream.lifetimeSeconds });
  log('info', `downstream: per-principal impersonation of ${downstream.byGroup.length} service account mapping(s), tokens ≤ ${downstream.lifetimeSeconds} s`);
  return provider;
}

/** The demo's console offers a marked dev sign-in as a DBA, on loopback HTTP (no TLS, so no Secure cookie). */
function demoApprovers(config: ServeConfig): Partial<Pick<ApprovalsDeps, 'devApprovers' | 'secureCookies'>> {
  if (!config.demo || config.devIdentity === undefined) return {};
  return { devApprovers: DEMO_APPROVERS, ...(LOOPBACK_HOSTS.has(config.host) ? { secureCookies: false } : {}) };
}

/**
 * Records a tools/call that was received but never reached a handler (see IntakeDesk): every call that
 * reaches airlock has an audit record, this one too. A failed write is logged; nobody waits for it.
 */
function recordUnserved(audit: AuditSink, log: Logger): (unserved: UnservedCall) => void {
  return (unserved) => {
    const id = randomUUID();
    log('warn', `a tools/call (${unserved.call.toolName.slice(0, 100)}) was received but never served within ${unserved.ageMs} ms; recorded as unserved [audit id: ${id}]`);
    audit.append(unservedCallRecord(unserved, id, new Date())).catch((error: unknown) => log('error', `audit write failed for unserved call ${id}: ${String(error)}`));
  };
}

interface ServeParts {
  readonly registry: ToolRegistry;
  readonly calls: CallTracker;
  readonly clock: { now(): number };
  readonly callers: Callers;
  readonly audit: AuditSink;
  readonly approvals: Approvals;
  readonly policy: () => Policy;
  readonly runtime: RuntimeFile;
  readonly log: Logger;
  readonly owned: Owned;
  readonly sql: LazySqlConnector;
  readonly metrics: ServedMetrics | undefined;
}

/** Serves MCP on the configured transport; on HTTP also the approvers' console and API. */
async function serveTransport(config: ServeConfig, parts: ServeParts): Promise<Pick<RunningAirlock, 'closed' | 'http'>> {
  const { callers, log, owned, approvals } = parts;
  const common = { name: 'airlock', version: VERSION, registry: parts.registry, pipeline: (ctx: CallContext) => parts.calls.run(ctx), halted: parts.calls.halted, clock: parts.clock, onUnserved: recordUnserved(parts.audit, log) };
  // Each transport's stack is imported only when it serves: stdio never loads HTTP, SSE or the console.
  if (config.transport === 'stdio') {
    const { serveStdio } = await import('./mcp/transports/stdio.js');
    const tokens = callers.tokens;
    // Closing runs in reverse: drain, close the transport (its waiting calls recorded), settle, then the stores.
    owned.add({ close: () => parts.calls.settle() });
    const stdio = owned.add(await serveStdio({ ...common, log, maxLineBytes: config.maxBodyBytes, credential: () => (tokens === undefined ? callers.fixed : tokens.current()) }));
    owned.add({ close: () => parts.calls.drain() });
    log('info', 'serving MCP on stdio');
    // Clients open with `initialize`: its answer is written in the same turn as the first line is read, so
    // loading starts just after it (or at the first call, which waits for what it needs either way).
    process.stdin.once('data', () => setImmediate(() => warmUp(log, parts.sql)));
    const listen = parts.runtime.approvals?.listen;
    if (listen !== undefined) {
      const approvers = owned.add(await listenForApprovers(listen, approvals.routes, log));
      approvals.setBaseUrl(approvers.url);
      log('info', `approvals console on ${approvers.url}/console, approval API on ${approvers.url}/approvals`);
    }
    return { closed: stdio.closed };
  }
  const verifier = callers.verifier;
  const { serveHttp } = await import('./mcp/transports/http.js');
  // Runs after the server has closed (closing runs in reverse): calls it accepted until then are awaited.
  owned.add({ close: () => parts.calls.settle() });
  const http = owned.add(
    await serveHttp({
      ...common,
      host: config.host,
      port: config.port,
      maxBodyBytes: config.maxBodyBytes,
      sessionIdleMs: config.sessionIdleMs,
      keepAliveMs: config.keepAliveMs,
      allowedHosts: config.allowedHosts,
      allowedOrigins: config.allowedOrigins,
      credential: () => callers.fixed,
      draining: parts.calls.draining,
      health: () => ({ version: VERSION, policyVersion: parts.policy().version }),
      log,
      sessionCaps: { maxTotal: config.maxSessions, maxPerPrincipal: config.maxSessionsPerPrincipal },
      maxSessionBufferBytes: config.maxSessionBufferBytes,
      onLimited: (event) => parts.audit.append(limitRecord(event, new Date())),
      onRejected: (rejection) => parts.audit.append(rejectedRequestRecord(rejection, new Date())),
      routes: parts.metrics?.route === undefined ? approvals.routes : [...approvals.routes, parts.metrics.route],
      ...(verifier === undefined ? {} : { auth: { verifier, ...optional({ resource: parts.runtime.identity?.resource }) } }),
    }),
  );
  // Calls in flight finish before the server and the stores close (closing runs in reverse).
  owned.add({ close: () => parts.calls.drain() });
  approvals.setBaseUrl(http.url);
  log('info', `serving MCP on ${http.url}/mcp (Streamable HTTP) and ${http.url}/sse (legacy SSE); approvals console on ${http.url}/console`);
  return { http, closed: new Promise<void>(() => undefined) };
}
