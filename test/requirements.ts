/**
 * Security invariants, by id. Every id must be cited, as "(id)", in the name of at least one test;
 * test/invariants.test.ts fails when one is not. Add the id to the test that proves it.
 */
export const INVARIANTS = {
  'audit:records-success': 'A successful call leaves exactly one audit record, with principal, decision and masked response.',
  'audit:records-denials': 'A call denied by policy is audited with the deciding rules.',
  'audit:records-invalid': 'A call with invalid arguments is audited with the arguments as sent.',
  'audit:records-unknown-tool': 'A call to an unknown tool is audited.',
  'audit:records-unauthenticated': 'A call without a verified identity is audited (stdio, HTTP gate).',
  'audit:fail-closed': 'If the audit record cannot be written, no data is returned.',
  'audit:no-token': 'Tokens never appear in the audit.',
  'audit:one-record-per-call': 'Concurrent calls of every outcome give exactly one record each, in one verifying chain.',
  'audit:started-before-execution': 'A call runs only after a durable started entry; one cut off by a crash is recorded as interrupted.',
  'audit:crash-safe': 'kill -9 mid-write leaves every segment valid JSON and loses no acknowledged record.',
  'audit:tamper-evident': 'An edited, deleted, reordered or inserted record, or a replaced segment, fails verification and is named.',
  'audit:no-clear-values': 'Values masking removed never appear in clear in the audit store; the compliance copy is encrypted.',
  'audit:single-writer': 'Two live processes never write the same audit directory.',
  'policy:default-deny': 'No matching rule means deny.',
  'policy:deny-wins': 'Any matching deny wins, whatever the order.',
  'identity:attack-suite': 'Every token attack is refused with the fixed public error and an audit record.',
  'identity:per-request': 'HTTP verifies every request; an expired token mid-session gets 401 and an audit record.',
  'identity:session-owner': 'A session cannot be used by another principal.',
  'identity:verified-email': 'An email counts (static groups, policy emails) only when verified (boolean true), stable under Unicode folding, and from an issuer that speaks for its domain.',
  'identity:claim-types': 'sub and email are bounded strings without control characters; dates are finite; claim paths resolve through objects only.',
  'identity:trust-bootstrap': 'Discovered URLs meet the https-or-loopback rule, trust documents are size-capped, and fetches back off during an outage.',
  'audit:gate-refusals': 'Every HTTP gate refusal has one record under the caller (or no identity), never inside the session it named, with bounded input.',
  'sql:never-read': 'Nothing that writes, changes schema or privileges, or has side effects is classified read.',
  'masking:lineage': 'Every output derived from a sensitive column is masked whole.',
  'masking:sensitive-use-approval': 'A sensitive column used outside the output needs approval.',
  'query:no-value-in-errors': 'Stored values never appear in errors shown to the agent.',
  'query:cancel': 'Cancelling a call cancels the statement on the server and audits it as cancelled.',
  'http:dns-rebinding': 'Foreign Host and Origin headers are refused.',
} as const;
