/**
 * The deployment files as data, for the tests that hold them to the code: the Dockerfile's stages and
 * instructions, the .dockerignore's verdict on a path, and the YAML documents of compose.yaml and deploy/.
 * There is no Docker engine or Kubernetes cluster on the test machines; these readers are how the tests see
 * what an engine would run.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { parseCommand } from '../../src/cli/args.js';
import { SERVE } from '../../src/cli/commands.js';
import { serveConfig } from '../../src/cli/serve.js';
import type { ServeConfig } from '../../src/config.js';
import { ROOT } from './airlock.js';

export interface Instruction {
  /** Upper case: FROM, RUN, COPY, … */
  readonly keyword: string;
  /** The text after the keyword, continuation lines joined. */
  readonly text: string;
  /** The exec form (`["a", "b"]`) as an array, when the text is one. */
  readonly exec?: readonly string[];
}

export interface Stage {
  readonly name: string;
  /** The image, with the global ARG defaults substituted. */
  readonly from: string;
  readonly instructions: readonly Instruction[];
}

export interface Dockerfile {
  /** Global ARGs (before the first FROM), name → default. */
  readonly args: Readonly<Record<string, string>>;
  readonly stages: readonly Stage[];
}

function execForm(text: string): readonly string[] | undefined {
  if (!text.startsWith('[')) return undefined;
  const value = JSON.parse(text) as unknown;
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw new Error(`not an exec form: ${text}`);
  return value;
}

/** Parses a Dockerfile: comments dropped, `\` continuations joined, stages split at FROM. */
export function parseDockerfile(text: string): Dockerfile {
  const lines: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    // Comment lines are dropped, also between continuation lines (as Docker does).
    if (line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1).trim()} `;
      continue;
    }
    const whole = (current + line).trim();
    current = '';
    if (whole !== '') lines.push(whole);
  }
  const args: Record<string, string> = {};
  const stages: { name: string; from: string; instructions: Instruction[] }[] = [];
  for (const line of lines) {
    const match = /^([A-Za-z]+)\s+([\s\S]*)$/.exec(line);
    if (match === null) throw new Error(`not an instruction: ${line}`);
    const keyword = (match[1] ?? '').toUpperCase();
    const rest = match[2] ?? '';
    if (keyword === 'FROM') {
      const from = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
      if (from === null) throw new Error(`bad FROM: ${line}`);
      const image = (from[1] ?? '').replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string | undefined, b: string | undefined) => args[a ?? b ?? ''] ?? '');
      stages.push({ name: from[2] ?? String(stages.length), from: image, instructions: [] });
      continue;
    }
    if (stages.length === 0) {
      if (keyword !== 'ARG') throw new Error(`only ARG may come before the first FROM: ${line}`);
      const [name = '', value = ''] = rest.split('=');
      args[name] = value;
      continue;
    }
    const exec = execForm(rest);
    stages.at(-1)?.instructions.push({ keyword, text: rest, ...(exec === undefined ? {} : { exec }) });
  }
  return { args, stages };
}

export function readDockerfile(): Dockerfile {
  return parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
}

/** The stage named `name`, or an error naming the stages there are. */
export function stage(file: Dockerfile, name: string): Stage {
  const found = file.stages.find((s) => s.name === name);
  if (found === undefined) throw new Error(`no stage "${name}" (stages: ${file.stages.map((s) => s.name).join(', ')})`);
  return found;
}

/** The instructions of a stage with this keyword. */
export function instructions(s: Stage, keyword: string): Instruction[] {
  return s.instructions.filter((i) => i.keyword === keyword);
}

/** The commands of a RUN instruction (shell form, split at `&&`). */
export function runCommands(instruction: Instruction): string[] {
  return instruction.text.split('&&').map((c) => c.trim());
}

/** COPY's flags, sources and destination (shell form, no spaces in paths). */
export function copyParts(instruction: Instruction): { from?: string; sources: string[]; dest: string } {
  const words = instruction.text.split(/\s+/);
  const flags = words.filter((w) => w.startsWith('--'));
  const paths = words.filter((w) => !w.startsWith('--'));
  const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
  return { ...(from === undefined ? {} : { from }), sources: paths.slice(0, -1), dest: paths.at(-1) ?? '' };
}

/**
 * Whether the build context keeps a path, by the rules of .dockerignore: patterns in order, `!` re-includes,
 * the last pattern matching the path or one of its parent folders decides.
 */
export function inBuildContext(path: string, ignoreText = readFileSync(join(ROOT, '.dockerignore'), 'utf8')): boolean {
  const patterns = ignoreText
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const parts = path.split('/');
  let kept = true;
  for (const pattern of patterns) {
    const negated = pattern.startsWith('!');
    const glob = (negated ? pattern.slice(1) : pattern).replace(/\/$/, '');
    const matches = parts.some((_, i) => globMatch(glob, parts.slice(0, i + 1).join('/')));
    if (matches) kept = negated;
  }
  return kept;
}

/** Go's filepath.Match for what .dockerignore files use here: `*` and `?` within one path segment. */
function globMatch(glob: string, path: string): boolean {
  const source = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]');
  return new RegExp(`^${source}$`).test(path);
}

/** Every YAML document of a file, as plain data (a syntax error fails loudly). */
export function readYaml(path: string): unknown[] {
  const docs = parseAllDocuments(readFileSync(join(ROOT, path), 'utf8'));
  return (Array.isArray(docs) ? docs : [docs]).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${path}: ${doc.errors.map((e) => e.message).join('; ')}`);
    return doc.toJS() as unknown;
  });
}

/**
 * What `airlock serve ARGS` would run with: the real argument table and the real settings schema (an unknown
 * flag or a bad value throws, as the command would). `args` start after the command name `serve`.
 */
export function serveSettings(args: readonly string[]): ServeConfig {
  const { values } = parseCommand(SERVE, args);
  return serveConfig(values, { auditDir: '/nonexistent/default-audit', policyPath: '/nonexistent/default-policy', logFormat: undefined });
}

/** The value after `--flag` in a command line. */
export function flagValue(args: readonly string[], flag: string): string | undefined {
  const at = args.indexOf(flag);
  return at === -1 ? undefined : args[at + 1];
}
