import { isHttpsOrLoopback } from './config.js';

/** Largest discovery document or JWKS accepted (bytes); real ones are a few kilobytes. */
export const MAX_TRUST_DOCUMENT_BYTES = 1024 * 1024;

/** A trust-bootstrap fetch airlock refused to make or whose answer it refused to use. */
export class TrustFetchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrustFetchError';
  }
}

export interface TrustFetchOptions {
  readonly fetch?: typeof fetch;
  readonly now?: () => number;
  readonly maxBytes?: number;
  /** First wait after a failure; it doubles with every further failure up to `maxBackoffMs`. */
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

async function readCapped(res: Response, maxBytes: number): Promise<Uint8Array> {
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw new TrustFetchError(`answer of ${declared} bytes exceeds the ${maxBytes}-byte limit`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (res.body === null) return new Uint8Array();
  // Counted while it streams: a chunked answer has no content-length to check up front.
  for await (const value of res.body as unknown as AsyncIterable<Uint8Array>) {
    size += value.byteLength;
    // Leaving the loop by throwing cancels the stream.
    if (size > maxBytes) throw new TrustFetchError(`answer exceeds the ${maxBytes}-byte limit`);
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

/**
 * The only way airlock fetches an issuer's discovery document and JWKS (also handed to jose as its
 * `customFetch`). Every URL must pass the https-or-loopback rule, redirects are refused, the body must be
 * a JSON document within the size cap, and after a failure further fetches are refused without network
 * until a backoff has passed: during an IdP outage, refused tokens cannot turn into a stream of
 * outbound requests.
 */
export function trustFetch(options: TrustFetchOptions = {}): typeof fetch {
  const fetchImpl = options.fetch ?? fetch;
  const now = options.now ?? Date.now;
  const maxBytes = options.maxBytes ?? MAX_TRUST_DOCUMENT_BYTES;
  const minBackoff = options.minBackoffMs ?? 1000;
  const maxBackoff = options.maxBackoffMs ?? 60_000;
  let failures = 0;
  let retryAt = 0;
  const guarded: typeof fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const shown = url.slice(0, 200);
    if (!isHttpsOrLoopback(url)) throw new TrustFetchError(`refusing to fetch ${shown}: only https URLs (http on loopback) are fetched`);
    const wait = retryAt - now();
    if (wait > 0) throw new TrustFetchError(`not fetching ${shown}: an earlier fetch failed, next attempt in ${Math.ceil(wait / 1000)} s`);
    try {
      const res = await fetchImpl(url, { ...init, method: 'GET', redirect: 'error' });
      if (res.status !== 200) {
        await res.body?.cancel().catch(() => undefined);
        throw new TrustFetchError(`${shown} answered ${res.status}`);
      }
      const body = await readCapped(res, maxBytes);
      try {
        JSON.parse(Buffer.from(body).toString('utf8'));
      } catch {
        throw new TrustFetchError(`${shown} did not answer with JSON`);
      }
      failures = 0;
      retryAt = 0;
      return new Response(body, { status: 200, headers: { 'content-type': 'application/json' } });
    } catch (error) {
      failures++;
      retryAt = now() + Math.min(maxBackoff, minBackoff * 2 ** Math.min(failures - 1, 16));
      throw error;
    }
  };
  return guarded;
}
