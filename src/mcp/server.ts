import { randomUUID } from 'node:crypto';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { CallToolRequestSchema, ListToolsRequestSchema, type JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { TransportKind } from '../audit/record.js';
import type { Credential } from '../identity/principal.js';
import type { CallContext } from '../pipeline/context.js';
import { readToolCall, type ToolCallIntake } from './intake.js';
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

/** The `_meta` key that carries a tools/call's intake ticket past the SDK's schema. */
const TICKET = 'airlock/intake';

/**
 * A Server that takes every tools/call's params as received, before the SDK validates them: the SDK's
 * schema would refuse some calls unaudited (with its validator's text) and drop `__proto__` keys from the
 * rest. The params are kept under a ticket and the SDK sees a minimal valid request carrying it.
 */
class GovernedServer extends Server {
  readonly intakes = new Map<string, ToolCallIntake>();

  override async connect(transport: Transport): Promise<void> {
    // The SDK composes with a handler already set: this one sees (and rewrites) each message first.
    const before = transport.onmessage;
    transport.onmessage = (message, extra) => {
      this.intake(message);
      before?.(message, extra);
    };
    await super.connect(transport);
  }

  private intake(message: JSONRPCMessage): void {
    const request = message as { method?: unknown; id?: unknown; params?: unknown };
    if (request.method !== 'tools/call' || request.id === undefined) return;
    const ticket = randomUUID();
    this.intakes.set(ticket, readToolCall(request.params));
    // The client's progress token survives (progress is how a waiting call reports); nothing else of its
    // _meta reaches the SDK, so nothing there can make the SDK refuse the call unaudited.
    const token = ((request.params as { _meta?: { progressToken?: unknown } } | null | undefined)?._meta ?? {}).progressToken;
    const progress = typeof token === 'string' || (typeof token === 'number' && Number.isFinite(token)) ? { progressToken: token } : {};
    request.params = { name: 'airlock', arguments: {}, _meta: { ...progress, [TICKET]: ticket } };
  }

  /** The call behind a ticket, once. */
  take(meta: unknown): ToolCallIntake {
    const ticket = (meta as Record<string, unknown> | undefined)?.[TICKET];
    const intake = typeof ticket === 'string' ? this.intakes.get(ticket) : undefined;
    if (intake === undefined) return { toolName: '(unknown)', rawArguments: null, issues: [{ path: 'params', message: 'the request could not be read' }] };
    this.intakes.delete(ticket as string);
    return intake;
  }
}

/**
 * One low-level MCP Server per connection. tools/call never throws for governed outcomes: every call,
 * unknown tools, bad arguments and requests the SDK's schema would refuse included, runs the pipeline and
 * is audited.
 */
export function createGovernedServer(options: GovernedServerOptions): Server {
  const server = new GovernedServer(
    { name: options.name, version: options.version, title: 'airlock' },
    { capabilities: { tools: { listChanged: false } }, instructions: INSTRUCTIONS },
  );
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: [...options.registry.list()] }));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const call = server.take(request.params._meta);
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
