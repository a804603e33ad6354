/**
 * What tail_logs needs from Cloud Logging. The connector (logging.ts) owns the client, its credentials,
 * deadlines and error mapping; tools see only these shapes. `scope` is always the policy's resource name.
 */
import type { LogEntryJson } from './log-entry-proto.js';
import type { UpstreamCall } from './storage-types.js';

/** One entry in the Logging REST JSON shape (the one shape the local server, the codec and the connector share). */
export type { LogEntryJson };

export interface EntriesRequest {
  /** The complete filter to send (composed by the tool: policy filters, log names, agent filter, window). */
  readonly filter: string;
  readonly order: 'asc' | 'desc';
  readonly pageSize: number;
  readonly pageToken?: string;
}

export interface EntriesPage {
  readonly entries: readonly LogEntryJson[];
  readonly nextPageToken?: string;
}

/** A log scope as policy defines it: the project it reads and the log ids it is limited to (absent: all). */
export interface LogScopeInfo {
  readonly project: string;
  readonly logNames?: readonly string[];
}

export interface LoggingConnector {
  /** The scope under the live policy; undefined when policy has no such log scope. */
  scope(name: string): LogScopeInfo | undefined;
  /** One page of entries of the scope's project (the project comes from policy). */
  list(scope: string, request: EntriesRequest, call: UpstreamCall): Promise<EntriesPage>;
  /** Live tail until `call.deadline` or cancellation; `onEntries` gets each batch as it arrives. */
  tail(scope: string, request: { readonly filter: string }, call: UpstreamCall, onEntries: (entries: readonly LogEntryJson[]) => void): Promise<void>;
  close(): Promise<void>;
}
