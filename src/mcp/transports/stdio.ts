import { randomUUID } from 'node:crypto';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { Credential } from '../../identity/principal.js';
import { createGovernedServer, type GovernedServerOptions } from '../server.js';

export interface StdioOptions extends Omit<GovernedServerOptions, 'transport' | 'sessionId' | 'credential'> {
  /** The credential for each call (re-read per call, so a rotating token file keeps working). */
  readonly credential: () => Credential | Promise<Credential>;
}

/** Serves MCP over this process's stdin/stdout. Resolves when the client closes the stream. */
export async function serveStdio(options: StdioOptions): Promise<{ closed: Promise<void> }> {
  const sessionId = randomUUID();
  const server = createGovernedServer({
    ...options,
    transport: 'stdio',
    sessionId: () => sessionId,
    credential: () => options.credential(),
  });
  const transport = new StdioServerTransport();
  const closed = new Promise<void>((resolve) => {
    server.onclose = () => resolve();
    process.stdin.once('end', () => resolve());
  });
  await server.connect(transport);
  return { closed };
}
