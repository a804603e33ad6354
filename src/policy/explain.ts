import type { AirlockError} from '../errors.js';
import { InvalidInputError, toAirlockError, UnknownToolError } from '../errors.js';
import type { Principal } from '../identity/principal.js';
import type { AnyTool, CallFacts, ToolDeps } from '../tool.js';
import { evaluate, type Decision } from './evaluate.js';
import type { Policy } from './load.js';
import { formatPath } from './load.js';
import { maskingFor, type CallMasking } from './masking.js';

/** What the server would do with one call, and why: the same code path as a real call, minus execution. */
export interface Explanation {
  readonly tool: string;
  readonly effect: 'allow' | 'approve' | 'deny';
  readonly ruleIds: readonly string[];
  readonly reason: string;
  readonly policyVersion: string;
  readonly facts: CallFacts | null;
  readonly limits: Decision['limits'] | null;
  readonly approval: Decision['approval'] | null;
  /** Output columns policy would mask whole (from SQL lineage). */
  readonly maskedColumns: readonly string[];
  /** The detectors that would mask the result, and the masking overrides that chose them (ids). */
  readonly masking: CallMasking;
  /** Set when the call would stop before policy (unknown tool, invalid input, rejected SQL). */
  readonly error: { readonly code: string; readonly message: string } | null;
}

export interface ExplainRequest {
  readonly policy: Policy;
  readonly tools: { get(name: string): AnyTool | undefined; names(): readonly string[] };
  readonly deps: ToolDeps;
  readonly principal: Principal;
  readonly tool: string;
  readonly input: unknown;
}

/** Runs input validation, fact extraction and evaluation exactly as the pipeline does. */
export async function explainCall(request: ExplainRequest): Promise<Explanation> {
  const { policy } = request;
  const stopped = (error: AirlockError, facts: CallFacts | null = null): Explanation => ({
    tool: request.tool,
    effect: 'deny',
    ruleIds: [],
    reason: error.publicMessage,
    policyVersion: policy.version,
    facts,
    limits: null,
    approval: null,
    maskedColumns: [],
    masking: maskingFor(policy.file.masking, { principal: request.principal, tool: request.tool, resource: facts?.resource?.name }),
    error: { code: error.code, message: error.publicMessage },
  });
  const tool = request.tools.get(request.tool);
  if (tool === undefined) return stopped(new UnknownToolError(request.tool, request.tools.names()));
  const parsed = tool.input.safeParse(request.input ?? {});
  if (!parsed.success) {
    return stopped(new InvalidInputError(tool.name, parsed.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message }))));
  }
  let facts: CallFacts;
  try {
    facts = await tool.facts(parsed.data, request.deps);
  } catch (error) {
    return stopped(toAirlockError(error));
  }
  const decision = evaluate(policy, { principal: request.principal, tool: tool.name, facts });
  return {
    tool: tool.name,
    effect: decision.effect,
    ruleIds: decision.ruleIds,
    reason: decision.reason,
    policyVersion: decision.policyVersion,
    facts,
    limits: decision.limits,
    approval: decision.approval ?? null,
    maskedColumns: facts.sql?.lineage?.maskedColumns ?? [],
    masking: maskingFor(policy.file.masking, { principal: request.principal, tool: tool.name, resource: facts.resource?.name }),
    error: null,
  };
}
