import * as z from 'zod';
import { once } from '../once.js';

/**
 * The approval console's settings (`approvals.console` in the runtime file). Without `oidc`, approvers sign
 * in by pasting a bearer token; `devApprovers` adds a marked dev sign-in for demos. Built on first use.
 */
export const consoleConfigSchema = once(() => {
  // A secret is named, never written in the file: `env:NAME` or `file:/path`.
  const SecretRef = z.string().regex(/^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+)$/, 'must be a reference: "env:NAME" or "file:/path" (never the secret itself)');

  const Group = z.string().min(1).max(256);

  return z.strictObject({
    /** Sign-in with the issuer (authorization code + PKCE S256); the tokens are verified like agents' tokens. */
    oidc: z
      .strictObject({
        issuer: z.url(),
        clientId: z.string().min(1).max(256),
        /** For confidential clients (sent with HTTP Basic); public clients rely on PKCE alone. */
        clientSecret: SecretRef.optional(),
        /** This server's `/console/callback` as registered with the issuer; its origin is the console's origin. */
        redirectUri: z.url().refine((u) => new URL(u).pathname === '/console/callback', 'must end in /console/callback'),
        scopes: z.array(z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]{1,100}$/, 'a scope token')).min(1).default(['openid', 'email', 'profile']),
      })
      .optional(),
    /** Demo only: identities anyone reaching the console may sign in as, without a token. Marked on every page. */
    devApprovers: z
      .array(z.strictObject({ sub: z.string().regex(/^[A-Za-z0-9._@-]{1,100}$/), email: z.string().email().optional(), groups: z.array(Group).max(50) }))
      .min(1)
      .optional(),
    /**
     * `false` drops `Secure` from the session cookie, for plain HTTP on loopback only (a local demo); sign-in
     * is then refused on any other host.
     */
    secureCookies: z.boolean().default(true),
    /** A session unused this long ends (default 30 minutes). */
    sessionIdleMinutes: z.int().min(1).max(1440).default(30),
    /** A session ends this long after sign-in, used or not (default 12 hours). */
    sessionMaxHours: z.int().min(1).max(168).default(12),
  });
});
export type ConsoleConfig = z.output<ReturnType<typeof consoleConfigSchema>>;
