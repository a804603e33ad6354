import { basename, dirname } from 'node:path';
import { acquireFileLock } from '../file-lock.js';

/** Another live process holds the store: two writers would fork the hash chain. */
export class AuditLockedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuditLockedError';
  }
}

/**
 * Takes the store's single-writer lock (see `acquireFileLock`). Returns the function that releases it.
 */
export function acquireLock(path: string, now: Date = new Date()): () => void {
  return acquireFileLock(
    path,
    (held) =>
      new AuditLockedError(
        held === undefined
          ? `audit lock ${path} exists but cannot be read; if no airlock process uses this directory, remove it`
          : `audit directory ${dirname(path)} is in use by process ${held.pid} on ${held.host} since ${held.since} (lock ${basename(path)}); one airlock process writes one audit directory: give this one its own --audit-dir DIR`,
      ),
    now,
  );
}
