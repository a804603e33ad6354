import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src/audit/record.js';
import { TOMBSTONES_NAME } from '../../src/audit/retention.js';
import { JsonAuditStore } from '../../src/audit/store.js';
import { CLI, tempDir } from '../support/airlock.js';
import { launchBrowser } from '../support/browser.js';
import { stopChild, waitForOutput } from '../support/child.js';

const XSS = `<img src=x onerror="window.__pwned = true">`;

function record(id: string, session: string, over: Partial<AuditRecord> = {}): AuditRecord {
  return {
    id,
    time: `2026-11-29T10:00:0${id.slice(-1)}.000Z`,
    durationMs: 4,
    sessionId: session,
    transport: 'http',
    principal: { issuer: 'https://issuer.test', sub: 'u', email: session === 'sess-ana' ? 'ana@example.com' : 'bob@example.com', groups: ['analysts'], dev: false },
    devIdentity: false,
    tool: 'query_sql',
    input: { connection: 'shop', sql: 'SELECT name FROM customers' },
    facts: null,
    decision: { effect: 'allow', ruleIds: ['analysts-read-shop'], reason: 'allowed by analysts-read-shop', policyVersion: 'sha256:p' },
    downstream: [{ kind: 'postgres_role', principal: 'airlock_app' }],
    outcome: 'ok',
    error: null,
    result: { rowCount: 3, truncated: false, maskedColumns: ['card_number'], findings: { CREDIT_CARD: 3 } },
    response: { sha256: 'b'.repeat(64), bytes: 300, truncated: false },
    ...over,
  };
}

