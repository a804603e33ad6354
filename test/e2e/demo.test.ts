import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { describe, expect, it } from 'vitest';
import { CLI, tempDir, textOf } from '../support/airlock.js';
import { stopChild, waitForOutput } from '../support/child.js';

describe('airlock start (the embedded demo)', () => {
  it('starts embedded PostgreSQL, seeds the shop, serves HTTP, and stops cleanly on Ctrl-C', { timeout: 90_000 }, async () => {
    const cwd = tempDir();
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.DATABASE_URL;
    let child: ChildProcess | undefined;
    let stderr = '';
    try {
      child = spawn(process.execPath, [CLI, 'start', '--port', '0'], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
      child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
      const url = (await waitForOutput(child, /Streamable HTTP:\s+(http:\/\/\S+\/mcp)/, { stream: 'stderr', timeoutMs: 60_000, stopSignal: 'SIGINT' }))[1]!;
      expect(stderr).toContain('DEV IDENTITY IN USE: every call runs as ana@example.com (groups: analysts)');
      const dataDir = /airlock-pg-data-[\w-]+/.exec(stderr);
      const transport = new StreamableHTTPClientTransport(new URL(url));
      const client = new Client({ name: 'demo', version: '1.0.0' });
      await client.connect(transport);
      const result = await client.callTool({
        name: 'query_sql',
        arguments: { connection: 'shop', sql: 'SELECT count(*) AS customers FROM customers' },
      });
      expect(textOf(result)).toBe('1 row\ncustomers\n12');
      await transport.terminateSession();
      await client.close();
      expect(await stopChild(child, 'SIGINT', 30_000)).toEqual({ code: 0, signal: null });
      if (dataDir !== null) expect(existsSync(join(tmpdir(), dataDir[0]))).toBe(false);
    } finally {
      // Ctrl-C, not SIGKILL, first: the demo's PostgreSQL is its child and goes down with it.
      if (child !== undefined) await stopChild(child, 'SIGINT', 30_000);
    }
  });
});
