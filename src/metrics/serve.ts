/**
 * Metrics as a running airlock serves them: the registry, `GET /metrics` on the MCP port (HTTP transport,
 * bearer token required) and on a listener of its own (`--metrics-port`, any transport). Loaded only when
 * metrics are asked for, so a server without them never loads prom-client.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError } from '../config.js';
import type { Logger } from '../log.js';
import type { Telemetry } from '../telemetry.js';
import { createMetrics, type MetricsSources } from './registry.js';
import { metricsRoute, type MetricsRoute } from './route.js';

export interface MetricsSettings {
  /** The listener of its own (absent: none). */
  readonly port?: number;
  readonly host: string;
  /** Required as a bearer on every listener when set; the MCP port serves metrics only with one. */
  readonly token?: string;
  readonly transport: 'stdio' | 'http';
}

export interface ServedMetrics {
  readonly telemetry: Telemetry;
  /** For the MCP port's routes (HTTP transport with a token); absent otherwise. */
  readonly route?: MetricsRoute;
  /** The listener's URL, when one was started. */
  readonly url?: string;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);
/** A token guessable in a day of scrapes would be no bearer at all. */
const TOKEN = /^[\x21-\x7e]{16,512}$/;

/** Checks the settings, builds the registry and starts what serves it. A bad setting is a ConfigError at start. */
export async function serveMetrics(settings: MetricsSettings, sources: MetricsSources, log: Logger): Promise<ServedMetrics> {
  if (settings.token !== undefined && !TOKEN.test(settings.token)) throw new ConfigError('AIRLOCK_METRICS_TOKEN must be 16 to 512 printable characters without spaces');
  const metrics = createMetrics(sources);
  const route = metricsRoute(metrics, settings.token === undefined ? {} : { token: settings.token });
  let listener: { url: string; close(): Promise<void> } | undefined;
  if (settings.port !== undefined) {
    listener = await listen(settings.host, settings.port, route, settings.token !== undefined, log);
    const guard = settings.token !== undefined ? 'a bearer token is required' : LOOPBACK.has(settings.host) ? 'loopback only' : 'NO token: anyone who reaches this port reads call counts (never values or identities); set AIRLOCK_METRICS_TOKEN';
    log(settings.token === undefined && !LOOPBACK.has(settings.host) ? 'warn' : 'info', `metrics on ${listener.url}/metrics (${guard})`);
  }
  const onMcpPort = settings.transport === 'http' && settings.token !== undefined;
  if (settings.transport === 'stdio' && settings.port === undefined) log('warn', 'AIRLOCK_METRICS_TOKEN is set, but stdio has no HTTP port: give --metrics-port N to serve metrics');
  return {
    telemetry: metrics.telemetry,
    ...(onMcpPort ? { route } : {}),
    ...(listener === undefined ? {} : { url: listener.url }),
    close: async () => listener?.close(),
  };
}

/**
 * The metrics listener: `/metrics` and nothing else. On loopback without a token, a request whose Host is
 * not this listener's own name is refused (a web page on this machine must not read it through DNS
 * rebinding). A listener on another address without a token is open on purpose (a pod network scraped by
 * address, `Host: 10.4.2.17:9464`): whoever reaches it reads the counts directly, so a Host check there
 * would only turn the scraper away.
 */
async function listen(host: string, requestedPort: number, route: MetricsRoute, hasToken: boolean, log: Logger): Promise<{ url: string; close(): Promise<void> }> {
  const display = host.includes(':') ? `[${host}]` : host;
  let port = requestedPort;
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const names = [...LOOPBACK].map((n) => (n.includes(':') ? `[${n}]` : n)).concat(display).map((n) => `${n}:${port}`);
    if (!hasToken && LOOPBACK.has(host) && !names.includes((req.headers.host ?? '').toLowerCase())) {
      res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8' }).end('Host header not allowed\n');
      return;
    }
    route(req, res, url)
      .then((answered) => {
        if (!answered) res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: this port serves /metrics only\n');
      })
      .catch((error: unknown) => {
        log('error', `metrics: ${error instanceof Error ? error.message : String(error)}`);
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('internal error\n');
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(requestedPort, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  return {
    url: `http://${display}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
