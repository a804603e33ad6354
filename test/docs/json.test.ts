/**
 * Every JSON snippet in README.md and docs/*.md parses, and every one of a known kind is checked with the
 * real loader (policies, runtime config) or with the client's documented format (Cursor, VS Code, Claude Code).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { ALL_TOOLS } from '../../tools/index.js';
import { loadRuntimeFile } from '../../src/config.js';
import { loadPolicy } from '../../src/policy/load.js';
import { EXAMPLE_POLICY, ROOT, tempDir } from '../support/airlock.js';
import { allBlocks, blocksOf, type Block } from './blocks.js';

const TOOL_NAMES = ALL_TOOLS.map((t) => t.name);
const KINDS = ['policy', 'policy-part', 'runtime', 'cursor', 'vscode', 'claude', 'sample'] as const;
const where = (b: Block): string => `${b.file}:${b.line}`;

const Strings = z.record(z.string(), z.string());
const Args = z.array(z.string());

/** Cursor `.cursor/mcp.json`: `mcpServers`, stdio `{command, args, env}` or remote `{url, headers}`. */
export const CursorConfig = z.strictObject({
  mcpServers: z.record(
    z.string(),
    z.union([z.strictObject({ command: z.string(), args: Args.optional(), env: Strings.optional() }), z.strictObject({ url: z.url(), headers: Strings.optional() })]),
  ),
});

/** VS Code `.vscode/mcp.json`: top-level `servers` with a `type`, optional `inputs` prompts. */
export const VsCodeConfig = z.strictObject({
  inputs: z.array(z.strictObject({ type: z.literal('promptString'), id: z.string(), description: z.string(), password: z.boolean().optional() })).optional(),
  servers: z.record(
    z.string(),
    z.union([
      z.strictObject({ type: z.literal('stdio'), command: z.string(), args: Args.optional(), env: Strings.optional(), envFile: z.string().optional() }),
      z.strictObject({ type: z.enum(['http', 'sse']), url: z.url(), headers: Strings.optional() }),
    ]),
  ),
});

/** Claude Code `.mcp.json`: `mcpServers`, stdio or `type: http|sse` with `headers` and/or `headersHelper`. */
export const ClaudeConfig = z.strictObject({
  mcpServers: z.record(
    z.string(),
    z.union([
      z.strictObject({ type: z.literal('stdio').optional(), command: z.string(), args: Args.optional(), env: Strings.optional() }),
      z.strictObject({ type: z.enum(['http', 'sse']), url: z.url(), headers: Strings.optional(), headersHelper: z.string().optional() }),
    ]),
  ),
});

type StdioEntry = { command: string; args?: string[]; env?: Record<string, string> };

function stdioEntries(config: unknown): StdioEntry[] {
  const c = config as { mcpServers?: Record<string, unknown>; servers?: Record<string, unknown> };
  return Object.values(c.mcpServers ?? c.servers ?? {}).filter((s): s is StdioEntry => typeof (s as { command?: unknown }).command === 'string');
}

function merge(base: unknown, part: unknown): unknown {
  if (typeof base !== 'object' || base === null || Array.isArray(base) || typeof part !== 'object' || part === null || Array.isArray(part)) return part;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(part)) out[k] = merge(out[k], v);
  return out;
}

const blocks = allBlocks();
const jsonBlocks = blocks.filter((b) => b.lang === 'json');

describe('docs: fenced blocks', () => {
  it('use only the fences the tests know: sh (run), json (parsed), text (shown, not run)', () => {
    const unknown = blocks.filter((b) => !['sh', 'json', 'text'].includes(b.lang)).map((b) => `${where(b)}: \`\`\`${b.lang}`);
    expect(unknown).toEqual([]);
  });

  it('give every json block a known kind', () => {
    const missing = jsonBlocks.filter((b) => !(KINDS as readonly string[]).includes(b.meta.kind ?? '')).map((b) => `${where(b)}: kind=${b.meta.kind ?? '(none)'}`);
    expect(missing).toEqual([]);
    expect(jsonBlocks.length).toBeGreaterThan(15);
  });
});

