import { ALL_TOOLS } from '../../tools/index.js';
import { loadPolicy } from '../policy/load.js';
import type { CliContext } from './context.js';

/**
 * `airlock policy check FILE`. Apart from the other policy commands: checking a file needs the schema
 * only, not the explainer with its masking detectors, SQL parser and phone metadata.
 */
export async function runPolicyCheck(file: string, ctx: CliContext): Promise<void> {
  const loaded = await loadPolicy(file, ALL_TOOLS.map((t) => t.name));
  ctx.out(`${file}: OK (${loaded.file.rules.length} rules, version ${loaded.version})`);
}
