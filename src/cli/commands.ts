/**
 * Every `airlock` command: its usage text, options and arguments. This module is all that `--help`,
 * `--version` and argument checking need, so it imports nothing heavier than Node itself; the
 * implementations are loaded only when a command runs.
 */
import type { ParseArgsConfig, parseArgs } from 'node:util';
import { DEFAULTS } from '../defaults.js';
import { VERSION } from '../version.js';

/** An option table as `parseArgs` takes it. */
export type Options = NonNullable<ParseArgsConfig['options']>;

/** The values `parseArgs` gives for an option table: each option typed by its declaration. */
export type OptionValues<O extends Options> = ReturnType<typeof parseArgs<{ options: O; strict: true; allowPositionals: true }>>['values'];

/**
 * One runnable command (`serve`, `policy check`, `audit verify`, …). `O` is its option table; commands whose
 * implementation is typed from the table keep it exact, the others use the default.
 */
export interface CommandSpec<O extends Options = Options> {
  /** As typed after `airlock`: `'serve'`, `'policy check'`. */
  readonly name: string;
  /** One line for the overview. */
  readonly summary: string;
  readonly usage: string;
  /** The options it accepts: the only declaration of them; the usage must name each (a test holds them together). */
  readonly options: O;
  /** How many positional arguments it takes, and what they are called in messages. */
  readonly positionals: { readonly min: number; readonly max: number; readonly label: string };
}

/** A command with subcommands (`policy`, `audit`). */
export interface GroupSpec {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  readonly commands: readonly CommandSpec[];
}

const FILES = `Files (when no flag names them):
  audit directory   $XDG_STATE_HOME/airlock/audit, or ~/.local/state/airlock/audit
  policy (serve)    ./policies.json, then $XDG_CONFIG_HOME/airlock/policies.json
                    (or ~/.config/airlock/policies.json)`;

const SERVE_OPTIONS = {
  stdio: { type: 'boolean' },
  http: { type: 'boolean' },
  port: { type: 'string' },
  host: { type: 'string' },
  policy: { type: 'string' },
  'audit-dir': { type: 'string' },
  'audit-segment-bytes': { type: 'string' },
  'audit-fsync': { type: 'boolean' },
  'dev-identity': { type: 'string' },
  config: { type: 'string' },
  'token-file': { type: 'string' },
  demo: { type: 'boolean' },
  'allowed-host': { type: 'string', multiple: true },
  'allowed-origin': { type: 'string', multiple: true },
  'max-body-bytes': { type: 'string' },
  'session-idle-seconds': { type: 'string' },
  'keep-alive-seconds': { type: 'string' },
  'max-concurrent-calls': { type: 'string' },
  'call-queue': { type: 'string' },
  'call-queue-ms': { type: 'string' },
  'max-sessions': { type: 'string' },
  'max-sessions-per-principal': { type: 'string' },
  'max-session-buffer-bytes': { type: 'string' },
  'audit-max-value-bytes': { type: 'string' },
  'audit-max-input-bytes': { type: 'string' },
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
  'metrics-port': { type: 'string' },
  'metrics-host': { type: 'string' },
} as const satisfies Options;

/** The options `serve` and `start` share. */
export type ServeOptions = typeof SERVE_OPTIONS;

