import { describe, expect, it } from 'vitest';
import {
  composeLogFilter,
  LOG_FILTER_LIMITS,
  LogFilterError,
  LogTimeError,
  parseLogFilter,
  parseSince,
  printLogFilter,
  type LogFilter,
} from '../../src/policy/log-filter.js';

function roundTrip(text: string): string {
  const ast = parseLogFilter(text);
  const printed = printLogFilter(ast);
  expect(parseLogFilter(printed)).toEqual(ast);
  expect(printLogFilter(parseLogFilter(printed))).toBe(printed);
  return printed;
}

function parseError(text: string): LogFilterError {
  try {
    parseLogFilter(text);
  } catch (e) {
    if (e instanceof LogFilterError) return e;
    throw e;
  }
  throw new Error(`parsed: ${text}`);
}

describe('parseLogFilter and printLogFilter (issue 18)', () => {
  const canonical: [string, string][] = [
    ['resource.type = "gae_app"', 'resource.type="gae_app"'],
    ['resource.type = "gae_app" AND severity = ERROR', 'resource.type="gae_app" AND severity="ERROR"'],
    ['resource.type = "gae_app" OR resource.type = "gce_instance"', 'resource.type="gae_app" OR resource.type="gce_instance"'],
    ['resource.type = ("gae_app" OR "gce_instance")', 'resource.type=("gae_app" OR "gce_instance")'],
    ['resource.type = "gae_app" AND (severity = "ERROR" OR "error")', 'resource.type="gae_app" AND (severity="ERROR" OR "error")'],
    ['resource.type = "gce_instance" AND\nseverity >= "ERROR" AND\nNOT textPayload:robot', 'resource.type="gce_instance" AND severity>="ERROR" AND NOT textPayload:"robot"'],
    // Logging's precedence: OR binds tighter than AND.
    ['"a" OR NOT "b" AND NOT "c" OR "d"', '("a" OR NOT "b") AND (NOT "c" OR "d")'],
    ['a b c OR d', '"a" AND "b" AND ("c" OR "d")'],
    ['"The cat in the hat"', '"The cat in the hat"'],
    ['timeout', '"timeout"'],
    ['-severity=DEBUG', 'NOT severity="DEBUG"'],
    ['NOT NOT a', 'NOT NOT "a"'],
    ['-(a OR b)', 'NOT ("a" OR "b")'],
    ['labels."k8s-pod/app" = "web"', 'labels."k8s-pod/app"="web"'],
    ['labels."compute.googleapis.com/resource_name":"vm-1"', 'labels."compute.googleapis.com/resource_name":"vm-1"'],
    ['jsonPayload.user.id = 42', 'jsonPayload.user.id=42'],
    ['httpRequest.status >= 400 AND httpRequest.latency < 1.5', 'httpRequest.status>=400 AND httpRequest.latency<1.5'],
    ['jsonPayload.delta > -5', 'jsonPayload.delta>-5'],
    ['timestamp >= "2026-01-02T03:04:05Z" AND timestamp <= "2026-01-02T04:00:00Z"', 'timestamp>="2026-01-02T03:04:05Z" AND timestamp<="2026-01-02T04:00:00Z"'],
    ['jsonPayload.message =~ "^foo.*bar$"', 'jsonPayload.message=~"^foo.*bar$"'],
    ['textPayload !~ "health\\\\.check"', 'textPayload!~"health\\\\.check"'],
    ['jsonPayload.x:*', 'jsonPayload.x:*'],
    ['NOT operation.id:*', 'NOT operation.id:*'],
    ['severity != INFO', 'severity!="INFO"'],
    ['resource.labels.zone = us-central1-a', 'resource.labels.zone="us-central1-a"'],
    ['sample(insertId, 0.25)', 'sample(insertId, 0.25)'],
    ['ip_in_net(jsonPayload.realClientIP, "10.1.2.0/24")', 'ip_in_net(jsonPayload.realClientIP, "10.1.2.0/24")'],
    ['log_id("cloudaudit.googleapis.com/activity")', 'log_id("cloudaudit.googleapis.com/activity")'],
    ['SEARCH("hello world")', 'SEARCH("hello world")'],
    ['search(textPayload, "hello")', 'SEARCH(textPayload, "hello")'],
    ['cast(timestamp, STRING, TIMEZONE("America/New_York")) =~ "^2023-01-02.*"', 'cast(timestamp, STRING, TIMEZONE("America/New_York"))=~"^2023-01-02.*"'],
    ['regex_extract(jsonPayload.msg, "id=(\\\\d+)") = "7"', 'regex_extract(jsonPayload.msg, "id=(\\\\d+)")="7"'],
    ['severity>=ERROR -- only errors\nresource.type="k8s_container" -- and containers', 'severity>="ERROR" AND resource.type="k8s_container"'],
    ['"say \\"hi\\"\\n\\ttab\\u00e9"', '"say \\"hi\\"\\n\\ttab\u00e9"'],
    ['jsonPayload.tags:(prod AND NOT canary)', 'jsonPayload.tags:("prod" AND NOT "canary")'],
    ['(a AND b) AND c', '("a" AND "b") AND "c"'],
    ['and or not', '"and" AND "or" AND "not"'],
    ['10.0.0.1', '"10.0.0.1"'],
    ['404', '404'],
    ['AND.x = 1 NOTE', 'AND.x=1 AND "NOTE"'],
    ['-5', 'NOT 5'],
  ];
  it.each(canonical)('prints %j as %j and re-parses to the same tree', (text, printed) => {
    expect(roundTrip(text)).toBe(printed);
  });

  it('builds the tree with Logging precedence (NOT, then OR, then AND)', () => {
    expect(parseLogFilter('"a" OR NOT "b" AND NOT "c" OR "d"')).toEqual({
      kind: 'and',
      items: [
        { kind: 'or', items: [{ kind: 'global', value: { kind: 'string', text: 'a' } }, { kind: 'not', item: { kind: 'global', value: { kind: 'string', text: 'b' } } }] },
        { kind: 'or', items: [{ kind: 'not', item: { kind: 'global', value: { kind: 'string', text: 'c' } } }, { kind: 'global', value: { kind: 'string', text: 'd' } }] },
      ],
    });
    expect(parseLogFilter('labels."k8s-pod/app"="web"')).toEqual({
      kind: 'compare',
      left: { kind: 'field', path: ['labels', 'k8s-pod/app'] },
      op: '=',
      value: { kind: 'string', text: 'web' },
    });
  });

  const errors: [string, string, number, string][] = [
    ['x) OR (true', 'unexpected ")" at line 1, column 2', 1, 'x) OR (true\n ^'],
    ['a AND', 'expected a term after "AND", found end of filter at line 1, column 6', 5, 'a AND\n     ^'],
    ['a OR )', 'expected a term after "OR", found ")" at line 1, column 6', 5, 'a OR )\n     ^'],
    ['severity = ', 'expected a value after "=", found end of filter at line 1, column 12', 11, 'severity = \n           ^'],
    ['severity >= AND x', 'expected a value after ">=", found "AND" at line 1, column 13', 12, 'severity >= AND x\n            ^'],
    ['a AND\n  "unterminated', 'unterminated string at line 2, column 3', 8, '  "unterminated\n  ^'],
    ['(a OR b', 'expected ")" to close "(" at line 1, column 1, found end of filter at line 1, column 8', 7, '(a OR b\n       ^'],
    ['()', 'empty parentheses at line 1, column 2', 1, '()\n ^'],
    ['foo(1)', 'unknown function "foo" (known: log_id, sample, ip_in_net, SEARCH, cast, regex_extract) at line 1, column 1', 0, 'foo(1)\n^'],
    ['sample(insertId, 2)', 'function "sample" takes a field and a fraction in (0, 1]: sample(insertId, 0.25) at line 1, column 1', 0, 'sample(insertId, 2)\n^'],
    ['log_id("a") = "b"', 'function "log_id" is a whole restriction and cannot be compared at line 1, column 13', 12, 'log_id("a") = "b"\n            ^'],
    ['labels.k8s-pod/app = web', 'invalid field path "labels.k8s-pod/app": quote segments with other characters than letters, digits and "_", as in labels."k8s-pod/app" at line 1, column 1', 0, 'labels.k8s-pod/app = web\n^'],
    ['x = "a\\qb"', 'invalid escape "\\q" in string (use \\\\ for a backslash) at line 1, column 7', 6, 'x = "a\\qb"\n      ^'],
    ['x = "\\u0000"', 'escape "\\u0000" is not allowed at line 1, column 6', 5, 'x = "\\u0000"\n     ^'],
    ['x = *', '"*" is only allowed in field:*, not after "=" at line 1, column 4', 3, 'x = *\n   ^'],
    ['*', '"*" is only allowed in field:* at line 1, column 1', 0, '*\n^'],
    ['a\u0000b', 'control character U+0000 is not allowed at line 1, column 2', 1, 'a?b\n ^'],
    ['a\u001bb', 'control character U+001B is not allowed at line 1, column 2', 1, 'a?b\n ^'],
    ['a \u202e b', 'bidirectional control character U+202E is not allowed at line 1, column 3', 2, 'a \u202e b\n  ^'],
    ['a \ud800 b', 'invalid Unicode (lone surrogate) at line 1, column 3', 2, 'a \ud800 b\n  ^'],
    ['   \n -- only a comment', 'filter is empty at line 2, column 19', 22, ' -- only a comment\n                  ^'],
    ['-- a comment swallows the rest: ) OR (true', 'filter is empty at line 1, column 43', 42, '-- a comment swallows the rest: ) OR (true\n                                          ^'],
    ['- x', 'unexpected "-" at line 1, column 1', 0, '- x\n^'],
    ['a AND OR b', 'unexpected "OR" at line 1, column 7', 6, 'a AND OR b\n      ^'],
    ['a = b = c', 'unexpected "=" at line 1, column 7', 6, 'a = b = c\n      ^'],
    ['"quoted" = x', 'unexpected "=" at line 1, column 10', 9, '"quoted" = x\n         ^'],
    ['cast(timestamp, STRING)', 'expected a comparison operator after cast(…), found end of filter at line 1, column 24', 23, 'cast(timestamp, STRING)\n                       ^'],
    ['labels."a b" c', 'expected a comparison operator after field path, found "c" at line 1, column 14', 13, 'labels."a b" c\n             ^'],
  ];
  it.each(errors)('rejects %j with the message, position and snippet', (text, message, position, snippet) => {
    const e = parseError(text);
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('LogFilterError');
    expect(e.message).toBe(message);
    expect(e.position).toBe(position);
    expect(`${e.line}:${e.column}`).toBe(/at line (\d+), column (\d+)$/.exec(message)?.slice(1).join(':'));
    expect(e.snippet).toBe(snippet);
  });

  it('clips the snippet of a long line around the spot', () => {
    const text = `${'a '.repeat(100)})`;
    const e = parseError(text);
    expect(e.message).toBe('unexpected ")" at line 1, column 201');
    const [line, caret] = e.snippet.split('\n');
    expect(line?.startsWith('…')).toBe(true);
    expect(line?.charAt(caret?.indexOf('^') ?? -1)).toBe(')');
  });

  it('enforces the length, depth and term bounds', () => {
    expect(LOG_FILTER_LIMITS).toEqual({ maxLength: 20_000, maxDepth: 64, maxTerms: 1_000 });
    expect(parseError('a'.repeat(20_001)).message).toBe('filter is longer than 20000 characters at line 1, column 20001');
    expect(() => parseLogFilter('a'.repeat(20_000))).not.toThrow();
    expect(roundTrip(`${'('.repeat(64)}a${')'.repeat(64)}`)).toBe('"a"');
    expect(parseError(`${'('.repeat(65)}a${')'.repeat(65)}`).message).toBe('filter nests deeper than 64 levels at line 1, column 65');
    expect(parseError(`${'NOT '.repeat(65)}a`).message).toBe('filter nests deeper than 64 levels at line 1, column 257');
    // `--` starts a comment, so the `-` chain alternates with NOT.
    expect(parseError(`${'-NOT '.repeat(33)}a`).message).toBe('filter nests deeper than 64 levels at line 1, column 161');
    expect(parseError(`x=${'('.repeat(65)}a${')'.repeat(65)}`).message).toBe('filter nests deeper than 64 levels at line 1, column 67');
    const terms = (n: number) => Array.from({ length: n }, (_, i) => `t${i}`).join(' ');
    expect(parseLogFilter(terms(1_000))).toMatchObject({ kind: 'and', items: expect.any(Array) as unknown });
    expect(printLogFilter(parseLogFilter(terms(1_000))).split(' AND ')).toHaveLength(1_000);
    expect(parseError(terms(1_001)).message).toBe('filter has more than 1000 terms at line 1, column 4891');
  });

  it('prints hand-built trees safely and refuses trees no parse could produce', () => {
    const hostile: LogFilter = {
      kind: 'and',
      items: [
        { kind: 'compare', left: { kind: 'field', path: ['labels', ') OR (true', 'a"b\\'] }, op: '=', value: { kind: 'string', text: '") OR ("x' } },
        { kind: 'global', value: { kind: 'string', text: 'line\n-- comment )\u2028\u202e' } },
      ],
    };
    expect(printLogFilter({ kind: 'global', value: { kind: 'number', text: '-5' } })).toBe('"-5"');
    const printed = printLogFilter(hostile);
    expect(printed).toBe('labels.") OR (true"."a\\"b\\\\"="\\") OR (\\"x" AND "line\\n-- comment )\\u2028\\u202E"');
    expect(parseLogFilter(printed)).toEqual(hostile);
    const bad: [unknown, string][] = [
      [{ kind: 'and', items: [] }, 'printLogFilter: empty AND'],
      [{ kind: 'compare', left: { kind: 'field', path: ['a'] }, op: ') OR (', value: { kind: 'any' } }, 'printLogFilter: unknown operator ") OR ("'],
      [{ kind: 'global', value: { kind: 'number', text: '1) OR (1' } }, 'printLogFilter: not a number: "1) OR (1"'],
      [{ kind: 'compare', left: { kind: 'field', path: ['a b'] }, op: '=', value: { kind: 'any' } }, 'printLogFilter: bad field path ["a b"]'],
      [{ kind: 'compare', left: { kind: 'field', path: ['OR'] }, op: '=', value: { kind: 'any' } }, 'printLogFilter: bad field path ["OR"]'],
      [{ kind: 'call', name: 'evil', args: [] }, 'printLogFilter: unknown function "evil"'],
      [{ kind: 'raw', text: 'true' }, 'printLogFilter: unknown node "raw"'],
    ];
    for (const [tree, message] of bad) expect(() => printLogFilter(tree as LogFilter)).toThrow(new TypeError(message));
  });
});

