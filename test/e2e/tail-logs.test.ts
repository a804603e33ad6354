/**
 * tail_logs end to end (issue 18): the compiled CLI over stdio with a real MCP client, its connector driving
 * the real @google-cloud/logging client against the loopback Logging server over the demo entries. The
 * filter that reaches the server is observed there; faults are injected there.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ProgressNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_LOGS, DEMO_PROJECT, demoLogEntries } from '../../src/connectors/demo-logs.js';
import { startLocalLogging, type LocalLogging, type LoggingFault, type LoggingMethod } from '../../src/connectors/local-logging.js';
import type { LogEntryJson } from '../../src/connectors/log-entry-proto.js';
import { parseLogFilter } from '../../src/policy/log-filter.js';
import { logFilterMatcher, matchesLogFilter } from '../../src/policy/log-filter-match.js';
import { auditIdOf, auditRecord, CLI, readAudit, tempDir, textOf, writePolicy } from '../support/airlock.js';

const SCOPE_FILTER = 'resource.type!="cloudsql_database"';
const RULE_FILTER = 'severity>=INFO';
/** Entries of another project on the same server: never visible through the scopes. */
const FOREIGN: LogEntryJson[] = [
  { logName: 'projects/secret-project/logs/app', timestamp: new Date(Date.now() - 60_000).toISOString(), severity: 'ERROR', insertId: 'foreign-1', textPayload: 'foreign entry' },
];

const policy = {
  version: 1,
  resources: {
    logScopes: {
      checkout: { project: DEMO_PROJECT, logNames: ['app', 'requests'], filter: SCOPE_FILTER, description: 'checkout service logs' },
      audit: { project: DEMO_PROJECT, logNames: ['cloudaudit.googleapis.com/activity'] },
      activity: { project: DEMO_PROJECT, logNames: ['cloudaudit.googleapis.com/activity'] },
      tiny: { project: DEMO_PROJECT, logNames: ['requests'], limits: { maxBytes: 4096 } },
      nofollow: { project: DEMO_PROJECT, logNames: ['app'], limits: { maxFollowSeconds: 0 } },
    },
  },
  defaults: { limits: { maxWindow: '8h', maxFollowSeconds: 5, timeoutMs: 3000 } },
  rules: [
    { id: 'intro', effect: 'allow', tools: ['whoami', 'list_resources', 'explain_policy'] },
    { id: 'analysts-logs', effect: 'allow', principals: { groups: ['analysts'] }, tools: ['tail_logs'], resources: ['checkout', 'tiny', 'nofollow'], forceLogFilter: RULE_FILTER, limits: { maxRows: 200 } },
    { id: 'security-activity', effect: 'allow', principals: { groups: ['analysts'] }, tools: ['tail_logs'], resources: ['activity'] },
    { id: 'audit-needs-approval', effect: 'approve', principals: { groups: ['analysts'] }, tools: ['tail_logs'], resources: ['audit'], approval: { approverGroups: ['security'] } },
  ],
  masking: { detectors: ['CREDIT_CARD', 'EMAIL', 'JWT', 'PASSWORD', 'PASSWORD_IN_URL', 'AWS_ACCESS_KEY', 'AWS_SECRET_KEY', 'GCP_API_KEY', 'GENERIC_API_KEY', 'IP_ADDRESS', 'PHONE'], style: 'redact' },
};

let server: LocalLogging;
let client: Client;
let transport: StdioClientTransport;
let auditDir: string;
let policyPath: string;
let stderr = '';
/** Every filter the server received, by method. */
const seen: { method: LoggingMethod; filter?: string }[] = [];
let fault: LoggingFault | undefined;
/** A fault for one method only (set while a test needs it). */
let faultFor: ((method: LoggingMethod) => LoggingFault | undefined) | undefined;
const progress: { message?: string }[] = [];
const now = new Date();

