/**
 * Metrics and operator logs of a real `airlock serve --http --demo` (issue 21): agents with real tokens call
 * the demo tools, a DBA decides through the approval API, and the exposition and the log are read as an
 * operator would: counters moved by exactly the calls made, histograms there, and neither the exposition nor
 * the log holds a value, SQL text, email, subject or token from those calls.
 */
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RequestView } from '../../src/approval/view.js';
import { auditIdOf, CLI, readAudit, tempDir, writePolicy } from '../support/airlock.js';
import { stopChild, waitForOutput } from '../support/child.js';
import { startLocalIssuer, type LocalIssuer } from '../support/oidc-issuer.js';
import { approvalApi, connectAgent, pendingRequest, serveHttp, serverDir, tokenFor, until, writeRuntimeConfig, type Person, type Served } from '../support/served.js';

const agent: Person = { sub: 'sub-7f3e1c-agent', email: 'metrics.agent@example.org', groups: ['analysts'] };
const dba: Person = { sub: 'sub-2b9d44-dba', email: 'metrics.dba@example.org', groups: ['dba'] };
const TOKEN = randomBytes(24).toString('hex');
/** A value the calls carry that must show up nowhere but in the results and the audit. */
const SECRET = 'Zq9-literal-7781-xyzzy';

/** `name{labels} value` lines of an exposition, by series text. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const cut = line.lastIndexOf(' ');
    out.set(line.slice(0, cut), Number(line.slice(cut + 1)));
  }
  return out;
}

/** A series' value (0 when absent); labels in the order the exposition writes them. */
function value(all: Map<string, number>, name: string, labels: Record<string, string> = {}): number {
  const entries = Object.entries(labels);
  const key = entries.length === 0 ? name : `${name}{${entries.map(([k, v]) => `${k}="${v}"`).join(',')}}`;
  return all.get(key) ?? 0;
}

async function scrape(url: string, token: string | null = TOKEN): Promise<{ status: number; text: string; type: string }> {
  const res = await fetch(`${url}/metrics`, { headers: token === null ? {} : { authorization: `Bearer ${token}` } });
  return { status: res.status, text: await res.text(), type: res.headers.get('content-type') ?? '' };
}

let idp: LocalIssuer;
beforeAll(async () => {
  idp = await startLocalIssuer();
});
afterAll(async () => {
  await idp?.close();
});

