import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { ChainedRecord } from '../audit/chain.js';
import { iterateRecords } from '../audit/read.js';
import { TOMBSTONES_NAME } from '../audit/retention.js';
import { AuditFormatError, JOURNAL_NAME, listSegmentsSync } from '../audit/segments.js';
import { verifyStore, type VerifyReport } from '../audit/verify.js';
import { sessionSummaries, timelineEntry, type SessionSummary } from './audit-api.js';
import { VIEWER_CSS, VIEWER_HTML, VIEWER_JS } from './viewer-page.js';

export interface AuditViewerOptions {
  readonly dir: string;
  readonly host: string;
  readonly port: number;
  /** Access token for the API (default: 32 random bytes); the page takes it from the URL fragment. */
  readonly token?: string;
  /** Where the cause of a failure goes (answers carry a fixed text: the cause names paths). */
  readonly log?: (message: string) => void;
}

/** The fixed text of a 503 while the audit store cannot be read (its directory missing, unreadable, failing). */
export const AUDIT_UNAVAILABLE_MESSAGE = 'The audit store cannot be read right now; try again shortly.';

/** The fixed text when the audit store's files are not airlock's (altered or replaced): see Verify for where. */
export const AUDIT_INVALID_MESSAGE = 'The audit store fails its checks and cannot be shown; see Verify (or run airlock audit verify).';

/** A failed verification for a store whose files cannot be read as airlock's (the file named where the error says). */
function unreadableReport(cause: string): VerifyReport {
  const file = /^([\w.-]+):/.exec(cause)?.[1] ?? '(audit store)';
  return { ok: false, segments: 0, records: 0, removed: 0, tombstoneKeys: [], open: 0, head: '', problems: [{ file, kind: 'malformed', message: cause }] };
}

export interface AuditViewer {
  /** Open this: the token is in the fragment, which browsers never send to a server or a log. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'x-frame-options': 'DENY',
} as const;

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * A read-only web view of an audit store: sessions, each session's calls as a timeline, and the chain's
 * verification. Whoever can read the audit directory can already read everything it shows; the server
 * still binds to loopback by default, checks the Host header (no DNS rebinding) and wants a bearer token
 * on every API request. It never writes to the store and never takes its lock.
 */
export async function serveAuditViewer(options: AuditViewerOptions): Promise<AuditViewer> {
  const token = options.token ?? randomBytes(32).toString('base64url');
  const expected = Buffer.from(`Bearer ${token}`);
  let cache: { key: string; records: ChainedRecord[]; sessions: SessionSummary[]; verify?: VerifyReport } | undefined;
  const snapshot = (): NonNullable<typeof cache> => {
    // The directory itself must be there and readable: the segment listing reads a missing or unreadable one
    // as an empty store, which would show a store that went away as one without records (and as verifying).
    readdirSync(options.dir);
    // Re-read only when the store changed (new segment, a segment or the journal grew, the tombstones changed).
    const names = listSegmentsSync(options.dir);
    const sizes = [...names.slice(-2), JOURNAL_NAME, TOMBSTONES_NAME].map((n) => {
      try {
        const s = statSync(join(options.dir, n));
        return `${n}:${s.size}:${s.mtimeMs}`;
      } catch {
        return `${n}:-`;
      }
    });
    const key = `${names.length}|${sizes.join('|')}`;
    if (cache?.key !== key) {
      const records = [...iterateRecords(options.dir)];
      cache = { key, records, sessions: sessionSummaries(records) };
    }
    return cache;
  };

  let port = options.port;
  const server = createServer((req, res) => {
    try {
      handle(req, res);
    } catch (error) {
      options.log?.(`audit viewer: ${req.method ?? '?'} ${(req.url ?? '?').split('?')[0]?.slice(0, 200) ?? ''} failed: ${error instanceof Error ? error.message : String(error)}`);
      send(res, 500, 'application/json', JSON.stringify({ error: { code: 'INTERNAL', message: 'Internal error' } }));
    }
  });

  function send(res: ServerResponse, status: number, type: string, body: string): void {
    res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': `${type}; charset=utf-8` });
    res.end(body);
  }

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const host = (req.headers.host ?? '').toLowerCase();
    const [name, hostPort] = host.startsWith('[') ? [host.slice(0, host.indexOf(']') + 1), host.slice(host.indexOf(']') + 2)] : host.split(':');
    if (hostPort !== String(port) || !(LOOPBACK.has(name ?? '') || name === options.host)) return send(res, 403, 'text/plain', 'forbidden host');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'read-only');
    const path = new URL(req.url ?? '/', 'http://viewer').pathname;
    if (path === '/') return send(res, 200, 'text/html', VIEWER_HTML);
    if (path === '/viewer.js') return send(res, 200, 'text/javascript', VIEWER_JS);
    if (path === '/viewer.css') return send(res, 200, 'text/css', VIEWER_CSS);
    if (!path.startsWith('/api/')) return send(res, 404, 'text/plain', 'not found');
    const given = Buffer.from(req.headers.authorization ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return send(res, 401, 'application/json', '{"error":"a bearer token is required"}');
    let data: NonNullable<typeof cache>;
    try {
      data = snapshot();
      if (path === '/api/verify') data.verify ??= verifyStore(options.dir);
    } catch (error) {
      cache = undefined;
      const cause = error instanceof Error ? error.message : String(error);
      if (error instanceof AuditFormatError) {
        // A file there that is not airlock's (altered, replaced, cut short by hand) is evidence, not an outage:
        // "try again shortly" would pass tampering off as a passing fault. Verify reports it as a failure.
        options.log?.(`audit viewer: the audit store fails its checks: ${cause}`);
        if (path === '/api/verify') return send(res, 200, 'application/json', JSON.stringify(unreadableReport(cause)));
        return send(res, 500, 'application/json', JSON.stringify({ error: { code: 'AUDIT_INVALID', message: AUDIT_INVALID_MESSAGE } }));
      }
      if (typeof (error as NodeJS.ErrnoException).code !== 'string') {
        // Neither a file that is not airlock's nor one that cannot be read: a fault of the viewer's own, which
        // must not be reported as tampering (evidence) nor as an outage (try again).
        options.log?.(`audit viewer: ${path} failed: ${error instanceof Error ? (error.stack ?? cause) : cause}`);
        return send(res, 500, 'application/json', JSON.stringify({ error: { code: 'INTERNAL', message: 'The audit viewer failed; see its log.' } }));
      }
      // The store went away or cannot be read (an unmounted volume, a permission change, an I/O error): the
      // next request reads it again, so the viewer serves as soon as it is back.
      options.log?.(`audit viewer: the audit store cannot be read: ${cause}`);
      return send(res, 503, 'application/json', JSON.stringify({ error: { code: 'AUDIT_UNAVAILABLE', message: AUDIT_UNAVAILABLE_MESSAGE } }));
    }
    if (path === '/api/sessions') return send(res, 200, 'application/json', JSON.stringify(data.sessions));
    if (path === '/api/verify') return send(res, 200, 'application/json', JSON.stringify(data.verify));
    const session = /^\/api\/sessions\/([^/]+)$/.exec(path);
    if (session !== null) {
      const id = decodeURIComponent(session[1] as string);
      return send(res, 200, 'application/json', JSON.stringify(data.records.filter((r) => r.sessionId === id).map(timelineEntry)));
    }
    return send(res, 404, 'application/json', '{"error":"not found"}');
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  const shown = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    url: `http://${shown}:${port}/#token=${token}`,
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
