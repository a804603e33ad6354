import { stat } from 'node:fs/promises';

/**
 * Checks that `path` names a regular file the command can read, before any reading starts: a folder or
 * a missing file is the caller's mistake and must be reported with its path (Node's read errors on a
 * folder carry none), never as a failure of the work the command does with the content.
 */
export async function checkInputFile(path: string): Promise<void> {
  const info = await stat(path);
  if (info.isDirectory()) {
    throw Object.assign(new Error(`EISDIR: illegal operation on a directory, open '${path}'`), { code: 'EISDIR', syscall: 'open', path });
  }
}
