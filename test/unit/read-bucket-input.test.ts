/**
 * read_bucket's argument checks: every path trick is refused with INVALID_INPUT naming the field, before
 * policy or any upstream call (issue 18).
 */
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../../src/errors.js';
import type { ToolDeps } from '../../src/tool.js';
import { objectNameProblem } from '../../tools/object_name.js';
import { readBucket } from '../../tools/read_bucket.js';

// facts checks the arguments first: a bucket lookup that fails proves a call got past them.
const NO_DEPS = {} as ToolDeps;

const TRICKS: readonly [string, RegExp][] = [
  ['../secret.txt', /"\." or "\.\." segments/],
  ['app/../../etc/passwd', /"\." or "\.\." segments/],
  ['app/..', /"\." or "\.\." segments/],
  ['./app/a.txt', /"\." or "\.\." segments/],
  ['app/./a.txt', /"\." or "\.\." segments/],
  ['.', /"\." or "\.\." segments/],
  ['/etc/passwd', /must not start with "\/"/],
  ['app//config.json', /"\/\/"/],
  ['app\\config.json', /backslash/],
  ['..\\secret.txt', /backslash/],
  ['a.txt\0.png', /NUL/],
  ['a\u0001b', /control or invisible/],
  ['a\nb.txt', /control or invisible/],
  ['a\u007f', /control or invisible/],
  ['a\u0085b', /control or invisible/],
  ['app/\u202egnp.txt', /control or invisible/],
  ['app/a\u200b.txt', /control or invisible/],
  ['..%2Fsecret.txt', /percent-encoded/],
  ['%2e%2e/secret.txt', /percent-encoded/],
  ['app%2F..%2F..%2Fx', /percent-encoded/],
  ['%252e%252e', /percent-encoded/],
  ['a%00.txt', /percent-encoded/],
  ['x'.repeat(1025), /at most 1024 bytes/],
  ['é'.repeat(513), /at most 1024 bytes/],
  ['cafe\u0301.txt', /normal form C/],
  ['app\u2215..\u2215secret', /reads like/],
  ['app\uff0fsecret', /reads like/],
  ['app\u2044x', /reads like/],
  ['app\uff3cx', /reads like/],
  ['\u2024\u2024/secret', /reads like/],
  ['app/\uff0e\uff0e/x', /reads like/],
  ['a\ud800b', /valid Unicode/],
  ['app/logs/', /not a folder/],
];

const VALID: readonly string[] = [
  'a.txt',
  'app/logs/api-2026-12-01.ndjson',
  'app/logs/worker.log.gz',
  '.env',
  'app/.hidden/x',
  'app/..data/x',
  'app/x..y',
  'a...b',
  'report 100% done.txt',
  'naïve/Ünïcödé/日本語.txt',
  'café.txt',
  'x'.repeat(1024),
  'é'.repeat(512),
  'with space and (parens) [brackets] {braces} #hash +plus =eq @at ~tilde',
];

function refusal(args: Record<string, unknown>): InvalidInputError {
  const parsed = readBucket.input.parse(args);
  try {
    void readBucket.facts(parsed, NO_DEPS);
  } catch (error) {
    if (error instanceof InvalidInputError) return error;
    throw error;
  }
  throw new Error('expected INVALID_INPUT');
}

describe('objectNameProblem (issue 18)', () => {
  it.each(TRICKS)('refuses %j', (name, message) => {
    expect(objectNameProblem(name, 'object')).toMatch(message);
  });

  it.each(VALID)('accepts %j', (name) => {
    expect(objectNameProblem(name, 'object')).toBeUndefined();
    expect(objectNameProblem(name, 'prefix')).toBeUndefined();
  });

  it('accepts folder prefixes and the empty prefix, and refuses an empty object name', () => {
    expect(objectNameProblem('', 'prefix')).toBeUndefined();
    expect(objectNameProblem('app/logs/', 'prefix')).toBeUndefined();
    expect(objectNameProblem('app/lo', 'prefix')).toBeUndefined();
    expect(objectNameProblem('', 'object')).toBe('must not be empty');
    expect(objectNameProblem('../', 'prefix')).toMatch(/"\." or "\.\." segments/);
    expect(objectNameProblem('/', 'prefix')).toMatch(/must not start with "\/"/);
  });
});

