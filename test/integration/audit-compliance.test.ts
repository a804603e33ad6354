import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { readRecords } from '../../src/audit/read.js';
import { keyring, RevealError, seal, unseal } from '../../src/audit/sealed.js';
import { JsonAuditStore } from '../../src/audit/store.js';
import { parseDevIdentity } from '../../src/identity/dev.js';
import { ToolRegistry } from '../../src/mcp/registry.js';
import { buildPipeline } from '../../src/pipeline/chain.js';
import type { CallContext } from '../../src/pipeline/context.js';
import { parsePolicy } from '../../src/policy/load.js';
import { defineTool, type ToolDeps } from '../../src/tool.js';
import { CLI, tempDir } from '../support/airlock.js';

const CARD = '4111111111111111';
const cards = defineTool({
  name: 'cards',
  description: 'Test tool: returns one customer row with a card number, to be masked on the way out.',
  input: z.strictObject({}),
  annotations: { title: 'cards', readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  facts: () => ({}),
  execute: () => Promise.resolve({ kind: 'rows', columns: [{ name: 'name', type: 'text' }, { name: 'card', type: 'text' }], rows: [['Ana', CARD]], rowCount: 1, truncated: false }),
});
const registry = new ToolRegistry([cards]);
const policy = parsePolicy(
  JSON.stringify({ version: 1, rules: [{ id: 'cards', effect: 'allow', tools: ['cards'] }], masking: { detectors: ['CREDIT_CARD'], style: 'last4' } }),
  'policies.json',
  registry.names(),
);
const deps = {} as unknown as ToolDeps;

describe('compliance copies (sealed unmasked results)', () => {
  it('seals the unmasked result into the record, never in clear, and `airlock audit reveal` opens it with the key (audit:no-clear-values)', async () => {
    const dir = tempDir();
    const keyHex = randomBytes(32).toString('hex');
    const keyFile = join(dir, 'audit.key');
    writeFileSync(keyFile, `${keyHex}\n`);
    const config = join(dir, 'airlock.json');
    writeFileSync(config, JSON.stringify({ audit: { compliance: { keys: [{ id: 'k1', key: `file:${keyFile}` }] } } }));
    const store = await JsonAuditStore.open(join(dir, 'audit'));
    const run = buildPipeline({
      audit: store,
      tools: registry,
      policy: { current: () => policy },
      deps,
      clock: { now: () => Date.now() },
      onAuditFailure: () => undefined,
      compliance: { keyring: keyring([{ id: 'k1', key: Buffer.from(keyHex, 'hex') }]), maxBytes: 4096 },
    });
    const ctx: CallContext = { id: 'call-1', startedAt: Date.now(), sessionId: 's', transport: 'in-memory', toolName: 'cards', rawArguments: {}, credential: { kind: 'dev', principal: parseDevIdentity('ana@example.com,analysts') }, signal: new AbortController().signal };
    await run(ctx);
    await store.close();
    expect(JSON.stringify(ctx.response)).not.toContain(CARD);
    for (const name of readdirSync(join(dir, 'audit'))) expect(readFileSync(join(dir, 'audit', name), 'utf8'), name).not.toContain(CARD);
    const [record] = readRecords(join(dir, 'audit'));
    expect(record?.sealedResult).toMatchObject({ alg: 'A256GCM', kid: 'k1', truncated: false });

    const reveal = spawnSync(process.execPath, [CLI, 'audit', 'reveal', '--audit-dir', join(dir, 'audit'), '--config', config, 'call-1'], { encoding: 'utf8' });
    expect(reveal.status).toBe(0);
    expect((JSON.parse(reveal.stdout) as { rows: string[][] }).rows).toEqual([['Ana', CARD]]);

    writeFileSync(keyFile, randomBytes(32).toString('base64'));
    const wrong = spawnSync(process.execPath, [CLI, 'audit', 'reveal', '--audit-dir', join(dir, 'audit'), '--config', config, 'call-1'], { encoding: 'utf8' });
    expect(wrong.status).toBe(1);
    expect(wrong.stderr).toContain('cannot reveal call-1: the compliance copy of record call-1 does not authenticate');
    expect(wrong.stdout).toBe('');
  });

  it('binds a copy to its record: moved to another record id, it does not open', () => {
    const ring = keyring([{ id: 'k1', key: randomBytes(32) }]);
    const blob = seal({ secret: CARD }, 'record-a', ring, 1024);
    expect(JSON.parse(unseal(blob, 'record-a', ring))).toEqual({ secret: CARD });
    expect(() => unseal(blob, 'record-b', ring)).toThrow(RevealError);
    expect(() => unseal({ ...blob, data: Buffer.from('x').toString('base64') }, 'record-a', ring)).toThrow('does not authenticate');
  });

  it('opens copies sealed under an older key after rotation, and names a key it does not hold', () => {
    const old = { id: 'k2025', key: randomBytes(32) };
    const blob = seal('v', 'r', keyring([old]), 1024);
    const rotated = keyring([{ id: 'k2026', key: randomBytes(32) }, old], 'k2026');
    expect(unseal(blob, 'r', rotated)).toBe('"v"');
    expect(seal('w', 'r', rotated, 1024).kid).toBe('k2026');
    expect(() => unseal(blob, 'r', keyring([{ id: 'k2026', key: randomBytes(32) }]))).toThrow('sealed under key "k2025", which is not among the configured keys (k2026)');
  });

  it('seals only the first maxBytes of a long result and says so', () => {
    const ring = keyring([{ id: 'k', key: randomBytes(32) }]);
    const blob = seal('x'.repeat(5000), 'r', ring, 1024);
    expect(blob.truncated).toBe(true);
    expect(unseal(blob, 'r', ring)).toHaveLength(1024);
  });
});
