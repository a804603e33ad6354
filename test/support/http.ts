/**
 * HTTP helpers the transport tests share: a raw request (any Host, Origin or body a test needs) and the
 * settings of an HTTP airlock on a free loopback port.
 */
import { request } from 'node:http';
import { join } from 'node:path';
import { parseServeConfig, type ServeConfig } from '../../src/config.js';
import { writePolicy } from './airlock.js';

export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** A raw HTTP request, read to its end. */
export function raw(url: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Settings of `airlock serve --http` on 127.0.0.1, any free port, with the example policy in `dir` unless overridden. */
export function httpConfig(dir: string, overrides: Partial<ServeConfig> = {}): ServeConfig {
  return parseServeConfig({
    transport: 'http',
    policyPath: overrides.policyPath ?? writePolicy(dir),
    auditDir: join(dir, 'audit'),
    demo: false,
    host: '127.0.0.1',
    port: 0,
    maxBodyBytes: 1 << 20,
    sessionIdleMs: 60_000,
    allowedHosts: [],
    allowedOrigins: [],
    logLevel: 'error',
    ...overrides,
  });
}
