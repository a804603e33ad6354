import { execFile } from 'node:child_process';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, inject, it } from 'vitest';
import { CLI, EXAMPLE_POLICY, tempDir } from '../support/airlock.js';

const run = promisify(execFile);

async function airlock(args: string[], input?: string): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    // Not from the checkout: every path the CLI needs is given. Killed before the test's own 30 s timeout.
    // The connection's secret is set, as docs/policy.md tells: offline decisions read its catalog, so lineage
    // judges replayed reads exactly as the server did.
    const env = { ...process.env, DATABASE_URL: inject('databaseUrl') };
    const child = execFile(process.execPath, [CLI, ...args], { cwd: inject('tmpRoot'), timeout: 25_000, env }, (error, stdout, stderr) => {
      resolve({ stdout, stderr, code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1 });
    });
    child.stdin?.end(input ?? '');
  });
}

describe('airlock policy (CLI)', () => {
  it('check: reports every problem with its path and exits 2', async () => {
    const dir = tempDir();
    const file = join(dir, 'policies.json');
    writeFileSync(file, JSON.stringify({ version: 1, rules: [{ id: 'a', effect: 'deny', tools: ['query_sq1'] }] }));
    const result = await airlock(['policy', 'check', file]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('policies.json: rules[0].reason: a "deny" rule needs a "reason" (it is shown to the agent)');
    expect(result.stderr).toContain('policies.json: rules[0].tools[0]: unknown tool "query_sq1" (known: query_sql, read_bucket, tail_logs, list_resources, explain_policy, whoami, approval_status)');
    const ok = await airlock(['policy', 'check', EXAMPLE_POLICY]);
    expect(ok.stdout).toMatch(/policies\.json: OK \(\d+ rules, version sha256:[0-9a-f]{64}\)/);
  });

  it.each([
    ['a second "effect" in the deny rule', (t: string) => t.replace('"effect": "deny",', '"effect": "deny", "effect": "allow",'), /^airlock: \S*policies\.json: invalid policy\n {2}policies\.json:\d+:\d+: duplicate key "effect" \(first at line \d+, column \d+\); JSON readers disagree on which one counts, so remove one\n$/],
    ['"rules": [] at the end', (t: string) => t.replace(/\}\s*$/, ',\n  "rules": []\n}\n'), /policies\.json:\d+:3: duplicate key "rules" \(first at line \d+, column 3\)/],
    ['a byte order mark', (t: string) => `\uFEFF${t}`, /policies\.json:1:1: the file starts with a byte order mark \(U\+FEFF\); save it as UTF-8 without BOM/],
    ['a "__proto__" connection', (t: string) => t.replace('"connections": {', '"connections": { "__proto__": { "url": "env:X" },'), /policies\.json:\d+:\d+: the key "__proto__" is not allowed \(JavaScript gives it a special meaning\)/],
    ['empty principals', (t: string) => t.replace(/"principals": \{[^}]*\}/, '"principals": {}'), /policies\.json: rules\[1\]\.principals: give at least one of "groups", "emails", "subs" or "issuers"/],
  ])('check: refuses the shipped policy with %s and exits 2 (issue 15)', async (_label, edit, expected) => {
    const original = readFileSync(EXAMPLE_POLICY, 'utf8');
    const text = edit(original);
    expect(text).not.toBe(original);
    const file = join(tempDir(), 'policies.json');
    writeFileSync(file, text);
    const result = await airlock(['policy', 'check', file]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(expected);
  });

  it('explain: the decision, deciding rules and SQL facts for one call', async () => {
    const { stdout } = await run(process.execPath, [
      CLI, 'policy', 'explain', '--policy', EXAMPLE_POLICY,
      '--principal', '{"email":"ana@example.com","groups":["analysts"]}',
      '--tool', 'query_sql', '--input', '{"connection":"shop","sql":"SELECT name FROM customers"}',
    ], { cwd: inject('tmpRoot') });
    // The example policy declares customers.card_number sensitive (issue 15): offline there is no catalog
    // snapshot to resolve lineage against, so a read of customers goes to approval, and says why.
    expect(JSON.parse(stdout)).toMatchObject({
      effect: 'approve',
      ruleIds: ['analysts-read-shop'],
      reason: 'airlock cannot tell which outputs derive from sensitive columns (no catalog snapshot of this connection).',
      facts: { sql: { class: 'read', tables: ['customers'], lineage: { unresolved: ['no catalog snapshot of this connection'] } } },
    });
  });

  it('test: one decision line per call in a JSONL file', async () => {
    const calls = [
      { principal: { email: 'ana@example.com', groups: ['analysts'] }, tool: 'query_sql', input: { connection: 'shop', sql: 'SELECT 1' } },
      { principal: { email: 'bob@example.com', groups: ['sales'] }, tool: 'query_sql', input: { connection: 'shop', sql: 'SELECT 1' } },
      { principal: { email: 'ana@example.com', groups: ['analysts'] }, tool: 'query_sql', input: { connection: 'shop', sql: 'DROP TABLE orders' } },
    ];
    const result = await airlock(['policy', 'test', '--policy', EXAMPLE_POLICY, '--input', '-'], calls.map((c) => JSON.stringify(c)).join('\n'));
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as { effect: string; ruleIds: string[] });
    expect(lines.map((l) => [l.effect, l.ruleIds])).toEqual([
      ['allow', ['analysts-read-shop']],
      ['deny', []],
      ['deny', ['no-schema-or-admin']],
    ]);
  });

  it('test: replays recorded audit traffic against a candidate policy and summarises what would change', async () => {
    // Record real traffic with the example policy's rules, without its sensitive columns (the candidate
    // then adds them back, among other changes).
    const dir = tempDir();
    const auditDir = join(dir, 'audit');
    const recorded = JSON.parse(readFileSync(EXAMPLE_POLICY, 'utf8')) as { rules: unknown[]; masking: Record<string, unknown> };
    delete recorded.masking.columns;
    delete recorded.masking.sensitiveUse;
    const recordedPath = join(dir, 'recorded.json');
    writeFileSync(recordedPath, JSON.stringify(recorded));
    const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
    const { StdioClientTransport } = await import('@modelcontextprotocol/sdk/client/stdio.js');
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'serve', '--stdio', '--policy', recordedPath, '--audit-dir', auditDir, '--dev-identity', 'ana@example.com,analysts'],
      env: { PATH: process.env.PATH ?? '', DATABASE_URL: inject('databaseUrl') },
      cwd: dir,
      stderr: 'ignore',
    });
    const client = new Client({ name: 'record', version: '1.0.0' });
    try {
      await client.connect(transport);
      await client.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT count(*) FROM orders' } });
      await client.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT name FROM customers LIMIT 1' } });
      await client.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql: 'DROP TABLE orders' } });
    } finally {
      await client.close();
    }

    // Candidate: customers becomes off limits.
    const candidate = structuredClone(recorded);
    candidate.rules.push({ id: 'no-customers', effect: 'deny', tools: ['query_sql'], sql: { tables: ['customers', '*.customers'] }, reason: 'Customer data is off limits.' });
    const candidatePath = join(dir, 'candidate.json');
    writeFileSync(candidatePath, JSON.stringify(candidate));

    const result = await airlock(['policy', 'test', '--policy', candidatePath, '--input', auditDir]);
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as { was: string; effect: string; ruleIds: string[] });
    expect(lines.map((l) => `${l.was}→${l.effect}`)).toEqual(['allow→allow', 'allow→deny', 'deny→deny']);
    expect(result.stderr).toMatch(/replayed 3 recorded calls against sha256:[0-9a-f]{12}…: 2 unchanged, 1 changed \(allow→deny: 1\)/);
  });
});

