import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { AirlockError } from '../errors.js';
import type { Logger } from '../log.js';
import { ApprovalsUnavailableError, fromApprovalStore } from './errors.js';
import type { ApprovalState, Approver } from './model.js';
import type { ApprovalService } from './service.js';
import { viewRequest } from './view.js';

/** The API's request handler: answers and returns true for its own paths, false for others. */
export type ApprovalApi = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;

/** Who is asking the approval API, as one authenticator sees the request. */
export type ApproverAuthResult =
  /** This authenticator does not apply (no credential of its kind on the request). */
  | { readonly kind: 'absent' }
  | { readonly kind: 'approver'; readonly approver: Approver; readonly via: string }
  /** A credential of its kind was there and is not good (expired token, missing CSRF token, …). */
  | {
      readonly kind: 'refused';
      readonly status: 401 | 403;
      readonly message: string;
      readonly detail: string;
      readonly headers?: Readonly<Record<string, string>>;
      /** RFC 6750 error code for the `WWW-Authenticate` challenge of a 401 (when `headers` does not set one). */
      readonly bearerError?: 'invalid_token' | 'invalid_request';
    };

/**
 * Establishes the approver of a request. `intent` is `decide` for requests that change something (the
 * console's session authenticator checks its CSRF token then). Throws only ApprovalsUnavailableError, when
 * the store it looks sessions up in is down (answered 503 APPROVALS_UNAVAILABLE); a bad credential is `refused`.
 */
export type ApproverAuth = (req: IncomingMessage, intent: 'read' | 'decide') => Promise<ApproverAuthResult>;

/** A refused approval API request, for the audit (every refusal has a record). */
export interface ApiRefusal {
  readonly approver?: Approver;
  readonly via?: string;
  readonly method: string;
  readonly path: string;
  readonly requestId?: string;
  readonly status: number;
  readonly code: string;
  readonly message: string;
  readonly detail: string;
}

export interface ApprovalApiOptions {
  readonly service: ApprovalService;
  /** Tried in order; the first that is not `absent` decides. None applies: 401. */
  readonly authenticators: readonly ApproverAuth[];
  /** Records a refused request; resolves once durable (the refusal is answered after). */
  readonly onRefused: (refusal: ApiRefusal) => Promise<void>;
  /** The `WWW-Authenticate` value sent with a 401 when no credential was given. */
  readonly challenge?: string;
  /** Where the cause of a store failure goes (the answer says only that the store is unavailable). */
  readonly log?: Logger;
}

/** The fixed text of a 503 while the approval store cannot be read or written. */
export const APPROVALS_UNAVAILABLE_MESSAGE = 'The approval store is unavailable right now; nothing was read or decided. Try again shortly.';

const STATES = ['pending', 'approved', 'denied', 'expired', 'consumed', 'withdrawn'] as const;
const ListQuery = z.strictObject({
  state: z.enum([...STATES, 'all']).default('pending'),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});
const DecisionBody = z.strictObject({
  verdict: z.enum(['approve', 'deny']),
  reason: z
    .string()
    .max(1000)
    .refine((s) => ![...s].some(hiddenInReason), 'must not contain control or direction-changing characters')
    .optional(),
});
/**
 * Characters a reason must not carry: it is shown to requesters and approvers in terminals, the console and
 * chat, where C0/C1 controls (ESC, CSI) drive the display and direction overrides reorder what is read.
 * Tab and line feed are text.
 */
function hiddenInReason(c: string): boolean {
  const n = c.charCodeAt(0);
  return (n < 32 && n !== 9 && n !== 10) || (n >= 127 && n <= 159) || (n >= 0x202a && n <= 0x202e) || (n >= 0x2066 && n <= 0x2069);
}
const ID = /^apr_[A-Za-z0-9_-]{1,64}$/;
const MAX_BODY = 16 * 1024;

/** HTTP status for each approval error a decision or a read can end in. */
const STATUS: Readonly<Record<string, number>> = {
  APPROVAL_NOT_FOUND: 404,
  APPROVAL_FORBIDDEN: 403,
  APPROVAL_USED: 409,
  APPROVAL_EXPIRED: 409,
  APPROVAL_WITHDRAWN: 409,
  APPROVAL_INVALID: 409,
};

