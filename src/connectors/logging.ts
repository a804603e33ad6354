/**
 * The Cloud Logging connector behind tail_logs: the real `@google-cloud/logging` client (gRPC), loaded on
 * first use, with airlock's own credentials; deadlines, cancellation and gRPC status mapping are enforced
 * here so a hang, a refusal or a dropped stream always ends as a typed error whose upstream text stays in
 * the audit detail. In the demo it also runs the loopback Logging server over the demo entries.
 */
import type { Logging } from '@google-cloud/logging';
import { CancelledError, InvalidInputError, NotFoundError, UpstreamDeniedError, UpstreamTimeoutError, UpstreamUnavailableError, type AirlockError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Policy } from '../policy/load.js';
import type { EntriesPage, EntriesRequest, LogEntryJson, LoggingConnector, LogScopeInfo } from './logging-types.js';
import type { UpstreamCall } from './storage-types.js';

export interface OpenLoggingOptions {
  /** `npm start`: serve the demo entries from a loopback Logging server (unless an endpoint is configured). */
  readonly demo: boolean;
  readonly policy: () => Policy;
  /** Runtime `logging` settings: `endpoint` points the client elsewhere (a loopback one: no credentials). */
  readonly config?: { readonly endpoint?: string | undefined } | undefined;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly log: Logger;
  /** The demo's clock (entries are stamped relative to it). */
  readonly now?: () => Date;
}

/** Where the client connects: Google (TLS, ADC) or a loopback server (plaintext, no credentials). */
type Target = { readonly kind: 'google'; readonly host?: string; readonly port?: number } | { readonly kind: 'local'; readonly address: string };

/** How often the demo's live tail gets a new entry. */
const DEMO_LIVE_MS = 2000;
/** Transient failures (UNAVAILABLE, DEADLINE_EXCEEDED) are retried at most this often, within the deadline. */
const MAX_RETRIES = 2;
const RETRY_DELAY_MS = 150;
/** A tail stream is given this much past the call's deadline before gRPC ends it on its own. */
const STREAM_GRACE_MS = 5000;

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|\[::1\])$/;

/** gRPC status codes (google.rpc.Code) the connector tells apart. */
const GRPC = { CANCELLED: 1, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5, PERMISSION_DENIED: 7, RESOURCE_EXHAUSTED: 8, UNAVAILABLE: 14, UNAUTHENTICATED: 16 } as const;

/**
 * The endpoint setting as a target. TypeError (at start-up) for a plaintext endpoint off loopback: a
 * connection without TLS and credentials is only ever made to this machine.
 */
export function loggingTarget(endpoint: string | undefined): Target {
  if (endpoint === undefined) return { kind: 'google' };
  const m = /^(?:(https?):\/\/)?([^/]+?)(?::(\d{1,5}))?\/?$/.exec(endpoint);
  const scheme = m?.[1];
  const host = m?.[2] ?? '';
  const port = m?.[3];
  if (LOOPBACK.test(host) && scheme !== 'https') {
    if (port === undefined) throw new TypeError(`logging.endpoint: "${endpoint}" needs a port`);
    return { kind: 'local', address: `${host}:${port}` };
  }
  if (scheme === 'http') throw new TypeError(`logging.endpoint: "${endpoint}": plaintext (http://) is allowed on loopback only`);
  return { kind: 'google', host, ...(port === undefined ? {} : { port: Number(port) }) };
}

/** Whether the client runs against a loopback server (the entry point then turns metadata-server detection off). */
export function loggingIsLocal(options: { readonly demo: boolean; readonly config?: { readonly endpoint?: string | undefined } | undefined }): boolean {
  return options.config?.endpoint === undefined ? options.demo : loggingTarget(options.config.endpoint).kind === 'local';
}

interface Loaded {
  readonly Logging: typeof Logging;
  readonly fromProto: (entry: Record<string, unknown>) => LogEntryJson;
  readonly localOptions: (address: string, project: string) => ConstructorParameters<typeof Logging>[0];
}

/**
 * The Cloud Logging connector: one client per project, made at first use. In the demo (and no endpoint
 * configured) a loopback Logging server serves the demo entries, with a new live entry every ~2 s, when the
 * policy has log scopes at start.
 */
