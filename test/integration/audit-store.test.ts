import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GENESIS, type ChainedRecord } from '../../src/audit/chain.js';
import { nodeJournalIo, type JournalIo } from '../../src/audit/journal.js';
import { AuditLockedError } from '../../src/audit/lock.js';
import { readRecords } from '../../src/audit/read.js';
import type { AuditRecord, StartedEntry } from '../../src/audit/record.js';
import { JsonAuditStore } from '../../src/audit/store.js';
import { verifyStore } from '../../src/audit/verify.js';
import { ROOT, tempDir } from '../support/airlock.js';
import { stopChild } from '../support/child.js';

function started(id: string, padding = 0): StartedEntry {
  return {
    id,
    time: '2026-11-29T00:00:00.000Z',
    sessionId: 's',
    transport: 'stdio',
    principal: { issuer: 'https://issuer.test', sub: 'u1', email: 'ana@example.com', groups: ['analysts'], dev: false },
    devIdentity: false,
    tool: 'query_sql',
    input: { connection: 'shop', sql: `SELECT 1 -- ${'x'.repeat(padding)}` },
    facts: null,
    decision: { effect: 'allow', ruleIds: ['read'], reason: 'allowed by read', policyVersion: 'sha256:test' },
  };
}

function record(id: string, padding = 0): AuditRecord {
  return {
    ...started(id, padding),
    durationMs: 1,
    downstream: [],
    outcome: 'ok',
    error: null,
    result: { rowCount: 1, truncated: false, maskedColumns: [], findings: {} },
    response: { sha256: '0'.repeat(64), bytes: 2, truncated: false, body: null },
  };
}

const fixedDay = (iso: string) => () => new Date(iso);
const segmentsOf = (dir: string): string[] => readdirSync(dir).filter((n) => /^audit-\d{8}-\d{3}\.json$/.test(n)).sort();
const ids = (records: readonly AuditRecord[]): string[] => records.map((r) => r.id);

/** Rewrites one segment file through `edit` (the tamperer's view: plain JSON). */
function tamper(dir: string, name: string, edit: (file: { records: ChainedRecord[] } & Record<string, unknown>) => void): void {
  const path = join(dir, name);
  const file = JSON.parse(readFileSync(path, 'utf8')) as { records: ChainedRecord[] } & Record<string, unknown>;
  edit(file);
  writeFileSync(path, `${JSON.stringify(file)}\n`);
}

async function filledStore(count: number, segmentBytes = 4096): Promise<string> {
  const dir = tempDir();
  const store = await JsonAuditStore.open(dir, { segmentBytes, now: fixedDay('2026-11-29T10:00:00Z') });
  for (let i = 0; i < count; i++) await store.append(record(`r${i}`, 600));
  await store.close();
  return dir;
}

