/**
 * A loopback server speaking the subset of the Cloud Storage JSON API v1 that `@google-cloud/storage` uses
 * to list and read objects, over a directory: `<root>/<bucket>/<object path>`. It backs the demo and the
 * tests of bucket reads with the real client; it is read-only and binds to loopback only.
 *
 * Client setup (no credentials, no metadata-server probe):
 *
 * ```ts
 * process.env.METADATA_SERVER_DETECTION = 'none'; // set by the entry point, before the client loads
 * const storage = new Storage({
 *   apiEndpoint: gcs.url, // a custom endpoint: the client sends no Authorization header
 *   projectId: 'demo', // given, so the client never asks the auth library for one
 *   useAuthWithCustomEndpoint: false, // the default; true would fetch credentials for this endpoint
 *   retryOptions: { maxRetries: 2, maxRetryDelay: 0.05, totalTimeout: 5 }, // maxRetryDelay in seconds
 * });
 * ```
 *
 * The client's `timeout` option is not honoured on Node (its HTTP layer, node-fetch 3, has no timeout) and
 * its calls take no AbortSignal: a connector bounds each call itself (destroy the read stream, race
 * metadata calls). 408/429/5xx are retried by the client with backoff unless `autoRetry: false`.
 *
 * Objects whose file ends in `.gz` are stored gzip with `contentEncoding: gzip` and are served as Cloud
 * Storage serves them: as stored (with `Content-Encoding: gzip`) to a request that accepts gzip, which the
 * client always sends and then gunzips; decompressed (decompressive transcoding, Range ignored) otherwise.
 */
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { InvalidNameError, allNames, bucketDir, listPage, statObject } from './local-gcs-objects.js';
import type { StoredObject } from './local-gcs-objects.js';

/** What a fault hook sees of a request. */
export interface GcsFaultRequest {
  readonly method: string;
  /** The raw request target, as sent. */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  /** Decoded bucket and object names, when the path names them. */
  readonly bucket?: string;
  readonly object?: string;
  /** True for media downloads (`alt=media`). */
  readonly media: boolean;
}

/**
 * What a fault hook may do to a request: answer with an error status in the JSON API's shape, never answer
 * (the connection stays open until the client gives up or the server closes), or, for a media download,
 * send the headers and the first bytes and then drop the connection.
 */
export type GcsFault = { status: 400 | 401 | 403 | 404 | 429 | 500 | 502 | 503 | 504 } | { hang: true } | { dropAfterBytes: number };

/** Options of {@link startLocalGcs}. */
export interface LocalGcsOptions {
  /** The directory whose subdirectories are buckets. */
  readonly root: string;
  /** A loopback address: `127.0.0.1` (default), another `127.x.y.z`, or `::1`. */
  readonly host?: string;
  /** 0 (default) picks a free port. */
  readonly port?: number;
  /** Called for every request before it is served; undefined serves it normally. */
  readonly faults?: (req: GcsFaultRequest) => GcsFault | undefined;
}

/** A running server. */
export interface LocalGcs {
  /** The `apiEndpoint` for the client, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** Stops listening and drops open connections, hanging ones included. */
  close(): Promise<void>;
}

const REASONS: Readonly<Record<number, string>> = {
  400: 'invalid',
  401: 'required',
  403: 'forbidden',
  404: 'notFound',
  405: 'methodNotAllowed',
  416: 'requestedRangeNotSatisfiable',
  429: 'rateLimitExceeded',
  500: 'backendError',
  502: 'backendError',
  503: 'backendError',
  504: 'backendError',
};

const MESSAGES: Readonly<Record<number, string>> = {
  401: 'Anonymous caller does not have storage.objects.get access.',
  403: 'The caller does not have permission.',
  429: 'The rate of requests exceeds the rate limit. Please reduce the rate of requests.',
  500: 'Internal error encountered.',
  502: 'Bad gateway.',
  503: 'The service is currently unavailable.',
  504: 'Deadline exceeded.',
};

