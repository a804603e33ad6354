import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { canonicalJsonWith } from '../../src/audit/canonical.js';
import { link, recordHash, type ChainedRecord } from '../../src/audit/chain.js';
import { readRecords } from '../../src/audit/read.js';
import type { AuditRecord } from '../../src/audit/record.js';
import { JsonAuditStore } from '../../src/audit/store.js';
import { verifyStore } from '../../src/audit/verify.js';
import { tempDir } from '../support/airlock.js';

/** A record whose keys are written in no sorted order, with nested objects, arrays, numbers and non-ASCII text. */
function record(id: string, extra: Record<string, unknown> = {}): AuditRecord {
  return {
    id,
    time: '2026-12-06T10:00:00.000Z',
    sessionId: 's',
    transport: 'stdio',
    principal: { sub: 'u1', issuer: 'https://issuer.test', email: 'ana@example.com', groups: ['analysts'], dev: false },
    devIdentity: false,
    tool: 'query_sql',
    input: { sql: 'SELECT nome FROM clientes -- ünïcödé ✓ "quoted"', connection: 'shop', params: [1, 2.5, -0, 1e21], ...extra },
    facts: null,
    decision: { ruleIds: ['read'], effect: 'allow', reason: 'allowed by read', policyVersion: 'sha256:test' },
    durationMs: 1,
    downstream: [],
    outcome: 'ok',
    error: null,
    result: { rowCount: 1, truncated: false, maskedColumns: [], findings: {} },
    response: { sha256: '0'.repeat(64), bytes: 2, truncated: false, body: null },
  };
}

const segmentsOf = (dir: string): string[] => readdirSync(dir).filter((n) => /^audit-\d{8}-\d{3}\.json$/.test(n)).sort();

async function filledStore(count: number, extra: (i: number) => Record<string, unknown> = () => ({})): Promise<string> {
  const dir = tempDir();
  const store = await JsonAuditStore.open(dir, { segmentBytes: 4096, now: () => new Date('2026-12-06T10:00:00Z') });
  try {
    for (let i = 0; i < count; i++) await store.append(record(`r${i}`, extra(i)));
  } finally {
    await store.close();
  }
  return dir;
}

/** Rewrites one record line of a segment in place, keeping the file's layout (the tamperer who edits text). */
function editLine(dir: string, name: string, index: number, edit: (line: string) => string): void {
  const path = join(dir, name);
  const lines = readFileSync(path, 'utf8').split('\n');
  const at = index + 1;
  const line = lines[at] as string;
  const comma = line.endsWith(',');
  lines[at] = `${edit(comma ? line.slice(0, -1) : line)}${comma ? ',' : ''}`;
  writeFileSync(path, lines.join('\n'));
}

const lineOf = (dir: string, name: string, index: number): string => (readFileSync(join(dir, name), 'utf8').split('\n')[index + 1] as string).replace(/,$/, '');

describe('stored record lines (issue 19)', () => {
  it('stores each record as the canonical text it was hashed over, with its hash first in its chain', async () => {
    const dir = await filledStore(12);
    const records = readRecords(dir);
    expect(records).toHaveLength(12);
    const name = segmentsOf(dir)[0] as string;
    const first = records[0] as ChainedRecord;
    const line = lineOf(dir, name, 0);
    const { chain, ...rest } = first;
    expect(line.startsWith(`{"chain":{"hash":"${chain.hash}","prev":"${chain.prev}","seq":${chain.seq}},`)).toBe(true);
    expect(line.replace(`"hash":"${chain.hash}",`, '')).toBe(canonicalJsonWith(rest, 'chain', { seq: chain.seq, prev: chain.prev }));
    // What JSON keeps (-0 is 0 in JSON, as before).
    expect(JSON.parse(line)).toEqual(JSON.parse(JSON.stringify({ ...record('r0'), chain })));
    expect(recordHash(rest, chain.seq, chain.prev)).toBe(chain.hash);
    expect(verifyStore(dir)).toMatchObject({ ok: true, records: 12, problems: [] });
  });

  it('verifies and continues a store written in the earlier layout (keys in insertion order), keeping its bytes (issue 19)', async () => {
    const dir = tempDir();
    // The earlier store wrote JSON.stringify of each chained record.
    const old = [link(record('o0'), 1, '0'.repeat(64))];
    old.push(link(record('o1'), 2, (old[0] as ChainedRecord).chain.hash));
    const text = `{"format":"airlock-audit","version":2,"head":{"firstSeq":1,"previous":null},"records":[\n${old.map((r) => JSON.stringify(r)).join(',\n')}\n]}\n`;
    const name = 'audit-20261206-001.json';
    writeFileSync(join(dir, name), text);
    expect(verifyStore(dir)).toMatchObject({ ok: true, records: 2, problems: [] });
    const store = await JsonAuditStore.open(dir, { segmentBytes: 64 * 1024, now: () => new Date('2026-12-06T11:00:00Z') });
    try {
      await store.append(record('n2'));
    } finally {
      await store.close();
    }
    const after = readFileSync(join(dir, name), 'utf8').split('\n');
    expect(after.slice(1, 3)).toEqual([`${JSON.stringify(old[0])},`, `${JSON.stringify(old[1])},`]);
    expect(after[3]?.startsWith('{"chain":{"hash":"')).toBe(true);
    expect(verifyStore(dir)).toMatchObject({ ok: true, records: 3, problems: [] });
    expect(readRecords(dir).map((r) => r.id)).toEqual(['o0', 'o1', 'n2']);
  });

  it('still passes a segment someone re-indented (read whole), and one whose keys were reordered', async () => {
    const dir = await filledStore(3);
    const name = segmentsOf(dir).at(-1) as string;
    const path = join(dir, name);
    writeFileSync(path, JSON.stringify(JSON.parse(readFileSync(path, 'utf8')), null, 2));
    expect(verifyStore(dir)).toMatchObject({ ok: true, records: 3, problems: [] });
    const dir2 = await filledStore(3);
    const name2 = segmentsOf(dir2).at(-1) as string;
    editLine(dir2, name2, 1, (line) => {
      const { chain, ...rest } = JSON.parse(line) as ChainedRecord;
      return JSON.stringify({ ...rest, chain });
    });
    expect(verifyStore(dir2)).toMatchObject({ ok: true, records: 3, problems: [] });
  });
});

