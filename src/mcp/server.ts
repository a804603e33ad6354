import { randomUUID } from 'node:crypto';
import { CLIENT_INFO_META_KEY, Server, type BaseContext, type CallToolRequest, type CallToolResult, type Implementation, type InputRequiredResult, type JSONRPCMessage, type JSONRPCRequest, type LoggingLevel, type MessageExtraInfo, type RequestId, type Result, type ServerContext, type ServerOptions, type Transport } from '@modelcontextprotocol/server';
import type { ClientInfo, TransportKind } from '../audit/record.js';
import type { Credential } from '../identity/principal.js';
import type { CallContext } from '../pipeline/context.js';
import { callerConfirmer } from './confirm.js';
import { callNotifier } from './notify.js';
import { JSON_SCHEMA_VALIDATOR } from './json-schema.js';
import { IntakeDesk, type Screened } from './screen.js';
import type { ToolRegistry } from './registry.js';

export interface GovernedServerOptions {
  readonly name: string;
  readonly version: string;
  readonly registry: ToolRegistry;
  readonly pipeline: (ctx: CallContext) => Promise<void>;
  readonly clock: { now(): number };
  readonly transport: TransportKind;
  /** Session id for audit; HTTP transports know it only after initialisation, hence a function. */
  readonly sessionId: () => string;
  /** The credential for one request, from what the transport attached (`ctx.http.authInfo`). */
  readonly credential: (authInfo: unknown) => Credential | Promise<Credential>;
  /** Protocol errors, lost responses and transport failures (the SDK reports them here). */
  readonly onerror?: (error: Error) => void;
  /**
   * Aborted (with a ShuttingDownError) when a stopping airlock stops waiting for calls in flight: each call
   * still running is stopped and answered, instead of being cut off with the connection.
   */
  readonly halted?: AbortSignal;
  /** The connection's transport, when it sends results encoded by the audit stage (stdio). */
  readonly encodedResults?: EncodedResultSink;
}

const INSTRUCTIONS = [
  'airlock gives governed access to production data. Every tool call is checked against policy,',
  'may need a human approval, runs with limits, has sensitive values masked, and is audited.',
  'Errors carry a stable code (e.g. POLICY_DENIED, APPROVAL_REQUIRED, INVALID_INPUT) and an audit id.',
].join(' ');

/**
 * A transport that can send a tools/call result it is handed already encoded (see ScreenedStdioTransport):
 * the audit stage encodes each response once, hashes that text's UTF-8, and the same text goes out.
 */
export interface EncodedResultSink {
  /**
   * The result of request `id` is `result`, whose JSON text is `text`. The transport sends that text
   * when the message the SDK hands it carries that result unchanged, and forgets it once the request is
   * answered or `signal` aborts it.
   */
  expectEncoded(id: string | number, result: object, text: string, signal: AbortSignal, utf8?: Buffer): void;
  /** True when the sink writes the hashed UTF-8 it is handed (`utf8`): only then does the audit stage keep it. */
  readonly takesUtf8?: boolean;
}

/** The JSON-RPC error that answers a message airlock refused before the SDK saw it. */
export interface Refusal {
  readonly jsonrpc: '2.0';
  readonly id: string | number | null;
  readonly error: { readonly code: number; readonly message: string };
}

/**
 * Runs a refused message through the pipeline, so that it is audited like any call (under the caller's
 * verified identity, or as unauthenticated) and answered with the audit id.
 */
