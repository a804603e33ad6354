/**
 * Typed errors. Every failure that can end a governed call is an `AirlockError` with a stable `code`
 * and a `publicMessage` that is safe to show to the agent. `message` and `cause` carry internal detail
 * for the audit log and operators only; `surface.ts` is the one place that turns errors into results.
 */

/** Stable error codes. Agents, tests and audit readers may switch on these. */
export type AirlockErrorCode =
  | 'UNAUTHENTICATED'
  | 'UNKNOWN_TOOL'
  | 'INVALID_INPUT'
  | 'UNKNOWN_RESOURCE'
  | 'POLICY_DENIED'
  | 'APPROVAL_REQUIRED'
  | 'APPROVAL_PENDING'
  | 'APPROVAL_DENIED'
  | 'APPROVAL_EXPIRED'
  | 'APPROVAL_NOT_FOUND'
  | 'APPROVAL_FORBIDDEN'
  | 'APPROVAL_USED'
  | 'APPROVAL_MISMATCH'
  | 'APPROVAL_INVALID'
  | 'APPROVAL_WITHDRAWN'
  | 'APPROVALS_UNAVAILABLE'
  | 'CONFIRMATION_DECLINED'
  | 'CONFIRMATION_UNAVAILABLE'
  | 'INVALID_SQL'
  | 'SQL_REJECTED'
  | 'QUERY_FAILED'
  | 'TIMEOUT'
  | 'CANCELLED'
  | 'UPSTREAM_UNAVAILABLE'
  | 'UPSTREAM_DENIED'
  | 'UPSTREAM_TIMEOUT'
  | 'NOT_FOUND'
  | 'CONTENT_REJECTED'
  | 'MASKING_FAILED'
  | 'AUDIT_UNAVAILABLE'
  | 'TOO_MANY_CALLS'
  | 'SHUTTING_DOWN'
  | 'INTERNAL';

/** The audit outcome each code is recorded under. */
export type Outcome =
  | 'ok'
  | 'unauthenticated'
  | 'unknown_tool'
  | 'invalid'
  | 'denied'
  | 'approval_required'
  | 'error'
  | 'timed_out'
  | 'cancelled'
  /** Set by the audit store only: airlock stopped after the call started and before its outcome was recorded. */
  | 'interrupted';

export interface AirlockErrorOptions {
  /** Internal detail: audit and operator logs only, never the agent. */
  readonly detail?: string;
  readonly cause?: unknown;
  /** Safe, structured extras for the agent (e.g. which rule denied, which field was wrong). */
  readonly data?: Readonly<Record<string, unknown>>;
}

/** Base class: never thrown directly, always one of the subclasses below. */
export abstract class AirlockError extends Error {
  abstract readonly code: AirlockErrorCode;
  abstract readonly outcome: Outcome;
  readonly publicMessage: string;
  readonly data: Readonly<Record<string, unknown>>;

