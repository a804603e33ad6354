/**
 * What read_bucket needs from Cloud Storage. The connector (storage.ts) owns the client, its credentials,
 * deadlines and error mapping; tools see only these shapes. `bucket` is always the policy's resource name.
 */
import type { ContentFormat, GoogleToken } from '../tool.js';

/** What every upstream call gets: the call's cancellation and the time it must end by (epoch ms). */
export interface UpstreamCall {
  readonly signal: AbortSignal;
  readonly deadline: number;
  /** The call's time limit, for the error that says it was reached (default: what was left at the start). */
  readonly timeoutMs?: number;
  /**
   * The caller's impersonated Google credentials (ExecuteContext.googleToken). Used only where policy has
   * `downstream.impersonation` and the endpoint is Google's; otherwise airlock's own credentials apply.
   */
  readonly googleToken?: () => Promise<GoogleToken>;
}

export interface ListRequest {
  readonly prefix: string;
  readonly delimiter?: string;
  readonly pageToken?: string;
  readonly maxResults: number;
}

export interface ObjectSummary {
  readonly name: string;
  readonly size: number;
  readonly contentType?: string;
  readonly updated?: string;
  readonly generation?: string;
}

export interface ObjectListing {
  readonly items: readonly ObjectSummary[];
  readonly prefixes: readonly string[];
  readonly nextPageToken?: string;
}

export interface ReadRequest {
  readonly object: string;
  readonly generation?: string;
  /** Bytes of the stored object, inclusive (as HTTP Range); absent: from the start. */
  readonly range?: { readonly start: number; readonly end?: number };
  /** Decoded bytes to return at most (the rest is cut: `truncated`). */
  readonly maxBytes: number;
}

export interface ObjectMetadata {
  readonly name: string;
  readonly size: number;
  readonly contentType?: string;
  readonly contentEncoding?: string;
  readonly generation?: string;
  readonly updated?: string;
  readonly md5Hash?: string;
  readonly crc32c?: string;
}

export interface ObjectRead {
  readonly metadata: ObjectMetadata;
  /** How the content is masked; `binary`: no content is returned, only metadata. */
  readonly format: ContentFormat | 'binary';
  /** The decoded text (absent for binary content). */
  readonly text?: string;
  /** Stored bytes read, and the first stored byte not read when the read stopped early. */
  readonly bytesRead: number;
  readonly truncated: boolean;
  readonly nextStart?: number;
}

export interface StorageConnector {
  /** Whether policy names this bucket (`resources.buckets`); read_bucket answers UNKNOWN_RESOURCE otherwise. */
  hasBucket(bucket: string): boolean;
  list(bucket: string, request: ListRequest, call: UpstreamCall): Promise<ObjectListing>;
  read(bucket: string, request: ReadRequest, call: UpstreamCall): Promise<ObjectRead>;
  close(): Promise<void>;
}
