import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Metrics } from './registry.js';

/** Answers a request (true), or returns false when the path is not `/metrics`. */
export type MetricsRoute = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;

/**
 * `GET /metrics`. With a token, only a request that sends it as `Authorization: Bearer <token>` gets the
 * exposition; others get 401 and nothing else. Without a token, the listener in front decides who can reach it.
 */
export function metricsRoute(metrics: Metrics, options: { readonly token?: string } = {}): MetricsRoute {
  if (typeof metrics?.exposition !== 'function') throw new TypeError('metricsRoute: metrics are required');
  const expected = options.token === undefined ? undefined : digest(options.token);
  return async (req, res, url) => {
    if (url.pathname !== '/metrics') return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
      return true;
    }
    if (expected !== undefined && !bearerMatches(req.headers.authorization, expected)) {
      res.writeHead(401, { 'www-authenticate': 'Bearer realm="airlock-metrics"', 'content-type': 'text/plain; charset=utf-8' }).end('unauthorized\n');
      return true;
    }
    const { contentType, body } = await metrics.exposition();
    res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : body);
    return true;
  };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Compared as digests in constant time: the token's length and content do not show in the timing. */
function bearerMatches(header: string | undefined, expected: Buffer): boolean {
  const m = /^Bearer ([^\s]+)$/i.exec(header ?? '');
  return m !== null && timingSafeEqual(digest(m[1] ?? ''), expected);
}
