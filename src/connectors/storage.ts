/**
 * Cloud Storage for read_bucket, on the real `@google-cloud/storage` client. The client library is loaded
 * (a dynamic import) only at the first call, so an airlock whose policy has no bucket never loads it.
 *
 * Credentials: Google's endpoint with airlock's own credentials (Application Default Credentials), or the
 * caller's impersonated service account token where policy configures `downstream.impersonation`. An
 * `http://` endpoint must be loopback (a local server for tests and the demo) and gets no credentials.
 *
 * Deadlines are the connector's own: the client's `timeout` does nothing on Node 20 and its calls take no
 * AbortSignal, so metadata and list calls race a timer and media streams are destroyed. Retries: the
 * client retries 408/429/5xx and resets at most twice with short delays (idempotent reads only), and
 * every attempt stays inside the call's deadline. Upstream error text goes to `detail` (audit) only.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Storage as GcsStorage } from '@google-cloud/storage';
import { CancelledError, InvalidInputError, NotFoundError, UnknownResourceError, UpstreamDeniedError, UpstreamTimeoutError, UpstreamUnavailableError, type AirlockError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Policy } from '../policy/load.js';
import { ConfigError, type EndpointConfig } from '../config.js';
import { writeDemoObjects, DEMO_BUCKET } from './demo-objects.js';
import { startLocalGcs, type LocalGcs } from './local-gcs.js';
import { contentFormatOf, readObjectText } from './object-text.js';
import type { ListRequest, ObjectListing, ObjectMetadata, ObjectRead, ReadRequest, StorageConnector, UpstreamCall } from './storage-types.js';

export interface StorageOptions {
  /** Serve the demo bucket from a local server over generated objects (no cloud). */
  readonly demo: boolean;
  readonly policy: () => Policy;
  /** Runtime file `storage` section. */
  readonly config: EndpointConfig | undefined;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly log: Logger;
}

/** The Cloud Storage connector and its lifetime (the demo server, when one runs). */
export type StorageHandle = StorageConnector & { close(): Promise<void> };

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\]|localhost)$/;
/** Decoded bytes from a gzip object that a range read may skip to (the skipped text is decoded too). */
const MAX_GZIP_OFFSET = 64 * 1024 * 1024;
const RETRIES = { autoRetry: true, maxRetries: 2, retryDelayMultiplier: 2, maxRetryDelay: 0.5, totalTimeout: 30 } as const;

interface Endpoint {
  readonly url: string | undefined;
  /** A loopback `http://` server: called without credentials. */
  readonly local: boolean;
}

/** Checks `storage.endpoint`: `https://` anywhere, `http://` (or no scheme) on loopback only. */
export function storageEndpoint(endpoint: string | undefined): Endpoint {
  if (endpoint === undefined) return { url: undefined, local: false };
  const withScheme = /^https?:\/\//.test(endpoint) ? endpoint : `http://${endpoint}`;
  const url = new URL(withScheme);
  if (url.protocol === 'https:') return { url: withScheme.replace(/\/$/, ''), local: false };
  if (!LOOPBACK.test(url.hostname)) throw new ConfigError(`storage.endpoint: an http:// endpoint must be on loopback (127.0.0.1 or [::1]), got "${endpoint}"`);
  return { url: withScheme.replace(/\/$/, ''), local: true };
}

/**
 * The storage connector for the policy's buckets. With `demo`, a local server over generated demo objects
 * starts at the first call (`airlock-demo-data`), unless `storage.endpoint` is set.
 */