/**
 * The approval API: `GET /approvals` (list), `GET /approvals/{id}`, `POST /approvals/{id}/decision`. JSON
 * in and out; errors are `{ error: { code, message } }`. Approvers are verified identities (bearer token or
 * console session); the service enforces who may decide what. Every refusal is audited before it is sent.
 */
export function createApprovalApi(options: ApprovalApiOptions): ApprovalApi {
  if (options.authenticators.length === 0) throw new TypeError('createApprovalApi: at least one authenticator is needed');
  const { service } = options;

  const refuse = async (res: ServerResponse, refusal: ApiRefusal, headers: Readonly<Record<string, string>> = {}): Promise<void> => {
    await options.onRefused(refusal);
    send(res, refusal.status, { error: { code: refusal.code, message: refusal.message } }, headers);
  };

  const authenticate = async (req: IncomingMessage, intent: 'read' | 'decide'): Promise<ApproverAuthResult> => {
    for (const auth of options.authenticators) {
      const result = await auth(req, intent);
      if (result.kind !== 'absent') return result;
    }
    return { kind: 'absent' };
  };

  return async function approvalApi(req, res, url) {
    const path = url.pathname;
    if (path !== '/approvals' && !path.startsWith('/approvals/')) return false;
    const method = req.method ?? 'GET';
    const parts = path.split('/').slice(2);
    const requestId = parts[0] !== undefined && ID.test(parts[0]) ? parts[0] : undefined;
    const base = { method, path: path.slice(0, 200), ...(requestId === undefined ? {} : { requestId }) };
    const route = parts.length === 0 && method === 'GET' ? 'list' : parts.length === 1 && method === 'GET' ? 'get' : parts.length === 2 && parts[1] === 'decision' && method === 'POST' ? 'decide' : undefined;
    if (route === undefined) {
      req.resume();
      send(res, 404, { error: { code: 'NOT_FOUND', message: 'No such endpoint: GET /approvals, GET /approvals/{id}, POST /approvals/{id}/decision' } });
      return true;
    }
    let who: ApproverAuthResult;
    try {
      who = await authenticate(req, route === 'decide' ? 'decide' : 'read');
    } catch (error) {
      // A console session is looked up in the store beside the approvals: while it is down, nobody is known yet.
      if (!(error instanceof ApprovalsUnavailableError)) throw error;
      req.resume();
      options.log?.('error', `approvals: ${method} ${base.path}: the approval store is unavailable: ${error.message}`);
      await refuse(res, { ...base, status: 503, code: 'APPROVALS_UNAVAILABLE', message: APPROVALS_UNAVAILABLE_MESSAGE, detail: error.message }, { 'retry-after': '5' });
      return true;
    }
    if (who.kind !== 'approver') {
      req.resume();
      if (who.kind === 'absent') {
        await refuse(res, { ...base, status: 401, code: 'UNAUTHENTICATED', message: 'Sign in: send Authorization: Bearer <token> (or use the console).', detail: 'no credential' }, options.challenge === undefined ? {} : { 'www-authenticate': options.challenge });
      } else {
        // RFC 6750 §3: a 401 always carries a challenge, saying what was wrong with the credential.
        const challenge: Record<string, string> = who.status === 401 && options.challenge !== undefined && who.headers?.['www-authenticate'] === undefined ? { 'www-authenticate': `${options.challenge}, error="${who.bearerError ?? 'invalid_token'}"` } : {};
        await refuse(res, { ...base, status: who.status, code: who.status === 401 ? 'UNAUTHENTICATED' : 'FORBIDDEN', message: who.message, detail: who.detail }, { ...challenge, ...who.headers });
      }
      return true;
    }
    const { approver, via } = who;
    const actor = { ...base, approver, via };
    try {
      if (route === 'list') {
        const query = ListQuery.safeParse(Object.fromEntries(url.searchParams));
        if (!query.success) {
          await refuse(res, { ...actor, status: 400, code: 'INVALID_INPUT', message: `Invalid query: ${issueText(query.error)}`, detail: 'bad list query' });
          return true;
        }
        // Requests whose time ran out are marked expired (and that is recorded) before they are listed:
        // an approver must not be shown as pending, and decidable, what can no longer be decided.
        await fromApprovalStore(service.expireDue());
        const states: readonly ApprovalState[] | undefined = query.data.state === 'all' ? undefined : [query.data.state];
        const records = await fromApprovalStore(service.listFor(approver, { ...(states === undefined ? {} : { states }), limit: query.data.limit }));
        send(res, 200, { requests: records.map((r) => viewRequest(r, approver)) });
        return true;
      }
      if (requestId === undefined) {
        req.resume();
        await refuse(res, { ...actor, status: 404, code: 'APPROVAL_NOT_FOUND', message: 'No such approval request.', detail: 'malformed request id' });
        return true;
      }
      if (route === 'get') {
        send(res, 200, { request: viewRequest(await fromApprovalStore(service.view(requestId, approver)), approver) });
        return true;
      }
      const body = await readJson(req);
      if (!body.ok) {
        // A body over the limit may still be arriving: the connection is not reused after the answer.
        await refuse(res, { ...actor, status: body.status, code: 'INVALID_INPUT', message: body.message, detail: body.message }, body.status === 413 ? { connection: 'close' } : {});
        return true;
      }
      const decision = DecisionBody.safeParse(body.value);
      if (!decision.success) {
        await refuse(res, { ...actor, status: 400, code: 'INVALID_INPUT', message: `Invalid decision: ${issueText(decision.error)}`, detail: 'bad decision body' });
        return true;
      }
      const { request } = await fromApprovalStore(service.decide(requestId, approver, decision.data.verdict, decision.data.reason));
      send(res, 200, { request: viewRequest(request, approver) });
      return true;
    } catch (error) {
      if (error instanceof ApprovalsUnavailableError) {
        // The store's own message (a lost connection, an I/O error) is for operators: the answer is fixed.
        options.log?.('error', `approvals: ${method} ${base.path} by ${approver.sub.slice(0, 100)}: the approval store is unavailable: ${error.message}`);
        await refuse(res, { ...actor, status: 503, code: 'APPROVALS_UNAVAILABLE', message: APPROVALS_UNAVAILABLE_MESSAGE, detail: error.message }, { 'retry-after': '5' });
        return true;
      }
      if (!(error instanceof AirlockError) || STATUS[error.code] === undefined) throw error;
      await refuse(res, { ...actor, status: STATUS[error.code] ?? 400, code: error.code, message: error.publicMessage, detail: error.message });
      return true;
    }
  };
}

