/**
 * Issue 21 (faults): the audit directory (which holds the approvals file) read-only, and the approvals
 * file alone read-only, while `airlock serve --http` runs. Calls are refused with a fixed text, code and
 * audit id; nothing is half-written; once the files are writable again, calls run without a restart.
 *
 * Read-only for real: as root, mode bits do not stop writes, so the files are made immutable (`chattr +i`,
 * which stops root too, open descriptors included); as another user, the mode bits of the directory and
 * its files stop new files and renames but not writes through descriptors already open, so the test
 * needs root with chattr and says so when it cannot run.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { verifyStore } from '../../src/audit/verify.js';
import { auditIdOf, readAudit, tempDir, textOf } from '../support/airlock.js';
import { connectClient, errorCode, examplePolicy, startFaultServer, type CallResult } from '../support/fault-server.js';

/** Whether files can be made immutable here (root, a file system with the attribute, chattr installed). */
function canMakeImmutable(): boolean {
  if (process.getuid?.() !== 0) return false;
  const probe = join(tempDir('airlock-chattr-'));
  try {
    execFileSync('chattr', ['+i', probe], { stdio: 'ignore' });
    execFileSync('chattr', ['-i', probe], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function immutable(paths: readonly string[], on: boolean): void {
  execFileSync('chattr', [on ? '+i' : '-i', ...paths]);
}

/** The directory and every file in it. */
function dirAndFiles(dir: string): string[] {
  return [dir, ...readdirSync(dir).map((n) => join(dir, n))];
}

function expectRefused(result: CallResult, code: string, text: string): string {
  const id = auditIdOf(result);
  expect(result.isError).toBe(true);
  expect(errorCode(result)).toBe(code);
  expect(textOf(result)).toBe(`${text}\n[code: ${code}; audit id: ${id}]`);
  return id;
}

const select = { connection: 'shop', sql: 'SELECT id, name FROM products WHERE id = 1' };
const write = (id: number): Record<string, unknown> => ({ connection: 'shop', sql: `UPDATE products SET price = price WHERE id = ${id}` });

describe.skipIf(!canMakeImmutable())('airlock serve --http with a read-only audit directory (issue 21; needs root and chattr)', () => {
  it('refuses calls with AUDIT_UNAVAILABLE while the directory is read-only, keeps nothing half-written, and recovers without a restart (faults:store-recovers)', async () => {
    const dir = tempDir();
    const server = await startFaultServer({ dir, policy: examplePolicy(), runtime: { approvals: { waitSeconds: 0 } } });
    const client = await connectClient(server.url);
    const frozen = dirAndFiles(server.auditDir);
    try {
      const before = await client.call('query_sql', select);
      expect(before.structuredContent).toMatchObject({ rowCount: 1 });
      const journal = readFileSync(join(server.auditDir, 'journal.jsonl'), 'utf8');
      immutable(frozen, true);
      let refused: string[];
      try {
        refused = [
          expectRefused(await client.call('query_sql', select), 'AUDIT_UNAVAILABLE', 'The audit log is unavailable, so the call was not run.'),
          expectRefused(await client.call('query_sql', write(2)), 'AUDIT_UNAVAILABLE', 'The audit log is unavailable, so the call was not run.'),
        ];
        // Nothing was written while it was read-only.
        expect(readFileSync(join(server.auditDir, 'journal.jsonl'), 'utf8')).toBe(journal);
      } finally {
        immutable(frozen, false);
      }
      for (const id of refused) expect(server.log()).toContain(`ERROR audit write failed for call ${id}: Error: EPERM`);
      const after = await client.call('query_sql', select);
      expect(after.structuredContent).toMatchObject({ rowCount: 1 });
      const opened = await client.call('query_sql', write(2));
      expect(opened.structuredContent).toMatchObject({ status: 'pending_approval' });
      const records = readAudit(server.auditDir);
      expect(records.filter((r) => r.tool !== 'approval').map((r) => r.id)).toEqual([auditIdOf(before), auditIdOf(after), auditIdOf(opened)]);
      expect(verifyStore(server.auditDir).problems).toEqual([]);
    } finally {
      await client.close().catch(() => undefined);
      await server.stop();
    }
  }, 60_000);

  it('refuses a call that needs approval with APPROVALS_UNAVAILABLE while the approvals file is read-only, runs the others, and opens the request once it is writable', async () => {
    const dir = tempDir();
    const server = await startFaultServer({ dir, policy: examplePolicy(), runtime: { approvals: { waitSeconds: 0 } } });
    const client = await connectClient(server.url);
    const approvals = join(server.auditDir, 'approvals.json');
    try {
      expect((await client.call('query_sql', write(3))).structuredContent).toMatchObject({ status: 'pending_approval' });
      const stored = readFileSync(approvals, 'utf8');
      immutable([approvals], true);
      let refused: string;
      try {
        refused = expectRefused(await client.call('query_sql', write(4)), 'APPROVALS_UNAVAILABLE', 'The approval store is unavailable, so the call was not run; try again shortly.');
        // The file was not touched, and calls that need no approval still run.
        expect(readFileSync(approvals, 'utf8')).toBe(stored);
        expect((await client.call('query_sql', select)).structuredContent).toMatchObject({ rowCount: 1 });
      } finally {
        immutable([approvals], false);
      }
      const record = readAudit(server.auditDir).find((r) => r.id === refused);
      expect(record).toMatchObject({ outcome: 'error', error: { code: 'APPROVALS_UNAVAILABLE' } });
      expect(record?.error?.detail).toMatch(/^approval store: EPERM: operation not permitted/);
      const opened = await client.call('query_sql', write(4));
      expect(opened.structuredContent).toMatchObject({ status: 'pending_approval' });
      expect(verifyStore(server.auditDir).problems).toEqual([]);
    } finally {
      await client.close().catch(() => undefined);
      await server.stop();
    }
  }, 60_000);
});