export async function openLogging(options: OpenLoggingOptions): Promise<LoggingConnector & { close(): Promise<void> }> {
  const { policy, log } = options;
  let target = loggingTarget(options.config?.endpoint);
  const now = options.now ?? ((): Date => new Date());
  const closers: (() => Promise<void> | void)[] = [];
  if (options.demo && options.config?.endpoint === undefined && Object.keys(policy().file.resources.logScopes).length > 0) {
    const address = await startDemoLogging(now, closers);
    target = { kind: 'local', address };
    log('info', `demo Cloud Logging server on ${address} (demo log entries; a live entry every ${DEMO_LIVE_MS / 1000} s)`);
  }
  let loaded: Promise<Loaded> | undefined;
  const load = (): Promise<Loaded> => (loaded ??= loadClient());
  const clients = new Map<string, Logging>();
  /** Clients holding a caller's impersonated token (policy `downstream.impersonation`), by project and token. */
  const perToken = new Map<string, Logging>();
  const client = async (project: string, call?: UpstreamCall): Promise<Logging> => {
    const { Logging: Client, localOptions } = await load();
    const endpoint = target.kind === 'google' ? { ...(target.host === undefined ? {} : { apiEndpoint: target.host }), ...(target.port === undefined ? {} : { port: target.port }) } : {};
    if (target.kind === 'google' && policy().file.downstream.impersonation !== undefined && call?.googleToken !== undefined) {
      const token = await call.googleToken();
      const key = `${project}\n${token.accessToken}`;
      let c = perToken.get(key);
      if (c === undefined) {
        const { OAuth2Client } = await import('google-auth-library');
        const authClient = new OAuth2Client({ credentials: { access_token: token.accessToken, expiry_date: token.expiresAt } });
        c = new Client({ projectId: project, authClient, ...endpoint });
        // Tokens live minutes: keep the few most recent clients only, closing the ones let go.
        if (perToken.size >= 16) {
          const oldest = perToken.keys().next().value as string;
          void gapic(perToken.get(oldest) as Logging).close().catch(() => undefined);
          perToken.delete(oldest);
        }
        perToken.set(key, c);
      }
      return c;
    }
    let c = clients.get(project);
    if (c === undefined) {
      c = target.kind === 'local' ? new Client(localOptions(target.address, project)) : new Client({ projectId: project, ...endpoint });
      clients.set(project, c);
    }
    return c;
  };
  const scopeOf = (name: string): LogScopeInfo => {
    const s = policy().file.resources.logScopes[name];
    if (s === undefined) throw new NotFoundError(`Log scope "${name}"`);
    return { project: s.project, ...(s.logNames === undefined ? {} : { logNames: s.logNames }) };
  };

  return {
    scope: (name) => logScopeInfo(policy(), name),

    async list(scope: string, request: EntriesRequest, call: UpstreamCall): Promise<EntriesPage> {
      const { project } = scopeOf(scope);
      const what = `Cloud Logging (log scope "${scope}")`;
      return bounded(what, call, async () => {
        const logging = await client(project, call);
        const { fromProto } = await load();
        const timeout = Math.max(1, call.deadline - Date.now());
        // The filter always names `timestamp` (the tool's window), so the client adds no 24-hour clause.
        const [entries, , response] = await retried(call, () => logging.getEntries({
          resourceNames: [`projects/${project}`],
          filter: request.filter,
          orderBy: `timestamp ${request.order}`,
          pageSize: request.pageSize,
          ...(request.pageToken === undefined ? {} : { pageToken: request.pageToken }),
          autoPaginate: false,
          // Retries are the connector's (below): short, bounded and within the deadline.
          gaxOptions: { timeout, retry: null },
        }));
        const next = (response as { nextPageToken?: string } | undefined)?.nextPageToken;
        return {
          entries: entries.map((e) => fromProto(restoreTimestamp(e.metadata as Record<string, unknown>))),
          ...(next === undefined || next === '' ? {} : { nextPageToken: next }),
        };
      });
    },

    async tail(scope, request, call, onEntries): Promise<void> {
      const { project } = scopeOf(scope);
      const what = `Cloud Logging (live tail of log scope "${scope}")`;
      const limitMs = call.deadline - Date.now();
      const logging = await bounded(what, call, () => client(project, call));
      const { fromProto } = await load();
      if (call.signal.aborted) throw new CancelledError({ detail: 'cancelled before the tail opened' });
      // The generated client's stream, not `tailEntries()`: that wrapper opens the gRPC stream only after an
      // asynchronous project lookup, so a cancel that comes first would be lost and the stream left open
      // upstream. This stream exists at once, and `cancel()` always reaches the server.
      const stream = gapic(logging).tailLogEntries({ timeout: Math.max(1, call.deadline - Date.now()) + STREAM_GRACE_MS }) as TailStream;
      await new Promise<void>((resolve, reject) => {
        let done = false;
        const finish = (error?: AirlockError): void => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          call.signal.removeEventListener('abort', onAbort);
          // Ending for any reason ends the stream upstream.
          stream.cancel();
          if (error === undefined) resolve();
          else reject(error);
        };
        const onAbort = (): void => finish(new CancelledError({ detail: 'the live tail was cancelled' }));
        const timer = setTimeout(() => finish(), Math.max(0, call.deadline - Date.now()));
        call.signal.addEventListener('abort', onAbort, { once: true });
        stream.on('data', (response: { entries?: Record<string, unknown>[] }) => {
          if (done) return;
          const entries = (response.entries ?? []).map(fromProto);
          if (entries.length > 0) onEntries(entries);
        });
        stream.on('error', (error: unknown) => finish(upstreamError(what, error, call, limitMs)));
        stream.on('end', () => finish(done ? undefined : new UpstreamUnavailableError(what, { detail: 'the tail stream ended early' })));
        stream.write({ resourceNames: [`projects/${project}`], filter: request.filter });
      });
    },

    async close() {
      for (const c of [...clients.values(), ...perToken.values()]) await gapic(c).close().catch(() => undefined);
      clients.clear();
      perToken.clear();
      for (const close of closers.splice(0).reverse()) await close();
    },
  };
}

