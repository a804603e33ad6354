/**
 * Every command line in a ```sh block of README.md and docs/*.md runs as written: `airlock` is the compiled
 * CLI through a PATH shim, stdio servers (commands and client configs) are driven by a real MCP client, the
 * Inspector CLI runs against a demo this file starts, and long-running commands are started, checked and
 * stopped. Commands that cannot run here are in ALLOWED with the reason; a new command that is neither run
 * nor allowed fails the suite.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { CLI, EXAMPLE_POLICY, readAudit, ROOT, tempDir, textOf } from '../support/airlock.js';
import { startApprovalServer, type ApprovalServer } from '../support/approval-server.js';
import { startLocalIssuer, type LocalIssuer } from '../support/oidc-issuer.js';
import { allBlocks, commandsOf, words, type Block } from './blocks.js';

const INSPECTOR = join(ROOT, 'node_modules', '.bin', 'mcp-inspector');
const AGENT_EMAIL = 'devin-agent@my-project.iam.gserviceaccount.com';
const AUDIENCE = 'https://airlock.example.com/mcp';

/** Commands that cannot run on a test machine, with the reason. Matched against the whole command line. */
const ALLOWED: readonly { readonly pattern: RegExp; readonly reason: string }[] = [
  { pattern: /^npm ci && npm (start|test)$/, reason: 'the README\'s two commands: CI runs `npm test` itself, and this file starts the same demo as `npm start`' },
  { pattern: /^git clone … /, reason: 'a placeholder URL and the network; the PATH shim stands in for the installed command' },
  { pattern: /^npm pack$|^npm install -g /, reason: 'installs globally on the machine; the PATH shim stands in for the installed command' },
  { pattern: /^gcloud |^while true; do gcloud /, reason: 'gcloud and a Google account are not available; tokens here come from a local OIDC issuer' },
  { pattern: /^claude mcp add --transport http /, reason: 'Claude Code is not installed; the same URL and header are exercised by the HTTP client configs' },
  { pattern: /^airlock audit reveal /, reason: 'needs an audit compliance key (test/integration/audit-compliance.test.ts covers reveal)' },
  { pattern: /^kubectl |^openssl rand -base64 32 \| gcloud /, reason: 'no Kubernetes cluster or Google account here; test/unit/deploy/ and test/e2e/deploy-image.test.ts check the files these commands use' },
  { pattern: /^(FUZZ_RUNS=\d+ FUZZ_SEED=\d+ )?npm run fuzz$/, reason: 'runs the fuzz suites, which npm test runs itself; the script is checked to name every one of them' },
];

/** Commands that succeed with a non-zero exit status by design, and what their output must show. */
const EXPECTED: readonly { readonly pattern: RegExp; readonly exit: 'nonzero'; readonly output: RegExp }[] = [
  { pattern: /sql="DROP TABLE customers"/, exit: 'nonzero', output: /POLICY_DENIED/ },
  // A filter that would widen the log scope does not parse: refused with its position (issue 18).
  { pattern: /filter="severity>=ERROR\) OR \(true"/, exit: 'nonzero', output: /unexpected \\*"\)\\*" at line 1, column 16[\s\S]*INVALID_INPUT/ },
];

