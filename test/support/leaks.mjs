// Finds the processes a test run left behind, from /proc (Linux). Plain JavaScript so that test/run.mjs
// can use it before anything is compiled; types in leaks.d.mts.
import { readdirSync, readFileSync } from 'node:fs';

/** The environment variable test/run.mjs sets for vitest; every process the run starts inherits it. */
export const RUN_MARKER = 'AIRLOCK_TEST_RUN';

/** Every live process (zombies are already dead), or undefined where there is no /proc to read. */
export function listProcesses() {
  let names;
  try {
    names = readdirSync('/proc');
  } catch {
    return undefined;
  }
  const out = [];
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // The command name (field 2) may hold spaces and parentheses: fields after it start at the last ')'.
      const close = stat.lastIndexOf(')');
      const fields = stat.slice(close + 2).split(' ');
      const state = fields[0];
      if (state === 'Z' || state === 'X') continue;
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').filter((a) => a !== '');
      out.push({
        pid: Number(name),
        ppid: Number(fields[1]),
        // Clock ticks after boot (field 22): with the pid it names one process even when pids are reused.
        startTime: fields[19] ?? '',
        command: argv.length > 0 ? argv.join(' ') : `[${stat.slice(stat.indexOf('(') + 1, close)}]`,
      });
    } catch {
      // Gone between readdir and read.
    }
  }
  return out;
}

/** The key that names one process across two listings. */
export function processKey(p) {
  return `${p.pid}:${p.startTime}`;
}

/** Processes below `rootPid` in `processes` (children, their children, …), not the root itself. */
export function descendantsOf(processes, rootPid) {
  const below = new Set([rootPid]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of processes) {
      if (!below.has(p.pid) && below.has(p.ppid)) {
        below.add(p.pid);
        grew = true;
      }
    }
  }
  below.delete(rootPid);
  return processes.filter((p) => below.has(p.pid));
}

function environHas(pid, entry) {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(entry);
  } catch {
    return false;
  }
}

/**
 * The processes a test run left alive, or undefined where processes cannot be listed. A process counts
 * when it started after `before` was listed (so nothing that ran before the tests is touched) and
 *   - descends from `rootPid`, or
 *   - carries `RUN_MARKER=marker` in its environment (it was started by the run, then orphaned), or
 *   - names `cli` in its command line (the checkout's compiled CLI, which tests spawn with a clean env).
 */
export function findLeftovers({ rootPid = process.pid, marker, cli, before } = {}) {
  const all = listProcesses();
  if (all === undefined) return undefined;
  const known = new Set((before ?? []).map(processKey));
  const below = new Set(descendantsOf(all, rootPid).map((p) => p.pid));
  return all.filter((p) => {
    if (p.pid === process.pid || known.has(processKey(p))) return false;
    if (below.has(p.pid)) return true;
    if (cli !== undefined && p.command.includes(cli)) return true;
    return marker !== undefined && environHas(p.pid, `${RUN_MARKER}=${marker}`);
  });
}

function alive(p) {
  const now = listProcesses()?.find((q) => q.pid === p.pid);
  return now !== undefined && now.startTime === p.startTime;
}

/**
 * Stops the given processes: SIGTERM, up to `graceMs` to exit, then SIGKILL. Resolves with those that
 * are still alive after that (normally none).
 */
export async function stopProcesses(processes, graceMs = 3_000) {
  const signal = (p, sig) => {
    try {
      process.kill(p.pid, sig);
    } catch {
      // Already gone.
    }
  };
  const wait = async (ms) => {
    const end = Date.now() + ms;
    while (processes.some(alive) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  };
  for (const p of processes) signal(p, 'SIGTERM');
  await wait(graceMs);
  for (const p of processes.filter(alive)) signal(p, 'SIGKILL');
  await wait(2_000);
  return processes.filter(alive);
}

/**
 * Polls `find` until it returns no processes or `settleMs` passes (a child that was just signalled may
 * need a moment to exit), and returns what is still there.
 */
export async function settle(find, settleMs = 3_000) {
  const end = Date.now() + settleMs;
  let left = find();
  while (left !== undefined && left.length > 0 && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 100));
    left = find();
  }
  return left;
}

/** One line per process: pid and command line. */
export function describeProcesses(processes) {
  return processes.map((p) => `  pid ${p.pid}: ${p.command}`).join('\n');
}
