import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { parseServeConfig } from '../../src/config.js';
import { startAirlock, type RunningAirlock } from '../../src/main.js';
import { readAudit, tempDir, writePolicy } from '../support/airlock.js';

describe('cancelling a governed call from the MCP client', () => {
  it('cancels the statement on the server and audits the call as cancelled (query:cancel)', async () => {
    process.env.DATABASE_URL = inject('databaseUrl');
    const dir = tempDir();
    let airlock: RunningAirlock | undefined;
    let transport: StreamableHTTPClientTransport | undefined;
    const client = new Client({ name: 'cancel', version: '1.0.0' });
    const admin = new pg.Client({ connectionString: inject('adminUrl') });
    try {
      airlock = await startAirlock(
        parseServeConfig({
          transport: 'http', policyPath: writePolicy(dir), auditDir: join(dir, 'audit'), devIdentity: 'ana@example.com,analysts', demo: false,
          host: '127.0.0.1', port: 0, maxBodyBytes: 1 << 20, sessionIdleMs: 60_000, allowedHosts: [], allowedOrigins: [], logLevel: 'error',
        }),
        () => undefined,
      );
      transport = new StreamableHTTPClientTransport(new URL(`${airlock.http?.url ?? ''}/mcp`));
      await client.connect(transport);
      await admin.connect();
      const controller = new AbortController();
      const call = client.callTool(
        { name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT count(*) AS cancel_e2e_5521 FROM generate_series(1, 3000000000)' } },
        undefined,
        { signal: controller.signal },
      );
      const active = async (): Promise<number> =>
        (await admin.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%cancel_e2e_5521%' AND pid <> pg_backend_pid()")).rows[0]?.n ?? -1;
      for (let i = 0; i < 50 && (await active()) === 0; i++) await new Promise((r) => setTimeout(r, 50));
      expect(await active()).toBe(1);
      controller.abort('changed my mind');
      await expect(call).rejects.toThrow();
      let record: ReturnType<typeof readAudit>[number] | undefined;
      for (let i = 0; i < 60 && record === undefined; i++) {
        await new Promise((r) => setTimeout(r, 50));
        record = readAudit(join(dir, 'audit')).find((r) => r.tool === 'query_sql');
      }
      expect(record).toMatchObject({ outcome: 'cancelled', error: { code: 'CANCELLED' } });
      expect(await active()).toBe(0);
    } finally {
      await admin.end();
      await transport?.terminateSession().catch(() => undefined);
      await client.close();
      await airlock?.close();
    }
  });
});
