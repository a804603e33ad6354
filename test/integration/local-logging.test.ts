/**
 * The loopback Cloud Logging server, driven only through the real `@google-cloud/logging` client over gRPC
 * (issue 18).
 */
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Logging } from '@google-cloud/logging';
import type { Entry } from '@google-cloud/logging';
import { AUDIT_LOG_TYPE_URL, decodeProtoPayload } from '../../src/connectors/audit-log-proto.js';
import { DEMO_LOGS, DEMO_PROJECT, demoLiveEntry, demoLogEntries } from '../../src/connectors/demo-logs.js';
import { startLocalLogging } from '../../src/connectors/local-logging.js';
import type { LocalLogging, LocalLoggingOptions, LoggingFault, LoggingMethod } from '../../src/connectors/local-logging.js';
import { localLoggingClientOptions } from '../../src/connectors/local-logging-client.js';
import type { LogEntryJson } from '../../src/connectors/log-entry-proto.js';

// Before any client call: never probe the metadata server (a link-local address) from tests.
process.env.METADATA_SERVER_DETECTION = 'none';

const NOW = new Date(Date.now() - 60_000);
const DEMO = demoLogEntries(NOW);
const BY_ID = new Map(DEMO.map((e) => [e.insertId, e]));

// Every TCP connection this file opens, to prove that nothing but loopback is ever contacted.
const connects: string[] = [];
// eslint-disable-next-line @typescript-eslint/unbound-method -- kept to be called with the socket as `this`
const realConnect = net.Socket.prototype.connect as (this: net.Socket, ...a: unknown[]) => net.Socket;
beforeAll(() => {
  net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]) {
    // net.connect() hands the socket its normalized arguments: an array whose first item is the options.
    const first = (Array.isArray(args[0]) ? (args[0] as unknown[])[0] : args[0]) as { host?: string; path?: string } | number | string;
    const host = typeof first === 'object' && first !== null ? (first.host ?? first.path ?? '') : typeof args[1] === 'string' ? args[1] : 'localhost';
    connects.push(host);
    return realConnect.apply(this, args);
  };
});
afterAll(() => {
  net.Socket.prototype.connect = realConnect;
});

/** A small filter for these tests: `field=value` terms joined by AND; the client's own time term passes. */
function simpleMatch(filter: string, entry: LogEntryJson): boolean {
  for (const term of filter.split(/\s+AND\s+/)) {
    const t = term.trim();
    if (t.startsWith('timestamp')) continue;
    const m = /^(severity|logName|resource\.type)\s*=\s*"?([^"]*)"?$/.exec(t);
    if (m === null) throw new Error(`filter: cannot parse "${t}" at position ${filter.indexOf(t) + 1}`);
    const value = m[1] === 'severity' ? entry.severity : m[1] === 'logName' ? entry.logName : entry.resource?.type;
    if (value !== m[2]) return false;
  }
  return true;
}

async function withLogging(fn: (server: LocalLogging, logging: Logging) => Promise<void>, options: Partial<LocalLoggingOptions> = {}): Promise<void> {
  const server = await startLocalLogging({ entries: DEMO, match: simpleMatch, ...options });
  try {
    await fn(server, new Logging(localLoggingClientOptions(server.address, DEMO_PROJECT)));
  } finally {
    await server.close();
  }
}

async function errorOf(p: Promise<unknown>): Promise<{ code: unknown; details: unknown }> {
  try {
    await p;
  } catch (err) {
    const e = err as { code?: unknown; details?: unknown };
    return { code: e.code, details: e.details };
  }
  throw new Error('expected a rejection');
}

type GetEntriesRequest = NonNullable<Parameters<Logging['getEntries']>[0]> & { pageToken?: string };

const ids = (entries: Entry[]): string[] => entries.map((e) => e.metadata.insertId ?? '');
const sortedIds = (entries: LogEntryJson[], desc: boolean): string[] => {
  const s = [...entries].sort((a, b) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : 0)).map((e) => e.insertId ?? '');
  return desc ? s.reverse() : s;
};

