import { randomUUID } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { Credential } from '../../identity/principal.js';
import { createGovernedServer, type GovernedServerOptions } from '../server.js';

export interface StdioOptions extends Omit<GovernedServerOptions, 'transport' | 'sessionId' | 'credential'> {
  /** The credential for each call (re-read per call, so a rotating token file keeps working). */
  readonly credential: () => Credential | Promise<Credential>;
  /** Longest message line read, in bytes (the same bound as an HTTP body); longer lines are refused. */
  readonly maxLineBytes: number;
}

const NEWLINE = Buffer.from('\n');

/**
 * Passes whole lines of at most `limit` bytes. A longer line is skipped as it streams past (never
 * buffered) and reported once it ends: the SDK's reader would otherwise grow one buffer for the whole
 * line, copying it on every chunk, and a line of hundreds of megabytes ends the process.
 */
export class LineLimit extends Transform {
  private parts: Buffer[] = [];
  private size = 0;
  private skipped: number | undefined;

  constructor(
    private readonly limit: number,
    private readonly onTooLong: (bytes: number) => void,
  ) {
    super();
    if (!(limit >= 1)) throw new TypeError('LineLimit: limit must be at least 1 byte');
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(0x0a, start);
      const end = nl === -1 ? chunk.length : nl;
      const piece = end - start;
      if (this.skipped !== undefined) this.skipped += piece;
      else if (this.size + piece > this.limit) {
        this.skipped = this.size + piece;
        this.parts = [];
        this.size = 0;
      } else if (piece > 0) {
        this.parts.push(chunk.subarray(start, end));
        this.size += piece;
      }
      if (nl === -1) break;
      if (this.skipped !== undefined) this.onTooLong(this.skipped);
      else this.push(Buffer.concat([...this.parts, NEWLINE]));
      this.skipped = undefined;
      this.parts = [];
      this.size = 0;
      start = nl + 1;
    }
    done();
  }
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
  const lines = new LineLimit(options.maxLineBytes, () => {
    // Its id is somewhere in the skipped bytes: the answer names none (JSON-RPC's id null).
    const message = `Request too large: a message is limited to ${options.maxLineBytes} bytes (--max-body-bytes); it was not read`;
    process.stdout.write(`${JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32600, message } })}\n`);
  });
  process.stdin.pipe(lines);
  const transport = new StdioServerTransport(lines, process.stdout);
  const closed = new Promise<void>((resolve) => {
    server.onclose = () => resolve();
    process.stdin.once('end', () => resolve());
  });
  await server.connect(transport);
  return { closed };
}
