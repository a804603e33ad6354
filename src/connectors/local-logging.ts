/**
 * A loopback server speaking Cloud Logging's gRPC API (`google.logging.v2.LoggingServiceV2`: ListLogEntries,
 * TailLogEntries, WriteLogEntries) over an in-memory set of entries. It backs the demo and the tests of log
 * reads with the real `@google-cloud/logging` client, built from the very protos that client loads; it binds
 * to loopback only. Point a client at it with `localLoggingClientOptions` (local-logging-client.ts).
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { GrpcClient, grpc } from 'google-gax';
import type { LogEntryJson, ReadLogEntry } from './log-entry-proto.js';
import { logEntryFromProto, logEntryToProto, parseRfc3339 } from './log-entry-proto.js';

/** The methods a fault hook can see. */
export type LoggingMethod = 'list' | 'tail' | 'write';

/** The gRPC codes a fault can answer with. */
export type LoggingFaultCode = 'DEADLINE_EXCEEDED' | 'PERMISSION_DENIED' | 'UNAVAILABLE' | 'NOT_FOUND' | 'RESOURCE_EXHAUSTED';

/**
 * What a fault hook may do to a call: answer with an error code; never answer (a unary call stays open, a
 * tail sends nothing) until the client's deadline or cancel, or {@link LocalLogging.close}; or drop a tail
 * stream with UNAVAILABLE after it has sent `resetAfter` entries (a unary call answers UNAVAILABLE at once,
 * as a dropped connection looks to it).
 */
export type LoggingFault = { code: LoggingFaultCode } | { hang: true } | { resetAfter: number };

/** Options of {@link startLocalLogging}. */
export interface LocalLoggingOptions {
  /** The entries at start; more come with {@link LocalLogging.append} and WriteLogEntries. */
  readonly entries: readonly LogEntryJson[];
  /** A loopback address: `127.0.0.1` (default), another `127.x.y.z`, or `::1`. */
  readonly host?: string;
  /** 0 (default) picks a free port. */
  readonly port?: number;
  /**
   * Whether an entry passes a request's (non-empty) filter; default: every entry passes. A throw answers
   * INVALID_ARGUMENT with the error's message, so a filter parser's position message reaches the client.
   */
  readonly match?: (filter: string, entry: LogEntryJson) => boolean;
  /** Called for every call before it is served; undefined serves it normally. */
  readonly faults?: (call: { method: LoggingMethod; filter?: string }) => LoggingFault | undefined;
}

/** Counters of what the server saw, for tests that must tell a cancel from an end. */
export interface LocalLoggingStats {
  readonly list: number;
  readonly write: number;
  readonly tailOpened: number;
  readonly tailActive: number;
  /** Tails the client cancelled (the stream upstream ended by the client, not by the server). */
  readonly tailCancelled: number;
}

/** A running server. */
export interface LocalLogging {
  readonly host: string;
  readonly port: number;
  /** `host:port` (`[::1]:port` for IPv6), for `localLoggingClientOptions`. */
  readonly address: string;
  /** Adds entries; open tails receive those that match their filter. TypeError on a malformed entry. */
  append(entries: readonly LogEntryJson[]): void;
  stats(): LocalLoggingStats;
  /** Stops the server and drops every open call, hanging ones and tails included. */
  close(): Promise<void>;
}

const FAULT_TEXT: Readonly<Record<LoggingFaultCode, string>> = {
  DEADLINE_EXCEEDED: 'Deadline exceeded.',
  PERMISSION_DENIED: 'The caller does not have permission',
  UNAVAILABLE: 'The service is currently unavailable.',
  NOT_FOUND: 'Requested entity was not found.',
  RESOURCE_EXHAUSTED: 'Quota exceeded for quota metric \'Read requests\'.',
};

const DEFAULT_PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 1000;
const TAIL_BATCH = 100;
// Stands in for an entry so that a filter that does not parse is refused before any entry is read.
const PROBE: LogEntryJson = { logName: 'projects/-/logs/-', timestamp: '1970-01-01T00:00:00Z' };

interface Stored {
  readonly json: LogEntryJson;
  readonly proto: Record<string, unknown>;
  readonly project: string;
  readonly key: readonly [number, number, number];
}