describe('airlock policy test: replay of a real audit store (issue 15)', () => {
  /** Records real traffic through `airlock serve --stdio`, one session per identity, into `auditDir`. */
  async function record(auditDir: string, identity: string, calls: { name: string; arguments?: unknown }[]): Promise<void> {
    const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
    const { StdioClientTransport } = await import('@modelcontextprotocol/sdk/client/stdio.js');
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'serve', '--stdio', '--policy', EXAMPLE_POLICY, '--audit-dir', auditDir, '--dev-identity', identity],
      env: { PATH: process.env.PATH ?? '', DATABASE_URL: inject('databaseUrl') },
      cwd: tempDir(),
      stderr: 'ignore',
    });
    const client = new Client({ name: 'record', version: '1.0.0' });
    try {
      await client.connect(transport);
      for (const call of calls) await client.callTool({ name: call.name, arguments: call.arguments as Record<string, unknown> | undefined });
    } finally {
      await client.close();
    }
  }

  const MIXED = [
    { name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT count(*) FROM orders' } },
    { name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT name FROM customers LIMIT 2' } },
    { name: 'query_sql', arguments: { connection: 'shop', sql: 'DROP TABLE orders' } },
    { name: 'query_sql', arguments: { connection: 'shop', sql: 'SELEC 1' } },
    { name: 'query_sql', arguments: { connection: 'shop', sql: 42 } },
    { name: 'query_sql', arguments: { connection: 'shop' } },
    { name: 'query_sql', arguments: { connection: 'nowhere', sql: 'SELECT 1' } },
    { name: 'no_such_tool', arguments: { x: 1 } },
    { name: 'whoami', arguments: {} },
    { name: 'explain_policy', arguments: { tool: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT 1' } } },
  ];

  it('reports zero changes when a store is replayed against the policy that recorded it', async () => {
    const auditDir = join(tempDir(), 'audit');
    await record(auditDir, 'ana@example.com,analysts', MIXED);
    await record(auditDir, 'bob@example.com,sales', MIXED.slice(0, 4));
    const result = await airlock(['policy', 'test', '--policy', EXAMPLE_POLICY, '--input', auditDir]);
    expect(result.stderr).toMatch(/^replayed 14 recorded calls against sha256:[0-9a-f]{12}…: 14 unchanged, 0 changed\n$/);
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as { tool: string; was: string; now: string; auditId: string });
    expect(lines.map((l) => `${l.tool}: ${l.was}→${l.now}`)).toEqual([
      'query_sql: allow→allow',
      'query_sql: allow→allow',
      'query_sql: deny→deny',
      'query_sql: stopped:INVALID_SQL→stopped:INVALID_SQL',
      'query_sql: stopped:INVALID_INPUT→stopped:INVALID_INPUT',
      'query_sql: stopped:INVALID_INPUT→stopped:INVALID_INPUT',
      'query_sql: stopped:UNKNOWN_RESOURCE→stopped:UNKNOWN_RESOURCE',
      'no_such_tool: stopped:UNKNOWN_TOOL→stopped:UNKNOWN_TOOL',
      'whoami: allow→allow',
      'explain_policy: allow→allow',
      'query_sql: deny→deny',
      'query_sql: deny→deny',
      'query_sql: deny→deny',
      'query_sql: stopped:INVALID_SQL→stopped:INVALID_SQL',
    ]);
    expect(new Set(lines.map((l) => l.auditId)).size).toBe(14);
  });

  it('counts a stop that a candidate policy turns into a decision as a change', async () => {
    const dir = tempDir();
    const auditDir = join(dir, 'audit');
    await record(auditDir, 'ana@example.com,analysts', MIXED.slice(6, 8));
    // The candidate declares the connection the recorded call named.
    const candidate = JSON.parse(readFileSync(EXAMPLE_POLICY, 'utf8')) as { resources: { connections: Record<string, unknown> } };
    candidate.resources.connections.nowhere = { url: 'env:DATABASE_URL' };
    const candidatePath = join(dir, 'candidate.json');
    writeFileSync(candidatePath, JSON.stringify(candidate));
    const result = await airlock(['policy', 'test', '--policy', candidatePath, '--input', auditDir]);
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as { was: string; now: string });
    expect(lines.map((l) => `${l.was}→${l.now}`)).toEqual(['stopped:UNKNOWN_RESOURCE→deny', 'stopped:UNKNOWN_TOOL→stopped:UNKNOWN_TOOL']);
    expect(result.stderr).toMatch(/^replayed 2 recorded calls against sha256:[0-9a-f]{12}…: 1 unchanged, 1 changed \(stopped:UNKNOWN_RESOURCE→deny: 1\)\n$/);
  });

  it('reports a damaged journal line or segment and replays the rest', async () => {
    const auditDir = join(tempDir(), 'audit');
    await record(auditDir, 'ana@example.com,analysts', MIXED.slice(0, 3));
    appendFileSync(join(auditDir, 'journal.jsonl'), 'not json\n{"neither":1}\n');
    writeFileSync(join(auditDir, 'audit-20260101-001.json'), '{"broken":');
    const result = await airlock(['policy', 'test', '--policy', EXAMPLE_POLICY, '--input', auditDir]);
    expect(result.code).toBe(1);
    const lines = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as { was?: string; now?: string; error?: string });
    expect(lines.filter((l) => l.error !== undefined).map((l) => l.error)).toEqual([
      expect.stringMatching(/^audit-20260101-001\.json: skipped \(/),
      expect.stringMatching(/^journal\.jsonl line \d+ is not valid JSON$/),
      expect.stringMatching(/^journal\.jsonl line \d+: not a journal entry$/),
    ]);
    expect(lines.filter((l) => l.error === undefined).map((l) => `${l.was}→${l.now}`)).toEqual(['allow→allow', 'allow→allow', 'deny→deny']);
    expect(result.stderr).toMatch(/replayed 3 recorded calls against sha256:[0-9a-f]{12}…: 3 unchanged, 0 changed\n3 input line\(s\) were skipped/);
  });

  it('reports bad lines of a calls file, each where it is, and decides the rest', async () => {
    const good = { principal: { email: 'ana@example.com', groups: ['analysts'] }, tool: 'query_sql', input: { connection: 'shop', sql: 'SELECT 1' } };
    const deep = `{"principal":{"sub":"a"},"tool":"query_sql","input":{"connection":"shop","sql":"SELECT 1","params":[${'['.repeat(20_000)}${']'.repeat(20_000)}]}}`;
    const input = [
      JSON.stringify(good),
      '{"principal":{},"tool":"query_sql","input":{}}',
      '{oops',
      JSON.stringify({ ...good, principal: { sub: 'x\u001b[2Kroot' } }),
      deep,
      'null',
      JSON.stringify(good),
    ].join('\n');
    const result = await airlock(['policy', 'test', '--policy', EXAMPLE_POLICY, '--input', '-'], input);
    expect(result.code).toBe(1);
    const lines = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as { effect?: string; error?: string });
    expect(lines).toHaveLength(7);
    expect(lines[0]).toMatchObject({ effect: 'allow', now: 'allow' });
    expect(lines[1]?.error).toBe('line 2: not a call ({principal, tool, input}) or an airlock audit record: principal: a principal needs "sub" or "email"');
    expect(lines[2]?.error).toBe('line 3 is not valid JSON');
    expect(lines[3]?.error).toBe('line 4: not a call ({principal, tool, input}) or an airlock audit record: principal.sub: must not contain control characters');
    expect(lines[4]).toMatchObject({ effect: 'deny', now: 'stopped:INVALID_INPUT', error: { code: 'INVALID_INPUT' } });
    expect(lines[5]?.error).toBe('line 6: not a call ({principal, tool, input}) or an airlock audit record: (top level): Invalid input: expected object, received null');
    expect(lines[6]).toMatchObject({ effect: 'allow', now: 'allow' });
    expect(result.stderr).toMatch(/input line\(s\) were skipped: not calls or audit records, or not decidable \(see the "error" lines\)\n$/);
  });

  it.each([
    ['a duplicate key', '{"sub":"a","groups":["x"],"groups":["admin"]}', 'airlock: --principal: column 27: duplicate key "groups" (first at line 1, column 12); JSON readers disagree on which one counts, so remove one'],
    ['no sub or email', '{"groups":["analysts"]}', 'airlock: --principal: (top level): a principal needs "sub" or "email"'],
    ['a control character in sub', '{"sub":"a\\u001b[31mb"}', 'airlock: --principal: sub: must not contain control characters'],
    ['a sub that is not a string', '{"sub":123}', 'airlock: --principal: sub: Invalid input: expected string, received number'],
    ['not JSON', "{'sub':'a'}", 'airlock: --principal: column 2: not valid JSON: expected a key in double quotes or "}" but found "\'sub\':\'a\'}"'],
    ['null', 'null', 'airlock: --principal: (top level): Invalid input: expected object, received null'],
  ])('explain: refuses --principal with %s with a clear message and exit 2', async (_label, principal, expected) => {
    const result = await airlock(['policy', 'explain', '--policy', EXAMPLE_POLICY, '--principal', principal, '--tool', 'whoami']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(`${expected}\nRun "airlock policy explain --help" for usage.\n`);
  });
});
