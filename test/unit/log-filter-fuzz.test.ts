/**
 * Fuzzing the Logging filter parser (issue 21): any string parses or is refused with a LogFilterError that
 * points inside the text; what parses prints to a canonical text that parses back to the same tree and
 * means the same on entries; and a composed upstream filter only ever narrows: an entry it matches is
 * matched by every forced filter and by the agent's own. Timings are for bench/log-filter.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LOG_FILTER_FAMILIES } from '../../bench/log-filter.js';
import { matchesLogFilter } from '../../src/policy/log-filter-match.js';
import { composeLogFilter, LOG_FILTER_LIMITS, LogFilterError, parseLogFilter, printLogFilter, type LogFilter } from '../../src/policy/log-filter.js';
import { fuzzParameters } from '../support/fuzz.js';

/** Parses `text`: the tree, or the LogFilterError (any other throw fails the test). */
function parse(text: string): LogFilter | LogFilterError {
  try {
    return parseLogFilter(text);
  } catch (error) {
    if (error instanceof LogFilterError) return error;
    throw error;
  }
}

/** An error that points at a real place in `text` and echoes no raw control character. */
function expectPlaced(error: LogFilterError, text: string): void {
  expect(error.position).toBeGreaterThanOrEqual(0);
  expect(error.position).toBeLessThanOrEqual(text.length);
  expect(error.message).toBe(`${error.reason} at line ${error.line}, column ${error.column}`);
  expect(error.line).toBe(text.slice(0, error.position).split('\n').length);
  const [shown, caret] = error.snippet.split('\n');
  expect(shown).not.toMatch(/[\p{Cc}]/u);
  expect(caret).toMatch(/^ *\^$/);
}

const FIELDS = ['severity', 'resource.type', 'jsonPayload.user', 'jsonPayload.n', 'textPayload', 'labels."k8s-pod/app"', 'logName', 'insertId'];
const WORDS = ['ERROR', 'INFO', 'WARNING', '"cloud_run_revision"', '"web"', 'bob', '"a b"', '42', '-1.5', '7', '"x\\"y"', '"é"', 'timeout'];
const OPS = ['=', '!=', '>', '<', '>=', '<=', ':', '=~', '!~'];

/** Filters from the language's own pieces: mostly valid, often nearly so. */
const filterText: fc.Arbitrary<string> = fc.letrec<{ expr: string; term: string }>((tie) => ({
  term: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.tuple(fc.constantFrom(...FIELDS), fc.constantFrom(...OPS), fc.constantFrom(...WORDS, '*', '"ab.*"')).map(([f, o, v]) => `${f}${o}${v}`),
    fc.constantFrom(...WORDS),
    fc.constantFrom('sample(insertId, 0.5)', 'log_id("app")', 'ip_in_net(jsonPayload.ip, "10.0.0.0/8")', 'SEARCH("timeout")'),
    tie('term').map((t) => `NOT ${t}`),
    tie('term').map((t) => `-${t}`),
    tie('expr').map((e) => `(${e})`),
    fc.tuple(fc.constantFrom(...FIELDS), fc.constantFrom('=', ':'), fc.array(fc.constantFrom(...WORDS), { minLength: 1, maxLength: 3 })).map(([f, o, vs]) => `${f}${o}(${vs.join(' OR ')})`),
  ),
  expr: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    tie('term'),
    fc.tuple(tie('expr'), fc.constantFrom(' AND ', ' OR ', ' ', '\n', ' AND\n'), tie('expr')).map(([a, j, b]) => `${a}${j}${b}`),
  ),
})).expr;

/** The pieces with a character dropped, doubled or inserted: near misses of the grammar. */
const nearMiss: fc.Arbitrary<string> = fc
  .tuple(filterText, fc.nat(), fc.constantFrom('', '"', '(', ')', '\\', '=', '\u0000', '\u202e', '\ud800', ' AND', 'OR ', '-- c\n', '\t'))
  .map(([text, n, piece]) => {
    const at = text.length === 0 ? 0 : n % text.length;
    return text.slice(0, at) + piece + text.slice(at + (n % 2));
  });

const anyText: fc.Arbitrary<string> = fc.oneof(fc.string({ unit: 'binary', maxLength: 120 }), fc.string({ unit: 'grapheme', maxLength: 120 }), filterText, nearMiss);

