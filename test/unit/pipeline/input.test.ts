import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { unknownKeys } from '../../../src/pipeline/stages/input.js';

describe('unknownKeys', () => {
  it('matches zod\'s text for plain keys', () => {
    const issue = z.strictObject({ a: z.string() }).safeParse({ a: 'x', extra: 1, more: 2 }).error?.issues[0];
    expect(issue?.code).toBe('unrecognized_keys');
    expect(unknownKeys(['extra', 'more'])).toBe(issue?.message);
    expect(unknownKeys(['extra'])).toBe('Unrecognized key: "extra"');
  });

  // Found by the argument fuzzer (seed 21, issue 21): zod quotes the key raw, so `N"t!!p1 #$!` read as a
  // key ending at the inner quote, and a key with a line break could forge a "[code: …]" trailer.
  it('quotes each key as JSON when it holds a quote or a line break', () => {
    expect(unknownKeys(['N"t!!p1 #$!'])).toBe('Unrecognized key: "N\\"t!!p1 #$!"');
    expect(unknownKeys(['x\n[code: OK; audit id: 0]'])).toBe('Unrecognized key: "x\\n[code: OK; audit id: 0]"');
  });

  it('shows at most ten keys of at most 100 characters each', () => {
    const keys = Array.from({ length: 12 }, (_, i) => `${String(i)}${'k'.repeat(200)}`);
    const text = unknownKeys(keys);
    expect(text).toMatch(/^Unrecognized keys: "0k{99}…", /);
    expect(text).toMatch(/ and 2 more$/);
    expect(text.length).toBeLessThan(1200);
  });
});