/** Collects tail batches until `want` entries arrived, or the stream fails or ends. */
function collect(stream: NodeJS.ReadableStream, want: number): Promise<{ ids: string[]; batches: number; error?: { code: unknown; details: unknown } }> {
  const got: string[] = [];
  let batches = 0;
  return new Promise((resolve) => {
    stream.on('data', (resp: { entries: Entry[] }) => {
      batches++;
      got.push(...ids(resp.entries));
      if (got.length >= want) resolve({ ids: got, batches });
    });
    stream.on('error', (err: { code?: unknown; details?: unknown }) => resolve({ ids: got, batches, error: { code: err.code, details: err.details } }));
    stream.on('end', () => resolve({ ids: got, batches }));
  });
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
}

describe('startLocalLogging (issue 18)', () => {
  it('refuses a host that is not loopback, and the client options refuse one too', async () => {
    await expect(startLocalLogging({ entries: [], host: '0.0.0.0' })).rejects.toThrow('startLocalLogging: host must be a loopback address (127.0.0.1 or ::1), got "0.0.0.0"');
    await expect(startLocalLogging({ entries: [], host: '10.1.2.3' })).rejects.toThrow(TypeError);
    expect(() => localLoggingClientOptions('10.1.2.3:443', 'p')).toThrow('localLoggingClientOptions: "10.1.2.3:443" must be a loopback host:port');
    expect(() => localLoggingClientOptions('logging.googleapis.com:443', 'p')).toThrow(TypeError);
  });

  it('refuses a malformed entry at start and on append', async () => {
    await expect(startLocalLogging({ entries: [{ logName: 'app', timestamp: NOW.toISOString() }] })).rejects.toThrow('logName must be projects/PROJECT/logs/LOG_ID');
    await withLogging(async (server) => {
      expect(() => server.append([{ logName: DEMO_LOGS.app, timestamp: 'yesterday' }])).toThrow('not an RFC 3339 timestamp: "yesterday"');
      expect(() => server.append([{ logName: DEMO_LOGS.app, timestamp: NOW.toISOString(), textPayload: 'a', jsonPayload: { b: 1 } }])).toThrow('more than one payload');
    });
  });

  it('lists entries through the filter callback, newest first by default', async () => {
    await withLogging(async (_server, logging) => {
      const [entries] = await logging.getEntries({ filter: 'severity=ERROR', pageSize: 1000, autoPaginate: false });
      const want = DEMO.filter((e) => e.severity === 'ERROR');
      expect(want.length).toBeGreaterThan(10);
      expect(ids(entries)).toEqual(sortedIds(want, true));
      const [sql] = await logging.getEntries({ filter: 'resource.type=cloudsql_database AND severity=NOTICE', pageSize: 1000, autoPaginate: false });
      expect(ids(sql)).toEqual(sortedIds(DEMO.filter((e) => e.resource?.type === 'cloudsql_database' && e.severity === 'NOTICE'), true));
      expect(sql.length).toBeGreaterThan(0);
    });
  });

  it('orders by timestamp ascending and descending', async () => {
    await withLogging(async (_server, logging) => {
      const [asc] = await logging.getEntries({ filter: `logName="${DEMO_LOGS.requests}"`, orderBy: 'timestamp asc', pageSize: 1000, autoPaginate: false });
      const [desc] = await logging.getEntries({ filter: `logName="${DEMO_LOGS.requests}"`, orderBy: 'timestamp desc', pageSize: 1000, autoPaginate: false });
      const requests = DEMO.filter((e) => e.logName === DEMO_LOGS.requests);
      expect(ids(asc)).toEqual(sortedIds(requests, false));
      expect(ids(desc)).toEqual(sortedIds(requests, true));
      expect(asc[0]!.metadata.timestamp).toEqual(new Date(sortedIds(requests, false).map((id) => BY_ID.get(id)!.timestamp)[0]!));
    });
  });

  it('pages with pageSize and the next query until every entry was seen once', async () => {
    await withLogging(async (_server, logging) => {
      const seen: string[] = [];
      let query: GetEntriesRequest | null = { pageSize: 100, orderBy: 'timestamp asc', autoPaginate: false };
      let pages = 0;
      while (query !== null) {
        const [entries, next]: [Entry[], GetEntriesRequest | null, unknown] = (await logging.getEntries({ ...query, autoPaginate: false })) as [Entry[], GetEntriesRequest | null, unknown];
        expect(entries.length).toBeLessThanOrEqual(100);
        seen.push(...ids(entries));
        query = next;
        pages++;
      }
      expect(pages).toBe(Math.ceil(DEMO.length / 100));
      expect(seen).toEqual(sortedIds(DEMO, false));
    });
  });

  it('answers INVALID_ARGUMENT to a tampered page token and to one from another query', async () => {
    await withLogging(async (_server, logging) => {
      const filter = `logName="${DEMO_LOGS.app}" AND timestamp >= "2000-01-01T00:00:00Z"`;
      const [, next] = (await logging.getEntries({ filter, pageSize: 5, autoPaginate: false })) as [Entry[], GetEntriesRequest | null, unknown];
      const token = next!.pageToken!;
      const flip = (s: string, i: number): string => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
      for (const bad of [flip(token, 3), flip(token, token.length - 2), `${token}.x`, 'not-a-token', token.split('.')[0]!]) {
        expect(await errorOf(logging.getEntries({ filter, pageSize: 5, pageToken: bad, autoPaginate: false }))).toEqual({ code: 3, details: 'page_token: invalid page token' });
      }
      expect(await errorOf(logging.getEntries({ filter: `${filter} AND severity=ERROR`, pageSize: 5, pageToken: token, autoPaginate: false }))).toEqual({ code: 3, details: 'page_token: the page token belongs to a different query' });
      expect(await errorOf(logging.getEntries({ filter, orderBy: 'timestamp asc', pageSize: 5, pageToken: token, autoPaginate: false }))).toEqual({ code: 3, details: 'page_token: the page token belongs to a different query' });
      const [page2] = await logging.getEntries({ filter, pageSize: 5, pageToken: token, autoPaginate: false });
      expect(ids(page2)).toEqual(sortedIds(DEMO.filter((e) => e.logName === DEMO_LOGS.app), true).slice(5, 10));
    });
  });

  it('refuses what the API refuses: a filter the callback cannot parse, another order, a page size over 1000', async () => {
    await withLogging(async (_server, logging) => {
      expect(await errorOf(logging.getEntries({ filter: 'severity>=ERROR', autoPaginate: false }))).toEqual({ code: 3, details: 'filter: cannot parse "severity>=ERROR" at position 1' });
      expect(await errorOf(logging.getEntries({ orderBy: 'severity desc', autoPaginate: false }))).toEqual({ code: 3, details: 'order_by: unsupported "severity desc" (timestamp asc or timestamp desc)' });
      expect(await errorOf(logging.getEntries({ pageSize: 1001, autoPaginate: false }))).toEqual({ code: 3, details: 'page_size: must be between 0 and 1000' });
      expect(await errorOf(logging.getEntries({ resourceNames: ['folders/123'], autoPaginate: false }))).toEqual({ code: 3, details: 'resource_names: unsupported resource name "folders/123" (expected projects/PROJECT_ID)' });
    });
  });

  it('lists only the projects named in resourceNames', async () => {
    const other: LogEntryJson = { logName: 'projects/other-project/logs/app', timestamp: NOW.toISOString(), insertId: 'other-1', textPayload: 'elsewhere' };
    await withLogging(
      async (_server, logging) => {
        const [mine] = await logging.getEntries({ pageSize: 1000, autoPaginate: false });
        expect(mine).toHaveLength(DEMO.length);
        expect(ids(mine)).not.toContain('other-1');
        // Given resourceNames, the client does not add its own project.
        const [theirs] = await logging.getEntries({ resourceNames: ['projects/other-project'], pageSize: 1000, autoPaginate: false });
        expect(ids(theirs)).toEqual(['other-1']);
        const [both] = await logging.getEntries({ resourceNames: ['projects/other-project', `projects/${DEMO_PROJECT}`], pageSize: 1000, autoPaginate: false });
        expect(both).toHaveLength(DEMO.length + 1);
      },
      { entries: [...DEMO, other] },
    );
  });

  it('returns audit logs whose protoPayload decodes to the AuditLog fields', async () => {
    await withLogging(async (_server, logging) => {
      const [entries] = await logging.getEntries({ filter: `logName="${DEMO_LOGS.audit}"`, pageSize: 1000, autoPaginate: false });
      const want = DEMO.filter((e) => e.logName === DEMO_LOGS.audit);
      expect(entries).toHaveLength(want.length);
      for (const entry of entries) {
        // What the client gives: the Any as it came off the wire.
        const raw = entry.data as { type_url: string; value: Buffer };
        expect(raw.type_url).toBe(AUDIT_LOG_TYPE_URL);
        expect(Buffer.isBuffer(raw.value)).toBe(true);
        const decoded = decodeProtoPayload(raw);
        expect(decoded).toEqual(BY_ID.get(entry.metadata.insertId!)!.protoPayload);
      }
      const update = entries.map((e) => decodeProtoPayload(e.data as { type_url: string; value: Buffer })!).find((p) => p.methodName === 'cloudsql.users.update')!;
      expect((update.authenticationInfo as { principalEmail: string }).principalEmail).toMatch(/@/);
      expect(update.request).toMatchObject({ '@type': 'type.googleapis.com/google.cloud.sql.v1beta4.SqlUsersUpdateRequest', body: { name: 'app', password: expect.stringMatching(/^Pr0d-/) as unknown } });
      expect(update.requestMetadata).toMatchObject({ callerIp: expect.any(String) as unknown });
      expect(decodeProtoPayload({ type_url: 'type.googleapis.com/google.other.Thing', value: Buffer.from([1]) })).toBeUndefined();
      expect(decodeProtoPayload({ type_url: AUDIT_LOG_TYPE_URL, value: Buffer.from([0xff, 0xff, 0xff]) })).toBeUndefined();
    });
  });

  it('round-trips jsonPayload, textPayload, httpRequest, resource, labels, trace and timestamps', async () => {
    await withLogging(async (_server, logging) => {
      const [entries] = await logging.getEntries({ pageSize: 1000, autoPaginate: false });
      expect(entries).toHaveLength(DEMO.length);
      let json = 0;
      let text = 0;
      let http = 0;
      for (const entry of entries) {
        const want = BY_ID.get(entry.metadata.insertId!)!;
        const m = entry.metadata;
        expect(m.logName).toBe(want.logName);
        expect(m.timestamp).toEqual(new Date(want.timestamp));
        expect(m.severity).toBe(want.severity);
        expect(m.trace).toBe(want.trace ?? '');
        expect(m.spanId).toBe(want.spanId ?? '');
        expect(m.resource).toEqual({ type: want.resource?.type, labels: want.resource?.labels });
        expect(m.labels).toEqual(want.labels ?? {});
        if (want.jsonPayload !== undefined) {
          json++;
          expect(entry.data).toEqual(want.jsonPayload);
        }
        if (want.textPayload !== undefined) {
          text++;
          expect(entry.data).toBe(want.textPayload);
        }
        if (want.httpRequest !== undefined) {
          http++;
          const got = m.httpRequest as Record<string, unknown>;
          const { latency, ...rest } = want.httpRequest;
          expect(got).toMatchObject(rest);
          const [s = '0', f = ''] = latency!.slice(0, -1).split('.');
          expect(got.latency).toEqual({ seconds: s, nanos: Number(f.padEnd(9, '0')) });
        }
      }
      expect([json > 100, text > 20, http > 100]).toEqual([true, true, true]);
    });
  });

  it('stores what WriteLogEntries writes and lists it back', async () => {
    await withLogging(async (server, logging) => {
      logging.detectedResource = { type: 'global', labels: { project_id: DEMO_PROJECT } };
      const log = logging.log('written');
      const at = new Date(NOW.getTime() + 1000);
      await log.write([log.entry({ severity: 'WARNING', timestamp: at, insertId: 'w-1', labels: { k: 'v' } }, { card: '4111111111111111', nested: { ok: true, n: [1, 'a', null] } }), log.entry({ timestamp: at, insertId: 'w-2' }, 'plain text')], {
        gaxOptions: { retry: null },
      });
      expect(server.stats().write).toBe(1);
      const [all] = await logging.getEntries({ filter: `logName="projects/${DEMO_PROJECT}/logs/written"`, orderBy: 'timestamp asc', autoPaginate: false });
      // The client adds one diagnostic entry (its instrumentation info) to the first write of a process.
      const entries = all.filter((e) => !JSON.stringify(e.data).includes('logging.googleapis.com/diagnostic'));
      expect(all.length - entries.length).toBeLessThanOrEqual(1);
      expect(ids(entries)).toEqual(['w-1', 'w-2']);
      expect(entries[0]!.data).toEqual({ card: '4111111111111111', nested: { ok: true, n: [1, 'a', null] } });
      expect(entries[0]!.metadata).toMatchObject({ severity: 'WARNING', labels: { k: 'v' }, resource: { type: 'global', labels: { project_id: DEMO_PROJECT } } });
      expect(entries[0]!.metadata.timestamp).toEqual(at);
      expect(entries[1]!.data).toBe('plain text');
    });
  });

  it('tails appended entries that match, in batches, and sees the client cancel (abort)', async () => {
    await withLogging(async (server, logging) => {
      const stream = logging.tailEntries({ filter: 'severity=ERROR' });
      const got = collect(stream, 3);
      await until(() => server.stats().tailActive === 1, 'the tail to open');
      server.append([
        { logName: DEMO_LOGS.app, timestamp: new Date().toISOString(), insertId: 't-1', severity: 'ERROR', textPayload: 'one' },
        { logName: DEMO_LOGS.app, timestamp: new Date().toISOString(), insertId: 't-skip', severity: 'INFO', textPayload: 'not matching' },
        { logName: 'projects/other-project/logs/app', timestamp: new Date().toISOString(), insertId: 't-other', severity: 'ERROR', textPayload: 'other project' },
        { logName: DEMO_LOGS.app, timestamp: new Date().toISOString(), insertId: 't-2', severity: 'ERROR', textPayload: 'two' },
      ]);
      server.append([{ logName: DEMO_LOGS.app, timestamp: new Date().toISOString(), insertId: 't-3', severity: 'ERROR', jsonPayload: { n: 3 } }]);
      const result = await got;
      expect(result).toEqual({ ids: ['t-1', 't-2', 't-3'], batches: 2 });
      expect(server.stats()).toMatchObject({ tailOpened: 1, tailActive: 1, tailCancelled: 0 });
      (stream as unknown as { abort(): void }).abort();
      await until(() => server.stats().tailCancelled === 1, 'the server to see the cancel');
      expect(server.stats()).toMatchObject({ tailOpened: 1, tailActive: 0, tailCancelled: 1 });
    });
  });

  it('keeps the upstream tail open when the client stream is only destroyed; abort() ends it', async () => {
    await withLogging(async (server, logging) => {
      const stream = logging.tailEntries({});
      const got = collect(stream, 1);
      await until(() => server.stats().tailActive === 1, 'the tail to open');
      server.append([demoLiveEntry(0, new Date())]);
      expect((await got).ids).toEqual(['live-0']);
      stream.destroy();
      await new Promise((r) => setTimeout(r, 200));
      // destroy() does not cancel the gRPC call: a connector must call abort() to end the stream upstream.
      expect(server.stats()).toMatchObject({ tailActive: 1, tailCancelled: 0 });
      (stream as unknown as { abort(): void }).abort();
      await until(() => server.stats().tailCancelled === 1, 'the server to see the cancel');
      expect(server.stats().tailActive).toBe(0);
    });
  });

  it('serves the demo live sequence to a tail', async () => {
    await withLogging(async (server, logging) => {
      const stream = logging.tailEntries({ filter: `logName="${DEMO_LOGS.audit}"` });
      const got = collect(stream, 1);
      await until(() => server.stats().tailActive === 1, 'the tail to open');
      server.append(Array.from({ length: 12 }, (_, i) => demoLiveEntry(i, new Date())));
      const result = await got;
      (stream as unknown as { abort(): void }).abort();
      expect(result.ids).toEqual(['live-5', 'live-11']);
      expect(demoLiveEntry(5, NOW)).toEqual(demoLiveEntry(5, NOW));
    });
  });
});

