/**
 * The HTTP side of MCP authorization (pure helpers): reading the bearer token, the 401 challenge and
 * the OAuth 2.0 Protected Resource Metadata document (RFC 9728).
 */

export type BearerExtraction =
  | { readonly kind: 'token'; readonly token: string }
  | { readonly kind: 'missing' }
  | { readonly kind: 'in_query' }
  | { readonly kind: 'malformed' };

/** Reads `Authorization: Bearer …`. Tokens in the query string are refused: URLs end up in logs. */
export function extractBearer(authorization: string | undefined, url: URL): BearerExtraction {
  if (url.searchParams.has('access_token') || url.searchParams.has('token')) return { kind: 'in_query' };
  if (authorization === undefined || authorization === '') return { kind: 'missing' };
  const match = /^Bearer[ ]+([A-Za-z0-9\-._~+/]+=*)$/i.exec(authorization.trim());
  if (match?.[1] === undefined) return { kind: 'malformed' };
  return { kind: 'token', token: match[1] };
}

/** Path of the metadata document for a resource path, per RFC 9728 §3.1 (path inserted after the well-known prefix). */
export function metadataPath(resourcePath: string): string {
  const suffix = resourcePath === '/' ? '' : resourcePath.replace(/\/$/, '');
  return `/.well-known/oauth-protected-resource${suffix}`;
}

/** `WWW-Authenticate` for a 401, naming where the client finds the authorization servers. */
export function challenge(metadataUrl: string, error?: { code: 'invalid_token' | 'invalid_request'; description: string }): string {
  const parts = ['Bearer realm="airlock"', `resource_metadata="${metadataUrl}"`];
  if (error !== undefined) parts.push(`error="${error.code}"`, `error_description="${error.description.replace(/["\\]/g, '')}"`);
  return parts.join(', ');
}

export interface ProtectedResourceMetadata {
  readonly resource: string;
  readonly authorization_servers: readonly string[];
  readonly bearer_methods_supported: readonly string[];
  readonly resource_name: string;
}

export function protectedResourceMetadata(resource: string, issuers: readonly string[]): ProtectedResourceMetadata {
  return { resource, authorization_servers: [...issuers], bearer_methods_supported: ['header'], resource_name: 'airlock' };
}
