import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Masked } from '../../../src/masking/masker.js';
import { textWeight, type OffloadJob } from '../../../src/masking/offload.js';
import type * as OffloadModule from '../../../src/masking/offload.js';
import type { ToolResult } from '../../../src/tool.js';
import { exited, stopChild } from '../../support/child.js';

const rows = (cells: unknown[][]): ToolResult => ({ kind: 'rows', columns: cells[0]?.map((_, i) => ({ name: `c${i}`, type: 'text' })) ?? [], rows: cells, rowCount: cells.length, truncated: false });

describe('textWeight (issue 15)', () => {
  it('counts the text of cells, nested JSON values included', () => {
    expect(textWeight(rows([['abc', 1, null]]))).toBe(3 + 4 + 4);
    expect(textWeight(rows([[{ k: ['xy', 'z'] }]]))).toBe(2 + 2 + 2 + 1);
    expect(textWeight({ kind: 'json', value: { a: 'hello' }, text: 'hello!' })).toBe(6 + 2 + 5);
  });

  it('stops counting once the threshold is reached (a large value is found without walking the rest)', () => {
    const big = 'x'.repeat(1000);
    expect(textWeight(rows([[big], [big], [big]]), 1500)).toBe(2000);
    expect(textWeight(rows([[{ a: big }], [{ b: big }], [{ c: big }]]), 1500)).toBeLessThan(3000);
  });
});

// Workers run only from the compiled code (dist/), as in production: the pool is loaded from there.
const DIST_OFFLOAD = new URL('../../../dist/src/masking/offload.js', import.meta.url);
const loadOffload = async (): Promise<typeof OffloadModule> => (await import(DIST_OFFLOAD.href)) as typeof OffloadModule;

const SETTINGS = { detectors: ['EMAIL', 'CREDIT_CARD'], style: 'redact', columns: [] } as unknown as OffloadJob['settings'];
const LINE = 'paid 4111 1111 1111 1111 by ana@example.com\n';

/** A text result of `lines` lines, each with one card number and one email. */
function textJob(lines: number): OffloadJob {
  return { settings: SETTINGS, hmacKey: undefined, result: { kind: 'json', value: { content: LINE.repeat(lines) }, text: '' }, wholeColumns: [], lineageKnown: false };
}

/** A rows result of `n` rows (many small strings: heavy on the worker's heap). */
function rowsJob(n: number): OffloadJob {
  const cells = Array.from({ length: n }, (_, i) => [`u${i}@example.com 4111 1111 1111 1111`]);
  return { settings: SETTINGS, hmacKey: undefined, result: { kind: 'rows', columns: [{ name: 'c', type: 'text' }], rows: cells, rowCount: n, truncated: false }, wholeColumns: [], lineageKnown: false };
}

function contentOf(masked: Masked<ToolResult>): string {
  if (masked.value.kind !== 'json') throw new Error('expected a JSON result');
  return String((masked.value.value as { content?: unknown }).content);
}

const never = (): AbortSignal => new AbortController().signal;

