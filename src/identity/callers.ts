import { existsSync } from 'node:fs';
import { ConfigError, type RuntimeFile } from '../config.js';
import type { Logger } from '../log.js';
import { parseDevIdentity } from './dev.js';
import type { OidcVerifier } from './oidc.js';
import type { Credential, Principal } from './principal.js';
import { fileTokenSource, staticTokenSource, type TokenSource } from './token-source.js';

export interface CallerSettings {
  readonly transport: 'stdio' | 'http';
  /** The runtime file's `identity` section (trusted issuers). */
  readonly identity: RuntimeFile['identity'];
  readonly devIdentity?: string | undefined;
  readonly tokenFile?: string | undefined;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly log: Logger;
}

/** How callers are identified: the verifier of tokens (when issuers are configured) and each call's credential. */
export interface Callers {
  readonly verifier?: OidcVerifier;
  /** The credential of a call that carries no token of its own: the dev identity, or none. */
  readonly fixed: Credential;
  /** stdio: the caller's token, read on every call (`--token-file` or AIRLOCK_TOKEN). */
  readonly tokens?: TokenSource;
}

/**
 * Decides where callers' identities come from: verified bearer tokens (HTTP per request; stdio from
 * `--token-file` or AIRLOCK_TOKEN, read on every call), or `--dev-identity` (unverified, announced loudly),
 * or nothing (every call refused as UNAUTHENTICATED, which the log says).
 */
export async function identifyCallers(settings: CallerSettings): Promise<Callers> {
  const { env, log } = settings;
  // The verifier (and jose) loads only when issuers are configured: the dev identity needs neither.
  const verifier = settings.identity === undefined ? undefined : new (await import('./oidc.js')).OidcVerifier(settings.identity);
  if (verifier !== undefined && settings.devIdentity !== undefined) {
    throw new ConfigError('--dev-identity cannot be combined with identity issuers in --config: a verified deployment never falls back to an unverified identity');
  }
  // The flag is the more specific choice: a client's config names --token-file while the user's shell may
  // still export an old AIRLOCK_TOKEN that the client passes on. The file wins, and the log says so.
  const envToken = settings.tokenFile === undefined ? env.AIRLOCK_TOKEN : undefined;
  if (settings.tokenFile !== undefined && (env.AIRLOCK_TOKEN ?? '') !== '' && settings.transport === 'stdio') {
    log('warn', `AIRLOCK_TOKEN is set too: ignored, the token comes from --token-file ${settings.tokenFile}`);
  }
  const base = verifier === undefined ? {} : { verifier };
  if (settings.devIdentity !== undefined) {
    const principal = parseDevIdentity(settings.devIdentity);
    devBanner(log, principal);
    return { ...base, fixed: { kind: 'dev', principal } };
  }
  if (settings.transport === 'stdio' && (settings.tokenFile !== undefined || (envToken ?? '') !== '')) {
    if (verifier === undefined) throw new ConfigError('a stdio token was given, but no identity issuers are configured (--config FILE with "identity")');
    const source: TokenSource = settings.tokenFile !== undefined ? fileTokenSource(settings.tokenFile) : staticTokenSource(envToken ?? '');
    log('info', `stdio identity: bearer token from ${settings.tokenFile !== undefined ? `--token-file ${settings.tokenFile}` : 'AIRLOCK_TOKEN'}, verified on every call`);
    // Read on every call (it may appear later), but a path that is wrong now is worth saying at once.
    if (settings.tokenFile !== undefined && !existsSync(settings.tokenFile)) log('warn', `--token-file ${settings.tokenFile} does not exist (yet): calls are refused as UNAUTHENTICATED until it does`);
    return { ...base, fixed: { kind: 'none' }, tokens: source };
  }
  if (verifier !== undefined && settings.transport === 'http') {
    log('info', `HTTP identity: bearer tokens from ${verifier.issuers().join(', ')}, verified on every request`);
  } else {
    log('warn', 'no identity source configured: every call will be refused as UNAUTHENTICATED');
  }
  return { ...base, fixed: { kind: 'none' } };
}

function devBanner(log: Logger, principal: Principal): void {
  const who = `${principal.email ?? principal.sub} (groups: ${principal.groups.join(', ') || 'none'})`;
  for (const line of [
    '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
    `!!  DEV IDENTITY IN USE: every call runs as ${who}`,
    '!!  This identity is NOT verified. Use it only for the demo and tests.',
    '!!  Every audit record written by this process is marked devIdentity=true.',
    '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
  ]) {
    log('warn', line);
  }
}
