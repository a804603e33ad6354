import type { AuthClient, Impersonated } from 'google-auth-library';
import { UpstreamUnavailableError } from '../errors.js';
import type { Principal } from '../identity/principal.js';

/** A short-lived downstream credential; the service account it acts as is recorded in the audit. */
export interface DownstreamToken {
  readonly accessToken: string;
  readonly expiresAt: number;
  readonly serviceAccount: string;
}

export interface ImpersonationOptions {
  /** airlock's own credentials (ADC in production); never the agent's token. */
  readonly sourceClient: AuthClient;
  /** Lifetime of each impersonated token, at most 15 minutes. */
  readonly lifetimeSeconds?: number;
  readonly scopes?: readonly string[];
  /** IAM Credentials API base URL (tests point it at a local fake). */
  readonly endpoint?: string;
  /** Refresh this long before expiry (default 60 s). */
  readonly refreshMarginMs?: number;
  readonly now?: () => number;
}

export const MAX_IMPERSONATION_SECONDS = 900;

/**
 * Per-principal impersonation of a policy-chosen service account (IAM Credentials
 * `generateAccessToken`). Clients are cached per principal and service account, and a token is reused
 * until shortly before it expires, so each principal's calls run under their own short-lived token.
 */
export class ImpersonationProvider {
  private readonly clients = new Map<string, { client: Impersonated; token?: DownstreamToken }>();
  private readonly options: Required<Omit<ImpersonationOptions, 'endpoint'>> & { endpoint?: string };

  constructor(options: ImpersonationOptions) {
    const lifetime = options.lifetimeSeconds ?? MAX_IMPERSONATION_SECONDS;
    if (!Number.isInteger(lifetime) || lifetime < 60 || lifetime > MAX_IMPERSONATION_SECONDS) {
      throw new TypeError(`ImpersonationProvider: lifetimeSeconds must be 60..${MAX_IMPERSONATION_SECONDS}`);
    }
    this.options = {
      sourceClient: options.sourceClient,
      lifetimeSeconds: lifetime,
      scopes: options.scopes ?? ['https://www.googleapis.com/auth/cloud-platform'],
      refreshMarginMs: options.refreshMarginMs ?? 60_000,
      now: options.now ?? Date.now,
      ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    };
  }

  /** Uses airlock's Application Default Credentials (its own service account) as the source. */
  static async fromApplicationDefault(options: Omit<ImpersonationOptions, 'sourceClient'>): Promise<ImpersonationProvider> {
    // The auth library is imported only when the policy asks for impersonation.
    const { GoogleAuth } = await import('google-auth-library');
    const sourceClient = await new GoogleAuth({ scopes: ['https://www.googleapis.com/auth/cloud-platform'] }).getClient();
    return new ImpersonationProvider({ ...options, sourceClient });
  }

  /** A token acting as `serviceAccount` on behalf of `principal` (cached until near expiry). */
  async tokenFor(principal: Principal, serviceAccount: string): Promise<DownstreamToken> {
    const key = JSON.stringify([principal.issuer, principal.sub, serviceAccount]);
    let entry = this.clients.get(key);
    if (entry === undefined) {
      // Already loaded by fromApplicationDefault in a server; a provider built around another source client loads it here.
      const { Impersonated: Client } = await import('google-auth-library');
      // Another call for the same key may have made its client while the library loaded.
      entry = this.clients.get(key) ?? {
        client: new Client({
          sourceClient: this.options.sourceClient,
          targetPrincipal: serviceAccount,
          targetScopes: [...this.options.scopes],
          lifetime: this.options.lifetimeSeconds,
          delegates: [],
          eagerRefreshThresholdMillis: this.options.refreshMarginMs,
          ...(this.options.endpoint === undefined ? {} : { endpoint: this.options.endpoint }),
        }),
      };
      this.clients.set(key, entry);
    }
    const cached = entry.token;
    if (cached !== undefined && cached.expiresAt - this.options.refreshMarginMs > this.options.now()) return cached;
    try {
      const { token } = await entry.client.getAccessToken();
      const accessToken = token ?? '';
      const expiresAt = entry.client.credentials.expiry_date ?? 0;
      if (accessToken === '' || expiresAt <= this.options.now()) throw new Error('the IAM Credentials API returned no usable token');
      entry.token = { accessToken, expiresAt, serviceAccount };
      return entry.token;
    } catch (error) {
      this.clients.delete(key);
      const message = error instanceof Error ? error.message : String(error);
      const denied = /PERMISSION_DENIED|403/.test(message);
      throw new UpstreamUnavailableError(
        denied ? `Acting as service account ${serviceAccount} (permission denied)` : `Acting as service account ${serviceAccount}`,
        { detail: message, cause: error },
      );
    }
  }

  /** Drops every cached token (e.g. after a policy change). */
  clear(): void {
    this.clients.clear();
  }
}
