/** `airlock policy check|explain|test`: policy work offline, with the server's own decisions. */
import { readFile, stat } from 'node:fs/promises';
import { ALL_TOOLS } from '../../tools/index.js';
import { readRecords } from '../audit/read.js';
import { ToolRegistry } from '../mcp/registry.js';
import { explainCall } from '../policy/explain.js';
import { loadPolicy, type Policy } from '../policy/load.js';
import { decide, PrincipalInput, summarize, toPrincipal, type DecisionLine } from '../policy/replay.js';
import type { Principal } from '../identity/principal.js';
import type { CliContext } from './context.js';
import type { offlineToolDeps } from '../main.js';
import { UsageError } from '../usage-error.js';

const toolNames = (): string[] => ALL_TOOLS.map((t) => t.name);

/** The value of a JSON flag, or a usage error that names the flag. */
export function parseJsonFlag(flag: string, text: string, command: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new UsageError(`${flag}: not valid JSON (${error instanceof Error ? error.message : String(error)})`, command);
  }
}

/** `--principal JSON` as the principal the server would build, or a usage error that says what is wrong. */
export function principalFlag(text: string, command: string): Principal {
  const parsed = PrincipalInput.safeParse(parseJsonFlag('--principal', text, command));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`).join('; ');
    throw new UsageError(`--principal: ${problems}`, command);
  }
  if (parsed.data.sub === undefined && parsed.data.email === undefined) throw new UsageError('--principal needs "sub" or "email"', command);
  return toPrincipal(parsed.data);
}

/** The server's tool dependencies, offline; loaded on use so `policy check` stays light. */
async function offlineDeps(policy: Policy): ReturnType<typeof offlineToolDeps> {
  return (await import('../main.js')).offlineToolDeps(policy);
}

/** `airlock policy check FILE`. */
export async function runPolicyCheck(file: string, ctx: CliContext): Promise<void> {
  const loaded = await loadPolicy(file, toolNames());
  ctx.out(`${file}: OK (${loaded.file.rules.length} rules, version ${loaded.version})`);
}

/** `airlock policy explain`. */
export async function runPolicyExplain(flags: { policy?: string; principal?: string; tool?: string; input?: string }, ctx: CliContext): Promise<void> {
  const command = 'policy explain';
  if (flags.principal === undefined) throw new UsageError('--principal JSON is required', command);
  if (flags.tool === undefined) throw new UsageError('--tool NAME is required', command);
  const principal = principalFlag(flags.principal, command);
  const input = flags.input === undefined ? {} : parseJsonFlag('--input', flags.input, command);
  const loaded = await loadPolicy(flags.policy ?? './policies.json', toolNames());
  const offline = await offlineDeps(loaded);
  try {
    ctx.out(JSON.stringify(await explainCall({ policy: loaded, tools: new ToolRegistry(ALL_TOOLS), deps: offline.deps, principal, tool: flags.tool, input }), null, 2));
  } finally {
    await offline.close();
  }
}

/** `airlock policy test`. Returns the exit code. */
export async function runPolicyTest(flags: { policy?: string; input?: string }, ctx: CliContext): Promise<number> {
  if (flags.input === undefined) throw new UsageError('--input is required (calls.jsonl, an audit directory or segment, or - for stdin)', 'policy test');
  const loaded = await loadPolicy(flags.policy ?? './policies.json', toolNames());
  const offline = await offlineDeps(loaded);
  const lines: DecisionLine[] = [];
  let bad = 0;
  try {
    const decideCtx = { policy: loaded, tools: new ToolRegistry(ALL_TOOLS), deps: offline.deps };
    for await (const value of readInputs(flags.input)) {
      const decided = await decide(decideCtx, value);
      if (decided === undefined) continue;
      ctx.out(JSON.stringify(decided));
      if ('effect' in decided) lines.push(decided);
      else bad++;
    }
  } finally {
    await offline.close();
  }
  const summary = summarize(lines);
  if (summary.total > 0) {
    const changes = Object.entries(summary.changed).map(([k, v]) => `${k}: ${v}`);
    ctx.err(`replayed ${summary.total} recorded calls against ${loaded.version.slice(0, 19)}…: ${summary.unchanged} unchanged, ${summary.total - summary.unchanged} changed${changes.length > 0 ? ` (${changes.join(', ')})` : ''}`);
  }
  if (lines.length === 0 && bad === 0) {
    // Nothing replayed is not a pass: an empty file or a store with no calls proves nothing about the policy.
    ctx.err(`airlock: no calls or audit records found in ${flags.input}`);
    return 1;
  }
  if (bad > 0) {
    ctx.err(`${bad} input line(s) were not calls or audit records`);
    return 1;
  }
  return 0;
}

/** Calls from a JSONL file (or - for stdin), an audit segment, or an audit directory (every segment, in order). */
async function* readInputs(source: string): AsyncGenerator<unknown> {
  if (source !== '-' && (await stat(source)).isDirectory()) {
    // Every finished call, segments then the journal's tail, in chain order.
    yield* readRecords(source);
    return;
  }
  const text = source === '-' ? await readStdin() : await readFile(source, 'utf8');
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{"format":"airlock-audit"') || trimmed.startsWith('{\n  "format"')) {
    const file = JSON.parse(text) as { records?: unknown[] };
    yield* file.records ?? [];
    return;
  }
  for (const [i, raw] of text.split('\n').entries()) {
    if (raw.trim() === '') continue;
    try {
      yield JSON.parse(raw) as unknown;
    } catch {
      yield { invalidLine: i + 1 };
    }
  }
}

/** All of stdin, as text. */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
