import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { SERVER_V8_FLAGS, STDIO_V8_FLAGS } from '../../../src/cli/server-heap.js';

// setFlagsFromString ignores a flag this V8 does not know: a Node upgrade that drops one would silently give
// the server its old heap back. The command line refuses unknown flags, so each is checked there.
const accepted = (flags: readonly string[]): { status: number | null; stderr: string } => {
  const run = spawnSync(process.execPath, [...flags, '-e', '0'], { encoding: 'utf8', timeout: 60_000 });
  return { status: run.status, stderr: run.stderr };
};

describe('the server process V8 settings (issue 19)', () => {
  it('are each known to this Node', () => {
    expect(SERVER_V8_FLAGS).toEqual(['--liftoff-only', '--heap-growing-percent=50']);
    expect(STDIO_V8_FLAGS).toEqual(['--semi-space-growth-factor=1']);
    for (const flag of [...SERVER_V8_FLAGS, ...STDIO_V8_FLAGS]) expect(accepted([flag]), flag).toEqual({ status: 0, stderr: '' });
  });

  it('keep the young generation of a stdio server at its initial size when set at run time by tuneServerHeap', () => {
    // The CLI's own tuneServerHeap, called in-process after start-up (as src/cli.ts calls it), then a burst of
    // allocation: the new space stays at its initial semi-spaces for stdio and grows for HTTP.
    const module = fileURLToPath(new URL('../../../dist/src/cli/server-heap.js', import.meta.url));
    const script = [
      "import v8 from 'node:v8';",
      `const { tuneServerHeap } = await import(${JSON.stringify(module)});`,
      'tuneServerHeap(process.argv[1] === "stdio");',
      'for (let i = 0; i < 1500; i++) { const rows = []; for (let j = 0; j < 1000; j++) rows.push({ n: j, s: "x" + j }); JSON.stringify(rows); }',
      "process.stdout.write(String(v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size));",
    ].join('\n');
    const newSpace = (transport: string): number => Number(spawnSync(process.execPath, ['--input-type=module', '-e', script, transport], { encoding: 'utf8', timeout: 60_000 }).stdout);
    const stdio = newSpace('stdio');
    const http = newSpace('http');
    expect(stdio).toBeGreaterThan(0);
    expect(stdio).toBeLessThanOrEqual(4 * 1024 * 1024);
    expect(http).toBeGreaterThanOrEqual(2 * stdio);
  });

  it('would be caught if one were not', () => {
    const run = accepted(['--liftoff-only-not-a-flag']);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain('bad option: --liftoff-only-not-a-flag');
  });
});
