import type { IncomingMessage, ServerResponse } from 'node:http';

/** How the SDK frames one message on an SSE stream when no event store is set (no `id:` line). */
const MESSAGE_EVENT = Buffer.from('event: message\ndata: ');
const NEWLINE = 0x0a;
/** Headers of an SSE response that do not belong on a plain JSON one. */
const STREAM_HEADERS = new Set(['content-type', 'cache-control', 'connection', 'x-accel-buffering', 'content-length', 'transfer-encoding']);

/**
 * The request as the SDK's session transport reads it: method, URL and headers. Its body is never read
 * (airlock hands the transport the parsed, screened body), so none is attached; and no fetch `Request` is
 * built, whose constructor (URL parsing, an AbortSignal, option checks) costs several times the headers.
 */
export function webRequestOf(req: IncomingMessage): Request {
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i] as string, raw[i + 1] as string);
  const view: Pick<Request, 'method' | 'url' | 'headers'> = { method: req.method ?? 'GET', url: `http://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`, headers };
  return view as Request;
}

/** True when `chunk` is exactly one `message` event, as the SDK writes it: one data line, no event id. */
function isOneMessageEvent(chunk: Uint8Array): boolean {
  if (chunk.length < MESSAGE_EVENT.length + 2 || chunk[chunk.length - 1] !== NEWLINE || chunk[chunk.length - 2] !== NEWLINE) return false;
  for (let i = 0; i < MESSAGE_EVENT.length; i++) if (chunk[i] !== MESSAGE_EVENT[i]) return false;
  // JSON text has no raw newline: the first one after the prefix must be the event's end.
  return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).indexOf(NEWLINE, MESSAGE_EVENT.length) === chunk.length - 2;
}

/** Resolves once the response can take more output, or is gone. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/**
 * Writes the SDK transport's web `Response` to a Node response, honouring backpressure; a client that goes
 * away cancels the stream (the SDK then forgets it).
 *
 * `answered`, given for a POST that carried exactly one request, collapses an SSE answer into one
 * `application/json` body when the stream held nothing but that request's answer (the client accepted both,
 * as Streamable HTTP requires): one write instead of headers, a chunk and the chunked-encoding end, and
 * nothing for the client to unframe. An answer preceded by progress, a log message or a question to the
 * client stays a stream, with the events in order. `answered()` tells whether the one event was the
 * request's answer (a stream can also end without one, when the session closes).
 */
export async function writeWebResponse(res: ServerResponse, response: Response, answered?: () => boolean): Promise<void> {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  const body = response.body;
  if (body === null) {
    res.writeHead(response.status, headers);
    res.end();
    return;
  }
  const reader = body.getReader() as ReadableStreamDefaultReader<Uint8Array>;
  let gone = res.destroyed;
  const onClose = (): void => {
    gone = true;
    reader.cancel().catch(() => undefined);
  };
  res.on('close', onClose);
  try {
    const held: Uint8Array[] = [];
    let ended = false;
    if (answered !== undefined && response.status === 200 && headers['content-type'] === 'text/event-stream') {
      const first = await reader.read();
      if (first.done) ended = true;
      else {
        held.push(first.value);
        if (isOneMessageEvent(first.value)) {
          // The SDK closes a request's stream right after its answer: the next read settles at once.
          const next = await reader.read();
          if (next.done) ended = true;
          else held.push(next.value);
          if (ended && !gone && answered()) {
            const json = first.value.subarray(MESSAGE_EVENT.length, first.value.length - 2);
            const plain: Record<string, string | number> = { 'content-type': 'application/json', 'content-length': json.byteLength };
            for (const [name, value] of Object.entries(headers)) if (!STREAM_HEADERS.has(name)) plain[name] = value;
            res.writeHead(200, plain);
            res.end(json);
            return;
          }
        }
      }
    }
    if (gone) return;
    res.writeHead(response.status, headers);
    // A stream with nothing to say yet still answers now: the client learns the session's stream is open.
    if (held.length === 0 && !ended) res.flushHeaders();
    for (const chunk of held) if (!res.write(chunk)) await drained(res);
    while (!ended && !gone) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!res.write(value)) await drained(res);
    }
    if (!gone) res.end();
  } catch {
    res.destroy();
  } finally {
    res.off('close', onClose);
  }
}