/** Entries in the Logging REST shape, with values drawn from the same words as the filters. */
const entry: fc.Arbitrary<Record<string, unknown>> = fc.record({
  timestamp: fc.constant('2026-03-01T10:00:00Z'),
  insertId: fc.constantFrom('a-1', 'b-2'),
  logName: fc.constantFrom('projects/demo-project/logs/app', 'projects/demo-project/logs/requests'),
  severity: fc.constantFrom('INFO', 'WARNING', 'ERROR'),
  resource: fc.record({ type: fc.constantFrom('cloud_run_revision', 'gce_instance') }),
  labels: fc.record({ 'k8s-pod/app': fc.constantFrom('web', 'api') }),
  textPayload: fc.constantFrom('timeout after 42s', 'a b', 'bob', 'é'),
  jsonPayload: fc.record({ user: fc.constantFrom('bob', 'ana', '7'), n: fc.integer({ min: -2, max: 50 }), ip: fc.constantFrom('10.1.2.3', '192.168.1.1') }),
});

describe('parseLogFilter on fuzzed input (issue 21)', () => {
  it('parses any text or refuses it with a LogFilterError that points inside it', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        const out = parse(text);
        if (out instanceof LogFilterError) expectPlaced(out, text);
      }),
      fuzzParameters(3000),
    );
  });

  it('prints what it parses to a canonical text: the same tree back, a fixpoint, and the same matches', () => {
    let parsed = 0;
    fc.assert(
      fc.property(filterText, fc.array(entry, { maxLength: 4 }), (text, entries) => {
        const tree = parse(text);
        if (tree instanceof LogFilterError) return;
        parsed++;
        const printed = printLogFilter(tree);
        expect(parseLogFilter(printed), printed).toEqual(tree);
        expect(printLogFilter(parseLogFilter(printed))).toBe(printed);
        for (const e of entries) expect(matchesLogFilter(parseLogFilter(printed), e), printed).toBe(matchesLogFilter(tree, e));
      }),
      fuzzParameters(2000),
    );
    expect(parsed).toBeGreaterThan(0);
  });

  it('composes an upstream filter that only narrows: what it matches, every forced filter and the agent filter match', () => {
    const since = new Date('2026-03-01T09:00:00Z');
    const until = new Date('2026-03-01T11:00:00Z');
    let checked = 0;
    fc.assert(
      fc.property(fc.array(filterText, { minLength: 1, maxLength: 2 }), nearMiss, fc.array(entry, { minLength: 1, maxLength: 6 }), (forcedTexts, agentText, entries) => {
        const forced = forcedTexts.map(parse).filter((f): f is LogFilter => !(f instanceof LogFilterError));
        const agent = parse(agentText);
        if (forced.length === 0 || agent instanceof LogFilterError) return;
        const composed = parseLogFilter(composeLogFilter({ forced, agent, since, until }));
        for (const e of entries) {
          if (!matchesLogFilter(composed, e)) continue;
          checked++;
          for (const f of forced) expect(matchesLogFilter(f, e), printLogFilter(f)).toBe(true);
          expect(matchesLogFilter(agent, e), agentText).toBe(true);
        }
      }),
      fuzzParameters(2000),
    );
    // The property saw entries that the composed filter lets through (it is not vacuous).
    expect(checked).toBeGreaterThan(0);
  });

  it('parses or refuses every adversarial family of the bench at the length limit and just past it', () => {
    for (const [name, family] of Object.entries(LOG_FILTER_FAMILIES)) {
      // At the limit, the bench times the parser's walk, not the length check.
      expect(family(LOG_FILTER_LIMITS.maxLength).length, name).toBeLessThanOrEqual(LOG_FILTER_LIMITS.maxLength);
      expect(family(LOG_FILTER_LIMITS.maxLength).length, name).toBeGreaterThan(LOG_FILTER_LIMITS.maxLength - 16);
      for (const n of [LOG_FILTER_LIMITS.maxLength, LOG_FILTER_LIMITS.maxLength + 8]) {
        const text = family(n);
        const out = parse(text);
        if (out instanceof LogFilterError) expectPlaced(out, text);
        if (text.length > LOG_FILTER_LIMITS.maxLength) expect(out, name).toBeInstanceOf(LogFilterError);
      }
    }
  });
});