const SERVE_FLAGS = `  --stdio                      MCP over stdin/stdout (the client spawns airlock)
  --http                       Streamable HTTP at /mcp and legacy SSE at /sse + /messages
  --port N                     HTTP port (default ${DEFAULTS.port}; 0 picks a free port)
  --host H                     HTTP bind address (default ${DEFAULTS.host})
  --policy FILE                policy file (default: ./policies.json, then
                               $XDG_CONFIG_HOME/airlock/policies.json or ~/.config/airlock/policies.json)
  --audit-dir DIR              audit directory (default: $XDG_STATE_HOME/airlock/audit or
                               ~/.local/state/airlock/audit)
  --audit-segment-bytes N      seal audit segments at N bytes (default ${DEFAULTS.auditSegmentBytes})
  --audit-fsync                fsync every audit journal write (survives power loss; slower)
  --config FILE                runtime config: trusted OIDC issuers, audiences, group claim (JSON)
  --token-file PATH            stdio: the caller's token, re-read when it rotates (or set AIRLOCK_TOKEN)
  --dev-identity EMAIL[,G...]  UNVERIFIED identity for demos and tests; marked in every audit record
  --demo                       start an embedded PostgreSQL with demo data if DATABASE_URL is not set
  --allowed-host H             extra Host header value to accept (repeatable)
  --allowed-origin O           extra Origin to accept (repeatable)
  --max-body-bytes N           largest request: HTTP body or stdio line (default ${DEFAULTS.maxBodyBytes})
  --session-idle-seconds N     close HTTP sessions idle this long (default ${DEFAULTS.sessionIdleMs / 1000})
  --keep-alive-seconds N       keep idle HTTP connections open this long; behind a load balancer, longer than
                               its idle timeout (620 behind Google Cloud load balancers; default ${DEFAULTS.keepAliveMs / 1000})
  --max-concurrent-calls N     calls one principal runs at once (default 4)
  --call-queue N               calls of one principal that may wait for a slot (default 8)
  --call-queue-ms N            how long a waiting call waits before TOO_MANY_CALLS (default 5000)
  --max-sessions N             open HTTP/SSE sessions in total (default 1000)
  --max-sessions-per-principal N
                               open HTTP/SSE sessions of one principal (default 32)
  --max-session-buffer-bytes N unread output a stream may hold before its session is dropped
                               (default 16777216)
  --audit-max-value-bytes N    audit longer argument strings as sha256 + prefix (default 8192)
  --audit-max-input-bytes N    audit larger arguments as sha256 + prefix (default 262144)
  --log-level L                debug | info | warn | error (default ${DEFAULTS.logLevel}; logs go to stderr)
  --log-format F               json (one JSON object a line; default of serve) | pretty (text; default of
                               start); or set AIRLOCK_LOG_FORMAT
  --metrics-port N             serve Prometheus metrics at GET /metrics on a listener of its own
                               (stdio too; 0 picks a free port); a bearer when AIRLOCK_METRICS_TOKEN is set
  --metrics-host H             the metrics listener's bind address (default 127.0.0.1)`;

const none = { min: 0, max: 0, label: '' } as const;

export const SERVE: CommandSpec<ServeOptions> = {
  name: 'serve',
  summary: 'serve MCP to agents over stdio (the client spawns airlock) or HTTP',
  usage: `Usage: airlock serve --stdio | --http [options]

Serves the governed tools over MCP. Every call is checked against the policy, masked and audited.

Options:
${SERVE_FLAGS}

${FILES}`,
  options: SERVE_OPTIONS,
  positionals: none,
};

export const START: CommandSpec<ServeOptions> = {
  name: 'start',
  summary: `the demo: embedded PostgreSQL with sample data, HTTP on ${DEFAULTS.host}:${DEFAULTS.port}`,
  usage: `Usage: airlock start [--port N] [--policy FILE] [--audit-dir DIR] [options]

The demo: starts an embedded PostgreSQL with sample data (or uses DATABASE_URL when it is set) and
serves MCP over HTTP on ${DEFAULTS.host}:${DEFAULTS.port} (another free port if that one is taken and
--port is not given). Every call runs as the unverified dev identity ana@example.com (group analysts).
The policy is ./policies.json when it exists, else the example policy shipped with airlock.
"airlock demo" is the same command.

Options: those of "airlock serve" (airlock serve --help).`,
  options: SERVE_OPTIONS,
  positionals: none,
};

const POLICY_CHECK: CommandSpec = {
  name: 'policy check',
  summary: 'validate a policy file and print its version',
  usage: `Usage: airlock policy check FILE

Validates FILE (JSON syntax, schema, rule references) and prints "FILE: OK (N rules, version sha256:…)".
Every problem is reported with its path in the file; exit code 2 when there is any.`,
  options: {},
  positionals: { min: 1, max: 1, label: 'FILE' },
};