describe('verifyStore on lines in the stored layout (issue 19)', () => {
  const edited = (name: string, index: number, id: string, seq: number): unknown =>
    expect.objectContaining({ file: name, index, recordId: id, seq, kind: 'edited', message: `${name} record ${index} (id ${id}, seq ${seq}) was changed after it was written: its content does not match its hash` });

  it('names a record whose value was edited in the text (audit:tamper-evident)', async () => {
    const dir = await filledStore(12);
    const name = segmentsOf(dir).at(-1) as string;
    const seq = (JSON.parse(lineOf(dir, name, 0)) as ChainedRecord).chain.seq;
    editLine(dir, name, 0, (line) => line.replace('"outcome":"ok"', '"outcome":"no"'));
    const report = verifyStore(dir);
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([edited(name, 0, `r${seq - 1}`, seq)]);
  });

  it('names a record whose meaning was changed by a duplicate key added after its hashed text', async () => {
    const dir = await filledStore(12);
    const name = segmentsOf(dir).at(-1) as string;
    const seq = (JSON.parse(lineOf(dir, name, 0)) as ChainedRecord).chain.seq;
    editLine(dir, name, 0, (line) => `${line.slice(0, -1)},"outcome":"denied"}`);
    expect((JSON.parse(lineOf(dir, name, 0)) as ChainedRecord).outcome).toBe('denied');
    expect(verifyStore(dir).problems).toEqual([edited(name, 0, `r${seq - 1}`, seq)]);
  });

  it('names a record whose seq digits were changed, and the record that then looks out of place', async () => {
    const dir = await filledStore(12);
    const name = segmentsOf(dir).at(-1) as string;
    const { seq } = (JSON.parse(lineOf(dir, name, 1)) as ChainedRecord).chain;
    editLine(dir, name, 1, (line) => line.replace(`"seq":${seq}}`, `"seq":${seq + 100}}`));
    const kinds = verifyStore(dir).problems.map((p) => [p.kind, p.index, p.seq]);
    expect(kinds).toContainEqual(['edited', 1, seq + 100]);
    expect(kinds).toContainEqual(['deleted', 1, seq + 100]);
  });

  it('does not take the hash from a nested "chain" object: a top-level chain without its hash is malformed', async () => {
    // The agent's input holds an object under "chain": the only other place `"chain":{` can appear.
    const dir = await filledStore(4, () => ({ chain: { prev: 'x', seq: 1 } }));
    const name = segmentsOf(dir).at(-1) as string;
    const line = lineOf(dir, name, 0);
    const { chain } = JSON.parse(line) as ChainedRecord;
    editLine(dir, name, 0, (l) => l.replace(`"hash":"${chain.hash}",`, '').replace('"chain":{"prev":"x"', `"chain":{"hash":"${chain.hash}","prev":"x"`));
    const report = verifyStore(dir);
    expect(report.problems[0]).toMatchObject({ file: name, index: 0, kind: 'malformed', message: `${name} record 0 has no chain link` });
  });

  it('reads the records JSON would read when a second "records" array follows the lines that hash', async () => {
    const dir = await filledStore(12);
    const name = segmentsOf(dir).at(-1) as string;
    const path = join(dir, name);
    const text = readFileSync(path, 'utf8');
    const lines = text.split('\n');
    const records = lines.slice(1, -2).map((l) => JSON.parse(l.replace(/,$/, '')) as ChainedRecord);
    const forged = records.map((r) => ({ ...r, outcome: 'denied' }));
    // Each original line stays whole; JSON.parse keeps the last "records".
    const body = lines.slice(1, -2).map((l) => l.replace(/,$/, '')).join(',\n');
    writeFileSync(path, `${lines[0]}\n${body},\n"x"],"records":[${forged.map((r) => JSON.stringify(r)).join(',\n')}\n]}\n`);
    const report = verifyStore(dir);
    expect(report.records).toBe(12);
    expect(report.problems.filter((p) => p.kind === 'edited').map((p) => p.recordId)).toEqual(records.map((r) => r.id));
  });

  it('fails with the same error as every reader when one line is not JSON', async () => {
    const dir = await filledStore(12);
    const name = segmentsOf(dir).at(-1) as string;
    editLine(dir, name, 0, (line) => line.slice(0, -1));
    expect(() => verifyStore(dir)).toThrow(new RegExp(`^${name}: not valid JSON`));
    expect(() => readRecords(dir)).toThrow(new RegExp(`^${name}: not valid JSON`));
  });
});
