import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { describe, expect, inject, it } from 'vitest';
import { CLI, readAudit, tempDir, textOf } from '../support/airlock.js';
import { stopChild, waitForOutput } from '../support/child.js';

/** The environment of a user with their own state directory (never the real ~/.local/state). */
function demoEnv(): NodeJS.ProcessEnv {
  const home = tempDir('airlock-home-');
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, XDG_STATE_HOME: join(home, 'state') };
  delete env.DATABASE_URL;
  return env;
}

const BANNER = /\nairlock demo is running\.\n[\s\S]*\nPress Ctrl-C to stop[^\n]*\n/;

/** Starts the demo and resolves with the whole banner once it is printed (the demo is stopped if it never is). */
async function startDemo(env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; banner: string; stderr: () => string }> {
  const child = spawn(process.execPath, [CLI, 'start', '--port', '0'], { cwd: tempDir(), env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const banner = (await waitForOutput(child, BANNER, { stream: 'stderr', timeoutMs: 60_000, stopSignal: 'SIGINT' }))[0];
  return { child, banner, stderr: () => stderr };
}

describe('airlock start (the embedded demo)', () => {
  it('starts embedded PostgreSQL, seeds the shop, serves HTTP, and stops cleanly on Ctrl-C', { timeout: 90_000 }, async () => {
    const env = demoEnv();
    let demo: Awaited<ReturnType<typeof startDemo>> | undefined;
    try {
      demo = await startDemo(env);
      const text = demo.banner;
      const url = /Streamable HTTP:\s+(http:\/\/\S+\/mcp)/.exec(text)?.[1] ?? '';
      expect(demo.stderr()).toContain('DEV IDENTITY IN USE: every call runs as ana@example.com (groups: analysts)');
      expect(text).toContain(`  Audit log:        ${join(env.XDG_STATE_HOME ?? '', 'airlock', 'audit')}/\n`);
      expect(text).toContain('  Database:         embedded PostgreSQL with the demo data (removed when the demo stops)\n');
      expect(text).toContain('\nPress Ctrl-C to stop (the embedded PostgreSQL is stopped and its data removed).\n');
      const dataDir = /airlock-pg-data-[\w-]+/.exec(demo.stderr());
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
      expect(await stopChild(demo.child, 'SIGINT', 30_000)).toEqual({ code: 0, signal: null });
      if (dataDir !== null) expect(existsSync(join(tmpdir(), dataDir[0]))).toBe(false);
    } finally {
      // Ctrl-C, not SIGKILL, first: the demo's PostgreSQL is its child and goes down with it.
      if (demo !== undefined) await stopChild(demo.child, 'SIGINT', 30_000);
    }
  });

  it('suggests a stdio command that runs beside the demo with its own audit directory (issue 14)', { timeout: 90_000 }, async () => {
    const databaseUrl: string = inject('databaseUrl');
    const env: NodeJS.ProcessEnv = { ...demoEnv(), DATABASE_URL: databaseUrl };
    let demo: Awaited<ReturnType<typeof startDemo>> | undefined;
    let client: Client | undefined;
    try {
      demo = await startDemo(env);
      const text = demo.banner;
      // With DATABASE_URL the demo starts no database, so it promises to remove none.
      expect(demo.stderr()).not.toContain('embedded PostgreSQL');
      expect(text).toContain('  Database:         DATABASE_URL (given; airlock only connects to it)\n');
      expect(text).toMatch(/\nPress Ctrl-C to stop\.\n$/);
      expect(text).not.toContain('npx airlock');
      const demoAudit = /Audit log:\s+(\S+)\/\n/.exec(text)?.[1];
      const suggested = /\n {2}(.+) serve --stdio --demo --policy (\S+) \\\n {4}--dev-identity (\S+) --audit-dir (\S+)\n/.exec(text);
      expect(suggested).not.toBeNull();
      const [, command = '', policy = '', identity = '', auditDir = ''] = suggested ?? [];
      // Not on PATH in this test: the command names this installation's script.
      expect(command).toBe(`node ${CLI}`);
      expect(identity).toBe('ana@example.com,analysts');
      expect(auditDir).not.toBe(demoAudit);
      expect(auditDir).toBe(join(env.XDG_STATE_HOME ?? '', 'airlock', 'demo-stdio-audit'));

      // Run it as a client would, while the demo runs: it starts and answers.
      const transport = new StdioClientTransport({
        command: process.execPath,
        args: [CLI, 'serve', '--stdio', '--demo', '--policy', policy, '--dev-identity', identity, '--audit-dir', auditDir],
        env: { PATH: process.env.PATH ?? '', HOME: env.HOME ?? '', XDG_STATE_HOME: env.XDG_STATE_HOME ?? '', DATABASE_URL: databaseUrl },
        cwd: '/',
        stderr: 'pipe',
      });
      client = new Client({ name: 'demo-stdio', version: '1.0.0' });
      await client.connect(transport);
      const result = await client.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT count(*) AS customers FROM customers' } });
      expect(textOf(result)).toBe('1 row\ncustomers\n12');
      await client.close();
      client = undefined;
      expect(readAudit(auditDir).map((r) => r.tool)).toEqual(['query_sql']);
      expect(await stopChild(demo.child, 'SIGINT', 30_000)).toEqual({ code: 0, signal: null });
    } finally {
      await client?.close();
      if (demo !== undefined) await stopChild(demo.child, 'SIGINT', 30_000);
    }
  });
});
