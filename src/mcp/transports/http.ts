import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { toWebRequest } from '@modelcontextprotocol/node';
import { createMcpHandler, isInitializeRequest, isJsonContentType, isLegacyRequest, WebStandardStreamableHTTPServerTransport, type JSONRPCMessage, type RequestId } from '@modelcontextprotocol/server';
import { SSEServerTransport } from '@modelcontextprotocol/server-legacy/sse';
import { cutDeep } from '../../bounds.js';
import { challenge, extractBearer, metadataPath, protectedResourceMetadata } from '../../identity/bearer.js';
import type { TokenVerifier } from '../../identity/oidc.js';
import { principalKey, principalOf, type Credential, type Principal } from '../../identity/principal.js';
import { readToolCall } from '../intake.js';
import { IntakeDesk, type Screened, type UnservedCall } from '../screen.js';
import { createGovernedServer, refuse, type EncodedResultSink, type GovernedServer, type GovernedServerOptions, type Refusal } from '../server.js';
import { DirectPost, webRequestOf, writeWebResponse } from './respond.js';
import { boundOutput, createSessionLimiter, type SessionCaps, type SessionLease } from './session-limits.js';

export interface HttpOptions extends Omit<GovernedServerOptions, 'transport' | 'sessionId' | 'credential'> {
  readonly host: string;
  readonly port: number;
  /** Largest accepted request body, in bytes. */
  readonly maxBodyBytes: number;
  /** Sessions with no request for this long are closed. */
  readonly sessionIdleMs: number;
  /** Idle connections stay open this long for the next request (default 5 s, Node's). */
  readonly keepAliveMs?: number;
  /** Extra `Host` header values to accept (besides the bound address and loopback names). */
  readonly allowedHosts: readonly string[];
  /** Extra `Origin` values to accept (besides http://<allowed host>). */
  readonly allowedOrigins: readonly string[];
  /** The credential a request carries. */
  readonly credential: (req: IncomingMessage) => Credential;
  readonly health: () => Record<string, unknown>;
  /** When set, every MCP request must carry a valid bearer token (MCP authorization). */
  readonly auth?: HttpAuth;
  readonly log: (level: 'info' | 'warn' | 'error', message: string) => void;
  /** Open sessions allowed per principal and in total (default 32 and 1000). */
  readonly sessionCaps?: SessionCaps;
  /** Unread output one stream may hold before its session is dropped (default 16 MiB). */
  readonly maxSessionBufferBytes?: number;
  /** Audits a session refused at a cap or dropped for unread output; resolves once recorded. */
  readonly onLimited?: (event: HttpLimitEvent) => Promise<void>;
  /** Audits a request refused at the gate (401, 403, 404); resolves once the record is written. */
  readonly onRejected: (rejection: HttpRejection) => Promise<void>;
  /**
   * Other HTTP surfaces on this port (the approval API and console): asked after the Host/Origin check and
   * before the 404; true when it answered the request. They authenticate their own requests.
   */
  readonly routes?: readonly HttpRoutes[];
  /**
   * Aborted when airlock begins to stop: `/healthz` answers 503 "draining" (a load balancer stops sending),
   * new sessions are refused with 503 and `Connection: close` (audited), and sessions already open keep
   * being served, their new calls refused by the pipeline.
   */
  readonly draining?: AbortSignal;
  /** A screened tools/call that no handler took in time (see IntakeDesk): recorded by the caller. */
  readonly onUnserved?: (unserved: UnservedCall) => void;
}

/** A set of routes served next to MCP: answers and returns true, or returns false when the path is not its own. */
export type HttpRoutes = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;

/** A session refused at a cap, or dropped because its client stopped reading. */
export interface HttpLimitEvent {
  readonly id: string;
  readonly transport: 'http' | 'sse';
  readonly sessionId: string;
  readonly credential: Credential;
  /** Refused at a cap, refused because airlock is stopping, or dropped for unread output. */
  readonly kind: 'session_refused' | 'session_draining' | 'session_dropped';
  /** `initialize`, `GET /sse`, or the stream that overflowed (`GET /mcp`, `POST /mcp`). */
  readonly method: string;
  readonly message: string;
  readonly detail: string;
}

export interface HttpAuth {
  readonly verifier: TokenVerifier & { issuers(): string[] };
  /** This server's resource identifier (RFC 8707); default `<base url>/mcp`. */
  readonly resource?: string;
}

/** A request refused by the bearer gate, or a verified caller refused a session id that is not theirs. */
export interface HttpRejection {
  readonly id: string;
  readonly transport: 'http' | 'sse';
  /**
   * 400: no session and not an initialize request, or (with `headerFault`) an MCP-Protocol-Version header
   * this server does not speak; 401: no verified identity; 403: the session belongs to another principal;
   * 404: no such session; 406: an Accept header without the media types of the answer (a POST's JSON and
   * event stream, a GET's event stream); 415: a POST whose Content-Type is not JSON. The record is kept
   * under `principal` (null for 401), never inside the session the request named.
   */
  readonly status: 400 | 401 | 403 | 404 | 406 | 415;
  /** The request was refused for its headers (400, 406, 415), as the SDK's transport refuses them. */
  readonly headerFault?: true;
  /** The verified caller of a 403/404; absent for a 401. */
  readonly principal?: Principal;
  /** The session id the request named, unverified: recorded apart from the record's own `sessionId`. */
  readonly claimedSessionId?: string;
  /** The JSON-RPC method (or `GET /sse`), and for tools/call the tool and its arguments. */
  readonly method: string;
  readonly tool?: string;
  readonly arguments?: unknown;
  readonly detail: string;
}

export interface HttpHandle {
  readonly url: string;
  readonly port: number;
  /** Open MCP sessions (Streamable HTTP and SSE). */
  sessionCount(): number;
  close(): Promise<void>;
}

interface Session {
  readonly kind: 'http' | 'sse';
  /** `principalKey` of the principal that opened the session; other principals may not use it. */
  readonly owner: string | undefined;
  readonly server: GovernedServer;
  readonly transport: WebStandardStreamableHTTPServerTransport | SSEServerTransport;
  /** Request ids in flight (answer not sent yet): a second request with one of them is refused. */
  readonly pending: Set<string>;
  /** Requests whose POST waits to learn whether its answer went out alone (see writeWebResponse). */
  readonly watched: Map<string, { answered: boolean }>;
  /** 2025-era tools/call POSTs that airlock answers itself (see serveDirect), by request id. */
  readonly direct: DirectCalls;
  lastSeen: number;
}

