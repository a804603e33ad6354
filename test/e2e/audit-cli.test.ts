import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import type { AuditRecord } from '../../src/audit/record.js';
import { JsonAuditStore } from '../../src/audit/store.js';
import { CLI, ROOT, tempDir } from '../support/airlock.js';
import { stopChild } from '../support/child.js';

function record(id: string, over: Partial<AuditRecord> = {}): AuditRecord {
  return {
    id,
    time: '2026-11-29T10:00:00.000Z',
    durationMs: 3,
    sessionId: 'sess-a',
    transport: 'http',
    principal: { issuer: 'https://issuer.test', sub: 'u-ana', email: 'ana@example.com', groups: ['analysts'], dev: false },
    devIdentity: false,
    tool: 'query_sql',
    input: { connection: 'shop', sql: 'SELECT id FROM orders' },
    facts: null,
    decision: { effect: 'allow', ruleIds: ['analysts-read-shop'], reason: 'allowed by analysts-read-shop', policyVersion: 'sha256:p1' },
    downstream: [],
    outcome: 'ok',
    error: null,
    result: { rowCount: 2, truncated: false, maskedColumns: ['card_number'], findings: { CREDIT_CARD: 2 } },
    response: { sha256: 'a'.repeat(64), bytes: 120, truncated: false, body: null },
    ...over,
  };
}

async function store(): Promise<string> {
  const dir = tempDir();
  const s = await JsonAuditStore.open(dir, { segmentBytes: 4096 });
  await s.append(record('c1', { time: '2026-11-29T10:00:00.000Z' }));
  await s.append(
    record('c2', {
      time: '2026-11-29T10:01:00.000Z',
      input: { connection: 'shop', sql: "DELETE FROM orders WHERE note = '=HYPERLINK(\"x\")'" },
      decision: { effect: 'deny', ruleIds: ['no-writes'], reason: 'writes need approval', policyVersion: 'sha256:p1' },
      outcome: 'denied',
      error: { code: 'POLICY_DENIED', message: 'Denied by policy.', detail: 'no-writes' },
      result: null,
    }),
  );
  await s.append(
    record('c3', {
      time: '2026-11-29T11:00:00.000Z',
      sessionId: 'sess-b',
      principal: { issuer: 'https://issuer.test', sub: 'u-bob', email: 'bob@example.com', groups: ['dba'], dev: false },
      tool: 'whoami',
      input: {},
      result: { rowCount: 0, truncated: false, maskedColumns: [], findings: {} },
    }),
  );
  for (let i = 4; i <= 12; i++) await s.append(record(`c${i}`, { time: `2026-11-29T12:${String(i).padStart(2, '0')}:00.000Z`, input: { connection: 'shop', sql: `SELECT ${i} -- ${'x'.repeat(500)}` } }));
  await s.close();
  return dir;
}

