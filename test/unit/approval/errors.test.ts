import { describe, expect, it } from 'vitest';
import { ApprovalNotFoundError, ApprovalsUnavailableError, fromApprovalStore } from '../../../src/approval/errors.js';

describe('fromApprovalStore (issue 21)', () => {
  it('turns a failure of the store underneath into APPROVALS_UNAVAILABLE, keeping the cause for the audit', async () => {
    const lost = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    const error = await fromApprovalStore(Promise.reject(lost)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApprovalsUnavailableError);
    expect((error as ApprovalsUnavailableError).cause).toBe(lost);
    const terminated = await fromApprovalStore(Promise.reject(new Error('Connection terminated unexpectedly'))).catch((e: unknown) => e);
    expect(terminated).toBeInstanceOf(ApprovalsUnavailableError);
  });

  it('passes a refusal as it is', async () => {
    const refusal = new ApprovalNotFoundError('apr_x');
    expect(await fromApprovalStore(Promise.reject(refusal)).catch((e: unknown) => e)).toBe(refusal);
  });

  it('passes a fault in airlock\'s own code as it is when it is a TypeError, a RangeError or a ReferenceError, not as an outage', async () => {
    for (const fault of [new TypeError("Cannot read properties of undefined (reading 'state')"), new RangeError('Invalid time value'), new ReferenceError('x is not defined')]) {
      expect(await fromApprovalStore(Promise.reject(fault)).catch((e: unknown) => e)).toBe(fault);
    }
  });
});
