import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src/audit/record.js';
import { JsonAuditStore } from '../../src/audit/store.js';
import { tempDir } from '../support/airlock.js';

function record(id: string, padding = 0): AuditRecord {
  return {
    id,
    time: '2026-11-29T00:00:00.000Z',
    durationMs: 1,
    sessionId: 's',
    transport: 'stdio',
    principal: null,
    devIdentity: false,
    tool: 'query_sql',
    input: { sql: 'x'.repeat(padding) },
    facts: null,
    decision: null,
    downstream: [],
    outcome: 'unauthenticated',
    error: { code: 'UNAUTHENTICATED', message: 'm', detail: 'd' },
    result: null,
    response: { sha256: '0'.repeat(64), bytes: 2, truncated: false, body: null },
  };
}

const fixedDay = (iso: string) => () => new Date(iso);

describe('JsonAuditStore (lowdb segments)', () => {
  it('writes every record of concurrent appends, durably and in order', async () => {
    const dir = tempDir();
    const store = await JsonAuditStore.open(dir, { now: fixedDay('2026-11-29T10:00:00Z') });
    await Promise.all(Array.from({ length: 50 }, (_, i) => store.append(record(`r${i}`))));
    const onDisk = JSON.parse(readFileSync(join(dir, 'audit-20261129-001.json'), 'utf8')) as { format: string; records: AuditRecord[] };
    expect(onDisk.format).toBe('airlock-audit');
    expect(onDisk.records.map((r) => r.id)).toEqual(Array.from({ length: 50 }, (_, i) => `r${i}`));
  });

  it('rotates to a new segment by size, keeping every record in order', async () => {
    const dir = tempDir();
    const store = await JsonAuditStore.open(dir, { segmentBytes: 4096, now: fixedDay('2026-11-29T10:00:00Z') });
    for (let i = 0; i < 10; i++) await store.append(record(`r${i}`, 1500));
    const files = readdirSync(dir).filter((n) => n.endsWith('.json')).sort();
    expect(files.length).toBeGreaterThanOrEqual(4);
    expect(files[0]).toBe('audit-20261129-001.json');
    for (const name of files) expect(readFileSync(join(dir, name)).length).toBeLessThanOrEqual(4096 + 2048);
    expect((await store.records()).map((r) => r.id)).toEqual(Array.from({ length: 10 }, (_, i) => `r${i}`));
  });

  it('starts a new segment on a new day', async () => {
    const dir = tempDir();
    let now = new Date('2026-11-29T23:59:59Z');
    const store = await JsonAuditStore.open(dir, { now: () => now });
    await store.append(record('a'));
    now = new Date('2026-11-30T00:00:01Z');
    await store.append(record('b'));
    expect(readdirSync(dir).filter((n) => n.endsWith('.json')).sort()).toEqual(['audit-20261129-001.json', 'audit-20261130-001.json']);
  });

  it('continues the latest segment when reopened', async () => {
    const dir = tempDir();
    const first = await JsonAuditStore.open(dir, { now: fixedDay('2026-11-29T10:00:00Z') });
    await first.append(record('a'));
    const second = await JsonAuditStore.open(dir, { now: fixedDay('2026-11-29T11:00:00Z') });
    await second.append(record('b'));
    expect((await second.records()).map((r) => r.id)).toEqual(['a', 'b']);
    expect(readdirSync(dir).filter((n) => n.endsWith('.json'))).toEqual(['audit-20261129-001.json']);
  });

  it('refuses to open a segment that is not an airlock audit file', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'audit-20261129-001.json'), '{"hello": 1}');
    await expect(JsonAuditStore.open(dir)).rejects.toThrow('not an airlock audit file');
  });
});
