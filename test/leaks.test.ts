import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, tempDir } from './support/airlock.js';
import { exited, stopChild, waitForOutput } from './support/child.js';
import { findLeftovers, listProcesses, RUN_MARKER, stopProcesses, type ProcessInfo } from './support/leaks.mjs';

/** A `sleep` with a duration no other process uses, so its command line names it. */
function uniqueSeconds(): string {
  return `${300 + (randomBytes(2).readUInt16BE() % 1000)}.${randomBytes(3).readUIntBE(0, 3)}`;
}

function byCommand(command: string): ProcessInfo[] {
  return (listProcesses() ?? []).filter((p) => p.command === command);
}

/** Starts `sh -c script` that backgrounds a process, prints its pid and exits: the process is orphaned. */
async function orphan(script: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const sh = spawn('sh', ['-c', `${script} >/dev/null 2>&1 & echo $!`, 'sh', ...args], { env, stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  sh.stdout.on('data', (c: Buffer) => (out += c.toString()));
  expect((await exited(sh)).code).toBe(0);
  return Number(out.trim());
}

async function kill(pid: number): Promise<void> {
  const p = listProcesses()?.find((q) => q.pid === pid);
  if (p !== undefined) expect(await stopProcesses([p])).toEqual([]);
}

describe.runIf(listProcesses() !== undefined)('findLeftovers', () => {
  it('finds a running child of this process by pid and command line, and stopProcesses ends it', async () => {
    const seconds = uniqueSeconds();
    let child: ChildProcess | undefined;
    try {
      child = spawn('sleep', [seconds], { stdio: 'ignore' });
      const pid = child.pid!;
      const found = findLeftovers()?.find((p) => p.pid === pid);
      expect(found).toMatchObject({ pid, ppid: process.pid, command: `sleep ${seconds}` });
      expect(await stopProcesses([found!])).toEqual([]);
      expect(await exited(child)).toEqual({ code: null, signal: 'SIGTERM' });
      expect(findLeftovers()?.some((p) => p.pid === pid)).toBe(false);
    } finally {
      if (child !== undefined) await stopChild(child, 'SIGKILL');
    }
  });

  it('finds a process that was orphaned (no longer a descendant) by the run marker in its environment', async () => {
    const marker = randomBytes(8).toString('hex');
    const seconds = uniqueSeconds();
    const pid = await orphan('sleep "$1"', [seconds], { ...process.env, [RUN_MARKER]: marker });
    try {
      expect(byCommand(`sleep ${seconds}`).map((p) => p.pid)).toEqual([pid]);
      expect(findLeftovers()?.some((p) => p.pid === pid)).toBe(false);
      expect(findLeftovers({ marker: 'another-run' })?.some((p) => p.pid === pid)).toBe(false);
      expect(findLeftovers({ marker })?.filter((p) => p.pid === pid)).toEqual([expect.objectContaining({ command: `sleep ${seconds}` })]);
    } finally {
      await kill(pid);
    }
    expect(byCommand(`sleep ${seconds}`)).toEqual([]);
  });

  it('finds an orphaned process whose command line names the CLI, even with a clean environment', async () => {
    const cli = join(tempDir(), 'dist', 'src', 'cli.js');
    const pid = await orphan('exec "$1" -e "setTimeout(() => {}, 300000)" "$2"', [process.execPath, cli], { PATH: process.env.PATH ?? '' });
    try {
      expect(findLeftovers({ marker: 'another-run' })?.some((p) => p.pid === pid)).toBe(false);
      expect(findLeftovers({ cli })?.filter((p) => p.pid === pid)).toEqual([expect.objectContaining({ command: `${process.execPath} -e setTimeout(() => {}, 300000) ${cli}` })]);
    } finally {
      await kill(pid);
    }
  });

  it('leaves alone processes that were running before the listing it is given', async () => {
    let child: ChildProcess | undefined;
    try {
      child = spawn('sleep', [uniqueSeconds()], { stdio: 'ignore' });
      const before = listProcesses();
      expect(findLeftovers({ before })?.some((p) => p.pid === child!.pid)).toBe(false);
      expect(findLeftovers()?.some((p) => p.pid === child!.pid)).toBe(true);
    } finally {
      if (child !== undefined) await stopChild(child, 'SIGKILL');
    }
  });
});

describe.runIf(listProcesses() !== undefined)('the per-file check (test/support/no-leftovers.ts)', () => {
  it('fails a test file that leaves a child running, names the process, and stops it', { timeout: 60_000 }, () => {
    const seconds = uniqueSeconds();
    const result = spawnSync(join(ROOT, 'node_modules', '.bin', 'vitest'), ['run', '--config', join(ROOT, 'test', 'fixtures', 'leak', 'vitest.config.ts')], {
      cwd: tempDir(),
      encoding: 'utf8',
      env: { ...process.env, LEAK_SECONDS: seconds, NO_COLOR: '1' },
      timeout: 50_000,
    });
    const output = result.stdout + result.stderr;
    expect(result.status, output).toBe(1);
    expect(output).toContain('this test file left 1 process(es) running (now stopped); stop every process you start in a finally:');
    expect(output).toMatch(new RegExp(`pid \\d+: sleep ${seconds.replace('.', '\\.')}`));
    expect(byCommand(`sleep ${seconds}`)).toEqual([]);
  });
});

describe('waitForOutput', () => {
  it('returns the match once the child prints it, and leaves the child running', async () => {
    let child: ChildProcess | undefined;
    try {
      child = spawn(process.execPath, ['-e', 'console.log("listening on http://127.0.0.1:1234/"); setInterval(() => {}, 1000)'], { stdio: ['ignore', 'pipe', 'pipe'] });
      expect((await waitForOutput(child, /http:\/\/127\.0\.0\.1:(\d+)\//))[1]).toBe('1234');
      expect(child.exitCode).toBeNull();
    } finally {
      if (child !== undefined) expect(await stopChild(child)).toEqual({ code: null, signal: 'SIGTERM' });
    }
  });

  it('stops a child that never prints what is awaited, and rejects with what it did print', async () => {
    let child: ChildProcess | undefined;
    try {
      child = spawn(process.execPath, ['-e', 'console.error("still starting"); setInterval(() => {}, 1000)'], { stdio: ['ignore', 'pipe', 'pipe'] });
      await expect(waitForOutput(child, /ready/, { timeoutMs: 1_000 })).rejects.toThrow(/did not print \/ready\/ within 1000 ms\nstdout: \nstderr: still starting/);
      expect(child.signalCode).toBe('SIGTERM');
    } finally {
      if (child !== undefined) await stopChild(child, 'SIGKILL');
    }
  });

  it('rejects when the child exits before printing what is awaited', async () => {
    let child: ChildProcess | undefined;
    try {
      child = spawn(process.execPath, ['-e', 'console.error("port in use"); process.exit(3)'], { stdio: ['ignore', 'pipe', 'pipe'] });
      await expect(waitForOutput(child, /ready/)).rejects.toThrow(/exited \(code 3, signal null\) before printing \/ready\//);
    } finally {
      if (child !== undefined) await stopChild(child, 'SIGKILL');
    }
  });
});
