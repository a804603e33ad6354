import { randomUUID } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { Credential } from '../../identity/principal.js';
import { IntakeDesk, type Screened } from '../screen.js';
import { createGovernedServer, refuse, type GovernedServerOptions, type Refusal } from '../server.js';

export interface StdioOptions extends Omit<GovernedServerOptions, 'transport' | 'sessionId' | 'credential'> {
  /** The credential for each call (re-read per call, so a rotating token file keeps working). */
  readonly credential: () => Credential | Promise<Credential>;
  /** Longest message line read, in bytes (the same bound as an HTTP body); longer lines are refused. */
  readonly maxLineBytes: number;
}

/**
 * Splits a byte stream into lines of at most `limit` bytes. A longer line is skipped as it streams past
 * (never buffered) and reported once it ends: a reader that grows one buffer for the whole line copies it
 * on every chunk, and a line of hundreds of megabytes would end the process.
 */
export class LineReader {
  private parts: Buffer[] = [];
  private size = 0;
  private skipped: number | undefined;

  constructor(
    private readonly limit: number,
    private readonly onLine: (line: Buffer) => void,
    private readonly onTooLong: (bytes: number) => void,
  ) {
    if (!(limit >= 1)) throw new TypeError('LineReader: limit must be at least 1 byte');
  }

  push(chunk: Buffer): void {
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
      else if (this.size > 0) this.onLine(this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts));
      this.skipped = undefined;
      this.parts = [];
      this.size = 0;
      start = nl + 1;
    }
  }
}

/**
 * MCP's stdio binding (one JSON-RPC message per line) with airlock's screening in front of the SDK: every
 * line is read by airlock first, so a line that is too long, not JSON, or not a request the SDK accepts
 * is answered with a JSON-RPC error and audited instead of being dropped in silence.
 */
class ScreenedStdioTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  private closed = false;
  private readonly reader: LineReader;

  constructor(
    private readonly input: Readable,
    private readonly output: Writable,
    private readonly desk: IntakeDesk,
    maxLineBytes: number,
    private readonly onRefused: (refused: Screened & { kind: 'refuse' }) => Promise<Refusal>,
  ) {
    this.reader = new LineReader(maxLineBytes, (line) => this.line(line), () => {
      // Its id is somewhere in the skipped bytes: the answer names none (JSON-RPC's id null).
      this.refuse(IntakeDesk.unreadable('message', `too large: a message is limited to ${maxLineBytes} bytes (--max-body-bytes); it was not read`, -32600));
    });
  }

  private readonly onData = (chunk: Buffer): void => this.reader.push(chunk);
  private readonly onInputError = (error: Error): void => this.onerror?.(error);

  start(): Promise<void> {
    this.input.on('data', this.onData);
    this.input.on('error', this.onInputError);
    return Promise.resolve();
  }

  private line(bytes: Buffer): void {
    const text = bytes.toString('utf8');
    if (text.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(text.endsWith('\r') ? text.slice(0, -1) : text);
    } catch {
      this.refuse(IntakeDesk.unreadable('message', 'not valid JSON', -32700));
      return;
    }
    const screened = Array.isArray(value)
      ? IntakeDesk.unreadable('message', 'JSON-RPC batches are not accepted over stdio; send one message per line', -32600)
      : this.desk.screen(value);
    if (screened.kind === 'refuse') this.refuse(screened);
    else this.onmessage?.(screened.message as JSONRPCMessage);
  }

  private refuse(refused: Screened & { kind: 'refuse' }): void {
    this.onRefused(refused)
      .then((answer) => this.send(answer as unknown as JSONRPCMessage))
      .catch((error: unknown) => this.onerror?.(error instanceof Error ? error : new Error(String(error))));
  }

  send(message: JSONRPCMessage): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      if (this.output.write(`${JSON.stringify(message)}\n`)) resolve();
      else this.output.once('drain', resolve);
    });
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    this.input.off('data', this.onData);
    this.input.off('error', this.onInputError);
    if (this.input.listenerCount('data') === 0) this.input.pause();
    this.onclose?.();
    return Promise.resolve();
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
  const transport = new ScreenedStdioTransport(process.stdin, process.stdout, server.desk, options.maxLineBytes, async (refused) =>
    refuse(options, refused, { transport: 'stdio', sessionId, credential: await options.credential() }),
  );
  // The end of stdin ends the session; calls in flight still answer (the transport stays open for them).
  const closed = new Promise<void>((resolve) => {
    server.onclose = () => resolve();
    process.stdin.once('end', () => resolve());
  });
  await server.connect(transport);
  return { closed };
}
