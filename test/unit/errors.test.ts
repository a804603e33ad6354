import { describe, expect, it } from 'vitest';
import {
  ApprovalRequiredError,
  AuditUnavailableError,
  InternalError,
  InvalidInputError,
  InvalidSqlError,
  ShuttingDownError,
  DrainingError,
  PolicyDeniedError,
  QueryFailedError,
  toAirlockError,
  UnknownToolError,
} from '../../src/errors.js';
import { errorResponse } from '../../src/surface.js';
import { ApprovalsUnavailableError } from '../../src/approval/errors.js';

describe('AirlockError subclasses', () => {
  it('carry a stable code, an audit outcome and a public message', () => {
    const cases = [
      [new UnknownToolError('nope', ['query_sql']), 'UNKNOWN_TOOL', 'unknown_tool', 'Unknown tool "nope". Available tools: query_sql.'],
      [new InvalidInputError('query_sql', [{ path: 'sql', message: 'Required' }]), 'INVALID_INPUT', 'invalid', 'Invalid arguments for query_sql: sql: Required'],
      [new InvalidSqlError('syntax error at or near "SELEC"', { position: 1, line: 1, column: 1 }), 'INVALID_SQL', 'invalid', 'SQL syntax error at line 1, column 1 (character 1): syntax error at or near "SELEC". The statement was not run; fix it and call again.'],
      [new PolicyDeniedError('no rule allows this call (default deny).', []), 'POLICY_DENIED', 'denied', 'Denied by policy: no rule allows this call (default deny).'],
      [new AuditUnavailableError(), 'AUDIT_UNAVAILABLE', 'error', 'The audit log is unavailable, so the call was not run.'],
      [new ApprovalsUnavailableError(), 'APPROVALS_UNAVAILABLE', 'error', 'The approval store is unavailable, so the call was not run; try again shortly.'],
      [new ShuttingDownError(), 'CANCELLED', 'cancelled', 'airlock is shutting down and stopped this call before it finished; call again once it is back.'],
      [new DrainingError(), 'SHUTTING_DOWN', 'error', 'airlock is shutting down and takes no new calls; the call was not run. Call again in a moment.'],
    ] as const;
    for (const [error, code, outcome, message] of cases) {
      expect(error.code).toBe(code);
      expect(error.outcome).toBe(outcome);
      expect(error.publicMessage).toBe(message);
    }
  });

  it('names the approver groups when approval is required', () => {
    const error = new ApprovalRequiredError('Writes need a DBA.', ['w'], ['dba']);
    expect(error.publicMessage).toBe('Approval required: Writes need a DBA. A human approver (dba) must approve this exact call; it was not run.');
    expect(error.data).toEqual({ ruleIds: ['w'], approverGroups: ['dba'] });
  });
});

describe('toAirlockError', () => {
  it('turns unknown throwables into INTERNAL without exposing their message publicly', () => {
    const error = toAirlockError(new Error('password=hunter2 at db.internal'));
    expect(error).toBeInstanceOf(InternalError);
    expect(error.code).toBe('INTERNAL');
    expect(error.publicMessage).not.toContain('hunter2');
    expect(error.message).toContain('hunter2');
  });
});

describe('errorResponse', () => {
  it('shows only the public message, the code and the audit id', () => {
    const error = new QueryFailedError('invalid text representation (SQLSTATE 22P02)', {
      detail: 'invalid input syntax for type integer: "4111 1111 1111 1111"',
    });
    const response = errorResponse(error, 'audit-123');
    expect(response.isError).toBe(true);
    expect(response.content[0]?.text).toBe('Query failed: invalid text representation (SQLSTATE 22P02)\n[code: QUERY_FAILED; audit id: audit-123]');
    expect(JSON.stringify(response)).not.toContain('4111');
    expect(response._meta['airlock/error']).toEqual({ code: 'QUERY_FAILED', auditId: 'audit-123' });
  });
});