describe('composeLogFilter (issue 18)', () => {
  const since = new Date('2026-03-01T10:00:00.000Z');
  const until = new Date('2026-03-01T11:00:00.000Z');

  it('puts every part in its own parentheses, log names URL-encoded, then the time window', () => {
    const composed = composeLogFilter({
      forced: ['resource.type="k8s_container" OR resource.type="gce_instance"', parseLogFilter('severity>=INFO')],
      logNames: { project: 'demo-project', names: ['app', 'cloudaudit.googleapis.com/activity'] },
      agent: parseLogFilter('jsonPayload.user="ana" timeout'),
      since,
      until,
    });
    expect(composed).toBe(
      '(resource.type="k8s_container" OR resource.type="gce_instance") AND (severity>="INFO") AND ' +
        '(logName="projects/demo-project/logs/app" OR logName="projects/demo-project/logs/cloudaudit.googleapis.com%2Factivity") AND ' +
        '(jsonPayload.user="ana" AND "timeout") AND timestamp>="2026-03-01T10:00:00.000Z" AND timestamp<"2026-03-01T11:00:00.000Z"',
    );
    expect(composeLogFilter({ forced: [], since, until })).toBe('timestamp>="2026-03-01T10:00:00.000Z" AND timestamp<"2026-03-01T11:00:00.000Z"');
    expect(composeLogFilter({ forced: [], logNames: { project: 'demo-project', names: [] }, since, until })).toBe(
      'timestamp>="2026-03-01T10:00:00.000Z" AND timestamp<"2026-03-01T11:00:00.000Z"',
    );
  });

  it('refuses bad wiring with a TypeError and a bad forced filter with a LogFilterError', () => {
    expect(() => composeLogFilter({ forced: [], since: until, until: since })).toThrow(new TypeError('composeLogFilter: since must be before until'));
    expect(() => composeLogFilter({ forced: [], since: new Date(Number.NaN), until })).toThrow(new TypeError('composeLogFilter: since and until must be valid Dates'));
    expect(() => composeLogFilter({ forced: [], logNames: { project: 'p") OR ("', names: ['a'] }, since, until })).toThrow(TypeError);
    for (const name of ['../other', 'a/../../b', 'x" OR "', '%2F', '']) {
      expect(() => composeLogFilter({ forced: [], logNames: { project: 'demo-project', names: [name] }, since, until })).toThrow(TypeError);
    }
    expect(() => composeLogFilter({ forced: ['severity>='], since, until })).toThrow(LogFilterError);
  });

  // Hostile agent input, generated from fragments that have broken naive composers: closing the group,
  // commenting out the rest, unterminated strings, newlines, keywords glued to words, control characters.
  const fragments = [
    ')', '(', ' OR ', ' AND ', 'NOT ', '-', '--', '"', '\\', '\\"', '\n', '\r\n', ' ', 'true', 'x', '*', ',', ':', '=', '!=', '=~',
    'severity>=ERROR', 'logName="projects/other/logs/x"', 'timestamp>="1970-01-01T00:00:00Z"', ':*', 'sample(', 'insertId', '0.5', 'log_id("x")',
    '\u0000', '\u202e', 'OR', 'AND', '"a) OR (b"', '-- )', 'labels."k"', '.', 'resource.type', '\t',
  ];
  function* hostile(count: number): Generator<string> {
    let seed = 18;
    const next = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed;
    };
    for (let i = 0; i < count; i++) {
      const n = 1 + (next() % 8);
      let s = '';
      for (let j = 0; j < n; j++) s += fragments[next() % fragments.length];
      yield s;
    }
    const chars = '()"\\-=!<>:~*,. \n\tANDORTxyz0.5';
    for (let i = 0; i < count; i++) {
      const n = 1 + (next() % 24);
      let s = '';
      for (let j = 0; j < n; j++) s += chars.charAt(next() % chars.length);
      yield s;
    }
    yield* ['AND.x = 1', 'sample(AND.x, 0.5)', 'x = -5', 'NOT.y:*', 'x) OR (true', 'x) OR (true -- ', 'true) OR (x', '") OR ("', 'a -- )\n OR true', 'a\n) OR (\ntrue', '"unterminated ) OR (true', 'x") OR ("y'];
  }

  it('never widens the scope: each hostile filter is refused, or stays one parenthesised group of the same tree', () => {
    const forced = parseLogFilter('resource.type="k8s_container"');
    let accepted = 0;
    let refused = 0;
    for (const text of hostile(3_000)) {
      let agent: LogFilter;
      try {
        agent = parseLogFilter(text);
      } catch (e) {
        expect(e, text).toBeInstanceOf(LogFilterError);
        refused++;
        continue;
      }
      accepted++;
      const printed = printLogFilter(agent);
      expect(parseLogFilter(printed), text).toEqual(agent);
      const composed = composeLogFilter({ forced: [forced], logNames: { project: 'demo-project', names: ['app'] }, agent, since, until });
      expect(composed).toContain(`) AND (${printed}) AND timestamp>=`);
      // The composed text parses to exactly five conjuncts: policy, log names, the agent's tree, the window.
      expect(parseLogFilter(composed), text).toEqual({
        kind: 'and',
        items: [
          forced,
          { kind: 'compare', left: { kind: 'field', path: ['logName'] }, op: '=', value: { kind: 'string', text: 'projects/demo-project/logs/app' } },
          agent,
          { kind: 'compare', left: { kind: 'field', path: ['timestamp'] }, op: '>=', value: { kind: 'string', text: since.toISOString() } },
          { kind: 'compare', left: { kind: 'field', path: ['timestamp'] }, op: '<', value: { kind: 'string', text: until.toISOString() } },
        ],
      });
    }
    // The generator must exercise both sides, or the loop proves nothing.
    expect(accepted).toBeGreaterThan(300);
    expect(refused).toBeGreaterThan(300);
  });
});

