import { describe, expect, it } from 'vitest';
import { describeFailure } from '../../../src/cli/failure.js';

describe('describeFailure', () => {
  it('shows a setting refused by our own code as the user’s mistake (exit 2, one line)', () => {
    expect(describeFailure(new TypeError('--dev-identity: "x" is not an email address'), false)).toEqual({ code: 2, message: 'airlock: --dev-identity: "x" is not an email address' });
  });

  it.each([
    () => (undefined as unknown as { a: number }).a,
    () => (null as unknown as () => void)(),
    () => [...(1 as unknown as number[])],
    () => JSON.stringify({ n: 1n }),
  ])('treats a TypeError the engine raised as a bug: exit 1 and a pointer to --debug (issue 14 review) %#', (fault) => {
    let error: unknown;
    try {
      fault();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TypeError);
    const failure = describeFailure(error, false);
    expect(failure.code).toBe(1);
    expect(failure.message).toMatch(/\n\(run again with --debug for the stack trace\)$/);
  });
});
