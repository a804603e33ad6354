import { createHmac, timingSafeEqual } from 'node:crypto';
import type { ApprovalEvent, ApprovalRecord } from '../model.js';
import { viewRequest, type RequestView } from '../view.js';

/** A request as notifications show it: the approvers' view without any one viewer's right to decide. */
export type NotifiedRequest = Omit<RequestView, 'canDecide' | 'cannotDecide'>;

/** The JSON a generic webhook receives. */
export interface WebhookBody {
  /** `approval.<event>`, e.g. `approval.requested`. */
  readonly type: `approval.${ApprovalEvent['type']}`;
  /** The delivery id (the same on every retry of one delivery): receivers drop ids they have seen. */
  readonly id: string;
  readonly requestId: string;
  /** When the event happened (ISO 8601). */
  readonly at: string;
  /** Where approvers decide this request. */
  readonly consoleUrl: string;
  readonly request: NotifiedRequest;
}

/** How far a signature's timestamp may be from the receiver's clock (seconds). */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

const NOBODY = { issuer: '', sub: '', groups: [] } as const;

/** The view of `record` that notifications carry. */
export function notifiedRequest(record: ApprovalRecord): NotifiedRequest {
  // Seen by nobody in particular: the per-viewer fields would describe a viewer that does not exist.
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  const { canDecide, cannotDecide, ...view } = viewRequest(record, NOBODY);
  return view;
}

/** The webhook body for one delivery of `event`. */
export function webhookBody(event: ApprovalEvent, record: ApprovalRecord, deliveryId: string, consoleUrl: string): WebhookBody {
  return { type: `approval.${event.type}`, id: deliveryId, requestId: event.requestId, at: event.at, consoleUrl, request: notifiedRequest(record) };
}

/** `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`. */
export function signWebhook(body: string, secret: string, unixSeconds: number): string {
  return `t=${unixSeconds},v1=${hmacHex(secret, unixSeconds, body)}`;
}

function hmacHex(secret: string, t: number | string, body: string | Uint8Array): string {
  // Bytes are signed as they are: decoding them first would change a body that is not valid UTF-8.
  const mac = createHmac('sha256', secret).update(`${t}.`, 'utf8');
  return (typeof body === 'string' ? mac.update(body, 'utf8') : mac.update(body)).digest('hex');
}

/** Why a signature was refused. */
export type SignatureProblem = 'malformed' | 'stale' | 'mismatch';

export type SignatureCheck = { readonly ok: true; readonly timestamp: number } | { readonly ok: false; readonly problem: SignatureProblem };

/**
 * Verifies an `airlock-signature` header against the raw body as received (bytes, or the exact string)
 * and the shared secret: the HMAC is compared in constant time and the timestamp must be within
 * {@link SIGNATURE_TOLERANCE_SECONDS} of `now` (epoch milliseconds), so a captured delivery cannot be
 * replayed later. Within the window receivers must still drop delivery ids they have already seen.
 */
export function verifyWebhookSignature(header: string | undefined, body: string | Uint8Array, secret: string, now: number = Date.now()): SignatureCheck {
  if (typeof header !== 'string') return { ok: false, problem: 'malformed' };
  const parts = new Map<string, string[]>();
  for (const item of header.split(',')) {
    const eq = item.indexOf('=');
    if (eq <= 0) return { ok: false, problem: 'malformed' };
    const key = item.slice(0, eq).trim();
    parts.set(key, [...(parts.get(key) ?? []), item.slice(eq + 1).trim()]);
  }
  const ts = parts.get('t');
  const signatures = parts.get('v1') ?? [];
  if (ts?.length !== 1 || !/^\d{1,12}$/.test(ts[0] ?? '') || signatures.length === 0) return { ok: false, problem: 'malformed' };
  const t = Number(ts[0]);
  if (Math.abs(now / 1000 - t) > SIGNATURE_TOLERANCE_SECONDS) return { ok: false, problem: 'stale' };
  const expected = Buffer.from(hmacHex(secret, ts[0] ?? '', body), 'hex');
  // Several v1 values let a sender rotate secrets; any one that matches is enough.
  const matches = signatures.some((s) => {
    if (!/^[0-9a-f]{64}$/.test(s)) return false;
    return timingSafeEqual(expected, Buffer.from(s, 'hex'));
  });
  return matches ? { ok: true, timestamp: t } : { ok: false, problem: 'mismatch' };
}
