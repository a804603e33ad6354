import type { ClientInfo, TransportKind } from '../audit/record.js';
import type { AirlockError, InputIssue, Outcome } from '../errors.js';
import type { Credential, Principal } from '../identity/principal.js';
import type { MaskReport } from '../masking/masker.js';
import type { Decision } from '../policy/evaluate.js';
import type { AnyTool, CallFacts, DownstreamUse, ToolResult } from '../tool.js';

/** What the MCP layer sends the agent for a call: a tools/call result. */
export interface CallResponse {
  readonly content: { readonly type: 'text'; readonly text: string }[];
  readonly structuredContent?: Record<string, unknown>;
  readonly isError?: boolean;
}

/** Points of a governed call worth telling the caller about while it runs. */
export type CallStep = 'decided' | 'confirming' | 'confirmed' | 'waiting' | 'approved' | 'started' | 'running' | 'finished' | 'masked';

/**
 * Something a stage tells the caller while the call runs: progress at a step, or a message for the agent.
 * Messages carry counts, names of tools, resources, rules and columns, and limits: never SQL text or values.
 */
export type CallEvent =
  | { readonly kind: 'progress'; readonly step: CallStep; readonly message: string }
  | { readonly kind: 'log'; readonly level: 'info' | 'warning'; readonly message: string };

/** One governed call as it moves through the stages. Stages fill in what they learn. */
export interface CallContext {
  readonly id: string;
  /** The JSON-RPC id of the request, as the client sent it (cut to 64 characters), for the operator log. */
  readonly requestId?: string;
  readonly startedAt: number;
  readonly sessionId: string;
  readonly transport: TransportKind;
  /** The MCP protocol version of the connection or request, when known (the audit records it). */
  readonly protocol?: string;
  /** The client program as it names itself (unverified; grouping in the audit only). */
  readonly client?: ClientInfo;
  readonly toolName: string;
  readonly rawArguments: unknown;
  /** What was wrong with the tools/call request itself (read before any schema); refused as INVALID_INPUT. */
  readonly requestIssues?: readonly InputIssue[];
  /** The arguments as the audit keeps them (long values as sha256 + prefix); set by the audit stage. */
  auditedInput?: unknown;
  readonly credential: Credential;
  readonly signal: AbortSignal;
  /**
   * Where stages report progress and messages (the MCP layer turns them into notifications). Absent when
   * nobody listens; must not throw.
   */
  readonly report?: (event: CallEvent) => void;
  /**
   * Asks the caller's own user to confirm this exact call (MCP elicitation), for rules with
   * `approval.confirmByCaller`. Set by the MCP layer; absent where no client can be asked (then the call
   * cannot be confirmed).
   */
  readonly confirm?: (request: ConfirmationRequest) => Promise<ConfirmationAnswer>;
  /**
   * Asks the caller's own user for the justification a rule requires when the agent gave none (MCP
   * elicitation, where the client supports it in place). Resolves undefined when it cannot ask or got no text.
   */
  readonly askJustification?: (message: string) => Promise<string | undefined>;
  principal?: Principal;
  tool?: AnyTool;
  input?: unknown;
  facts?: CallFacts;
  decision?: Decision;
  result?: ToolResult;
  /** The result as the connector returned it, before masking (for the encrypted compliance copy only). */
  unmaskedResult?: ToolResult;
  maskReport?: MaskReport;
  /**
   * `approval_status` collecting a request: the stored call replaced the tool and input, and this is the
   * request it came from and how long this call may wait for a decision.
   */
  recalled?: { readonly requestId: string; readonly bindingHash: string; readonly waitMs: number };
  /** The approval request this call opened, joined or used (its audit record names it). */
  approval?: CallApproval;
  /** The caller's own confirmation of this call (`approval.confirmByCaller`); its audit record keeps it. */
  confirmation?: CallConfirmation;
  /** The outcome recorded for a call that ended without an error but did not run (a pending approval). */
  outcome?: Outcome;
  /** Identities airlock used downstream for this call. */
  downstream?: DownstreamUse[];
  error?: AirlockError;
  response?: CallResponse;
  /**
   * Set by an MCP layer whose transport can send a result it is given as JSON text (stdio): the audit
   * stage then encodes the response once, hashes that text's UTF-8, and leaves it in `encodedResponse`
   * for the transport, instead of the transport encoding the same result a second time.
   */
  readonly sendsEncoded?: boolean;
  /** `JSON.stringify(response)`: the text whose UTF-8 hash and size the audit record keeps. */
  encodedResponse?: string;
  /** Set with `sendsEncoded` when the transport writes bytes: the audit stage then keeps the UTF-8 it hashed. */
  readonly sendsUtf8?: boolean;
  /** The UTF-8 of `encodedResponse` that was hashed, when the audit stage kept it (long texts; see encodeJson). */
  encodedUtf8?: Buffer;
}

/** What a call's audit record says about its approval. */
export interface CallApproval {
  readonly requestId: string;
  /** The request's state when the call ended (`consumed`: this call ran on the grant). */
  readonly state: string;
  /** Whether this call opened the request, joined a pending one, or collected it. */
  readonly role: 'opened' | 'joined' | 'collected';
  readonly bindingHash: string;
  readonly approvers: readonly { readonly sub: string; readonly email?: string; readonly verdict: 'approve' | 'deny' }[];
}

/** What the caller's user is asked to confirm: one exact call, shown in full. */
export interface ConfirmationRequest {
  /** The call's binding (see `bindCall`): an answer counts only for the call it was given for. */
  readonly bindingHash: string;
  /** The form's text: tool, resource, the exact statement and parameters, the rule and its reason. */
  readonly message: string;
}

/** The caller's user's answer to a confirmation form. */
export type ConfirmationAnswer =
  | { readonly kind: 'confirmed'; readonly note?: string }
  | { readonly kind: 'declined'; readonly how: 'declined' | 'cancelled' | 'not_confirmed' | 'no_answer'; readonly note?: string }
  /** The client cannot show a form (no MCP elicitation, or not on this connection). */
  | { readonly kind: 'unavailable' }
  /** 2026-07-28: the form goes back instead of a result; the client asks its user and sends the call again with the answer. */
  | { readonly kind: 'asked' };

/** What a call's audit record says about the caller's confirmation. It is never an approval. */
export interface CallConfirmation {
  readonly state: 'requested' | 'confirmed' | 'declined' | 'unavailable';
  readonly bindingHash: string;
  /** Who answered: the caller's verified identity (the user at the caller's client). */
  readonly by?: { readonly issuer: string; readonly sub: string; readonly email?: string };
  /** How a form was declined (declined, cancelled, not_confirmed, no_answer). */
  readonly how?: string;
  /** The user's optional note (at most 500 characters). */
  readonly note?: string;
}

export type Next = () => Promise<void>;

/** A named pipeline stage. Name stage functions: stack traces and audit records show them. */
export type Stage = (ctx: CallContext, next: Next) => Promise<void>;