function airlock(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  // Not from the checkout, and never the real ~/.local/state: every path the CLI needs is given.
  const r = spawnSync(process.execPath, [CLI, 'audit', ...args], { cwd: inject('tmpRoot'), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env: { ...process.env, XDG_STATE_HOME: tempDir('airlock-state-') } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('airlock audit', () => {
  it('verify exits 0 on an untouched store and 1, naming the record, after an edit', async () => {
    const dir = await store();
    const ok = airlock('verify', '--audit-dir', dir);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/^ok: 12 record\(s\) in \d+ segment\(s\) form an unbroken chain; head [0-9a-f]{64}/);
    const segment = readdirSync(dir).filter((n) => n.startsWith('audit-2')).sort()[0] as string;
    const path = join(dir, segment);
    writeFileSync(path, readFileSync(path, 'utf8').replace('"outcome":"denied"', '"outcome":"ok"'));
    const bad = airlock('verify', '--audit-dir', dir);
    expect(bad.status).toBe(1);
    expect(bad.stdout).toContain('TAMPERED');
    expect(bad.stdout).toContain(`edited: ${segment} record 1 (id c2, seq 2) was changed after it was written`);
    const json = JSON.parse(airlock('verify', '--audit-dir', dir, '--json').stdout) as { ok: boolean; problems: { kind: string }[] };
    expect(json.ok).toBe(false);
  });

  it('verify draws a progress bar on request', async () => {
    const dir = await store();
    const r = airlock('verify', '--audit-dir', dir, '--progress');
    expect(r.stderr).toMatch(/verifying \[#+\] 100%/);
  });

  it('search filters by principal, outcome, tool and time, as a table or JSON', async () => {
    const dir = await store();
    const denied = JSON.parse(airlock('search', '--audit-dir', dir, '--principal', 'ANA@example.com', '--outcome', 'denied', '--format', 'json').stdout) as AuditRecord[];
    expect(denied.map((r) => r.id)).toEqual(['c2']);
    const bob = JSON.parse(airlock('search', '--audit-dir', dir, '--principal', 'bob@*', '--format', 'json').stdout) as AuditRecord[];
    expect(bob.map((r) => r.id)).toEqual(['c3']);
    const window = JSON.parse(airlock('search', '--audit-dir', dir, '--since', '2026-11-29T10:00:30Z', '--until', '2026-11-29T12:05:00Z', '--format', 'json').stdout) as AuditRecord[];
    expect(window.map((r) => r.id)).toEqual(['c2', 'c3', 'c4']);
    const table = airlock('search', '--audit-dir', dir, '--tool', 'whoami').stdout;
    expect(table.split('\n')[0]).toMatch(/^TIME\s+OUTCOME\s+PRINCIPAL\s+TOOL\s+INPUT\s+ROWS\s+ID$/);
    expect(table).toContain('bob@example.com');
    const badTime = airlock('search', '--audit-dir', dir, '--since', 'yesterday');
    expect(badTime.status).toBe(2);
    expect(badTime.stderr).toContain('--since: "yesterday" is not a time');
  });

  it('export writes JSONL or CSV, defusing spreadsheet formulas', async () => {
    const dir = await store();
    const jsonl = airlock('export', '--audit-dir', dir, '--format', 'jsonl').stdout.trim().split('\n');
    expect(jsonl).toHaveLength(12);
    expect((JSON.parse(jsonl[0] as string) as { chain: { seq: number } }).chain.seq).toBe(1);
    const csv = airlock('export', '--audit-dir', dir, '--format', 'csv', '--outcome', 'denied').stdout.trim().split('\n');
    expect(csv[0]).toBe('seq,id,time,session,transport,principal_email,principal_sub,groups,tool,input,effect,rule_ids,outcome,error_code,row_count,truncated,masked_columns,findings,duration_ms,response_sha256,hash');
    expect(csv).toHaveLength(2);
    expect(csv[1]).toMatch(/^2,c2,2026-11-29T10:01:00.000Z,sess-a,http,ana@example.com,u-ana,analysts,query_sql,/);
    expect(csv[1]).toContain(',deny,no-writes,denied,POLICY_DENIED,');
    expect(airlock('export', '--audit-dir', dir).stderr).toContain('--format is required (jsonl or csv)');
  });

  it('replay shows a session in order with inputs, decisions and result summaries', async () => {
    const dir = await store();
    const text = airlock('replay', '--audit-dir', dir, '--session', 'sess-a').stdout;
    expect(text).toMatch(/^session sess-a over http: 11 call\(s\) by ana@example.com \(analysts\)/);
    expect(text).toContain('#1  2026-11-29T10:00:00.000Z  query_sql  → ok');
    expect(text).toContain('decision: deny by no-writes: writes need approval');
    expect(text).toContain('result:   2 row(s); masked columns: card_number; findings: CREDIT_CARD×2');
    expect(airlock('replay', '--audit-dir', dir, '--session', 'nope').status).toBe(1);
  });

  it('tail prints the newest records and --follow prints new ones as they are written', async () => {
    const dir = await store();
    const last = JSON.parse(`[${airlock('tail', '--audit-dir', dir, '-n', '2', '--format', 'json').stdout.trim().split('\n').join(',')}]`) as AuditRecord[];
    expect(last.map((r) => r.id)).toEqual(['c11', 'c12']);
    let child: ChildProcess | undefined;
    let out = '';
    try {
      child = spawn(process.execPath, [CLI, 'audit', 'tail', '--audit-dir', dir, '-n', '1', '--follow', '--format', 'json'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
      await until(() => out.includes('"c12"'));
      const s = await JsonAuditStore.open(dir);
      try {
        await s.append(record('live-1'));
        await until(() => out.includes('"live-1"'));
      } finally {
        await s.close();
      }
    } finally {
      if (child !== undefined) await stopChild(child);
    }
    expect(out.trim().split('\n').map((l) => (JSON.parse(l) as AuditRecord).id)).toEqual(['c12', 'live-1']);
  });
});

async function until(check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('airlock audit verify --head (anchoring)', () => {
  it('notices records cut from the end once a head hash was noted', async () => {
    const dir = await store();
    const head = /head ([0-9a-f]{64})/.exec(airlock('verify', '--audit-dir', dir).stdout)?.[1] as string;
    const last = readdirSync(dir).filter((n) => n.startsWith('audit-2')).sort().at(-1) as string;
    const path = join(dir, last);
    const file = JSON.parse(readFileSync(path, 'utf8')) as { records: unknown[] };
    file.records.pop();
    writeFileSync(path, JSON.stringify(file));
    // Without an anchor a cut tail leaves no broken link…
    expect(airlock('verify', '--audit-dir', dir).status).toBe(0);
    // …with one, it is found.
    const anchored = airlock('verify', '--audit-dir', dir, '--head', head);
    expect(anchored.status).toBe(1);
    expect(anchored.stdout).toContain(`deleted: the anchored head ${head} is not in the chain`);
  });

  it('takes the head it printed whole or shortened to a prefix of 16+ hex digits (as the viewer shows it), with or without sha256: (issue 14)', async () => {
    const dir = await store();
    const printed = airlock('verify', '--audit-dir', dir).stdout;
    const head = /; head ([0-9a-f]{64})\n$/.exec(printed)?.[1] as string;
    for (const given of [head, head.slice(0, 16), `sha256:${head.slice(0, 16)}`, head.slice(0, 20).toUpperCase()]) {
      expect(airlock('verify', '--audit-dir', dir, '--head', given), given).toEqual({ status: 0, stdout: printed, stderr: '' });
    }
    const last = readdirSync(dir).filter((n) => n.startsWith('audit-2')).sort().at(-1) as string;
    const file = JSON.parse(readFileSync(join(dir, last), 'utf8')) as { records: unknown[] };
    file.records.pop();
    writeFileSync(join(dir, last), JSON.stringify(file));
    const short = `sha256:${head.slice(0, 16)}`;
    const cut = airlock('verify', '--audit-dir', dir, '--head', short);
    expect(cut.status).toBe(1);
    expect(cut.stdout).toContain(`deleted: the anchored head ${short} is not in the chain`);
    // 12 digits (48 bits) are few enough to grind a forged record for: refused.
    expect(airlock('verify', '--audit-dir', dir, '--head', head.slice(0, 12))).toEqual({
      status: 2,
      stdout: '',
      stderr: `airlock: --head: "${head.slice(0, 12)}" is not a head: give the whole hash or at least its first 16 hex digits (with or without "sha256:")\nRun "airlock audit verify --help" for usage.\n`,
    });
  });
});

describe('airlock serve with audit.postgres', () => {
  it('writes every call to the PostgreSQL audit, and airlock audit verify --config checks it (audit:one-record-per-call)', async () => {
    const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
    const { StdioClientTransport } = await import('@modelcontextprotocol/sdk/client/stdio.js');
    const { inject } = await import('vitest');
    const { writePolicy } = await import('../support/airlock.js');
    const { randomBytes } = await import('node:crypto');
    const dir = tempDir();
    const table = `audit_e2e_${randomBytes(3).toString('hex')}`;
    const config = join(dir, 'airlock.json');
    writeFileSync(config, JSON.stringify({ audit: { postgres: { url: 'env:AUDIT_DATABASE_URL', table, replica: 'e2e-1' } } }));
    const env = { PATH: process.env.PATH ?? '', DATABASE_URL: inject('databaseUrl'), AUDIT_DATABASE_URL: inject('adminUrl') };
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'serve', '--stdio', '--policy', writePolicy(dir), '--audit-dir', join(dir, 'unused'), '--config', config, '--dev-identity', 'ana@example.com,analysts'],
      env,
      cwd: dir,
      stderr: 'pipe',
    });
    const client = new Client({ name: 'e2e-pg-audit', version: '1.0.0' });
    try {
      await client.connect(transport);
      await client.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT count(*) FROM customers' } });
      await client.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql: 'DROP TABLE customers' } });
      await client.callTool({ name: 'whoami', arguments: {} });
    } finally {
      // Closing the transport ends the server (stdin closed, then SIGTERM, then SIGKILL) and waits for it.
      await client.close();
    }
    const r = spawnSync(process.execPath, [CLI, 'audit', 'verify', '--config', config], { cwd: dir, encoding: 'utf8', env });
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^ok: 3 record\(s\)/);
    expect(readdirSync(dir)).not.toContain('unused');
    // The readers read the table too.
    const search = spawnSync(process.execPath, [CLI, 'audit', 'search', '--config', config, '--outcome', 'denied', '--format', 'json'], { cwd: dir, encoding: 'utf8', env });
    expect((JSON.parse(search.stdout) as AuditRecord[]).map((x) => (x.input as { sql: string }).sql)).toEqual(['DROP TABLE customers']);
    const tail = spawnSync(process.execPath, [CLI, 'audit', 'tail', '--config', config, '-n', '1', '--format', 'json'], { cwd: dir, encoding: 'utf8', env });
    expect((JSON.parse(tail.stdout) as AuditRecord).tool).toBe('whoami');
    const csv = spawnSync(process.execPath, [CLI, 'audit', 'export', '--config', config, '--format', 'csv'], { cwd: dir, encoding: 'utf8', env });
    expect(csv.stdout.trim().split('\n')).toHaveLength(4);
  }, 60_000);
});

