import type { LoggingLevel, ServerContext } from '@modelcontextprotocol/server';
import type { CallEvent } from '../pipeline/context.js';

/** The logger name on airlock's `notifications/message`. */
export const LOGGER = 'airlock';

/** The level below which nothing is sent until the client chooses one: warnings reach every agent. */
export const DEFAULT_LOG_LEVEL: LoggingLevel = 'warning';

const SEVERITY: Readonly<Record<LoggingLevel, number>> = { debug: 0, info: 1, notice: 2, warning: 3, error: 4, critical: 5, alert: 6, emergency: 7 };

const LOG_LEVEL_META = 'io.modelcontextprotocol/logLevel';

/** A call's report hook, and the notifications it queued (awaited before the result is sent). */
export interface CallNotifier {
  readonly report: (event: CallEvent) => void;
  /** Resolves once every notification of the call was handed to the transport (or failed). */
  flush(): Promise<void>;
}

/**
 * Turns a call's events into MCP notifications on its own request: `notifications/progress` when the client
 * sent a progress token (progress counts up from 1, one per step), `notifications/message` through the SDK's
 * request logger, at the level the client chose (`logging/setLevel` on 2025-era connections, the request's
 * log-level `_meta` on 2026-07-28), `warning` until it chooses. Notifications are sent in order; a failed send is reported to
 * `onerror` and never fails the call.
 */
export function callNotifier(ctx: ServerContext, onerror: (error: Error) => void, chosenLevel?: LoggingLevel, requestMeta?: Record<string, unknown>): CallNotifier {
  const token = ctx.mcpReq._meta?.progressToken;
  // The level the client chose (logging/setLevel on this connection, or this request's 2026-07-28 _meta);
  // until it chooses, only warnings and above: an info message on every call costs every agent a message.
  const envelope = (ctx.mcpReq as { envelope?: Record<string, unknown> }).envelope;
  const requested = envelope?.[LOG_LEVEL_META] ?? requestMeta?.[LOG_LEVEL_META];
  const level = chosenLevel ?? (typeof requested === 'string' && requested in SEVERITY ? (requested as LoggingLevel) : DEFAULT_LOG_LEVEL);
  let progress = 0;
  let queue: Promise<void> = Promise.resolve();
  const send = (what: () => Promise<void>): void => {
    queue = queue.then(what).catch((error: unknown) => onerror(error instanceof Error ? error : new Error(String(error))));
  };
  return {
    report: (event) => {
      if (event.kind === 'progress') {
        if (token === undefined) return;
        progress += 1;
        const params = { progressToken: token, progress, message: event.message };
        send(() => ctx.mcpReq.notify({ method: 'notifications/progress', params }));
        return;
      }
      if (SEVERITY[event.level] < SEVERITY[level]) return;
      send(() => ctx.mcpReq.log(event.level, event.message, LOGGER));
    },
    flush: () => queue,
  };
}
