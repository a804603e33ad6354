import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bindCall, type BindingInput } from '../../src/approval/binding.js';
import type { Approver } from '../../src/approval/model.js';
import { createApprovalService } from '../../src/approval/service.js';
import { ApprovalStoreError, openJsonApprovalStore, type ApprovalStore } from '../../src/approval/store.js';
import { AirlockError } from '../../src/errors.js';
import { tempDir } from '../support/airlock.js';

const ISSUER = 'https://issuer.test';
const KEY = new Uint8Array(32).fill(3);
const ana = { issuer: ISSUER, sub: 'ana' };
const dba = (sub: string): Approver => ({ issuer: ISSUER, sub, groups: ['dba'] });
const call = (sql: string): BindingInput => ({ principal: ana, tool: 'query_sql', resource: 'shop', input: { connection: 'shop', sql, params: [1] }, ruleIds: ['w'], policyVersion: 'sha256:v1' });
const clock = { now: () => Date.UTC(2026, 11, 6, 12) };

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof AirlockError) return error.code;
    throw error;
  }
  return 'resolved';
}

/** Opens a store, runs `body`, and closes the store whatever happens. */
async function withStore<T>(path: string, body: (store: ApprovalStore) => Promise<T>): Promise<T> {
  const store = openJsonApprovalStore(path);
  try {
    return await body(store);
  } finally {
    await store.close();
  }
}

interface FileShape {
  format: string;
  requests: Record<string, unknown>[];
}
const readStoreFile = (path: string): FileShape => JSON.parse(readFileSync(path, 'utf8')) as FileShape;

