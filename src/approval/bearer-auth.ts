import type { IncomingMessage } from 'node:http';
import { extractBearer } from '../identity/bearer.js';
import type { TokenVerifier } from '../identity/oidc.js';
import type { ApproverAuth } from './api.js';

/**
 * Approvers by bearer token, verified exactly as agents' tokens are (issuer, audience, algorithms, JWKS).
 * No Authorization header: not this authenticator's request (`absent`).
 */
export function bearerApprovers(verifier: TokenVerifier): ApproverAuth {
  return async function bearer(req: IncomingMessage) {
    const extracted = extractBearer(req.headers.authorization, new URL(req.url ?? '/', 'http://localhost'));
    if (extracted.kind === 'missing') return { kind: 'absent' };
    if (extracted.kind !== 'token') {
      const detail = extracted.kind === 'in_query' ? 'token passed in the query string' : 'Authorization header is not "Bearer <token>"';
      return { kind: 'refused', status: 401, message: 'Send the token as Authorization: Bearer <token>.', detail, bearerError: 'invalid_request' };
    }
    try {
      const { principal } = await verifier.verify(extracted.token);
      return { kind: 'approver', via: 'bearer', approver: { issuer: principal.issuer, sub: principal.sub, ...(principal.email === undefined ? {} : { email: principal.email }), groups: principal.groups } };
    } catch (error) {
      return { kind: 'refused', status: 401, message: 'The access token is invalid or expired.', detail: error instanceof Error ? error.message : String(error), bearerError: 'invalid_token' };
    }
  };
}
