/**
 * Fuzzing the policy loader (issue 21): whatever the text, parsePolicy returns a policy that the server can
 * use, or throws PolicyLoadError whose every problem names the file and a place in it; never another error,
 * and never a policy that breaks the first evaluation. Mutants of the example policy (one value changed to
 * another JSON type) must be refused at or next to the changed place, or else be usable.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { accessFor } from '../../../src/policy/access.js';
import { formatPath, parsePolicy, PolicyLoadError, type Policy } from '../../../src/policy/load.js';
import { ALL_TOOLS } from '../../../tools/index.js';
import { EXAMPLE_POLICY } from '../../support/airlock.js';
import { fuzzParameters } from '../../support/fuzz.js';

const TOOL_NAMES = ALL_TOOLS.map((t) => t.name);
const EXAMPLE = JSON.parse(readFileSync(EXAMPLE_POLICY, 'utf8')) as unknown;
const CALLERS = [
  { issuer: 'https://idp', sub: 'ana', email: 'ana@example.com', groups: ['analysts'], clientId: undefined, verified: true },
  { issuer: 'https://idp', sub: 'dora', email: 'dora@example.com', groups: ['dba', 'dpo'], clientId: undefined, verified: true },
  { issuer: 'https://idp', sub: 'nobody', email: undefined, groups: [], clientId: undefined, verified: false },
];

/** Loads `text`: the policy, or the problems of the PolicyLoadError (any other throw fails the test). */
function load(text: string): { policy: Policy } | { problems: readonly string[] } {
  try {
    return { policy: parsePolicy(text, '/etc/airlock/policies.json', TOOL_NAMES) };
  } catch (error) {
    if (error instanceof PolicyLoadError) return { problems: error.problems };
    throw error;
  }
}

/** An accepted policy must serve: every caller's view of every resource is evaluated without a throw. */
function expectUsable(policy: Policy): void {
  for (const caller of CALLERS) expect(Array.isArray(accessFor(policy, caller))).toBe(true);
}

/** Each problem starts with the file name, then a path or a line and column. */
function expectPlaced(problems: readonly string[]): void {
  expect(problems.length).toBeGreaterThan(0);
  for (const p of problems) expect(p).toMatch(/^policies\.json(?::\d+:\d+: |: \S)/);
}

/** Every path to a value inside `value` (objects and arrays walked). */
function pathsOf(value: unknown, at: (string | number)[] = []): (string | number)[][] {
  const here = [at];
  if (Array.isArray(value)) return here.concat(value.flatMap((v, i) => pathsOf(v, [...at, i])));
  if (value !== null && typeof value === 'object') return here.concat(Object.entries(value).flatMap(([k, v]) => pathsOf(v, [...at, k])));
  return here;
}

const PATHS = pathsOf(EXAMPLE).filter((p) => p.length > 0);

function kind(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
}

/** The example with the value at `path` replaced. */
function replaced(path: readonly (string | number)[], value: unknown): unknown {
  const copy = structuredClone(EXAMPLE) as Record<string | number, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  node[path[path.length - 1] as string | number] = value;
  return copy;
}

describe('parsePolicy on fuzzed input (issue 21)', () => {
  it('throws only PolicyLoadError with placed problems, or returns a usable policy, for any text', () => {
    const text = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 300 }),
      fc.jsonValue({ maxDepth: 5 }).map((v) => JSON.stringify(v)),
      // Example text cut anywhere, or with one character changed.
      fc.nat().map((n) => JSON.stringify(EXAMPLE).slice(0, n % JSON.stringify(EXAMPLE).length)),
      fc.tuple(fc.nat(), fc.constantFrom('"', '{', '}', '[', ']', ',', ':', '\\', '\u0000', '\ufeff', 'x')).map(([n, c]) => {
        const t = JSON.stringify(EXAMPLE, null, 2);
        const at = n % t.length;
        return t.slice(0, at) + c + t.slice(at + 1);
      }),
    );
    fc.assert(
      fc.property(text, (t) => {
        const out = load(t);
        if ('policy' in out) expectUsable(out.policy);
        else expectPlaced(out.problems);
      }),
      fuzzParameters(400),
    );
  });

  it('refuses a value of the wrong JSON type at or next to its place, or loads a usable policy', () => {
    const mutant = fc.tuple(fc.constantFrom(...PATHS), fc.jsonValue({ maxDepth: 3 })).filter(([path, value]) => {
      let node: unknown = EXAMPLE;
      for (const key of path) node = (node as Record<string | number, unknown>)[key];
      return kind(node) !== kind(value);
    });
    fc.assert(
      fc.property(mutant, ([path, value]) => {
        const out = load(JSON.stringify(replaced(path, value), null, 2));
        if ('policy' in out) {
          expectUsable(out.policy);
          return;
        }
        expectPlaced(out.problems);
        // The changed place, its parent or its grandparent (a union or record reports where it starts).
        const places = [path, path.slice(0, -1), path.slice(0, -2)].filter((p) => p.length > 0).map((p) => formatPath(p));
        const named = out.problems.some((p) => places.some((place) => p.startsWith(`policies.json: ${place}`)));
        expect(named, `${formatPath(path)} = ${JSON.stringify(value)}\n${out.problems.join('\n')}`).toBe(true);
      }),
      fuzzParameters(400),
    );
  });

  it('refuses an unknown key added to any object of the example, naming that object', () => {
    // Objects keyed by the author's own names (connections, buckets, scopes, labels) take new keys by design.
    const objects = [[] as (string | number)[], ...PATHS].filter((p) => {
      let node: unknown = EXAMPLE;
      for (const key of p) node = (node as Record<string | number, unknown>)[key];
      return kind(node) === 'object' && !['connections', 'buckets', 'logScopes'].includes(String(p[p.length - 1]));
    });
    fc.assert(
      fc.property(fc.constantFrom(...objects), fc.jsonValue({ maxDepth: 2 }), (path, value) => {
        const copy = structuredClone(EXAMPLE) as Record<string | number, unknown>;
        let node = copy;
        for (const key of path) node = node[key] as Record<string | number, unknown>;
        node.zzUnknownKey = value;
        const out = load(JSON.stringify(copy));
        expect('problems' in out, `${formatPath(path)}.zzUnknownKey accepted`).toBe(true);
        const problems = (out as { problems: readonly string[] }).problems;
        const place = path.length === 0 ? '(top level)' : formatPath(path);
        expect(problems, formatPath(path)).toContain(`policies.json: ${place}: unknown key "zzUnknownKey" (misspelled keys are rejected so they cannot widen access)`);
      }),
      fuzzParameters(200),
    );
  });
});
