import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { approvalEventRecord, notifiedRecord, refusedApprovalRecord } from '../audit/approval-record.js';
import { secretText } from '../audit/keys.js';
import type { AuditRecord, AuditSink } from '../audit/record.js';
import { parseKeyMaterial } from '../audit/sealed.js';
import { ConfigError, type ApprovalsConfig } from '../config.js';
import type { TokenVerifier } from '../identity/oidc.js';
import type { Logger } from '../log.js';
import type { Telemetry } from '../telemetry.js';
import type { ApprovalConsole } from '../console/approvals-console.js';
import type { PgSessionStore } from '../console/pg-session-store.js';
import type { ApiRefusal, ApprovalApi } from './api.js';
import type { Notifier } from './notify.js';
import { createApprovalService, type ApprovalService } from './service.js';
import { createMemoryApprovalStore, openJsonApprovalStore, type ApprovalStore } from './store.js';

/** Approvals as the rest of airlock uses them: the service, its HTTP surfaces, and what the pipeline needs. */
export interface Approvals {
  readonly service: ApprovalService;
  /** Where requests are kept (for the log). */
  readonly description: string;
  /** How long calls wait in place (ms). */
  readonly waitMs: number;
  /** The console link of a request (once the public URL is known). */
  consoleUrl(requestId: string): string | undefined;
  /** The HTTP surfaces for approvers: the console (`/console`) and the approval API (`/approvals`). */
  readonly routes: readonly ApprovalApi[];
  /** Sets the base URL links point at (the HTTP server's URL, unless `publicUrl` is configured). */
  setBaseUrl(url: string): void;
  /** Requests in the store still waiting for a decision (every replica's, with a shared store). */
  pending(): Promise<number>;
  close(): Promise<void>;
}

export interface ApprovalsDeps {
  /**
   * The JSON store and its key file default to this directory; undefined when the audit is not kept in
   * files there (audit.postgres): then requests are kept in memory unless a store is configured.
   */
  readonly auditDir: string | undefined;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Every approval event and refused API request is recorded here. */
  readonly audit: AuditSink;
  readonly clock: { now(): number };
  readonly log: Logger;
  /** Verifies approvers' bearer tokens (absent: no bearer approvers, e.g. the demo's dev identity). */
  readonly verifier?: TokenVerifier;
  /** Demo only: approvers the console offers a dev sign-in for (when the config names none). */
  readonly devApprovers?: readonly { readonly sub: string; readonly email?: string; readonly groups: readonly string[] }[];
  /** Whether the console's cookie must be `Secure` (default: the config's `console.secureCookies`). */
  readonly secureCookies?: boolean;
  /**
   * Whether the console and the approval API are served (HTTP transport, or `approvals.listen`); default
   * true. A stdio server without a listener never loads the console or its OIDC sign-in.
   */
  readonly served?: boolean;
  /** Told how long each decision this process recorded took from the request's opening. */
  readonly telemetry?: Telemetry;
}

const KEY_FILE = 'approvals.key';
const SWEEP_MS = 30_000;

/**
 * Creates the approval workflow from the runtime config: the HMAC key (configured, or a random one kept
 * next to the JSON store), the store, the service whose every event is audited, the periodic expiry sweep
 * and the approval API. `close()` stops the sweep, waits for pending audit writes and closes the store.
 */
