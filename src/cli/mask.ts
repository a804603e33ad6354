/** `airlock mask`: try detectors and rules on your own samples before rollout. */
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { ALL_TOOLS } from '../../tools/index.js';
import { DETECTOR_NAMES } from '../masking/detectors.js';
import { MaskContext, Masker } from '../masking/masker.js';
import { maskingTransform } from '../masking/stream.js';
import { loadPolicy } from '../policy/load.js';
import { maskingFor } from '../policy/masking.js';
import type { MaskingSettings } from '../policy/schema.js';
import type { CliContext } from './context.js';
import { isClosedPipe } from './pipe.js';
import { principalFlag, readStdin } from './policy.js';
import { UsageError } from '../usage-error.js';
import { checkInputFile } from './input-file.js';

export interface MaskFlags {
  readonly jsonl?: boolean;
  readonly stream?: boolean;
  readonly policy?: string;
  readonly detectors?: string;
  readonly principal?: string;
  readonly tool?: string;
  readonly resource?: string;
}

const command = 'mask';

/** `airlock mask`. Returns the exit code. */
export async function runMask(flags: MaskFlags, file: string | undefined, ctx: CliContext): Promise<number> {
  if (flags.jsonl === true && flags.stream === true) throw new UsageError('choose one of --jsonl and --stream', command);
  if (flags.jsonl === true && file !== undefined) throw new UsageError(`--jsonl reads stdin: drop "${file}" (airlock mask --jsonl < ${file})`, command);
  if (flags.jsonl !== true && flags.stream !== true && file === undefined) throw new UsageError('give a FILE, --stream (stdin) or --jsonl (stdin)', command);
  let settings: MaskingSettings = { detectors: [...DETECTOR_NAMES], style: 'redact', columns: [] };
  if (flags.policy !== undefined) settings = (await loadPolicy(flags.policy, ALL_TOOLS.map((t) => t.name))).file.masking;
  if (flags.principal !== undefined || flags.tool !== undefined || flags.resource !== undefined) {
    // The detectors the policy's masking overrides give one kind of call, as the server would.
    if (flags.policy === undefined) throw new UsageError('--principal, --tool and --resource choose among the masking overrides of a policy: give --policy FILE', command);
    if (flags.detectors !== undefined) throw new UsageError('--detectors sets the detectors itself: use it without --principal, --tool and --resource', command);
    const tool = flags.tool ?? 'query_sql';
    const tools = ALL_TOOLS.map((t) => t.name);
    if (!tools.includes(tool)) throw new UsageError(`--tool: unknown tool "${tool}" (known: ${tools.join(', ')})`, command);
    const principal = flags.principal === undefined ? undefined : principalFlag(flags.principal, command);
    const call = maskingFor(settings, { principal, tool, resource: flags.resource });
    ctx.err(`airlock: detectors for ${tool}${flags.resource === undefined ? '' : ` on ${flags.resource}`}: ${call.detectors.join(', ') || 'none'}${call.overrides.length > 0 ? ` (overrides: ${call.overrides.join(', ')})` : ''}`);
    settings = { ...settings, detectors: [...call.detectors] };
  }
  if (flags.detectors !== undefined) {
    const names = flags.detectors.split(',').map((d) => d.trim());
    const unknown = names.filter((n) => !(DETECTOR_NAMES as readonly string[]).includes(n));
    if (unknown.length > 0) throw new UsageError(`--detectors: unknown ${unknown.join(', ')} (known: ${DETECTOR_NAMES.join(', ')})`, command);
    settings = { ...settings, detectors: names as MaskingSettings['detectors'] };
  }
  // Style hmac needs its key from the environment, as the server would (fails here without it).
  const hmacKey = settings.hmacKey === undefined ? undefined : (await import('../main.js')).maskingSecretFrom({ ...ctx.env })(settings.hmacKey);
  const masker = new Masker(settings, { hmacKey });
  if (flags.jsonl === true) return maskLines(masker, await readStdin(), ctx);
  if (file !== undefined) await checkInputFile(file);
  if (flags.stream === true) {
    const input = file === undefined ? process.stdin : createReadStream(file);
    try {
      await pipeline(input, maskingTransform(masker), process.stdout);
    } catch (error) {
      // The reader went away (`| head`): not a masking failure, and nothing more is wanted.
      if (isClosedPipe(error)) return 0;
      // A file that cannot be read is the caller's mistake, reported as such by the entry point.
      if ((error as NodeJS.ErrnoException).syscall !== undefined && (error as NodeJS.ErrnoException).path !== undefined) throw error;
      // Fail closed: the output stops at the last fully masked chunk, and says so.
      const cause = (error as { cause?: unknown }).cause;
      ctx.err(`airlock: masking failed, output stopped: ${cause instanceof Error ? cause.message : error instanceof Error ? error.message : String(error)}`);
      return 1;
    }
    return 0;
  }
  process.stdout.write(masker.maskText(await readFile(file ?? '', 'utf8'), new MaskContext()));
  return 0;
}

function maskLines(masker: Masker, text: string, ctx: CliContext): number {
  let code = 0;
  for (const [i, raw] of text.split('\n').entries()) {
    if (raw.trim() === '') continue;
    let line: { id?: unknown; text?: unknown };
    try {
      line = JSON.parse(raw) as { id?: unknown; text?: unknown };
    } catch {
      ctx.out(JSON.stringify({ line: i + 1, error: 'not valid JSON' }));
      code = 1;
      continue;
    }
    if (typeof line.text !== 'string') {
      ctx.out(JSON.stringify({ id: line.id ?? null, error: '"text" must be a string' }));
      code = 1;
      continue;
    }
    try {
      // The findings the masked text was made from: built-in and custom detectors, CSV header context.
      const findings = masker.find(line.text);
      ctx.out(JSON.stringify({ id: line.id ?? null, masked: masker.apply(line.text, findings, new MaskContext()), findings }));
    } catch (error) {
      // Fail closed: a line that cannot be masked is not echoed.
      ctx.out(JSON.stringify({ id: line.id ?? null, error: `masking failed: ${error instanceof Error ? error.message : String(error)}` }));
      code = 1;
    }
  }
  return code;
}