/**
 * The direct POSTs of one session, and the ids of those that ended before their answer (cancelled, or the
 * client went away): what the call still sends is dropped, as the SDK drops it on a closed stream.
 */
interface DirectCalls {
  readonly open: Map<string, DirectPost>;
  readonly gone: Set<string>;
}

/** How many ended direct calls a session remembers, to drop their late messages. */
const GONE_REMEMBERED = 256;

/**
 * Where the audit stage leaves the JSON text it hashed of a direct call's result: the POST sends that text
 * as it is (one encoding per response, and the bytes the agent receives are the bytes the record hashed).
 */
function encodedInto(calls: DirectCalls): EncodedResultSink {
  return {
    expectEncoded(id, result, text, signal) {
      if (!signal.aborted) calls.open.get(idKey(id))?.expectEncoded(result, text);
    },
  };
}

function forget(calls: DirectCalls, key: string): void {
  calls.open.delete(key);
  calls.gone.add(key);
  if (calls.gone.size > GONE_REMEMBERED) calls.gone.delete(calls.gone.values().next().value as string);
}

/** A JSON-RPC id as a map key: `1` and `"1"` are different ids. */
function idKey(id: unknown): string {
  return `${typeof id}:${String(id)}`;
}

function isRequestMessage(message: unknown): message is { method: string; id: RequestId; params?: unknown } {
  return typeof message === 'object' && message !== null && 'method' in message && 'id' in message;
}

/** JSON-RPC batches were removed from MCP in 2025-06-18; sessions that negotiated it or later refuse them. */
function refusesBatches(protocol: string | undefined): boolean {
  return protocol === undefined || protocol >= '2025-06-18';
}

const DEFAULT_SESSION_CAPS: SessionCaps = { maxTotal: 1000, maxPerPrincipal: 32 };
const DEFAULT_SESSION_BUFFER_BYTES = 16 * 1024 * 1024;

class BodyTooLargeError extends Error {}

/** A body airlock could not read: refused once the caller is known, so the refusal is audited under them. */
interface Unreadable {
  readonly status: 400 | 413;
  readonly refused: Screened & { kind: 'refuse' };
}

type AuthedRequest = IncomingMessage & { auth?: { token: string; clientId: string; scopes: string[]; extra: Record<string, unknown> } };

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** A JSON-RPC error body, as MCP clients expect even for HTTP-level refusals. */
function rpcError(res: ServerResponse, status: number, code: number, message: string, id: unknown = null): void {
  sendJson(res, status, { jsonrpc: '2.0', error: { code, message }, id });
}