/** How often the SDK's session transport writes a keep-alive comment on a quiet SSE stream (its default). */
const KEEP_ALIVE_MS = 15_000;

/** The headers the SDK's session transport puts on a request's SSE stream. */
function streamHeaders(sessionId: string): Record<string, string> {
  return { 'content-type': 'text/event-stream', 'cache-control': 'no-cache, no-transform', connection: 'keep-alive', 'x-accel-buffering': 'no', 'mcp-session-id': sessionId };
}

/**
 * The answer of one 2025-era tools/call POST that airlock serves itself (no web Request, no SDK stream): the
 * request's answer alone goes out as one `application/json` body; a message related to the request before
 * it (progress, a log message, a question to the client) turns the POST into an SSE stream, framed as the
 * SDK frames it, that ends with the answer. A call still running after the SDK's keep-alive interval (15 s:
 * waiting for an approval, a long statement) turns the POST into an SSE stream too, with a `: keepalive`
 * comment per interval as the SDK sends them, so that no proxy or client drops a quiet connection. What the
 * client sees is what the SDK's transport sent for the same messages, after writeWebResponse.
 */
export class DirectPost {
  private streaming = false;
  private ended = false;
  /** The result's JSON text as the audit hashed it, sent in place of a new encoding (see expectEncoded). */
  private encoded: { readonly result: object; readonly text: string } | undefined;
  private keepAlive: NodeJS.Timeout | undefined;

  constructor(
    private readonly res: ServerResponse,
    private readonly sessionId: string,
    keepAliveMs = KEEP_ALIVE_MS,
  ) {
    this.keepAlive = setInterval(() => this.tick(), keepAliveMs);
    this.keepAlive.unref();
  }

  private tick(): void {
    const res = this.res;
    if (this.ended || res.destroyed) {
      this.stop();
      return;
    }
    if (!this.streaming) {
      this.streaming = true;
      res.writeHead(200, streamHeaders(this.sessionId));
    }
    res.write(': keepalive\n\n');
  }

  /** Lets go of the POST without writing anything (it was not served here after all, or it is gone). */
  release(): void {
    this.ended = true;
    this.stop();
  }

  private stop(): void {
    if (this.keepAlive === undefined) return;
    clearInterval(this.keepAlive);
    this.keepAlive = undefined;
  }

  /** The JSON text of `result`, which the answer carries unchanged when it comes. */
  expectEncoded(result: object, text: string): void {
    this.encoded = { result, text };
  }

  /** Writes a message related to the request, or (`answer`) the request's answer, which ends the POST. */
  write(message: object, answer: boolean): void {
    if (this.ended) return;
    const res = this.res;
    if (answer) {
      this.ended = true;
      this.stop();
    }
    if (res.destroyed) return;
    const text = answer ? this.answerText(message) : JSON.stringify(message);
    if (answer && !this.streaming) {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'mcp-session-id': this.sessionId });
      res.end(text);
      return;
    }
    if (!this.streaming) {
      this.streaming = true;
      res.writeHead(200, streamHeaders(this.sessionId));
    }
    res.write(`event: message\ndata: ${text}\n\n`);
    if (answer) res.end();
  }

  /** Ends the POST with no answer (the request was cancelled): an SSE stream that closes, as the SDK's does. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.stop();
    const res = this.res;
    if (res.destroyed) return;
    if (!this.streaming) res.writeHead(200, streamHeaders(this.sessionId));
    res.end();
  }

  private answerText(message: object): string {
    const pre = this.encoded;
    this.encoded = undefined;
    const m = message as { result?: unknown; jsonrpc?: unknown; id?: unknown };
    // Only the shape serveDirect sends, with the very result the audit encoded: anything else is encoded anew.
    if (pre === undefined || m.result !== pre.result) return JSON.stringify(message);
    const keys = Object.keys(message);
    if (keys.length !== 3 || keys[0] !== 'result' || keys[1] !== 'jsonrpc' || keys[2] !== 'id') return JSON.stringify(message);
    return `{"result":${pre.text},"jsonrpc":${JSON.stringify(m.jsonrpc)},"id":${JSON.stringify(m.id)}}`;
  }
}
