/**
 * A small round-robin HTTP proxy on loopback that stands in for a load balancer in front of several airlock
 * replicas (the load bench with `BENCH_LOAD_REPLICAS`, the replica tests). What it does is what a load
 * balancer with session affinity does:
 *
 * - a request without a session (2026-07-28 stateless MCP, the approval API, the first `initialize` of a 2025
 *   session) goes to the next replica in turn;
 * - a 2025-era Streamable HTTP session is pinned to the replica that answered its `initialize` with an
 *   `Mcp-Session-Id`: every later request carrying that header goes there;
 * - a replica that refuses the connection is skipped for requests that are not pinned (the request never
 *   reached it, so sending it elsewhere cannot run anything twice); a request that did reach a replica which
 *   then died is answered 502 and never retried.
 *
 * The Host header is passed on unchanged (replicas run with `--allowed-host` naming the proxy's address).
 */
import { Agent, createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface AffinityProxy {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** The host:port clients send as Host (for the replicas' `--allowed-host`). */
  readonly host: string;
  /** Sets the replicas' base URLs (`http://127.0.0.1:PORT`); pins to replicas no longer listed are dropped. */
  setTargets(targets: readonly string[]): void;
  /** Requests sent to each replica so far, by base URL. */
  routed(): ReadonlyMap<string, number>;
  /** The replica a 2025 session is pinned to. */
  pinnedTo(sessionId: string): string | undefined;
  close(): Promise<void>;
}

/** Request bodies are read whole before forwarding so that a refused connection can go to the next replica. */
const MAX_BODY = 8 * 1024 * 1024;

export async function startAffinityProxy(): Promise<AffinityProxy> {
  let targets: string[] = [];
  let next = 0;
  const pins = new Map<string, string>();
  const counts = new Map<string, number>();
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });

  const forward = (target: string, req: IncomingMessage, body: Buffer, res: ServerResponse, refused: () => void): void => {
    const url = new URL(req.url ?? '/', target);
    const upstream = request(url, { method: req.method, headers: req.headers, agent }, (answer) => {
      const session = answer.headers['mcp-session-id'];
      if (typeof session === 'string' && !pins.has(session)) pins.set(session, target);
      res.writeHead(answer.statusCode ?? 502, answer.rawHeaders);
      answer.pipe(res);
      answer.on('error', () => res.destroy());
    });
    counts.set(target, (counts.get(target) ?? 0) + 1);
    upstream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED' && !res.headersSent) return refused();
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`replica ${target} failed: ${error.code ?? error.message}`);
      } else {
        res.destroy();
      }
    });
    // A client that goes away ends the upstream request too (a cancelled SSE stream, an aborted call).
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    upstream.end(body);
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        res.writeHead(413).end();
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (res.headersSent) return;
      const body = Buffer.concat(chunks);
      const session = req.headers['mcp-session-id'];
      const pinned = typeof session === 'string' ? pins.get(session) : undefined;
      if (pinned !== undefined) {
        forward(pinned, req, body, res, () => {
          // The replica holding the session is gone: so is the session (as behind a real load balancer).
          pins.delete(session as string);
          res.writeHead(502, { 'content-type': 'text/plain' }).end(`replica ${pinned} is down`);
        });
        return;
      }
      // Round robin picks the first; a refused connection moves on to the next one after it, so each
      // replica is tried once (a shared counter would let other requests send the retries back to the dead one).
      const first = next++;
      const tryNext = (k: number): void => {
        const target = k < targets.length ? targets[(first + k) % targets.length] : undefined;
        if (target === undefined) {
          res.writeHead(503, { 'content-type': 'text/plain' }).end('no replica is up');
          return;
        }
        forward(target, req, body, res, () => tryNext(k + 1));
      };
      tryNext(0);
    });
  });
  // Like a load balancer's front end, idle client connections stay open long: a client sending on a connection
  // the proxy is closing would lose a call that never reached a replica.
  server.keepAliveTimeout = 620_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    setTargets(list) {
      targets = [...list];
      for (const [session, target] of pins) if (!targets.includes(target)) pins.delete(session);
    },
    routed: () => counts,
    pinnedTo: (session) => pins.get(session),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        agent.destroy();
        server.close(() => resolve());
      }),
  };
}
