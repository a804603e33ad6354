import { UnauthenticatedError } from '../../errors.js';
import type { CallContext, Next, Stage } from '../context.js';

/**
 * Establishes the principal from the credential the transport attached. A call without a credential
 * stops here (fail closed). `--dev-identity` principals pass, and the audit record marks them.
 */
export function identityStage(): Stage {
  return async function identity(ctx: CallContext, next: Next): Promise<void> {
    const credential = ctx.credential;
    switch (credential.kind) {
      case 'dev':
        ctx.principal = credential.principal;
        break;
      case 'none':
        throw new UnauthenticatedError({ detail: 'no credential attached by the transport' });
    }
    await next();
  };
}