export async function refuse(
  options: Pick<GovernedServerOptions, 'pipeline' | 'clock'>,
  refused: Screened & { kind: 'refuse' },
  at: { readonly transport: TransportKind; readonly sessionId: string; readonly credential: Credential; readonly protocol?: string },
): Promise<Refusal> {
  const ctx: CallContext = {
    id: randomUUID(),
    ...(refused.id === null ? {} : { requestId: requestIdOf(refused.id) }),
    startedAt: options.clock.now(),
    sessionId: at.sessionId,
    transport: at.transport,
    toolName: refused.call.toolName,
    rawArguments: refused.call.rawArguments,
    requestIssues: refused.call.issues.length > 0 ? refused.call.issues : [{ path: 'message', message: 'refused' }],
    credential: at.credential,
    ...(at.protocol === undefined ? {} : { protocol: at.protocol }),
    signal: new AbortController().signal,
  };
  await options.pipeline(ctx);
  const list = refused.call.issues.map((i) => `${i.path}: ${i.message}`).join('; ');
  const text = ctx.error?.code === 'INVALID_INPUT' || ctx.error === undefined ? `${refused.code === -32700 ? 'Parse error' : 'Invalid request'}: ${list} [code: INVALID_INPUT; audit id: ${ctx.id}]` : (ctx.response?.content[0]?.text ?? `[audit id: ${ctx.id}]`);
  return { jsonrpc: '2.0', id: refused.id, error: { code: refused.code, message: text } };
}

type Handler = (request: JSONRPCRequest, ctx: ServerContext) => Promise<Result>;
type InvokeHandler = (method: string, handler: Handler, request: JSONRPCRequest, ctx: ServerContext) => Promise<Result>;
type ToolCallHandler = (request: CallToolRequest, ctx: ServerContext) => Promise<unknown>;

/** The first protocol revision whose requests carry their own envelope (served by the SDK's request path). */
const FIRST_MODERN = '2026-07-28';

/** `_meta` keys of the 2026-07-28 request envelope: a request that carries one goes the SDK's way. */
const ENVELOPE_PREFIX = 'io.modelcontextprotocol/';

/**
 * A tools/call that the direct path serves: a request IntakeDesk wrote (valid by construction) with no
 * 2026-07-28 envelope or retry material, on a connection with nothing else that changes how it is read.
 */
function plainCall(message: Record<string, unknown>, extra: MessageExtraInfo | undefined): message is JSONRPCRequest {
  if (message.method !== 'tools/call' || extra?.classification !== undefined) return false;
  const params = message.params as Record<string, unknown> | undefined;
  if (params === undefined || params.inputResponses !== undefined || params.requestState !== undefined) return false;
  const meta = params._meta as Record<string, unknown> | undefined;
  if (meta !== undefined) for (const key in meta) if (key.startsWith(ENVELOPE_PREFIX)) return false;
  return true;
}

/**
 * A Server whose connection screens every inbound message with its IntakeDesk. Transports that read raw
 * input (stdio lines, HTTP bodies) screen it themselves before the SDK's message schema can drop it; the
 * SDK's own transports hand on a parsed copy, which the desk recognises (see IntakeDesk.screen). For any
 * other transport the screening happens here, as each message arrives.
 */
export class GovernedServer extends Server {
  /** airlock's own tools/call handler, for the direct path (see serveDirect). */
  private toolsCall: ToolCallHandler | undefined;

  constructor(
    private readonly governed: GovernedServerOptions,
    info: Implementation,
    serverOptions: ServerOptions,
    /** Shared by every instance of one serving entry: a stateless entry creates an instance per request. */
    readonly desk: IntakeDesk,
  ) {
    super(info, serverOptions);
  }

  /**
   * tools/call without the SDK's second pass over airlock's own messages: the request the handler gets is the
   * minimal one IntakeDesk wrote (the SDK has checked it once already, before this wrapper), and the result is
   * the response the pipeline rendered and the audit hashed. The SDK's wrapper validated the request again and
   * the result with its zod schemas on every call and handed on a copy of the result. The multi-round-trip
   * step (2026-07-28 input-required results, requestState) stays the SDK's own; any other method is wrapped
   * as the SDK wraps it, and so is tools/call should the SDK no longer have that step under this name.
   */
  protected override _wrapHandler(method: string, handler: (request: JSONRPCRequest, ctx: ServerContext) => Promise<Result>): (request: JSONRPCRequest, ctx: ServerContext) => Promise<Result> {
    const invoke = (this as unknown as { _invokeInputRequiredCapableHandler?: InvokeHandler })._invokeInputRequiredCapableHandler;
    if (method !== 'tools/call' || typeof invoke !== 'function') return super._wrapHandler(method, handler);
    return (request, ctx) => invoke.call(this, method, handler, request, ctx);
  }

