import { describe, expect, it } from 'vitest';
import { objectGlobCovers, objectGlobLiteralPrefix, objectGlobMatch, objectGlobReaches } from '../../../src/policy/object-glob.js';

describe('object globs read as paths (issue 18)', () => {
  it.each<[string, string, boolean]>([
    ['app/**', 'app/x/y.log', true],
    ['app/**', 'app/', true],
    ['app/**', 'apps/x', false],
    ['app/**', 'app', false],
    ['exports/*.csv', 'exports/a.csv', true],
    ['exports/*.csv', 'exports/sub/a.csv', false],
    ['exports/*.csv', 'exports/a.csv.gz', false],
    ['**/*.csv', 'a.csv', true],
    ['**/*.csv', 'x/y/a.csv', true],
    ['app/**/secret.txt', 'app/secret.txt', true],
    ['app/**/secret.txt', 'app/a/b/secret.txt', true],
    ['app/**/secret.txt', 'app/xsecret.txt', false],
    ['a?c', 'abc', true],
    ['a?c', 'a/c', false],
    ['*', 'top.txt', true],
    ['*', 'dir/top.txt', false],
    ['**', 'any/thing/at/all', true],
    ['logs/2026-*.ndjson', 'logs/2026-12-01.ndjson', true],
  ])('%s matches %s: %s', (glob, name, expected) => {
    expect(objectGlobMatch(glob, name)).toBe(expected);
  });

  it.each<[string, string, boolean]>([
    ['app/**', '', true],
    ['app/**', 'ap', true],
    ['app/**', 'app/deep/', true],
    ['app/**', 'b', false],
    ['exports/*.csv', 'exports/x/', false],
    ['exports/*.csv', 'exports/', true],
    ['*', 'dir/', false],
  ])('a listing under %s may show names of %s: %s', (glob, prefix, expected) => {
    expect(objectGlobReaches(glob, prefix)).toBe(expected);
  });

  it.each<[string, string, boolean]>([
    ['app/**', 'app/', true],
    ['app/**', 'app/x/', true],
    ['app/**', '', false],
    ['app/**', 'app', false],
    ['**', '', true],
    ['app/**/x', 'app/', false],
    ['exports/*', 'exports/', false],
  ])('%s hides every name under %s: %s', (glob, prefix, expected) => {
    expect(objectGlobCovers(glob, prefix)).toBe(expected);
  });

  it('gives the literal start of a glob', () => {
    expect(objectGlobLiteralPrefix('exports/*.csv')).toBe('exports/');
    expect(objectGlobLiteralPrefix('app/**')).toBe('app/');
    expect(objectGlobLiteralPrefix('**')).toBe('');
    expect(objectGlobLiteralPrefix('config/app.json')).toBe('config/app.json');
  });
});
