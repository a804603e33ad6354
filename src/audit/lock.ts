import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname } from 'node:path';

interface LockFile {
  readonly pid: number;
  readonly host: string;
  readonly since: string;
}

/** Another live process holds the store: two writers would fork the hash chain. */
export class AuditLockedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuditLockedError';
  }
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
 * Takes the store's single-writer lock (a file created exclusively). A lock left by a process that died
 * on this host (kill -9, power loss) is taken over; a live holder, or one on another host, is refused.
 * Returns the function that releases it.
 */
export function acquireLock(path: string, now: Date = new Date()): () => void {
  const mine: LockFile = { pid: process.pid, host: hostname(), since: now.toISOString() };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(path, `${JSON.stringify(mine)}\n`, { flag: 'wx', mode: 0o600 });
      return () => {
        try {
          const held = JSON.parse(readFileSync(path, 'utf8')) as LockFile;
          if (held.pid === mine.pid && held.host === mine.host && held.since === mine.since) unlinkSync(path);
        } catch {
          // Already gone: nothing to release.
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let held: LockFile | undefined;
    try {
      held = JSON.parse(readFileSync(path, 'utf8')) as LockFile;
    } catch {
      held = undefined;
    }
    if (held === undefined) {
      throw new AuditLockedError(`audit lock ${path} exists but cannot be read; if no airlock process uses this directory, remove it`);
    }
    if (held.host !== mine.host || alive(held.pid)) {
      throw new AuditLockedError(
        `audit directory ${dirname(path)} is in use by process ${held.pid} on ${held.host} since ${held.since} (lock ${basename(path)}); one airlock process writes one audit directory: give this one its own --audit-dir DIR`,
      );
    }
    // The holder died on this host: take the lock over.
    unlinkSync(path);
  }
  throw new AuditLockedError(`could not take the audit lock ${path}`);
}
