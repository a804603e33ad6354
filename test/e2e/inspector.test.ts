import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, inject, it } from 'vitest';
import { CLI, readAudit, ROOT, tempDir, writePolicy } from '../support/airlock.js';

const run = promisify(execFile);
const INSPECTOR = join(ROOT, 'node_modules', '.bin', 'mcp-inspector');

/**
 * Runs the MCP Inspector (pinned devDependency) in CLI mode against `airlock serve --stdio`. `signal` is the
 * test's: when the test times out the Inspector is stopped (and airlock with it, its stdin closed).
 */
async function inspector(dir: string, args: string[], signal: AbortSignal): Promise<unknown> {
  const { stdout } = await run(
    INSPECTOR,
    [
      '--cli',
      '-e', `DATABASE_URL=${inject('databaseUrl')}`,
      process.execPath, CLI, 'serve', '--stdio',
      '--policy', writePolicy(dir),
      '--audit-dir', join(dir, 'audit'),
      '--dev-identity', 'ana@example.com,analysts',
      ...args,
    ],
    { cwd: dir, signal, env: { ...process.env, HOME: dir } },
  );
  return JSON.parse(stdout) as unknown;
}

describe('MCP Inspector CLI against airlock serve --stdio', () => {
  it('lists query_sql with its annotations', async ({ signal }) => {
    const dir = tempDir();
    const result = (await inspector(dir, ['--method', 'tools/list'], signal)) as { tools: { name: string; annotations: unknown }[] };
    expect(result.tools.map((t) => t.name)).toEqual(['query_sql', 'read_bucket', 'tail_logs', 'list_resources', 'explain_policy', 'whoami', 'approval_status']);
    expect(result.tools[0]?.annotations).toMatchObject({ title: 'Query SQL (governed)', destructiveHint: true });
  });

  it('finds no schema-portability problem in any tool (the Inspector\'s own --strict check; issue 14)', async ({ signal }) => {
    const dir = tempDir();
    const { stdout, stderr } = await run(
      INSPECTOR,
      [
        '--cli',
        '-e', `DATABASE_URL=${inject('databaseUrl')}`,
        process.execPath, CLI, 'serve', '--stdio',
        '--policy', writePolicy(dir),
        '--audit-dir', join(dir, 'audit'),
        '--dev-identity', 'ana@example.com,analysts',
        '--method', 'tools/list', '--strict', '--format', 'json',
      ],
      { cwd: dir, timeout: 60_000, env: { ...process.env, HOME: dir }, signal },
    );
    const envelope = JSON.parse(stdout) as { result: { tools: { name: string }[] }; schemaFindings?: unknown };
    expect(envelope.result.tools.map((t) => t.name)).toEqual(['query_sql', 'read_bucket', 'tail_logs', 'list_resources', 'explain_policy', 'whoami', 'approval_status']);
    expect(envelope.schemaFindings).toBeUndefined();
    expect(stderr).not.toContain('Schema portability');
    expect(stderr).not.toMatch(/^(Warning|Error): tool /m);
  });

  it('calls query_sql and gets masked rows', async ({ signal }) => {
    const dir = tempDir();
    const result = (await inspector(dir, [
      '--method', 'tools/call',
      '--tool-name', 'query_sql',
      '--tool-arg', 'connection="shop"',
      '--tool-arg', 'sql="SELECT name, card_number FROM customers ORDER BY id LIMIT 2"',
    ], signal)) as { structuredContent: { rows: unknown[][] } };
    expect(result.structuredContent.rows).toEqual([
      ['Ana Silva', '[MASKED]'],
      ['Ben Okafor', '[MASKED]'],
    ]);
    expect(readAudit(join(dir, 'audit'))).toHaveLength(1);
  });
});
