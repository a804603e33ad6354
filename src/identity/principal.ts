/**
 * The verified caller of a governed call. Policy matches on these fields; the audit keeps them.
 * The credential that proved the identity is never part of the principal.
 */
export interface Principal {
  readonly issuer: string;
  readonly sub: string;
  readonly email: string | undefined;
  readonly groups: readonly string[];
  readonly clientId: string | undefined;
  /** True when the identity came from `--dev-identity` and was not verified. Marked in every audit record. */
  readonly dev: boolean;
}

/** What a transport hands the pipeline about the caller; the identity stage turns it into a Principal. */
export type Credential =
  | { readonly kind: 'none' }
  | { readonly kind: 'dev'; readonly principal: Principal };

/** Issuer recorded for principals created by `--dev-identity`. */
export const DEV_ISSUER = 'airlock:dev-identity';
