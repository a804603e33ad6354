import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, inject, it } from 'vitest';
import { CLI, EXAMPLE_POLICY, tempDir } from '../support/airlock.js';

const run = promisify(execFile);

async function airlock(args: string[], input?: string): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    // Not from the checkout: every path the CLI needs is given. Killed before the test's own 30 s timeout.
    const child = execFile(process.execPath, [CLI, ...args], { cwd: inject('tmpRoot'), timeout: 25_000 }, (error, stdout, stderr) => {
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
    expect(result.stderr).toContain('policies.json: rules[0].tools[0]: unknown tool "query_sq1" (known: query_sql, list_resources, explain_policy, whoami)');
    const ok = await airlock(['policy', 'check', EXAMPLE_POLICY]);
    expect(ok.stdout).toMatch(/policies\.json: OK \(\d+ rules, version sha256:[0-9a-f]{64}\)/);
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
      ['approve', ['analysts-read-shop']],
      ['deny', []],
      ['deny', ['no-schema-or-admin']],
    ]);
  });

  it('test: replays recorded audit traffic against a candidate policy and summarises what would change', async () => {
    // Record real traffic with the example policy's rules. Its sensitive columns are left out: offline
    // replay has no catalog snapshot to resolve their lineage against (every read would need approval).
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
