/**
 * Where a masker gets the secrets its policy names only by reference (`masking.hmacKey: "env:NAME"`).
 * The composition root (src/main.ts, the one reader of the environment) hands a resolver to the mask
 * stage; without one every reference is unresolved, so style "hmac" fails closed.
 */

/** Returns the secret a reference like "env:NAME" stands for, or undefined when it is not set. */
export type SecretResolver = (ref: string) => string | undefined;

/** The secret behind `ref`; undefined for no reference, an unset one or an empty one. */
export function maskingSecret(ref: string | undefined, resolve: SecretResolver): string | undefined {
  if (ref === undefined) return undefined;
  const value = resolve(ref);
  return value === '' ? undefined : value;
}
