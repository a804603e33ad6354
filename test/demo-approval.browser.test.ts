/**
 * The demo as the README tells it (issue 17): `airlock start`, a write by the analyst waits, a DBA approves
 * it in the console through the marked dev sign-in, and the write runs. Real demo process with its own
 * embedded PostgreSQL, a real MCP client, real headless Chromium.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Browser } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { CLI, readAudit, tempDir, textOf } from './support/airlock.js';
import { launchBrowser } from './support/browser.js';
import { stopChild, waitForOutput } from './support/child.js';

const BANNER = /\nairlock demo is running\.\n[\s\S]*\nPress Ctrl-C to stop[^\n]*\n/;

describe('the demo: a write waits for a DBA who approves it in the console (issue 17)', () => {
  it('runs the analyst\'s write once the dev-signed-in DBA approves it, and shows it in the audit', { timeout: 120_000 }, async () => {
    const home = tempDir('airlock-home-');
    const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, XDG_STATE_HOME: join(home, 'state') };
    delete env.DATABASE_URL;
    let demo: ChildProcess | undefined;
    let browser: Browser | undefined;
    let client: Client | undefined;
    try {
      demo = spawn(process.execPath, [CLI, 'start', '--port', '0'], { cwd: tempDir(), env, stdio: ['ignore', 'pipe', 'pipe'] });
      const banner = (await waitForOutput(demo, BANNER, { stream: 'stderr', timeoutMs: 60_000, stopSignal: 'SIGINT' }))[0];
      const base = /Streamable HTTP:\s+(http:\/\/[^/\s]+)\/mcp/.exec(banner)?.[1] ?? '';
      expect(banner).toContain(`  Approvals:        ${base}/console (dev sign-in as dba@example.com; writes by ana@example.com wait for a DBA)\n`);
      const auditDir = join(home, 'state', 'airlock', 'audit');

      client = new Client({ name: 'demo-agent', version: '1.0.0' });
      await client.connect(new StreamableHTTPClientTransport(new URL(`${base}/mcp`)));
      const progress: string[] = [];
      const sql = "UPDATE orders SET status = 'shipped' WHERE id = 1";
      const call = client.callTool(
        { name: 'query_sql', arguments: { connection: 'shop', sql, justification: 'ticket 42' } },
        undefined,
        { onprogress: (p) => void (p.message !== undefined && progress.push(p.message)), timeout: 90_000, resetTimeoutOnProgress: true },
      );

      browser = await launchBrowser();
      const page = await (await browser.newContext()).newPage();
      await page.goto(`${base}/console`);
      await page.waitForSelector('#dev-form:not([hidden])');
      expect(await page.textContent('#dev-banner')).toContain('DEV SIGN-IN ENABLED');
      await page.selectOption('#dev-sub', 'dba@example.com');
      await page.click('#dev-form button');
      await page.waitForSelector('#board:not([hidden])');
      const card = page.locator('#list > li').filter({ hasText: 'ticket 42' });
      await card.waitFor();
      expect(await card.locator('pre.sql').textContent()).toBe(sql);
      expect(await card.textContent()).toContain('ana@example.com');
      const id = await card.getAttribute('data-id');
      await card.locator('textarea').fill('shipped per ticket 42');
      await card.locator('button.approve').click();

      const result = await call;
      expect(result.isError).toBeUndefined();
      expect(result.structuredContent).toMatchObject({ rowsAffected: 1 });
      expect(progress.some((m) => m.startsWith(`Waiting for approval by dba (request ${id ?? ''})`))).toBe(true);
      const after = await client.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT status FROM orders WHERE id = 1' } });
      expect(textOf(after)).toBe('1 row\nstatus\nshipped');
      const events = readAudit(auditDir).filter((r) => r.tool === 'approval' && r.approval?.requestId === id);
      expect(events.map((r) => [r.approval?.event, r.principal?.sub])).toEqual([
        ['requested', 'ana@example.com'],
        ['approved', 'dba@example.com'],
        ['consumed', 'ana@example.com'],
      ]);
    } finally {
      await client?.close().catch(() => undefined);
      await browser?.close().catch(() => undefined);
      if (demo !== undefined) await stopChild(demo, 'SIGINT', 30_000);
    }
  });
});
