import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { describe, expect, inject, it } from 'vitest';
import { CLI, readAudit, tempDir, textOf } from '../support/airlock.js';

/** The environment of a user with their own state directory (never the real ~/.local/state). */
function demoEnv(): NodeJS.ProcessEnv {
  const home = tempDir('airlock-home-');
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, XDG_STATE_HOME: join(home, 'state') };
  delete env.DATABASE_URL;
  return env;
}

/** Resolves with the whole banner once the demo printed it. */
function banner(child: ChildProcessWithoutNullStreams, output: { stderr: string }): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`demo did not start:\n${output.stderr}`)), 60_000);
    child.stderr.on('data', () => {
      const match = /\nairlock demo is running\.\n[\s\S]*\nPress Ctrl-C to stop[^\n]*\n/.exec(output.stderr);
      if (match !== null) {
        clearTimeout(timer);
        resolve(match[0]);
      }
    });
    child.on('exit', () => reject(new Error(`demo exited:\n${output.stderr}`)));
  });
}

describe('airlock start (the embedded demo)', () => {
  it('starts embedded PostgreSQL, seeds the shop, serves HTTP, and stops cleanly on Ctrl-C', { timeout: 90_000 }, async () => {
    const cwd = tempDir();
    const env = demoEnv();
    const child = spawn(process.execPath, [CLI, 'start', '--port', '0'], { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    const output = { stderr: '' };
    child.stderr.on('data', (c: Buffer) => (output.stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const text = await banner(child, output);
      const url = /Streamable HTTP:\s+(http:\/\/\S+\/mcp)/.exec(text)?.[1] ?? '';
      expect(output.stderr).toContain('DEV IDENTITY IN USE: every call runs as ana@example.com (groups: analysts)');
      expect(text).toContain(`  Audit log:        ${join(env.XDG_STATE_HOME ?? '', 'airlock', 'audit')}/\n`);
      expect(text).toContain('  Database:         embedded PostgreSQL with the demo data (removed when the demo stops)\n');
      expect(text).toContain('\nPress Ctrl-C to stop (the embedded PostgreSQL is stopped and its data removed).\n');
      const dataDir = /airlock-pg-data-[\w-]+/.exec(output.stderr);
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

  it('suggests a stdio command that runs beside the demo with its own audit directory (issue 14)', { timeout: 90_000 }, async () => {
    const databaseUrl: string = inject('databaseUrl');
    const env: NodeJS.ProcessEnv = { ...demoEnv(), DATABASE_URL: databaseUrl };
    const child = spawn(process.execPath, [CLI, 'start', '--port', '0'], { cwd: tempDir(), env, stdio: ['pipe', 'pipe', 'pipe'] });
    const output = { stderr: '' };
    child.stderr.on('data', (c: Buffer) => (output.stderr += c.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    let client: Client | undefined;
    try {
      const text = await banner(child, output);
      // With DATABASE_URL the demo starts no database, so it promises to remove none.
      expect(output.stderr).not.toContain('embedded PostgreSQL');
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
      child.kill('SIGINT');
      expect(await exited).toBe(0);
    } finally {
      await client?.close();
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