describe('JsonAuditStore (journal + lowdb segments)', () => {
  it('journals concurrent appends in order, chains them, and moves them to a segment', async () => {
    const dir = tempDir();
    const store = await JsonAuditStore.open(dir, { now: fixedDay('2026-11-29T10:00:00Z'), flushIntervalMs: 10_000 });
    await Promise.all(Array.from({ length: 50 }, (_, i) => store.append(record(`r${i}`))));
    // Acknowledged = in the journal, before any segment holds it.
    expect(ids(readRecords(dir))).toEqual(Array.from({ length: 50 }, (_, i) => `r${i}`));
    await store.close();
    const onDisk = JSON.parse(readFileSync(join(dir, 'audit-20261129-001.json'), 'utf8')) as { format: string; version: number; records: ChainedRecord[] };
    expect(onDisk.format).toBe('airlock-audit');
    expect(onDisk.version).toBe(2);
    expect(onDisk.records.map((r) => r.chain.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(onDisk.records[0]?.chain.prev).toBe(GENESIS);
    expect(readFileSync(join(dir, 'journal.jsonl'), 'utf8')).toBe('');
    expect(verifyStore(dir)).toMatchObject({ ok: true, records: 50, segments: 1, open: 0 });
  });

  it('seals segments by size, each head naming the SHA-256 of the one before', async () => {
    const dir = await filledStore(12);
    const files = segmentsOf(dir);
    expect(files.length).toBeGreaterThanOrEqual(4);
    for (const name of files) expect(readFileSync(join(dir, name)).length).toBeLessThanOrEqual(4096 + 1024);
    const second = JSON.parse(readFileSync(join(dir, files[1] as string), 'utf8')) as { head: { previous: { segment: string; records: number } } };
    expect(second.head.previous.segment).toBe(files[0]);
    expect(ids(readRecords(dir))).toEqual(Array.from({ length: 12 }, (_, i) => `r${i}`));
    expect(verifyStore(dir).ok).toBe(true);
  });

  it('starts a new segment on a new day and keeps the chain across it', async () => {
    const dir = tempDir();
    let now = new Date('2026-11-29T23:59:59Z');
    const store = await JsonAuditStore.open(dir, { now: () => now, flushIntervalMs: 0 });
    await store.append(record('a'));
    await new Promise((r) => setTimeout(r, 30));
    now = new Date('2026-11-30T00:00:01Z');
    await store.append(record('b'));
    await store.close();
    expect(segmentsOf(dir)).toEqual(['audit-20261129-001.json', 'audit-20261130-001.json']);
    expect(verifyStore(dir)).toMatchObject({ ok: true, records: 2, segments: 2 });
  });

  it('continues the chain and the latest segment when reopened', async () => {
    const dir = tempDir();
    const first = await JsonAuditStore.open(dir, { now: fixedDay('2026-11-29T10:00:00Z') });
    await first.append(record('a'));
    await first.close();
    const second = await JsonAuditStore.open(dir, { now: fixedDay('2026-11-29T11:00:00Z') });
    await second.append(record('b'));
    await second.close();
    expect(ids(readRecords(dir))).toEqual(['a', 'b']);
    expect(segmentsOf(dir)).toEqual(['audit-20261129-001.json']);
    expect(verifyStore(dir).ok).toBe(true);
  });

  it('refuses a second writer while the first is alive, and takes over the lock of a dead one (audit:single-writer)', async () => {
    const dir = tempDir();
    const first = await JsonAuditStore.open(dir);
    await expect(JsonAuditStore.open(dir)).rejects.toThrow(AuditLockedError);
    await expect(JsonAuditStore.open(dir)).rejects.toThrow(/in use by process \d+/);
    await first.close();
    // A lock left by a process that no longer exists (pid far beyond pid_max).
    writeFileSync(join(dir, 'audit.lock'), JSON.stringify({ pid: 2 ** 30, host: (await import('node:os')).hostname(), since: '2026-01-01T00:00:00Z' }));
    const third = await JsonAuditStore.open(dir);
    await third.append(record('x'));
    await third.close();
    expect(existsSync(join(dir, 'audit.lock'))).toBe(false);
  });

  it('turns a call that started and never finished into an interrupted record when reopened (audit:started-before-execution)', async () => {
    const dir = tempDir();
    const store = await JsonAuditStore.open(dir);
    await store.append(record('done'));
    await store.start(started('running'));
    // The process dies here: no close; its lock stays behind, held by a pid that no longer runs.
    writeFileSync(join(dir, 'audit.lock'), JSON.stringify({ pid: 2 ** 30, host: (await import('node:os')).hostname(), since: 'x' }));
    const reopened = await JsonAuditStore.open(dir);
    const records = await reopened.records();
    expect(ids(records)).toEqual(['done', 'running']);
    expect(records[1]).toMatchObject({ outcome: 'interrupted', error: { code: 'INTERRUPTED' }, input: started('running').input, decision: { ruleIds: ['read'] } });
    await reopened.close();
    expect(verifyStore(dir)).toMatchObject({ ok: true, records: 2, open: 0 });
  });

  it('drops a journal line cut short by a crash and keeps every whole one', async () => {
    const dir = tempDir();
    const store = await JsonAuditStore.open(dir, { flushIntervalMs: 60_000 });
    await store.append(record('a'));
    await store.append(record('b'));
    writeFileSync(join(dir, 'journal.jsonl'), `${readFileSync(join(dir, 'journal.jsonl'), 'utf8')}{"end":{"id":"half`);
    writeFileSync(join(dir, 'audit.lock'), JSON.stringify({ pid: 2 ** 30, host: (await import('node:os')).hostname(), since: 'x' }));
    const reopened = await JsonAuditStore.open(dir);
    await reopened.append(record('c'));
    await reopened.close();
    expect(ids(readRecords(dir))).toEqual(['a', 'b', 'c']);
    expect(verifyStore(dir).ok).toBe(true);
  });

  it('refuses the call and keeps nothing half-written when the disk is full, then recovers', async () => {
    const dir = tempDir();
    let full = false;
    let shortWrites = 0;
    const io: JournalIo = {
      ...nodeJournalIo,
      writeSync(fd, buffer, offset, length) {
        if (!full) return nodeJournalIo.writeSync(fd, buffer, offset, length);
        // A full disk: part of the line gets written, then ENOSPC.
        if (shortWrites++ === 0) return nodeJournalIo.writeSync(fd, buffer, offset, Math.min(length, 40));
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      },
    };
    const store = await JsonAuditStore.open(dir, { io, flushIntervalMs: 60_000 });
    await store.append(record('before'));
    full = true;
    await expect(store.start(started('refused'))).rejects.toThrow('ENOSPC');
    await expect(store.append(record('refused-too'))).rejects.toThrow('ENOSPC');
    for (const line of readFileSync(join(dir, 'journal.jsonl'), 'utf8').split('\n').filter(Boolean)) expect(() => JSON.parse(line) as unknown).not.toThrow();
    full = false;
    await store.append(record('after'));
    await store.close();
    expect(ids(readRecords(dir))).toEqual(['before', 'after']);
    expect(verifyStore(dir).ok).toBe(true);
  });

  it('compacts the journal after a write fails for room (EFBIG), so appends succeed again without a reopen (issue 21)', async () => {
    const dir = tempDir();
    // A file-size limit as the kernel applies it: a write that would grow the journal past it fails whole.
    const limit = 4096;
    const io: JournalIo = {
      ...nodeJournalIo,
      writeSync(fd, buffer, offset, length) {
        if (nodeJournalIo.fstatSync(fd).size + length > limit) throw Object.assign(new Error('EFBIG: file too large, write'), { code: 'EFBIG' });
        return nodeJournalIo.writeSync(fd, buffer, offset, length);
      },
    };
    // The journal is compacted at 4 MiB by default: far past the limit, so only the fault can trigger it.
    const store = await JsonAuditStore.open(dir, { io, flushIntervalMs: 20 });
    const acknowledged: string[] = [];
    let refused: unknown;
    for (let i = 0; refused === undefined && i < 100; i++) {
      await store.append(record(`r${i}`)).then(
        () => acknowledged.push(`r${i}`),
        (error: unknown) => (refused = error),
      );
    }
    expect((refused as NodeJS.ErrnoException | undefined)?.code).toBe('EFBIG');
    let recovered = false;
    for (let i = 0; !recovered && i < 100; i++) {
      await new Promise((r) => setTimeout(r, 20));
      recovered = await store.append(record(`after${i}`)).then(
        () => (acknowledged.push(`after${i}`), true),
        () => false,
      );
    }
    expect(recovered).toBe(true);
    await store.close();
    expect(ids(readRecords(dir))).toEqual(acknowledged);
    expect(verifyStore(dir).ok).toBe(true);
  });

  it('refuses to open a directory holding a file that is not a version-2 airlock segment', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'audit-20261129-001.json'), '{"hello": 1}');
    await expect(JsonAuditStore.open(dir)).rejects.toThrow('audit-20261129-001.json: not an airlock audit file');
    const old = tempDir();
    writeFileSync(join(old, 'audit-20261129-001.json'), '{"format":"airlock-audit","version":1,"records":[]}');
    await expect(JsonAuditStore.open(old)).rejects.toThrow('audit format version 1 is not supported');
  });

  it('leaves every segment valid JSON and keeps every acknowledged record when killed with SIGKILL mid-write (audit:crash-safe)', async () => {
    const dir = tempDir();
    let child: ChildProcess | undefined;
    let out = '';
    try {
      child = spawn(process.execPath, [join(ROOT, 'test', 'support', 'audit-writer.mjs'), dir, '8192'], { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] });
      child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
      const end = Date.now() + 20_000;
      while (out.split('\n').length <= 3000) {
        if (child.exitCode !== null || Date.now() > end) throw new Error(`the writer stopped or stalled after ${out.split('\n').length} lines`);
        await new Promise((r) => setTimeout(r, 5));
      }
    } finally {
      // The crash under test: no chance to finish the write in flight.
      if (child !== undefined) await stopChild(child, 'SIGKILL');
    }
    const acknowledged = out.split('\n').filter((l) => /^k\d+$/.test(l));
    for (const name of segmentsOf(dir)) expect(() => JSON.parse(readFileSync(join(dir, name), 'utf8')) as unknown, name).not.toThrow();
    expect(segmentsOf(dir).length).toBeGreaterThan(1);
    const store = await JsonAuditStore.open(dir);
    await store.close();
    const report = verifyStore(dir);
    expect(report.problems).toEqual([]);
    const byId = new Map(readRecords(dir).map((r) => [r.id, r]));
    for (const id of acknowledged) expect(byId.get(id)?.outcome, id).toBe('ok');
    // Calls that had started when the kill came are on record as interrupted, not lost.
    expect([...byId.values()].some((r) => r.outcome === 'interrupted')).toBe(true);
  });
});

