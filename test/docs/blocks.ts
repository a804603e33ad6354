/**
 * Reads the fenced code blocks of README.md and docs/*.md, and splits shell blocks into command lines, so
 * the docs tests can check every snippet a reader might copy.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../support/airlock.js';

export interface Block {
  /** Path relative to the repository root. */
  readonly file: string;
  /** 1-based line of the opening fence. */
  readonly line: number;
  /** The fence's language (`sh`, `json`, `text`). */
  readonly lang: string;
  /** `key=value` words after the language, e.g. `kind=cursor` or `file=/usr/local/bin/x`. */
  readonly meta: Readonly<Record<string, string>>;
  readonly text: string;
}

/** The documents whose blocks are checked: the README and every page under docs/. */
export function docFiles(): string[] {
  const docs = readdirSync(join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`);
  return ['README.md', ...docs];
}

export function blocksOf(file: string): Block[] {
  const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(\S*)(.*)$/.exec(lines[i] ?? '');
    if (open === null) continue;
    const indent = open[1] ?? '';
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^\s*```\s*$/.test(lines[i] ?? ''); i++) body.push((lines[i] ?? '').slice(indent.length));
    const meta: Record<string, string> = {};
    for (const word of (open[3] ?? '').trim().split(/\s+/)) {
      const [k, v] = word.split('=');
      if (k !== undefined && k !== '' && v !== undefined) meta[k] = v;
    }
    blocks.push({ file, line: start + 1, lang: open[2] ?? '', meta, text: body.join('\n') });
  }
  return blocks;
}

export function allBlocks(): Block[] {
  return docFiles().flatMap(blocksOf);
}

/** Command lines of a shell block: comments and blank lines dropped, `\` continuations joined. */
export function commandsOf(block: Block): string[] {
  const commands: string[] = [];
  let current = '';
  for (const raw of block.text.split('\n')) {
    const line = current === '' ? raw.trim() : raw.trim();
    if (current === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1).trimEnd()} `;
      continue;
    }
    commands.push(stripComment(current + line).trim());
    current = '';
  }
  return commands;
}

/** Drops a trailing `# comment` that is outside quotes. */
function stripComment(command: string): string {
  let quote: string | undefined;
  for (let i = 0; i < command.length; i++) {
    const c = command[i];
    if (quote !== undefined) {
      if (c === quote) quote = undefined;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(command[i - 1] ?? ''))) return command.slice(0, i);
  }
  return command;
}

/** Splits a command line into words as a POSIX shell would for the simple cases the docs use (quotes, no expansion). */
export function words(command: string, env: Readonly<Record<string, string>> = {}): string[] {
  const out: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < command.length; i++) {
    const c = command[i] ?? '';
    if (c === "'") {
      const end = command.indexOf("'", i + 1);
      word += command.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (c === '"') {
      const end = command.indexOf('"', i + 1);
      word += command.slice(i + 1, end).replace(/\$(\w+)|\$\{(\w+)\}/g, (_, a: string | undefined, b: string | undefined) => env[a ?? b ?? ''] ?? '');
      i = end;
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) out.push(word);
      word = '';
      inWord = false;
    } else if (c === '$') {
      const m = /^\$(\w+)|^\$\{(\w+)\}/.exec(command.slice(i));
      if (m === null) word += c;
      else {
        word += env[m[1] ?? m[2] ?? ''] ?? '';
        i += m[0].length - 1;
      }
      inWord = true;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) out.push(word);
  return out;
}
