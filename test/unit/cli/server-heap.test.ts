import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SERVER_V8_FLAGS, STDIO_SEMI_SPACE_LIMIT } from '../../../src/cli/server-heap.js';

const MB = 1024 * 1024;

// setFlagsFromString ignores a flag this V8 does not know: a Node upgrade that drops one would silently give
// the server its old heap back. The command line refuses unknown flags, so each is checked there.
const accepted = (flags: readonly string[]): { status: number | null; stderr: string } => {
  const run = spawnSync(process.execPath, [...flags, '-e', '0'], { encoding: 'utf8', timeout: 60_000 });
  return { status: run.status, stderr: run.stderr };
};

// A child process calls the CLI's own functions from dist/ in-process after start-up (as src/cli.ts does), then
// allocates like a server answering calls: rows kept alive for a few turns of the event loop (so some survive
// a scavenge, which is what makes V8 grow the new space), the loop turning between calls. It prints the
// semi-space capacity at start, the largest seen and the last, in bytes rounded to V8's 1 MB steps.
const semiSpaces = (setup: string): { initial: number; largest: number; last: number } => {
  const module = fileURLToPath(new URL('../../../dist/src/cli/server-heap.js', import.meta.url));
  const script = [
    "import v8 from 'node:v8';",
    `const { tuneServerHeap, limitYoungGeneration } = await import(${JSON.stringify(module)});`,
    "const capacity = () => { const s = v8.getHeapSpaceStatistics().find((x) => x.space_name === 'new_space'); return Math.ceil((s.space_used_size + s.space_available_size) / 1048576) * 1048576; };",
    'const initial = capacity();',
    setup,
    'let largest = 0; const kept = [];',
    'for (let i = 0; i < 3000; i++) {',
    '  const rows = []; for (let j = 0; j < 1000; j++) rows.push({ n: j, s: "x" + j });',
    '  kept.push(rows); if (kept.length > 8) kept.shift(); JSON.stringify(rows);',
    '  await new Promise((resolve) => setImmediate(resolve)); largest = Math.max(largest, capacity());',
    '}',
    'process.stdout.write(JSON.stringify({ initial, largest, last: capacity() }));',
  ].join('\n');
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 120_000 });
  expect(run.stderr).toBe('');
  return JSON.parse(run.stdout) as { initial: number; largest: number; last: number };
};

describe('the server process V8 settings (issue 19)', () => {
  it('are each known to this Node', () => {
    expect(SERVER_V8_FLAGS).toEqual(['--liftoff-only', '--heap-growing-percent=50', '--interrupt-budget=16384']);
    expect(STDIO_SEMI_SPACE_LIMIT).toBe(8 * MB);
    // The young generation is limited through this flag, set at run time: it must exist too.
    for (const flag of [...SERVER_V8_FLAGS, '--semi-space-growth-factor=1', '--semi-space-growth-factor=2']) expect(accepted([flag]), flag).toEqual({ status: 0, stderr: '' });
  });

  it('let the young generation of a stdio server grow to its limit and no further, and HTTP past it, set at run time by tuneServerHeap (issue 19)', () => {
    const stdio = semiSpaces('tuneServerHeap(true);');
    const http = semiSpaces('tuneServerHeap(false);');
    // V8 starts at 1 MB semi-spaces and doubles them: the stdio server reaches its 8 MB and stays there.
    expect(stdio.initial).toBe(1 * MB);
    expect(stdio.largest).toBe(STDIO_SEMI_SPACE_LIMIT);
    expect(stdio.last).toBe(STDIO_SEMI_SPACE_LIMIT);
    // The same allocation grows an HTTP server's young generation to V8's own maximum.
    expect(http.largest).toBe(16 * MB);
  });

  it('keep the young generation at or under other limits too (issue 19)', () => {
    for (const limit of [1, 2, 4]) {
      const run = semiSpaces(`limitYoungGeneration(${limit * MB});`);
      expect(run.largest, `limit ${limit} MB`).toBe(limit * MB);
    }
  });

  it('make V8 optimise a hot function after about a quarter of the calls, set at run time by tuneServerHeap (issue 19)', () => {
    // How many calls of a small function V8 makes before it marks it for its optimising compiler (or has done
    // so), in a child with V8's own status bits (optimised 1<<4, marked 1<<8, marked concurrent 1<<9,
    // optimising concurrently 1<<10).
    const callsToOptimise = (setup: string): number => {
      const module = fileURLToPath(new URL('../../../dist/src/cli/server-heap.js', import.meta.url));
      const script = [
        `const { tuneServerHeap } = await import(${JSON.stringify(module)});`,
        setup,
        'function hot(rows) { let n = 0; for (const row of rows) n += row.id * 2 + row.name.length; return n; }',
        "const rows = Array.from({ length: 8 }, (_, i) => ({ id: i, name: 'n' + i }));",
        'let calls = 0;',
        'while (calls < 1e6 && (%GetOptimizationStatus(hot) & ((1 << 4) | (1 << 8) | (1 << 9) | (1 << 10))) === 0) { hot(rows); calls++; }',
        'process.stdout.write(String(calls));',
      ].join('\n');
      const run = spawnSync(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
      expect(run.stderr).toBe('');
      return Number(run.stdout);
    };
    const stock = callsToOptimise('');
    const tuned = callsToOptimise('tuneServerHeap(true);');
    expect(stock).toBeGreaterThan(0);
    expect(stock).toBeLessThan(1e6);
    expect(tuned).toBeGreaterThan(0);
    expect(tuned).toBeLessThan(stock / 2);
  });

  it('would be caught if one were not', () => {
    const run = accepted(['--liftoff-only-not-a-flag']);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain('bad option: --liftoff-only-not-a-flag');
  });
});
