/**
 * What the docs say outside code blocks: every `airlock …` command written inline names a real command and
 * only its real options, and every relative link points at a file (and heading) that exists.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TOP, type CommandSpec, type GroupSpec } from '../../src/cli/commands.js';
import { ROOT } from '../support/airlock.js';
import { blocksOf, docFiles } from './blocks.js';

/** The text of a document without its fenced blocks (those are run by commands.test.ts). */
function prose(file: string): string {
  return readFileSync(join(ROOT, file), 'utf8').replace(/^\s*```[\s\S]*?^\s*```\s*$/gm, '');
}

const isGroup = (spec: CommandSpec | GroupSpec): spec is GroupSpec => 'commands' in spec;

/** The commands an inline span names: `policy check|explain` names two; a bare group names all of its own. */
function commandsNamed(words: readonly string[]): CommandSpec[] | string {
  const [first = '', second = ''] = words;
  const top = TOP.find((c) => c.name === first || (first === 'demo' && c.name === 'start'));
  if (top === undefined) return `unknown command "${first}"`;
  if (!isGroup(top)) return [top];
  if (second === '' || second.startsWith('-') || second.startsWith('[')) return [...top.commands];
  const found: CommandSpec[] = [];
  for (const name of second.split('|')) {
    const spec = top.commands.find((c) => c.name === `${top.name} ${name}`);
    if (spec === undefined) return `unknown command "${top.name} ${name}"`;
    found.push(spec);
  }
  return found;
}

/**
 * Inline spans that start with the command (`airlock audit verify --head HASH`), and the usage lines of
 * text blocks (`airlock audit tail [--audit-dir DIR] [-n N]`), which are not run but must not drift.
 */
function inlineCommands(): { where: string; text: string }[] {
  const found: { where: string; text: string }[] = [];
  for (const file of docFiles()) {
    for (const match of prose(file).matchAll(/`airlock ([^`]+)`/g)) found.push({ where: file, text: match[1] ?? '' });
    for (const block of blocksOf(file).filter((b) => b.lang === 'text')) {
      for (const line of block.text.split('\n')) {
        const usage = /^airlock ([a-z][^(]*)/.exec(line.trim());
        if (usage !== null) found.push({ where: `${file}:${block.line}`, text: (usage[1] ?? '').trim() });
      }
    }
  }
  return found;
}

describe('inline airlock commands in the docs', () => {
  const spans = inlineCommands();

  it('are found (the check is not empty)', () => {
    expect(spans.length).toBeGreaterThan(5);
  });

  it.each(spans.map((s) => [`${s.where}: airlock ${s.text}`, s.text] as const))('%s names a real command and its real options', (_, text) => {
    const words = text.split(/\s+/);
    const commands = commandsNamed(words);
    expect(commands, text).not.toBeTypeOf('string');
    const known = new Set((commands as CommandSpec[]).flatMap((c) => ['help', ...Object.keys(c.options)]));
    const flags = [...text.matchAll(/(?:^|[\s[])--([a-z][a-z-]*)/g)].map((m) => m[1] ?? '');
    expect(flags.filter((f) => !known.has(f)), text).toEqual([]);
  });

  it('the option check fails for a misspelled option and an unknown command', () => {
    const serve = commandsNamed(['serve']) as CommandSpec[];
    expect(Object.keys(serve[0]?.options ?? {})).not.toContain('polcy');
    expect(commandsNamed(['srve'])).toBe('unknown command "srve"');
    expect(commandsNamed(['policy', 'chek'])).toBe('unknown command "policy chek"');
  });
});

/** Heading anchors as GitHub makes them: lower case, punctuation dropped, spaces to dashes. */
function anchors(file: string): Set<string> {
  const text = readFileSync(file, 'utf8').replace(/^\s*```[\s\S]*?^\s*```\s*$/gm, '');
  return new Set(
    [...text.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) =>
      (m[1] ?? '')
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N}\s_-]/gu, '')
        .replace(/\s/g, '-'),
    ),
  );
}

describe('relative links in the docs', () => {
  const links = docFiles().flatMap((file) =>
    [...prose(file).matchAll(/\]\(([^)\s]+)\)/g)]
      .map((m) => m[1] ?? '')
      .filter((target) => !/^[a-z]+:/.test(target))
      .map((target) => ({ file, target })),
  );

  it('are found', () => {
    expect(links.length).toBeGreaterThan(10);
  });

  it.each(links.map((l) => [`${l.file} → ${l.target}`, l.file, l.target] as const))('%s resolves', (_, file, target) => {
    const [path = '', anchor] = target.split('#');
    const resolved = path === '' ? join(ROOT, file) : normalize(join(ROOT, dirname(file), path));
    expect(existsSync(resolved), `${file}: ${target} points at a missing file`).toBe(true);
    if (anchor !== undefined && resolved.endsWith('.md')) expect([...anchors(resolved)], `${file}: #${anchor} is not a heading of ${path || file}`).toContain(anchor);
  });
});