const POLICY_EXPLAIN: CommandSpec = {
  name: 'policy explain',
  summary: 'what the policy would do with one call, and why',
  usage: `Usage: airlock policy explain [--policy FILE] --principal JSON --tool NAME [--input JSON]

Prints, as JSON, the decision the policy takes for one call: effect, deciding rules, reason, masking
and limits. Nothing is executed.

Options:
  --policy FILE     policy file (default ./policies.json)
  --principal JSON  the caller, e.g. '{"email":"ana@example.com","groups":["analysts"]}'
  --tool NAME       the tool called, e.g. query_sql
  --input JSON      the tool's arguments, e.g. '{"connection":"shop","sql":"SELECT 1"}'`,
  options: { policy: { type: 'string' }, principal: { type: 'string' }, tool: { type: 'string' }, input: { type: 'string' } },
  positionals: none,
};

const POLICY_TEST: CommandSpec = {
  name: 'policy test',
  summary: 'replay recorded or hand-written calls against a policy',
  usage: `Usage: airlock policy test [--policy FILE] --input calls.jsonl|AUDIT_DIR|AUDIT_SEGMENT|-

Decides every call of the input with the policy and prints one JSON line per call; with audit records
as input, also what each call came to then and now ("was", "now") and a summary on stderr. A line that
is neither a call nor an audit record is reported as an "error" line and skipped; the exit code is then 1.

Options:
  --policy FILE     policy file (default ./policies.json)
  --input SOURCE    JSONL calls ({"principal":…,"tool":…,"input":…}), an audit directory, one audit
                    segment, or - for stdin`,
  options: { policy: { type: 'string' }, input: { type: 'string' } },
  positionals: none,
};

export const POLICY: GroupSpec = {
  name: 'policy',
  summary: 'check a policy file, explain one call, test a policy against calls',
  usage: `Usage: airlock policy check|explain|test …

  airlock policy check FILE
  airlock policy explain [--policy FILE] --principal JSON --tool NAME [--input JSON]
  airlock policy test [--policy FILE] --input calls.jsonl|AUDIT_DIR|AUDIT_SEGMENT|-

airlock policy <command> --help explains each.`,
  commands: [POLICY_CHECK, POLICY_EXPLAIN, POLICY_TEST],
};

export const MASK: CommandSpec = {
  name: 'mask',
  summary: 'try the masking detectors and rules on your own samples',
  usage: `Usage:
  airlock mask FILE [--policy FILE] [--detectors A,B]
  airlock mask --stream [FILE] [--policy FILE] [--detectors A,B]
  airlock mask --jsonl [--policy FILE] [--detectors A,B] [--principal JSON] [--tool NAME] [--resource NAME] < lines.jsonl

Masks text the way airlock masks results, and writes it to stdout.

Options:
  --stream          mask in chunks, FILE or stdin to stdout (for large input); output stops at the last
                    fully masked chunk if masking fails (exit code 1)
  --jsonl           read {"id","text"} lines from stdin, write {"id","masked","findings"} lines
  --policy FILE     use the masking settings of this policy (default: every built-in detector, redact)
  --detectors A,B   use only these detectors
  --principal JSON  with --policy: the detectors the policy's overrides give this caller
  --tool NAME       with --policy: … for this tool (default query_sql)
  --resource NAME   with --policy: … on this resource`,
  options: {
    jsonl: { type: 'boolean' },
    stream: { type: 'boolean' },
    policy: { type: 'string' },
    detectors: { type: 'string' },
    principal: { type: 'string' },
    tool: { type: 'string' },
    resource: { type: 'string' },
  },
  positionals: { min: 0, max: 1, label: 'FILE' },
};

const AUDIT_DIR = `  --audit-dir DIR   the audit directory (default: $XDG_STATE_HOME/airlock/audit or
                    ~/.local/state/airlock/audit)`;
const FILTERS = `  --principal P     email or subject (wildcards *)
  --tool NAME       tool name
  --session ID      session id
  --outcome LIST    outcomes, comma-separated (ok,denied,error,…)
  --since TIME      ISO time, date, or a duration back from now (15m, 2h, 7d)
  --until TIME      the same`;