  /** airlock's tools/call handler (registered with the SDK too), for the direct path. */
  serveToolCallsDirect(handler: ToolCallHandler): void {
    this.toolsCall = handler;
  }

  /**
   * True when this connection serves tools/call directly: it negotiated a 2025-era protocol (initialize
   * answered). A 2026-07-28 connection, whose requests carry their own envelope and may come back with
   * answers to a form (input_required), takes the SDK's request path.
   */
  private servesDirect(): boolean {
    const version = this.getNegotiatedProtocolVersion();
    return this.toolsCall !== undefined && version !== undefined && version < FIRST_MODERN;
  }

  /**
   * A 2025-era tools/call served as the SDK serves it, without its request path's per-message work: its
   * message router's schema checks (four zod passes to tell a request from a response), the era checks
   * and envelope lifting that a request IntakeDesk wrote cannot need, the request's validation against
   * the tools/call schema (the desk wrote it), and the result's encoding (the identity for 2025-era
   * tools/call). What the handler sees is the SDK's own context (`buildContext`): notifications and
   * requests to the client go out through the SDK, related to this request; `notifications/cancelled`
   * and the connection's close abort it through the SDK's own table of requests in flight; a cancelled
   * call gets no response, and a failed one the error response the SDK would send.
   */
  private serveDirect(transport: Transport, request: JSONRPCRequest, extra: MessageExtraInfo | undefined, handler: ToolCallHandler): void {
    const id = request.id;
    const controller = new AbortController();
    const inFlight = (this as unknown as { _requestHandlerAbortControllers: Map<RequestId, AbortController> })._requestHandlerAbortControllers;
    inFlight.set(id, controller);
    const base: BaseContext = {
      sessionId: transport.sessionId,
      mcpReq: {
        id,
        method: request.method,
        _meta: request.params?._meta,
        requestState: () => undefined,
        signal: controller.signal,
        send: ((r: never, schemaOrOptions?: unknown, options?: unknown) => {
          const isSchema = typeof schemaOrOptions === 'object' && schemaOrOptions !== null && '~standard' in schemaOrOptions;
          return isSchema
            ? this.request(r, schemaOrOptions as never, { ...(options as object), relatedRequestId: id })
            : this.request(r, { ...(schemaOrOptions as object), relatedRequestId: id });
        }) as BaseContext['mcpReq']['send'],
        notify: ((notification: Parameters<Server['notification']>[0], options?: Parameters<Server['notification']>[1]) =>
          this.notification(notification, { ...options, relatedRequestId: id })),
      },
      http: extra?.authInfo === undefined ? undefined : { authInfo: extra.authInfo },
    };
    const ctx = this.buildContext(base, extra);
    // Started in a microtask, as the SDK starts a handler: a request delivered just before this one (a
    // logging/setLevel in the same chunk of input) is handled first.
    Promise.resolve()
      .then(() => handler(request as unknown as CallToolRequest, ctx))
      .then(
        async (result) => {
          if (!controller.signal.aborted) await transport.send({ result, jsonrpc: '2.0', id } as JSONRPCMessage);
        },
        async (error: unknown) => {
          if (controller.signal.aborted) return;
          const e = error as { code?: unknown; message?: unknown; data?: unknown };
          const code = Number.isSafeInteger(e.code) ? (e.code as number) : -32603;
          const message = typeof e.message === 'string' ? e.message : 'Internal error';
          await transport.send({ jsonrpc: '2.0', id, error: { code: code === -32002 ? -32602 : code, message, ...(e.data === undefined ? {} : { data: e.data }) } });
        },
      )
      .catch((error: unknown) => this.onerror?.(new Error(`Failed to send response: ${String(error)}`)))
      .finally(() => {
        if (inFlight.get(id) === controller) inFlight.delete(id);
      });
  }

