/**
 * Log filter parser scaling (issue 21): the time to parse (or refuse) adversarial filters of 2,500 and
 * 20,000 characters (the parser's limit), and their ratio. The input grows 8×: a linear parser stays near
 * 8×, a quadratic one near 64×. `BENCH_ONLY=log-filter` runs this table alone (no PostgreSQL). The families
 * are exported for the fuzz test, which checks that each one at the limit parses or is refused with a
 * LogFilterError (no timings there).
 */
import { parseLogFilter } from '../src/policy/log-filter.js';

/** Filters of `n` characters or a few less (`n` even) that stress one part of the parser each. */
export const LOG_FILTER_FAMILIES: Readonly<Record<string, (n: number) => string>> = {
  'unterminated string': (n) => `"${'a'.repeat(n - 1)}`,
  'escaped backslashes': (n) => `"${'\\\\'.repeat(n / 2 - 1)}"`,
  'unicode escapes': (n) => `"${'\\u00e9'.repeat(Math.floor(n / 6) - 1)}"`,
  'bare words': (n) => 'a '.repeat(n / 2),
  'one long word': (n) => 'x'.repeat(n),
  'one long number': (n) => '1'.repeat(n),
  'one long field path': (n) => `jsonPayload.${'x'.repeat(n - 14)}=1`,
  'dotted path': (n) => `${'a.'.repeat(n / 2 - 2)}a=1`,
  'NOT chain': (n) => `${'NOT '.repeat(n / 4 - 1)}a`,
  'minus chain': (n) => `${'-'.repeat(n - 1)}a`,
  'open parentheses': (n) => '('.repeat(n),
  'value OR list': (n) => `a=(${'1 OR '.repeat(n / 5 - 2)}1)`,
  'comparisons': (n) => 'a=1 '.repeat(n / 4),
  'lines then a fault': (n) => `${'a\n'.repeat(n / 2 - 1)}(`,
  'function arguments': (n) => `sample(${'a,'.repeat(n / 2 - 5)})`,
};

/** Mean milliseconds to parse `text` once, over `rounds` parses. */
function timeParse(text: string, rounds: number): number {
  const started = performance.now();
  for (let i = 0; i < rounds; i++) {
    try {
      parseLogFilter(text);
    } catch {
      // Refused input costs the same walk: it is what is measured.
    }
  }
  return (performance.now() - started) / rounds;
}

export function logFilterBench(): string[] {
  const rounds = 200;
  const lines = [
    `log filter parser: each family at 2,500 and 20,000 characters (8× the input), mean of ${rounds} parses after a warm-up`,
    '',
    '| family | 2,500 chars | 20,000 chars | ratio |',
    '|---|---|---|---|',
  ];
  for (const [name, family] of Object.entries(LOG_FILTER_FAMILIES)) {
    const short = family(2_500);
    const long = family(20_000);
    timeParse(short, rounds);
    timeParse(long, rounds);
    const a = timeParse(short, rounds);
    const b = timeParse(long, rounds);
    lines.push(`| ${name} | ${a.toFixed(3)} ms | ${b.toFixed(3)} ms | ${(b / a).toFixed(1)}× |`);
  }
  return lines;
}