const FAULT_DETAILS = { DEADLINE_EXCEEDED: 'Deadline exceeded.', UNAVAILABLE: 'The service is currently unavailable.' } as const;

describe('startLocalLogging faults (issue 18)', () => {
  function faultOn(method: LoggingMethod, fault: LoggingFault, seen: { method: LoggingMethod; filter?: string }[] = []): Partial<LocalLoggingOptions> {
    return {
      faults: (call) => {
        seen.push(call);
        return call.method === method ? fault : undefined;
      },
    };
  }

  it('answers PERMISSION_DENIED, NOT_FOUND and RESOURCE_EXHAUSTED once: the client does not retry them', async () => {
    const cases = [
      ['PERMISSION_DENIED', 7, 'The caller does not have permission'],
      ['NOT_FOUND', 5, 'Requested entity was not found.'],
      ['RESOURCE_EXHAUSTED', 8, "Quota exceeded for quota metric 'Read requests'."],
    ] as const;
    for (const [name, code, details] of cases) {
      const seen: { method: LoggingMethod; filter?: string }[] = [];
      await withLogging(async (_server, logging) => {
        expect(await errorOf(logging.getEntries({ filter: 'severity=ERROR', autoPaginate: false }))).toEqual({ code, details });
        expect(seen).toHaveLength(1);
        expect(seen[0]!.method).toBe('list');
        expect(seen[0]!.filter).toMatch(/^severity=ERROR AND timestamp >= "/);
      }, faultOn('list', { code: name }, seen));
    }
  });

  it('retries DEADLINE_EXCEEDED and UNAVAILABLE: retry null keeps one attempt and the code, maxRetries N makes N attempts and reports DEADLINE_EXCEEDED', async () => {
    for (const [name, code] of [
      ['DEADLINE_EXCEEDED', 4],
      ['UNAVAILABLE', 14],
    ] as const) {
      const seen: { method: LoggingMethod }[] = [];
      await withLogging(async (_server, logging) => {
        expect(await errorOf(logging.getEntries({ autoPaginate: false, gaxOptions: { retry: null, timeout: 5000 } }))).toEqual({ code, details: FAULT_DETAILS[name] });
        expect(seen).toHaveLength(1);
        for (const maxRetries of [0, 1, 3]) {
          seen.length = 0;
          const err = await errorOf(logging.getEntries({ autoPaginate: false, gaxOptions: { maxRetries } }));
          // gax replaces the upstream code with its own DEADLINE_EXCEEDED once the attempts are used up.
          expect(err.code).toBe(4);
          expect(seen).toHaveLength(Math.max(1, maxRetries));
        }
      }, faultOn('list', { code: name }, seen));
    }
  });

  it('fails a write with the fault code and without retries when retry is null', async () => {
    const seen: { method: LoggingMethod }[] = [];
    await withLogging(async (server, logging) => {
      logging.detectedResource = { type: 'global', labels: {} };
      const log = logging.log('written');
      expect((await errorOf(log.write(log.entry({}, { a: 1 }), { gaxOptions: { retry: null } }))).code).toBe(14);
      expect(seen.filter((c) => c.method === 'write')).toHaveLength(1);
      expect(server.stats().write).toBe(0);
    }, faultOn('write', { code: 'UNAVAILABLE' }, seen));
  });

  it('bounds a hanging list by the client timeout (DEADLINE_EXCEEDED) and serves the next call', async () => {
    let hang = true;
    await withLogging(
      async (_server, logging) => {
        const err = await errorOf(logging.getEntries({ autoPaginate: false, gaxOptions: { timeout: 300, maxRetries: 0 } }));
        expect(err.code).toBe(4);
        hang = false;
        const [entries] = await logging.getEntries({ pageSize: 1, autoPaginate: false, gaxOptions: { timeout: 5000 } });
        expect(entries).toHaveLength(1);
      },
      { faults: (call) => (hang && call.method === 'list' ? { hang: true } : undefined) },
    );
  });

  it('bounds a hanging tail by the client deadline', async () => {
    await withLogging(async (server, logging) => {
      const stream = logging.tailEntries({ gaxOptions: { timeout: 300 } });
      const result = await collect(stream, 1);
      expect(result.ids).toEqual([]);
      expect(result.error?.code).toBe(4);
      expect(server.stats().tailOpened).toBe(1);
    }, faultOn('tail', { hang: true }));
  });

  it('fails a tail at once with its fault code', async () => {
    await withLogging(async (server, logging) => {
      const result = await collect(logging.tailEntries({}), 1);
      expect(result).toEqual({ ids: [], batches: 0, error: { code: 7, details: 'The caller does not have permission' } });
      expect(server.stats()).toMatchObject({ tailActive: 0, tailCancelled: 0 });
    }, faultOn('tail', { code: 'PERMISSION_DENIED' }));
  });

  it('drops a tail with UNAVAILABLE after resetAfter entries, and the next tail works', async () => {
    let reset = true;
    await withLogging(
      async (server, logging) => {
        const stream = logging.tailEntries({});
        const got = collect(stream, 100);
        await until(() => server.stats().tailActive === 1, 'the tail to open');
        server.append(Array.from({ length: 5 }, (_, i) => demoLiveEntry(i, new Date())));
        const result = await got;
        expect(result.ids).toEqual(['live-0', 'live-1', 'live-2']);
        expect(result.error).toEqual({ code: 14, details: 'Connection reset by peer' });
        expect(server.stats()).toMatchObject({ tailActive: 0, tailCancelled: 0 });
        reset = false;
        const again = logging.tailEntries({});
        const next = collect(again, 2);
        await until(() => server.stats().tailActive === 1, 'the second tail to open');
        server.append([demoLiveEntry(7, new Date()), demoLiveEntry(8, new Date())]);
        expect((await next).ids).toEqual(['live-7', 'live-8']);
        (again as unknown as { abort(): void }).abort();
      },
      { faults: (call) => (reset && call.method === 'tail' ? { resetAfter: 3 } : undefined) },
    );
  });
});

describe('demoLogEntries (issue 18)', () => {
  it('is deterministic, spans six hours and carries every kind of sensitive value', () => {
    expect(demoLogEntries(NOW)).toEqual(DEMO);
    expect(DEMO.length).toBeGreaterThan(300);
    const first = Date.parse(DEMO[0]!.timestamp);
    const last = Date.parse(DEMO.at(-1)!.timestamp);
    expect(first).toBeGreaterThanOrEqual(NOW.getTime() - 6 * 3600_000);
    expect(last).toBeLessThanOrEqual(NOW.getTime());
    expect(last - first).toBeGreaterThan(5.5 * 3600_000);
    expect(new Set(DEMO.map((e) => e.insertId)).size).toBe(DEMO.length);
    expect(new Set(DEMO.map((e) => e.severity))).toEqual(new Set(['DEBUG', 'INFO', 'NOTICE', 'WARNING', 'ERROR', 'CRITICAL', 'ALERT', 'EMERGENCY']));
    expect(new Set(DEMO.map((e) => e.resource?.type))).toEqual(new Set(['cloud_run_revision', 'gce_instance', 'cloudsql_database']));
    const text = JSON.stringify(DEMO);
    for (const needle of ['4111111111111111', '@example.com', '"password":', 'Bearer eyJ', '"api_key":"AIza', 'access_token=ya29.', 'AKIAIOSFODNN7EXAMPLE', '"remoteIp":', '"referer":', '"principalEmail":', '"private_key_data":', 'projects/airlock-demo/traces/', '    at ']) {
      expect(text, needle).toContain(needle);
    }
  });
});

describe('loopback only (issue 18)', () => {
  it('never connected anywhere but loopback, and never probed the metadata server', () => {
    expect(process.env.METADATA_SERVER_DETECTION).toBe('none');
    expect(connects.length).toBeGreaterThan(0);
    expect(connects.filter((h) => !/^(127\.\d+\.\d+\.\d+|::1|localhost|\[::1\])$/.test(h))).toEqual([]);
  });
});