describe('docs: json blocks', () => {
  for (const block of jsonBlocks) {
    const kind = block.meta.kind ?? '';
    it(`${where(block)} (${kind}) is valid`, async () => {
      const value = JSON.parse(block.text) as unknown;
      if (kind === 'policy' || kind === 'policy-part') {
        const dir = tempDir('airlock-docs-policy-');
        const file = join(dir, 'policies.json');
        const policy = kind === 'policy' ? value : merge(JSON.parse(readFileSync(EXAMPLE_POLICY, 'utf8')), value);
        writeFileSync(file, JSON.stringify(policy));
        const loaded = await loadPolicy(file, TOOL_NAMES);
        expect(loaded.version).toMatch(/^sha256:[0-9a-f]{64}$/);
      } else if (kind === 'runtime') {
        const dir = tempDir('airlock-docs-config-');
        const file = join(dir, 'airlock.json');
        writeFileSync(file, block.text);
        await expect(loadRuntimeFile(file)).resolves.toBeTypeOf('object');
      } else if (kind === 'cursor' || kind === 'vscode' || kind === 'claude') {
        const schema = kind === 'cursor' ? CursorConfig : kind === 'vscode' ? VsCodeConfig : ClaudeConfig;
        schema.parse(value);
        const text = block.text;
        // Each client's own variable syntax, and no other client's.
        if (kind === 'cursor') expect(text).not.toMatch(/\$\{(?!env:)[^}]+\}/);
        if (kind === 'claude') expect(text).not.toMatch(/\$\{(env|input):/);
        if (kind === 'vscode') {
          const declared = new Set(((value as { inputs?: { id: string }[] }).inputs ?? []).map((i) => i.id));
          for (const m of text.matchAll(/\$\{input:([^}]+)\}/g)) expect(declared.has(m[1] ?? '')).toBe(true);
        }
        for (const entry of stdioEntries(value)) {
          // The installed command, an identity and trusted issuers; never npx airlock, never a dev identity.
          expect(entry.command).toBe('airlock');
          const args = entry.args ?? [];
          expect(args.slice(0, 2)).toEqual(['serve', '--stdio']);
          expect(args).toContain('--config');
          expect(args.includes('--token-file') || entry.env?.AIRLOCK_TOKEN !== undefined).toBe(true);
          expect(args).not.toContain('--dev-identity');
        }
        expect(text).not.toMatch(/"npx",\s*"args":\s*\[\s*"airlock"/);
      }
    });
  }
});

describe('airlock.example.json', () => {
  it('loads with the real runtime-config loader and trusts Google and Okta', async () => {
    const config = await loadRuntimeFile(join(ROOT, 'airlock.example.json'));
    expect(config.identity?.issuers.map((i) => i.issuer)).toEqual(['https://accounts.google.com', 'https://corp.okta.com/oauth2/default']);
    expect(config.identity?.issuers[0]?.audiences).toEqual([config.identity?.resource]);
    // Static groups and email domains belong to the issuer that verifies those emails (issue 15).
    expect(config.identity?.issuers[0]?.groups.analysts).toEqual(['devin-agent@my-project.iam.gserviceaccount.com']);
    expect(config.identity?.issuers.map((i) => i.emailDomains)).toEqual([['my-project.iam.gserviceaccount.com'], ['corp.example']]);
  });

  it('is the sample shown in docs/operators.md, byte for byte', () => {
    const shown = blocksOf('docs/operators.md').find((b) => b.meta.kind === 'runtime' && b.text.includes('"maxTokenAgeSeconds": 3600'));
    expect(shown?.text).toBe(readFileSync(join(ROOT, 'airlock.example.json'), 'utf8').trimEnd());
  });
});
