import * as z from 'zod';
import { defineTool, once } from '../src/tool.js';

const input = once(() =>
  z.strictObject({
    requestId: z.string().regex(/^apr_[A-Za-z0-9_-]{1,64}$/, 'an approval request id ("apr_…") from a pending_approval result').describe('The requestId of the pending_approval result.'),
    wait_seconds: z.int().min(0).max(120).optional().describe('How long to wait for a decision in this call (default 45).'),
  }),
);

/**
 * approval_status: collects a call that waited for a human approval. The pipeline's recall stage replaces
 * it with the stored call before policy, so its own `execute` never runs.
 */
export const approvalStatus = defineTool({
  name: 'approval_status',
  description: [
    'Collect a call that needed a human approval. When a call returns {"status": "pending_approval", "requestId": …},',
    'call this with that requestId: it waits up to wait_seconds (default 45, at most 120) for the decision, with',
    'progress, and once approved it runs the exact call that was approved and returns its result (masked and',
    'audited like any call). Still undecided: the same pending handle again (call again later). Denied, expired or',
    'withdrawn: an error saying so. Only the agent identity that made the call can collect it, once.',
  ].join(' '),
  get input() {
    return input();
  },
  annotations: { title: 'Approval status (collect an approved call)', readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
  facts: () => ({}),
  execute() {
    return Promise.reject(new TypeError('approval_status runs through the recall stage; its execute is never called'));
  },
});
