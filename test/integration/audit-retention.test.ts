import { generateKeyPairSync } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readRecords } from '../../src/audit/read.js';
import type { AuditRecord } from '../../src/audit/record.js';
import { applyRetention, publicKeyOf, TOMBSTONES_NAME } from '../../src/audit/retention.js';
import { JsonAuditStore } from '../../src/audit/store.js';
import { verifyStore } from '../../src/audit/verify.js';
import { tempDir } from '../support/airlock.js';

function record(id: string, time: string): AuditRecord {
  return {
    id,
    time,
    durationMs: 1,
    sessionId: 's',
    transport: 'http',
    principal: null,
    devIdentity: false,
    tool: 'whoami',
    input: { pad: 'x'.repeat(900) },
    facts: null,
    decision: null,
    downstream: [],
    outcome: 'unauthenticated',
    error: { code: 'UNAUTHENTICATED', message: 'm', detail: 'd' },
    result: null,
    response: { sha256: '0'.repeat(64), bytes: 0, truncated: false },
  };
}

/** Four days of records, several segments a day. */
async function fourDays(): Promise<string> {
  const dir = tempDir();
  let now = new Date('2026-11-01T10:00:00Z');
  const store = await JsonAuditStore.open(dir, { segmentBytes: 4096, flushIntervalMs: 0, now: () => now });
  for (let day = 1; day <= 4; day++) {
    now = new Date(`2026-11-0${day}T10:00:00Z`);
    for (let i = 0; i < 8; i++) {
      await store.append(record(`d${day}-${i}`, now.toISOString()));
      await new Promise((r) => setTimeout(r, 2));
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  await store.close();
  return dir;
}

const key = (): ReturnType<typeof generateKeyPairSync>['privateKey'] => generateKeyPairSync('ed25519').privateKey;

describe('applyRetention', () => {
  it('removes segments older than the retention, and verification still passes through the signed tombstone (audit:tamper-evident)', async () => {
    const dir = await fourDays();
    const signing = key();
    const before = readdirSync(dir).filter((n) => n.startsWith('audit-2')).length;
    const removed = applyRetention(dir, { days: 2, key: signing, now: new Date('2026-11-04T12:00:00Z') });
    expect(removed.length).toBeGreaterThan(0);
    // A day's segment goes only once the whole day is older than the retention: Nov 2 ends after Nov 2 12:00.
    expect(removed.every((n) => n.startsWith('audit-20261101'))).toBe(true);
    expect(readdirSync(dir).filter((n) => n.startsWith('audit-2')).length).toBe(before - removed.length);
    expect(readRecords(dir)[0]?.id).toBe('d2-0');
    const report = verifyStore(dir, { trustedTombstoneKey: publicKeyOf(signing) });
    expect(report.problems).toEqual([]);
    expect(report).toMatchObject({ ok: true, removed: 8, records: 24 });
    // A second run continues the tombstones.
    const again = applyRetention(dir, { days: 1, key: signing, now: new Date('2026-11-05T12:00:00Z') });
    expect(again.every((n) => n.startsWith('audit-20261102') || n.startsWith('audit-20261103'))).toBe(true);
    expect(verifyStore(dir, { trustedTombstoneKey: publicKeyOf(signing) })).toMatchObject({ ok: true, removed: 24 });
  });

  it('reports a tombstone signed by another key, or altered after signing', async () => {
    const dir = await fourDays();
    applyRetention(dir, { days: 2, key: key(), now: new Date('2026-11-04T12:00:00Z') });
    const foreign = verifyStore(dir, { trustedTombstoneKey: publicKeyOf(key()) });
    expect(foreign.problems).toContainEqual(expect.objectContaining({ kind: 'tombstone', message: expect.stringContaining('not by the retention key') as unknown }));
    const path = join(dir, TOMBSTONES_NAME);
    const file = JSON.parse(readFileSync(path, 'utf8')) as { tombstones: { lastSeq: number }[] };
    (file.tombstones[0] as { lastSeq: number }).lastSeq += 1;
    writeFileSync(path, JSON.stringify(file));
    const altered = verifyStore(dir);
    expect(altered.ok).toBe(false);
    expect(altered.problems).toContainEqual(expect.objectContaining({ kind: 'tombstone', message: expect.stringContaining('no valid signature') as unknown }));
  });

  it('never removes the segment being written, and the store continues its chain afterwards', async () => {
    const dir = await fourDays();
    const signing = key();
    const removed = applyRetention(dir, { days: 1, key: signing, now: new Date('2026-12-31T00:00:00Z') });
    const left = readdirSync(dir).filter((n) => n.startsWith('audit-2'));
    expect(left).toHaveLength(1);
    expect(removed).not.toContain(left[0]);
    const store = await JsonAuditStore.open(dir, { now: () => new Date('2026-11-04T11:00:00Z') });
    await store.append(record('after', '2026-11-04T11:00:00Z'));
    await store.close();
    expect(verifyStore(dir, { trustedTombstoneKey: publicKeyOf(signing) })).toMatchObject({ ok: true });
  });
});
