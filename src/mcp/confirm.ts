import { randomBytes, randomUUID } from 'node:crypto';
import {
  CLIENT_CAPABILITIES_META_KEY,
  createRequestStateCodec,
  inputRequired,
  inputResponse,
  type ClientCapabilities,
  type ElicitRequestFormParams,
  type InputRequiredResult,
  type ServerContext,
} from '@modelcontextprotocol/server';
import type { ConfirmationAnswer, ConfirmationRequest } from '../pipeline/context.js';

/** The first protocol revision without server-to-client requests (the form goes back as `input_required`). */
const FIRST_MODERN = '2026-07-28';

/** How long a 2025-era user has to answer the form in place (human-paced, like the SDK's own shim). */
const ANSWER_TIMEOUT_MS = 600_000;

/** How long a 2026-07-28 form stays answerable; a later answer gets a fresh form. */
const STATE_TTL_SECONDS = 600;

/** The key of the form among the request's `inputRequests` / `inputResponses`. */
const KEY = 'airlock_confirm';

/** The form: one box to confirm the exact call shown, and an optional note for the audit. */
const FORM: ElicitRequestFormParams['requestedSchema'] = {
  type: 'object',
  properties: {
    confirm: { type: 'boolean', title: 'Run this exact call', description: 'Check to let this call run exactly as shown.', default: false },
    note: { type: 'string', title: 'Note (optional)', description: 'Kept in the audit record with your answer.', maxLength: 500 },
  },
  required: ['confirm'],
};

/** The form asking the user why a call is needed, for the approvers (a rule's `justificationRequired`). */
const JUSTIFICATION_FORM: ElicitRequestFormParams['requestedSchema'] = {
  type: 'object',
  properties: {
    justification: { type: 'string', title: 'Why is this call needed?', description: 'Shown to the approvers with the exact call.', minLength: 1, maxLength: 1000 },
  },
  required: ['justification'],
};

/**
 * The state a 2026-07-28 form carries through the client: signed with a key of this process, it names the
 * call it was written for and a nonce that confirms once. A state from elsewhere (another process, a
 * restart, an edit) is not an answer: the user gets a fresh form.
 */
const codec = createRequestStateCodec({ key: randomBytes(32), ttlSeconds: STATE_TTL_SECONDS });
const usedNonces = new Map<string, number>();

/** Spends a form's nonce; false when it was already spent (a replayed answer). */
function spend(nonce: string, now: number): boolean {
  for (const [n, until] of usedNonces) if (until < now) usedNonces.delete(n);
  if (usedNonces.has(nonce)) return false;
  usedNonces.set(nonce, now + STATE_TTL_SECONDS * 1000 + 60_000);
  return true;
}

/** A call's link to its caller's client for confirmations (see `CallContext.confirm`). */
export interface CallerConfirmer {
  readonly confirm: (request: ConfirmationRequest) => Promise<ConfirmationAnswer>;
  /**
   * Asks the user for a justification (2025-era connections, while the call waits). 2026-07-28 requests get
   * undefined: the agent passes `justification` itself.
   */
  readonly askJustification: (message: string) => Promise<string | undefined>;
  /** 2026-07-28: the `input_required` result to send instead of the call's result, when the call asked. */
  pending(): Promise<InputRequiredResult | undefined>;
}

interface FormState {
  readonly b: string;
  readonly n: string;
}

/**
 * Asks the caller's own client, by MCP elicitation (form mode). On a 2025-era connection the form is an
 * `elicitation/create` request sent while the call waits; on 2026-07-28 it goes back as an `input_required`
 * result and the client sends the call again with the answer and the signed state, which must name this very
 * call (its binding hash) and is accepted once. A client that declared no form elicitation is never asked.
 */
export async function callerConfirmer(
  ctx: ServerContext,
  server: { getClientCapabilities(): ClientCapabilities | undefined; getNegotiatedProtocolVersion(): string | undefined },
  clock: { now(): number },
): Promise<CallerConfirmer> {
  const version = server.getNegotiatedProtocolVersion();
  const modern = version !== undefined && version >= FIRST_MODERN;
  const envelope = (ctx.mcpReq as { envelope?: Record<string, unknown> }).envelope;
  const capabilities = (modern ? envelope?.[CLIENT_CAPABILITIES_META_KEY] : server.getClientCapabilities()) as ClientCapabilities | undefined;
  const elicitation = capabilities?.elicitation as { form?: unknown; url?: unknown } | undefined;
  // An empty `elicitation` object means form mode (the spec's default before modes existed).
  const canAsk = elicitation !== undefined && (elicitation.form !== undefined || elicitation.url === undefined);
  if (!modern) {
    return {
      confirm: async (request) => {
        if (!canAsk) return { kind: 'unavailable' };
        try {
          const result = await ctx.mcpReq.elicitInput({ mode: 'form', message: request.message, requestedSchema: FORM }, { timeout: ANSWER_TIMEOUT_MS, signal: ctx.mcpReq.signal });
          return answerOf(result.action, result.content);
        } catch {
          return { kind: 'declined', how: 'no_answer' };
        }
      },
      askJustification: async (message) => {
        if (!canAsk) return undefined;
        try {
          const result = await ctx.mcpReq.elicitInput({ mode: 'form', message, requestedSchema: JUSTIFICATION_FORM }, { timeout: ANSWER_TIMEOUT_MS, signal: ctx.mcpReq.signal });
          const text = result.action === 'accept' ? result.content?.justification : undefined;
          return typeof text === 'string' && text.trim() !== '' ? text.slice(0, 1000) : undefined;
        } catch {
          return undefined;
        }
      },
      pending: () => Promise.resolve(undefined),
    };
  }
  const raw = ctx.mcpReq.requestState();
  const state = typeof raw === 'string' ? await codec.verify(raw, ctx).then((s) => s as FormState, () => undefined) : undefined;
  let asked: ConfirmationRequest | undefined;
  return {
    confirm: (request) => {
      if (!canAsk) return Promise.resolve({ kind: 'unavailable' });
      const view = inputResponse(ctx.mcpReq.inputResponses, KEY);
      // Only an answer to the form written for this exact call counts, once; anything else gets a fresh form.
      if (state !== undefined && typeof state.b === 'string' && state.b === request.bindingHash && view.kind === 'elicit' && typeof state.n === 'string' && spend(state.n, clock.now())) {
        return Promise.resolve(answerOf(view.action, view.content));
      }
      asked = request;
      return Promise.resolve({ kind: 'asked' });
    },
    askJustification: () => Promise.resolve(undefined),
    pending: async () => {
      if (asked === undefined) return undefined;
      const requestState = await codec.mint({ b: asked.bindingHash, n: randomUUID() } satisfies FormState);
      return inputRequired({ inputRequests: { [KEY]: inputRequired.elicit({ mode: 'form', message: asked.message, requestedSchema: FORM }) }, requestState });
    },
  };
}

function answerOf(action: 'accept' | 'decline' | 'cancel', content: Record<string, unknown> | undefined): ConfirmationAnswer {
  const note = typeof content?.note === 'string' ? content.note : undefined;
  const withNote = note === undefined ? {} : { note };
  if (action === 'decline') return { kind: 'declined', how: 'declined', ...withNote };
  if (action === 'cancel') return { kind: 'declined', how: 'cancelled', ...withNote };
  return content?.confirm === true ? { kind: 'confirmed', ...withNote } : { kind: 'declined', how: 'not_confirmed', ...withNote };
}
