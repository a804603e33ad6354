import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { SERVER_V8_FLAGS } from '../../../src/cli/server-heap.js';

// setFlagsFromString ignores a flag this V8 does not know: a Node upgrade that drops one would silently give
// the server its old heap back. The command line refuses unknown flags, so each is checked there.
const accepted = (flags: readonly string[]): { status: number | null; stderr: string } => {
  const run = spawnSync(process.execPath, [...flags, '-e', '0'], { encoding: 'utf8' });
  return { status: run.status, stderr: run.stderr };
};

describe('the server process V8 settings (issue 19)', () => {
  it('are each known to this Node', () => {
    expect(SERVER_V8_FLAGS).toEqual(['--liftoff-only', '--heap-growing-percent=50']);
    for (const flag of SERVER_V8_FLAGS) expect(accepted([flag]), flag).toEqual({ status: 0, stderr: '' });
  });

  it('would be caught if one were not', () => {
    const run = accepted(['--liftoff-only-not-a-flag']);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain('bad option: --liftoff-only-not-a-flag');
  });
});
