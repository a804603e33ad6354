/** `airlock policy check|explain|test`: policy work offline, with the server's own decisions. */
import { readFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ALL_TOOLS } from '../../tools/index.js';
import { JOURNAL_NAME, listSegmentsSync, parseSegment } from '../audit/segments.js';
import { parseStrictJson, StrictJsonError } from '../strict-json.js';
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
  let json: unknown;
  try {
    // Strict: `{"groups":["a"],"groups":["admin"]}` must not quietly test a different caller.
    json = parseStrictJson(text);
  } catch (error) {
    const problems = error instanceof StrictJsonError ? error.problems.map((p) => `column ${p.column}: ${p.message}`).join('; ') : String(error);
    throw new UsageError(`--principal: ${problems}`, command);
  }
  const parsed = PrincipalInput.safeParse(json);
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
  const skipped = new Map<string, number>();
  try {
    const decideCtx = { policy: loaded, tools: new ToolRegistry(ALL_TOOLS), deps: offline.deps };
    for await (const { value, where } of readInputs(flags.input)) {
      const decided = 'error' in value ? value : await decide(decideCtx, value.json, where);
      if (decided === undefined) continue;
      ctx.out(JSON.stringify(decided));
      if ('effect' in decided) lines.push(decided);
      else if ('skipped' in decided) skipped.set(decided.skipped, (skipped.get(decided.skipped) ?? 0) + 1);
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
  const notReplayed = [...skipped.values()].reduce((a, b) => a + b, 0);
  if (notReplayed > 0) ctx.err(`${notReplayed} recorded call(s) not replayed: they ended before policy for reasons a policy cannot change`);
  if (lines.length === 0 && notReplayed === 0 && bad === 0) {
    // Nothing replayed is not a pass: an empty file or a store with no calls proves nothing about the policy.
    ctx.err(`airlock: no calls or audit records found in ${flags.input}`);
    return 1;
  }
  if (bad > 0) {
    ctx.err(`${bad} input line(s) were skipped: not calls or audit records, or not decidable (see the "error" lines)`);
    return 1;
  }
  return 0;
}

/** One input of `policy test`: a parsed value and where it came from, or a problem with that input. */
type Input = { readonly where: string; readonly value: { readonly json: unknown } | { readonly error: string } };

/**
 * Calls from a JSONL file (or - for stdin), an audit export, an audit segment, or an audit directory (every
 * segment, then the journal's finished calls, in chain order). A line or file that cannot be read is
 * reported where it is and skipped; the rest of the input is still replayed.
 */
async function* readInputs(source: string): AsyncGenerator<Input> {
  if (source !== '-' && (await stat(source)).isDirectory()) {
    yield* readAuditDir(source);
    return;
  }
  const text = source === '-' ? await readStdin() : await readFile(source, 'utf8');
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{"format":"airlock-audit"') || trimmed.startsWith('{\n  "format"')) {
    let file: { records?: unknown };
    try {
      file = JSON.parse(text) as { records?: unknown };
    } catch (error) {
      yield { where: source, value: { error: `${source}: not valid JSON (${error instanceof Error ? error.message : String(error)})` } };
      return;
    }
    const records = Array.isArray(file.records) ? (file.records as unknown[]) : [];
    for (const [i, json] of records.entries()) yield { where: `records[${i}]`, value: { json } };
    return;
  }
  for (const [i, raw] of text.split('\n').entries()) {
    if (raw.trim() === '') continue;
    yield { where: `line ${i + 1}`, value: parseLine(raw, `line ${i + 1}`) };
  }
}

function parseLine(raw: string, where: string): Input['value'] {
  try {
    return { json: JSON.parse(raw) as unknown };
  } catch {
    return { error: `${where} is not valid JSON` };
  }
}

/** An audit directory without the store's all-or-nothing reading: a damaged segment or journal line is one error line. */
function* readAuditDir(dir: string): Generator<Input> {
  let lastSeq = 0;
  for (const name of listSegmentsSync(dir)) {
    let records: readonly { chain: { seq: number } }[];
    try {
      const data = parseSegment(name, readFileSync(join(dir, name), 'utf8'));
      records = data.records;
      lastSeq = data.records.at(-1)?.chain.seq ?? Math.max(lastSeq, data.head.firstSeq - 1);
    } catch (error) {
      yield { where: name, value: { error: `${name}: skipped (${error instanceof Error ? error.message : String(error)})` } };
      continue;
    }
    for (const [i, json] of records.entries()) yield { where: `${name} record ${i + 1}`, value: { json } };
  }
  let journal: string;
  try {
    journal = readFileSync(join(dir, JOURNAL_NAME), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  // A last line without its newline is a write cut short by a crash: left out, as the store does.
  const whole = journal.slice(0, journal.lastIndexOf('\n') + 1);
  for (const [i, raw] of whole.split('\n').entries()) {
    if (raw === '') continue;
    const where = `${JOURNAL_NAME} line ${i + 1}`;
    const parsed = parseLine(raw, where);
    if ('error' in parsed) {
      yield { where, value: parsed };
      continue;
    }
    const entry = parsed.json as { start?: unknown; end?: { chain?: { seq?: unknown } } | null } | null;
    if (entry !== null && typeof entry === 'object' && 'start' in entry) continue;
    const end = entry?.end;
    if (end === undefined || end === null || typeof end !== 'object') {
      yield { where, value: { error: `${where}: not a journal entry` } };
      continue;
    }
    const seq = end.chain?.seq;
    if (typeof seq === 'number' && seq <= lastSeq) continue;
    yield { where, value: { json: end } };
  }
}

/** All of stdin, as text. */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