describe('openJsonApprovalStore (issue 17)', () => {
  it('keeps pending requests, decisions and unused grants across a restart', async () => {
    const path = join(tempDir(), 'approvals.json');
    const ids = await withStore(path, async (store) => {
      const service = createApprovalService({ store, clock, key: KEY });
      const opts = { approverGroups: ['dba'], quorum: 2, timeoutSeconds: 600 };
      const pending = (await service.request(bindCall(call('UPDATE a SET x = 1')), opts)).request.id;
      await service.decide(pending, dba('bob'), 'approve', 'ok by me');
      const granted = (await service.request(bindCall(call('UPDATE b SET x = 1')), { ...opts, quorum: 1 })).request.id;
      await service.decide(granted, dba('bob'), 'approve');
      const denied = (await service.request(bindCall(call('UPDATE c SET x = 1')), { ...opts, quorum: 1 })).request.id;
      await service.decide(denied, dba('bob'), 'deny', 'no');
      return { pending, granted, denied };
    });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(existsSync(`${path}.lock`)).toBe(false);
    await withStore(path, async (store) => {
      const service = createApprovalService({ store, clock, key: KEY });
      expect((await store.listPending()).map((r) => r.id)).toEqual([ids.pending]);
      const joined = await service.request(bindCall(call('UPDATE a SET x = 1')), { approverGroups: ['dba'], quorum: 2, timeoutSeconds: 600 });
      expect(joined.events.map((e) => e.type)).toEqual(['joined']);
      expect(joined.request.decisions).toMatchObject([{ approver: { sub: 'bob' }, verdict: 'approve', reason: 'ok by me' }]);
      expect(await codeOf(service.decide(ids.pending, dba('bob'), 'approve'))).toBe('APPROVAL_FORBIDDEN');
      expect((await service.decide(ids.pending, dba('carol'), 'approve')).request.state).toBe('approved');
      expect((await service.consume(ids.granted, ana, bindCall(call('UPDATE b SET x = 1')))).request.state).toBe('consumed');
      expect(await codeOf(service.consume(ids.denied, ana, bindCall(call('UPDATE c SET x = 1'))))).toBe('APPROVAL_DENIED');
    });
    // And the grant used after the first restart stays used after a second one.
    await withStore(path, async (store) => {
      const service = createApprovalService({ store, clock, key: KEY });
      expect(await codeOf(service.consume(ids.granted, ana, bindCall(call('UPDATE b SET x = 1'))))).toBe('APPROVAL_USED');
      expect((await service.status(ids.pending, ana)).request.state).toBe('approved');
    });
  });

  it('records concurrent decisions once on the file store', async () => {
    const path = join(tempDir(), 'approvals.json');
    await withStore(path, async (store) => {
      const service = createApprovalService({ store, clock, key: KEY });
      const { request } = await service.request(bindCall(call('DELETE FROM t')), { approverGroups: ['dba'], quorum: 2, timeoutSeconds: 600 });
      const outcomes = await Promise.all(['b1', 'b2', 'b3', 'b4', 'b5'].map((s) => codeOf(service.decide(request.id, dba(s), 'approve'))));
      expect(outcomes.filter((o) => o === 'resolved')).toHaveLength(2);
      expect(outcomes.filter((o) => o === 'APPROVAL_USED')).toHaveLength(3);
    });
    const stored = readStoreFile(path).requests[0] as { state: string; decisions: unknown[]; version: number };
    expect(stored).toMatchObject({ state: 'approved', version: 3 });
    expect(stored.decisions).toHaveLength(2);
  });

  it('changes nothing when a write fails: the refused decision is not recorded in memory either', async () => {
    const dir = tempDir();
    const path = join(dir, 'approvals.json');
    await withStore(path, async (store) => {
      const service = createApprovalService({ store, clock, key: KEY });
      const { request } = await service.request(bindCall(call('UPDATE t SET x = 2')), { approverGroups: ['dba'], timeoutSeconds: 600 });
      rmSync(dir, { recursive: true });
      await expect(service.decide(request.id, dba('bob'), 'approve')).rejects.toMatchObject({ code: 'ENOENT' });
      expect(await store.get(request.id)).toMatchObject({ state: 'pending', version: 1, decisions: [] });
    });
  });

  it('leaves no temporary file when the rename fails, and takes the next change once the file can be written again', async () => {
    const dir = tempDir();
    const path = join(dir, 'approvals.json');
    await withStore(path, async (store) => {
      const service = createApprovalService({ store, clock, key: KEY });
      const { request } = await service.request(bindCall(call('UPDATE t SET x = 3')), { approverGroups: ['dba'], timeoutSeconds: 600 });
      const kept = readFileSync(path, 'utf8');
      // A directory where the file was: the temporary file is written, the rename over it fails.
      rmSync(path);
      mkdirSync(join(path, 'in-the-way'), { recursive: true });
      expect(await service.decide(request.id, dba('bob'), 'approve').then(() => 'written', (error: NodeJS.ErrnoException) => error.code)).toMatch(/^(EISDIR|ENOTEMPTY|EEXIST)$/);
      expect(readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
      expect(await store.get(request.id)).toMatchObject({ state: 'pending', version: 1 });
      rmSync(path, { recursive: true });
      writeFileSync(path, kept);
      expect((await service.decide(request.id, dba('bob'), 'approve')).request).toMatchObject({ state: 'approved', version: 2 });
    });
    expect(readStoreFile(path).requests[0]).toMatchObject({ state: 'approved', version: 2 });
  });

  it('drops finished requests older than keepFinishedMs at the next write, and keeps pending requests and unused grants of any age', async () => {
    const path = join(tempDir(), 'approvals.json');
    let now = Date.UTC(2026, 0, 1, 12);
    const moving = { now: () => now };
    const day = 86_400_000;
    const opts = { approverGroups: ['dba'], quorum: 1, timeoutSeconds: 600 };
    const store = openJsonApprovalStore(path, { keepFinishedMs: 7 * day, now: moving.now });
    try {
      const service = createApprovalService({ store, clock: moving, key: KEY, executionWindowMs: 40 * day });
      const denied = (await service.request(bindCall(call('UPDATE d SET x = 1')), opts)).request.id;
      await service.decide(denied, dba('bob'), 'deny');
      const consumed = (await service.request(bindCall(call('UPDATE c SET x = 1')), opts)).request.id;
      await service.decide(consumed, dba('bob'), 'approve');
      await service.consume(consumed, ana, bindCall(call('UPDATE c SET x = 1')));
      const granted = (await service.request(bindCall(call('UPDATE g SET x = 1')), opts)).request.id;
      await service.decide(granted, dba('bob'), 'approve');
      const pending = (await service.request(bindCall(call('UPDATE p SET x = 1')), { ...opts, timeoutSeconds: 300 })).request.id;
      // Six days on, everything is still there: nothing finished has been kept a week yet.
      now += 6 * day;
      const mid = (await service.request(bindCall(call('UPDATE m SET x = 1')), opts)).request.id;
      expect(readStoreFile(path).requests.map((r) => r.id).sort()).toEqual([denied, consumed, granted, pending, mid].sort());
      // Eight days on, the next write drops the denied and consumed requests (ended a week ago and more).
      now += 2 * day;
      const recent = (await service.request(bindCall(call('UPDATE r SET x = 1')), opts)).request.id;
      await service.decide(recent, dba('bob'), 'deny');
      const kept = readStoreFile(path).requests.map((r) => r.id);
      expect(kept.sort()).toEqual([granted, pending, mid, recent].sort());
      expect(await store.get(denied)).toBeUndefined();
      // The pending request is past its deadline but not yet marked expired: it stays until it is, and then a week.
      expect(await store.get(pending)).toMatchObject({ state: 'pending' });
    } finally {
      await store.close();
    }
  });

  it('takes one writer: a second store over the same file is refused while the first is open', async () => {
    const path = join(tempDir(), 'approvals.json');
    await withStore(path, () => {
      expect(() => openJsonApprovalStore(path)).toThrow(ApprovalStoreError);
      expect(() => openJsonApprovalStore(path)).toThrow(`approval store ${path} is in use by process ${process.pid}`);
      return Promise.resolve();
    });
    await withStore(path, (store) => store.listPending());
  });

  it('takes over a lock left by a process that died (crash restart), and refuses one held on another host', async () => {
    const path = join(tempDir(), 'approvals.json');
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    expect(dead).toBeGreaterThan(0);
    writeFileSync(`${path}.lock`, JSON.stringify({ pid: dead, host: hostname() }));
    await withStore(path, (store) => store.listPending());
    writeFileSync(`${path}.lock`, JSON.stringify({ pid: dead, host: 'elsewhere.example' }));
    expect(() => openJsonApprovalStore(path)).toThrow(`approval store ${path} is in use by process ${dead} on elsewhere.example`);
  });

  it('fails closed with a clear message on a corrupt or foreign file, and leaves it as it was', () => {
    const dir = tempDir();
    const cases: [string, string][] = [
      ['{"format":"airlock-approvals/1","requests":[', 'is not valid JSON ('],
      ['[]', 'is not an airlock approvals file ((file): '],
      ['{"format":"airlock-approvals/2","requests":[]}', 'is not an airlock approvals file (format: '],
      ['{"format":"airlock-approvals/1","requests":[{"id":"apr_x"}]}', 'is not an airlock approvals file (requests.0.'],
    ];
    for (const [i, [text, message]] of cases.entries()) {
      const path = join(dir, `approvals-${i}.json`);
      writeFileSync(path, text);
      expect(() => openJsonApprovalStore(path), text).toThrow(`approval store ${path} ${message}`);
      expect(() => openJsonApprovalStore(path), text).toThrow('airlock will not use or overwrite it');
      expect(readFileSync(path, 'utf8')).toBe(text);
      expect(existsSync(`${path}.lock`)).toBe(false);
    }
  });

  it('does not honour a decision forged by editing the file (MAC and invariants)', async () => {
    const path = join(tempDir(), 'approvals.json');
    const id = await withStore(path, async (store) => {
      const service = createApprovalService({ store, clock, key: KEY });
      return (await service.request(bindCall(call('DROP TABLE orders')), { approverGroups: ['dba'], quorum: 2, timeoutSeconds: 600 })).request.id;
    });
    const original = readFileSync(path, 'utf8');
    const forgeries: [string, (r: Record<string, unknown>) => void][] = [
      ['state flipped to approved with a decision', (r) => Object.assign(r, { state: 'approved', executeBy: Date.UTC(2027, 0, 1), decidedAt: 1, decisions: [{ approver: { issuer: ISSUER, sub: 'bob', groups: ['dba'] }, verdict: 'approve', at: 1 }] })],
      ['quorum lowered', (r) => Object.assign(r, { quorum: 1 })],
      ['approver groups widened', (r) => Object.assign(r, { approverGroups: ['dba', 'analysts'] })],
      ['deadline extended', (r) => Object.assign(r, { expiresAt: Date.UTC(2030, 0, 1) })],
      ['requester changed', (r) => Object.assign(r, { requester: { issuer: ISSUER, sub: 'mallory' } })],
      ['mac removed', (r) => Object.assign(r, { mac: '' })],
    ];
    for (const [name, forge] of forgeries) {
      const file = JSON.parse(original) as FileShape;
      forge(file.requests[0]!);
      writeFileSync(path, JSON.stringify(file));
      await withStore(path, async (store) => {
        const service = createApprovalService({ store, clock, key: KEY });
        expect(await codeOf(service.consume(id, ana, bindCall(call('DROP TABLE orders')))), name).toBe('APPROVAL_INVALID');
        expect(await codeOf(service.decide(id, dba('bob'), 'approve')), name).toBe('APPROVAL_INVALID');
      });
    }
    // The untouched file still works.
    writeFileSync(path, original);
    await withStore(path, async (store) => {
      const service = createApprovalService({ store, clock, key: KEY });
      expect((await service.decide(id, dba('bob'), 'approve')).request).toMatchObject({ state: 'pending', decisions: [{ approver: { sub: 'bob' } }] });
    });
  });

  it('does not let an edited statement ride on an approved grant', async () => {
    const path = join(tempDir(), 'approvals.json');
    const id = await withStore(path, async (store) => {
      const service = createApprovalService({ store, clock, key: KEY });
      const { request } = await service.request(bindCall(call('DELETE FROM t WHERE id = 1')), { approverGroups: ['dba'], timeoutSeconds: 600 });
      await service.decide(request.id, dba('bob'), 'approve');
      return request.id;
    });
    const file = readStoreFile(path);
    const forged = bindCall(call('DELETE FROM t'));
    Object.assign(file.requests[0]!, { binding: forged.binding, bindingHash: forged.bindingHash });
    writeFileSync(path, JSON.stringify(file));
    await withStore(path, async (store) => {
      const service = createApprovalService({ store, clock, key: KEY });
      expect(await codeOf(service.consume(id, ana, forged))).toBe('APPROVAL_INVALID');
    });
  });
});
