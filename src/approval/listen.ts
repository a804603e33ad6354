import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';
import type { ApprovalApi } from './api.js';

/** The approvers' own HTTP listener (stdio deployments): the console and the approval API, nothing else. */
export interface ApprovalListener {
  readonly url: string;
  close(): Promise<void>;
}

const LOOPBACK = ['127.0.0.1', 'localhost', '[::1]'];

/**
 * Serves the approval routes on `host:port` for a process whose agents speak stdio and so has no HTTP port.
 * Requests whose Host header is not this listener's are refused (DNS rebinding), like on the MCP port.
 */
export async function listenForApprovers(address: string, routes: readonly ApprovalApi[], log: Logger): Promise<ApprovalListener> {
  const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(address);
  if (match === null) throw new TypeError(`listenForApprovers: "${address}" is not host:port`);
  const host = (match[1] ?? '').replace(/^\[|\]$/g, '');
  let port = Number(match[2]);
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const names = [...LOOPBACK, host.includes(':') ? `[${host}]` : host].map((n) => `${n}:${port}`);
    if (!names.includes((req.headers.host ?? '').toLowerCase())) {
      res.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'FORBIDDEN', message: 'Host header not allowed' } }));
      return;
    }
    void (async () => {
      for (const route of routes) if (await route(req, res, url)) return;
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'NOT_FOUND', message: 'Approvals only: /console and /approvals' } }));
    })().catch((error: unknown) => {
      log('error', `approvals listener: ${req.method ?? '?'} ${url.pathname} failed: ${error instanceof Error ? error.message : String(error)}`);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'INTERNAL', message: 'Internal error' } }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
