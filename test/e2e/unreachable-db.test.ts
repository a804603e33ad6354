/**
 * Issue 14 (point 12): an unreachable database is logged for the operator with the connection's name and
 * host (configuration, never credentials) and reaches the agent as UPSTREAM_UNAVAILABLE.
 */
import { createServer } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { auditIdOf, auditRecord, CLI, EXAMPLE_POLICY, logText, tempDir, textOf, writePolicy } from '../support/airlock.js';

/** The example policy without its declared sensitive columns. */
function withoutSensitiveColumns(): unknown {
  const policy = JSON.parse(readFileSync(EXAMPLE_POLICY, 'utf8')) as { masking: { columns?: unknown; sensitiveUse?: unknown } };
  delete policy.masking.columns;
  delete policy.masking.sensitiveUse;
  return policy;
}

/** A loopback port with nothing listening (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

describe('airlock serve --stdio with a database that is down', () => {
  it('logs the connection and host for the operator and answers UPSTREAM_UNAVAILABLE to the agent', async () => {
    const dir = tempDir();
    const auditDir = `${dir}/audit`;
    const port = await closedPort();
    let stderr = '';
    const transport = new StdioClientTransport({
      command: process.execPath,
      // Without declared sensitive columns: with them, a connection that cannot be reached has no catalog for
      // lineage and the call goes to approval before it could fail on the connection.
      args: [CLI, 'serve', '--stdio', '--policy', writePolicy(dir, withoutSensitiveColumns()), '--audit-dir', auditDir, '--dev-identity', 'ana@example.com,analysts'],
      env: { PATH: process.env.PATH ?? '', HOME: dir, DATABASE_URL: `postgres://airlock:s3cret-pw@127.0.0.1:${port}/shop` },
      stderr: 'pipe',
    });
    transport.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const client = new Client({ name: 'e2e-unreachable', version: '1.0.0' });
    try {
      await client.connect(transport);
      const result = await client.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT 1' } });
      expect(result.isError).toBe(true);
      expect(textOf(result)).toMatch(/^Database connection "shop" is unavailable right now; try again shortly\.\n\[code: UPSTREAM_UNAVAILABLE; audit id: [0-9a-f-]{36}\]$/);
      expect(auditRecord(auditDir, auditIdOf(result))).toMatchObject({ outcome: 'error', error: { code: 'UPSTREAM_UNAVAILABLE' } });
      expect(logText(stderr)).toMatch(
        new RegExp(`airlock WARN connection "shop" \\(127\\.0\\.0\\.1:${port}\\) is unreachable: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}; calls to it fail with UPSTREAM_UNAVAILABLE\\n`),
      );
      expect(stderr).not.toContain('s3cret-pw');
      expect(textOf(result)).not.toContain('127.0.0.1');
    } finally {
      await client.close();
    }
  });
});
