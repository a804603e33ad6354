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
 * a link-local address. Keep retries and deadlines short per call, for example
 * `getEntries({ ..., gaxOptions: { timeout: 5_000, maxRetries: 0 } })` (see the tests for what each option
 * does); `tailEntries()` is gRPC only (the REST fallback cannot tail).
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