/** The body as text, up to `limit` bytes. Read with stream events: an async iterator costs a promise per chunk. */
function readBody(req: IncomingMessage, limit: number): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > limit) return Promise.reject(new BodyTooLargeError());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (error?: Error): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
      if (error === undefined) resolve(chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks).toString('utf8'));
      else reject(error);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) done(new BodyTooLargeError());
      else chunks.push(chunk);
    };
    const onEnd = (): void => done();
    const onError = (error: Error): void => done(error);
    const onClose = (): void => {
      if (!req.complete) done(new Error('the request was closed before its body was read'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/**
 * Streamable HTTP (`/mcp`, stateful sessions) and legacy HTTP+SSE (`GET /sse`, `POST /messages`) on one
 * port, plus `GET /healthz`. Requests whose Host or Origin is not ours are refused (DNS rebinding).
 */
export async function serveHttp(options: HttpOptions): Promise<HttpHandle> {
  const sessions = new Map<string, Session>();
  const limiter = createSessionLimiter(options.sessionCaps ?? DEFAULT_SESSION_CAPS);
  const maxBuffered = options.maxSessionBufferBytes ?? DEFAULT_SESSION_BUFFER_BYTES;
  const recordLimit = (event: Omit<HttpLimitEvent, 'id'>): string => {
    const id = randomUUID();
    options.log('warn', `http: ${event.kind === 'session_dropped' ? 'dropped' : 'refused a new'} ${event.transport} session${event.sessionId === '' ? '' : ` ${event.sessionId}`}: ${event.detail} [audit id: ${id}]`);
    void options.onLimited?.({ id, ...event }).catch((e: unknown) => options.log('error', `audit write failed for ${event.kind} ${id}: ${String(e)}`));
    return id;
  };
  const draining = (): boolean => options.draining?.aborted === true;
  /**
   * Takes a session slot, or answers the refusal (audited) and returns undefined: at a cap, or while airlock
   * stops. A stopping airlock also closes the connection, so the client's retry opens a new one, which a load
   * balancer sends to another instance.
   */
  const admitSession = async (res: ServerResponse, transport: 'http' | 'sse', credential: Credential, method: string): Promise<SessionLease | undefined> => {
    const admission = draining() ? undefined : limiter.admit(ownerOf(credential));
    if (admission?.ok === true) return admission.lease;
    const refusal: { kind: HttpLimitEvent['kind']; code: string; status: number; message: string; detail: string; headers: Record<string, string> } =
      admission === undefined
        ? { kind: 'session_draining', code: 'SHUTTING_DOWN', status: 503, message: 'airlock is shutting down and takes no new sessions; connect again in a moment.', detail: 'a new session was asked for after airlock began to stop', headers: { connection: 'close' } }
        : { kind: 'session_refused', code: 'TOO_MANY_SESSIONS', status: admission.status, message: admission.message, detail: admission.detail, headers: admission.status === 503 ? { 'retry-after': '30' } : {} };
    const id = randomUUID();
    const event = { id, transport, sessionId: '', credential, kind: refusal.kind, method, message: refusal.message, detail: refusal.detail } as const;
    options.log('warn', `http: refused a new ${transport} session: ${refusal.detail} [audit id: ${id}]`);
    try {
      await options.onLimited?.(event);
    } catch (e) {
      options.log('error', `audit write failed for refused session ${id}: ${String(e)}`);
    }
    sendJson(res, refusal.status, { jsonrpc: '2.0', error: { code: -32000, message: `${refusal.message} [code: ${refusal.code}; audit id: ${id}]` }, id: null }, refusal.headers);
    return undefined;
  };
  let port = options.port;
  /**
   * Host header values we answer to: `name:port` for loopback names, the bound host and --allowed-host. An
   * --allowed-host given without a port also matches the bare name: behind a load balancer or TLS proxy
   * (Cloud Run, an ingress) clients reach the default port of https, and send the Host header without one.
   */
  const allowedHostValues = (): Set<string> => {
    const bracket = (name: string): string => (name.includes(':') && !name.startsWith('[') ? `[${name}]` : name);
    const hasPort = (name: string): boolean => /^[^:[\]]+:\d+$|^\[[^\]]+\]:\d+$/.test(name);
    const names = ['127.0.0.1', 'localhost', '[::1]', ...options.allowedHosts];
    if (!LOOPBACK.has(options.host) && options.host !== '0.0.0.0' && options.host !== '::') names.push(options.host);
    const values = new Set<string>();
    for (const name of names.map((n) => n.toLowerCase())) {
      values.add(`${bracket(name)}:${port}`);
      if (hasPort(name)) values.add(name);
    }
    for (const name of options.allowedHosts.map((n) => n.toLowerCase())) if (!hasPort(name)) values.add(bracket(name));
    return values;
  };
  let hostValues = new Set<string>();

  /** One desk for every server instance of this HTTP server: 2026-07-28 requests get an instance each. */
  const desk = new IntakeDesk(undefined, undefined, options.onUnserved);
  const reportError = (where: string) => (error: Error): void => options.log('warn', `${where}: ${error.message}`);
  const serverFor = (kind: 'http' | 'sse', sessionId: () => string, direct?: DirectCalls): GovernedServer =>
    createGovernedServer(
      {
        ...options,
        ...(direct === undefined ? {} : { encodedResults: encodedInto(direct) }),
        transport: kind,
        sessionId,
        credential: (authInfo) => {
          const extra = (authInfo as { extra?: { credential?: Credential } } | undefined)?.extra;
          return extra?.credential ?? { kind: 'none' };
        },
        onerror: reportError(kind === 'sse' ? 'sse' : 'http'),
      },
      desk,
    );
  /** 2026-07-28 requests: stateless, one server instance per request, no session id. */
  let modernInFlight = 0;
  const modern = createMcpHandler(() => serverFor('http', () => ''), {
    legacy: 'reject',
    onerror: reportError('http (2026-07-28)'),
    maxRequestBodySize: options.maxBodyBytes,
  });

  const attachCredential = (req: AuthedRequest, credential: Credential): void => {
    // The token itself is not passed on: handlers get the verified principal only.
    req.auth = { token: '', clientId: 'airlock-transport', scopes: [], extra: { credential } };
  };

  const baseUrl = (): string => {
    const displayHost = options.host.includes(':') ? `[${options.host}]` : options.host;
    return `http://${displayHost === '0.0.0.0' || displayHost === '[::]' ? '127.0.0.1' : displayHost}:${port}`;
  };
  const resourceUrl = (): string => options.auth?.resource ?? `${baseUrl()}/mcp`;
  const metadataUrl = (): string => {
    const resource = new URL(resourceUrl());
    return `${resource.origin}${metadataPath(resource.pathname)}`;
  };

  const ownerOf = (credential: Credential): string | undefined => {
    const principal = principalOf(credential);
    return principal === undefined ? undefined : principalKey(principal);
  };

  /** Describes a JSON-RPC body for the audit record of a refused request. */
  const describe = (body: unknown): Pick<HttpRejection, 'method' | 'tool' | 'arguments'> => {
    const msg = (Array.isArray(body) ? body[0] : body) as { method?: unknown; params?: unknown } | undefined;
    const method = typeof msg?.method === 'string' ? msg.method.slice(0, 100) : 'unknown';
    if (method === 'tools/call') {
      // Read as the governed server reads it: arguments cut at the depth bound, whatever their shape.
      const call = readToolCall(msg?.params);
      return { method, tool: call.toolName.slice(0, 100), arguments: call.rawArguments };
    }
    return { method };
  };

  /**
   * The bearer gate: every MCP request is verified on its own, so a session never outlives its token.
   * Refusals get 401 with a challenge naming the protected-resource metadata, and an audit record.
   */
  const authenticate = async (
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    transport: 'http' | 'sse',
    claimedSessionId: string | undefined,
    what: Pick<HttpRejection, 'method' | 'tool' | 'arguments'>,
  ): Promise<Credential | undefined> => {
    const auth = options.auth;
    if (auth === undefined) return options.credential(req);
    const extracted = extractBearer(req.headers.authorization, url);
    let detail: string;
    let error: { code: 'invalid_token' | 'invalid_request'; description: string } | undefined;
    if (extracted.kind === 'token') {
      try {
        const verified = await auth.verifier.verify(extracted.token);
        return { kind: 'verified', principal: verified.principal, expiresAt: verified.expiresAt };
      } catch (e) {
        detail = e instanceof Error ? e.message : String(e);
        error = { code: 'invalid_token', description: 'The access token is invalid or expired' };
      }
    } else if (extracted.kind === 'in_query') {
      detail = 'token passed in the query string';
      error = { code: 'invalid_request', description: 'Send the token in the Authorization header, never in the URL' };
    } else if (extracted.kind === 'malformed') {
      detail = 'Authorization header is not "Bearer <token>"';
      error = { code: 'invalid_request', description: 'The Authorization header must be Bearer <token>' };
    } else {
      detail = 'no Authorization header';
    }
    const id = await recordRejection({ transport, status: 401, ...claimed(claimedSessionId), ...what, detail });
    const message = error === undefined ? 'Unauthorized: a bearer token is required' : `Unauthorized: ${error.description}`;
    const text = JSON.stringify({ jsonrpc: '2.0', error: { code: -32001, message: `${message} [code: UNAUTHENTICATED; audit id: ${id}]` }, id: null });
    res.writeHead(401, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      'www-authenticate': challenge(metadataUrl(), error),
    });
    res.end(text);
    return undefined;
  };

  const claimed = (sessionId: string | undefined): Pick<HttpRejection, 'claimedSessionId'> =>
    sessionId === undefined || sessionId === '' ? {} : { claimedSessionId: sessionId.slice(0, 200) };

  /** Writes the one audit record of a refused request; a failed write is logged, the refusal stands. */
  const recordRejection = async (rejection: Omit<HttpRejection, 'id'>): Promise<string> => {
    const id = randomUUID();
    try {
      await options.onRejected({ id, ...rejection });
    } catch (e) {
      options.log('error', `audit write failed for refused request ${id}: ${String(e)}`);
    }
    return id;
  };

  /**
   * A verified caller named a session that is not theirs (403) or does not exist (404): refused and
   * recorded under the caller's own identity, outside the named session.
   */
  const refuseSession = async (
    res: ServerResponse,
    transport: 'http' | 'sse',
    credential: Credential,
    status: 403 | 404,
    sessionId: string,
    what: Pick<HttpRejection, 'method' | 'tool' | 'arguments'>,
    message: string,
  ): Promise<void> => {
    const principal = principalOf(credential);
    const detail = status === 403 ? 'the session belongs to another principal' : 'no such session';
    const id = await recordRejection({ transport, status, ...(principal === undefined ? {} : { principal }), ...claimed(sessionId), ...what, detail });
    rpcError(res, status, status === 403 ? -32000 : -32001, `${message} [audit id: ${id}]`);
  };

  const checkOrigin = (req: IncomingMessage, res: ServerResponse): boolean => {
    const host = (req.headers.host ?? '').toLowerCase();
    if (!hostValues.has(host)) {
      rpcError(res, 403, -32000, `Forbidden: Host header "${host.slice(0, 100)}" is not allowed (DNS rebinding protection; see --allowed-host)`);
      return false;
    }
    const origin = req.headers.origin;
    if (origin !== undefined) {
      const allowed = options.allowedOrigins.includes(origin) || [...hostValues].some((h) => origin.toLowerCase() === `http://${h}`);
      if (!allowed) {
        rpcError(res, 403, -32000, `Forbidden: Origin "${origin.slice(0, 100)}" is not allowed (see --allowed-origin)`);
        return false;
      }
    }
    return true;
  };

  /** The body as JSON, or why it cannot be read (answered and audited once the caller is known). */
  const parseJsonBody = async (req: IncomingMessage): Promise<{ ok: true; body: unknown } | ({ ok: false } & Unreadable)> => {
    let text: string;
    try {
      text = await readBody(req, options.maxBodyBytes);
    } catch (error) {
      if (error instanceof BodyTooLargeError) {
        req.resume();
        return { ok: false, status: 413, refused: IntakeDesk.unreadable('body', `too large: the limit is ${options.maxBodyBytes} bytes (--max-body-bytes); it was not read`, -32600) };
      }
      return { ok: false, status: 400, refused: IntakeDesk.unreadable('body', 'could not be read', -32600) };
    }
    try {
      return { ok: true, body: JSON.parse(text) as unknown };
    } catch {
      return { ok: false, status: 400, refused: IntakeDesk.unreadable('body', 'not valid JSON', -32700) };
    }
  };

  /** Answers refused messages: each is run through the pipeline (audited under the caller) first. */
  const answerRefused = async (res: ServerResponse, status: number, kind: 'http' | 'sse', credential: Credential, sessionId: string, refused: readonly (Screened & { kind: 'refuse' })[], batch: boolean, protocol?: string): Promise<void> => {
    const answers: Refusal[] = [];
    for (const r of refused) answers.push(await refuse(options, r, { transport: kind, sessionId, credential, ...(protocol === undefined ? {} : { protocol }) }));
    sendJson(res, status, batch ? answers : answers[0]);
  };

  /**
   * Screens a parsed body with the session's desk. Returns the body for the SDK (tools/call params under a
   * ticket), or answers the refusal (400, audited) and returns undefined. A batch with one refused
   * message is refused whole.
   */
  const screenBody = async (res: ServerResponse, body: unknown, kind: 'http' | 'sse', credential: Credential, sessionId: string): Promise<{ body: unknown } | undefined> => {
    const batch = Array.isArray(body);
    const screened = (batch ? body : [body]).map((m) => desk.screen(m, { transport: kind, sessionId, credential }));
    const refused = screened.filter((x): x is Screened & { kind: 'refuse' } => x.kind === 'refuse');
    if (batch && screened.length === 0) refused.push(IntakeDesk.unreadable('body', 'an empty batch', -32600));
    if (refused.length > 0) {
      await answerRefused(res, 400, kind, credential, sessionId, refused, batch && screened.length > 0);
      return undefined;
    }
    const messages = screened.map((x) => (x as Screened & { kind: 'pass' }).message);
    return { body: batch ? messages : messages[0] };
  };

  /**
   * The header checks of the SDK session transport (a POST's Accept and Content-Type, a GET's Accept, and the
   * MCP-Protocol-Version of any request after initialize), with its statuses and messages: airlock makes them
   * itself, so that such a refusal is recorded and a tools/call served directly has passed them too.
   */
  const headerFault = (req: IncomingMessage, transport: WebStandardStreamableHTTPServerTransport | undefined): { readonly status: 400 | 406 | 415; readonly message: string } | undefined => {
    const accept = req.headers.accept;
    if (req.method === 'GET') {
      if (accept === undefined || !accept.includes('text/event-stream')) return { status: 406, message: 'Not Acceptable: Client must accept text/event-stream' };
    } else if (req.method === 'POST') {
      if (accept === undefined || !accept.includes('application/json') || !accept.includes('text/event-stream')) {
        return { status: 406, message: 'Not Acceptable: Client must accept both application/json and text/event-stream' };
      }
      // Node keeps the first of repeated Content-Type headers, where the SDK's web headers join them all.
      let contentTypes = 0;
      const raw = req.rawHeaders;
      for (let i = 0; i < raw.length; i += 2) if ((raw[i] as string).length === 12 && (raw[i] as string).toLowerCase() === 'content-type') contentTypes++;
      if (contentTypes !== 1 || !isJsonContentType(req.headers['content-type'])) return { status: 415, message: 'Unsupported Media Type: Content-Type must be application/json' };
    }
    // initialize names its version in the body (no transport yet): the header is checked on later requests.
    const version = req.headers['mcp-protocol-version'];
    if (version === undefined || transport === undefined) return undefined;
    const supported = (transport as unknown as { _supportedProtocolVersions?: unknown })._supportedProtocolVersions;
    if (Array.isArray(supported) && typeof version === 'string' && supported.includes(version)) return undefined;
    return { status: 400, message: `Bad Request: Unsupported protocol version: ${String(version)} (supported versions: ${Array.isArray(supported) ? supported.join(', ') : ''})` };
  };

  /**
   * A 2025-era request refused for its headers (see headerFault): answered with the SDK transport's status,
   * code and message, and recorded under the caller, like any refused request.
   */
  const refuseHeaders = async (res: ServerResponse, credential: Credential, sessionId: string | undefined, what: Pick<HttpRejection, 'method' | 'tool' | 'arguments'>, fault: { readonly status: 400 | 406 | 415; readonly message: string }): Promise<void> => {
    const principal = principalOf(credential);
    const id = await recordRejection({ transport: 'http', status: fault.status, headerFault: true, ...(principal === undefined ? {} : { principal }), ...claimed(sessionId), ...what, detail: fault.message });
    rpcError(res, fault.status, -32000, `${fault.message} [audit id: ${id}]`);
  };

  /** Ends a session at once: its transport closes, the server with it, and its slot is released. */
  const endSession = (id: string, session: Session, why: string): void => {
    sessions.delete(id);
    options.log('info', `http: ${session.kind} session ${id} ended: ${why}`);
    void session.transport.close().catch(() => undefined);
  };

  /**
   * Keeps `pending` to the requests whose answer has not been sent, and routes the answer of a direct POST,
   * and every message related to its request, to that POST instead of the SDK's streams.
   */
  const trackAnswers = (transport: WebStandardStreamableHTTPServerTransport | SSEServerTransport, pending: Set<string>, watched?: Map<string, { answered: boolean }>, direct?: DirectCalls): void => {
    const send: (message: JSONRPCMessage, sendOptions?: { relatedRequestId?: RequestId }) => Promise<void> = transport.send.bind(transport);
    transport.send = (message: JSONRPCMessage, sendOptions?: { relatedRequestId?: RequestId }) => {
      const answer = 'id' in message && ('result' in message || 'error' in message);
      let key: string | undefined;
      if (answer) {
        key = idKey(message.id);
        pending.delete(key);
        const watch = watched?.get(key);
        if (watch !== undefined) watch.answered = true;
      } else if (sendOptions?.relatedRequestId !== undefined) key = idKey(sendOptions.relatedRequestId);
      if (direct !== undefined && key !== undefined && (direct.open.size > 0 || direct.gone.size > 0)) {
        const post = direct.open.get(key);
        if (post !== undefined) {
          post.write(message, answer);
          if (answer) direct.open.delete(key);
          return Promise.resolve();
        }
        if (direct.gone.has(key)) {
          if (answer) direct.gone.delete(key);
          return Promise.resolve();
        }
      }
      return send(message, sendOptions);
    };
  };

  /**
   * Serves a POST of one 2025-era tools/call without the SDK's transport: true when the session's server took
   * it (see GovernedServer.tryDirect); its answer and related messages reach `res` through trackAnswers.
   * A POST whose headers the SDK's transport would refuse never gets here (see headerFault).
   */
  const serveDirect = (req: AuthedRequest, res: ServerResponse, session: Session, sessionId: string, message: { method: string; id: RequestId; params?: unknown }): boolean => {
    if (!session.server.tryDirect(message, req.auth === undefined ? undefined : { authInfo: req.auth })) return false;
    // The handler starts in a microtask (see GovernedServer.serveDirect): the POST is registered before it
    // can send anything related to the request.
    const key = idKey(message.id);
    const post = new DirectPost(res, sessionId);
    session.direct.open.set(key, post);
    res.on('close', () => {
      if (session.direct.open.get(key) === post) forget(session.direct, key);
      post.release();
    });
    return true;
  };

  /**
   * Hands a request to a session's transport and writes its answer. A POST with exactly one request is
   * watched, so that an answer that went out alone is sent as one JSON body (see writeWebResponse).
   */
  const serveOnTransport = async (req: AuthedRequest, res: ServerResponse, transport: WebStandardStreamableHTTPServerTransport, body: unknown, watched: Map<string, { answered: boolean }>, single: RequestId | undefined): Promise<void> => {
    const key = single === undefined ? undefined : idKey(single);
    const watch = { answered: false };
    if (key !== undefined) watched.set(key, watch);
    try {
      const response = await transport.handleRequest(webRequestOf(req), { ...(req.auth === undefined ? {} : { authInfo: req.auth }), ...(body === undefined ? {} : { parsedBody: body }) });
      await writeWebResponse(res, response, key === undefined ? undefined : () => watch.answered);
    } finally {
      if (key !== undefined && watched.get(key) === watch) watched.delete(key);
    }
  };

  /**
   * Requests a client cancelled (notifications/cancelled) get no answer: the SDK aborts them, and airlock
   * closes the POST stream that waited for the answer and forgets the id.
   */
  const closeCancelled = (session: Session, body: unknown): void => {
    for (const message of Array.isArray(body) ? body : [body]) {
      const m = message as { method?: unknown; id?: unknown; params?: { requestId?: unknown } } | null;
      if (m === null || typeof m !== 'object' || m.method !== 'notifications/cancelled' || 'id' in m) continue;
      const target = m.params?.requestId;
      if ((typeof target !== 'string' && typeof target !== 'number') || !session.pending.delete(idKey(target))) continue;
      const post = session.direct.open.get(idKey(target));
      if (post !== undefined) {
        forget(session.direct, idKey(target));
        post.end();
      } else if (session.transport instanceof WebStandardStreamableHTTPServerTransport) session.transport.closeSSEStream(target);
    }
  };

  /**
   * A refusal of one request that names its id (the screen's refusals of unreadable input name none). A
   * tools/call was screened already: its ticket is taken here, so that the call is recorded once, with its
   * arguments as received, and not again as unserved when the ticket would expire.
   */
  const requestRefusal = (message: { method: string; id: RequestId; params?: unknown }, path: string, text: string): Screened & { kind: 'refuse' } => {
    const call = message.method === 'tools/call' ? (desk.unserved(message) ?? readToolCall(message.params)) : { toolName: message.method.slice(0, 100), rawArguments: null, issues: [] };
    return { kind: 'refuse', id: message.id, code: -32600, call: { toolName: call.toolName, rawArguments: call.rawArguments, issues: [{ path, message: text }, ...call.issues] } };
  };

  /**
   * A body with a request whose id is already in flight is refused whole, as the screen refuses a batch with
   * one bad message: every request in it is answered and recorded, none is left without an answer.
   */
  const duplicateRefusals = (requests: readonly { method: string; id: RequestId; params?: unknown }[], duplicates: readonly unknown[]): (Screened & { kind: 'refuse' })[] =>
    requests.map((m) =>
      duplicates.includes(m)
        ? requestRefusal(m, 'id', `a request with id ${JSON.stringify(m.id).slice(0, 64)} is already in flight on this session; use a new id`)
        : requestRefusal(m, 'message', 'refused with its batch: another request in it has an id already in flight on this session'),
    );

  /**
   * The tools/calls of a 2026-07-28 body that the SDK refused before any handler took them (its check of the
   * Mcp-Method and Mcp-Name headers against the body): refused again here with the SDK's code and text, so
   * that each is audited like every other call that reaches airlock.
   */
  const unservedCalls = async (response: Response, body: unknown): Promise<(Screened & { kind: 'refuse' })[]> => {
    const waiting = (Array.isArray(body) ? body : [body]).flatMap((m) => {
      const call = desk.unserved(m);
      return call === undefined ? [] : [{ id: (m as { id: RequestId }).id, call }];
    });
    if (waiting.length === 0) return [];
    const answer = (await response.json().catch(() => undefined)) as { error?: { code?: unknown; message?: unknown } } | { error?: { code?: unknown; message?: unknown } }[] | undefined;
    const error = (Array.isArray(answer) ? answer[0] : answer)?.error;
    const code = typeof error?.code === 'number' ? error.code : -32600;
    const text = typeof error?.message === 'string' ? error.message.slice(0, 500) : `refused with HTTP ${response.status}`;
    return waiting.map(({ id, call }) => ({ kind: 'refuse', id, code, call: { ...call, issues: [{ path: 'headers', message: text }, ...call.issues] } }));
  };

  /**
   * A 2026-07-28 request: served statelessly by a fresh server instance (no session id). The body was
   * screened like any other; a client that disconnects aborts the call (the request's signal).
   */
  const handleModern = async (req: AuthedRequest, res: ServerResponse, body: unknown, credential: Credential): Promise<void> => {
    const screened = await screenBody(res, body, 'http', credential, '');
    if (screened === undefined) return;
    // A tools/call reaches the SDK as a shallow ticket; other requests keep their params, cut at the depth
    // bound so that the SDK's JSON.stringify of the body cannot overflow the stack.
    const sdkBody = cutDeep(screened.body);
    const gone = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) gone.abort();
    });
    const request = await toWebRequest(req, sdkBody, { signal: gone.signal, maxRequestBodySize: options.maxBodyBytes });
    modernInFlight++;
    let response: Response;
    try {
      response = await modern.fetch(request, { ...(req.auth === undefined ? {} : { authInfo: req.auth }), parsedBody: sdkBody });
    } finally {
      modernInFlight--;
    }
    if (res.destroyed) return;
    if (response.status >= 400) {
      const unserved = await unservedCalls(response, sdkBody);
      if (unserved.length > 0) {
        // The era the SDK routed it by; the header names the revision (the SDK refuses a request without one).
        const version = req.headers['mcp-protocol-version'];
        await answerRefused(res, response.status, 'http', credential, '', unserved, Array.isArray(sdkBody), typeof version === 'string' ? version.slice(0, 32) : undefined);
        return;
      }
    }
    res.writeHead(response.status, Object.fromEntries(response.headers));
    if (response.body === null) {
      res.end();
      return;
    }
    const stream = Readable.fromWeb(response.body as WebReadableStream<Uint8Array>);
    res.on('close', () => stream.destroy());
    stream.on('error', () => res.destroy());
    stream.pipe(res);
  };

  const handleMcp = async (req: AuthedRequest, res: ServerResponse, url: URL): Promise<void> => {
    const header = req.headers['mcp-session-id'];
    const sessionId = Array.isArray(header) ? header[0] : header;
    let body: unknown;
    let unreadable: Unreadable | undefined;
    if (req.method === 'POST') {
      const parsed = await parseJsonBody(req);
      if (parsed.ok) body = parsed.body;
      else unreadable = parsed;
    } else if (req.method !== 'GET' && req.method !== 'DELETE') {
      rpcError(res, 405, -32000, 'Method not allowed');
      return;
    }
    const what = unreadable !== undefined ? { method: 'POST /mcp' } : req.method === 'POST' ? describe(body) : { method: `${req.method ?? 'GET'} /mcp` };
    const credential = await authenticate(req, res, url, 'http', sessionId, what);
    if (credential === undefined) return;
    if (unreadable !== undefined) {
      // Recorded under the caller, outside any session the request named.
      await answerRefused(res, unreadable.status, 'http', credential, '', [unreadable.refused], false);
      return;
    }
    attachCredential(req, credential);
    // Each POST is routed by era: one that names a session is 2025-era (2026-07-28 has no sessions); any
    // other that claims 2026-07-28 in its _meta envelope is served statelessly. The SDK re-serialises the
    // body it routes with JSON.stringify, which overflows the stack on a few thousand levels of nesting:
    // it gets a copy cut at the depth bound (the envelope it reads sits a few levels down).
    if (req.method === 'POST' && sessionId === undefined) {
      const routed = cutDeep(body);
      if (!(await isLegacyRequest(await toWebRequest(req, routed, { maxRequestBodySize: options.maxBodyBytes }), routed, { maxRequestBodySize: options.maxBodyBytes }))) {
        await handleModern(req, res, body, credential);
        return;
      }
    }
    if (sessionId !== undefined) {
      const session = sessions.get(sessionId);
      if (session === undefined || session.kind !== 'http') {
        await refuseSession(res, 'http', credential, 404, sessionId, what, 'Session not found: start a new session with an initialize request');
        return;
      }
      if (session.owner !== ownerOf(credential)) {
        await refuseSession(res, 'http', credential, 403, sessionId, what, 'Forbidden: this session belongs to another principal');
        return;
      }
      session.lastSeen = Date.now();
      const transport = session.transport as WebStandardStreamableHTTPServerTransport;
      const fault = headerFault(req, transport);
      if (fault !== undefined) {
        await refuseHeaders(res, credential, sessionId, what, fault);
        return;
      }
      let requestIds: RequestId[] = [];
      if (req.method === 'POST') {
        const screened = await screenBody(res, body, 'http', credential, sessionId);
        if (screened === undefined) return;
        body = screened.body;
        const protocol = session.server.getNegotiatedProtocolVersion();
        if (Array.isArray(body) && refusesBatches(protocol)) {
          // Each request of the batch is answered (and audited) with the refusal, under its own id.
          const text = `JSON-RPC batches are not accepted on protocol ${protocol ?? '2025-06-18'} and later; send one message per request`;
          const refused = (body as unknown[]).map((m) => (isRequestMessage(m) ? requestRefusal(m, 'message', text) : IntakeDesk.unreadable('message', text, -32600)));
          await answerRefused(res, 400, 'http', credential, sessionId, refused, true);
          return;
        }
        const requests = (Array.isArray(body) ? body : [body]).filter(isRequestMessage);
        const duplicates = requests.filter((m) => session.pending.has(idKey(m.id)));
        if (duplicates.length > 0) {
          await answerRefused(res, 400, 'http', credential, sessionId, duplicateRefusals(requests, duplicates), Array.isArray(body));
          return;
        }
        requestIds = requests.map((m) => m.id);
        for (const id of requestIds) {
          session.pending.add(idKey(id));
          // A new request with the id of an ended direct call (a single request or a batch member): its
          // answers are this one's, not late ones of that call.
          session.direct.gone.delete(idKey(id));
        }
        // A client that goes away mid-call cancels it, as notifications/cancelled would.
        res.on('close', () => {
          for (const id of requestIds) {
            if (!session.pending.has(idKey(id))) continue;
            session.pending.delete(idKey(id));
            transport.onmessage?.({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: 'the client disconnected' } });
          }
        });
      }
      boundOutput(res, maxBuffered, (buffered) => {
        recordLimit({ transport: 'http', sessionId, credential, kind: 'session_dropped', method: `${req.method ?? 'GET'} /mcp`, message: 'Session dropped: its client stopped reading', detail: `${buffered} bytes of output unread (limit ${maxBuffered})` });
        void transport.close().catch(() => undefined);
      });
      if (req.method === 'POST' && requestIds.length === 1 && isRequestMessage(body) && serveDirect(req, res, session, sessionId, body)) return;
      if (req.method === 'GET') {
        // The client's stream for server messages: when it closes, the client has gone.
        res.on('close', () => {
          if (res.statusCode === 200 && sessions.get(sessionId) === session) endSession(sessionId, session, 'its GET stream closed');
        });
      }
      await serveOnTransport(req, res, transport, body, session.watched, requestIds.length === 1 && !Array.isArray(body) ? requestIds[0] : undefined);
      if (req.method === 'POST') closeCancelled(session, body);
      return;
    }
    if (req.method !== 'POST' || !isInitializeRequest(body)) {
      const principal = principalOf(credential);
      const id = await recordRejection({ transport: 'http', status: 400, ...(principal === undefined ? {} : { principal }), ...what, detail: 'no session id, and the request is not initialize' });
      rpcError(res, 400, -32000, `Bad Request: no valid session id; the first request must be initialize [audit id: ${id}]`);
      return;
    }
    const fault = headerFault(req, undefined);
    if (fault !== undefined) {
      await refuseHeaders(res, credential, undefined, what, fault);
      return;
    }
    const lease = await admitSession(res, 'http', credential, 'initialize');
    if (lease === undefined) return;
    let id = '';
    const pending = new Set<string>();
    const watched = new Map<string, { answered: boolean }>();
    const direct: DirectCalls = { open: new Map(), gone: new Set() };
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (newId) => {
        id = newId;
        sessions.set(newId, { kind: 'http', owner: ownerOf(credential), server, transport, pending, watched, direct, lastSeen: Date.now() });
      },
    });
    trackAnswers(transport, pending, watched, direct);
    const server = serverFor('http', () => id, direct);
    const screened = await screenBody(res, body, 'http', credential, '');
    if (screened === undefined) {
      lease.release();
      return;
    }
    body = screened.body;
    transport.onclose = () => {
      lease.release();
      if (id !== '') sessions.delete(id);
      // As the SDK closes its own streams: a direct POST still waiting ends without an answer.
      for (const post of direct.open.values()) post.end();
      direct.open.clear();
    };
    transport.onerror = reportError('http');
    await server.connect(transport);
    try {
      await serveOnTransport(req, res, transport, body, watched, (body as { id: RequestId }).id);
    } finally {
      // An initialize that did not open a session holds no slot.
      if (id === '') lease.release();
    }
  };

  const handleSse = async (req: AuthedRequest, res: ServerResponse, url: URL): Promise<void> => {
    const credential = await authenticate(req, res, url, 'sse', undefined, { method: 'GET /sse' });
    if (credential === undefined) return;
    const lease = await admitSession(res, 'sse', credential, 'GET /sse');
    if (lease === undefined) return;
    // The frozen SSE transport writes every message with res.write and ignores backpressure.
    boundOutput(res, maxBuffered, (buffered) => {
      recordLimit({ transport: 'sse', sessionId: transport.sessionId, credential, kind: 'session_dropped', method: 'GET /sse', message: 'Session dropped: its client stopped reading', detail: `${buffered} bytes of output unread (limit ${maxBuffered})` });
    });
    const transport = new SSEServerTransport('/messages', res);
    const server = serverFor('sse', () => transport.sessionId);
    const pending = new Set<string>();
    trackAnswers(transport, pending);
    transport.onerror = reportError('sse');
    sessions.set(transport.sessionId, { kind: 'sse', owner: ownerOf(credential), server, transport, pending, watched: new Map(), direct: { open: new Map(), gone: new Set() }, lastSeen: Date.now() });
    res.on('close', () => {
      // The client closed its stream: the session ends now, not at the idle reap.
      lease.release();
      if (sessions.delete(transport.sessionId)) options.log('info', `http: sse session ${transport.sessionId} ended: its stream closed`);
      void server.close().catch(() => undefined);
    });
    await server.connect(transport);
  };

  const handleMessages = async (req: AuthedRequest, res: ServerResponse, url: URL): Promise<void> => {
    const sessionId = url.searchParams.get('sessionId') ?? '';
    const parsed = await parseJsonBody(req);
    // Authenticate before looking the session up: an anonymous request learns nothing about which ids exist.
    const what = parsed.ok ? describe(parsed.body) : { method: 'POST /messages' };
    const credential = await authenticate(req, res, url, 'sse', sessionId, what);
    if (credential === undefined) return;
    if (!parsed.ok) {
      await answerRefused(res, parsed.status, 'sse', credential, '', [parsed.refused], false);
      return;
    }
    const session = sessions.get(sessionId);
    if (session === undefined || session.kind !== 'sse') {
      await refuseSession(res, 'sse', credential, 404, sessionId, what, 'Session not found: open GET /sse first');
      return;
    }
    if (session.owner !== ownerOf(credential)) {
      await refuseSession(res, 'sse', credential, 403, sessionId, what, 'Forbidden: this session belongs to another principal');
      return;
    }
    session.lastSeen = Date.now();
    if (!isJsonContentType(req.headers['content-type'])) {
      await answerRefused(res, 415, 'sse', credential, sessionId, [IntakeDesk.unreadable('body', 'Content-Type must be application/json', -32600)], false);
      return;
    }
    const screened = await screenBody(res, parsed.body, 'sse', credential, sessionId);
    if (screened === undefined) return;
    const protocol = session.server.getNegotiatedProtocolVersion();
    if (Array.isArray(screened.body) && refusesBatches(protocol)) {
      const text = `JSON-RPC batches are not accepted on protocol ${protocol ?? '2025-06-18'} and later; send one message per request`;
      const refused = (screened.body as unknown[]).map((m) => (isRequestMessage(m) ? requestRefusal(m, 'message', text) : IntakeDesk.unreadable('message', text, -32600)));
      await answerRefused(res, 400, 'sse', credential, sessionId, refused, true);
      return;
    }
    const requests = (Array.isArray(screened.body) ? screened.body : [screened.body]).filter(isRequestMessage);
    const duplicates = requests.filter((m) => session.pending.has(idKey(m.id)));
    if (duplicates.length > 0) {
      await answerRefused(res, 400, 'sse', credential, sessionId, duplicateRefusals(requests, duplicates), Array.isArray(screened.body));
      return;
    }
    for (const m of requests) session.pending.add(idKey(m.id));
    attachCredential(req, credential);
    // The body is read and screened (its tools/calls hold tickets): the transport must not refuse it now. It
    // parses Content-Type again, more strictly than the check above (`application/json;` is JSON to HTTP and
    // an error to it), and would answer a bare 400 before any handler, leaving the calls unanswered.
    req.headers['content-type'] = 'application/json';
    await (session.transport as SSEServerTransport).handlePostMessage(req, res, screened.body);
    closeCancelled(session, screened.body);
  };

  /**
   * Open sessions per era: 2025-era sessions by transport and negotiated version; 2026-07-28 has no
   * sessions, only requests in flight.
   */
  const eraCounts = (): Record<string, unknown> => {
    const byVersion: Record<string, number> = {};
    let http = 0;
    let sse = 0;
    for (const session of sessions.values()) {
      if (session.kind === 'http') http++;
      else sse++;
      const version = session.server.getNegotiatedProtocolVersion() ?? 'initializing';
      byVersion[version] = (byVersion[version] ?? 0) + 1;
    }
    return { '2025': { sessions: http + sse, http, sse, byVersion }, '2026-07-28': { sessions: 0, inFlight: modernInFlight } };
  };

  const route = async (req: AuthedRequest, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    // A load balancer's health check names the backend by its address (a GKE Ingress, a Cloud Load Balancing
    // backend service), which no --allowed-host lists: it gets the bare status and nothing else, which a
    // page reading this port through DNS rebinding learns nothing from.
    // A stopping airlock is not ready: 503 takes it out of a load balancer's rotation while calls finish.
    if (url.pathname === '/healthz' && req.method === 'GET' && req.headers.origin === undefined && !hostValues.has((req.headers.host ?? '').toLowerCase())) {
      if (draining()) sendJson(res, 503, { status: 'draining' }, { connection: 'close' });
      else sendJson(res, 200, { status: 'ok' });
      return;
    }
    if (!checkOrigin(req, res)) return;
    if (url.pathname === '/healthz' && req.method === 'GET') {
      const status = draining() ? 'draining' : 'ok';
      sendJson(res, status === 'ok' ? 200 : 503, { status, sessions: sessions.size, eras: eraCounts(), ...options.health() }, status === 'ok' ? {} : { connection: 'close' });
      return;
    }
    if (options.auth !== undefined && req.method === 'GET' && url.pathname.startsWith('/.well-known/oauth-protected-resource')) {
      const resource = new URL(resourceUrl());
      if (url.pathname === metadataPath(resource.pathname) || url.pathname === '/.well-known/oauth-protected-resource') {
        sendJson(res, 200, protectedResourceMetadata(resourceUrl(), options.auth.verifier.issuers()));
        return;
      }
    }
    if (url.pathname === '/mcp') return handleMcp(req, res, url);
    if (url.pathname === '/sse' && req.method === 'GET') return handleSse(req, res, url);
    if (url.pathname === '/messages' && req.method === 'POST') return handleMessages(req, res, url);
    for (const routes of options.routes ?? []) if (await routes(req, res, url)) return;
    sendJson(res, 404, { error: 'not found', endpoints: ['/mcp', '/sse', '/messages', '/healthz'] });
  };

  const http: HttpServer = createServer((req, res) => {
    route(req, res).catch((error: unknown) => {
      options.log('error', `http: ${req.method ?? '?'} ${req.url ?? '?'} failed: ${error instanceof Error ? error.message : String(error)}`);
      rpcError(res, 500, -32603, 'Internal error');
    });
  });
  // A load balancer reuses its idle connections to us: if we closed them first, a request it sends just then
  // would be lost on a reset connection (a 502 to the agent). Node also announces it: `Keep-Alive: timeout=N`.
  http.keepAliveTimeout = options.keepAliveMs ?? 5000;
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port, options.host, () => {
      http.off('error', reject);
      resolve();
    });
  });
  port = (http.address() as AddressInfo).port;
  hostValues = allowedHostValues();

  const reaper = setInterval(
    () => {
      const cutoff = Date.now() - options.sessionIdleMs;
      for (const [id, session] of sessions) {
        if (session.lastSeen < cutoff) {
          sessions.delete(id);
          options.log('info', `http: closing idle ${session.kind} session ${id}`);
          void session.transport.close().catch(() => undefined);
        }
      }
    },
    Math.max(250, Math.min(60_000, Math.floor(options.sessionIdleMs / 4))),
  );
  reaper.unref();

  const displayHost = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${displayHost}:${port}`,
    port,
    sessionCount: () => sessions.size,
    async close() {
      clearInterval(reaper);
      await modern.close().catch(() => undefined);
      const open = [...sessions.values()];
      sessions.clear();
      await Promise.all(open.map((s) => s.transport.close().catch(() => undefined)));
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      // No handler takes a call now: those still waiting are recorded (before the audit closes).
      desk.close();
    },
  };
}
