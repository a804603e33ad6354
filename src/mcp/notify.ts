import type { ServerContext } from '@modelcontextprotocol/server';
import type { CallEvent } from '../pipeline/context.js';

/** The logger name on airlock's `notifications/message`. */
export const LOGGER = 'airlock';

/** A call's report hook, and the notifications it queued (awaited before the result is sent). */
export interface CallNotifier {
  readonly report: (event: CallEvent) => void;
  /** Resolves once every notification of the call was handed to the transport (or failed). */
  flush(): Promise<void>;
}

/**
 * Turns a call's events into MCP notifications on its own request: `notifications/progress` when the client
 * sent a progress token (progress counts up from 1, one per step), `notifications/message` through the SDK's
 * request logger, which applies the level the client chose (`logging/setLevel` on 2025-era connections, the
 * request's log-level `_meta` on 2026-07-28). Notifications are sent in order; a failed send is reported to
 * `onerror` and never fails the call.
 */
export function callNotifier(ctx: ServerContext, onerror: (error: Error) => void): CallNotifier {
  const token = ctx.mcpReq._meta?.progressToken;
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
      send(() => ctx.mcpReq.log(event.level, event.message, LOGGER));
    },
    flush: () => queue,
  };
}