/** What a command's output must show, where the docs promise something specific. */
const SHOWS: readonly { readonly pattern: RegExp; readonly output: RegExp }[] = [
  { pattern: /card_number FROM customers LIMIT 3/, output: /Ana Silva \| ana\.silva@example\.com \| \[MASKED\]/ },
  { pattern: /tool-name explain_policy/, output: /"effect": "approve"/ },
  { pattern: /sql="UPDATE orders SET status = \$\$shipped\$\$ WHERE id = 1"/, output: /"status": "pending_approval"/ },
  { pattern: /audit verify$/, output: /^ok: \d+ record\(s\) in \d+ segment\(s\) form an unbroken chain; head [0-9a-f]+/ },
  { pattern: /audit tail$/, output: /denied \(POLICY_DENIED\)/ },
  { pattern: /policy explain .*UPDATE orders/, output: /"effect": "approve"/ },
  { pattern: /mask --jsonl$/, output: /\[EMAIL_1\], key \[AWS_ACCESS_KEY_1\]/ },
  { pattern: /tools\/list$/, output: /"query_sql"[\s\S]*"read_bucket"[\s\S]*"tail_logs"/ },
  // The demo bucket and logs (issue 18): hidden names counted, content masked, exports sent to approval.
  { pattern: /tool-name read_bucket .*action="list"/, output: /^(?![\s\S]*config\/settings\.txt)[\s\S]*"hidden": 1/ },
  { pattern: /object="app\/logs\/api-2026-12-01\.ndjson"/, output: /^(?![\s\S]*(ana\.silva@example\.com|correct-horse-battery-staple|203\.0\.113\.2\d))[\s\S]*\[EMAIL_\d+\][\s\S]*"format": "ndjson"/ },
  { pattern: /object="exports\/customers-2026-11\.csv"/, output: /"status": "pending_approval"[\s\S]*"dpo"/ },
  { pattern: /tool-name tail_logs .*filter="severity>=ERROR"/, output: /^(?![\s\S]*(ana\.silva@example\.com|"severity": "(INFO|DEBUG|WARNING)"))[\s\S]*"severity": "(ERROR|CRITICAL|ALERT|EMERGENCY)"[\s\S]*cloud_run_revision/ },
  { pattern: /^airlock approvals list --url/, output: /^ID +AGE +REQUESTER +TOOL +RESOURCE +SQL +APPROVALS +EXPIRES IN\napr_\S+ +\d+s +ana@example\.com +query_sql +shop +UPDATE orders/ },
  { pattern: /^airlock approvals list --state all/, output: /^ID +STATE +AGE/ },
  { pattern: /^airlock approvals show REQUEST_ID --url/, output: /\nSQL \(exactly what runs if approved\):\n {2}UPDATE orders SET status = \$1 WHERE id = \$2\n\nParameters:\n {2}\$1 {2}"paid" {2}\(string\)\n {2}\$2 {2}42 {2}\(number\)/ },
  { pattern: /^airlock approvals show REQUEST_ID --json/, output: /"state": "pending"/ },
  { pattern: /^airlock approvals approve REQUEST_ID/, output: /^Approved apr_\S+ \(1 of 1\): the requester's call can run once, until / },
  { pattern: /^airlock approvals deny REQUEST_ID/, output: /^Denied apr_\S+: the call will not run\.\n$/ },
];

interface Env {
  readonly dir: string;
  readonly env: Record<string, string>;
  demoUrl: string;
  httpUrl: string;
  auditDir: string;
}

let issuer: LocalIssuer | undefined;
/** The approval API the docs' `airlock approvals` commands talk to (https://airlock.example.com). */
let approvals: ApprovalServer | undefined;
/** Pending requests for the docs' REQUEST_ID, one per occurrence (approve and deny each need their own). */
const requestIds: string[] = [];
const children: ChildProcess[] = [];
let ctx: Env;

/** Starts a long-running command and resolves with its output once `ready` appears. */
async function startUntil(command: string, args: string[], env: Record<string, string>, cwd: string, ready: RegExp): Promise<{ child: ChildProcess; output: string }> {
  const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready: ${command} ${args.join(' ')}\n${output}`)), 60_000);
    const check = (c: Buffer): void => {
      output += c.toString();
      if (ready.test(output)) {
        clearTimeout(timer);
        resolve({ child, output });
      }
    };
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited ${String(code)}: ${command} ${args.join(' ')}\n${output}`));
    });
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** The docs' example paths and URLs, mapped to this run's files and servers. */
function substitute(command: string): string {
  return command
    .replaceAll('http://127.0.0.1:7300', ctx.demoUrl)
    .replaceAll(AUDIENCE, `${ctx.httpUrl}/mcp`)
    .replaceAll('/etc/airlock/airlock.json', join(ctx.dir, 'airlock.example.json'))
    .replaceAll('/etc/airlock/policies.json', join(ctx.dir, 'policies.json'))
    .replaceAll('/run/airlock/token', join(ctx.dir, 'token'))
    .replaceAll('SESSION_ID', () => lastSession())
    .replace(/https:\/\/airlock\.example\.com(?![\w/.])/g, approvals?.url ?? '')
    .replaceAll('/run/airlock/approver.jwt', join(ctx.dir, 'approver.jwt'))
    .replaceAll('REQUEST_ID', () => requestIds.shift() ?? 'apr_noneLeft')
    .replace(/^npx @modelcontextprotocol\/inspector /, `${INSPECTOR} `);
}

/** A session id from the demo's audit (the docs' SESSION_ID). */
function lastSession(): string {
  return readAudit(ctx.auditDir).at(-1)?.sessionId ?? 'none';
}

/** Each stdio server gets its own state dir: a second server must not share the running demo's audit store. */
function isolatedEnv(): Record<string, string> {
  const state = tempDir('airlock-docs-state-');
  // A server gets a token only where the docs give it one (AIRLOCK_TOKEN and --token-file exclude each other).
  // HOME too: the Inspector passes its servers HOME and PATH but not XDG_STATE_HOME, and the demo holds
  // the audit directory under this run's HOME (as it would on a user's machine while `npm start` runs).
  const env: Record<string, string> = { ...ctx.env, XDG_STATE_HOME: state, HOME: state };
  delete env.AIRLOCK_TOKEN;
  return env;
}