type Status = { code: number; details: string };

class CallError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

function isLoopback(host: string): boolean {
  return host === '::1' || /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(host);
}

function compareKeys(a: readonly [number, number, number], b: readonly [number, number, number]): number {
  return a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
}

function projectsOf(resourceNames: readonly string[] | undefined): Set<string> {
  if (resourceNames === undefined || resourceNames.length === 0) throw new CallError(grpc.status.INVALID_ARGUMENT, 'resource_names: at least one resource name is required');
  const projects = new Set<string>();
  for (const name of resourceNames) {
    const m = /^projects\/([a-z][a-z0-9-]{0,61}[a-z0-9]?)$/.exec(name);
    if (m?.[1] === undefined) throw new CallError(grpc.status.INVALID_ARGUMENT, `resource_names: unsupported resource name "${name}" (expected projects/PROJECT_ID)`);
    projects.add(m[1]);
  }
  return projects;
}

function loadService(): grpc.ServiceDefinition {
  // The protos the client itself loads, found from the client's own location so a nested install works too.
  const require = createRequire(import.meta.url);
  const fromLogging = createRequire(require.resolve('@google-cloud/logging'));
  const json = fromLogging(`${dirname(fromLogging.resolve('@google-cloud/logging-api/package.json'))}/build/protos/protos.json`) as object;
  // A GrpcClient only to reach the client's proto loading; it makes no call and reads no credentials.
  const pkg = new GrpcClient({}).loadProtoJSON(json) as unknown as { google: { logging: { v2: { LoggingServiceV2: { service: grpc.ServiceDefinition } } } } };
  return pkg.google.logging.v2.LoggingServiceV2.service;
}

/**
 * Starts the server. Refuses (TypeError) a host that is not a loopback address and malformed entries: it
 * serves without authentication, so it must never be reachable from elsewhere.
 */