beforeAll(async () => {
  const dir = tempDir('tail-logs-');
  auditDir = join(dir, 'audit');
  server = await startLocalLogging({
    entries: [...demoLogEntries(now), ...FOREIGN],
    match: logFilterMatcher(),
    faults: (call) => {
      seen.push(call);
      return fault ?? faultFor?.(call.method);
    },
  });
  const config = join(dir, 'airlock.json');
  writeFileSync(config, JSON.stringify({ logging: { endpoint: server.address }, approvals: { waitSeconds: 0 } }));
  transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI, 'serve', '--stdio', '--policy', (policyPath = writePolicy(dir, policy)), '--audit-dir', auditDir, '--config', config, '--dev-identity', 'ana@example.com,analysts'],
    env: { PATH: process.env.PATH ?? '' },
    cwd: dir,
    stderr: 'pipe',
  });
  transport.stderr?.on('data', (chunk: Buffer) => void (stderr += chunk.toString()));
  client = new Client({ name: 'e2e-tail-logs', version: '1.0.0' });
  client.setNotificationHandler(ProgressNotificationSchema, (n) => void progress.push(n.params));
  await client.connect(transport);
}, 60_000);

afterAll(async () => {
  try {
    await client?.close();
  } finally {
    await server?.close();
  }
});

type Entry = { timestamp: string; severity?: string; logName: string; resource?: { type: string }; insertId?: string; jsonPayload?: Record<string, unknown>; textPayload?: string; httpRequest?: Record<string, unknown>; protoPayload?: Record<string, unknown>; labels?: Record<string, string> };
type Structured = { scope: string; project: string; filter: string; entries: Entry[]; count: number; truncated: boolean; nextPageToken?: string; note?: string; followedSeconds?: number; auditId: string };

async function tail(args: Record<string, unknown>, options: { signal?: AbortSignal; progressToken?: string } = {}): Promise<{ result: Awaited<ReturnType<Client['callTool']>>; calls: typeof seen }> {
  const before = seen.length;
  const result = await client.callTool(
    { name: 'tail_logs', arguments: args, ...(options.progressToken === undefined ? {} : { _meta: { progressToken: options.progressToken } }) },
    undefined,
    { ...(options.signal === undefined ? {} : { signal: options.signal }), timeout: 30_000 },
  );
  return { result, calls: seen.slice(before) };
}

const structured = (r: unknown): Structured => (r as { structuredContent: Structured }).structuredContent;
const errorCode = (r: unknown): string | undefined => (r as { _meta?: { 'airlock/error'?: { code?: string } } })._meta?.['airlock/error']?.code;

/** What the scope allows, checked entry by entry. */
function inCheckoutScope(e: Entry): boolean {
  const rank = ['DEFAULT', 'DEBUG', 'INFO', 'NOTICE', 'WARNING', 'ERROR', 'CRITICAL', 'ALERT', 'EMERGENCY'];
  return (
    (e.logName === DEMO_LOGS.app || e.logName === DEMO_LOGS.requests) && e.resource?.type !== 'cloudsql_database' && rank.indexOf(e.severity ?? 'DEFAULT') >= rank.indexOf('INFO')
  );
}

