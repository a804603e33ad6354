import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';

/** Who holds a single-writer lock file. */
export interface LockHolder {
  readonly pid: number;
  readonly host: string;
  readonly since: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes a single-writer lock: a file created exclusively. A lock left by a process that died on this host
 * (kill -9, power loss) is taken over; a live holder, one on another host, or a lock that cannot be read
 * is refused with the error `refuse` builds (undefined: unreadable). Returns the function that releases it.
 */
export function acquireFileLock(path: string, refuse: (holder: LockHolder | undefined) => Error, now: Date = new Date()): () => void {
  const mine: LockHolder = { pid: process.pid, host: hostname(), since: now.toISOString() };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, `${JSON.stringify(mine)}\n`, { flag: 'wx', mode: 0o600 });
      return () => {
        try {
          const held = JSON.parse(readFileSync(path, 'utf8')) as LockHolder;
          if (held.pid === mine.pid && held.host === mine.host && held.since === mine.since) unlinkSync(path);
        } catch {
          // Already gone: nothing to release.
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let held: LockHolder | undefined;
    try {
      held = JSON.parse(readFileSync(path, 'utf8')) as LockHolder;
    } catch {
      held = undefined;
    }
    if (held === undefined || held.host !== mine.host || alive(held.pid)) throw refuse(held);
    // The holder died on this host: take the lock over.
    unlinkSync(path);
  }
  throw refuse(undefined);
}
