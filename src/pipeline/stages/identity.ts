import { UnauthenticatedError } from '../../errors.js';
import type { TokenVerifier } from '../../identity/oidc.js';
import type { CallContext, Next, Stage } from '../context.js';

export interface IdentityStageOptions {
  /** Verifies bearer tokens (stdio); absent when no issuer is configured. */
  readonly verifier?: TokenVerifier;
  readonly now: () => number;
}

/**
 * Establishes the principal. Bearer tokens are verified here (stdio) or were verified by the HTTP gate
 * for this very request; `--dev-identity` principals pass and are marked in the audit. Anything else
 * stops the call (fail closed) with a fixed public message; the reason goes to the audit only.
 */
export function identityStage(options: IdentityStageOptions): Stage {
  const { verifier, now } = options;
  return async function identity(ctx: CallContext, next: Next): Promise<void> {
    const credential = ctx.credential;
    switch (credential.kind) {
      case 'dev':
        ctx.principal = credential.principal;
        break;
      case 'verified':
        if (credential.expiresAt <= now()) throw new UnauthenticatedError({ detail: 'token expired before the call ran' });
        ctx.principal = credential.principal;
        break;
      case 'bearer': {
        if (verifier === undefined) throw new UnauthenticatedError({ detail: 'a bearer token was given but no issuer is configured' });
        ctx.principal = (await verifier.verify(credential.token)).principal;
        break;
      }
      case 'invalid':
        throw new UnauthenticatedError({ detail: credential.detail });
      case 'none':
        throw new UnauthenticatedError({ detail: 'no credential attached by the transport' });
    }
    await next();
  };
}