describe('verifyStore', () => {
  it('passes an untouched store and reports its head hash', async () => {
    const dir = await filledStore(10);
    const report = verifyStore(dir);
    expect(report).toMatchObject({ ok: true, records: 10, problems: [] });
    expect(report.head).toBe(readRecords(dir).at(-1)?.chain.hash);
  });

  it('names the record when one was edited (audit:tamper-evident)', async () => {
    const dir = await filledStore(10);
    const name = segmentsOf(dir)[1] as string;
    tamper(dir, name, (f) => {
      (f.records[0] as { outcome: string }).outcome = 'denied';
    });
    const report = verifyStore(dir);
    expect(report.ok).toBe(false);
    expect(report.problems).toContainEqual(expect.objectContaining({ file: name, index: 0, kind: 'edited' }));
    expect(report.problems).toContainEqual(expect.objectContaining({ file: name, kind: 'segment-replaced' }));
  });

  it('names the gap when a record was deleted', async () => {
    const dir = await filledStore(10);
    const last = segmentsOf(dir).at(-1) as string;
    let removed = 0;
    tamper(dir, last, (f) => {
      removed = f.records.splice(0, 1)[0]?.chain.seq ?? 0;
    });
    const report = verifyStore(dir);
    expect(report.problems).toContainEqual(expect.objectContaining({ file: last, index: 0, kind: 'deleted', seq: removed + 1 }));
    expect(report.problems[0]?.message).toContain(`record ${removed} is missing`);
  });

  it('names the move when records were reordered', async () => {
    const dir = await filledStore(10);
    const last = segmentsOf(dir).at(-1) as string;
    tamper(dir, last, (f) => {
      f.records.reverse();
    });
    expect(verifyStore(dir).problems.map((p) => p.kind)).toContain('reordered');
  });

  it('names a record that was inserted, even with a recomputed hash', async () => {
    const dir = await filledStore(10);
    const last = segmentsOf(dir).at(-1) as string;
    const { link } = await import('../../src/audit/chain.js');
    tamper(dir, last, (f) => {
      const before = f.records[0] as ChainedRecord;
      const fake = link(record('forged'), before.chain.seq + 1, 'f'.repeat(64));
      f.records.splice(1, 0, fake);
    });
    const report = verifyStore(dir);
    expect(report.problems).toContainEqual(expect.objectContaining({ file: last, index: 1, kind: 'inserted', recordId: 'forged' }));
  });

  it('names a missing segment', async () => {
    const dir = await filledStore(12);
    const files = segmentsOf(dir);
    const { rmSync } = await import('node:fs');
    rmSync(join(dir, files[1] as string));
    const report = verifyStore(dir);
    expect(report.problems).toContainEqual(expect.objectContaining({ file: files[2], kind: 'segment-missing' }));
    expect(report.problems.map((p) => p.kind)).toContain('deleted');
  });
});
