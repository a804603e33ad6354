/**
 * Argument checking for every command, before any implementation is loaded: unknown options and
 * commands are refused with the nearest valid spelling and a pointer to `--help`.
 */
import { parseArgs } from 'node:util';
import type { CommandSpec, Options, OptionValues } from './commands.js';
import { UsageError } from '../usage-error.js';

/** Levenshtein distance (small strings only: option and command names). */
function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** The candidate closest to `word`, if it is close enough to be what was meant. */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  const bare = (s: string): string => s.replace(/^-+/, '').toLowerCase();
  const w = bare(word);
  let best: { candidate: string; d: number } | undefined;
  for (const candidate of candidates) {
    const c = bare(candidate);
    const d = c.startsWith(w) || w.startsWith(c) ? Math.min(1, distance(w, c)) : distance(w, c);
    if (best === undefined || d < best.d) best = { candidate, d };
  }
  if (best === undefined || w === '') return undefined;
  return best.d <= Math.max(2, Math.floor(w.length / 3)) ? best.candidate : undefined;
}

/** True when the arguments ask for help (`--help` or `-h` before any `--`). */
export function wantsHelp(args: readonly string[]): boolean {
  for (const arg of args) {
    if (arg === '--') return false;
    if (arg === '--help' || arg === '-h') return true;
  }
  return false;
}

/** The spellings of a command's options, for suggestions: `--name` and `-s`. */
function spellings(spec: CommandSpec<Options>): string[] {
  return Object.entries(spec.options).flatMap(([name, o]) => [`--${name}`, ...(o.short === undefined ? [] : [`-${o.short}`])]);
}

/** A command's arguments, parsed by its own option table. */
export interface Parsed<O extends Options = Options> {
  readonly values: OptionValues<O>;
  readonly positionals: string[];
}

/** Parses a command's arguments strictly, turning every mistake into a `UsageError` that says what was wrong. */
export function parseCommand<O extends Options>(spec: CommandSpec<O>, args: readonly string[]): Parsed<O> {
  let parsed: Parsed<O>;
  try {
    parsed = parseArgs({ args: [...args], options: spec.options, strict: true, allowPositionals: true });
  } catch (error) {
    const code = (error as { code?: string }).code;
    const message = error instanceof Error ? error.message : String(error);
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const option = /'([^']+)'/.exec(message)?.[1] ?? message;
      const known = spellings(spec);
      const suggestion = nearest(option.split('=')[0] ?? option, known);
      const hint = suggestion !== undefined ? ` (did you mean ${suggestion}?)` : known.length === 0 ? ' (it takes no options)' : '';
      throw new UsageError(`unknown option ${option} for "airlock ${spec.name}"${hint}`, spec.name);
    }
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const option = /^Option '([^']+?)(?: <value>)?'/.exec(message)?.[1]?.split(', ')[0] ?? '';
      if (message.includes('argument missing')) throw new UsageError(`${option} needs a value`, spec.name);
      if (message.includes('ambiguous')) throw new UsageError(`${option} needs a value (to give one that starts with "-", write ${option}=VALUE)`, spec.name);
      throw new UsageError(`${option} takes no value`, spec.name);
    }
    throw error;
  }
  const { min, max, label } = spec.positionals;
  if (parsed.positionals.length > max) {
    const extra = parsed.positionals[max] ?? '';
    throw new UsageError(`unexpected argument "${extra}"${max === 0 ? ` ("airlock ${spec.name}" takes only options)` : ''}`, spec.name);
  }
  if (parsed.positionals.length < min) throw new UsageError(`missing ${label}`, spec.name);
  return parsed;
}