  protected constructor(publicMessage: string, options: AirlockErrorOptions = {}) {
    super(options.detail ?? publicMessage, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.publicMessage = publicMessage;
    this.data = options.data ?? {};
  }
}

export class UnauthenticatedError extends AirlockError {
  readonly code = 'UNAUTHENTICATED';
  readonly outcome = 'unauthenticated';
  constructor(options?: AirlockErrorOptions) {
    super('No verified identity: this call carries no valid credential.', options);
  }
}

export class UnknownToolError extends AirlockError {
  readonly code = 'UNKNOWN_TOOL';
  readonly outcome = 'unknown_tool';
  constructor(toolName: string, known: readonly string[]) {
    super(`Unknown tool "${truncate(toolName, 64)}". Available tools: ${known.join(', ')}.`, {
      data: { tool: truncate(toolName, 64), known: [...known] },
    });
  }
}

export interface InputIssue {
  readonly path: string;
  readonly message: string;
}

export class InvalidInputError extends AirlockError {
  readonly code = 'INVALID_INPUT';
  readonly outcome = 'invalid';
  readonly issues: readonly InputIssue[];
  constructor(toolName: string, issues: readonly InputIssue[]) {
    const list = issues.map((i) => `${i.path || '(arguments)'}: ${i.message}`).join('; ');
    super(`Invalid arguments for ${truncate(toolName, 64)}: ${list}`, { data: { issues: issues.map((i) => ({ ...i })) } });
    this.issues = issues;
  }
}

export class UnknownResourceError extends AirlockError {
  readonly code = 'UNKNOWN_RESOURCE';
  readonly outcome = 'invalid';
  constructor(kind: string, name: string) {
    super(`Unknown ${kind} "${truncate(name, 64)}".`, { data: { kind, name: truncate(name, 64) } });
  }
}

export class PolicyDeniedError extends AirlockError {
  readonly code = 'POLICY_DENIED';
  readonly outcome = 'denied';
  constructor(reason: string, ruleIds: readonly string[]) {
    super(`Denied by policy: ${reason}`, { data: { ruleIds: [...ruleIds] } });
  }
}

export class ApprovalRequiredError extends AirlockError {
  readonly code = 'APPROVAL_REQUIRED';
  readonly outcome = 'approval_required';
  constructor(reason: string, ruleIds: readonly string[], approverGroups: readonly string[]) {
    super(
      `Approval required: ${reason} A human approver (${approverGroups.join(', ') || 'any approver'}) must approve this exact call; it was not run.`,
      { data: { ruleIds: [...ruleIds], approverGroups: [...approverGroups] } },
    );
  }
}

/** The caller's own user declined (or did not answer) the confirmation of this exact call: nothing ran. */
export class ConfirmationDeclinedError extends AirlockError {
  readonly code = 'CONFIRMATION_DECLINED';
  readonly outcome = 'denied';
  constructor(how: 'declined' | 'cancelled' | 'not_confirmed' | 'no_answer', note: string | undefined, ruleIds: readonly string[], options?: AirlockErrorOptions) {
    const what = {
      declined: 'Your user declined this call',
      cancelled: 'Your user cancelled the confirmation of this call',
      not_confirmed: 'Your user did not confirm this call (the form came back without "confirm" checked)',
      no_answer: 'Your user\'s confirmation of this call did not arrive',
    }[how];
    const said = note === undefined || note === '' ? '' : ` Their note: "${truncate(note, 500)}".`;
    super(`${what}; it was not run.${said} Do not send it again unless your user asks for it.`, { ...options, data: { how, ruleIds: [...ruleIds] } });
  }
}

/** The call needs its caller's user to confirm it, and the client cannot be asked (no MCP elicitation). */
export class ConfirmationUnavailableError extends AirlockError {
  readonly code = 'CONFIRMATION_UNAVAILABLE';
  readonly outcome = 'denied';
  constructor(ruleIds: readonly string[], options?: AirlockErrorOptions) {
    super(
      `This call needs your user's confirmation, and your client does not support MCP elicitation; it was not run. Make it from an MCP client that supports elicitation forms (rules: ${ruleIds.join(', ')}).`,
      { ...options, data: { ruleIds: [...ruleIds] } },
    );
  }
}

/** Where a SQL syntax error is: 1-based character position in the statement, and its line and column. */
export interface SqlPosition {
  readonly position: number;
  readonly line: number;
  readonly column: number;
}

/**
 * The statement does not parse: the caller's own mistake, not a policy decision. Carries the parser's
 * message, which quotes only the caller's statement, and where the error is. Nothing ran.
 */
export class InvalidSqlError extends AirlockError {
  readonly code = 'INVALID_SQL';
  readonly outcome = 'invalid';
  constructor(parserMessage: string, at: SqlPosition | undefined, options?: AirlockErrorOptions) {
    const where = at === undefined ? '' : ` at line ${at.line}, column ${at.column} (character ${at.position})`;
    super(`SQL syntax error${where}: ${truncate(parserMessage, 300)}. The statement was not run; fix it and call again.`, {
      ...options,
      data: { ...(at === undefined ? {} : { position: at.position, line: at.line, column: at.column }) },
    });
  }
}

export class SqlRejectedError extends AirlockError {
  readonly code = 'SQL_REJECTED';
  readonly outcome = 'denied';
  constructor(reason: string, options?: AirlockErrorOptions) {
    super(`SQL rejected: ${reason}`, options);
  }
}

export class QueryFailedError extends AirlockError {
  readonly code = 'QUERY_FAILED';
  readonly outcome = 'error';
  constructor(publicText: string, options?: AirlockErrorOptions) {
    super(`Query failed: ${publicText}`, options);
  }
}

export class TimeoutError extends AirlockError {
  readonly code = 'TIMEOUT';
  readonly outcome = 'timed_out';
  constructor(limitMs: number, options?: AirlockErrorOptions) {
    super(`The call exceeded its time limit of ${limitMs} ms and was stopped. Narrow the request.`, {
      ...options,
      data: { limitMs },
    });
  }
}

export class CancelledError extends AirlockError {
  readonly code = 'CANCELLED';
  readonly outcome = 'cancelled';
  constructor(options?: AirlockErrorOptions & { readonly publicMessage?: string }) {
    super(options?.publicMessage ?? 'The call was cancelled.', options);
  }
}

/**
 * A call that was still running when a stopping airlock stopped waiting for it: cancelled, with a text that
 * tells the agent why and what to do. It is the abort reason of the signal the call's stages watch.
 */
export class ShuttingDownError extends CancelledError {
  constructor(options?: AirlockErrorOptions) {
    super({ ...options, publicMessage: 'airlock is shutting down and stopped this call before it finished; call again once it is back.' });
  }
}

/**
 * A call that arrived after airlock began to stop: refused before it ran, so that the process can end once
 * the calls already running have finished. Another instance (or this one, once restarted) takes the retry.
 */
export class DrainingError extends AirlockError {
  readonly code = 'SHUTTING_DOWN';
  readonly outcome = 'error';
  constructor(options?: AirlockErrorOptions) {
    super('airlock is shutting down and takes no new calls; the call was not run. Call again in a moment.', options);
  }
}

export class UpstreamUnavailableError extends AirlockError {
  readonly code = 'UPSTREAM_UNAVAILABLE';
  readonly outcome = 'error';
  constructor(what: string, options?: AirlockErrorOptions) {
    super(`${what} is unavailable right now; try again shortly.`, options);
  }
}

/** The upstream service refused airlock's own credentials (401/403, PERMISSION_DENIED). */
export class UpstreamDeniedError extends AirlockError {
  readonly code = 'UPSTREAM_DENIED';
  readonly outcome = 'error';
  constructor(what: string, options?: AirlockErrorOptions) {
    super(`${what} refused airlock's access. This is a deployment matter (airlock's service account lacks a permission), not something a different request fixes.`, options);
  }
}

/** The upstream service did not answer within the call's time limit (a hang, DEADLINE_EXCEEDED). */
export class UpstreamTimeoutError extends AirlockError {
  readonly code = 'UPSTREAM_TIMEOUT';
  readonly outcome = 'timed_out';
  constructor(what: string, limitMs: number, options?: AirlockErrorOptions) {
    super(`${what} did not answer within the call's time limit of ${limitMs} ms; the request was stopped. Try again, or narrow it.`, { ...options, data: { limitMs, ...options?.data } });
  }
}

/** What the call names does not exist upstream (a missing object or bucket). */
export class NotFoundError extends AirlockError {
  readonly code = 'NOT_FOUND';
  readonly outcome = 'error';
  constructor(what: string, options?: AirlockErrorOptions) {
    super(`${what} was not found.`, options);
  }
}

export class MaskingFailedError extends AirlockError {
  readonly code = 'MASKING_FAILED';
  readonly outcome = 'error';
  constructor(options?: AirlockErrorOptions) {
    super('The result could not be masked, so no data was returned.', options);
  }
}

export class AuditUnavailableError extends AirlockError {
  readonly code = 'AUDIT_UNAVAILABLE';
  readonly outcome = 'error';
  constructor(options?: AirlockErrorOptions) {
    super('The audit log is unavailable, so the call was not run.', options);
  }
}

/** The caller already has as many calls running as airlock allows one principal, and none finished in time. */
export class TooManyCallsError extends AirlockError {
  readonly code = 'TOO_MANY_CALLS';
  readonly outcome = 'error';
  constructor(maxConcurrent: number, options?: AirlockErrorOptions) {
    super(
      `Too many calls in flight: at most ${maxConcurrent} of your calls run at once, and none finished in time. The call was not run; wait for your running calls to finish and try again.`,
      { ...options, data: { maxConcurrent } },
    );
  }
}

/** Why content was refused: it inflates past the ratio cap (a compression bomb), or its compression is corrupt. */
export type ContentRejection = 'too_compressed' | 'corrupt';

const CONTENT_REJECTED: Readonly<Record<ContentRejection, string>> = {
  too_compressed: 'The content was not returned: it decompresses to far more than its compressed size (a possible compression bomb).',
  corrupt: 'The content was not returned: its compressed data is corrupt.',
};

/** An object's content that airlock refuses to decode (fixed public text per reason; detail to the audit). */
export class ContentRejectedError extends AirlockError {
  readonly code = 'CONTENT_REJECTED';
  readonly outcome = 'error';
  readonly reason: ContentRejection;
  constructor(reason: ContentRejection, options?: AirlockErrorOptions) {
    super(CONTENT_REJECTED[reason], { ...options, data: { ...options?.data, reason } });
    this.reason = reason;
  }
}

export class InternalError extends AirlockError {
  readonly code = 'INTERNAL';
  readonly outcome = 'error';
  constructor(options?: AirlockErrorOptions) {
    super('Internal error. The call was stopped; operators can find details in the audit log.', options);
  }
}

/**
 * The same error (same class, code and outcome) with every text it carries rewritten: the public
 * message, the internal message and stack, and every string inside `data` and the other fields a
 * subclass adds (`issues`). Error texts are output like results: a Postgres message can quote a stored
 * value. `cause` is kept as it is (never shown or recorded). Returns `error` itself when nothing changed.
 */
export function rewriteErrorText(error: AirlockError, text: (s: string, key: string) => string, value: (v: unknown) => unknown): AirlockError {
  const descriptors = Object.getOwnPropertyDescriptors(error) as Record<string, PropertyDescriptor>;
  let changed = false;
  for (const [key, d] of Object.entries(descriptors)) {
    if (key === 'cause' || key === 'code' || key === 'outcome' || key === 'name') continue;
    // Some engines give `stack` as an accessor bound to the original: the copy gets its text as a value.
    const accessor = !('value' in d);
    const before: unknown = accessor ? (key === 'stack' ? error.stack : undefined) : d.value;
    const after = typeof before === 'string' ? text(before, key) : before !== null && typeof before === 'object' ? value(before) : before;
    if (after === before && !accessor) continue;
    descriptors[key] = { configurable: true, enumerable: d.enumerable ?? false, writable: true, value: after };
    changed = true;
  }
  if (!changed) return error;
  return Object.create(Object.getPrototypeOf(error) as object, descriptors) as AirlockError;
}

/** Wraps anything thrown into an AirlockError; unknown throwables become INTERNAL. */
export function toAirlockError(error: unknown): AirlockError {
  if (error instanceof AirlockError) return error;
  return new InternalError({ detail: error instanceof Error ? error.message : String(error), cause: error });
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}
