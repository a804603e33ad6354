import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { describe, expect, it } from 'vitest';
import { CLI, tempDir, textOf } from '../support/airlock.js';

describe('airlock start (the embedded demo)', () => {
  it('starts embedded PostgreSQL, seeds the shop, serves HTTP, and stops cleanly on Ctrl-C', { timeout: 90_000 }, async () => {
    const cwd = tempDir();
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.DATABASE_URL;
    const child = spawn(process.execPath, [CLI, 'start', '--port', '0'], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`demo did not start:\n${stderr}`)), 60_000);
        child.stderr.on('data', () => {
          const match = /Streamable HTTP:\s+(http:\/\/\S+\/mcp)/.exec(stderr);
          if (match?.[1] !== undefined) {
            clearTimeout(timer);
            resolve(match[1]);
          }
        });
        child.on('exit', () => reject(new Error(`demo exited:\n${stderr}`)));
      });
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
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      if (dataDir !== null) expect(existsSync(`/tmp/${dataDir[0]}`)).toBe(false);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