  /**
   * Serves `message` on the direct path when it is a tools/call that path takes (see serveDirect); its
   * answer goes out through `answerOn` (by default the connected transport), any message related to it
   * through the connected transport. False when the message is for the SDK's request path. `message` must
   * have passed this server's IntakeDesk.
   */
  tryDirect(message: Record<string, unknown>, extra?: MessageExtraInfo, answerOn?: Transport): boolean {
    const handler = this.toolsCall;
    // A server whose connection has closed serves nothing, whichever transport would carry the answer.
    const connected = this.transport;
    const transport = answerOn ?? connected;
    if (handler === undefined || connected === undefined || transport === undefined || !plainCall(message, extra) || !this.servesDirect()) return false;
    this.serveDirect(transport, message, extra, handler);
    return true;
  }

  /** Called with each message the connected transport hands this server, before it is read (see ScreenedStdioTransport). */
  onDelivered?: (message: JSONRPCMessage) => void;

  override async connect(transport: Transport): Promise<void> {
    await super.connect(transport);
    // The SDK's handler is set now: this one runs first and hands it the screened message.
    const sdk = transport.onmessage;
    if (sdk === undefined) return;
    transport.onmessage = (message: JSONRPCMessage, extra?: MessageExtraInfo) => {
      this.onDelivered?.(message);
      const screened = this.desk.screen(message, { transport: this.governed.transport, sessionId: this.governed.sessionId() });
      if (screened.kind === 'pass') {
        if (!this.tryDirect(screened.message, extra)) sdk.call(transport, screened.message as JSONRPCMessage, extra);
        return;
      }
      const credential = Promise.resolve(this.governed.credential(extra?.authInfo));
      void credential
        .then((c) => refuse(this.governed, screened, { transport: this.governed.transport, sessionId: this.governed.sessionId(), credential: c }))
        .then((answer) => transport.send(answer as unknown as JSONRPCMessage))
        .catch((error: unknown) => this.onerror?.(error instanceof Error ? error : new Error(String(error))));
    };
  }
}

/** A request id as the operator log shows it: the client chooses it, so it is cut to a bounded size. */
function requestIdOf(id: RequestId): string {
  return String(id).slice(0, 64);
}

/** The client's own name and version (`clientInfo`), cut to a bounded size; unverified, for grouping only. */
function clientOf(info: unknown): ClientInfo | undefined {
  const i = info as { name?: unknown; version?: unknown } | null | undefined;
  if (typeof i?.name !== 'string') return undefined;
  return { name: i.name.slice(0, 128), version: typeof i.version === 'string' ? i.version.slice(0, 64) : '' };
}

/**
 * One low-level MCP Server per connection. tools/call never throws for governed outcomes: every call,
 * unknown tools, bad arguments and requests the SDK's schema would refuse included, runs the pipeline and
 * is audited. The connection's transport screens each message with `desk` first (see IntakeDesk): the
 * handler takes the tools/call as received from it.
 */