function issueText(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
}

async function readJson(req: IncomingMessage): Promise<{ ok: true; value: unknown } | { ok: false; status: 400 | 413 | 415; message: string }> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json') {
    req.resume();
    return { ok: false, status: 415, message: 'Content-Type must be application/json' };
  }
  const tooLarge = { ok: false, status: 413, message: `Body too large (limit ${MAX_BODY} bytes)` } as const;
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > MAX_BODY) {
    req.resume();
    return tooLarge;
  }
  // Read by hand rather than with for-await: leaving a for-await early destroys the request and with it the
  // socket, so the 413 never reliably reaches the client and a kept-alive connection is reset on its next use.
  const body = await new Promise<Buffer | undefined>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= MAX_BODY) return void chunks.push(chunk);
      stop();
      // The rest is read and dropped until the 413 (sent with Connection: close) ends the connection.
      req.resume();
      resolve(undefined);
    };
    const onEnd = (): void => {
      stop();
      resolve(Buffer.concat(chunks));
    };
    const onError = (error: Error): void => {
      stop();
      reject(error);
    };
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onError);
  });
  if (body === undefined) return tooLarge;
  try {
    return { ok: true, value: JSON.parse(body.toString('utf8')) as unknown };
  } catch {
    return { ok: false, status: 400, message: 'Body is not valid JSON' };
  }
}

function send(res: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers });
  res.end(text);
}
