import { randomUUID } from 'node:crypto';
import { Server, type ServerOptions } from '@modelcontextprotocol/sdk/server/index.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { Implementation, JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import type { TransportKind } from '../audit/record.js';
import type { Credential } from '../identity/principal.js';
import type { CallContext } from '../pipeline/context.js';
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
  /** The credential for one request, from what the transport attached (`extra.authInfo`). */
  readonly credential: (authInfo: unknown) => Credential | Promise<Credential>;
}

const INSTRUCTIONS = [
  'airlock gives governed access to production data. Every tool call is checked against policy,',
  'may need a human approval, runs with limits, has sensitive values masked, and is audited.',
  'Errors carry a stable code (e.g. POLICY_DENIED, APPROVAL_REQUIRED, INVALID_INPUT) and an audit id.',
].join(' ');

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
  at: { readonly transport: TransportKind; readonly sessionId: string; readonly credential: Credential },
): Promise<Refusal> {
  const ctx: CallContext = {
    id: randomUUID(),
    startedAt: options.clock.now(),
    sessionId: at.sessionId,
    transport: at.transport,
    toolName: refused.call.toolName,
    rawArguments: refused.call.rawArguments,
    requestIssues: refused.call.issues.length > 0 ? refused.call.issues : [{ path: 'message', message: 'refused' }],
    credential: at.credential,
    signal: new AbortController().signal,
  };
  await options.pipeline(ctx);
  const list = refused.call.issues.map((i) => `${i.path}: ${i.message}`).join('; ');
  const text = ctx.error?.code === 'INVALID_INPUT' || ctx.error === undefined ? `${refused.code === -32700 ? 'Parse error' : 'Invalid request'}: ${list} [code: INVALID_INPUT; audit id: ${ctx.id}]` : (ctx.response?.content[0]?.text ?? `[audit id: ${ctx.id}]`);
  return { jsonrpc: '2.0', id: refused.id, error: { code: refused.code, message: text } };
}

/**
 * A Server whose connection screens every inbound message with its IntakeDesk. Transports that read raw
 * input (stdio lines, HTTP bodies) screen it themselves before the SDK's message schema can drop it; for
 * any other transport the screening happens here, as each message arrives.
 */
export class GovernedServer extends Server {
  readonly desk = new IntakeDesk();

  constructor(
    private readonly governed: GovernedServerOptions,
    info: Implementation,
    serverOptions: ServerOptions,
  ) {
    super(info, serverOptions);
  }

  override async connect(transport: Transport): Promise<void> {
    // The SDK sets the transport's onmessage inside connect, just before start(): wrapping start puts the
    // screening in front of the SDK's own handling, so a refused message never reaches it.
    const start = transport.start.bind(transport);
    transport.start = () => {
      const inner = transport.onmessage;
      transport.onmessage = (message, extra) => {
        const screened = this.desk.screen(message);
        if (screened.kind === 'pass') {
          inner?.(screened.message as JSONRPCMessage, extra);
          return;
        }
        const credential = Promise.resolve(this.governed.credential(extra?.authInfo));
        void credential
          .then((c) => refuse(this.governed, screened, { transport: this.governed.transport, sessionId: this.governed.sessionId(), credential: c }))
          .then((answer) => transport.send(answer as unknown as JSONRPCMessage))
          .catch((error: unknown) => this.onerror?.(error instanceof Error ? error : new Error(String(error))));
      };
      return start();
    };
    await super.connect(transport);
  }
}

/**
 * One low-level MCP Server per connection. tools/call never throws for governed outcomes: every call,
 * unknown tools, bad arguments and requests the SDK's schema would refuse included, runs the pipeline and
 * is audited. The connection's transport screens each message with `desk` first (see IntakeDesk): the
 * handler takes the tools/call as received from it.
 */
export function createGovernedServer(options: GovernedServerOptions): GovernedServer {
  const server = new GovernedServer(options,
    { name: options.name, version: options.version, title: 'airlock' },
    { capabilities: { tools: { listChanged: false } }, instructions: INSTRUCTIONS },
  );
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: [...options.registry.list()] }));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const call = server.desk.take(request.params._meta);
    const ctx: CallContext = {
      id: randomUUID(),
      startedAt: options.clock.now(),
      sessionId: extra.sessionId ?? options.sessionId(),
      transport: options.transport,
      toolName: call.toolName,
      rawArguments: call.rawArguments,
      ...(call.issues.length > 0 ? { requestIssues: call.issues } : {}),
      credential: await options.credential(extra.authInfo),
      signal: extra.signal,
    };
    await options.pipeline(ctx);
    const response = ctx.response;
    if (response === undefined) throw new Error('pipeline produced no response');
    return { ...response };
  });
  return server;
}