/** Drives a stdio server through a real MCP client: lists tools, calls one, checks the answer. */
async function driveStdio(command: string, args: string[], extraEnv: Record<string, string> = {}): Promise<void> {
  const transport = new StdioClientTransport({ command, args, env: { ...isolatedEnv(), ...extraEnv }, cwd: tempDir('airlock-docs-cwd-'), stderr: 'pipe' });
  const client = new Client({ name: 'docs-test', version: '1.0.0' });
  let stderr = '';
  transport.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  try {
    await client.connect(transport).catch((error: unknown) => {
      throw new Error(`${command} ${args.join(' ')}: ${String(error)}\n${stderr}`);
    });
    const tools = await client.listTools();
    expect(tools.tools.map((t) => t.name)).toContain('query_sql');
    if (args.includes('--demo')) {
      const result = await client.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT card_number FROM customers ORDER BY id LIMIT 1' } });
      // The demo policy declares customers.card_number sensitive: masked whole (issue 15).
      expect(textOf(result)).toBe('1 row (masked: card_number)\ncard_number\n[MASKED]');
    } else {
      const result = (await client.callTool({ name: 'whoami', arguments: {} })) as { structuredContent?: { identity?: { email?: string; verified?: boolean; groups?: string[] } } };
      expect(result.structuredContent?.identity).toMatchObject({ email: AGENT_EMAIL, verified: true, groups: ['analysts'] });
    }
  } finally {
    await client.close();
  }
}

/** Runs a shell command to its end without blocking this process (a child is killed after 60 s). */
function runShell(command: string, options: { cwd: string; env: Record<string, string> }): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', command], { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

