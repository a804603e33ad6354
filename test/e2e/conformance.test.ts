/**
 * MCP conformance (issue 16): every server scenario of `@modelcontextprotocol/conformance` runs against a real
 * `airlock serve --http` (the compiled CLI, dev identity, the example policy, this run's PostgreSQL), and the
 * checks that do not pass are compared with test/conformance/expected-failures.json. The suite's client is the
 * v1 SDK, so this covers the 2025-era sessionful Streamable HTTP path; the suite has no stdio server mode and
 * no 2026-07-28 client.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import * as z from 'zod';
import { CLI, readAudit, ROOT, tempDir, writePolicy } from '../support/airlock.js';
import { exited, stopChild, waitForOutput } from '../support/child.js';

const PACKAGE_DIR = join(ROOT, 'node_modules', '@modelcontextprotocol', 'conformance');
const LIST_FILE = join(ROOT, 'test', 'conformance', 'expected-failures.json');
const LIST_NAME = 'test/conformance/expected-failures.json';
const AIRLOCK_TOOLS = ['query_sql', 'read_bucket', 'tail_logs', 'list_resources', 'explain_policy', 'whoami', 'approval_status'];
/** The whole suite takes seconds here; this only bounds a hung scenario. */
const SUITE_TIMEOUT_MS = 150_000;

const Status = z.enum(['SUCCESS', 'FAILURE', 'WARNING', 'INFO', 'SKIPPED']);
type Status = z.infer<typeof Status>;
/** A check as the suite writes it to `<output dir>/server-<scenario>-<timestamp>/checks.json`. */
const Check = z.object({ id: z.string().min(1), status: Status, description: z.string().optional(), errorMessage: z.string().optional() });
const Checks = z.array(Check);

const Entry = z.strictObject({
  scenario: z.string().min(1),
  check: z.string().min(1),
  status: z.enum(['FAILURE', 'WARNING']),
  reason: z.string().min(10),
});
type Entry = z.infer<typeof Entry>;
const ListFile = z.strictObject({ about: z.string(), suite: z.string(), expectedFailures: z.array(Entry) });

/** A check that does not pass: the suite's own baseline counts warnings as failures of their scenario. */
interface Observed {
  readonly scenario: string;
  readonly check: string;
  readonly status: Status;
  readonly message: string;
}

const NOT_PASSING: readonly Status[] = ['FAILURE', 'WARNING'];
const keyOf = (e: { scenario: string; check: string; status: string }): string => `${e.scenario} › ${e.check} (${e.status})`;
/** The suite's result folder names end in `new Date().toISOString()` with `:` and `.` turned into `-`. */
const RESULT_DIR = /^server-(.+)-\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$/;

function conformanceBin(): { bin: string; version: string } {
  const pkg = z.object({ version: z.string(), bin: z.object({ conformance: z.string() }) }).parse(JSON.parse(readFileSync(join(PACKAGE_DIR, 'package.json'), 'utf8')));
  return { bin: join(PACKAGE_DIR, pkg.bin.conformance), version: pkg.version };
}

/** Runs the suite's CLI to its end (bounded), always leaving no process behind. */
async function runConformance(args: readonly string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [conformanceBin().bin, ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: cwd, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => void (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => void (stderr += c.toString()));
  let timer: NodeJS.Timeout | undefined;
  try {
    const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), SUITE_TIMEOUT_MS)));
    const done = await Promise.race([exited(child), late]);
    if (done === 'late') throw new Error(`conformance ${args.join(' ')} did not finish within ${SUITE_TIMEOUT_MS} ms\nstdout: ${stdout.slice(-4000)}\nstderr: ${stderr.slice(-4000)}`);
    return { code: done.code, stdout, stderr };
  } finally {
    clearTimeout(timer);
    await stopChild(child);
  }
}

/** Reads every scenario's checks from the suite's output folder. */
function readResults(outDir: string): Map<string, z.infer<typeof Checks>> {
  const results = new Map<string, z.infer<typeof Checks>>();
  for (const name of readdirSync(outDir)) {
    const scenario = RESULT_DIR.exec(name)?.[1];
    if (scenario === undefined) throw new Error(`unexpected entry in the conformance output: ${name}`);
    if (results.has(scenario)) throw new Error(`scenario ${scenario} has two result folders`);
    results.set(scenario, Checks.parse(JSON.parse(readFileSync(join(outDir, name, 'checks.json'), 'utf8'))));
  }
  return results;
}

/** airlock's WARN and ERROR lines (the dev-identity banner aside), for failure messages. */
function problems(log: string): string {
  return log
    .split('\n')
    .filter((line) => / airlock (WARN|ERROR) /.test(line) && !line.includes('!!'))
    .join('\n')
    .slice(-3000);
}

/** The entries to paste into the list for checks it does not have yet (the reason is the reader's to write). */
function asEntries(observed: readonly Observed[]): string {
  return observed.map((o) => `    ${JSON.stringify({ scenario: o.scenario, check: o.check, status: o.status, reason: `TODO: why (${o.message})` })}`).join(',\n');
}

let scenarios: string[] = [];
let results = new Map<string, z.infer<typeof Checks>>();
const observed: Observed[] = [];
let list: z.infer<typeof ListFile>;
let installed = '';
let auditDir = '';
let airlockLog = '';