describe('parseSince (issue 18)', () => {
  const now = new Date('2026-03-01T12:00:00.000Z');
  it.each([
    ['15m', '2026-03-01T11:45:00.000Z'],
    ['2h', '2026-03-01T10:00:00.000Z'],
    ['1d', '2026-02-28T12:00:00.000Z'],
    ['90s', '2026-03-01T11:58:30.000Z'],
    ['0m', '2026-03-01T12:00:00.000Z'],
    ['2026-02-28T23:59:59Z', '2026-02-28T23:59:59.000Z'],
    ['2026-02-28t23:59:59.123456789z', '2026-02-28T23:59:59.123Z'],
    ['2026-03-01T08:00:00+02:00', '2026-03-01T06:00:00.000Z'],
  ])('reads %j', (text, iso) => {
    expect(parseSince(text, now).toISOString()).toBe(iso);
  });

  it.each(['', '15', 'm', '15 m', '-5m', '1w', '1.5h', '9999999999d', '999999999d', '2026-02-30T00:00:00Z', '2026-03-01', '2026-03-01T25:00:00Z', 'yesterday'])(
    'refuses %j with a message naming the accepted forms',
    (text) => {
      expect(() => parseSince(text, now)).toThrow(
        new LogTimeError(`since must be a duration such as "15m", "2h", "1d" or "90s", or an RFC 3339 time such as "2026-01-02T03:04:05Z"; got ${JSON.stringify(text)}`),
      );
    },
  );

  it('names the field it reads', () => {
    expect(() => parseSince('soon', now, 'until')).toThrow(/^until must be a duration/);
  });
});