describe('airlock audit: agent-controlled text on the operator terminal (issue 15)', () => {
  const FORGED = 'query_sql\r\u001b[2K2026-11-29 10:00:00Z  ok  admin@example.com  query_sql  shop: SELECT 1';
  const HUGE_TOOL = `t${'x'.repeat(1_000_000)}`;
  // Everything a terminal acts on or that reorders or hides text; \n separates lines of output and is allowed.
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  const UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]/;

  /** Real records: real calls through `airlock serve --stdio` with a real MCP client. */
  async function recordHostileCalls(): Promise<string> {
    const auditDir = join(tempDir(), 'audit');
    const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
    const { StdioClientTransport } = await import('@modelcontextprotocol/sdk/client/stdio.js');
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'serve', '--stdio', '--policy', join(ROOT, 'policies.json'), '--audit-dir', auditDir, '--dev-identity', 'ana@example.com,analysts'],
      env: { PATH: process.env.PATH ?? '', DATABASE_URL: inject('databaseUrl') },
      cwd: tempDir(),
      stderr: 'ignore',
    });
    const client = new Client({ name: 'hostile', version: '1.0.0' });
    try {
      await client.connect(transport);
      await client.callTool({ name: FORGED, arguments: {} });
      await client.callTool({ name: HUGE_TOOL, arguments: {} });
      await client.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT 1 AS "\u202Egnp.exe\u001b[0m" -- \u009b31m\u0007' } });
      await client.callTool({ name: 'query_sql', arguments: { connection: 'shop\u001b]0;pwned\u0007', sql: 'SELECT 1' } });
      await client.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql: `SELECT 1 -- ${'y'.repeat(1_000_000)}` } });
    } finally {
      await client.close();
    }
    return auditDir;
  }

  // Eight runs of the CLI, each loading the whole command: generous on a busy machine.
  it('tail, search and replay escape control characters and cut long fields; JSON stays exact', { timeout: 120_000 }, async () => {
    const dir = await recordHostileCalls();
    const records = JSON.parse(airlock('search', '--audit-dir', dir, '--format', 'json').stdout) as AuditRecord[];
    expect(records.map((r) => r.tool)).toEqual([FORGED, HUGE_TOOL, 'query_sql', 'query_sql', 'query_sql']);
    const session = records[0]?.sessionId ?? '';

    const outputs = new Map<string, string>();
    for (const args of [['tail', '-n', '50'], ['search'], ['search', '--tool', FORGED], ['replay', '--session', session]]) {
      const label = (args[0] ?? '') + (args.includes('--tool') ? ' --tool' : '');
      const r = airlock(...args, '--audit-dir', dir);
      expect(r.status, label).toBe(0);
      expect(r.stdout, label).not.toMatch(UNSAFE);
      // Five calls, two of them carrying 1 MB fields: a screenful, not megabytes.
      expect(r.stdout.length, label).toBeLessThan(args[0] === 'replay' ? 20_000 : 3_000);
      expect(r.stdout, label).toContain('query_sql\\r\\u001b[2K2026-11-29 10:00:00Z');
      if (!args.includes('--tool')) expect(r.stdout, label).toContain(`t${'x'.repeat(40)}`);
      outputs.set(label, r.stdout);
    }
    const table = (outputs.get('tail') ?? '').trimEnd().split('\n');
    expect(table).toHaveLength(6);
    expect(table[2]).toMatch(/ tx{47}…\[\+999953 chars\] /);
    expect(table[3]).toContain('shop: SELECT 1 AS "\\u202egnp.exe\\u001b[0m" -- \\u009b31m\\u0007');
    expect(table[4]).toContain('shop\\u001b]0;pwned\\u0007: SELECT 1');
    expect(table[5]).toMatch(/shop: SELECT 1 -- y+… /);
    expect(outputs.get('search --tool')?.trimEnd().split('\n')).toHaveLength(2);

    const replay = outputs.get('replay') ?? '';
    expect(replay).toContain('error:    Unknown tool "query_sql\\r\\u001b[2K2026-11-29');
    // The audit keeps the 1 MB statement as its digest, size and a prefix; replay shows that record, cut.
    expect(replay).toMatch(/input: {4}\{"connection":"shop","sql":\{"\$truncated":true,"sha256":"[0-9a-f]{64}","bytes":1000012,"prefix":"SELECT 1 -- y+…\[\+\d+ chars\]\n/);

    const tailJson = airlock('tail', '-n', '50', '--format', 'json', '--audit-dir', dir).stdout.trim().split('\n').map((l) => JSON.parse(l) as AuditRecord);
    expect(tailJson.map((r) => r.tool)).toEqual([FORGED, HUGE_TOOL, 'query_sql', 'query_sql', 'query_sql']);
    expect((tailJson[3]?.input as { connection: string }).connection).toBe('shop\u001b]0;pwned\u0007');
  });
});