describe('airlock serve --http --metrics-port with AIRLOCK_METRICS_TOKEN (issue 21)', () => {
  const { dir, auditDir } = serverDir();
  let server: Served | undefined;
  let metricsUrl = '';
  beforeAll(async () => {
    server = await serveHttp({ configPath: writeRuntimeConfig(dir, idp, { waitSeconds: 0 }), policyPath: writePolicy(dir), auditDir, env: { AIRLOCK_METRICS_TOKEN: TOKEN }, args: ['--demo', '--metrics-port', '0'] });
    metricsUrl = (await until(() => /metrics on (http:\/\/\S+)\/metrics /.exec(server?.log() ?? '')?.[1], 'the metrics listener'));
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('counts exactly the calls made, by tool, effect and outcome, with stage, call and audit histograms', async () => {
    const before = samples((await scrape(metricsUrl)).text);
    const auditBefore = readAudit(auditDir).length;
    const client = await connectAgent('Streamable HTTP 2025 (session)', server?.url ?? '', await tokenFor(idp, agent));
    const ids: string[] = [];
    try {
      const calls: [string, Record<string, unknown>][] = [
        ['query_sql', { connection: 'shop', sql: `SELECT name, email, card_number, '${SECRET}' AS note FROM customers WHERE id = 1` }],
        ['query_sql', { connection: 'shop', sql: 'DROP TABLE customers' }],
        ['read_bucket', { bucket: 'data', action: 'list' }],
        ['read_bucket', { bucket: 'data', action: 'read', object: 'app/logs/api-2026-12-01.ndjson' }],
        ['read_bucket', { bucket: 'data', action: 'read', object: 'app/no-such-object.txt' }],
        ['tail_logs', { scope: 'prod-logs', filter: 'severity>=ERROR', limit: 5 }],
        ['query_sql', { connection: 'shop', sql: 'UPDATE orders SET status = status WHERE id = $1', params: [171] }],
        [`no_such_tool_${SECRET}`, {}],
      ];
      for (const [name, args] of calls) ids.push(auditIdOf(await client.call(name, args)));
    } finally {
      await client.close();
    }
    const records = readAudit(auditDir).slice(auditBefore).filter((r) => ids.includes(r.id));
    expect(records.map((r) => [r.tool.startsWith('no_such_tool') ? 'unknown' : r.tool, r.decision?.effect ?? 'none', r.outcome])).toEqual([
      ['query_sql', 'allow', 'ok'],
      ['query_sql', 'deny', 'denied'],
      ['read_bucket', 'allow', 'ok'],
      ['read_bucket', 'allow', 'ok'],
      ['read_bucket', 'allow', 'error'],
      ['tail_logs', 'allow', 'ok'],
      ['query_sql', 'approve', 'approval_required'],
      ['unknown', 'none', 'unknown_tool'],
    ]);

    // A pending request shows in the gauge; the DBA's decision leaves it and is timed.
    const request = await pendingRequest(server?.url ?? '', await tokenFor(idp, dba), (r: RequestView) => JSON.stringify((r.input as { params?: unknown }).params) === '[171]');
    const pending = samples((await scrape(metricsUrl)).text);
    expect(value(pending, 'airlock_approvals_pending')).toBe(value(before, 'airlock_approvals_pending') + 1);
    const decided = await approvalApi(server?.url ?? '', await tokenFor(idp, dba), `/approvals/${request.id}/decision`, { verdict: 'approve' });
    expect(decided.status).toBe(200);

    const exposition = await scrape(metricsUrl);
    expect(exposition.status).toBe(200);
    expect(exposition.type).toMatch(/^text\/plain; version=0\.0\.4/);
    const after = samples(exposition.text);
    // Calls that reached a connector: those that ran, and the one Cloud Storage failed.
    const ran = records.filter((r) => r.outcome === 'ok' || r.outcome === 'error').length;
    const moved = (name: string, labels: Record<string, string>): number => value(after, name, labels) - value(before, name, labels);
    // Every call, counted once under the labels its audit record gives.
    const expected = new Map<string, number>();
    for (const r of records) {
      const key = JSON.stringify({ tool: r.tool.startsWith('no_such_tool') ? 'unknown' : r.tool, effect: r.decision?.effect ?? 'none', outcome: r.outcome });
      expected.set(key, (expected.get(key) ?? 0) + 1);
    }
    for (const [key, n] of expected) expect(moved('airlock_calls_total', JSON.parse(key) as Record<string, string>), key).toBe(n);
    const total = (m: Map<string, number>): number => [...m].filter(([k]) => k.startsWith('airlock_calls_total{')).reduce((a, [, v]) => a + v, 0);
    expect(total(after) - total(before)).toBe(records.length);
    // Masking findings, by type, as the audit records count them.
    const findings = new Map<string, number>();
    for (const r of records) for (const [type, n] of Object.entries(r.result?.findings ?? {})) findings.set(type, (findings.get(type) ?? 0) + n);
    expect(findings.size).toBeGreaterThan(0);
    for (const [type, n] of findings) expect(moved('airlock_masking_findings_total', { type }), type).toBe(n);
    // Histograms: each call went through the audit stage and wrote one record; those that ran, a started entry.
    expect(moved('airlock_stage_duration_seconds_count', { stage: 'audit' })).toBe(records.length);
    expect(moved('airlock_stage_duration_seconds_count', { stage: 'execute' })).toBe(ran);
    expect(moved('airlock_call_duration_seconds_count', { tool: 'query_sql' })).toBe(3);
    // The object that does not exist: Cloud Storage failed the call, counted under the connector and code.
    const missing = records.find((r) => r.outcome === 'error');
    expect(missing?.error?.code).toBe('NOT_FOUND');
    expect(moved('airlock_upstream_errors_total', { connector: 'storage', code: 'NOT_FOUND' })).toBe(1);
    expect(value(after, 'airlock_call_duration_seconds_bucket', { le: '+Inf', tool: 'query_sql' })).toBe(value(after, 'airlock_call_duration_seconds_count', { tool: 'query_sql' }));
    expect(moved('airlock_audit_write_seconds_count', { entry: 'started' })).toBe(ran);
    expect(moved('airlock_audit_write_seconds_count', { entry: 'record' })).toBeGreaterThanOrEqual(records.length);
    expect(value(after, 'airlock_audit_store_bytes')).toBeGreaterThan(0);
    expect(moved('airlock_approval_decision_seconds_count', { decision: 'approved' })).toBe(1);
    expect(value(after, 'airlock_approvals_pending')).toBe(value(before, 'airlock_approvals_pending'));
    expect(exposition.text).toMatch(/^# TYPE airlock_stage_duration_seconds histogram$/m);
    expect(exposition.text).toMatch(/^nodejs_heap_size_used_bytes \d+/m);

    // Nothing of what the calls carried: no value, SQL text, email, subject, token or client-chosen name.
    for (const secret of [SECRET, 'ana.silva@example.com', 'SELECT', 'UPDATE orders', agent.sub, agent.email, dba.sub, dba.email, 'no_such_tool', 'analysts', TOKEN]) {
      expect(exposition.text, secret).not.toContain(secret);
    }
  });

  it('serves /metrics on the MCP port only with the bearer token, and the same series', async () => {
    const url = server?.url ?? '';
    expect((await scrape(url, null)).status).toBe(401);
    expect((await scrape(url, 'x'.repeat(48))).status).toBe(401);
    expect((await scrape(metricsUrl, null)).status).toBe(401);
    const ok = await scrape(url);
    expect(ok.status).toBe(200);
    expect(ok.text).toMatch(/^# TYPE airlock_calls_total counter$/m);
    expect((await fetch(`${metricsUrl}/mcp`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(404);
  });

  it('logs one JSON object a line; call lines carry audit ids of the store and no values', async () => {
    const lines = (server?.log() ?? '').split('\n').filter((l) => l !== '');
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const line of parsed) {
      expect(line).toMatchObject({ name: 'airlock', level: expect.stringMatching(/^(debug|info|warn|error)$/) as unknown, msg: expect.any(String) as unknown });
      expect(new Date(String(line.time)).toISOString()).toBe(line.time);
    }
    const stored = new Set(readAudit(auditDir).map((r) => r.id));
    const callLines = parsed.filter((l) => typeof l.auditId === 'string');
    expect(callLines.length).toBeGreaterThanOrEqual(8);
    for (const l of callLines) {
      expect(stored.has(String(l.auditId)), String(l.auditId)).toBe(true);
      expect(l).toMatchObject({ requestId: expect.any(String) as unknown, tool: expect.stringMatching(/^(query_sql|read_bucket|tail_logs|unknown)$/) as unknown, outcome: expect.any(String) as unknown, durationMs: expect.any(Number) as unknown });
    }
    const text = server?.log() ?? '';
    for (const secret of [SECRET, 'ana.silva@example.com', 'card_number', 'UPDATE orders', agent.sub, agent.email, dba.email, TOKEN]) expect(text, secret).not.toContain(secret);
  });
});

describe('--log-format pretty and AIRLOCK_LOG_FORMAT (issue 21)', () => {
  it('writes text lines for people when AIRLOCK_LOG_FORMAT=pretty, and refuses an unknown format', async () => {
    const dir = tempDir('airlock-pretty-');
    const args = [CLI, 'serve', '--stdio', '--policy', writePolicy(dir), '--audit-dir', `${dir}/audit`, '--dev-identity', 'ana@example.com,analysts'];
    const child = spawn(process.execPath, args, { cwd: dir, env: { PATH: process.env.PATH ?? '', HOME: dir, AIRLOCK_LOG_FORMAT: 'pretty' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => void (err += c.toString()));
    try {
      await waitForOutput(child, /serving MCP on stdio\n/, { stream: 'stderr' });
      const lines = err.split('\n').filter((l) => l !== '');
      expect(lines.length).toBeGreaterThan(3);
      for (const line of lines) {
        expect(line).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z airlock (DEBUG|INFO|WARN|ERROR) /);
        expect(() => JSON.parse(line) as unknown).toThrow();
      }
    } finally {
      await stopChild(child);
    }
    const bad = spawn(process.execPath, [...args, '--log-format', 'xml'], { cwd: dir, env: { PATH: process.env.PATH ?? '', HOME: dir }, stdio: ['pipe', 'pipe', 'pipe'] });
    let badErr = '';
    bad.stderr.on('data', (c: Buffer) => void (badErr += c.toString()));
    const code = await new Promise<number | null>((resolve) => bad.once('exit', resolve));
    expect(code).not.toBe(0);
    expect(badErr).toContain('--log-format (or AIRLOCK_LOG_FORMAT)');
  });
});