export function createGovernedServer(options: GovernedServerOptions, desk: IntakeDesk = new IntakeDesk()): GovernedServer {
  const server = new GovernedServer(options,
    { name: options.name, version: options.version, title: 'airlock' },
    { capabilities: { tools: { listChanged: false }, logging: {} }, instructions: INSTRUCTIONS, jsonSchemaValidator: JSON_SCHEMA_VALIDATOR },
    desk,
  );
  if (options.onerror !== undefined) server.onerror = options.onerror;
  server.setRequestHandler('tools/list', () => ({ tools: [...options.registry.list()] }));
  // One server per 2025-era connection or session: the level its client chose holds for it.
  let chosenLevel: LoggingLevel | undefined;
  server.setRequestHandler('logging/setLevel', (request) => {
    chosenLevel = request.params.level;
    return {};
  });
  const toolsCall = async (request: CallToolRequest, ctx: ServerContext): Promise<CallToolResult | InputRequiredResult> => {
    const call = desk.take(request.params._meta);
    const protocol = server.getNegotiatedProtocolVersion();
    const client = clientOf((ctx.mcpReq as { envelope?: Record<string, unknown> }).envelope?.[CLIENT_INFO_META_KEY] ?? server.getClientVersion());
    const notifier = callNotifier(ctx, (error) => server.onerror?.(error), chosenLevel, request.params._meta);
    const confirmer = await callerConfirmer(ctx, server, options.clock);
    const sink = options.encodedResults;
    // The client's cancellation ends a call without an answer; airlock stopping ends it with one.
    const linked = linkSignals(ctx.mcpReq.signal, options.halted);
    const callCtx: CallContext = {
      id: randomUUID(),
      requestId: requestIdOf(ctx.mcpReq.id),
      startedAt: options.clock.now(),
      sessionId: ctx.sessionId ?? options.sessionId(),
      transport: options.transport,
      ...(protocol === undefined ? {} : { protocol }),
      ...(client === undefined ? {} : { client }),
      toolName: call.toolName,
      rawArguments: call.rawArguments,
      ...(call.issues.length > 0 ? { requestIssues: call.issues } : {}),
      credential: await options.credential(ctx.http?.authInfo),
      signal: linked.signal,
      report: notifier.report,
      confirm: confirmer.confirm,
      askJustification: confirmer.askJustification,
      ...(sink === undefined ? {} : { sendsEncoded: true }),
      ...(sink?.takesUtf8 === true ? { sendsUtf8: true } : {}),
    };
    try {
      await options.pipeline(callCtx);
    } finally {
      linked.release();
    }
    // Progress and messages go out before the result that ends the request.
    await notifier.flush();
    // 2026-07-28: a call that asked its user to confirm answers with the form (its record is written).
    const form = callCtx.error === undefined ? await confirmer.pending() : undefined;
    if (form !== undefined) return form;
    const response = callCtx.response;
    if (response === undefined) throw new Error('pipeline produced no response');
    const result = { ...response };
    if (sink !== undefined && callCtx.encodedResponse !== undefined) sink.expectEncoded(ctx.mcpReq.id, result, callCtx.encodedResponse, ctx.mcpReq.signal, callCtx.encodedUtf8);
    return result;
  };
  server.setRequestHandler('tools/call', toolsCall);
  server.serveToolCallsDirect(toolsCall);
  return server;
}

/**
 * The calls in flight under each shutdown signal. One listener on the long-lived `halted` signal aborts them
 * all, instead of one listener per call: Node 20's EventTarget walks its whole listener list on every add and
 * remove (50 calls in flight made each call pay for the other 49), and warns on stderr past 10 listeners
 * (MaxListenersExceededWarning) though nothing leaks.
 */
const callsUnder = new WeakMap<AbortSignal, Set<AbortController>>();

function callsIn(halted: AbortSignal): Set<AbortController> {
  let calls = callsUnder.get(halted);
  if (calls === undefined) {
    const set = new Set<AbortController>();
    calls = set;
    callsUnder.set(halted, set);
    halted.addEventListener(
      'abort',
      () => {
        for (const controller of set) controller.abort(halted.reason);
        set.clear();
      },
      { once: true },
    );
  }
  return calls;
}

/**
 * One signal that aborts when either does, with the reason of the first. A listener on the request's own
 * signal (short-lived, one listener) and a place among the calls `halted` aborts, instead of
 * `AbortSignal.any`, which costs about twice as much per call on Node 20; `release` takes the call out when
 * it is over.
 */
function linkSignals(request: AbortSignal, halted: AbortSignal | undefined): { signal: AbortSignal; release(): void } {
  if (halted === undefined) return { signal: request, release: () => undefined };
  const controller = new AbortController();
  if (request.aborted || halted.aborted) {
    controller.abort(request.aborted ? request.reason : halted.reason);
    return { signal: controller.signal, release: () => undefined };
  }
  const onRequest = (): void => controller.abort(request.reason);
  request.addEventListener('abort', onRequest, { once: true });
  const calls = callsIn(halted);
  calls.add(controller);
  return {
    signal: controller.signal,
    release: () => {
      calls.delete(controller);
      request.removeEventListener('abort', onRequest);
    },
  };
}
