/**
 * Operator-defined detectors from policy (`masking.custom`). A JavaScript regex can backtrack for longer
 * than any request may take, and V8 cannot interrupt a running one, so custom patterns run only on V8's
 * linear-time engine (flag `l`): patterns it cannot run (backreferences, lookarounds, large counted
 * repeats) are rejected when the policy loads. Linear per match is not linear overall (a pattern can
 * explore to the end of the text for each of many matches), so each string also has a time and match
 * budget; past it the call fails closed.
 */
import { setFlagsFromString } from 'node:v8';
import { luhnValid } from './cards.js';
import { entropy } from './entropy.js';
import { globMatchLinear } from './columns.js';

export interface CustomDetectorSpec {
  readonly name: string;
  readonly pattern: string;
  readonly flags?: string | undefined;
  readonly validate?: { readonly luhn?: boolean | undefined; readonly minEntropy?: number | undefined; readonly keyNames?: readonly string[] | undefined } | undefined;
  /** Secrets are always fully redacted; `false` lets the policy's style (e.g. hmac) apply. Default true. */
  readonly secret?: boolean | undefined;
}

export interface CustomFinding {
  readonly start: number;
  readonly end: number;
  readonly type: string;
}

/**
 * Flags an operator may give: the linear engine in Node 20's V8 takes `m` and `s` (not `i` or `u`:
 * write `[Aa]` for a letter in any case); `g`, `y` and `l` are airlock's to set.
 */
export const CUSTOM_FLAGS = /^(?:m|s|ms|sm)?$/;
/** Per string, for all custom detectors together. */
export const CUSTOM_BUDGET_MS = 250;
export const CUSTOM_MATCHES_PER_STRING = 10_000;
/** Per result (every value of one tool result together), so many slow values cannot add up. */
export const CUSTOM_RESULT_BUDGET_MS = 2_000;

/** V8's flag for its linear-time engine (not a standard flag, so linters do not know it). */
const LINEAR_FLAG = 'l';

let linear: boolean | undefined;

/** Whether V8's linear-time regex engine can be switched on in this process (Node 20+: yes). */
export function linearEngineAvailable(): boolean {
  if (linear === undefined) {
    try {
      // Only adds the `l` flag; regexes without it are untouched.
      setFlagsFromString('--enable-experimental-regexp-engine');
      linear = new RegExp('a', LINEAR_FLAG).flags.includes(LINEAR_FLAG);
    } catch {
      linear = false;
    }
  }
  return linear;
}

/**
 * Compiles a custom pattern for the linear engine. Throws an Error whose message says why a pattern
 * cannot be used (for the policy loader to report with the pattern's path).
 */
export function compileCustomPattern(pattern: string, flags = ''): RegExp {
  if (!CUSTOM_FLAGS.test(flags)) throw new Error(`flags "${flags}" are not allowed: use "m", "s" or both (the linear-time engine has no "i": write [Tt] for a letter in any case)`);
  if (!linearEngineAvailable()) throw new Error("this Node.js cannot run regular expressions in linear time (V8's --enable-experimental-regexp-engine), so custom detectors are refused");
  let re: RegExp;
  try {
    re = new RegExp(pattern, `${flags}g${LINEAR_FLAG}`);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    if (reason.includes('linear time')) {
      throw new Error('cannot run in linear time: backreferences, lookarounds and counted repeats above 16 are not supported (write X{16}X{16} for X{32}, or X+); custom patterns must not be able to hang the process', { cause: error });
    }
    // V8 says "Invalid regular expression: /source/flags: what is wrong"; the source is in the policy already.
    throw new Error(`is not a valid regular expression: ${reason.slice(reason.lastIndexOf(': ') + 2)}`, { cause: error });
  }
  re.lastIndex = 0;
  if (re.test('')) throw new Error('matches the empty string: every position of every value would be a finding');
  return re;
}

export class CustomDetector {
  readonly name: string;
  readonly secret: boolean;
  private readonly re: RegExp;
  private readonly spec: CustomDetectorSpec;

  constructor(spec: CustomDetectorSpec) {
    this.name = spec.name;
    this.secret = spec.secret ?? true;
    this.spec = spec;
    this.re = compileCustomPattern(spec.pattern, spec.flags);
  }

  /** Adds this detector's findings in `text` to `out`; `budget` is shared by all custom detectors for one string. */
  findIn(text: string, out: CustomFinding[], budget: { deadline: number; matches: number }): void {
    const re = this.re;
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      const start = m.index;
      const end = start + m[0].length;
      if (end === start) re.lastIndex = start + 1;
      if (--budget.matches < 0 || performance.now() > budget.deadline) {
        throw new Error(`custom detector ${this.name} exceeded its budget (${CUSTOM_MATCHES_PER_STRING} matches or ${CUSTOM_BUDGET_MS} ms per value, ${CUSTOM_RESULT_BUDGET_MS} ms per result); nothing was returned`);
      }
      if (end > start && this.valid(text, start, end)) out.push({ start, end, type: this.name });
    }
  }

  private valid(text: string, start: number, end: number): boolean {
    const v = this.spec.validate;
    if (v === undefined) return true;
    const value = text.slice(start, end);
    if (v.luhn === true && !luhnValid(value.replace(/\D/g, ''))) return false;
    if (v.minEntropy !== undefined && entropy(value) < v.minEntropy) return false;
    if (v.keyNames !== undefined && !keyBefore(text, start, v.keyNames)) return false;
    return true;
  }
}

/**
 * Whether the value at `start` sits under one of `names` (globs, any case): `name=`, `name: `,
 * `"name": "` just before it.
 */
function keyBefore(text: string, start: number, names: readonly string[]): boolean {
  let k = start - 1;
  const skip = (chars: string, max: number): void => {
    for (let n = 0; n < max && k >= 0 && chars.includes(text[k] ?? ''); n++) k--;
  };
  skip(' \t', 8);
  skip('"\'', 1);
  skip(' \t', 8);
  if (text[k] !== '=' && text[k] !== ':') return false;
  k--;
  skip(' \t', 8);
  skip('"\'', 1);
  const end = k + 1;
  while (k >= 0 && end - k <= 64 && /[A-Za-z0-9_.-]/.test(text[k] ?? '')) k--;
  const key = text.slice(k + 1, end).toLowerCase();
  return key !== '' && names.some((n) => globMatchLinear(n.toLowerCase(), key));
}