beforeAll(async () => {
  list = ListFile.parse(JSON.parse(readFileSync(LIST_FILE, 'utf8')));
  installed = conformanceBin().version;
  const dir = tempDir('airlock-conformance-');
  auditDir = join(dir, 'audit');
  const outDir = join(dir, 'results');

  const listed = await runConformance(['list', '--server'], dir);
  scenarios = [...listed.stdout.matchAll(/^ {2}- (\S+)$/gm)].map((m) => m[1] ?? '');
  if (listed.code !== 0 || scenarios.length === 0) throw new Error(`conformance list --server failed (exit ${String(listed.code)})\n${listed.stdout}\n${listed.stderr}`);

  let airlock: ChildProcess | undefined;
  try {
    airlock = spawn(
      process.execPath,
      [CLI, 'serve', '--http', '--port', '0', '--policy', writePolicy(dir), '--audit-dir', auditDir, '--dev-identity', 'ana@example.com,analysts', '--log-level', 'info'],
      { cwd: dir, env: { PATH: process.env.PATH ?? '', HOME: dir, DATABASE_URL: inject('databaseUrl') }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    // Keep reading what airlock logs, so a full pipe never blocks it; the tail goes into failure messages.
    airlock.stdout?.on('data', () => undefined);
    airlock.stderr?.on('data', (c: Buffer) => void (airlockLog = (airlockLog + c.toString()).slice(-20_000)));
    const base = (await waitForOutput(airlock, /serving MCP on (http:\/\/[^/\s]+)\/mcp/, { stream: 'stderr' }))[1] ?? '';
    const run = await runConformance(['server', '--url', `${base}/mcp`, '--suite', 'all', '--output-dir', outDir], dir);
    // Exit 1 only means some check failed; anything else (a crash at load) leaves no results, caught below.
    if (!existsSync(outDir)) throw new Error(`the conformance run wrote no results (exit ${String(run.code)})\nstdout: ${run.stdout.slice(-4000)}\nstderr: ${run.stderr.slice(-4000)}\nairlock: ${airlockLog.slice(-4000)}`);
    results = readResults(outDir);
  } finally {
    if (airlock !== undefined) await stopChild(airlock);
  }

  for (const [scenario, checks] of results) {
    const seen = new Set<string>();
    for (const c of checks) {
      if (!NOT_PASSING.includes(c.status)) continue;
      const o: Observed = { scenario, check: c.id, status: c.status, message: c.errorMessage ?? c.description ?? '' };
      if (seen.has(keyOf(o))) continue;
      seen.add(keyOf(o));
      observed.push(o);
    }
  }
}, 240_000);

describe('MCP conformance against airlock serve --http (issue 16)', () => {
  it('the list is for the installed suite, names only its scenarios, each check once, each with a reason (issue 16)', () => {
    expect(list.suite, `${LIST_NAME} was written for another version of the suite: re-run this test and review every entry, then set "suite"`).toBe(
      `@modelcontextprotocol/conformance@${installed}`,
    );
    expect(list.expectedFailures.filter((e) => !scenarios.includes(e.scenario)).map(keyOf), 'entries naming a scenario the suite does not have').toEqual([]);
    const keys = list.expectedFailures.map((e) => `${e.scenario} › ${e.check}`);
    expect(keys.filter((k, i) => keys.indexOf(k) !== i), 'entries listed twice').toEqual([]);
  });

  it('runs every server scenario the suite has and reads its checks (issue 16)', () => {
    expect(scenarios.length).toBeGreaterThanOrEqual(30);
    expect([...results.keys()].sort()).toEqual([...scenarios].sort());
    for (const [scenario, checks] of results) expect(checks.length, `scenario ${scenario} reported no checks`).toBeGreaterThan(0);
    // The handshake, ping, tools/list and DNS-rebinding protection are what any MCP server must get right.
    for (const scenario of ['server-initialize', 'ping', 'tools-list', 'dns-rebinding-protection', 'server-sse-multiple-streams']) {
      expect(results.get(scenario)?.map((c) => c.status), scenario).not.toContain('FAILURE');
    }
  });

  it('fails on a new failure: every failing or warning check is listed with its reason (issue 16)', () => {
    const expected = new Set(list.expectedFailures.map(keyOf));
    const fresh = observed.filter((o) => !expected.has(keyOf(o)));
    expect(
      fresh.map((o) => `${keyOf(o)}: ${o.message}`),
      `new conformance failures: fix them, or (for a fixture tool or capability airlock does not offer) add them to ${LIST_NAME} with the reason:\n${asEntries(fresh)}\nairlock's warnings and errors:\n${problems(airlockLog)}`,
    ).toEqual([]);
  });

  it('fails when a listed failure now passes or is no longer reported, so the list stays honest (issue 16)', () => {
    const now = new Set(observed.map(keyOf));
    const stale = list.expectedFailures.filter((e: Entry) => !now.has(keyOf(e)));
    expect(
      stale.map((e) => `${keyOf(e)}: now ${results.get(e.scenario)?.find((c) => c.id === e.check)?.status ?? 'not reported'}`),
      `these listed checks no longer fail as listed: remove them from ${LIST_NAME} (or correct their status)`,
    ).toEqual([]);
  });

  it('refuses each fixture tool the suite calls as an unknown tool, audited once under the caller (issue 16)', () => {
    const records = readAudit(auditDir);
    const tools = records.map((r) => r.tool);
    // tools-call-simple-text and tools-call-error pass on this refusal alone (see the list's "about").
    expect(tools).toEqual(expect.arrayContaining(['test_simple_text', 'test_error_handling']));
    expect(tools.filter((t, i) => tools.indexOf(t) !== i), 'tools audited twice').toEqual([]);
    for (const r of records) {
      expect(AIRLOCK_TOOLS).not.toContain(r.tool);
      expect(r).toMatchObject({
        transport: 'http',
        protocol: '2025-11-25',
        devIdentity: true,
        principal: { email: 'ana@example.com', groups: ['analysts'] },
        outcome: 'unknown_tool',
        error: { code: 'UNKNOWN_TOOL' },
      });
    }
  });
});