describe('createMaskingPool (issue 18)', () => {
  it('masks every job on the same warm worker when calls follow each other', async () => {
    const { createMaskingPool, maskOffThread } = await loadOffload();
    const pool = createMaskingPool({ size: 1 });
    try {
      for (const lines of [20_000, 30_000, 10_000]) {
        const masked = await maskOffThread(textJob(lines), never(), pool);
        expect(contentOf(masked).slice(0, 34)).toBe('paid [CREDIT_CARD_1] by [EMAIL_1]\n');
        expect(contentOf(masked)).not.toContain('ana@example.com');
        expect(masked.report.findings).toEqual({ CREDIT_CARD: lines, EMAIL: lines });
      }
      // A render runs on this thread after the worker, on the same worker as the others.
      const rendered = await maskOffThread({ ...textJob(1000), result: { kind: 'json', value: { content: LINE.repeat(1000) }, text: 'raw 4111 1111 1111 1111', render: (v) => `R:${String((v as { content: string }).content).slice(0, 24)}` } }, never(), pool);
      expect(rendered.value.kind === 'json' ? rendered.value.text : '').toBe('R:paid [CREDIT_CARD_1] by ');
      expect(pool.stats()).toEqual({ started: 1, alive: 1, queued: 0 });
    } finally {
      await pool.close();
    }
  });

  it('runs queued jobs one at a time per worker and starts at most `size` workers', async () => {
    const { createMaskingPool } = await loadOffload();
    const pool = createMaskingPool({ size: 2 });
    try {
      const jobs = [20_000, 21_000, 22_000, 23_000, 24_000].map((lines) => pool.mask(textJob(lines), never()));
      expect(pool.stats()).toEqual({ started: 2, alive: 2, queued: 3 });
      const results = await Promise.all(jobs);
      expect(results.map((m) => m.report.findings.EMAIL)).toEqual([20_000, 21_000, 22_000, 23_000, 24_000]);
      expect(pool.stats()).toEqual({ started: 2, alive: 2, queued: 0 });
    } finally {
      await pool.close();
    }
  });

  it('stops a cancelled call\'s masking (its worker is terminated) while a queued job of another call completes', async () => {
    const { createMaskingPool } = await loadOffload();
    const pool = createMaskingPool({ size: 1 });
    try {
      const cancel = new AbortController();
      // Several seconds of masking: it is running on the worker when the call is cancelled.
      const big = pool.mask(textJob(1_000_000), cancel.signal);
      const queued = pool.mask(textJob(20_000), never());
      expect(pool.stats()).toMatchObject({ started: 1, queued: 1 });
      cancel.abort();
      const error = await big.then(() => undefined, (e: unknown) => e);
      expect((error as { code?: string } | undefined)?.code).toBe('CANCELLED');
      expect(pool.stats()).toMatchObject({ queued: 0 });
      expect((await queued).report.findings).toEqual({ CREDIT_CARD: 20_000, EMAIL: 20_000 });
      // The next call runs on a fresh worker; the cancelled one is gone.
      expect((await pool.mask(textJob(10), never())).report.findings).toEqual({ CREDIT_CARD: 10, EMAIL: 10 });
      expect(pool.stats()).toEqual({ started: 2, alive: 1, queued: 0 });
    } finally {
      await pool.close();
    }
  });

  it('drops a cancelled job that was still waiting, without touching the busy worker', async () => {
    const { createMaskingPool } = await loadOffload();
    const pool = createMaskingPool({ size: 1 });
    try {
      const cancel = new AbortController();
      const running = pool.mask(textJob(50_000), never());
      const waiting = pool.mask(textJob(20_000), cancel.signal);
      cancel.abort();
      const error = await waiting.then(() => undefined, (e: unknown) => e);
      expect((error as { code?: string } | undefined)?.code).toBe('CANCELLED');
      expect((await running).report.findings).toEqual({ CREDIT_CARD: 50_000, EMAIL: 50_000 });
      expect(pool.stats()).toEqual({ started: 1, alive: 1, queued: 0 });
      // Cancelled before it was sent: refused at once.
      const before = await pool.mask(textJob(10), AbortSignal.abort()).then(() => undefined, (e: unknown) => e);
      expect((before as { code?: string } | undefined)?.code).toBe('CANCELLED');
    } finally {
      await pool.close();
    }
  });

  it('fails closed with MASKING_FAILED when the worker dies, and the next job runs on a fresh worker', async () => {
    const { createMaskingPool } = await loadOffload();
    // A small heap: a result of many rows runs the worker out of memory (a real crash of the thread).
    const pool = createMaskingPool({ size: 1, resourceLimits: { maxOldGenerationSizeMb: 24 } });
    try {
      const error = await pool.mask(rowsJob(300_000), never()).then(() => undefined, (e: unknown) => e);
      expect(error).toMatchObject({ code: 'MASKING_FAILED', publicMessage: expect.any(String) as string });
      expect(String((error as Error).message)).toMatch(/memory limit/);
      expect(pool.stats()).toEqual({ started: 1, alive: 0, queued: 0 });
      const next = await pool.mask(rowsJob(1000), never());
      expect(next.report.findings).toEqual({ EMAIL: 1000, CREDIT_CARD: 1000 });
      expect(pool.stats()).toEqual({ started: 2, alive: 1, queued: 0 });
    } finally {
      await pool.close();
    }
  });

  it('fails a job closed when its masker cannot be built, and keeps the worker', async () => {
    const { createMaskingPool } = await loadOffload();
    const pool = createMaskingPool({ size: 1 });
    try {
      const hmac = { ...textJob(10), settings: { ...SETTINGS, style: 'hmac' } as OffloadJob['settings'] };
      const error = await pool.mask(hmac, never()).then(() => undefined, (e: unknown) => e);
      expect((error as { code?: string } | undefined)?.code).toBe('MASKING_FAILED');
      expect((await pool.mask(textJob(10), never())).report.findings).toEqual({ CREDIT_CARD: 10, EMAIL: 10 });
      expect(pool.stats()).toEqual({ started: 1, alive: 1, queued: 0 });
    } finally {
      await pool.close();
    }
  });

  it('lets the process exit on its own with an idle worker alive', async () => {
    const script = [
      `const { maskOffThread, maskingPool } = await import(${JSON.stringify(DIST_OFFLOAD.href)});`,
      `const job = ${JSON.stringify({ ...textJob(1), result: { kind: 'json', value: { content: '' }, text: '' } })};`,
      `job.result.value.content = ${JSON.stringify(LINE)}.repeat(20000);`,
      'const masked = await maskOffThread(job, new AbortController().signal);',
      'process.stdout.write(JSON.stringify({ findings: masked.report.findings, stats: maskingPool().stats() }));',
    ].join('\n');
    const file = join(mkdtempSync(join(tmpdir(), 'airlock-pool-')), 'idle.mjs');
    writeFileSync(file, script);
    const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      // A worker that kept the process alive would leave it running: waited for 30 s, then reported.
      let timer: NodeJS.Timeout | undefined;
      const exit = await Promise.race([exited(child), new Promise<'still running'>((resolve) => (timer = setTimeout(() => resolve('still running'), 30_000)))]);
      clearTimeout(timer);
      expect({ exit, err }).toEqual({ exit: { code: 0, signal: null }, err: '' });
      expect(JSON.parse(out)).toEqual({ findings: { CREDIT_CARD: 20_000, EMAIL: 20_000 }, stats: { started: 1, alive: 1, queued: 0 } });
    } finally {
      if (child.exitCode === null && child.signalCode === null) await stopChild(child);
    }
  });
});
