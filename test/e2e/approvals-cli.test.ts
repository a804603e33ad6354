/**
 * `airlock approvals` as a user runs it: the compiled CLI spawned as a real process against the approval API
 * on a real HTTP server (real service, JSON store, tokens from a local OIDC issuer). Each outcome is checked
 * by its exit code, its exact message, and what the server recorded.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { RequestView } from '../../src/approval/view.js';
import { CLI, tempDir } from '../support/airlock.js';
import { startApprovalServer, type ApprovalServer, type Person } from '../support/approval-server.js';
import { startLocalIssuer, type LocalIssuer } from '../support/oidc-issuer.js';

const ana: Person = { sub: 'ana', email: 'ana@example.com', groups: ['analysts'] };
const bob: Person = { sub: 'bob', email: 'bob@example.com', groups: ['dba'] };
const carol: Person = { sub: 'carol', email: 'carol@example.com', groups: ['dba'] };
const root: Person = { sub: 'root', email: 'root@example.com', groups: ['analysts', 'dba', 'admin'] };

let idp: LocalIssuer;
let api: ApprovalServer;
const tokens = new Set<string>();

beforeAll(async () => {
  idp = await startLocalIssuer();
  api = await startApprovalServer(idp);
});
afterAll(async () => {
  await api?.close();
  await idp?.close();
});

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the compiled CLI to its end, asynchronously (the server it talks to lives in this process). */
function run(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'approvals', ...args], {
      cwd: inject('tmpRoot'),
      env: { PATH: process.env.PATH ?? '', HOME: tempDir('airlock-home-'), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', reject);
    child.once('close', (status) => {
      clearTimeout(timer);
      // No output ever shows a token, whatever happened.
      for (const token of tokens) expect(`${stdout}${stderr}`).not.toContain(token.split('.')[2]);
      resolve({ status, stdout, stderr });
    });
  });
}

async function tokenOf(who: Person, claims: Record<string, unknown> = {}): Promise<string> {
  const token = await api.token(who, claims);
  tokens.add(token);
  return token;
}

/** Runs as `who`: token in a file (with the newline editors add), server by --url. */
async function as(who: Person, args: string[], claims: Record<string, unknown> = {}): Promise<Run> {
  const file = join(tempDir('airlock-token-'), 'token');
  writeFileSync(file, `  ${await tokenOf(who, claims)}\n\n`);
  return run([...args, '--url', api.url, '--token-file', file]);
}

/** Characters a terminal would obey rather than show: controls other than the line break, and U+202E. */
const hidden = (text: string): string[] => [...text].filter((c) => { const n = c.charCodeAt(0); return (n < 32 && n !== 10) || n === 127 || n === 0x202e; });

