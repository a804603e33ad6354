import { randomUUID } from 'node:crypto';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import type { TransportKind } from '../audit/record.js';
import type { Credential } from '../identity/principal.js';
import type { CallContext } from '../pipeline/context.js';
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

/**
 * One low-level MCP Server per connection. tools/call never throws for governed outcomes: every call,
 * unknown tools and bad arguments included, runs the pipeline and is audited.
 */
export function createGovernedServer(options: GovernedServerOptions): Server {
  const server = new Server(
    { name: options.name, version: options.version, title: 'airlock' },
    { capabilities: { tools: { listChanged: false } }, instructions: INSTRUCTIONS },
  );
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: [...options.registry.list()] }));
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const ctx: CallContext = {
      id: randomUUID(),
      startedAt: options.clock.now(),
      sessionId: extra.sessionId ?? options.sessionId(),
      transport: options.transport,
      toolName: request.params.name,
      rawArguments: request.params.arguments ?? {},
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