function sendError(res: ServerResponse, code: number, message = MESSAGES[code] ?? 'Error'): void {
  const body = JSON.stringify({ error: { code, message, errors: [{ message, domain: 'global', reason: REASONS[code] ?? 'unknown' }] } });
  res.writeHead(code, { 'Content-Type': 'application/json; charset=UTF-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function sendJson(res: ServerResponse, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(200, { 'Content-Type': 'application/json; charset=UTF-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function isLoopback(host: string): boolean {
  return host === '::1' || /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(host);
}

// `/storage/v1/b/{bucket}[/o[/{object}]]`, and the `/download/` form the client's mediaLink uses.
const ROUTE = /^\/(download\/)?storage\/v1\/b\/([^/]+)(?:\/(o)(?:\/(.*))?)?$/;

interface Route {
  readonly bucket: string;
  readonly objects: boolean;
  readonly object?: string;
}

function parseRoute(path: string): Route | undefined {
  const m = ROUTE.exec(path);
  if (m === null) return undefined;
  // Each name is decoded exactly once: `%252F` stays a literal `%2F`, `%2F` becomes `/` and is then checked.
  const bucket = decodeURIComponent(m[2] ?? '');
  if (m[4] === undefined) return { bucket, objects: m[3] === 'o' };
  return { bucket, objects: true, object: decodeURIComponent(m[4]) };
}

/** A single `bytes=` range, resolved against the size; 'unsatisfiable' or undefined (serve everything). */
function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  const m = header === undefined ? null : /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (m === null) return undefined;
  const [, from = '', to = ''] = m;
  if (from === '' && to === '') return undefined;
  if (from === '') {
    const n = Number(to);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(from);
  if (start >= size) return 'unsatisfiable';
  const end = to === '' ? size - 1 : Math.min(Number(to), size - 1);
  if (end < start) return undefined;
  return { start, end };
}

function acceptsGzip(headers: IncomingHttpHeaders): boolean {
  return /(^|,)\s*(gzip|\*)\s*(;\s*q=(?!0(\.0*)?\s*(,|$))[\d.]+)?\s*(,|$)/i.test(headers['accept-encoding'] ?? '');
}

async function serveMedia(req: IncomingMessage, res: ServerResponse, obj: StoredObject, dropAfterBytes: number | undefined): Promise<void> {
  const { meta } = obj;
  const size = Number(meta.size);
  const headers: Record<string, string> = {
    'Content-Type': meta.contentType,
    'x-goog-hash': `crc32c=${meta.crc32c},md5=${meta.md5Hash}`,
    'x-goog-generation': meta.generation,
    'x-goog-metageneration': meta.metageneration,
    'x-goog-stored-content-encoding': meta.contentEncoding ?? 'identity',
    'x-goog-stored-content-length': meta.size,
    ETag: `"${meta.etag}"`,
    'Last-Modified': new Date(meta.updated).toUTCString(),
  };
  const transcode = meta.contentEncoding === 'gzip' && !acceptsGzip(req.headers);
  let status = 200;
  let range: { start: number; end: number } | undefined;
  if (transcode) {
    // Decompressive transcoding: the body is the decompressed object, with no length and no range.
  } else {
    const r = parseRange(req.headers.range, size);
    if (r === 'unsatisfiable') return sendError(res, 416, 'The requested range cannot be satisfied.');
    range = r;
    if (meta.contentEncoding === 'gzip') headers['Content-Encoding'] = 'gzip';
    if (range !== undefined) {
      status = 206;
      headers['Content-Range'] = `bytes ${range.start}-${range.end}/${size}`;
    }
    headers['Content-Length'] = String(range === undefined ? size : range.end - range.start + 1);
    headers['Accept-Ranges'] = 'bytes';
  }
  res.writeHead(status, headers);
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  const source = createReadStream(obj.file, range === undefined ? {} : { start: range.start, end: range.end });
  if (dropAfterBytes !== undefined) {
    let sent = 0;
    for await (const chunk of source) {
      const buf = (chunk as Buffer).subarray(0, Math.max(0, dropAfterBytes - sent));
      sent += buf.length;
      if (buf.length > 0) res.write(buf);
      if (sent >= dropAfterBytes) break;
    }
    source.destroy();
    // Let the bytes reach the client before the connection is dropped mid-body.
    await new Promise<void>((resolve) => res.socket?.write('', () => resolve()) ?? resolve());
    res.socket?.destroy();
    return;
  }
  await pipeline(transcode ? [source, createGunzip(), res] : [source, res]).catch(() => res.destroy());
}

async function handle(root: string, baseUrl: string, req: IncomingMessage, res: ServerResponse, faults: LocalGcsOptions['faults']): Promise<void> {
  const target = req.url ?? '/';
  const q = target.indexOf('?');
  const path = q === -1 ? target : target.slice(0, q);
  const query = new URLSearchParams(q === -1 ? '' : target.slice(q + 1));
  let route: Route | undefined;
  try {
    route = parseRoute(path);
  } catch {
    return sendError(res, 400, 'Invalid request path.');
  }
  const media = query.get('alt') === 'media';
  const fault = faults?.({ method: req.method ?? 'GET', url: target, headers: req.headers, ...(route === undefined ? {} : { bucket: route.bucket, ...(route.object === undefined ? {} : { object: route.object }) }), media });
  if (fault !== undefined && 'hang' in fault) return;
  if (fault !== undefined && 'status' in fault) return sendError(res, fault.status);
  if (route === undefined) return sendError(res, 404, 'Not Found');
  if (req.method !== 'GET' && req.method !== 'HEAD') return sendError(res, 405, 'This server is read-only.');

  const dir = await bucketDir(root, route.bucket);
  if (dir === undefined) return sendError(res, 404, 'The specified bucket does not exist.');
  if (!route.objects) {
    const st = await stat(dir);
    return sendJson(res, { kind: 'storage#bucket', id: route.bucket, name: route.bucket, location: 'US', storageClass: 'STANDARD', timeCreated: st.birthtime.toISOString(), updated: st.mtime.toISOString(), metageneration: '1' });
  }
  if (route.object === undefined) {
    const maxResults = Number(query.get('maxResults') ?? '1000');
    if (!Number.isInteger(maxResults) || maxResults < 1) return sendError(res, 400, 'Invalid value for maxResults.');
    const token = query.get('pageToken');
    const page = listPage(await allNames(dir), { prefix: query.get('prefix') ?? '', delimiter: query.get('delimiter') ?? '', maxResults: Math.min(maxResults, 1000), ...(token ? { pageToken: token } : {}) });
    const items = [];
    for (const name of page.items) {
      const obj = await statObject(baseUrl, route.bucket, dir, name).catch(() => undefined);
      if (obj !== undefined) items.push(obj.meta);
    }
    return sendJson(res, { kind: 'storage#objects', ...(page.nextPageToken === undefined ? {} : { nextPageToken: page.nextPageToken }), ...(page.prefixes.length > 0 ? { prefixes: page.prefixes } : {}), ...(items.length > 0 ? { items } : {}) });
  }
  const obj = await statObject(baseUrl, route.bucket, dir, route.object);
  const generation = query.get('generation');
  if (obj === undefined || (generation !== null && generation !== obj.meta.generation)) {
    return sendError(res, 404, `No such object: ${route.bucket}/${route.object}`);
  }
  if (!media) return sendJson(res, obj.meta);
  return serveMedia(req, res, obj, fault !== undefined && 'dropAfterBytes' in fault ? fault.dropAfterBytes : undefined);
}

/**
 * Starts the server. Refuses (TypeError) any host that is not a loopback address and a root that is not a
 * directory: it serves files without authentication, so it must never be reachable from elsewhere.
 */
export async function startLocalGcs(options: LocalGcsOptions): Promise<LocalGcs> {
  const host = options.host ?? '127.0.0.1';
  if (!isLoopback(host)) throw new TypeError(`startLocalGcs: host must be a loopback address (127.0.0.1 or ::1), got "${host}"`);
  const root = await realpath(options.root).catch(() => undefined);
  if (root === undefined || !(await stat(root)).isDirectory()) throw new TypeError(`startLocalGcs: root is not a directory: ${options.root}`);
  let baseUrl = '';
  const server = createServer((req, res) => {
    handle(root, baseUrl, req, res, options.faults).catch((err: unknown) => {
      if (res.headersSent) res.destroy();
      else if (err instanceof InvalidNameError) sendError(res, 400, err.message);
      else sendError(res, 500);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  baseUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    url: baseUrl,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
