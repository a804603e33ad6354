import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ChainedRecord } from '../../src/audit/chain.js';
import { readRecords } from '../../src/audit/read.js';
import { listSegmentsSync } from '../../src/audit/segments.js';
import { JsonAuditStore } from '../../src/audit/store.js';
import { verifyStore } from '../../src/audit/verify.js';
import { tempDir } from '../support/airlock.js';
import { sampleRecord as finished, sampleStarted as started } from '../support/audit-records.js';

const DAY = () => new Date('2026-12-07T10:00:00Z');
const segmentIds = (dir: string, name: string): string[] =>
  (JSON.parse(readFileSync(join(dir, name), 'utf8')) as { records: ChainedRecord[] }).records.map((r) => r.id);

describe('JsonAuditStore.flush', () => {
  it('moves every finished record to its segment at once, and leaves a running call in the journal (issue 19)', async () => {
    const dir = tempDir();
    const store = await JsonAuditStore.open(dir, { now: DAY, flushIntervalMs: 3_600_000 });
    try {
      await store.start(started('a'));
      await store.append(finished('a'));
      await store.start(started('running'));
      await store.start(started('b'));
      await store.append(finished('b'));
      // Before: durable in the journal only (the timer is an hour away).
      expect(readdirSync(dir).filter((n) => n.endsWith('.json'))).toEqual([]);
      await store.flush();
      expect(listSegmentsSync(dir)).toEqual(['audit-20261207-001.json']);
      expect(segmentIds(dir, 'audit-20261207-001.json')).toEqual(['a', 'b']);
      expect(verifyStore(dir)).toMatchObject({ ok: true, records: 2, segments: 1, open: 1 });
      // The running call's outcome goes to the same segment on the next move.
      await store.append(finished('running'));
      await store.flush();
      expect(segmentIds(dir, 'audit-20261207-001.json')).toEqual(['a', 'b', 'running']);
    } finally {
      await store.close();
    }
    expect(readRecords(dir).map((r) => r.chain.seq)).toEqual([1, 2, 3]);
    expect(verifyStore(dir)).toMatchObject({ ok: true, records: 3, open: 0 });
  });

  it('rejects once the store is closed, naming the directory (issue 19)', async () => {
    const dir = tempDir();
    const store = await JsonAuditStore.open(dir, { now: DAY });
    await store.close();
    await expect(store.flush()).rejects.toThrow(`audit store ${dir} is closed`);
  });
});

describe('JsonAuditStore segments under steady load', () => {
  it('keeps filling the open segment when records arrive while it is being written (issue 19)', async () => {
    const dir = tempDir();
    const store = await JsonAuditStore.open(dir, { now: DAY, flushIntervalMs: 3_600_000 });
    try {
      await store.append(finished('a'));
      // The move of "a" is writing the segment file when "b" is journalled.
      const moving = store.flush();
      await store.append(finished('b'));
      await moving;
      await store.append(finished('c'));
      const again = store.flush();
      await store.append(finished('d'));
      await again;
      await store.flush();
      // One segment, far from full: no record sealed it.
      expect(listSegmentsSync(dir)).toEqual(['audit-20261207-001.json']);
      expect(segmentIds(dir, 'audit-20261207-001.json')).toEqual(['a', 'b', 'c', 'd']);
    } finally {
      await store.close();
    }
    expect(verifyStore(dir)).toMatchObject({ ok: true, records: 4, segments: 1, open: 0 });
  });

  it('seals a segment only when the next record does not fit, with the background move running all along (issue 19)', async () => {
    const dir = tempDir();
    const segmentBytes = 8 * 1024;
    // The background move runs as soon as a record is journalled: it is always writing while the next ones arrive.
    const store = await JsonAuditStore.open(dir, { now: DAY, segmentBytes, flushIntervalMs: 0 });
    const count = 120;
    try {
      for (let i = 0; i < count; i++) {
        await store.append(finished(`r${i}`));
        if (i % 3 === 0) await new Promise((r) => setImmediate(r));
      }
    } finally {
      await store.close();
    }
    const names = listSegmentsSync(dir);
    const sizes = names.map((n) => readFileSync(join(dir, n)).length);
    const recordBytes = Math.max(...names.map((n) => readFileSync(join(dir, n), 'utf8').split('\n').filter((l) => l.startsWith('{"chain"')).map((l) => l.length + 2)).flat());
    // Every sealed segment is full: the next record would have passed the size.
    for (const size of sizes.slice(0, -1)) expect(size + recordBytes).toBeGreaterThan(segmentBytes);
    const perSegment = Math.floor(segmentBytes / recordBytes);
    expect(names.length).toBeLessThanOrEqual(Math.ceil(count / perSegment) + 1);
    expect(readRecords(dir).map((r) => r.id)).toEqual(Array.from({ length: count }, (_, i) => `r${i}`));
    expect(verifyStore(dir)).toMatchObject({ ok: true, records: count, segments: names.length, problems: [] });
  });
});

describe('JsonAuditStore with more than 999 segments in a day', () => {
  it('orders segment 1000 after 999, verifies, and continues from the last one when reopened (issue 19)', async () => {
    const dir = tempDir();
    // A record here is over half of 1 KiB: each seals its own segment, so a thousand appends give the numbering a 1M store reaches in a day.
    const first = await JsonAuditStore.open(dir, { now: DAY, segmentBytes: 1024, flushIntervalMs: 3_600_000 });
    try {
      for (let i = 1; i <= 1001; i++) await first.append(finished(`r${i}`));
      await first.flush();
    } finally {
      await first.close();
    }
    const names = listSegmentsSync(dir);
    expect(names).toHaveLength(1001);
    expect(names.slice(997)).toEqual(['audit-20261207-998.json', 'audit-20261207-999.json', 'audit-20261207-1000.json', 'audit-20261207-1001.json']);
    expect(segmentIds(dir, 'audit-20261207-1000.json')).toEqual(['r1000']);
    const second = await JsonAuditStore.open(dir, { now: DAY, segmentBytes: 1024, flushIntervalMs: 3_600_000 });
    try {
      await second.append(finished('after'));
      await second.flush();
    } finally {
      await second.close();
    }
    expect(listSegmentsSync(dir).at(-1)).toBe('audit-20261207-1002.json');
    expect(segmentIds(dir, 'audit-20261207-1002.json')).toEqual(['after']);
    const report = verifyStore(dir);
    expect(report).toMatchObject({ ok: true, records: 1002, segments: 1002, problems: [] });
  });
});
