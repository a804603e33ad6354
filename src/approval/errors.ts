import { AirlockError, type AirlockErrorOptions } from '../errors.js';
import type { ApprovalRecord } from './model.js';

/** Every approval error, for an exhaustive `switch` on `code`. */
export type ApprovalError =
  | ApprovalPendingError
  | ApprovalDeniedError
  | ApprovalExpiredError
  | ApprovalNotFoundError
  | ApprovalForbiddenError
  | ApprovalUsedError
  | ApprovalMismatchError
  | ApprovalInvalidError
  | ApprovalWithdrawnError
  | ApprovalsUnavailableError;

/** The request has no decision yet: nothing can run. */
export class ApprovalPendingError extends AirlockError {
  readonly code = 'APPROVAL_PENDING';
  readonly outcome = 'approval_required';
  constructor(requestId: string, options?: AirlockErrorOptions) {
    super(`Approval request ${requestId} is still waiting for a decision; the call was not run.`, { ...options, data: { requestId } });
  }
}

/** An approver denied the request. */
export class ApprovalDeniedError extends AirlockError {
  readonly code = 'APPROVAL_DENIED';
  readonly outcome = 'denied';
  constructor(requestId: string, options?: AirlockErrorOptions & { readonly by?: string; readonly reason?: string }) {
    const by = options?.by === undefined ? '' : ` by ${options.by}`;
    const reason = options?.reason === undefined || options.reason === '' ? '' : `: "${options.reason}"`;
    super(`Approval request ${requestId} was denied${by}${reason}; the call was not run.`, { ...options, data: { requestId } });
  }
}

/** No decision before the deadline, or an approved grant not used within its execution window. */
export class ApprovalExpiredError extends AirlockError {
  readonly code = 'APPROVAL_EXPIRED';
  readonly outcome = 'denied';
  constructor(requestId: string, options?: AirlockErrorOptions) {
    super(`Approval request ${requestId} has expired; the call was not run. Make the call again to request a new approval.`, {
      ...options,
      data: { requestId },
    });
  }
}

/** No such request, or not the caller's own: the two are indistinguishable on purpose. */
export class ApprovalNotFoundError extends AirlockError {
  readonly code = 'APPROVAL_NOT_FOUND';
  readonly outcome = 'invalid';
  constructor(requestId: string, options?: AirlockErrorOptions) {
    super(`No approval request ${truncate(requestId, 64)} of yours exists.`, { ...options, data: { requestId: truncate(requestId, 64) } });
  }
}

/** The approver may not decide this request: it is their own, or they are in none of its approver groups. */
export class ApprovalForbiddenError extends AirlockError {
  readonly code = 'APPROVAL_FORBIDDEN';
  readonly outcome = 'denied';
  readonly reason: 'own_request' | 'not_an_approver' | 'already_decided';
  constructor(requestId: string, reason: 'own_request' | 'not_an_approver' | 'already_decided', options?: AirlockErrorOptions) {
    const why = {
      own_request: 'no one may decide their own request',
      not_an_approver: 'you are in none of its approver groups',
      already_decided: 'you have already approved it',
    }[reason];
    super(`You may not decide approval request ${requestId}: ${why}.`, { ...options, data: { requestId, reason } });
    this.reason = reason;
  }
}

/** The grant was already used, or the request was already decided when this decision came. */
export class ApprovalUsedError extends AirlockError {
  readonly code = 'APPROVAL_USED';
  readonly outcome = 'denied';
  constructor(requestId: string, what: 'grant' | 'decision', options?: AirlockErrorOptions) {
    super(
      what === 'grant'
        ? `Approval request ${requestId} was already used: a grant runs its call once.`
        : `Approval request ${requestId} is already decided; the decision was not recorded.`,
      { ...options, data: { requestId } },
    );
  }
}

