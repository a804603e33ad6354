/**
 * Issue 21 (faults): no room for the audit journal while `airlock serve --http` runs. A tiny tmpfs needs
 * root to mount; instead the server runs under a file-size limit (`ulimit -f`, RLIMIT_FSIZE), so a write
 * that would grow a file past it fails for real in the kernel (EFBIG, the same path as ENOSPC in airlock: a
 * short write, then an error). Calls that cannot be journalled are refused with AUDIT_UNAVAILABLE and their
 * audit id; the journal never keeps half a line; once its records are in segments the journal is compacted
 * and calls run again without a restart. What this does not cover: a whole file system that is full (every
 * file at once, segments and the approvals file included) was not run here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { verifyStore } from '../../src/audit/verify.js';
import { auditIdOf, readAudit, tempDir, textOf } from '../support/airlock.js';
import { connectClient, errorCode, examplePolicy, startFaultServer, type CallResult } from '../support/fault-server.js';
import { until } from '../support/served.js';

/** 48 KiB, in the 512-byte blocks of POSIX `ulimit -f`; segments are sealed at 16 KiB, well under it. */
const LIMIT_BLOCKS = 96;

describe('airlock serve --http when the audit journal cannot grow (issue 21)', () => {
  it('refuses calls with AUDIT_UNAVAILABLE, keeps whole lines only, and runs calls again once the journal is compacted (faults:store-recovers)', async () => {
    const dir = tempDir();
    const server = await startFaultServer({ dir, policy: examplePolicy(), shellPrefix: `ulimit -f ${LIMIT_BLOCKS}`, args: ['--audit-segment-bytes', '16384'] });
    const client = await connectClient(server.url);
    const answers: CallResult[] = [];
    const call = async (): Promise<CallResult> => {
      const result = await client.call('query_sql', { connection: 'shop', sql: `SELECT id, name FROM products WHERE id = ${(answers.length % 6) + 1}` });
      answers.push(result);
      return result;
    };
    try {
      // Calls in a tight loop fill the journal faster than records move to segments (once a second).
      let refused: CallResult | undefined;
      for (let i = 0; i < 2000 && refused === undefined; i++) {
        const result = await call();
        if (result.isError === true) refused = result;
      }
      expect(refused).toBeDefined();
      const id = auditIdOf(refused);
      expect(errorCode(refused!)).toBe('AUDIT_UNAVAILABLE');
      expect(textOf(refused)).toBe(`The audit log is unavailable, so the call was not run.\n[code: AUDIT_UNAVAILABLE; audit id: ${id}]`);
      expect(server.log()).toContain(`ERROR audit write failed for call ${id}: Error: EFBIG: file too large`);
      for (const line of readFileSync(join(server.auditDir, 'journal.jsonl'), 'utf8').split('\n').filter(Boolean)) expect(() => JSON.parse(line) as unknown).not.toThrow();
      // Recovery without a restart: the journal is compacted once its records are in segments.
      await until(async () => (await call()).isError === undefined, 'a call to run again', 20_000);
      const records = new Map(readAudit(server.auditDir).map((r) => [r.id, r]));
      for (const a of answers) {
        if (a.isError === true) expect(records.has(auditIdOf(a))).toBe(false);
        else expect(records.get(auditIdOf(a))?.outcome).toBe('ok');
      }
      expect(verifyStore(server.auditDir).problems).toEqual([]);
    } finally {
      await client.close().catch(() => undefined);
      await server.stop();
    }
  }, 120_000);
});
