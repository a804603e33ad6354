import { ApprovalNotFoundError, finalStateError, fromApprovalStore } from '../../approval/errors.js';
import type { ApprovalService } from '../../approval/service.js';
import { InvalidInputError } from '../../errors.js';
import type { CallContext, Next, Stage } from '../context.js';
import type { ToolLookup } from './input.js';

/** The tool that collects an approval request. */
export const APPROVAL_STATUS = 'approval_status';

export interface RecallStageOptions {
  readonly service?: ApprovalService;
  readonly tools: ToolLookup;
  /** The longest wait an `approval_status` call may ask for (ms). */
  readonly maxWaitMs: number;
  /** The wait when the call names none (ms). */
  readonly defaultWaitMs: number;
}

/**
 * `approval_status {requestId, wait_seconds?}`: the caller's own request (anyone else's does not exist for
 * them) is recalled, and the stored call takes the place of the tool and input. The rest of the chain then
 * treats it as that call: policy decides it again under the current version, the approval stage waits for
 * or uses its grant, and it runs, is masked and audited like any call.
 */
export function recallStage(options: RecallStageOptions): Stage {
  const { service, tools } = options;
  return async function recall(ctx: CallContext, next: Next): Promise<void> {
    if (ctx.tool?.name !== APPROVAL_STATUS) return next();
    const principal = ctx.principal;
    if (principal === undefined) throw new TypeError('recall stage needs a principal');
    const { requestId, wait_seconds: waitSeconds } = ctx.input as { requestId: string; wait_seconds?: number };
    if (service === undefined) throw new ApprovalNotFoundError(requestId, { detail: 'approvals are not configured on this server' });
    const { request } = await fromApprovalStore(service.status(requestId, principal));
    const refusal = finalStateError(request);
    if (refusal !== undefined) throw refusal;
    const tool = tools.get(request.binding.tool);
    if (tool === undefined) throw new ApprovalNotFoundError(requestId, { detail: `the stored call names tool "${request.binding.tool}", which this server no longer has` });
    const parsed = tool.input.safeParse(request.binding.input);
    if (!parsed.success) {
      throw new InvalidInputError(tool.name, parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: `stored call no longer valid: ${i.message}` })));
    }
    ctx.tool = tool;
    ctx.input = parsed.data;
    ctx.recalled = { requestId: request.id, bindingHash: request.bindingHash, waitMs: Math.min(options.maxWaitMs, waitSeconds === undefined ? options.defaultWaitMs : waitSeconds * 1000) };
    await next();
  };
}