export async function createApprovals(config: ApprovalsConfig | undefined, deps: ApprovalsDeps): Promise<Approvals> {
  const settings: Partial<ApprovalsConfig> & Pick<ApprovalsConfig, 'executionWindowSeconds' | 'waitSeconds'> = config ?? { executionWindowSeconds: 600, waitSeconds: 45 };
  const dir = deps.auditDir;
  const file = settings.file ?? (dir === undefined ? undefined : join(dir, 'approvals.json'));
  const memory = file === undefined && settings.postgres === undefined;
  if (memory) deps.log('warn', 'approvals: kept in memory (the audit is in PostgreSQL and no approvals store is configured): pending requests and unused grants are lost on restart; set approvals.postgres');
  if (dir !== undefined && (settings.file === undefined || settings.key === undefined)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const key = settings.key !== undefined ? configuredKey(settings.key, deps.env) : dir !== undefined ? localKey(dir) : randomBytes(32);
  const store = memory ? createMemoryApprovalStore() : await openStore(settings, file ?? '', deps);
  const writes = new Set<Promise<void>>();
  const record = (entry: AuditRecord): Promise<void> => {
    const write = deps.audit.append(entry).catch((error: unknown) => deps.log('error', `audit write failed for approval ${entry.approval?.event ?? ''} of ${entry.approval?.requestId ?? ''}: ${String(error)}`));
    writes.add(write);
    void write.finally(() => writes.delete(write));
    return write;
  };
  const service = createApprovalService({
    store,
    clock: deps.clock,
    key,
    executionWindowMs: settings.executionWindowSeconds * 1000,
    onEvent: (event) => record(approvalEventRecord(event, new Date(deps.clock.now()))),
  });
  const onRefused = (refusal: ApiRefusal): Promise<void> => record(refusedApprovalRecord(refusal, new Date(deps.clock.now())));
  // The notification channels (and their Slack and webhook renderers) load only when some are configured.
  const notify = settings.notify === undefined ? undefined : await import('./notify.js');
  const channels = notify?.resolveNotifyChannels(settings.notify, deps.env) ?? [];
  const notifier: Notifier | undefined =
    notify === undefined || channels.length === 0 || settings.publicUrl === undefined
      ? undefined
      : notify.createNotifier({ channels, publicUrl: settings.publicUrl, clock: deps.clock, onDelivery: (report) => void record(notifiedRecord(report, new Date(deps.clock.now()))) });
  const unsubscribeTiming = deps.telemetry === undefined ? () => undefined : timeDecisions(service, deps.telemetry);
  // Events of this process only: with a shared store, each replica announces what it did, so each event once.
  const unsubscribe = service.subscribe(({ requestId, event }) => {
    if (notifier === undefined || event === undefined || event.type === 'joined') return;
    service.record(requestId).then(
      (request) => notifier.notify(event, request),
      (error: unknown) => deps.log('warn', `approvals: no notification for ${requestId}: ${String(error)}`),
    );
  });
  const consoleSettings = settings.console;
  const devApprovers = consoleSettings?.devApprovers ?? deps.devApprovers;
  // Replicas on a shared store share console sign-ins too: the balancer may send an approver's next request anywhere.
  const sessions = deps.served === false || settings.postgres === undefined ? undefined : await openSharedSessions(settings.postgres, deps).catch(async (error: unknown) => {
    await store.close().catch(() => undefined);
    throw error;
  });
  let ui: ApprovalConsole | undefined;
  let api: ApprovalApi | undefined;
  try {
    ui = deps.served === false ? undefined : (await import('../console/approvals-console.js')).createApprovalConsole({
      service,
      ...(sessions === undefined ? {} : { sessions: sessions.sessions }),
      // Every replica has the approvals key (a shared store needs it): sign-ins in flight are sealed under a key
      // derived from it with its own label, so the issuer may send the browser back to any replica.
      loginSecret: key,
      ...(deps.verifier === undefined ? {} : { verifier: deps.verifier }),
      ...(consoleSettings?.oidc === undefined
        ? {}
        : { oidc: { ...consoleSettings.oidc, ...(consoleSettings.oidc.clientSecret === undefined ? {} : { clientSecret: secretText(consoleSettings.oidc.clientSecret, 'approvals.console.oidc.clientSecret', deps.env).trim() }) } }),
      ...(devApprovers === undefined ? {} : { devApprovers }),
      secureCookies: deps.secureCookies ?? consoleSettings?.secureCookies ?? true,
      onRefused,
      ...(settings.publicUrl === undefined ? {} : { publicUrl: settings.publicUrl }),
      ...(consoleSettings === undefined ? {} : { sessionIdleMinutes: consoleSettings.sessionIdleMinutes, sessionMaxHours: consoleSettings.sessionMaxHours }),
      clock: deps.clock,
      log: deps.log,
    });
    // A bearer token, when sent, decides; the console's session cookie otherwise. Served only, as the console.
    api = ui === undefined ? undefined : await approvalApi({ service, verifier: deps.verifier, console: ui, onRefused, log: deps.log });
  } catch (error) {
    // A start that fails here (a console setting refused, a secret that cannot be read) leaves nothing open
    // behind it: the pools would otherwise hold their connections to the shared database until the process ends.
    ui?.close();
    unsubscribe();
    unsubscribeTiming();
    await notifier?.close().catch(() => undefined);
    await sessions?.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    throw error;
  }
  const sweep = setInterval(() => {
    service.expireDue().catch((error: unknown) => deps.log('warn', `approvals: expiry sweep failed: ${String(error)}`));
  }, SWEEP_MS);
  sweep.unref();
  let baseUrl = settings.publicUrl?.replace(/\/+$/, '');
  return {
    service,
    description: settings.postgres !== undefined ? `PostgreSQL table ${settings.postgres.table}` : file ?? 'memory (lost on restart)',
    waitMs: settings.waitSeconds * 1000,
    consoleUrl: (id) => (baseUrl === undefined ? undefined : `${baseUrl}/console#/requests/${id}`),
    setBaseUrl(url) {
      if (settings.publicUrl === undefined) baseUrl = url.replace(/\/+$/, '');
    },
    routes: ui === undefined || api === undefined ? [] : [ui.routes, api],
    async pending() {
      const now = deps.clock.now();
      return (await store.listPending()).filter((r) => r.expiresAt > now).length;
    },
    async close() {
      clearInterval(sweep);
      unsubscribe();
      unsubscribeTiming();
      ui?.close();
      await notifier?.close();
      await Promise.allSettled([...writes]);
      await sessions?.close();
      await store.close();
    },
  };
}

/**
 * Reports each decision this process recorded (a quorum reached, or a denial) with the time from the request's
 * opening to it. Each replica reports its own decisions, so a decision is counted once. Returns unsubscribe.
 */
function timeDecisions(service: ApprovalService, telemetry: Telemetry): () => void {
  return service.subscribe(({ requestId, event }) => {
    if (event === undefined || !(event.type === 'denied' || (event.type === 'approved' && event.granted))) return;
    const decision = event.type === 'denied' ? 'denied' : 'approved';
    service.record(requestId).then(
      (request) => telemetry.approvalDecided(decision, Math.max(0, (request.decidedAt ?? Date.parse(event.at)) - request.createdAt) / 1000),
      () => undefined,
    );
  });
}

/** The approval API, whose modules (and request schemas) load only when approvers are served. */
async function approvalApi(parts: { service: ApprovalService; verifier: TokenVerifier | undefined; console: ApprovalConsole; onRefused: (refusal: ApiRefusal) => Promise<void>; log: Logger }): Promise<ApprovalApi> {
  const [{ createApprovalApi }, { bearerApprovers }] = await Promise.all([import('./api.js'), import('./bearer-auth.js')]);
  return createApprovalApi({ service: parts.service, authenticators: [...(parts.verifier === undefined ? [] : [bearerApprovers(parts.verifier)]), parts.console.authenticator], onRefused: parts.onRefused, log: parts.log });
}

/** Console sessions beside the PostgreSQL approvals table (its driver loads only then). */
async function openSharedSessions(pg: NonNullable<ApprovalsConfig['postgres']>, deps: ApprovalsDeps): Promise<PgSessionStore> {
  const url = deps.env[pg.url.slice('env:'.length)];
  if (url === undefined || url === '') throw new ConfigError(`approvals.postgres.url: ${pg.url} is not set`);
  const { openPgSessionStore } = await import('../console/pg-session-store.js');
  return openPgSessionStore({ url, table: pg.table });
}

/** The configured store: PostgreSQL (several replicas), else the JSON file. */
async function openStore(settings: Partial<ApprovalsConfig>, file: string, deps: ApprovalsDeps): Promise<ApprovalStore> {
  const pg = settings.postgres;
  if (pg === undefined) return openJsonApprovalStore(file, settings.keepFinishedDays === undefined ? {} : { keepFinishedMs: settings.keepFinishedDays * 86_400_000 });
  const url = deps.env[pg.url.slice('env:'.length)];
  if (url === undefined || url === '') throw new ConfigError(`approvals.postgres.url: ${pg.url} is not set`);
  // The PostgreSQL driver loads only for a PostgreSQL store.
  const { openPgApprovalStore } = await import('./pg-store.js');
  return openPgApprovalStore({
    url,
    table: pg.table,
    onListener: (state, error) => deps.log(state === 'lost' ? 'warn' : 'info', state === 'lost' ? `approvals: change notifications from other replicas lost (${String(error)}); reconnecting, waiting calls re-check every few seconds` : 'approvals: listening for other replicas\' decisions again'),
  });
}

function configuredKey(ref: string, env: Readonly<Record<string, string | undefined>>): Uint8Array {
  const label = 'approvals.key';
  try {
    return parseKeyMaterial(secretText(ref, label, env), label);
  } catch (error) {
    throw error instanceof ConfigError ? error : new ConfigError(error instanceof Error ? error.message : String(error));
  }
}

/** The key kept next to the store: created once (0600, never overwritten), then read. */
function localKey(dir: string): Uint8Array {
  const path = join(dir, KEY_FILE);
  try {
    writeFileSync(path, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw new ConfigError(`approvals: cannot create the key file ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    return parseKeyMaterial(readFileSync(path, 'utf8'), path);
  } catch (error) {
    throw new ConfigError(`approvals: the key file ${path} is not usable: ${error instanceof Error ? error.message : String(error)}`);
  }
}
