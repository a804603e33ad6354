/**
 * Where a masker gets the secrets its policy names only by reference (`masking.hmacKey: "env:NAME"`).
 * The composition root (src/main.ts, the one reader of the environment) installs the resolver once at
 * boot; until then every reference is unresolved, so style "hmac" fails closed.
 */

/** Returns the secret a reference like "env:NAME" stands for, or undefined when it is not set. */
export type SecretResolver = (ref: string) => string | undefined;

let resolver: SecretResolver = () => undefined;

export function setMaskingSecretResolver(resolve: SecretResolver): void {
  resolver = resolve;
}

/** The secret behind `ref`; undefined for no reference or an unset one. */
export function maskingSecret(ref: string | undefined): string | undefined {
  if (ref === undefined) return undefined;
  const value = resolver(ref);
  return value === '' ? undefined : value;
}
