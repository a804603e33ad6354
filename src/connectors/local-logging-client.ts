/**
 * How the real `@google-cloud/logging` client is pointed at a local Logging server (local-logging.ts)
 * without credentials.
 */
import type { LoggingOptions } from '@google-cloud/logging';
import { PassThroughClient } from 'google-auth-library';
import { grpc } from 'google-gax';

/**
 * Options for `new Logging(...)` that reach a loopback Logging server over plaintext gRPC with no
 * credentials: `apiEndpoint` + `port`, an insecure channel (`sslCreds`), and a `PassThroughClient` as the
 * auth client so no token is ever fetched. Throws TypeError when `address` is not a loopback `host:port`.
 *
 * The entry point must also set `METADATA_SERVER_DETECTION=none` before the client is used, and a client
 * that writes must preset `logging.detectedResource`: otherwise the auth library probes the metadata server,
 * a link-local address.
 *
 * What the client does with these options (pinned by test/integration/local-logging.test.ts):
 * - `gaxOptions: { retry: null, timeout: ms }` makes one attempt bounded by `ms` and keeps the upstream code
 *   (14 UNAVAILABLE, 7 PERMISSION_DENIED, …; a hang gives 4 DEADLINE_EXCEEDED). `maxRetries: N` makes N
 *   attempts (0 counts as 1) and then reports 4 DEADLINE_EXCEEDED whatever the upstream said, so a
 *   connector that maps codes should retry itself or use `retry: null`.
 * - Paging: pass the returned next query back whole (`getEntries({ ...next, autoPaginate: false })`); a
 *   bare `pageToken` with the original options gets a new `timestamp >=` term from the client and the
 *   server refuses the token as belonging to another query.
 * - `tailEntries()` (gRPC only: the REST fallback cannot tail) is ended upstream by `stream.abort()`;
 *   `destroy()` alone leaves the gRPC call open. `tailEntries({ gaxOptions: { timeout } })` is the stream's
 *   deadline. Its `bufferWindow` never reaches the server (the client sends it misspelled).
 *
 * ```ts
 * const logging = new Logging(localLoggingClientOptions(local.address, 'airlock-demo'));
 * const [entries] = await logging.getEntries({ filter: 'severity>=ERROR', autoPaginate: false });
 * ```
 */
export function localLoggingClientOptions(address: string, projectId: string): LoggingOptions & { sslCreds: grpc.ChannelCredentials } {
  const m = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|\[::1\]):(\d{1,5})$/.exec(address);
  if (m?.[1] === undefined || m[2] === undefined) throw new TypeError(`localLoggingClientOptions: "${address}" must be a loopback host:port`);
  return {
    projectId,
    apiEndpoint: m[1],
    port: Number(m[2]),
    sslCreds: grpc.credentials.createInsecure(),
    authClient: new PassThroughClient(),
  };
}
