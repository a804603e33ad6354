import { randomUUID } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import type { JSONRPCMessage, MessageExtraInfo, Transport } from '@modelcontextprotocol/server';
import { serveStdio as serveStdioEntry } from '@modelcontextprotocol/server/stdio';
import type { Credential } from '../../identity/principal.js';
import { IntakeDesk, type Screened, type TicketOrigin, type UnservedCall } from '../screen.js';
import { createGovernedServer, refuse, type EncodedResultSink, type GovernedServer, type GovernedServerOptions, type Refusal } from '../server.js';
import { sameJson } from '../same-json.js';

export interface StdioOptions extends Omit<GovernedServerOptions, 'transport' | 'sessionId' | 'credential'> {
  /** The credential for each call (re-read per call, so a rotating token file keeps working). */
  readonly credential: () => Credential | Promise<Credential>;
  /** Longest message line read, in bytes (the same bound as an HTTP body); longer lines are refused. */
  readonly maxLineBytes: number;
  /** Protocol errors and lost responses (the SDK and the transport report them here). */
  readonly log?: (level: 'info' | 'warn' | 'error', message: string) => void;
  /** A screened tools/call that no handler took in time (see IntakeDesk): recorded by the caller. */
  readonly onUnserved?: (unserved: UnservedCall) => void;
}

/** Answers up to this many characters are written whole (see writeSpliced). */
const ONE_WRITE_CHARS = 16 * 1024;

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
export class ScreenedStdioTransport implements Transport, EncodedResultSink {
  /** Large answers are written from the UTF-8 the audit hashed (see writeSpliced). */
  readonly takesUtf8 = true;
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: <T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void;
  /** Called once when the transport closes (the serving entry owns `onclose`). */
  onended?: () => void;
  private closed = false;
  private readonly reader: LineReader;
  /** Results encoded by the audit stage, by request id, until their response is sent. */
  private readonly encoded = new Map<string | number, { readonly result: object; readonly text: string; readonly utf8: Buffer | undefined }>();
  /** The connection's server, once the serving entry has created it (see `serve`). */
  private server: GovernedServer | undefined;
  /** The last message handed to the serving entry, and the last one the server received from it. */
  private lastHanded: object | undefined;
  private lastDelivered: object | undefined;

  constructor(
    private readonly input: Readable,
    private readonly output: Writable,
    private readonly desk: IntakeDesk,
    maxLineBytes: number,
    private readonly onRefused: (refused: Screened & { kind: 'refuse' }) => Promise<Refusal>,
    /** Who sends this connection's messages, for the record of a call that is never served. */
    private readonly origin: () => TicketOrigin,
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
      : this.desk.screen(value, this.origin());
    if (screened.kind === 'refuse') {
      this.refuse(screened);
      return;
    }
    // A tools/call goes straight to the server when the serving entry holds nothing before it (the last
    // message handed to the entry has reached the server): the entry's queue, era routing and its schema
    // checks of every message in and every answer out are for messages whose order or era are in question.
    // Anything else, or a call behind messages still queued, goes through the entry in order.
    const message = screened.message;
    if (this.server !== undefined && this.lastHanded === this.lastDelivered && this.server.tryDirect(message, undefined, this)) return;
    this.lastHanded = message;
    this.onmessage?.(message as JSONRPCMessage);
  }

  /** Serves tools/calls of `server` directly where the order of messages allows (see `line`). */
  serve(server: GovernedServer): void {
    this.server = server;
    server.onDelivered = (message) => {
      this.lastDelivered = message;
    };
  }

  private refuse(refused: Screened & { kind: 'refuse' }): void {
    this.onRefused(refused)
      .then((answer) => this.send(answer as unknown as JSONRPCMessage))
      .catch((error: unknown) => this.onerror?.(error instanceof Error ? error : new Error(String(error))));
  }

  expectEncoded(id: string | number, result: object, text: string, signal: AbortSignal, utf8?: Buffer): void {
    // A cancelled request gets no response from the SDK: nothing would ever take this text.
    if (this.closed || signal.aborted) return;
    this.encoded.set(id, { result, text, utf8 });
    signal.addEventListener('abort', () => this.encoded.delete(id), { once: true });
  }

  send(message: JSONRPCMessage): Promise<void> {
    if (this.closed) return Promise.resolve();
    const pre = this.takeEncoded(message);
    return new Promise((resolve) => {
      if (pre === undefined ? this.output.write(`${JSON.stringify(message)}\n`) : this.writeSpliced(message, pre)) resolve();
      else this.output.once('drain', resolve);
    });
  }

