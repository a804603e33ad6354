#!/usr/bin/env node
/**
 * The `airlock` command. This entry point checks arguments and answers `--help` and `--version` from
 * the command table alone; a command's implementation (the server, the cloud clients, the SQL parser)
 * is imported only when that command runs.
 */
import {
  AUDIT_EXPORT,
  AUDIT_REPLAY,
  AUDIT_REVEAL,
  AUDIT_SEARCH,
  AUDIT_TAIL,
  AUDIT_VERIFY,
  AUDIT_VIEW,
  MASK,
  SERVE,
  START,
  TOP,
  USAGE,
  type CommandSpec,
  type GroupSpec,
} from './cli/commands.js';
import type { AuditCommand } from './audit/command.js';
import { nearest, parseCommand, wantsHelp, type Parsed } from './cli/args.js';
import type { CliContext } from './cli/context.js';
import { describeFailure } from './cli/failure.js';
import { isClosedPipe } from './cli/pipe.js';
import { tuneServerHeap } from './cli/server-heap.js';
import { UsageError } from './usage-error.js';
import { defaultAuditDir } from './paths.js';
import { VERSION } from './version.js';

const ctx: CliContext = {
  env: { ...process.env },
  cwd: process.cwd(),
  script: process.argv[1] ?? '',
  out: (text) => void process.stdout.write(`${text}\n`),
  err: (text) => void process.stderr.write(`${text}\n`),
};

/** The group's subcommand named by `word`, or a usage error that suggests the nearest one. */
function subcommand(group: GroupSpec, word: string | undefined): CommandSpec {
  const names = group.commands.map((c) => c.name.slice(group.name.length + 1));
  const found = group.commands.find((c) => c.name === `${group.name} ${word ?? ''}`);
  if (found !== undefined) return found;
  if (word === undefined) throw new UsageError(`"airlock ${group.name}" needs a command: ${names.join(', ')}`, group.name);
  const suggestion = nearest(word, names);
  throw new UsageError(`unknown command "${group.name} ${word}"${suggestion === undefined ? ` (commands: ${names.join(', ')})` : ` (did you mean "${group.name} ${suggestion}"?)`}`, group.name);
}

/** The command (or group) a word names, `demo` being `start`; or a usage error that suggests the nearest one. */
function topCommand(word: string): CommandSpec | GroupSpec {
  const found = TOP.find((c) => c.name === word) ?? (word === 'demo' ? START : undefined);
  if (found !== undefined) return found;
  if (word.startsWith('-')) throw new UsageError(`unknown option ${word}${suggest(word, ['--help', '--version', '--debug'])}`);
  throw new UsageError(`unknown command "${word}"${suggest(word, [...TOP.map((c) => c.name), 'help'])}`);
}

function suggest(word: string, candidates: readonly string[]): string {
  const near = nearest(word, candidates);
  return near === undefined ? '' : ` (did you mean "${near}"?)`;
}

/** `airlock help [COMMAND [SUB]]`: the usage of what the words name. */
function help(words: readonly string[]): string {
  const [first, second] = words;
  if (first === undefined) return USAGE;
  const top = topCommand(first);
  if (!('commands' in top)) return top.usage;
  return second === undefined ? top.usage : subcommand(top, second).usage;
}

const str = (parsed: Parsed, name: string): string | undefined => {
  const value = parsed.values[name];
  return typeof value === 'string' ? value : undefined;
};

