/** A live process as /proc shows it. */
export interface ProcessInfo {
  pid: number;
  ppid: number;
  /** Clock ticks after boot: with `pid`, names one process even when pids are reused. */
  startTime: string;
  /** The command line, arguments joined by spaces (`[name]` for kernel threads). */
  command: string;
}

/** The environment variable test/run.mjs sets for vitest; every process the run starts inherits it. */
export const RUN_MARKER: string;

/** Every live process, or undefined where there is no /proc to read. */
export function listProcesses(): ProcessInfo[] | undefined;

/** The key that names one process across two listings. */
export function processKey(p: ProcessInfo): string;

/** Processes below `rootPid` (children, their children, …), not the root itself. */
export function descendantsOf(processes: ProcessInfo[], rootPid: number): ProcessInfo[];

/**
 * The processes a test run left alive (undefined where processes cannot be listed): started after
 * `before` was listed, and below `rootPid` (default: this process), or carrying `RUN_MARKER=marker`, or
 * naming `cli` in their command line.
 */
export function findLeftovers(options?: { rootPid?: number; marker?: string; cli?: string; before?: ProcessInfo[] }): ProcessInfo[] | undefined;

/** SIGTERM, up to `graceMs` to exit, then SIGKILL; resolves with those still alive after that. */
export function stopProcesses(processes: ProcessInfo[], graceMs?: number): Promise<ProcessInfo[]>;

/** Polls `find` until it returns no processes or `settleMs` passes; returns what is still there. */
export function settle(find: () => ProcessInfo[] | undefined, settleMs?: number): Promise<ProcessInfo[] | undefined>;

/** One line per process: pid and command line. */
export function describeProcesses(processes: ProcessInfo[]): string;