describe('airlock approvals (issue 17)', () => {
  it('list shows pending requests as a table; --state all adds the state; --json prints the API answer', async () => {
    const local = await startApprovalServer(idp);
    try {
      const env = { AIRLOCK_URL: local.url, AIRLOCK_TOKEN: await tokenOf(bob) };
      const empty = await run(['list'], env);
      expect(empty).toEqual({ status: 0, stdout: 'No pending approval requests.\n', stderr: '' });
      const first = await local.open(ana, { input: { connection: 'shop', sql: 'UPDATE orders SET status = $1\nWHERE id = $2', params: ['paid', 42] } });
      const second = await local.open(ana, { quorum: 2, input: { connection: 'shop', sql: 'DELETE FROM carts WHERE created_at < now() - interval \'30 days\'' } });
      const denied = await local.open(ana, { input: { connection: 'shop', sql: 'DROP TABLE carts' } });
      await local.service.decide(denied.id, local.approver(carol), 'deny', 'no');
      const list = await run(['list'], env);
      expect(list.status).toBe(0);
      expect(list.stderr).toBe('');
      const lines = list.stdout.trimEnd().split('\n');
      expect(lines[0]).toMatch(/^ID +AGE +REQUESTER +TOOL +RESOURCE +SQL +APPROVALS +EXPIRES IN$/);
      expect(lines).toHaveLength(3);
      expect(lines[1]).toMatch(new RegExp(`^${second.id} +\\d+s +ana@example\\.com +query_sql +shop +DELETE FROM carts WHERE created_at < now\\(\\) - interval '30 d… +0/2 +(9m|10m)$`));
      expect(lines[2]).toMatch(new RegExp(`^${first.id} +\\d+s +ana@example\\.com +query_sql +shop +UPDATE orders SET status = \\$1 … +0/1 +(9m|10m)$`));
      const all = await run(['list', '--state', 'all', '--limit', '10'], env);
      expect(all.stdout.split('\n')[0]).toMatch(/^ID +STATE +AGE +REQUESTER/);
      expect(all.stdout).toMatch(new RegExp(`${denied.id} +denied +.* 0/1 +-\\n`));
      const onlyDenied = await run(['list', '--state', 'denied'], env);
      expect(onlyDenied.stdout.trimEnd().split('\n').slice(1).map((l) => l.split(' ')[0])).toEqual([denied.id]);
      const json = await run(['list', '--json', '--limit', '1'], env);
      expect(json.status).toBe(0);
      const body = JSON.parse(json.stdout) as { requests: RequestView[] };
      expect(body.requests.map((r) => r.id)).toEqual([second.id]);
      expect(body.requests[0]).toMatchObject({ state: 'pending', quorum: 2, canDecide: true, input: { sql: "DELETE FROM carts WHERE created_at < now() - interval '30 days'" } });
      expect(local.refusals).toEqual([]);
    } finally {
      await local.close();
    }
  });

  it('show prints the exact SQL and parameters with types, the rule, the justification and the decisions', async () => {
    const request = await api.open(ana, {
      quorum: 2,
      justification: 'ticket OPS-7: refund',
      input: { connection: 'shop', sql: 'UPDATE orders\n   SET status = $1\n WHERE id = $2 AND note = $3', params: ['refunded', 42, null] },
    });
    await api.service.decide(request.id, api.approver(carol), 'approve', 'fine by me');
    const shown = await as(bob, ['show', request.id]);
    expect(shown.status).toBe(0);
    expect(shown.stderr).toBe('');
    const out = shown.stdout;
    expect(out.split('\n')[0]).toBe(`${request.id}  pending  (1 of 2 approvals)`);
    expect(out).toContain(`  requester      ana@example.com (sub ana, issuer ${idp.issuer}), groups analysts\n`);
    expect(out).toContain('  tool           query_sql on shop\n');
    expect(out).toContain('  rule           writes-need-dba: Writes to shop need a DBA\n');
    expect(out).toContain('  justification  ticket OPS-7: refund\n');
    expect(out).toContain('  approvers      dba; quorum 2\n');
    expect(out).toContain('  you            can approve or deny it\n');
    expect(out).toContain('\nSQL (exactly what runs if approved):\n  UPDATE orders\n     SET status = $1\n   WHERE id = $2 AND note = $3\n');
    expect(out).toContain('\nParameters:\n  $1  "refunded"  (string)\n  $2  42  (number)\n  $3  null  (null)\n');
    expect(out).toContain('\nOther arguments: {"connection":"shop"}\n');
    expect(out).toMatch(/\nDecisions:\n {2}approve {2}carol@example\.com {2}\d{4}-\d\d-\d\dT[\d:.]+Z {2}fine by me\n$/);
    // The requester sees it too, and is told it is theirs to wait for, not to decide.
    expect((await as(ana, ['show', request.id])).stdout).toContain('  you            cannot decide it: it is your own request\n');
    const json = await as(bob, ['show', request.id, '--json']);
    expect((JSON.parse(json.stdout) as { request: RequestView }).request).toMatchObject({ id: request.id, approvals: 1, decisions: [{ approver: { sub: 'carol' }, reason: 'fine by me' }] });
  });

  it('show and list make terminal control and direction characters in the request visible instead of obeying them', async () => {
    const sql = 'DELETE FROM users\u001b[2K\u001b[1A WHERE id = 1 /* \u202e 1 = 1 */\u0007';
    const request = await api.open(ana, { justification: 'ok\u001b]0;title\u0007', input: { connection: 'shop', sql } });
    const shown = await as(bob, ['show', request.id]);
    expect(hidden(shown.stdout)).toEqual([]);
    expect(shown.stdout).toContain('  DELETE FROM users\\u{1b}[2K\\u{1b}[1A WHERE id = 1 /* \\u{202e} 1 = 1 */\\u{7}\n');
    expect(shown.stdout).toContain('  justification  ok\\u{1b}]0;title\\u{7}\n');
    const listed = await as(bob, ['list']);
    expect(hidden(listed.stdout)).toEqual([]);
    expect(listed.stdout).toContain('DELETE FROM users\\u{1b}[2K');
  });

  it('approve with a reason grants the request, recorded under the approver; quorum 2 needs a second approver', async () => {
    const request = await api.open(ana, { quorum: 2, input: { connection: 'shop', sql: 'UPDATE t SET x = 1' } });
    const one = await as(bob, ['approve', request.id, '--reason', 'checked OPS-7']);
    expect(one).toEqual({ status: 0, stdout: `Approved ${request.id} (1 of 2): 1 more approval needed before it can run.\n`, stderr: '' });
    const two = await as(carol, ['approve', request.id]);
    expect(two.status).toBe(0);
    const after = await api.get(request.id);
    expect(after.state).toBe('approved');
    expect(two.stdout).toBe(`Approved ${request.id} (2 of 2): the requester's call can run once, until ${new Date(after.executeBy ?? 0).toISOString()}.\n`);
    expect(after.decisions.map((d) => [d.approver.sub, d.verdict, d.reason])).toEqual([
      ['bob', 'approve', 'checked OPS-7'],
      ['carol', 'approve', undefined],
    ]);
    expect(api.events.filter((e) => e.requestId === request.id).map((e) => e.type)).toEqual(['requested', 'approved', 'approved']);
  });

  it('deny with a reason ends the request; --json prints the decided request', async () => {
    const request = await api.open(ana, { input: { connection: 'shop', sql: 'UPDATE t SET x = 2' } });
    const denied = await as(carol, ['deny', request.id, '--reason', 'use the staging copy', '--json']);
    expect(denied.status).toBe(0);
    expect((JSON.parse(denied.stdout) as { request: RequestView }).request).toMatchObject({ id: request.id, state: 'denied', decisions: [{ approver: { sub: 'carol' }, verdict: 'deny', reason: 'use the staging copy' }] });
    const again = await api.open(ana, { input: { connection: 'shop', sql: 'UPDATE t SET x = 3' } });
    expect(await as(carol, ['deny', again.id])).toEqual({ status: 0, stdout: `Denied ${again.id}: the call will not run.\n`, stderr: '' });
    expect((await api.get(again.id)).decisions).toMatchObject([{ verdict: 'deny' }]);
  });

  it('exit 1 with the server\'s message when the decision is refused: own request, outsider, twice, expired, unknown', async () => {
    const own = await api.open(root, { input: { connection: 'shop', sql: 'UPDATE t SET x = 4' } });
    const before = api.refusals.length;
    const self = await as(root, ['approve', own.id, '--reason', 'trust me']);
    expect(self).toEqual({ status: 1, stdout: '', stderr: `airlock: APPROVAL_FORBIDDEN: You may not decide approval request ${own.id}: no one may decide their own request.\n` });
    expect(api.refusals.length - before).toBe(1);
    expect(api.refusals.at(-1)).toMatchObject({ approver: { sub: 'root' }, code: 'APPROVAL_FORBIDDEN', requestId: own.id });
    expect((await api.get(own.id)).decisions).toEqual([]);
    // --json also prints the API's error body on stdout for scripts.
    const selfJson = await as(root, ['deny', own.id, '--json']);
    expect(selfJson.status).toBe(1);
    expect(JSON.parse(selfJson.stdout)).toEqual({ error: { code: 'APPROVAL_FORBIDDEN', message: `You may not decide approval request ${own.id}: no one may decide their own request.` } });

    const outsider = await as({ sub: 'eve', email: 'eve@example.com', groups: ['support'] }, ['approve', own.id]);
    expect(outsider).toMatchObject({ status: 1, stderr: `airlock: APPROVAL_FORBIDDEN: You may not decide approval request ${own.id}: you are in none of its approver groups.\n` });

    const request = await api.open(ana, { input: { connection: 'shop', sql: 'UPDATE t SET x = 5' } });
    expect((await as(bob, ['approve', request.id])).status).toBe(0);
    expect(await as(carol, ['deny', request.id])).toMatchObject({ status: 1, stderr: `airlock: APPROVAL_USED: Approval request ${request.id} is already decided; the decision was not recorded.\n` });

    const late = await api.open(ana, { timeoutSeconds: 30, input: { connection: 'shop', sql: 'UPDATE t SET x = 6' } });
    api.advance(31_000);
    try {
      expect(await as(bob, ['approve', late.id])).toMatchObject({
        status: 1,
        stderr: `airlock: APPROVAL_EXPIRED: Approval request ${late.id} has expired; the call was not run. Make the call again to request a new approval.\n`,
      });
    } finally {
      api.advance(-31_000);
    }
    expect(await as(bob, ['show', 'apr_noSuchRequest0000'])).toMatchObject({ status: 1, stderr: 'airlock: APPROVAL_NOT_FOUND: No approval request apr_noSuchRequest0000 of yours exists.\n' });
  });

  it('exit 2 for usage errors, before anything is sent', async () => {
    const request = await api.open(ana, { input: { connection: 'shop', sql: 'UPDATE t SET x = 7' } });
    const token = await tokenOf(bob);
    const env = { AIRLOCK_URL: api.url, AIRLOCK_TOKEN: token };
    const refusals = api.refusals.length;
    const cases: [string[], Record<string, string>, string][] = [
      [['show', 'nope'], env, 'airlock: not an approval request id: "nope" (ids look like apr_…; see airlock approvals list)\nRun "airlock approvals show --help" for usage.\n'],
      [['approve'], env, 'airlock: missing ID\nRun "airlock approvals approve --help" for usage.\n'],
      [['approve', request.id, 'extra'], env, 'airlock: unexpected argument "extra"\nRun "airlock approvals approve --help" for usage.\n'],
      [['list', '--state', 'open'], env, 'airlock: --state must be one of pending, approved, denied, expired, consumed, withdrawn, all (got "open")\nRun "airlock approvals list --help" for usage.\n'],
      [['list', '--limit', '0'], env, 'airlock: --limit must be a whole number from 1 to 500 (got "0")\nRun "airlock approvals list --help" for usage.\n'],
      [['list', '--reason', 'x'], env, 'airlock: unknown option --reason for "airlock approvals list"\nRun "airlock approvals list --help" for usage.\n'],
      [['approve', request.id, '--reason', 'ok\u001b[2J'], env, 'airlock: --reason must not contain control or direction-changing characters\nRun "airlock approvals approve --help" for usage.\n'],
      [['deny', request.id, '--reason', 'no \u202eevorppa'], env, 'airlock: --reason must not contain control or direction-changing characters\nRun "airlock approvals deny --help" for usage.\n'],
      [['approve', request.id, '--reason', 'x'.repeat(1001)], env, 'airlock: --reason is too long (at most 1000 characters)\nRun "airlock approvals approve --help" for usage.\n'],
      [['list'], { AIRLOCK_URL: api.url }, 'airlock: no token: give your approver token with --token-file FILE or in AIRLOCK_TOKEN\nRun "airlock approvals list --help" for usage.\n'],
      [['list', '--url', 'http://airlock.example.com'], env, 'airlock: --url: http://airlock.example.com must be https (http only on loopback): the token would travel in clear text\nRun "airlock approvals list --help" for usage.\n'],
      [['list'], { ...env, AIRLOCK_URL: 'airlock.example.com' }, 'airlock: AIRLOCK_URL: not a URL: "airlock.example.com"\nRun "airlock approvals list --help" for usage.\n'],
      [['list', '--url', `${api.url}/?x=1`], env, "airlock: --url: give the server's base URL only (no user, query or fragment), e.g. https://airlock.example.com\nRun \"airlock approvals list --help\" for usage.\n"],
      [['list', '--token-file', '/nonexistent/token'], env, 'airlock: cannot read /nonexistent/token: no such file or directory (ENOENT)\n'],
    ];
    for (const [args, e, stderr] of cases) {
      const r = await run(args, e);
      expect({ args, ...r }).toEqual({ args, status: 2, stdout: '', stderr });
    }
    const spaced = join(tempDir('airlock-token-'), 'token');
    writeFileSync(spaced, `${token.slice(0, 20)} ${token.slice(20)}\n`);
    expect(await run(['list', '--token-file', spaced], env)).toEqual({ status: 2, stdout: '', stderr: `airlock: --token-file ${spaced}: not a bearer token (it contains spaces, line breaks or other characters a token cannot have)\nRun "airlock approvals list --help" for usage.\n` });
    expect(api.refusals.length).toBe(refusals);
    expect((await api.get(request.id)).decisions).toEqual([]);
  });

  it('exit 3 when the token is not accepted, saying so, and never printing it', async () => {
    const request = await api.open(ana, { input: { connection: 'shop', sql: 'UPDATE t SET x = 8' } });
    const now = Math.floor(Date.now() / 1000);
    const before = api.refusals.length;
    const expired = await as(bob, ['approve', request.id], { iat: now - 7200, exp: now - 3600 });
    expect(expired).toEqual({
      status: 3,
      stdout: '',
      stderr: `airlock: not signed in at ${api.url}: UNAUTHENTICATED: The access token is invalid or expired. (check your token: --token-file or AIRLOCK_TOKEN; it may have expired)\n`,
    });
    const otherAudience = await as(bob, ['list'], { aud: 'https://other.example/mcp' });
    expect(otherAudience.status).toBe(3);
    expect(api.refusals.length - before).toBe(2);
    expect((await api.get(request.id)).decisions).toEqual([]);
  });

  it('exit 3 when the server cannot be reached or is not an airlock approval API', async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer();
      probe.listen(0, '127.0.0.1', () => {
        const address = probe.address();
        probe.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
      });
    });
    const token = await tokenOf(bob);
    expect(await run(['list', '--url', `http://127.0.0.1:${port}`], { AIRLOCK_TOKEN: token })).toEqual({
      status: 3,
      stdout: '',
      stderr: `airlock: could not reach http://127.0.0.1:${port}: connection refused\n`,
    });
    // The OIDC issuer answers, but it is not airlock: 404 with its own JSON.
    expect(await run(['show', 'apr_abc', '--url', idp.issuer], { AIRLOCK_TOKEN: token })).toEqual({
      status: 3,
      stdout: '',
      stderr: `airlock: ${idp.issuer} answered 404 (application/json): not the airlock approval API, or it is not enabled there (check --url)\n`,
    });
  });

  it('reads the token file on every run (trimmed) and prefers it to AIRLOCK_TOKEN; AIRLOCK_URL is the default server', async () => {
    const file = join(tempDir('airlock-token-'), 'token');
    writeFileSync(file, `${await tokenOf(bob)}\r\n`);
    const env = { AIRLOCK_URL: api.url, AIRLOCK_TOKEN: 'not-a-valid-token' };
    const first = await run(['list', '--json', '--token-file', file], env);
    expect(first.status).toBe(0);
    // The file changes between runs (a rotated token): the next run uses the new one.
    writeFileSync(file, await tokenOf(ana));
    const request = await api.open(ana, { input: { connection: 'shop', sql: 'UPDATE t SET x = 9' } });
    expect((await run(['approve', request.id, '--token-file', file], env)).stderr).toContain('no one may decide their own request');
    expect((await run(['list'], env)).status).toBe(3);
  });
});