/** Starts `airlock audit view` on a free port, from the audit dir rather than the checkout. */
function spawnViewer(dir: string): ChildProcess {
  return spawn(process.execPath, [CLI, 'audit', 'view', '--audit-dir', dir, '--port', '0'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The URL (with its token) the viewer prints once it listens; a viewer that never does is stopped. */
async function viewerUrl(child: ChildProcess): Promise<string> {
  const match = await waitForOutput(child, /(http:\/\/127\.0\.0\.1:\d+\/#token=[\w-]+)/);
  return match[1]!;
}

describe('airlock audit view (headless Chromium)', () => {
  it('lists sessions, shows a session as a timeline, and renders agent-supplied text as text', async () => {
    const dir = tempDir();
    const store = await JsonAuditStore.open(dir);
    await store.append(record('a1', 'sess-ana'));
    await store.append(record('a2', 'sess-ana', { input: { connection: 'shop', sql: `SELECT '${XSS}'` }, decision: { effect: 'deny', ruleIds: ['no-admin'], reason: 'admin statements are denied', policyVersion: 'sha256:p' }, outcome: 'denied', error: { code: 'POLICY_DENIED', message: 'Denied by policy.', detail: 'x' }, result: null }));
    await store.append(record('b3', 'sess-bob', { tool: 'whoami', input: {}, result: null }));
    await store.close();
    let viewer: ChildProcess | undefined;
    let browser: Browser | undefined;
    try {
      viewer = spawnViewer(dir);
      const url = await viewerUrl(viewer);
      browser = await launchBrowser();
      const page = await browser.newPage();
      const dialogs: string[] = [];
      page.on('dialog', (d) => {
        dialogs.push(d.message());
        void d.dismiss();
      });
      await page.goto(url);
      await page.waitForSelector('#sessions li');
      expect(await page.textContent('#chain')).toBe('chain verified: 3 records');
      const sessions = await Promise.all((await page.$$('#sessions li')).map((li) => li.getAttribute('data-session')));
      expect(sessions).toEqual(['sess-bob', 'sess-ana']);
      await page.click('#sessions li[data-session="sess-ana"]');
      await page.waitForSelector('#timeline li[data-id="a2"]');
      const heads = await Promise.all((await page.$$('#timeline li .head')).map((h) => h.textContent()));
      expect(heads).toEqual(['#1  2026-11-29T10:00:01.000Z  query_sql  → ok', '#2  2026-11-29T10:00:02.000Z  query_sql  → denied (POLICY_DENIED)']);
      const denied = await page.textContent('#timeline li[data-id="a2"]');
      expect(denied).toContain('deny by no-admin: admin statements are denied');
      expect(denied).toContain(JSON.stringify(`SELECT '${XSS}'`).slice(1, -1));
      expect(await page.$$('#timeline img')).toHaveLength(0);
      expect(await page.evaluate('window.__pwned === true')).toBe(false);
      expect(await page.textContent('#timeline li[data-id="a1"]')).toContain('3 row(s); masked: card_number; findings: CREDIT_CARD×3');
      expect(dialogs).toEqual([]);
      // The API wants the token; the page had it from the URL fragment.
      const base = url.slice(0, url.indexOf('/#'));
      expect((await fetch(`${base}/api/sessions`)).status).toBe(401);
      expect((await fetch(`${base}/api/sessions`, { method: 'DELETE' })).status).toBe(405);
    } finally {
      try {
        await browser?.close();
      } finally {
        if (viewer !== undefined) await stopChild(viewer);
      }
    }
  }, 60_000);

  it('shows a tampered store as tampered', async () => {
    const dir = tempDir();
    const store = await JsonAuditStore.open(dir);
    await store.append(record('a1', 'sess-ana'));
    await store.close();
    const seg = join(dir, readdirSync(dir).find((n) => n.startsWith('audit-2')) as string);
    writeFileSync(seg, readFileSync(seg, 'utf8').replace('"rowCount":3', '"rowCount":0'));
    let viewer: ChildProcess | undefined;
    let browser: Browser | undefined;
    try {
      viewer = spawnViewer(dir);
      const url = await viewerUrl(viewer);
      browser = await launchBrowser();
      const page = await browser.newPage();
      await page.goto(url);
      await page.waitForSelector('#chain.bad');
      expect(await page.textContent('#chain')).toBe('TAMPERED: 1 problem(s)');
    } finally {
      try {
        await browser?.close();
      } finally {
        if (viewer !== undefined) await stopChild(viewer);
      }
    }
  }, 60_000);
});

describe('airlock audit view while its audit store cannot be read (issue 21)', () => {
  it('answers the API with 503 AUDIT_UNAVAILABLE and a fixed text (no path), logs the cause, and serves again once the store is back', async () => {
    const parent = tempDir();
    const dir = join(parent, 'audit');
    mkdirSync(dir);
    const store = await JsonAuditStore.open(dir);
    await store.append(record('a1', 'sess-ana'));
    await store.close();
    const viewer = spawn(process.execPath, [CLI, 'audit', 'view', '--audit-dir', dir, '--port', '0'], { cwd: parent, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    viewer.stderr.on('data', (c: Buffer) => void (stderr += c.toString()));
    try {
      const url = new URL(await viewerUrl(viewer));
      const token = new URLSearchParams(url.hash.slice(1)).get('token') ?? '';
      const api = async (path: string): Promise<{ status: number; body: unknown }> => {
        const res = await fetch(new URL(path, url.origin), { headers: { authorization: `Bearer ${token}` } });
        return { status: res.status, body: await res.json() };
      };
      expect(await api('/api/sessions')).toMatchObject({ status: 200, body: [{ sessionId: 'sess-ana', calls: 1 }] });
      // The store goes away (an unmounted volume): every API read is refused with the fixed answer.
      renameSync(dir, `${dir}.away`);
      const unavailable = { status: 503, body: { error: { code: 'AUDIT_UNAVAILABLE', message: 'The audit store cannot be read right now; try again shortly.' } } };
      try {
        expect(await api('/api/sessions')).toEqual(unavailable);
        expect(await api('/api/verify')).toEqual(unavailable);
        expect(await api('/api/sessions/sess-ana')).toEqual(unavailable);
      } finally {
        renameSync(`${dir}.away`, dir);
      }
      expect(stderr).toContain('audit viewer: the audit store cannot be read: ');
      // Back: the same viewer serves the store again, without a restart.
      expect(await api('/api/sessions')).toMatchObject({ status: 200, body: [{ sessionId: 'sess-ana', calls: 1 }] });
      expect(await api('/api/verify')).toMatchObject({ status: 200, body: { ok: true } });
    } finally {
      await stopChild(viewer);
    }
  }, 60_000);

  it('reports a tombstones file or a segment that is not airlock\'s as a failed verification, never as 503 "try again shortly"', async () => {
    const dir = tempDir();
    const store = await JsonAuditStore.open(dir);
    await store.append(record('a1', 'sess-ana'));
    await store.close();
    const viewer = spawnViewer(dir);
    let stderr = '';
    viewer.stderr?.on('data', (c: Buffer) => void (stderr += c.toString()));
    try {
      const url = new URL(await viewerUrl(viewer));
      const token = new URLSearchParams(url.hash.slice(1)).get('token') ?? '';
      const api = async (path: string): Promise<{ status: number; body: unknown }> => {
        const res = await fetch(new URL(path, url.origin), { headers: { authorization: `Bearer ${token}` } });
        return { status: res.status, body: await res.json() };
      };
      expect(await api('/api/verify')).toMatchObject({ status: 200, body: { ok: true, problems: [] } });
      // Someone rewrites the signed tombstones (to hide what retention removed) with something else.
      writeFileSync(join(dir, TOMBSTONES_NAME), JSON.stringify({ format: 'something-else', tombstones: [] }));
      expect(await api('/api/verify')).toMatchObject({ status: 200, body: { ok: false, problems: [{ file: TOMBSTONES_NAME, kind: 'tombstone' }] } });
      writeFileSync(join(dir, TOMBSTONES_NAME), '{ not json');
      expect(await api('/api/verify')).toMatchObject({ status: 200, body: { ok: false, problems: [{ file: TOMBSTONES_NAME, kind: 'tombstone' }] } });
      // The sessions do not depend on the tombstones: they are still shown.
      expect(await api('/api/sessions')).toMatchObject({ status: 200, body: [{ sessionId: 'sess-ana', calls: 1 }] });
      // A segment replaced by something that is not an audit file: verify fails, and the views say why they cannot show it.
      const seg = readdirSync(dir).find((n) => n.startsWith('audit-2')) as string;
      writeFileSync(join(dir, seg), 'not an audit file');
      expect(await api('/api/verify')).toMatchObject({ status: 200, body: { ok: false, problems: [{ file: seg, kind: 'malformed' }] } });
      const invalid = { status: 500, body: { error: { code: 'AUDIT_INVALID', message: 'The audit store fails its checks and cannot be shown; see Verify (or run airlock audit verify).' } } };
      expect(await api('/api/sessions')).toEqual(invalid);
      expect(await api('/api/sessions/sess-ana')).toEqual(invalid);
      expect(stderr).toContain('audit viewer: the audit store fails its checks: ');
      expect(stderr).not.toContain('cannot be read');
    } finally {
      await stopChild(viewer);
    }
  }, 60_000);
});
