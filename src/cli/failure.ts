/**
 * What the user reads when a command fails. Their own mistakes (usage, files, ports, a locked audit
 * directory, a bad config or policy) get one clear message and no stack trace; `--debug` adds the stack.
 */

export interface Failure {
  readonly message: string;
  /** 2 for the user's mistakes, 1 for anything unexpected. */
  readonly code: number;
}

/**
 * Errors whose message is written for the user (matched by name: this module must not load their
 * modules). TypeError is how settings are refused where they are built (`--dev-identity`, keys, times).
 */
const USER_ERRORS = new Set(['ConfigError', 'PolicyLoadError', 'AuditLockedError', 'RevealError', 'TypeError']);

/**
 * TypeErrors the JavaScript engine raises are bugs, not settings refused by our code: they keep the
 * "unexpected" treatment (exit 1, pointer to --debug).
 */
const ENGINE_TYPE_ERROR =
  /^(Cannot (read|set) properties of|Cannot destructure|Cannot convert|Cannot access|Cannot create property|Cannot mix BigInt|Assignment to constant|Converting circular structure|Do not know how to serialize|Class constructor|Reduce of empty array|.+ is not (a function|iterable|a constructor|defined))/;

const FILE_PROBLEMS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a directory',
  ENOTDIR: 'a part of the path is not a directory',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on device',
  EEXIST: 'a file is in the way',
};

function userMessage(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const e = error as NodeJS.ErrnoException & { command?: unknown; address?: unknown; port?: unknown };
  if (e.name === 'UsageError') {
    const command = typeof e.command === 'string' && e.command !== '' ? `airlock ${e.command}` : 'airlock';
    return `airlock: ${e.message}\nRun "${command} --help" for usage.`;
  }
  if (USER_ERRORS.has(e.name) && !(e.name === 'TypeError' && ENGINE_TYPE_ERROR.test(e.message))) return `airlock: ${e.message}`;
  if (e.syscall === 'listen' && e.code === 'EADDRINUSE') {
    return `airlock: port ${String(e.port)} on ${String(e.address)} is already in use (another airlock, or another program): choose another with --port N (0 picks a free port)`;
  }
  if (e.syscall === 'listen' && (e.code === 'EACCES' || e.code === 'EADDRNOTAVAIL')) {
    return `airlock: cannot listen on ${String(e.address)}:${String(e.port)} (${e.code === 'EACCES' ? 'permission denied' : 'no such local address'}): choose another --port or --host`;
  }
  if (e.code !== undefined && e.path !== undefined && FILE_PROBLEMS[e.code] !== undefined) {
    const what = e.syscall === 'mkdir' ? 'create the directory' : e.syscall === 'scandir' ? 'read the directory' : e.syscall === 'open' || e.syscall === 'stat' || e.syscall === 'read' ? 'read' : 'use';
    return `airlock: cannot ${what} ${e.path}: ${FILE_PROBLEMS[e.code] ?? e.code} (${e.code})`;
  }
  return undefined;
}

/** The message and exit code for an error that ended a command. */
export function describeFailure(error: unknown, debug: boolean): Failure {
  const known = userMessage(error);
  const stack = error instanceof Error ? (error.stack ?? error.message) : String(error);
  const cause = error instanceof Error && error.cause !== undefined ? `\ncaused by: ${error.cause instanceof Error ? (error.cause.stack ?? error.cause.message) : JSON.stringify(error.cause)}` : '';
  if (known !== undefined) return { message: debug ? `${known}\n\n${stack}${cause}` : known, code: 2 };
  const message = error instanceof Error ? error.message : String(error);
  return { message: debug ? `airlock: ${stack}${cause}` : `airlock: ${message}\n(run again with --debug for the stack trace)`, code: 1 };
}