/** Runs one documented command line; throws (fails the test) when it does not do what the docs say. */
async function runCommand(original: string): Promise<void> {
  const command = substitute(original);
  const argv = words(command, ctx.env);
  // `claude mcp add … -- airlock …`: the part after `--` is what Claude Code would spawn.
  if (/^claude mcp add /.test(original)) {
    const at = argv.indexOf('--');
    expect(at).toBeGreaterThan(0);
    const server = argv.slice(at + 1);
    expect(server[0]).toBe('airlock');
    return driveStdio(join(ctx.dir, 'bin', 'airlock'), server.slice(1));
  }
  if (argv[0] === 'airlock' && argv[1] === 'serve' && argv[2] === '--stdio') return driveStdio(join(ctx.dir, 'bin', 'airlock'), argv.slice(1));
  if (argv[0] === 'airlock' && argv[1] === 'serve' && argv[2] === '--http') {
    const { child } = await startUntil(join(ctx.dir, 'bin', 'airlock'), [...argv.slice(1), ...(argv.includes('--port') ? [] : ['--port', '0'])], isolatedEnv(), ctx.dir, /serving MCP on http:\/\/127\.0\.0\.1:\d+\/mcp/);
    return stop(child);
  }
  if (argv[0] === 'airlock' && argv[1] === 'audit' && (argv[2] === 'view' || argv.includes('--follow'))) {
    const { child, output } = await startUntil(join(ctx.dir, 'bin', 'airlock'), argv.slice(1), ctx.env, ctx.dir, argv[2] === 'view' ? /http:\/\/127\.0\.0\.1:\d+\/#/ : /ok|denied/);
    expect(output).not.toMatch(/Error|at .*\.js:\d+/);
    return stop(child);
  }
  // A stdio server the Inspector spawns gets its own state dir, as in driveStdio.
  const env = command.includes(' serve --stdio') ? { ...isolatedEnv(), AIRLOCK_TOKEN: ctx.env.AIRLOCK_TOKEN ?? '' } : ctx.env;
  // Asynchronously: the local issuer lives in this process and must answer the JWKS requests the command makes.
  const result = await runShell(command, { cwd: command.includes(' serve --stdio') ? tempDir('airlock-docs-cwd-') : ctx.dir, env });
  const output = `${result.stdout}${result.stderr}`;
  const expected = EXPECTED.find((e) => e.pattern.test(original));
  if (expected === undefined) expect(result.status, `${command}\n${output}`).toBe(0);
  else {
    expect(result.status, `${command}\n${output}`).not.toBe(0);
    expect(output).toMatch(expected.output);
  }
  for (const shows of SHOWS.filter((s) => s.pattern.test(original))) expect(output, command).toMatch(shows.output);
  expect(result.stderr, command).not.toMatch(/\n\s+at .*\.js:\d+:\d+/);
}

beforeAll(async () => {
  issuer = await startLocalIssuer();
  const dir = tempDir('airlock-docs-');
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  // `airlock` on PATH is the compiled CLI, as `npm install -g .` would make it.
  writeFileSync(join(bin, 'airlock'), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
  chmodSync(join(bin, 'airlock'), 0o755);
  // The files the docs' commands name, in the folder they run in.
  copyFileSync(EXAMPLE_POLICY, join(dir, 'policies.json'));
  copyFileSync(EXAMPLE_POLICY, join(dir, 'candidate.json'));
  symlinkSync(join(ROOT, 'dist'), join(dir, 'dist'));
  writeFileSync(join(dir, 'calls.jsonl'), `${JSON.stringify({ principal: { email: 'ana@example.com', groups: ['analysts'] }, tool: 'query_sql', input: { connection: 'shop', sql: 'SELECT name FROM customers' } })}\n`);
  writeFileSync(join(dir, 'app.log'), 'user ana@example.com paid with 4111 1111 1111 1111\n');
  // airlock.example.json as shipped, with its Google issuer replaced by the local one (same audience).
  const example = JSON.parse(readFileSync(join(ROOT, 'airlock.example.json'), 'utf8')) as { identity: { issuers: { issuer: string }[] } };
  const first = example.identity.issuers[0];
  if (first !== undefined) first.issuer = issuer.issuer;
  writeFileSync(join(dir, 'airlock.example.json'), JSON.stringify(example, null, 2));
  const token = await issuer.sign({ sub: 'devin-agent', email: AGENT_EMAIL, email_verified: true, aud: AUDIENCE, exp: Math.floor(Date.now() / 1000) + 3000 });
  writeFileSync(join(dir, 'token'), token);
  const home = join(dir, 'home');
  mkdirSync(home);
  const env: Record<string, string> = {
    PATH: `${bin}:${process.env.PATH ?? ''}`,
    HOME: home,
    XDG_STATE_HOME: join(home, '.local', 'state'),
    XDG_CONFIG_HOME: join(home, '.config'),
    DATABASE_URL: inject('databaseUrl'),
    AIRLOCK_TOKEN: token,
    TOKEN: token,
  };
  ctx = { dir, env, demoUrl: '', httpUrl: '', auditDir: '' };
  // One demo for every Inspector and audit command (the docs' `npm start`), and one HTTP server with the
  // sample runtime config for the HTTP client configs.
  // The demo's write waits 2 s for an approval here (45 s by default), then returns its pending handle.
  writeFileSync(join(dir, 'demo-approvals.json'), JSON.stringify({ approvals: { waitSeconds: 2 } }));
  const demo = await startUntil(join(bin, 'airlock'), ['start', '--port', '0', '--config', join(dir, 'demo-approvals.json')], env, dir, /Streamable HTTP:\s+http:\/\/\S+\/mcp/);
  ctx.demoUrl = /Streamable HTTP:\s+(http:\/\/[^/\s]+)\/mcp/.exec(demo.output)?.[1] ?? '';
  const auditDir = /Audit log:\s+(\S+?)\/?\n/.exec(demo.output)?.[1] ?? '';
  ctx.auditDir = auditDir.startsWith('/') ? auditDir : join(dir, auditDir);
  const http = await startUntil(join(bin, 'airlock'), ['serve', '--http', '--port', '0', '--config', join(dir, 'airlock.example.json'), '--policy', join(dir, 'policies.json')], { ...env, XDG_STATE_HOME: tempDir('airlock-docs-state-') }, tempDir('airlock-docs-cwd-'), /serving MCP on (http:\/\/\S+)\/mcp/);
  ctx.httpUrl = /serving MCP on (http:\/\/\S+)\/mcp/.exec(http.output)?.[1] ?? '';
  // The approval API with its own store, and a DBA's token for the approver commands.
  approvals = await startApprovalServer(issuer);
  const dba = { sub: 'dana', email: 'dana@example.com', groups: ['dba'] };
  writeFileSync(join(dir, 'approver.jwt'), `${await approvals.token(dba)}\n`);
  for (let i = 0; i < 8; i++) {
    const request = await approvals.open({ sub: 'ana', email: 'ana@example.com', groups: ['analysts'] }, { input: { connection: 'shop', sql: 'UPDATE orders SET status = $1 WHERE id = $2', params: ['paid', 42 + i] } });
    requestIds.push(request.id);
  }
}, 120_000);

afterAll(async () => {
  await Promise.all(children.map(stop));
  await approvals?.close();
  await issuer?.close();
}, 60_000);

const shellBlocks = allBlocks().filter((b) => b.lang === 'sh');
const where = (b: Block): string => `${b.file}:${b.line}`;

describe('docs: the demo', () => {
  it('starts with the banner the README describes', () => {
    expect(ctx.demoUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });
});

describe('docs: shell blocks', () => {
  it('have at least one command each, and every command is run or allowed with a reason', () => {
    const empty = shellBlocks.filter((b) => b.meta.file === undefined && commandsOf(b).length === 0).map(where);
    expect(empty).toEqual([]);
  });

  for (const block of shellBlocks) {
    if (block.meta.file !== undefined) {
      it(`${where(block)} (script ${block.meta.file}) is valid sh`, () => {
        expect(block.text.startsWith('#!/bin/sh\n')).toBe(true);
        const check = spawnSync('sh', ['-n'], { input: block.text, encoding: 'utf8' });
        expect(check.status, check.stderr).toBe(0);
      });
      continue;
    }
    for (const command of commandsOf(block)) {
      const allowed = ALLOWED.find((a) => a.pattern.test(command));
      if (allowed !== undefined) {
        it.skip(`${where(block)}: ${command.slice(0, 80)} — not run: ${allowed.reason}`, () => undefined);
        continue;
      }
      it(`${where(block)}: ${command.slice(0, 100)}`, { timeout: 90_000 }, async () => {
        await runCommand(command);
      });
    }
  }
});

describe('docs: npm run fuzz', () => {
  it('builds, then runs every fuzz suite under test/ and nothing else', () => {
    const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    const script = scripts.fuzz ?? '';
    expect(script).toMatch(/^npm run build && vitest run --config test\/vitest\.config\.ts /);
    const named = script.split(' ').filter((w) => w.endsWith('.test.ts')).sort();
    const suites = readdirSync(join(ROOT, 'test'), { recursive: true, encoding: 'utf8' })
      .filter((f) => /fuzz[^/]*\.test\.ts$/.test(f))
      .map((f) => `test/${f}`)
      .sort();
    expect(suites.length).toBeGreaterThan(0);
    expect(named).toEqual(suites);
  });
});

describe('docs: stdio client configs', () => {
  for (const block of allBlocks().filter((b) => b.lang === 'json' && ['cursor', 'vscode', 'claude'].includes(b.meta.kind ?? ''))) {
    const config = JSON.parse(block.text) as { mcpServers?: Record<string, unknown>; servers?: Record<string, unknown> };
    for (const [name, server] of Object.entries(config.mcpServers ?? config.servers ?? {})) {
      const entry = server as { command?: string; args?: string[]; env?: Record<string, string>; url?: string; headers?: Record<string, string>; headersHelper?: string };
      // The client's own variable syntax: ${VAR} (Claude Code), ${env:VAR} (Cursor, VS Code), ${input:id} (VS Code).
      const expand = (text: string): string =>
        text.replace(/\$\{(?:env:)?(\w+)\}/g, (_, v: string) => ctx.env[v] ?? '').replace(/\$\{input:[^}]+\}/g, () => ctx.env.AIRLOCK_TOKEN ?? '');
      if (entry.command !== undefined) {
        it(`${where(block)} (${block.meta.kind ?? ''} "${name}", stdio) lists tools and answers whoami through a real MCP client`, { timeout: 60_000 }, async () => {
          expect(entry.command).toBe('airlock');
          const args = (entry.args ?? []).map((a) => substitute(expand(a)));
          const env = Object.fromEntries(Object.entries(entry.env ?? {}).map(([k, v]) => [k, expand(v)]));
          await driveStdio(join(ctx.dir, 'bin', 'airlock'), args, env);
        });
      } else if (entry.headers !== undefined) {
        it(`${where(block)} (${block.meta.kind ?? ''} "${name}", HTTP) reaches the server with its header`, { timeout: 60_000 }, async () => {
          const url = substitute(entry.url ?? '');
          const headers = Object.fromEntries(Object.entries(entry.headers ?? {}).map(([k, v]) => [k, expand(v)]));
          const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
          const client = new Client({ name: 'docs-test', version: '1.0.0' });
          try {
            await client.connect(transport);
            const result = (await client.callTool({ name: 'whoami', arguments: {} })) as { structuredContent?: { identity?: unknown } };
            expect(result.structuredContent?.identity).toMatchObject({ email: AGENT_EMAIL, verified: true });
            await transport.terminateSession();
          } finally {
            await client.close();
          }
        });
      }
    }
  }
});
