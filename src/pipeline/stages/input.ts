import { InvalidInputError, UnknownToolError } from '../../errors.js';
import { formatPath } from '../../policy/load.js';
import type { AnyTool } from '../../tool.js';
import type { CallContext, Next, Stage } from '../context.js';

export interface ToolLookup {
  get(name: string): AnyTool | undefined;
  names(): readonly string[];
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
        parsed.error.issues.map((issue) => ({ path: formatPath(issue.path), message: issue.message })),
      );
    }
    ctx.input = parsed.data;
    await next();
  };
}
