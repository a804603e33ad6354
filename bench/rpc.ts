/**
 * What the process benchmarks share: a raw JSON-RPC client over a child's stdio and over Streamable HTTP (no
 * MCP SDK on the client side, so the client costs the same whichever server it drives), process memory from
 * /proc, a way to stop a child for sure, and the statistics the tables print.
 */
import type { ChildProcess, ChildProcessByStdio } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import type { Readable, Writable } from 'node:stream';

/** The `initialize` params every benchmark client sends; each server answers with the version it speaks. */
export const INITIALIZE_PARAMS = { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'bench', version: '1' } } as const;

/** The median of `xs` (the upper one of an even count); NaN when empty. */
export const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

/** The nearest-rank percentile `p` (0–100) of `xs`; NaN when empty. */
export function percentile(xs: readonly number[], p: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}

/** Current (VmRSS) and peak (VmHWM) resident set of a process, in MB (Linux /proc). */
export function memoryOf(pid: number): { rssMb: number; peakMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
}

/** User + system CPU time a process has used so far, in ms (Linux /proc; clock ticks of 10 ms). */
export function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15 of the whole line.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the child has exited. */
export async function stopChild(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
}

/** A JSON-RPC error or an exit of the server, as the client sees it. */
export class RpcFailure extends Error {}

/** One newline-delimited JSON-RPC client over a child's stdio; answers are returned as their raw line. */
export class StdioRpc {
  private pending: Buffer[] = [];
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (line: string) => void; reject: (error: Error) => void }>();

  constructor(
    private readonly child: ChildProcessByStdio<Writable, Readable, Readable | null>,
    private readonly label: string,
  ) {
    // Answers of 1,000 rows are ~200 KB: only each new chunk is searched for the end of the line, and the id is
    // read from the line's edge, so the client's own cost stays small and the same for every server.
    child.stdout.on('data', (chunk: Buffer) => {
      let start = 0;
      let nl: number;
      while ((nl = chunk.indexOf(10, start)) >= 0) {
        this.pending.push(chunk.subarray(start, nl));
        this.answer(Buffer.concat(this.pending).toString('utf8'));
        this.pending = [];
        start = nl + 1;
      }
      if (start < chunk.length) this.pending.push(chunk.subarray(start));
    });
    child.once('exit', (code, signal) => {
      for (const waiter of this.waiting.values()) waiter.reject(new RpcFailure(`${label}: server exited (${code ?? signal ?? '?'}) before answering`));
      this.waiting.clear();
    });
    // A write to a server that has gone surfaces through the exit above.
    child.stdin.on('error', () => undefined);
  }

  private answer(line: string): void {
    // Servers put the id first (`{"jsonrpc":"2.0","id":7,…`) or last (`…,"jsonrpc":"2.0","id":7}`).
    const match = /^\{"jsonrpc":"2\.0","id":(\d+)[,}]/.exec(line) ?? /"id":(\d+)\}$/.exec(line.slice(-32));
    const id = match === null ? (JSON.parse(line) as { id?: unknown }).id : Number(match[1]);
    if (typeof id !== 'number') return;
    const waiter = this.waiting.get(id);
    this.waiting.delete(id);
    waiter?.resolve(line);
  }

  /** Sends a request and resolves with the raw answer line. */
  request(method: string, params: unknown): Promise<string> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id, method, params })}\n`);
    });
  }

  notify(method: string): void {
    this.child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', method })}\n`);
  }

  /** `initialize` answered, then `notifications/initialized`: the handshake an MCP client does. */
  async initialize(): Promise<string> {
    const answer = await this.request('initialize', INITIALIZE_PARAMS);
    if (!answer.includes('"result"')) throw new RpcFailure(`${this.label}: initialize failed: ${answer.slice(0, 300)}`);
    this.notify('notifications/initialized');
    return answer;
  }
}

/** Plain HTTP/1.1 with keep-alive: cheaper than fetch, so the client takes less of the CPU the servers share. */
export function keepAliveAgent(maxSockets: number): Agent {
  return new Agent({ keepAlive: true, maxSockets });
}

/**
 * One Streamable HTTP session of the 2025 era (a session id after `initialize`), raw: each request is a POST
 * whose answer is JSON or one SSE event; `call` returns the JSON-RPC answer as text.
 */
export class HttpSession {
  private sessionId = '';
  private nextId = 1;

  constructor(
    private readonly url: URL,
    private readonly agent: Agent,
  ) {}

  private post(body: string): Promise<{ status: number; session: string | undefined; text: string }> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'content-length': String(Buffer.byteLength(body)),
    };
    if (this.sessionId !== '') {
      headers['mcp-session-id'] = this.sessionId;
      headers['mcp-protocol-version'] = INITIALIZE_PARAMS.protocolVersion;
    }
    return new Promise((resolve, reject) => {
      const req = httpRequest(this.url, { method: 'POST', headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const session = res.headers['mcp-session-id'];
          resolve({ status: res.statusCode ?? 0, session: typeof session === 'string' ? session : undefined, text: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  /** The JSON-RPC message in an answer body: the body itself, or the `data:` of its SSE event. */
  private static message(text: string): string {
    if (text.startsWith('{')) return text;
    const data = text
      .split('\n')
      .filter((line) => line.startsWith('data:'))
      .map((line) => line.slice(5).trimStart());
    return data.find((d) => d.includes('"id"')) ?? data.join('\n');
  }

  async initialize(): Promise<void> {
    const init = await this.post(JSON.stringify({ jsonrpc: '2.0', id: this.nextId++, method: 'initialize', params: INITIALIZE_PARAMS }));
    if (init.status !== 200 || init.session === undefined) throw new RpcFailure(`initialize: HTTP ${init.status} ${init.text.slice(0, 300)}`);
    this.sessionId = init.session;
    const ack = await this.post(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
    if (ack.status !== 202 && ack.status !== 200) throw new RpcFailure(`notifications/initialized: HTTP ${ack.status}`);
  }

  /** Sends a request in this session; resolves with the JSON-RPC answer, or rejects on a non-200 answer. */
  async request(method: string, params: unknown): Promise<string> {
    const answer = await this.post(JSON.stringify({ jsonrpc: '2.0', id: this.nextId++, method, params }));
    if (answer.status !== 200) throw new RpcFailure(`${method}: HTTP ${answer.status} ${answer.text.slice(0, 300)}`);
    return HttpSession.message(answer.text);
  }

  /** Ends the session on the server (DELETE), as a well-behaved client does. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.sessionId === '') return resolve();
      const req = httpRequest(this.url, { method: 'DELETE', headers: { 'mcp-session-id': this.sessionId, 'mcp-protocol-version': INITIALIZE_PARAMS.protocolVersion }, agent: this.agent }, (res) => {
        res.resume();
        res.on('end', () => resolve());
      });
      req.on('error', () => resolve());
      req.end();
    });
  }
}
