import { execFile } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CLI, EXAMPLE_POLICY } from '../support/airlock.js';

function airlock(args: string[], input: string): Promise<{ stdout: string; code: number }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [CLI, ...args], { timeout: 30_000 }, (error, stdout) => {
      resolve({ stdout, code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1 });
    });
    child.stdin?.end(input);
  });
}

describe('airlock mask (CLI)', () => {
  it('--jsonl: one line per input with the masked text and findings with offsets into the original', async () => {
    const input = [
      JSON.stringify({ id: 1, text: 'mail ana@example.com, key AKIAIOSFODNN7EXAMPLE, card 4111 1111 1111 1111' }),
      JSON.stringify({ id: 'plain', text: 'release v1.2.3, ticket PROJ-1234, icon@2x.png' }),
      'not json',
    ].join('\n');
    const result = await airlock(['mask', '--jsonl'], input);
    const lines = result.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toEqual({
      id: 1,
      masked: 'mail [EMAIL_1], key [AWS_ACCESS_KEY_1], card [CREDIT_CARD_1]',
      findings: [
        { start: 5, end: 20, type: 'EMAIL' },
        { start: 26, end: 46, type: 'AWS_ACCESS_KEY' },
        { start: 53, end: 72, type: 'CREDIT_CARD' },
      ],
    });
    expect(lines[1]).toEqual({ id: 'plain', masked: 'release v1.2.3, ticket PROJ-1234, icon@2x.png', findings: [] });
    expect(lines[2]).toEqual({ line: 3, error: 'not valid JSON' });
    expect(result.code).toBe(1);
  });

  it('uses the detectors and style of a policy file', async () => {
    const result = await airlock(['mask', '--jsonl', '--policy', EXAMPLE_POLICY], JSON.stringify({ id: 1, text: 'ana@example.com 4111 1111 1111 1111' }));
    expect(JSON.parse(result.stdout)).toMatchObject({ masked: 'ana@example.com **** **** **** 1111' });
  });
});