export async function startLocalLogging(options: LocalLoggingOptions): Promise<LocalLogging> {
  const host = options.host ?? '127.0.0.1';
  if (!isLoopback(host)) throw new TypeError(`startLocalLogging: host must be a loopback address (127.0.0.1 or ::1), got "${host}"`);
  const match = options.match;
  const faults = options.faults;
  const tokenKey = randomBytes(32);
  const stored: Stored[] = [];
  let sorted = true;
  let seq = 0;
  const tails = new Set<Tail>();
  const counts = { list: 0, write: 0, tailOpened: 0, tailCancelled: 0 };

  interface Tail {
    readonly projects: Set<string>;
    readonly filter: string;
    readonly send: (batch: Record<string, unknown>[]) => void;
  }

  function toStored(json: LogEntryJson): Stored {
    const m = /^projects\/([^/]+)\/logs\/[^/]+$/.exec(json.logName);
    if (m?.[1] === undefined) throw new TypeError(`startLocalLogging: logName must be projects/PROJECT/logs/LOG_ID, got "${json.logName}"`);
    const ts = parseRfc3339(json.timestamp);
    return { json, proto: logEntryToProto(json), project: m[1], key: [ts.seconds, ts.nanos, seq++] };
  }

  function passes(filter: string, entry: Stored, projects: Set<string>): boolean {
    if (!projects.has(entry.project)) return false;
    if (match === undefined || filter.trim() === '') return true;
    return match(filter, entry.json);
  }

  function checkFilter(filter: string): void {
    if (match === undefined || filter.trim() === '') return;
    try {
      match(filter, PROBE);
    } catch (error) {
      throw new CallError(grpc.status.INVALID_ARGUMENT, error instanceof Error ? error.message : 'invalid filter');
    }
  }

  function append(entries: readonly LogEntryJson[]): void {
    add(entries.map(toStored));
  }

  function add(added: readonly Stored[]): void {
    stored.push(...added);
    sorted = false;
    for (const tail of tails) {
      const batch = added.filter((e) => passes(tail.filter, e, tail.projects)).map((e) => e.proto);
      for (let i = 0; i < batch.length; i += TAIL_BATCH) tail.send(batch.slice(i, i + TAIL_BATCH));
    }
  }

  function queryHash(projects: Set<string>, filter: string, desc: boolean): string {
    return createHash('sha256').update(JSON.stringify([[...projects].sort(), filter, desc])).digest('base64url').slice(0, 16);
  }

  function signToken(q: string, after: readonly [number, number, number]): string {
    const body = Buffer.from(JSON.stringify({ q, after })).toString('base64url');
    return `${body}.${createHmac('sha256', tokenKey).update(body).digest('base64url')}`;
  }

  function readToken(token: string, q: string): readonly [number, number, number] {
    const [body = '', mac = '', extra] = token.split('.');
    const expected = createHmac('sha256', tokenKey).update(body).digest();
    const given = Buffer.from(mac, 'base64url');
    const bad = new CallError(grpc.status.INVALID_ARGUMENT, 'page_token: invalid page token');
    if (extra !== undefined || given.length !== expected.length || !timingSafeEqual(given, expected)) throw bad;
    const parsed = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as { q?: unknown; after?: unknown };
    if (parsed.q !== q) throw new CallError(grpc.status.INVALID_ARGUMENT, 'page_token: the page token belongs to a different query');
    const after = parsed.after;
    if (!Array.isArray(after) || after.length !== 3 || !after.every((n) => typeof n === 'number')) throw bad;
    return after as [number, number, number];
  }

  interface ListRequest {
    resourceNames?: string[];
    filter?: string;
    orderBy?: string;
    pageSize?: number;
    pageToken?: string;
  }

  function list(req: ListRequest): { entries: Record<string, unknown>[]; nextPageToken: string } {
    const projects = projectsOf(req.resourceNames);
    const filter = req.filter ?? '';
    const order = (req.orderBy ?? '').trim().toLowerCase().replace(/\s+/g, ' ');
    if (!['', 'timestamp', 'timestamp asc', 'timestamp desc'].includes(order)) throw new CallError(grpc.status.INVALID_ARGUMENT, `order_by: unsupported "${req.orderBy}" (timestamp asc or timestamp desc)`);
    const desc = order === 'timestamp desc';
    const pageSize = req.pageSize ?? 0;
    if (!Number.isInteger(pageSize) || pageSize < 0 || pageSize > MAX_PAGE_SIZE) throw new CallError(grpc.status.INVALID_ARGUMENT, `page_size: must be between 0 and ${MAX_PAGE_SIZE}`);
    checkFilter(filter);
    const q = queryHash(projects, filter, desc);
    const after = req.pageToken ? readToken(req.pageToken, q) : undefined;
    if (!sorted) {
      stored.sort((a, b) => compareKeys(a.key, b.key));
      sorted = true;
    }
    const size = pageSize === 0 ? DEFAULT_PAGE_SIZE : pageSize;
    const page: Stored[] = [];
    let more = false;
    for (let i = 0; i < stored.length; i++) {
      const e = stored[desc ? stored.length - 1 - i : i] as Stored;
      if (after !== undefined && (desc ? compareKeys(e.key, after) >= 0 : compareKeys(e.key, after) <= 0)) continue;
      let ok: boolean;
      try {
        ok = passes(filter, e, projects);
      } catch (error) {
        throw new CallError(grpc.status.INVALID_ARGUMENT, error instanceof Error ? error.message : 'invalid filter');
      }
      if (!ok) continue;
      if (page.length === size) {
        more = true;
        break;
      }
      page.push(e);
    }
    const last = page.at(-1);
    return { entries: page.map((e) => e.proto), nextPageToken: more && last !== undefined ? signToken(q, last.key) : '' };
  }

  function faultStatus(fault: LoggingFault): Status | undefined {
    if ('code' in fault) return { code: grpc.status[fault.code], details: FAULT_TEXT[fault.code] };
    if ('resetAfter' in fault) return { code: grpc.status.UNAVAILABLE, details: 'Connection reset by peer' };
    return undefined;
  }

  function unary<Req extends object, Res>(method: LoggingMethod, serve: (req: Req) => Res) {
    return (call: grpc.ServerUnaryCall<Req, Res>, callback: grpc.sendUnaryData<Res>): void => {
      const req = call.request;
      const filter = 'filter' in req && typeof req.filter === 'string' ? req.filter : undefined;
      const fault = faults?.({ method, ...(filter === undefined ? {} : { filter }) });
      if (fault !== undefined) {
        const status = faultStatus(fault);
        if (status !== undefined) callback(status);
        return;
      }
      try {
        callback(null, serve(req));
      } catch (error) {
        if (error instanceof CallError) callback({ code: error.code, details: error.message });
        else callback({ code: grpc.status.INVALID_ARGUMENT, details: error instanceof Error ? error.message : 'invalid request' });
      }
    };
  }

  interface WriteRequest {
    logName?: string;
    resource?: { type?: string; labels?: Record<string, string> } | null;
    labels?: Record<string, string>;
    entries?: ReadLogEntry[];
    dryRun?: boolean;
  }

  function write(req: WriteRequest): object {
    const now = new Date();
    const entries = (req.entries ?? []).map((e) =>
      logEntryFromProto({ ...e, logName: e.logName || req.logName || '', resource: e.resource?.type ? e.resource : (req.resource ?? null), labels: { ...req.labels, ...e.labels }, insertId: e.insertId || `w${seq}` }, now),
    );
    if (entries.length === 0) throw new CallError(grpc.status.INVALID_ARGUMENT, 'entries: at least one entry is required');
    const checked = entries.map(toStored);
    if (req.dryRun !== true) add(checked);
    return {};
  }

  function tail(call: grpc.ServerDuplexStream<{ resourceNames?: string[]; filter?: string }, unknown>): void {
    let subscription: Tail | undefined;
    let started = false;
    let done = false;
    let failed = false;
    counts.tailOpened++;
    const stop = (): void => {
      done = true;
      if (subscription !== undefined) tails.delete(subscription);
    };
    const fail = (status: Status): void => {
      failed = true;
      stop();
      call.emit('error', status);
    };
    call.on('data', (req: { resourceNames?: string[]; filter?: string }) => {
      if (started || done) return; // Only the first request opens the tail; Cloud Logging ignores the rest.
      started = true;
      const filter = req.filter ?? '';
      const fault = faults?.({ method: 'tail', filter });
      if (fault !== undefined && 'hang' in fault) return;
      if (fault !== undefined && 'code' in fault) return fail(faultStatus(fault) as Status);
      let projects: Set<string>;
      try {
        projects = projectsOf(req.resourceNames);
        checkFilter(filter);
      } catch (error) {
        return fail({ code: error instanceof CallError ? error.code : grpc.status.INVALID_ARGUMENT, details: error instanceof Error ? error.message : 'invalid request' });
      }
      const resetAfter = fault !== undefined && 'resetAfter' in fault ? fault.resetAfter : Infinity;
      let sent = 0;
      if (resetAfter <= 0) return fail(faultStatus({ resetAfter }) as Status);
      subscription = {
        projects,
        filter,
        send: (batch) => {
          if (done) return;
          const room = resetAfter - sent;
          const part = batch.slice(0, room);
          sent += part.length;
          call.write({ entries: part, suppressionInfo: [] });
          if (sent >= resetAfter) fail(faultStatus({ resetAfter }) as Status);
        },
      };
      tails.add(subscription);
    });
    call.on('cancelled', () => {
      // The client library may half-close before it cancels: a cancel still counts after that end.
      if (!failed) counts.tailCancelled++;
      stop();
    });
    call.on('end', () => {
      // The client half-closed: nothing more can be asked on this stream, so it ends.
      if (done) return;
      stop();
      call.end();
    });
    call.on('error', stop);
  }

  const server = new grpc.Server();
  server.addService(loadService(), {
    ListLogEntries: unary('list', (req: ListRequest) => {
      counts.list++;
      return list(req);
    }),
    WriteLogEntries: unary('write', (req: WriteRequest) => {
      counts.write++;
      return write(req);
    }),
    TailLogEntries: tail,
  });
  append(options.entries);
  const address = host.includes(':') ? `[${host}]` : host;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${address}:${options.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  return {
    host,
    port,
    address: `${address}:${port}`,
    append,
    stats: () => ({ ...counts, tailActive: tails.size }),
    close: () => {
      tails.clear();
      server.forceShutdown();
      return Promise.resolve();
    },
  };
}