describe('readBucket.facts (issue 18)', () => {
  it.each(TRICKS)('refuses object %j with INVALID_INPUT on "object"', (name, message) => {
    const error = refusal({ bucket: 'demo', action: 'read', object: name });
    expect(error.code).toBe('INVALID_INPUT');
    expect(error.issues).toHaveLength(1);
    expect(error.issues[0]?.path).toBe('object');
    expect(error.issues[0]?.message).toMatch(message);
    expect(error.publicMessage).toMatch(/^Invalid arguments for read_bucket: object: /);
  });

  it.each(TRICKS.filter(([name]) => !name.endsWith('/')))('refuses prefix %j with INVALID_INPUT on "prefix"', (name, message) => {
    const error = refusal({ bucket: 'demo', action: 'list', prefix: name });
    expect(error.issues[0]?.path).toBe('prefix');
    expect(error.issues[0]?.message).toMatch(message);
  });

  it('needs an object for read and refuses one for list', () => {
    expect(refusal({ bucket: 'demo', action: 'read' }).publicMessage).toBe('Invalid arguments for read_bucket: object: required for action "read"');
    expect(refusal({ bucket: 'demo', action: 'list', object: 'a.txt' }).publicMessage).toBe('Invalid arguments for read_bucket: object: not allowed for action "list" (use prefix)');
  });

  it('keeps list and read fields apart', () => {
    expect(refusal({ bucket: 'demo', action: 'read', object: 'a.txt', prefix: 'a' }).issues[0]).toEqual({ path: 'prefix', message: 'only for action "list"' });
    expect(refusal({ bucket: 'demo', action: 'read', object: 'a.txt', maxResults: 5 }).issues[0]).toEqual({ path: 'maxResults', message: 'only for action "list"' });
    expect(refusal({ bucket: 'demo', action: 'list', range: { start: 0 } }).issues[0]).toEqual({ path: 'range', message: 'only for action "read"' });
    expect(refusal({ bucket: 'demo', action: 'list', generation: '12' }).issues[0]).toEqual({ path: 'generation', message: 'only for action "read"' });
  });

  it('refuses a range that ends before it starts, and negative offsets at the schema', () => {
    expect(refusal({ bucket: 'demo', action: 'read', object: 'a.txt', range: { start: 10, end: 9 } }).issues[0]).toEqual({ path: 'range.end', message: 'must not be less than range.start' });
    expect(readBucket.input.safeParse({ bucket: 'demo', action: 'read', object: 'a.txt', range: { start: -1 } }).success).toBe(false);
    expect(readBucket.input.safeParse({ bucket: 'demo', action: 'read', object: 'a.txt', range: { start: 0, end: -2 } }).success).toBe(false);
    expect(readBucket.input.safeParse({ bucket: 'demo', action: 'read', object: 'a.txt', range: { start: 1.5 } }).success).toBe(false);
    expect(readBucket.input.safeParse({ bucket: 'demo', action: 'read', object: 'a.txt', generation: '12a' }).success).toBe(false);
  });

  it('gives policy the bucket and object for a read and the prefix for a list once the bucket is known', async () => {
    const deps = { storage: { hasBucket: (name: string) => name === 'demo' } } as unknown as ToolDeps;
    expect(await readBucket.facts(readBucket.input.parse({ bucket: 'demo', action: 'read', object: 'app/a.txt', range: { start: 5, end: 5 } }), deps)).toEqual({ resource: { kind: 'bucket', name: 'demo' }, object: 'app/a.txt' });
    expect(await readBucket.facts(readBucket.input.parse({ bucket: 'demo', action: 'list', prefix: 'app/' }), deps)).toEqual({ resource: { kind: 'bucket', name: 'demo' }, listPrefix: 'app/' });
    expect(await readBucket.facts(readBucket.input.parse({ bucket: 'demo', action: 'list' }), deps)).toEqual({ resource: { kind: 'bucket', name: 'demo' }, listPrefix: '' });
    expect(() => readBucket.facts(readBucket.input.parse({ bucket: 'nope', action: 'list' }), deps)).toThrow(expect.objectContaining({ code: 'UNKNOWN_RESOURCE', publicMessage: 'Unknown bucket "nope".' }));
    expect(() => readBucket.facts(readBucket.input.parse({ bucket: 'demo', action: 'list' }), NO_DEPS)).toThrow(expect.objectContaining({ code: 'UNKNOWN_RESOURCE' }));
  });
});