/** Runs one command line; resolves to the exit code. */
async function main(argv: readonly string[]): Promise<number> {
  const [word, ...rest] = argv;
  if (word === undefined || word === '--help' || word === '-h') return ctx.out(USAGE), 0;
  if (word === '--version' || word === '-v') return ctx.out(VERSION), 0;
  if (word === 'help') return ctx.out(help(rest)), 0;
  const top = topCommand(word);
  let spec: CommandSpec;
  let args: readonly string[];
  if ('commands' in top) {
    const [sub, ...subArgs] = rest;
    if (sub === undefined || sub === '--help' || sub === '-h') {
      if (sub === undefined) throw new UsageError(`"airlock ${top.name}" needs a command: ${top.commands.map((c) => c.name.slice(top.name.length + 1)).join(', ')}`, top.name);
      return ctx.out(top.usage), 0;
    }
    spec = subcommand(top, sub);
    args = subArgs;
  } else {
    spec = top;
    args = rest;
  }
  if (wantsHelp(args)) return ctx.out(spec.usage), 0;
  // Each command's arguments are parsed once, by its own table, before its implementation is loaded.
  switch (spec) {
    case SERVE:
    case START: {
      const { values } = parseCommand(spec === SERVE ? SERVE : START, args);
      const { runServe, runStart } = await import('./cli/serve.js');
      await (spec === SERVE ? runServe : runStart)(values, ctx);
      return 0;
    }
    case MASK: {
      const parsed = parseCommand(MASK, args);
      const { runMask } = await import('./cli/mask.js');
      return runMask(parsed.values, parsed.positionals[0], ctx);
    }
    case AUDIT_VERIFY:
      return audit({ name: 'verify', flags: parseCommand(AUDIT_VERIFY, args).values });
    case AUDIT_TAIL:
      return audit({ name: 'tail', flags: parseCommand(AUDIT_TAIL, args).values });
    case AUDIT_SEARCH:
      return audit({ name: 'search', flags: parseCommand(AUDIT_SEARCH, args).values });
    case AUDIT_EXPORT:
      return audit({ name: 'export', flags: parseCommand(AUDIT_EXPORT, args).values });
    case AUDIT_REPLAY:
      return audit({ name: 'replay', flags: parseCommand(AUDIT_REPLAY, args).values });
    case AUDIT_REVEAL: {
      const { values, positionals } = parseCommand(AUDIT_REVEAL, args);
      // The table takes exactly one positional (ID), so it is there.
      return audit({ name: 'reveal', flags: values, id: positionals[0] ?? '' });
    }
    case AUDIT_VIEW:
      return audit({ name: 'view', flags: parseCommand(AUDIT_VIEW, args).values });
    default:
      break;
  }
  const parsed = parseCommand(spec, args);
  if (spec.name === 'policy check') return (await import('./cli/policy-check.js')).runPolicyCheck(parsed.positionals[0] ?? '', ctx).then(() => 0);
  if (spec.name === 'policy explain') return (await import('./cli/policy.js')).runPolicyExplain({ policy: str(parsed, 'policy'), principal: str(parsed, 'principal'), tool: str(parsed, 'tool'), input: str(parsed, 'input') }, ctx).then(() => 0);
  if (spec.name.startsWith('approvals ')) return (await import('./cli/approvals.js')).runApprovals(spec.name.slice('approvals '.length), parsed.values, parsed.positionals[0], ctx);
  if (spec.name === 'policy test') return (await import('./cli/policy.js')).runPolicyTest({ policy: str(parsed, 'policy'), input: str(parsed, 'input') }, ctx);
  throw new Error(`no implementation for "${spec.name}"`);
}

/** Runs one `airlock audit` subcommand with the options its table parsed. */
async function audit(command: AuditCommand): Promise<number> {
  const { auditCommand } = await import('./audit/command.js');
  // The server's wiring (and the Google clients with it) loads only for the commands that read a runtime
  // config; reading a directory needs none of it.
  const main = async () => import('./main.js');
  return auditCommand(command, () => defaultAuditDir(ctx.env), {
    out: ctx.out,
    err: (t) => void process.stderr.write(t),
    progress: process.stderr.isTTY || (command.name === 'verify' && command.flags.progress === true),
    now: () => new Date(),
    keyring: async (path) => (await main()).complianceKeyring(path),
    tombstoneKey: async (path) => (await main()).retentionPublicKey(path),
    view: async (dir, host, port) => (await import('./console/audit-viewer.js')).serveAuditViewer({ dir, host, port, log: (message) => void process.stderr.write(`${message}\n`) }),
    pgAudit: async (path) => (await main()).pgAuditOf(path),
  });
}

const argv = process.argv.slice(2);
const end = argv.indexOf('--');
const before = end === -1 ? argv : argv.slice(0, end);
const debug = before.includes('--debug');
const args = debug ? [...before.filter((a) => a !== '--debug'), ...(end === -1 ? [] : argv.slice(end))] : argv;
const serving = args[0] === 'serve' || args[0] === 'start' || args[0] === 'demo';
// Before the server and its SQL parser are loaded: the parser's WASM is compiled under these flags.
if (serving) tuneServerHeap(args[0] === 'serve' && args.includes('--stdio'));
if (!serving) {
  // A reader that goes away (`airlock mask FILE | head -1`) has all it wanted: stop quietly. (A server's
  // stdout belongs to its transport, which handles its own end.)
  // Other errors reach stdout from a pipeline that ends with it, which reports them itself.
  process.stdout.on('error', (error) => {
    if (isClosedPipe(error)) process.exit(0);
  });
}

main(args).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (isClosedPipe(error)) process.exit(0);
    const failure = describeFailure(error, debug);
    process.stderr.write(`${failure.message}\n`);
    process.exit(failure.code);
  },
);