/** A log scope of the policy as tail_logs sees it (project and log names); undefined when there is none. */
function logScopeInfo(policy: Policy, name: string): LogScopeInfo | undefined {
  const s = Object.hasOwn(policy.file.resources.logScopes, name) ? policy.file.resources.logScopes[name] : undefined;
  return s === undefined ? undefined : { project: s.project, ...(s.logNames === undefined ? {} : { logNames: s.logNames }) };
}

/** Log scopes for offline policy work (explain, test, replay): the policy's scopes, and nothing is called. */
export function offlineLogging(policy: () => Policy): LoggingConnector {
  const offline = (): Promise<never> => Promise.reject(new Error('offline: Cloud Logging is not called'));
  return { scope: (name) => logScopeInfo(policy(), name), list: offline, tail: offline, close: () => Promise.resolve() };
}

/** The generated LoggingServiceV2 client inside `Logging` (typed `any` by the library). */
interface Gapic {
  tailLogEntries(options: { timeout: number }): unknown;
  close(): Promise<void>;
}

function gapic(logging: Logging): Gapic {
  return (logging as unknown as { loggingService: Gapic }).loggingService;
}

interface TailStream {
  on(event: string, listener: (arg: never) => void): void;
  write(request: Record<string, unknown>): void;
  cancel(): void;
}

/** The client's modules and the helpers that need them, loaded on first use (they take a while to load). */
async function loadClient(): Promise<Loaded> {
  const [{ Logging: Client }, proto, local] = await Promise.all([import('@google-cloud/logging'), import('./log-entry-proto.js'), import('./local-logging-client.js')]);
  const fallback = new Date(0);
  return {
    Logging: Client,
    fromProto: (entry) => proto.logEntryFromProto(entry, fallback),
    localOptions: (address, project) => local.localLoggingClientOptions(address, project),
  };
}

