/**
 * The governed-tool interface. A tool is data plus two functions: `facts` tells policy what the call
 * would touch, `execute` runs it through a connector. Tools never see principals, policy or audit.
 */
import type * as z from 'zod';
import type { SqlFacts } from './policy/sql/classify.js';
import type { SqlConnector } from './connectors/types.js';
import type { StorageConnector } from './connectors/storage-types.js';
import type { LoggingConnector } from './connectors/logging-types.js';

/** Tools build their zod schemas on first use (`get input() { return input(); }`): see src/once.ts. */
export { once } from './once.js';
import type { Explanation } from './policy/explain.js';

export type ResourceKind = 'connection' | 'bucket' | 'log_scope';

/** What policy needs to decide on a call; produced by the tool before anything runs. */
export interface CallFacts {
  readonly resource?: { readonly kind: ResourceKind; readonly name: string };
  readonly sql?: SqlFacts;
  /** Cloud Storage: the object path the call reads. */
  readonly object?: string;
  /** Cloud Storage listings: the name prefix listed ("" for the whole bucket). Set only for listings. */
  readonly listPrefix?: string;
  /** Cloud Logging: the log names the call reads, and its filter (as given). */
  readonly logNames?: readonly string[];
  readonly logFilter?: string;
}

/** Limits that policy settled for this call (the strictest of every matching rule and resource). */
export interface CallLimits {
  readonly maxRows: number;
  /** Largest result, in bytes of cell data, before it is cut (`truncated`). */
  readonly maxBytes: number;
  readonly timeoutMs: number;
  /** tail_logs: the longest time window one call reads. */
  readonly maxWindowMs: number;
  /** tail_logs: the longest live tail one call runs (0: none). */
  readonly maxFollowMs: number;
}

/**
 * What policy narrows a call to beyond its yes or no, for tools whose results policy filters: the Logging
 * filters forced on a log call, and which object names a listing may show.
 */
export interface CallScope {
  /** Logging filters forced on this call (the scope's, then each deciding rule's): each is ANDed. */
  readonly logFilters: readonly string[];
  /** Whether a read of this object would run or go to approval for this caller (a listing shows it). */
  objectVisible(name: string): boolean;
  /** Whether some object under this prefix could be shown (a listing shows the folder prefix). */
  prefixVisible(prefix: string): boolean;
  /**
   * The prefix to list upstream: the asked one, made longer where every object the caller may see starts
   * with more (never crossing `delimiter`, so folder listings keep their shape).
   */
  listPrefix(prefix: string, delimiter: string | undefined): string;
}

export interface ColumnInfo {
  readonly name: string;
  readonly type: string;
}

/** The identity airlock used downstream for a call (recorded in the audit). */
export interface DownstreamUse {
  readonly kind: 'postgres_role' | 'google_service_account';
  readonly principal: string;
}

/** A short-lived Google access token acting as a policy-chosen service account. */
export interface GoogleToken {
  readonly accessToken: string;
  readonly expiresAt: number;
  readonly serviceAccount: string;
}

/** A tabular result. Values are JSON: types JSON cannot hold exactly arrive as strings. */
export interface RowsResult {
  readonly kind: 'rows';
  readonly columns: readonly ColumnInfo[];
  readonly rows: readonly (readonly unknown[])[];
  readonly rowCount: number;
  readonly truncated: boolean;
  /** Values cut short at the byte cap (each counts; `truncated` is then true too). */
  readonly cutValues?: number;
  /** Rows changed by a write, when the statement reports it. */
  readonly rowsAffected?: number;
  /** Short hint for the model, e.g. how to narrow a truncated query. */
  readonly note?: string;
  readonly downstream?: DownstreamUse;
}

/** How text content is masked: CSV by its header, JSON and NDJSON by key names, or as plain text. */
export type ContentFormat = 'text' | 'csv' | 'json' | 'ndjson';

/** A JSON document result, with a short text rendering for the model. */
export interface JsonResult {
  readonly kind: 'json';
  readonly value: Readonly<Record<string, unknown>>;
  readonly text: string;
  /** Fields of `value` (top-level keys) that hold text content, masked by its format instead of as a plain string. */
  readonly contentFormats?: Readonly<Record<string, ContentFormat>>;
  /** Builds the model's text from the masked value (then `text` is ignored): text and structure show the same masked data. */
  readonly render?: (masked: Readonly<Record<string, unknown>>) => string;
}

export type ToolResult = RowsResult | JsonResult;

/** What the caller is, as tools may see it (never the token). */
export interface CallerView {
  readonly issuer: string;
  readonly sub: string;
  readonly email: string | undefined;
  readonly groups: readonly string[];
  readonly clientId: string | undefined;
  readonly verified: boolean;
}

/**
 * One way a caller may use a resource: a tool, and whether it runs (`allow`) or needs a human approval
 * (`approve`). For query_sql, the statement classes it covers.
 */
