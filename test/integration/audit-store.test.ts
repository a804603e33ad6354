import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../src/audit/record.js';
import { JsonAuditStore } from '../../src/audit/store.js';
import { tempDir } from '../support/airlock.js';

function record(id: string): AuditRecord {
  return {
    id,
    time: '2026-11-29T00:00:00.000Z',
    durationMs: 1,
    sessionId: 's',
    transport: 'stdio',
    principal: null,
    devIdentity: false,
    tool: 'query_sql',
    input: {},
    facts: null,
    decision: null,
    outcome: 'unauthenticated',
    error: { code: 'UNAUTHENTICATED', message: 'm', detail: 'd' },
    result: null,
    response: null,
  };
}

describe('JsonAuditStore (lowdb file)', () => {
  it('writes every record of concurrent appends, durably and in order', async () => {
    const dir = tempDir();
    const store = await JsonAuditStore.open(dir);
    await Promise.all(Array.from({ length: 50 }, (_, i) => store.append(record(`r${i}`))));
    const onDisk = JSON.parse(readFileSync(store.path, 'utf8')) as { format: string; records: AuditRecord[] };
    expect(onDisk.format).toBe('airlock-audit');
    expect(onDisk.records.map((r) => r.id)).toEqual(Array.from({ length: 50 }, (_, i) => `r${i}`));
  });

  it('keeps existing records when reopened', async () => {
    const dir = tempDir();
    const first = await JsonAuditStore.open(dir);
    await first.append(record('a'));
    const second = await JsonAuditStore.open(dir);
    await second.append(record('b'));
    expect(second.records().map((r) => r.id)).toEqual(['a', 'b']);
  });

  it('refuses to open a file that is not an airlock audit file', async () => {
    const dir = tempDir();
    const { writeFileSync } = await import('node:fs');
    writeFileSync(`${dir}/audit.json`, '{"hello": 1}');
    await expect(JsonAuditStore.open(dir)).rejects.toThrow('not an airlock audit file');
  });
});