export function openStorage(options: StorageOptions): Promise<StorageHandle> {
  const { policy, log } = options;
  const configured = storageEndpoint(options.config?.endpoint);
  const demo = options.demo && configured.url === undefined;
  let demoServer: { gcs: LocalGcs; dir: string } | undefined;
  let shared: Promise<{ storage: GcsStorage; local: boolean }> | undefined;
  const perToken = new Map<string, GcsStorage>();

  const load = async (): Promise<{ storage: GcsStorage; local: boolean }> => {
    const { Storage } = await import('@google-cloud/storage');
    if (demo) {
      const dir = await mkdtemp(join(tmpdir(), 'airlock-demo-gcs-'));
      await writeDemoObjects(dir);
      const gcs = await startLocalGcs({ root: dir });
      demoServer = { gcs, dir };
      log('info', `demo Cloud Storage: bucket "${DEMO_BUCKET}" served on ${gcs.url} from ${dir}`);
      return { storage: new Storage({ apiEndpoint: gcs.url, projectId: 'airlock-demo', retryOptions: RETRIES }), local: true };
    }
    if (configured.local) return { storage: new Storage({ apiEndpoint: configured.url, projectId: 'airlock-local', retryOptions: RETRIES }), local: true };
    // Google's endpoint (or an https one) with Application Default Credentials.
    return { storage: new Storage({ ...(configured.url === undefined ? {} : { apiEndpoint: configured.url, useAuthWithCustomEndpoint: true }), retryOptions: RETRIES }), local: false };
  };

  /** The client for one call: the caller's impersonated token where policy says so, else the shared one. */
  const clientFor = async (call: UpstreamCall): Promise<GcsStorage> => {
    shared ??= load();
    const base = await shared;
    if (base.local || policy().file.downstream.impersonation === undefined || call.googleToken === undefined) return base.storage;
    const token = await call.googleToken();
    let client = perToken.get(token.accessToken);
    if (client === undefined) {
      const [{ Storage }, { OAuth2Client }] = await Promise.all([import('@google-cloud/storage'), import('google-auth-library')]);
      const authClient = new OAuth2Client({ credentials: { access_token: token.accessToken, expiry_date: token.expiresAt } });
      client = new Storage({ authClient, ...(configured.url === undefined ? {} : { apiEndpoint: configured.url, useAuthWithCustomEndpoint: true }), retryOptions: RETRIES });
      // Tokens live minutes: keep the few most recent clients only.
      if (perToken.size >= 32) perToken.delete(perToken.keys().next().value as string);
      perToken.set(token.accessToken, client);
    }
    return client;
  };

  const bucketOf = (name: string): string => {
    const resource = policy().file.resources.buckets[name];
    if (resource === undefined) throw new UnknownResourceError('bucket', name);
    return resource.bucket;
  };

  const connector: StorageHandle = {
    hasBucket: (name) => Object.hasOwn(policy().file.resources.buckets, name),

    async list(name: string, request: ListRequest, call: UpstreamCall): Promise<ObjectListing> {
      const bucket = bucketOf(name);
      const what = `Cloud Storage bucket "${name}"`;
      return bounded(call, what, async () => {
        const client = await clientFor(call);
        const [, , api] = await client.bucket(bucket).getFiles({
          autoPaginate: false,
          prefix: request.prefix,
          maxResults: request.maxResults,
          ...(request.delimiter === undefined ? {} : { delimiter: request.delimiter }),
          ...(request.pageToken === undefined ? {} : { pageToken: request.pageToken }),
        });
        const raw = (api ?? {}) as { items?: RawObject[]; prefixes?: string[]; nextPageToken?: string };
        return {
          items: (raw.items ?? []).map((o) => ({ name: o.name, size: Number(o.size ?? 0), ...summary(o) })),
          prefixes: raw.prefixes ?? [],
          ...(raw.nextPageToken === undefined || raw.nextPageToken === '' ? {} : { nextPageToken: raw.nextPageToken }),
        };
      }, (status) => (status === 404 ? new NotFoundError(`Bucket "${name}"`) : undefined));
    },

    async read(name: string, request: ReadRequest, call: UpstreamCall): Promise<ObjectRead> {
      const bucket = bucketOf(name);
      const what = `Cloud Storage bucket "${name}"`;
      const notFound = (status: number): AirlockError | undefined => (status === 404 ? new NotFoundError(`Object "${request.object}" in bucket "${name}"`) : undefined);
      const client = await bounded(call, what, () => clientFor(call), notFound);
      const file = client.bucket(bucket).file(request.object, request.generation === undefined ? {} : { generation: Number(request.generation) });
      const [raw] = await bounded(call, what, () => file.getMetadata(), notFound);
      const metadata = metadataOf(raw as RawObject);
      const format = contentFormatOf(request.object, metadata.contentType);
      if (format === 'binary') return { metadata, format, bytesRead: 0, truncated: false };
      const gzip = metadata.contentEncoding === 'gzip' || /\.gz$/i.test(request.object);
      const start = request.range?.start ?? 0;
      const wanted = request.range?.end === undefined ? request.maxBytes : Math.min(request.maxBytes, request.range.end - start + 1);
      if (!gzip && start >= metadata.size) return { metadata, format, text: '', bytesRead: 0, truncated: false };
      if (gzip && start + wanted > MAX_GZIP_OFFSET) {
        throw new InvalidInputError('read_bucket', [{ path: 'range.start', message: `gzip objects can be read up to ${MAX_GZIP_OFFSET} decompressed bytes from their start` }]);
      }
      // Stored bytes as they are: gzip is decompressed by readObjectText, under its ratio cap.
      const opts = gzip ? { decompress: false, validation: false as const } : { decompress: false, validation: false as const, start, ...(request.range?.end === undefined ? {} : { end: request.range.end }) };
      const text = await bounded(call, what, (signal) => readObjectText(file.createReadStream(opts), { gzip, maxBytes: gzip ? start + wanted : wanted, signal }), notFound);
      if (text.binary) return { metadata, format: 'binary', bytesRead: text.bytesIn, truncated: false };
      let content = text.text;
      let outEnd = start + text.bytesOut;
      if (gzip) {
        const decoded = Buffer.from(content, 'utf8');
        content = start >= decoded.length ? '' : decoded.subarray(start).toString('utf8');
        outEnd = Math.max(start, text.bytesOut);
      }
      const rangeDone = request.range?.end !== undefined && outEnd > request.range.end;
      const truncated = text.truncated && !rangeDone;
      return { metadata, format, text: content, bytesRead: text.bytesIn, truncated, ...(truncated ? { nextStart: outEnd } : {}) };
    },

    async close() {
      const server = demoServer;
      demoServer = undefined;
      if (server !== undefined) {
        await server.gcs.close();
        await rm(server.dir, { recursive: true, force: true });
      }
    },
  };
  return Promise.resolve(connector);
}

