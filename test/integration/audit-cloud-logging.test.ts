import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChainedRecord } from '../../src/audit/chain.js';
import { CloudLoggingCopy } from '../../src/audit/cloud-logging.js';
import { readRecords } from '../../src/audit/read.js';
import type { AuditRecord } from '../../src/audit/record.js';
import { JsonAuditStore } from '../../src/audit/store.js';
import { startFakeLogging, type FakeLogging } from '../support/logging-fake.js';
import { tempDir } from '../support/airlock.js';

let fake: FakeLogging;
beforeAll(async () => {
  process.env.METADATA_SERVER_DETECTION = 'none';
  fake = await startFakeLogging();
});
afterAll(async () => {
  await fake.close();
});

function record(id: string, outcome: AuditRecord['outcome']): AuditRecord {
  return {
    id,
    time: '2026-11-29T10:00:00.123Z',
    durationMs: 2,
    sessionId: 'sess-1',
    transport: 'http',
    principal: { issuer: 'https://issuer.test', sub: 'u1', email: 'ana@example.com', groups: ['analysts'], dev: false },
    devIdentity: false,
    tool: 'query_sql',
    input: { connection: 'shop', sql: 'SELECT 1', nested: { list: [1, 'two', null, true] } },
    facts: null,
    decision: null,
    downstream: [],
    outcome,
    error: outcome === 'ok' ? null : { code: 'POLICY_DENIED', message: 'Denied.', detail: 'd' },
    result: null,
    response: { sha256: 'd'.repeat(64), bytes: 3, truncated: false },
  };
}

describe('CloudLoggingCopy (real @google-cloud/logging client, local gRPC server)', () => {
  it('copies every durable record with its chain, severity by outcome, and the record id as insertId', async () => {
    const dir = tempDir();
    const copy = new CloudLoggingCopy({ projectId: 'airlock-test-1', emulator: fake.endpoint, batchMs: 10 });
    const store = await JsonAuditStore.open(dir, { onRecord: (r) => copy.copy(r) });
    await store.append(record('c1', 'ok'));
    await store.append(record('c2', 'denied'));
    await store.close();
    await copy.close();
    const mine = fake.entries.filter((e) => e.insertId === 'c1' || e.insertId === 'c2');
    expect(mine.map((e) => [e.insertId, e.severity, e.logName])).toEqual([
      ['c1', 'INFO', 'projects/airlock-test-1/logs/airlock-audit'],
      ['c2', 'NOTICE', 'projects/airlock-test-1/logs/airlock-audit'],
    ]);
    const stored = readRecords(dir);
    expect(mine[0]?.jsonPayload).toEqual(JSON.parse(JSON.stringify(stored[0])) as ChainedRecord);
    expect(mine[1]?.labels).toEqual({ tool: 'query_sql', outcome: 'denied', session: 'sess-1', principal: 'ana@example.com', seq: '2' });
    expect(mine[0]?.resource).toEqual({ type: 'global', labels: { project_id: 'airlock-test-1' } });
    expect(mine[0]?.timestamp?.seconds).toBe(String((Date.parse('2026-11-29T10:00:00.123Z') - 123) / 1000));
    // The client converts through a float: within a microsecond.
    expect(Math.abs((mine[0]?.timestamp?.nanos ?? 0) - 123_000_000)).toBeLessThan(1000);
  });

  it('keeps records while Cloud Logging is down and delivers them when it is back; the call never waits', async () => {
    const errors: unknown[] = [];
    const copy = new CloudLoggingCopy({ projectId: 'airlock-test-2', emulator: fake.endpoint, batchMs: 10_000, onError: (e) => errors.push(e) });
    const dir = tempDir();
    const store = await JsonAuditStore.open(dir, { onRecord: (r) => copy.copy(r) });
    fake.failing = true;
    await store.append(record('down-1', 'ok'));
    await copy.flush();
    expect(errors).toHaveLength(1);
    expect(fake.entries.some((e) => e.insertId === 'down-1')).toBe(false);
    fake.failing = false;
    await store.append(record('down-2', 'error'));
    await store.close();
    await copy.close();
    const delivered = fake.entries.filter((e) => e.insertId.startsWith('down-'));
    expect(delivered.map((e) => [e.insertId, e.severity])).toEqual([
      ['down-1', 'INFO'],
      ['down-2', 'ERROR'],
    ]);
  });

  it('refuses a non-loopback emulator address', () => {
    expect(() => new CloudLoggingCopy({ projectId: 'airlock-test-3', emulator: 'logging.example.com:443' })).toThrow('must be a loopback host:port');
  });
});