export interface ToolGrant {
  readonly tool: string;
  readonly effect: 'allow' | 'approve';
  /** query_sql: the statement classes (read, write, ddl, …) this grant covers. */
  readonly sqlClasses?: readonly string[];
  /** effect approve: the groups whose members may approve. */
  readonly approverGroups?: readonly string[];
  /**
   * Some rules for this tool and resource look at tables, functions, columns, objects or log names: the
   * effect is for a call they do not single out, and explain_policy answers for one exact call.
   */
  readonly conditional: boolean;
  /** read_bucket: the object globs this grant covers (`**` for every object). */
  readonly objects?: readonly string[];
  /** read_bucket: object globs a deny rule keeps out, whatever the grant says. */
  readonly deniedObjects?: readonly string[];
  /** tail_logs: the log names the scope reads (absent: every log of the project). */
  readonly logNames?: readonly string[];
  /** tail_logs: Logging filters policy ANDs with every call. */
  readonly logFilters?: readonly string[];
}

/** One resource and what policy would do with each kind of call on it, for this caller. */
export interface ResourceAccess {
  readonly kind: ResourceKind;
  readonly name: string;
  readonly description?: string;
  /** tool → effect, or for query_sql: SQL class → effect. */
  readonly effects: Readonly<Record<string, 'allow' | 'approve' | 'deny'>>;
  /** What runs or needs approval, tool by tool; empty when the caller cannot use the resource at all. */
  readonly grants: readonly ToolGrant[];
}

/** Services a tool may use; injected so tools stay free of clients and configuration. */
export interface ToolDeps {
  readonly sql: SqlConnector;
  /** Cloud Storage for read_bucket (the client loads at the first bucket call; absent: every bucket is unknown). */
  readonly storage?: StorageConnector;
  /** Cloud Logging for tail_logs; absent when no log scope is configured. */
  readonly logging?: LoggingConnector;
  /** Classifies SQL for a connection (its function catalog decides which calls are read-safe). */
  readonly classifySql: (sql: string, connection: string) => Promise<SqlFacts>;
  readonly hasConnection: (name: string) => boolean;
  /** What policy lets this caller do, resource by resource (evaluated with the server's own code). */
  readonly accessFor: (caller: CallerView) => readonly ResourceAccess[];
  /** A dry run of a call for this caller (the explain_policy tool). */
  readonly explain: (caller: CallerView, tool: string, input: unknown) => Promise<Explanation>;
  /** The caller's own approval requests, newest first (absent when approvals are not configured). */
  readonly myApprovals?: (caller: CallerView) => Promise<readonly ApprovalSummary[]>;
}

/** One of the caller's approval requests, as whoami lists it. */
export interface ApprovalSummary {
  readonly requestId: string;
  readonly state: string;
  readonly tool: string;
  readonly resource: string;
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly approvers: readonly string[];
}

export interface ExecuteContext {
  readonly signal: AbortSignal;
  readonly caller: CallerView;
  /** Google credentials for this principal (impersonating the service account policy assigns). */
  googleToken(): Promise<GoogleToken>;
  readonly limits: CallLimits;
  readonly facts: CallFacts;
  readonly scope: CallScope;
  readonly deps: ToolDeps;
  /** Tells the caller how a long call is going (MCP progress); counts and times only, never values. */
  progress(message: string): void;
}

export interface ToolAnnotations {
  readonly title: string;
  readonly readOnlyHint: boolean;
  readonly destructiveHint: boolean;
  readonly idempotentHint: boolean;
  readonly openWorldHint: boolean;
}

export interface ToolDefinition<Schema extends z.ZodType = z.ZodType> {
  readonly name: string;
  readonly description: string;
  readonly input: Schema;
  readonly output?: z.ZodType;
  readonly annotations: ToolAnnotations;
  facts(input: z.output<Schema>, deps: ToolDeps): CallFacts | Promise<CallFacts>;
  execute(input: z.output<Schema>, ctx: ExecuteContext): Promise<ToolResult>;
  /**
   * What approvers should know about the call before deciding, found out without running it (query_sql:
   * the planner's estimate). Called when a request opens; a failure leaves it out.
   */
  preview?(input: z.output<Schema>, ctx: PreviewContext): Promise<Readonly<Record<string, unknown>>>;
}

/** What a preview may use: the facts, the limits, and the connectors (read-only use only). */
export interface PreviewContext {
  readonly facts: CallFacts;
  readonly limits: CallLimits;
  readonly deps: ToolDeps;
  readonly signal: AbortSignal;
}

/** A tool with its input type erased, as the registry and pipeline hold it. */
export interface AnyTool {
  readonly name: string;
  readonly description: string;
  readonly input: z.ZodType;
  readonly output?: z.ZodType;
  readonly annotations: ToolAnnotations;
  facts(input: unknown, deps: ToolDeps): CallFacts | Promise<CallFacts>;
  execute(input: unknown, ctx: ExecuteContext): Promise<ToolResult>;
  preview?(input: unknown, ctx: PreviewContext): Promise<Readonly<Record<string, unknown>>>;
}

const TOOL_NAME = /^[a-z][a-z0-9_]{0,63}$/;

/** Checks a tool definition when it is built, so bad wiring fails at start-up, not on the first call. */
export function defineTool<Schema extends z.ZodType>(definition: ToolDefinition<Schema>): AnyTool {
  if (!TOOL_NAME.test(definition.name)) throw new TypeError(`defineTool: invalid tool name "${definition.name}"`);
  if (definition.description.trim().length < 40) {
    throw new TypeError(`defineTool(${definition.name}): the description must tell a model what the tool does`);
  }
  return definition;
}