/**
 * The storage connector for offline policy work (explain, test, replay): it knows the policy's buckets,
 * so facts and decisions are the server's, and it never calls Cloud Storage.
 */
export function offlineStorage(policy: () => Policy): StorageConnector {
  const offline = (): Promise<never> => Promise.reject(new Error('offline: Cloud Storage is not called'));
  return { hasBucket: (name) => Object.hasOwn(policy().file.resources.buckets, name), list: offline, read: offline, close: () => Promise.resolve() };
}

interface RawObject {
  readonly name: string;
  readonly size?: string | number;
  readonly contentType?: string;
  readonly contentEncoding?: string;
  readonly generation?: string | number;
  readonly updated?: string;
  readonly md5Hash?: string;
  readonly crc32c?: string;
}

function summary(o: RawObject): { contentType?: string; updated?: string; generation?: string } {
  return {
    ...(o.contentType === undefined ? {} : { contentType: o.contentType }),
    ...(o.updated === undefined ? {} : { updated: o.updated }),
    ...(o.generation === undefined ? {} : { generation: String(o.generation) }),
  };
}

function metadataOf(o: RawObject): ObjectMetadata {
  return {
    name: o.name,
    size: Number(o.size ?? 0),
    ...summary(o),
    ...(o.contentEncoding === undefined ? {} : { contentEncoding: o.contentEncoding }),
    ...(o.md5Hash === undefined ? {} : { md5Hash: o.md5Hash }),
    ...(o.crc32c === undefined ? {} : { crc32c: o.crc32c }),
  };
}

/**
 * Runs one upstream step within the call's deadline and cancellation. `work` gets a signal that fires on
 * either (a stream reader destroys its stream with it); a step that cannot be aborted is left behind and
 * its late result ignored. Errors become airlock errors with fixed texts.
 */
async function bounded<T>(call: UpstreamCall, what: string, work: (signal: AbortSignal) => Promise<T>, special: (status: number) => AirlockError | undefined): Promise<T> {
  const limitMs = call.timeoutMs ?? Math.max(0, call.deadline - Date.now());
  if (call.signal.aborted) throw new CancelledError({ detail: `cancelled before ${what} was called` });
  const stop = new AbortController();
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const stopped = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      stop.abort();
      reject(new UpstreamTimeoutError(what, limitMs, { detail: `${what}: no answer before the deadline` }));
    }, Math.max(0, call.deadline - Date.now()));
    onAbort = () => {
      stop.abort();
      reject(new CancelledError({ detail: `cancelled while ${what} was called` }));
    };
    call.signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    const running = work(stop.signal);
    // A step left behind by the race must not surface as an unhandled rejection.
    running.catch(() => undefined);
    return await Promise.race([running, stopped]);
  } catch (error) {
    if (timedOut) throw new UpstreamTimeoutError(what, limitMs, { detail: `${what}: no answer before the deadline`, cause: error });
    if (call.signal.aborted) throw new CancelledError({ detail: `cancelled while ${what} was called`, cause: error });
    throw upstreamError(error, what, special);
  } finally {
    clearTimeout(timer);
    if (onAbort !== undefined) call.signal.removeEventListener('abort', onAbort);
  }
}

function upstreamError(error: unknown, what: string, special: (status: number) => AirlockError | undefined): AirlockError {
  if (isAirlockError(error)) return error;
  const e = error as { code?: unknown; message?: unknown } | null;
  const status = typeof e?.code === 'number' ? e.code : undefined;
  const kind = status !== undefined ? `HTTP ${status}` : typeof e?.code === 'string' ? e.code : 'error';
  const text = typeof e?.message === 'string' ? e.message : String(error);
  const detail = `${what}: ${kind}: ${text}`.slice(0, 2000);
  if (status !== undefined) {
    const mapped = special(status);
    if (mapped !== undefined) return withDetail(mapped, detail, error);
    if (status === 401 || status === 403) return new UpstreamDeniedError('Cloud Storage', { detail, cause: error });
  }
  // 429, 5xx, resets, a connection dropped mid-object, a failed integrity check: nothing partial is returned.
  return new UpstreamUnavailableError('Cloud Storage', { detail, cause: error });
}

function withDetail(error: AirlockError, detail: string, cause: unknown): AirlockError {
  Object.defineProperty(error, 'message', { value: detail, enumerable: false, writable: true, configurable: true });
  Object.defineProperty(error, 'cause', { value: cause, enumerable: false, writable: true, configurable: true });
  return error;
}

function isAirlockError(error: unknown): error is AirlockError {
  return error instanceof Error && typeof (error as Partial<AirlockError>).publicMessage === 'string' && typeof (error as Partial<AirlockError>).code === 'string';
}
