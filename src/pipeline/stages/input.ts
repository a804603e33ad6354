import { InvalidInputError, UnknownToolError } from '../../errors.js';
import { formatPath } from '../../policy/load.js';
import type { AnyTool } from '../../tool.js';
import type { CallContext, Next, Stage } from '../context.js';

export interface ToolLookup {
  get(name: string): AnyTool | undefined;
  names(): readonly string[];
}

/** Keys shown in one unknown-key issue, and characters shown of each: the agent chose them, any length. */
const SHOWN_KEYS = 10;
const SHOWN_KEY_CHARS = 100;

/**
 * zod's "Unrecognized key" text with each key as a JSON string: zod quotes keys raw, so a key holding a quote
 * or a line break could pass for more text of the message (or a forged trailer) in what the agent reads.
 */
export function unknownKeys(keys: readonly string[]): string {
  const shown = keys.slice(0, SHOWN_KEYS).map((k) => JSON.stringify(k.length > SHOWN_KEY_CHARS ? `${k.slice(0, SHOWN_KEY_CHARS)}…` : k));
  const more = keys.length > SHOWN_KEYS ? ` and ${keys.length - SHOWN_KEYS} more` : '';
  return `Unrecognized key${keys.length > 1 ? 's' : ''}: ${shown.join(', ')}${more}`;
}

/** Resolves the tool and validates the arguments against its zod schema, reporting every issue by path. */
export function inputStage(options: { readonly tools: ToolLookup }): Stage {
  const { tools } = options;
  if (typeof tools?.get !== 'function') throw new TypeError('inputStage: a tool registry is required');
  return async function input(ctx: CallContext, next: Next): Promise<void> {
    if (ctx.requestIssues !== undefined && ctx.requestIssues.length > 0) throw new InvalidInputError(ctx.toolName, ctx.requestIssues);
    const tool = tools.get(ctx.toolName);
    if (tool === undefined) throw new UnknownToolError(ctx.toolName, tools.names());
    ctx.tool = tool;
    const parsed = tool.input.safeParse(ctx.rawArguments ?? {});
    if (!parsed.success) {
      throw new InvalidInputError(
        tool.name,
        parsed.error.issues.map((issue) => ({ path: formatPath(issue.path), message: issue.code === 'unrecognized_keys' ? unknownKeys(issue.keys) : issue.message })),
      );
    }
    ctx.input = parsed.data;
    await next();
  };
}