/** `getEntries()` turns the entry's timestamp into a Date; the REST shape wants the protobuf Timestamp back. */
function restoreTimestamp(metadata: Record<string, unknown>): Record<string, unknown> {
  const t = metadata.timestamp;
  if (!(t instanceof Date)) return metadata;
  const ms = t.getTime();
  return { ...metadata, timestamp: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 } };
}

/** `work` again after a short pause when Logging is briefly unavailable, while the deadline leaves room. */
async function retried<T>(call: UpstreamCall, work: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      const delay = RETRY_DELAY_MS * 2 ** attempt;
      const code = (error as { code?: unknown } | null)?.code;
      if (attempt >= MAX_RETRIES || code !== GRPC.UNAVAILABLE || call.signal.aborted || Date.now() + delay >= call.deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/** Runs `work` until the call's deadline or cancellation, whichever comes first; upstream errors mapped. */
async function bounded<T>(what: string, call: UpstreamCall, work: () => Promise<T>): Promise<T> {
  if (call.signal.aborted) throw new CancelledError({ detail: 'cancelled before the upstream call' });
  const limitMs = call.deadline - Date.now();
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(timeoutError(what, limitMs, 'no answer before the deadline')), Math.max(0, limitMs));
    onAbort = () => reject(new CancelledError({ detail: 'cancelled during the upstream call' }));
    call.signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([work().catch((error: unknown) => Promise.reject(upstreamError(what, error, call, limitMs))), limit]);
  } finally {
    clearTimeout(timer);
    if (onAbort !== undefined) call.signal.removeEventListener('abort', onAbort);
  }
}

function timeoutError(what: string, limitMs: number, detail: string): UpstreamTimeoutError {
  return new UpstreamTimeoutError(what, Math.max(0, Math.round(limitMs)), { detail });
}

/** A gRPC failure as the typed error the agent sees; the upstream text only in the detail (audit). */
export function upstreamError(what: string, error: unknown, call: UpstreamCall, limitMs: number): AirlockError {
  if (error instanceof CancelledError || error instanceof UpstreamTimeoutError || error instanceof UpstreamUnavailableError || error instanceof UpstreamDeniedError || error instanceof NotFoundError) return error;
  const code = typeof (error as { code?: unknown } | null)?.code === 'number' ? (error as { code: number }).code : undefined;
  const detail = `gRPC ${code ?? '?'}: ${error instanceof Error ? error.message : String(error)}`;
  switch (code) {
    case GRPC.PERMISSION_DENIED:
    case GRPC.UNAUTHENTICATED:
      return new UpstreamDeniedError(what, { detail, cause: error });
    case GRPC.NOT_FOUND:
      return new NotFoundError(what, { detail, cause: error });
    case GRPC.DEADLINE_EXCEEDED:
      return timeoutError(what, limitMs, detail);
    case GRPC.CANCELLED:
      return call.signal.aborted ? new CancelledError({ detail, cause: error }) : new UpstreamUnavailableError(what, { detail, cause: error });
    case GRPC.INVALID_ARGUMENT:
      // The filter that went upstream is the printed tree: Logging refused something in it (a field or
      // function it does not support). Its message may quote entries' values, so it stays in the audit.
      return new InvalidInputError('tail_logs', [{ path: 'filter', message: 'Cloud Logging refused the filter (a field, operator or function it does not support); simplify it' }]);
    default:
      return new UpstreamUnavailableError(what, { detail, cause: error });
  }
}

/** Starts the demo's loopback Logging server with the demo entries and a live generator. */
async function startDemoLogging(now: () => Date, closers: (() => Promise<void> | void)[]): Promise<string> {
  const [{ startLocalLogging }, demo, { logFilterMatcher }] = await Promise.all([import('./local-logging.js'), import('./demo-logs.js'), import('../policy/log-filter-match.js')]);
  const server = await startLocalLogging({ entries: demo.demoLogEntries(now()), match: logFilterMatcher() });
  closers.push(() => server.close());
  let i = 0;
  const live = setInterval(() => server.append([demo.demoLiveEntry(i++, now())]), DEMO_LIVE_MS);
  live.unref();
  closers.push(() => clearInterval(live));
  return server.address;
}