/** The call to run is not the call that was approved. */
export class ApprovalMismatchError extends AirlockError {
  readonly code = 'APPROVAL_MISMATCH';
  readonly outcome = 'denied';
  constructor(requestId: string, options?: AirlockErrorOptions) {
    super(`This call differs from the one approved in request ${requestId}; it was not run. Only the exact approved call can run.`, {
      ...options,
      data: { requestId },
    });
  }
}

/** The stored request fails its integrity check (written by something other than airlock): it is never used. */
export class ApprovalInvalidError extends AirlockError {
  readonly code = 'APPROVAL_INVALID';
  readonly outcome = 'error';
  constructor(requestId: string, options?: AirlockErrorOptions) {
    super(`Approval request ${truncate(requestId, 64)} failed its integrity check and cannot be used.`, { ...options, data: { requestId: truncate(requestId, 64) } });
  }
}

/** The requester withdrew the request (cancelled the call that waited for it): nothing can run from it. */
export class ApprovalWithdrawnError extends AirlockError {
  readonly code = 'APPROVAL_WITHDRAWN';
  readonly outcome = 'cancelled';
  constructor(requestId: string, options?: AirlockErrorOptions) {
    super(`Approval request ${requestId} was withdrawn; the call was not run. Make the call again to request a new approval.`, { ...options, data: { requestId } });
  }
}

/**
 * The refusal a request in a final state gives a call that would run on it (denied, with who and why;
 * expired; withdrawn; already used); undefined while it is pending or approved.
 */
export function finalStateError(request: ApprovalRecord): ApprovalError | undefined {
  switch (request.state) {
    case 'denied': {
      const denial = request.decisions.find((d) => d.verdict === 'deny');
      return new ApprovalDeniedError(request.id, { ...(denial === undefined ? {} : { by: denial.approver.email ?? denial.approver.sub }), ...(denial?.reason === undefined ? {} : { reason: denial.reason }) });
    }
    case 'expired':
      return new ApprovalExpiredError(request.id);
    case 'withdrawn':
      return new ApprovalWithdrawnError(request.id);
    case 'consumed':
      return new ApprovalUsedError(request.id, 'grant');
    case 'pending':
    case 'approved':
      return undefined;
  }
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

/**
 * The approval store could not be read or written (its file read-only or on a full disk, its database
 * down): the call that needed it did not run. The store's own message goes to the audit detail only.
 */
export class ApprovalsUnavailableError extends AirlockError {
  readonly code = 'APPROVALS_UNAVAILABLE';
  readonly outcome = 'error';
  constructor(options?: AirlockErrorOptions) {
    super('The approval store is unavailable, so the call was not run; try again shortly.', options);
  }
}

/**
 * Awaits a use of the approval service (or the console's session store beside it). A refusal (an AirlockError)
 * passes as it is; a failure of the store underneath (an I/O error, a lost connection, a record it will not
 * use) becomes ApprovalsUnavailableError instead of an INTERNAL error, so the caller knows to try again. A
 * fault in airlock's own code (a TypeError, a RangeError, …) passes as it is too: "try again" would not mend it
 * and would hide it from the operators as an outage.
 */
export async function fromApprovalStore<T>(use: Promise<T>): Promise<T> {
  try {
    return await use;
  } catch (error) {
    if (error instanceof AirlockError || isProgrammingError(error)) throw error;
    throw new ApprovalsUnavailableError({ detail: `approval store: ${error instanceof Error ? error.message : String(error)}`, cause: error });
  }
}

/**
 * JavaScript's own errors for code that is wrong, not for a store that failed. Node's argument errors are
 * TypeErrors and RangeErrors too (ERR_INVALID_ARG_TYPE, …); the stores' drivers report I/O and the database
 * with plain Errors (an errno or SQLSTATE code, or a message such as "Connection terminated unexpectedly").
 */
function isProgrammingError(error: unknown): boolean {
  return error instanceof TypeError || error instanceof RangeError || error instanceof ReferenceError || error instanceof SyntaxError || error instanceof EvalError || error instanceof URIError;
}