const PG = `  --config FILE     read the "audit.postgres" table of this runtime config instead of --audit-dir`;
const filterOptions = {
  principal: { type: 'string' },
  tool: { type: 'string' },
  session: { type: 'string' },
  outcome: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
} as const satisfies Options;
const dirOption = { 'audit-dir': { type: 'string' } } as const satisfies Options;

const AUDIT_OPTIONS = {
  verify: { ...dirOption, json: { type: 'boolean' }, progress: { type: 'boolean' }, config: { type: 'string' }, head: { type: 'string' } },
  tail: { ...dirOption, n: { type: 'string', short: 'n' }, follow: { type: 'boolean', short: 'f' }, format: { type: 'string' }, config: { type: 'string' } },
  search: { ...dirOption, ...filterOptions, format: { type: 'string' }, limit: { type: 'string' }, config: { type: 'string' } },
  export: { ...dirOption, ...filterOptions, format: { type: 'string' }, config: { type: 'string' } },
  replay: { ...dirOption, session: { type: 'string' }, principal: { type: 'string' }, client: { type: 'string' }, since: { type: 'string' }, until: { type: 'string' }, format: { type: 'string' }, config: { type: 'string' } },
  reveal: { ...dirOption, config: { type: 'string' } },
  view: { ...dirOption, port: { type: 'string' }, host: { type: 'string' } },
} as const satisfies Record<string, Options>;

/** The option table of each `airlock audit` subcommand; the audit commands take their values typed from it. */
export type AuditOptions = typeof AUDIT_OPTIONS;

export const AUDIT_VERIFY: CommandSpec<AuditOptions['verify']> = {
  name: 'audit verify',
  summary: 'check the hash chain of the whole store',
  usage: `Usage: airlock audit verify [--audit-dir DIR] [--json] [--progress] [--config FILE] [--head HASH]

Checks every record's hash and every link of the chain, across segments and the journal, and prints
"ok: N record(s) in M segment(s) form an unbroken chain; head HASH" (exit code 0), or TAMPERED and each
problem (exit code 1).

Options:
${AUDIT_DIR}
  --json            print the report as JSON
  --progress        show progress on stderr even when it is not a terminal (records/s, time left)
  --config FILE     check tombstones against the configured retention key, or verify "audit.postgres"
  --head HASH       a head noted earlier must still be in the chain: the whole hash, or a unique
                    prefix of at least 16 hex digits (with or without "sha256:")`,
  options: AUDIT_OPTIONS.verify,
  positionals: none,
};

export const AUDIT_TAIL: CommandSpec<AuditOptions['tail']> = {
  name: 'audit tail',
  summary: 'the latest records',
  usage: `Usage: airlock audit tail [--audit-dir DIR] [-n N] [--follow] [--format table|json] [--config FILE]

Options:
${AUDIT_DIR}
  -n N              how many records (default 20)
  --follow, -f      keep printing new records
  --format F        table (default) or json (one record per line)
${PG}`,
  options: AUDIT_OPTIONS.tail,
  positionals: none,
};

export const AUDIT_SEARCH: CommandSpec<AuditOptions['search']> = {
  name: 'audit search',
  summary: 'records that match filters',
  usage: `Usage: airlock audit search [--audit-dir DIR] [filters] [--format table|json] [--limit N] [--config FILE]

Options:
${AUDIT_DIR}
${FILTERS}
  --format F        table (default) or json
  --limit N         only the newest N matches
${PG}`,
  options: AUDIT_OPTIONS.search,
  positionals: none,
};

export const AUDIT_EXPORT: CommandSpec<AuditOptions['export']> = {
  name: 'audit export',
  summary: 'records as JSONL or CSV',
  usage: `Usage: airlock audit export [--audit-dir DIR] [filters] --format jsonl|csv [--config FILE]

Options:
${AUDIT_DIR}
${FILTERS}
  --format F        jsonl or csv (required)
${PG}`,
  options: AUDIT_OPTIONS.export,
  positionals: none,
};