describe('tail_logs (issue 18)', () => {
  it('lists entries newest first under the forced filters, and the filter upstream is the composed one', async () => {
    const { result, calls } = await tail({ scope: 'checkout', filter: 'severity>=WARNING', since: '2h', limit: 20 });
    expect(result.isError, textOf(result)).toBeFalsy();
    const s = structured(result);
    expect(s).toMatchObject({ scope: 'checkout', project: DEMO_PROJECT, count: 20, truncated: true });
    expect(s.filter).toMatch(
      /^\(resource\.type!="cloudsql_database"\) AND \(severity>="INFO"\) AND \(logName="projects\/airlock-demo\/logs\/app" OR logName="projects\/airlock-demo\/logs\/requests"\) AND \(severity>="WARNING"\) AND timestamp>="[^"]+" AND timestamp<"[^"]+"$/,
    );
    expect(calls).toEqual([{ method: 'list', filter: s.filter }]);
    for (const e of s.entries) expect(inCheckoutScope(e) && ['WARNING', 'ERROR', 'CRITICAL', 'ALERT', 'EMERGENCY'].includes(e.severity ?? '')).toBe(true);
    const times = s.entries.map((e) => Date.parse(e.timestamp));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(Date.parse(s.entries.at(-1)!.timestamp)).toBeGreaterThanOrEqual(now.getTime() - 2 * 3600_000 - 5000);
    // The text: one line per entry, oldest first.
    const lines = textOf(result).split('\n');
    expect(lines[0]).toMatch(/^20 entries from log scope checkout \(.+\) \(TRUNCATED\)$/);
    expect(lines[1]).toMatch(/^\S+Z (WARNING|ERROR|CRITICAL|ALERT|EMERGENCY) (app|requests) {2}/);
    expect(lines[1]!.slice(0, 24) <= lines[20]!.slice(0, 24)).toBe(true);
    expect(s.note).toBe('Only 20 entries are shown (limit). Narrow the filter or the window, or pass nextPageToken as page_token with the same since/until (as RFC 3339 times).');
    expect(auditRecord(auditDir, s.auditId)).toMatchObject({ tool: 'tail_logs', outcome: 'ok', decision: { effect: 'allow', ruleIds: ['analysts-logs'] }, result: { rowCount: 20, truncated: true } });
  });

  it('orders oldest first with order asc and pages with page_token', async () => {
    const since = new Date(now.getTime() - 3 * 3600_000).toISOString();
    const until = now.toISOString();
    const first = structured((await tail({ scope: 'checkout', since, until, order: 'asc', limit: 5 })).result);
    expect(first.count).toBe(5);
    expect(first.nextPageToken).toEqual(expect.any(String));
    const times = first.entries.map((e) => Date.parse(e.timestamp));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    const second = structured((await tail({ scope: 'checkout', since, until, order: 'asc', limit: 5, page_token: first.nextPageToken })).result);
    expect(second.count).toBe(5);
    expect(Date.parse(second.entries[0]!.timestamp)).toBeGreaterThanOrEqual(times.at(-1)!);
    expect(second.entries.map((e) => e.insertId)).not.toContain(first.entries[0]!.insertId);
  });

  it('pages through every matching entry exactly once with page_token (issue 18)', async () => {
    const since = new Date(now.getTime() - 2 * 3600_000).toISOString();
    const until = new Date(now.getTime() - 5000).toISOString();
    const pages: Structured[] = [];
    let token: string | undefined;
    do {
      const page = structured((await tail({ scope: 'checkout', filter: 'severity>=WARNING', since, until, order: 'asc', limit: 7, ...(token === undefined ? {} : { page_token: token }) })).result);
      pages.push(page);
      token = page.nextPageToken;
    } while (token !== undefined && pages.length < 100);
    const ids = pages.flatMap((p) => p.entries.map((e) => e.insertId));
    // What the server holds for the exact filter airlock sent: every one of them, once, in order.
    const sent = parseLogFilter(pages[0]!.filter);
    const expected = [...demoLogEntries(now), ...FOREIGN]
      .filter((e) => matchesLogFilter(sent, e as unknown as Record<string, unknown>))
      .sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp));
    expect(expected.length).toBeGreaterThan(14);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.length).toBe(expected.length);
    expect([...ids].sort()).toEqual(expected.map((e) => e.insertId).sort());
    expect(pages.at(-1)?.truncated).toBe(false);
  });

  it.each([
    ['x) OR (true', 'filter'],
    ['textPayload:"unbalanced', 'filter'],
    ['severity>=ERROR)', 'filter'],
    ['((severity>=ERROR)', 'filter'],
  ])('refuses the hostile filter %j with INVALID_INPUT before any upstream call', async (filter, path) => {
    const { result, calls } = await tail({ scope: 'checkout', filter });
    expect(result.isError).toBe(true);
    expect(errorCode(result)).toBe('INVALID_INPUT');
    expect(textOf(result)).toMatch(new RegExp(`^Invalid arguments for tail_logs: ${path}: .+ at line \\d+, column \\d+`));
    expect(calls).toEqual([]);
    expect(auditRecord(auditDir, auditIdOf(result))).toMatchObject({ outcome: 'invalid', error: { code: 'INVALID_INPUT' } });
  });

  it.each([
    'logName="projects/secret-project/logs/app"',
    'severity>=DEFAULT OR logName="projects/airlock-demo/logs/cloudaudit.googleapis.com%2Factivity"',
    'NOT severity>=INFO',
    'resource.type="cloudsql_database" OR true',
    'x OR NOT x',
    'severity>=ERROR -- comment) OR (true',
    '-- only a comment',
  ])('narrows only: the filter %j never returns an entry outside the scope', async (filter) => {
    const { result, calls } = await tail({ scope: 'checkout', filter, since: '8h', limit: 200 });
    if (result.isError === true) {
      expect(errorCode(result)).toBe('INVALID_INPUT');
      expect(calls).toEqual([]);
      return;
    }
    const s = structured(result);
    for (const e of s.entries) expect(inCheckoutScope(e), JSON.stringify(e)).toBe(true);
    expect(s.entries.some((e) => e.insertId === 'foreign-1')).toBe(false);
    expect(calls.length).toBeGreaterThan(0);
    for (const c of calls) expect(c.filter!.startsWith('(resource.type!="cloudsql_database") AND (severity>="INFO") AND (logName=')).toBe(true);
  });

  it('refuses a window wider than the policy cap, saying the cap', async () => {
    const { result, calls } = await tail({ scope: 'checkout', since: '9h' });
    expect(errorCode(result)).toBe('INVALID_INPUT');
    expect(textOf(result)).toMatch(/^Invalid arguments for tail_logs: since: the window from since to until is 9h; policy allows at most 8h per call\. Narrow since\/until\n/);
    expect(calls).toEqual([]);
    const bad = await tail({ scope: 'checkout', since: 'yesterday' });
    expect(textOf(bad.result)).toMatch(/^Invalid arguments for tail_logs: since: since must be a duration such as "15m"/);
  });

  it('cuts at the byte cap with truncated and how to narrow', async () => {
    const s = structured((await tail({ scope: 'tiny', since: '6h', limit: 100 })).result);
    expect(s.truncated).toBe(true);
    expect(s.count).toBeGreaterThan(0);
    expect(Buffer.byteLength(JSON.stringify(s.entries))).toBeLessThanOrEqual(4096 + 1000);
    expect(s.note).toBe(`Only ${s.count} entries are shown: the result reached the 4096-byte cap. Narrow the filter (severity, logName, jsonPayload fields) or the window (since/until).`);
    expect(s.nextPageToken).toBeUndefined();
  });

  it('masks payloads, URLs, IPs, labels and audit principals in structuredContent and text', async () => {
    const result = (await tail({ scope: 'checkout', since: '6h', limit: 200 })).result;
    const s = structured(result);
    const text = textOf(result);
    const all = JSON.stringify(s.entries);
    for (const raw of ['4111111111111111', '5500005555555559', '203.0.113.17', '198.51.100.42', 'AKIAIOSFODNN7EXAMPLE', 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'Summer202', 'eyJhbGciOiJSUzI1NiJ9.']) {
      expect(all, raw).not.toContain(raw);
      expect(text, raw).not.toContain(raw);
    }
    // Emails everywhere but one case the masker misses (below).
    const email = /[a-z.]+@example\.(com|org|net)(?!:)/;
    expect(all).not.toMatch(email);
    expect(text).not.toMatch(email);
    const request = s.entries.find((e) => e.httpRequest !== undefined)!;
    expect(String(request.httpRequest!.remoteIp)).toMatch(/^\[IP_ADDRESS_\d+\]$/);
    expect(String(request.httpRequest!.requestUrl)).toMatch(/^https:\/\/api\.airlock-demo\.example\/[a-z/0-9]+\?access_token=\[GENERIC_API_KEY_\d+\]&email=/);
    expect(all).not.toMatch(/access_token=ya29/);
    const login = s.entries.find((e) => e.jsonPayload?.message === 'login failed')!;
    expect(String(login.jsonPayload!.password)).toMatch(/^\[PASSWORD_\d+\]$/);
    const paid = s.entries.find((e) => e.jsonPayload?.message === 'payment authorised')!;
    expect((paid.jsonPayload!.payment as { card_number: string }).card_number).toMatch(/^\[CREDIT_CARD_\d+\]$/);
    expect((paid.jsonPayload!.user as { email: string }).email).toMatch(/^\[EMAIL_\d+\]$/);
    expect(text).toMatch(/^\S+Z INFO requests {2}(GET|POST) \d+ https:\/\/api\.airlock-demo\.example\/\S*access_token=\[GENERIC_API_KEY_\d+\]\S* from \[IP_ADDRESS_\d+\]$/m);
  });

  it('masks a URL-encoded email (%40) in a request URL query string (issues 18, 20)', async () => {
    const s = structured((await tail({ scope: 'checkout', filter: 'httpRequest.requestUrl:"email="', since: '6h', limit: 5 })).result);
    expect(s.count).toBeGreaterThan(0);
    for (const e of s.entries) expect(String(e.httpRequest?.requestUrl)).not.toMatch(/%40example\.(com|org|net)/);
  });

  it('masks an email followed by a colon in textPayload (issue 18)', async () => {
    const s = structured((await tail({ scope: 'checkout', filter: 'textPayload:"slow query"', since: '6h', limit: 5 })).result);
    expect(s.count).toBeGreaterThan(0);
    for (const e of s.entries) expect(e.textPayload).not.toMatch(/@example\.(com|org|net)/);
  });

  it('sends a call on a scope with an approve rule to approval; nothing runs upstream', async () => {
    const { result, calls } = await tail({ scope: 'audit', since: '6h', justification: 'incident 88: who changed the SQL user' });
    expect(calls).toEqual([]);
    expect(structured(result)).toMatchObject({ status: 'pending_approval' });
    const records = readAudit(auditDir).filter((r) => r.id === auditIdOf(result));
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ tool: 'tail_logs', outcome: 'approval_required', decision: { effect: 'approve', ruleIds: ['audit-needs-approval'] } });
    expect(readFileSync(join(auditDir, 'approvals.json'), 'utf8')).toContain('incident 88: who changed the SQL user');
  });

  it('reads audit logs as JSON with the principal, caller IP and secrets in request bodies masked', async () => {
    const result = (await tail({ scope: 'activity', since: '6h', limit: 50 })).result;
    const s = structured(result);
    expect(s.count).toBeGreaterThan(3);
    for (const e of s.entries) {
      expect(e.logName).toBe(DEMO_LOGS.audit);
      const proto = e.protoPayload as { '@type': string; methodName: string; authenticationInfo: { principalEmail: string }; requestMetadata: { callerIp: string } };
      expect(proto['@type']).toBe('type.googleapis.com/google.cloud.audit.AuditLog');
      expect(proto.methodName).toMatch(/^(cloudsql|google\.iam)/);
      expect(proto.authenticationInfo.principalEmail).toMatch(/^\[EMAIL_\d+\]$/);
      expect(proto.requestMetadata.callerIp).toMatch(/^\[IP_ADDRESS_\d+\]$/);
    }
    const update = s.entries.find((e) => (e.protoPayload as { methodName: string }).methodName === 'cloudsql.users.update');
    if (update !== undefined) expect(JSON.stringify(update.protoPayload)).toMatch(/"password":"\[PASSWORD_\d+\]"/);
    expect(textOf(result)).not.toMatch(/@airlock-demo\.iam|dana\.admin@/);
    expect(textOf(result)).toMatch(/^\S+Z (INFO|NOTICE) cloudaudit\.googleapis\.com\/activity {2}\S+ \S+ by \[EMAIL_\d+\]$/m);
  });

  it('follows live: progress per batch, entries appended during the follow returned, stream closed', async () => {
    const token = 'follow-1';
    const before = progress.length;
    const appender = setInterval(() => server.append([{ logName: DEMO_LOGS.app, timestamp: new Date().toISOString(), severity: 'ERROR', insertId: `live-e2e-${Date.now()}`, textPayload: 'live error for ana.silva@example.com', resource: { type: 'cloud_run_revision' } }]), 500);
    let s: Structured;
    try {
      s = structured((await tail({ scope: 'checkout', since: '1m', follow_seconds: 3, limit: 200 }, { progressToken: token })).result);
    } finally {
      clearInterval(appender);
    }
    const live = s.entries.filter((e) => e.insertId?.startsWith('live-e2e-'));
    expect(live.length).toBeGreaterThanOrEqual(2);
    for (const e of live) expect(e.textPayload).toMatch(/^live error for \[EMAIL_\d+\]$/);
    expect(s.followedSeconds).toBe(3);
    const batches = progress.slice(before).map((p) => p.message ?? '').filter((m) => / entries so far, last at /.test(m));
    expect(batches.length).toBeGreaterThanOrEqual(1);
    expect(batches[0]).toMatch(/^\d+ entries so far, last at \d{4}-\d\d-\d\dT[\d:.]+Z \(\d+ live\)$/);
    expect(server.stats().tailActive).toBe(0);
  });

  it('refuses follow_seconds above the cap and where policy turns it off', async () => {
    const over = await tail({ scope: 'checkout', follow_seconds: 6 });
    expect(textOf(over.result)).toMatch(/^Invalid arguments for tail_logs: follow_seconds: policy allows at most 5 seconds of live tail per call\n/);
    const off = await tail({ scope: 'nofollow', follow_seconds: 1 });
    expect(textOf(off.result)).toMatch(/^Invalid arguments for tail_logs: follow_seconds: policy does not allow a live tail on this scope/);
    expect(over.calls).toEqual([]);
    expect(off.calls).toEqual([]);
  });

  it('cancelling during the follow ends the stream upstream', async () => {
    const cancelledBefore = server.stats().tailCancelled;
    const controller = new AbortController();
    const call = tail({ scope: 'checkout', since: '1m', follow_seconds: 5 }, { signal: controller.signal });
    await expect.poll(() => server.stats().tailActive, { timeout: 10_000 }).toBe(1);
    controller.abort();
    await expect(call).rejects.toThrow();
    await expect.poll(() => server.stats().tailActive, { timeout: 10_000 }).toBe(0);
    expect(server.stats().tailCancelled).toBe(cancelledBefore + 1);
    await expect.poll(() => readAudit(auditDir).filter((r) => r.tool === 'tail_logs' && r.outcome === 'cancelled').length, { timeout: 10_000 }).toBe(1);
  });

  it.each<[LoggingFault, string, string]>([
    [{ code: 'PERMISSION_DENIED' }, 'UPSTREAM_DENIED', 'error'],
    [{ code: 'UNAVAILABLE' }, 'UPSTREAM_UNAVAILABLE', 'error'],
    [{ code: 'RESOURCE_EXHAUSTED' }, 'UPSTREAM_UNAVAILABLE', 'error'],
    [{ code: 'NOT_FOUND' }, 'NOT_FOUND', 'error'],
    [{ code: 'DEADLINE_EXCEEDED' }, 'UPSTREAM_TIMEOUT', 'timed_out'],
    [{ hang: true }, 'UPSTREAM_TIMEOUT', 'timed_out'],
  ])('a listing fault %j gives %s with the audit id, and the next call works', async (f, code, outcome) => {
    fault = f;
    let result;
    try {
      result = (await tail({ scope: 'checkout', since: '10m' })).result;
    } finally {
      fault = undefined;
    }
    expect(errorCode(result)).toBe(code);
    const id = auditIdOf(result);
    expect(textOf(result)).toMatch(new RegExp(`\\[code: ${code}; audit id: ${id}\\]$`));
    expect(textOf(result)).not.toMatch(/caller does not have permission|currently unavailable|Quota exceeded|Deadline exceeded|entity was not found/);
    expect(auditRecord(auditDir, id)).toMatchObject({ tool: 'tail_logs', outcome, error: { code } });
    const next = await tail({ scope: 'checkout', since: '10m' });
    expect(next.result.isError).toBeFalsy();
  });

  it('a tail stream reset mid-follow gives UPSTREAM_UNAVAILABLE, and the next call works', async () => {
    let appended = 0;
    const appender = setInterval(() => server.append([{ logName: DEMO_LOGS.app, timestamp: new Date().toISOString(), severity: 'ERROR', insertId: `reset-${appended++}`, textPayload: 'x', resource: { type: 'cloud_run_revision' } }]), 300);
    let result;
    faultFor = (method) => (method === 'tail' ? { resetAfter: 1 } : undefined);
    try {
      result = (await tail({ scope: 'checkout', since: '1m', follow_seconds: 4 })).result;
    } finally {
      faultFor = undefined;
      clearInterval(appender);
    }
    expect(errorCode(result)).toBe('UPSTREAM_UNAVAILABLE');
    expect(auditRecord(auditDir, auditIdOf(result))).toMatchObject({ outcome: 'error', error: { code: 'UPSTREAM_UNAVAILABLE' } });
    expect((await tail({ scope: 'checkout', since: '10m' })).result.isError).toBeFalsy();
  });

  it('refuses an unknown scope with UNKNOWN_RESOURCE and one audit record', async () => {
    const { result, calls } = await tail({ scope: 'nope' });
    expect(textOf(result)).toMatch(/^Unknown log scope "nope"\./);
    expect(calls).toEqual([]);
    expect(readAudit(auditDir).filter((r) => r.id === auditIdOf(result))).toHaveLength(1);
    expect(stderr).not.toMatch(/169\.254\.169\.254|metadata\.google\.internal/);
  });
});

describe('explain_policy and policy explain for tail_logs (issue 18)', () => {
  it('dry-runs a log call on the server, and offline from the CLI, with the same decision and no upstream call', async () => {
    const cases: [Record<string, unknown>, string, string[]][] = [
      [{ scope: 'checkout', filter: 'severity>=ERROR' }, 'allow', ['analysts-logs']],
      [{ scope: 'audit' }, 'approve', ['audit-needs-approval']],
    ];
    const before = seen.length;
    for (const [input, effect, ruleIds] of cases) {
      const online = structured(await client.callTool({ name: 'explain_policy', arguments: { tool: 'tail_logs', arguments: input } })) as unknown as Record<string, unknown>;
      expect(online, String(input.scope)).toMatchObject({ effect, ruleIds, facts: { resource: { kind: 'log_scope', name: input.scope } } });
      const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'policy', 'explain', '--policy', policyPath, '--principal', '{"email":"ana@example.com","groups":["analysts"]}', '--tool', 'tail_logs', '--input', JSON.stringify(input)]);
      expect(JSON.parse(stdout), String(input.scope)).toMatchObject({ effect, ruleIds, facts: { resource: { kind: 'log_scope', name: input.scope } } });
    }
    expect(seen.length).toBe(before);
  });
});