  /**
   * The text the audit hashed for this response, if the SDK passed the result on unchanged (its
   * validation hands on a copy, members reordered: the same JSON value is what counts). The agent then
   * receives exactly the bytes whose hash the audit record keeps.
   */
  private takeEncoded(message: JSONRPCMessage): { readonly text: string; readonly utf8: Buffer | undefined } | undefined {
    if (this.encoded.size === 0 || 'method' in message || !('id' in message)) return undefined;
    const id = message.id as string | number;
    const pre = this.encoded.get(id);
    if (pre === undefined) return undefined;
    this.encoded.delete(id);
    return 'result' in message && sameJson(message.result, pre.result) ? pre : undefined;
  }

  /**
   * The message as `JSON.stringify` writes it, with the pre-encoded text in place of its result (its UTF-8
   * as the audit hashed it, when the audit stage kept those bytes).
   */
  private writeSpliced(message: JSONRPCMessage, { text, utf8 }: { readonly text: string; readonly utf8: Buffer | undefined }): boolean {
    let before = '';
    let after: string | undefined;
    for (const [key, value] of Object.entries(message)) {
      if (value === undefined) continue;
      const member = `${before === '' && after === undefined ? '' : ','}${JSON.stringify(key)}:`;
      if (key === 'result') after = '';
      if (after === undefined) before += `${member}${JSON.stringify(value)}`;
      else if (key === 'result') before += member;
      else after += `${member}${JSON.stringify(value)}`;
    }
    // A small answer goes out in one write (one buffer, no writev of three); a large one in three, so that
    // its text is encoded straight from the string the audit hashed, not from a joined copy of it.
    if (text.length <= ONE_WRITE_CHARS) return this.output.write(`{${before}${text}${after ?? ''}}\n`, 'utf8');
    this.output.cork();
    this.output.write(`{${before}`);
    if (utf8 === undefined) this.output.write(text, 'utf8');
    else this.output.write(utf8);
    const ok = this.output.write(`${after ?? ''}}\n`);
    this.output.uncork();
    return ok;
  }

  /** Reads no more messages (airlock is stopping); answers to calls still running are written. */
  stopReading(): void {
    this.input.off('data', this.onData);
    this.input.off('error', this.onInputError);
    if (this.input.listenerCount('data') === 0) this.input.pause();
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    this.encoded.clear();
    this.stopReading();
    this.onclose?.();
    this.onended?.();
    return Promise.resolve();
  }
}

/**
 * Serves MCP over this process's stdin/stdout, both eras: a client that opens with `initialize` gets a
 * 2025-era connection (the version it asks for, up to 2025-11-25); a client that opens with a 2026-07-28
 * request (or `server/discover`) gets 2026-07-28. One desk screens every line for every server instance of
 * the connection. Resolves when the client closes the stream.
 */
export function serveStdio(options: StdioOptions): Promise<{ closed: Promise<void>; close(): Promise<void> }> {
  const sessionId = randomUUID();
  const desk = new IntakeDesk(undefined, undefined, options.onUnserved);
  const onerror = (error: Error): void => options.log?.('warn', `stdio: ${error.message}`);
  // The caller as last read, for the record of a call that is never served (the screen cannot wait for a
  // token file): a fixed credential (dev identity, none) is known from the start, a token once read.
  let known: Credential | undefined;
  const credential = (): Credential | Promise<Credential> => {
    const read = options.credential();
    if (!(read instanceof Promise)) return (known = read);
    return read.then((c) => (known = c));
  };
  Promise.resolve(credential()).catch(() => undefined);
  const transport = new ScreenedStdioTransport(
    process.stdin,
    process.stdout,
    desk,
    options.maxLineBytes,
    async (refused) => refuse(options, refused, { transport: 'stdio', sessionId, credential: await credential() }),
    () => ({ transport: 'stdio', sessionId, ...(known === undefined ? {} : { credential: known }) }),
  );
  const closed = new Promise<void>((resolve) => {
    transport.onended = () => resolve();
    // The end of stdin ends the session; calls in flight still answer (the transport stays open for them).
    process.stdin.once('end', () => resolve());
  });
  serveStdioEntry(
    () => {
      const server = createGovernedServer(
        { ...options, transport: 'stdio', sessionId: () => sessionId, credential, onerror, encodedResults: transport },
        desk,
      );
      transport.serve(server);
      return server;
    },
    { transport, onerror },
  );
  // Closing (after the drain, before the audit closes) reads no more lines and records the calls still
  // waiting for a handler: none will take them now.
  const close = (): Promise<void> => {
    transport.stopReading();
    desk.close();
    return Promise.resolve();
  };
  return Promise.resolve({ closed, close });
}