export const AUDIT_REPLAY: CommandSpec<AuditOptions['replay']> = {
  name: 'audit replay',
  summary: "one session's calls, or one principal's, as a timeline",
  usage: `Usage: airlock audit replay [--audit-dir DIR] --session ID [--format text|json] [--config FILE]
       airlock audit replay [--audit-dir DIR] --principal P [--client NAME] [--since T] [--until T] [--format text|json]

2025-era calls belong to a session; 2026-07-28 calls have none (sessionId ""): replay those by principal,
and by the client program that made them. Exit code 1 when nothing matches.

Options:
${AUDIT_DIR}
  --session ID      the session (every 2025-era record has one: airlock audit tail --format json)
  --principal P     the caller's email or subject (* matches any run of characters), instead of --session
  --client NAME     with --principal: only calls of the client that names itself NAME (its clientInfo)
  --since T         with --principal: calls at or after T (ISO time, or 15m, 2h, 1d ago)
  --until T         with --principal: calls before T
  --format F        text (default) or json
${PG}`,
  options: AUDIT_OPTIONS.replay,
  positionals: none,
};

export const AUDIT_REVEAL: CommandSpec<AuditOptions['reveal']> = {
  name: 'audit reveal',
  summary: "a record's sealed unmasked result, for a holder of the key",
  usage: `Usage: airlock audit reveal [--audit-dir DIR] --config FILE ID

Decrypts the compliance copy of record ID to stdout (nothing is written anywhere else).

Options:
${AUDIT_DIR}
  --config FILE     the runtime config whose "audit.compliance" keys sealed the record`,
  options: AUDIT_OPTIONS.reveal,
  positionals: { min: 1, max: 1, label: 'ID' },
};

export const AUDIT_VIEW: CommandSpec<AuditOptions['view']> = {
  name: 'audit view',
  summary: 'a read-only web viewer on loopback',
  usage: `Usage: airlock audit view [--audit-dir DIR] [--port N] [--host H]

Serves a read-only audit viewer and prints its URL (an access token for this run is in the URL
fragment); Ctrl-C stops it.

Options:
${AUDIT_DIR}
  --port N          port (default 7301; 0 picks a free port)
  --host H          bind address (default 127.0.0.1)`,
  options: AUDIT_OPTIONS.view,
  positionals: none,
};

const auditCommands: readonly CommandSpec[] = [AUDIT_VERIFY, AUDIT_TAIL, AUDIT_SEARCH, AUDIT_EXPORT, AUDIT_REPLAY, AUDIT_REVEAL, AUDIT_VIEW];

export const AUDIT: GroupSpec = {
  name: 'audit',
  summary: 'read and check the audit store (read-only; safe while airlock runs)',
  usage: `Usage: airlock audit verify|tail|search|export|replay|reveal|view …

Reads and checks the audit store (read-only; safe while airlock runs).

${auditCommands.map((c) => `  ${c.name.padEnd(14)} ${c.summary}`).join('\n')}

airlock audit <command> --help explains each. With --config FILE whose "audit.postgres" is set, the
commands read that table instead of the audit directory.`,
  commands: auditCommands,
};

const APPROVAL_SERVER = `  --url URL         the airlock server (default: $AIRLOCK_URL, else http://${DEFAULTS.host}:${DEFAULTS.port});
                    https, or http on loopback only
  --token-file FILE your token as an approver, read on every run (default: $AIRLOCK_TOKEN)
  --json            print the API's JSON instead of text`;
const APPROVAL_EXITS = `Exit codes: 0 done; 1 refused by the server (APPROVAL_FORBIDDEN, APPROVAL_USED, APPROVAL_EXPIRED, …);
2 usage error; 3 the server cannot be reached or does not accept the token.`;
const approvalServerOptions = { url: { type: 'string' }, 'token-file': { type: 'string' }, json: { type: 'boolean' } } as const satisfies Options;
const ID_ARG = { min: 1, max: 1, label: 'ID' } as const;

