import { describe, expect, it } from 'vitest';
import { AUDIT, SERVE, START, TOP, type CommandSpec } from '../../../src/cli/commands.js';

/** Every runnable command of the table, group subcommands included. */
const COMMANDS: readonly CommandSpec[] = TOP.flatMap((c) => ('commands' in c ? c.commands : [c]));

/** `--help` and `-h` are answered for every command before its options are parsed. */
const EVERYWHERE = new Set(['--help', '-h']);

/** The option spellings a usage text names: `--name` and `-x`, wherever they appear. */
function named(usage: string): string[] {
  const found = usage.match(/(?<![\w-])(?:--[a-z][a-z0-9-]*|-[a-zA-Z])(?![\w-])/g) ?? [];
  return [...new Set(found)].filter((f) => !EVERYWHERE.has(f)).sort();
}

/** The option spellings the option list of a usage text describes: lines like `  --follow, -f   keep printing…`. */
function listed(usage: string): string[] {
  return named(
    usage
      .split('\n')
      .map((line) => /^ {2}(-{1,2}[a-zA-Z][^ ,]*(?:, -{1,2}[a-zA-Z][^ ,]*)*)/.exec(line)?.[1] ?? '')
      .join('\n'),
  );
}

/**
 * The option spellings a command accepts: what its table gives `parseArgs`. A one-letter option whose short
 * form is itself (`n` of `audit tail`) is named by that short form: `parseArgs` takes `--n` as the same
 * option, and the help shows it as `-n N`.
 */
function accepted(spec: CommandSpec): string[] {
  return Object.entries(spec.options)
    .flatMap(([name, o]) => (o.short === name ? [`-${name}`] : [`--${name}`, ...(o.short === undefined ? [] : [`-${o.short}`])]))
    .sort();
}

/** The usage a command's help shows for its options: `start` refers to serve's ("those of airlock serve"). */
function helpOf(spec: CommandSpec): string {
  return spec === START ? `${START.usage}\n${SERVE.usage}` : spec.usage;
}

describe('the command table', () => {
  it('holds every audit subcommand, and more than the audit group (the checks below run on all of them)', () => {
    expect(AUDIT.commands.map((c) => c.name)).toEqual(['audit verify', 'audit tail', 'audit search', 'audit export', 'audit replay', 'audit reveal', 'audit view']);
    expect(COMMANDS.map((c) => c.name)).toEqual(expect.arrayContaining(['serve', 'start', 'mask', 'policy check', 'policy explain', 'policy test', 'audit verify']));
  });

  it.each(COMMANDS.map((c) => [c.name, c] as const))('"airlock %s --help" names exactly the options it accepts', (_name, spec) => {
    expect(named(helpOf(spec))).toEqual(accepted(spec));
    // …and describes each in its option list, not only in a usage line.
    expect(listed(helpOf(spec))).toEqual(accepted(spec));
  });

  it('"start" accepts what "serve" does, the options its help points to', () => {
    expect(accepted(START)).toEqual(accepted(SERVE));
    expect(START.usage).toContain('Options: those of "airlock serve" (airlock serve --help).');
  });

  it('the comparison sees an option missing from a help text and one the text names in excess (the check can fail)', () => {
    const verify = AUDIT.commands[0] as CommandSpec;
    const withExtraOption: CommandSpec = { ...verify, options: { ...verify.options, limit: { type: 'string' } } };
    expect(named(helpOf(withExtraOption))).not.toEqual(accepted(withExtraOption));
    const withExtraText: CommandSpec = { ...verify, usage: `${verify.usage}\n  --limit N         only the newest N` };
    expect(named(helpOf(withExtraText))).not.toEqual(accepted(withExtraText));
    const withShort: CommandSpec = { ...verify, options: { ...verify.options, json: { type: 'boolean', short: 'j' } } };
    expect(accepted(withShort)).toContain('-j');
    expect(named(helpOf(withShort))).not.toContain('-j');
    const inUsageLineOnly: CommandSpec = { ...withExtraOption, usage: withExtraOption.usage.replace('[--head HASH]', '[--head HASH] [--limit N]') };
    expect(named(helpOf(inUsageLineOnly))).toEqual(accepted(inUsageLineOnly));
    expect(listed(helpOf(inUsageLineOnly))).not.toEqual(accepted(inUsageLineOnly));
  });
});
