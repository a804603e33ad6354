/**
 * Child processes in tests: wait for what a child prints, and stop it for good. Every child a test starts
 * is stopped in a `finally` with `stopChild`, which waits for the exit, so no test leaves a process behind
 * even when it fails.
 */
import type { ChildProcess } from 'node:child_process';

/** How a child ended: its exit code, or the signal that ended it. */
export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Resolves when the child has exited (at once if it already has). */
export function exited(child: ChildProcess): Promise<ChildExit> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/**
 * Sends `signal`, waits up to `graceMs` for the child to exit, then SIGKILLs it and waits again.
 * Safe to call on a child that has already exited or never started.
 */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 5_000): Promise<ChildExit> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return exited(child);
  const done = exited(child);
  child.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), graceMs)));
  const first = await Promise.race([done, late]);
  clearTimeout(timer);
  if (first !== 'late') return first;
  child.kill('SIGKILL');
  return done;
}

/**
 * Waits until `pattern` matches what the child has written to `stream` so far and returns the match.
 * If the child exits first or `timeoutMs` passes, the child is stopped (`stopSignal`, then SIGKILL;
 * awaited) and the promise rejects with everything it printed, so a child that never got ready is not
 * left running. Give a child that owns children of its own (the demo's PostgreSQL) the signal it shuts
 * them down on.
 */
export async function waitForOutput(
  child: ChildProcess,
  pattern: RegExp,
  { stream = 'stdout', timeoutMs = 30_000, stopSignal = 'SIGTERM' }: { stream?: 'stdout' | 'stderr'; timeoutMs?: number; stopSignal?: NodeJS.Signals } = {},
): Promise<RegExpExecArray> {
  const source = child[stream];
  if (source === null) throw new TypeError(`waitForOutput: the child's ${stream} is not piped`);
  let out = '';
  let err = '';
  const onOut = (c: Buffer): void => void (out += c.toString());
  const onErr = (c: Buffer): void => void (err += c.toString());
  child.stdout?.on('data', onOut);
  child.stderr?.on('data', onErr);
  const text = (): string => (stream === 'stdout' ? out : err);
  let timer: NodeJS.Timeout | undefined;
  let onData: (() => void) | undefined;
  let onExit: (() => void) | undefined;
  try {
    return await new Promise<RegExpExecArray>((resolve, reject) => {
      onData = () => {
        const match = pattern.exec(text());
        if (match !== null) resolve(match);
      };
      onExit = () => reject(new Error(`exited (code ${String(child.exitCode)}, signal ${String(child.signalCode)}) before printing ${String(pattern)}\nstdout: ${out}\nstderr: ${err}`));
      timer = setTimeout(() => reject(new Error(`did not print ${String(pattern)} within ${timeoutMs} ms\nstdout: ${out}\nstderr: ${err}`)), timeoutMs);
      source.on('data', onData);
      child.once('exit', onExit);
      if (child.exitCode !== null || child.signalCode !== null) onExit();
    });
  } catch (error) {
    await stopChild(child, stopSignal);
    throw error;
  } finally {
    clearTimeout(timer);
    if (onData !== undefined) source.off('data', onData);
    if (onExit !== undefined) child.off('exit', onExit);
    child.stdout?.off('data', onOut);
    child.stderr?.off('data', onErr);
  }
}