const APPROVALS_LIST: CommandSpec = {
  name: 'approvals list',
  summary: 'requests waiting for you (or in another state)',
  usage: `Usage: airlock approvals list [--state S] [--limit N] [--url URL] [--token-file FILE] [--json]

Lists the approval requests you may see (those naming one of your groups, and your own), newest first:
id, age, requester, tool, resource, first line of the SQL, approvals/quorum, time left.

Options:
  --state S         pending (default), approved, denied, expired, consumed, withdrawn or all
  --limit N         at most N requests (1 to 500, default 100)
${APPROVAL_SERVER}

${APPROVAL_EXITS}`,
  options: { state: { type: 'string' }, limit: { type: 'string' }, ...approvalServerOptions },
  positionals: none,
};

const APPROVALS_SHOW: CommandSpec = {
  name: 'approvals show',
  summary: 'one request: the exact SQL and parameters, rule, justification, decisions',
  usage: `Usage: airlock approvals show ID [--url URL] [--token-file FILE] [--json]

Shows request ID as it will run if approved: the exact SQL and its parameters (with their types), the
rule and its reason, the requester's justification, the decisions so far and whether you may decide it.

Options:
${APPROVAL_SERVER}

${APPROVAL_EXITS}`,
  options: approvalServerOptions,
  positionals: ID_ARG,
};

const decideUsage = (verb: 'approve' | 'deny', what: string): string => `Usage: airlock approvals ${verb} ID [--reason TEXT] [--url URL] [--token-file FILE] [--json]

${what}
Read it first with "airlock approvals show ID": what you decide on is exactly what runs. No one decides
their own request. Give a reason: it is recorded with your decision, in the audit.

Options:
  --reason TEXT     why (optional, recommended; up to 1000 characters)
${APPROVAL_SERVER}

${APPROVAL_EXITS}`;

const APPROVALS_APPROVE: CommandSpec = {
  name: 'approvals approve',
  summary: 'approve a request (counts towards its quorum)',
  usage: decideUsage('approve', 'Approves request ID. With a quorum of N, it can run once N different approvers approved it.'),
  options: { reason: { type: 'string' }, ...approvalServerOptions },
  positionals: ID_ARG,
};

const APPROVALS_DENY: CommandSpec = {
  name: 'approvals deny',
  summary: 'deny a request (one deny ends it)',
  usage: decideUsage('deny', 'Denies request ID: the call does not run, whatever others approved.'),
  options: { reason: { type: 'string' }, ...approvalServerOptions },
  positionals: ID_ARG,
};

const approvalCommands: readonly CommandSpec[] = [APPROVALS_LIST, APPROVALS_SHOW, APPROVALS_APPROVE, APPROVALS_DENY];

export const APPROVALS: GroupSpec = {
  name: 'approvals',
  summary: 'list, show, approve and deny approval requests (as an approver, against a server)',
  usage: `Usage: airlock approvals list|show|approve|deny …

Decides approval requests through the /approvals API of a running airlock, with your own token as an
approver (the server verifies it as it verifies agents' tokens).

  airlock approvals list [--state S] [--limit N]
  airlock approvals show ID
  airlock approvals approve ID [--reason TEXT]
  airlock approvals deny ID [--reason TEXT]

Every command takes --url URL (default: $AIRLOCK_URL, else http://${DEFAULTS.host}:${DEFAULTS.port}), --token-file FILE
(default: $AIRLOCK_TOKEN) and --json. A reason is optional for both decisions, and recommended.
${APPROVAL_EXITS}

airlock approvals <command> --help explains each.`,
  commands: approvalCommands,
};

/** The top-level commands, in the order the overview lists them (`demo` is an alias of `start`). */
export const TOP: readonly (CommandSpec | GroupSpec)[] = [START, SERVE, POLICY, MASK, AUDIT, APPROVALS];

export const USAGE = `airlock ${VERSION}: governed MCP access to production data

Usage: airlock <command> [options]

Commands:
  start          ${START.summary}
  serve          ${SERVE.summary}
  policy         ${POLICY.summary}
  mask           ${MASK.summary}
  audit          ${AUDIT.summary}
  approvals      ${APPROVALS.summary}
  help [COMMAND] this overview, or a command's usage

Options everywhere:
  --help, -h     usage of airlock or of a command: airlock <command> [<subcommand>] --help
  --version, -v  print the version
  --debug        print the stack trace when a command fails

${FILES}`;
