/**
 * The seeded randomness the masking bench's generators share: the same seed gives the same text on every
 * machine and run, so figures from two runs are over the same bytes.
 */

/** A source of numbers in [0, 1). */
export type Rand = () => number;

/** Deterministic pseudo-random numbers (mulberry32). */
export function rng(seed: number): Rand {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const HEX = '0123456789abcdef';
export const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
export const BASE64 = `${ALNUM}+/`;

/** An integer in [0, n). */
export const int = (r: Rand, n: number): number => Math.floor(r() * n);
export const pick = <T>(r: Rand, items: readonly T[]): T => items[int(r, items.length)] as T;
export const chars = (r: Rand, alphabet: string, n: number): string => {
  let out = '';
  for (let i = 0; i < n; i++) out += alphabet[int(r, alphabet.length)];
  return out;
};
export const uuid = (r: Rand): string => `${chars(r, HEX, 8)}-${chars(r, HEX, 4)}-4${chars(r, HEX, 3)}-${pick(r, ['8', '9', 'a', 'b'])}${chars(r, HEX, 3)}-${chars(r, HEX, 12)}`;

/** A generated log: its lines (flat strings, as a reader of a log file gets them) and size. */
export interface GeneratedLog {
  readonly lines: readonly string[];
  /** UTF-16 code units including one newline per line (all generated text is ASCII: also bytes). */
  readonly bytes: number;
}

/**
 * The lines as flat strings, as a reader of a file gets them: built by concatenation they are ropes, and
 * whichever engine touched one first would pay for flattening it.
 */
export function flatLines(lines: readonly string[]): string[] {
  return lines.join('\n').split('\n');
}

/** Lines joined back into one flat string (what a stream of the file carries). */
export function asFile(log: GeneratedLog): string {
  return log.lines.join('\n');
}
