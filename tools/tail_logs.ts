import * as z from 'zod';
import type { LogEntryJson } from '../src/connectors/logging-types.js';
import { InvalidInputError, UnknownResourceError } from '../src/errors.js';
import { composeLogFilter, LogFilterError, LogTimeError, parseLogFilter, parseSince, type LogFilter } from '../src/policy/log-filter.js';
import { defineTool, once, type ExecuteContext, type JsonResult } from '../src/tool.js';
import { jsonObject, justification } from './json.js';

/** The window read when `since` is not given (shortened to the policy's maxWindow when that is less). */
const DEFAULT_SINCE_MS = 3600_000;
/** Entries returned when `limit` is not given (policy's maxRows when that is less). */
const DEFAULT_LIMIT = 100;
/** Largest page asked of Cloud Logging at once. */
const MAX_PAGE = 1000;
/** A live tail accepts entries stamped up to this long after it ends (clock skew between writers). */
const TAIL_SKEW_MS = 60_000;

const input = once(() =>
  z.strictObject({
    scope: z.string().min(1).max(64).describe('Name of a log scope from list_resources, e.g. "checkout-logs".'),
    filter: z
      .string()
      .max(20_000)
      .optional()
      .describe('A Cloud Logging query that narrows the scope, e.g. `severity>=ERROR AND jsonPayload.message:"timeout"`. It can only narrow: policy filters always apply.'),
    since: z.string().max(64).optional().describe('Start of the window: a duration before now ("15m", "2h", "1d") or an RFC 3339 time. Default: 1 hour ago.'),
    until: z.string().max(64).optional().describe('End of the window (same forms as since). Default: now. Not with follow_seconds.'),
    order: z.enum(['asc', 'desc']).optional().describe('"desc" (default): newest entries first, so a limit keeps the latest; "asc": oldest first.'),
    limit: z.int().min(1).max(100_000).optional().describe(`Most entries to return (default ${DEFAULT_LIMIT}); policy may lower it.`),
    follow_seconds: z.int().min(0).max(600).optional().describe('After the listing, keep the call open this many seconds and collect new entries live (progress is reported per batch).'),
    page_token: z.string().min(1).max(4096).optional().describe('nextPageToken of an earlier call with the same scope, filter, since, until and order (give since and until as RFC 3339 times).'),
    justification: justification(),
  }),
);

type Input = z.output<ReturnType<typeof input>>;

const output = once(() =>
  z.object({
    scope: z.string(),
    project: z.string(),
    filter: z.string().describe('The complete filter sent to Cloud Logging: policy filters, log names, your filter, time window.'),
    since: z.string(),
    until: z.string(),
    order: z.enum(['asc', 'desc']),
    entries: z.array(jsonObject()),
    count: z.int(),
    truncated: z.boolean(),
    nextPageToken: z.string().optional(),
    followedSeconds: z.int().optional(),
    note: z.string().optional(),
    auditId: z.string(),
  }),
);

/** tail_logs: entries of a governed Cloud Logging scope, narrowed by policy, masked, optionally followed live. */
export const tailLogs = defineTool({
  name: 'tail_logs',
  description: [
    'Read Cloud Logging entries of a governed log scope (list_resources lists them, with the filters policy adds).',
    '`filter` is a Cloud Logging query (comparisons, AND/OR/NOT, parentheses, severity, resource.type, labels.*, jsonPayload.*, timestamp);',
    'it can only narrow what policy allows: airlock sends (policy filters) AND (log names) AND (your filter) AND the time window.',
    'A filter that does not parse comes back as INVALID_INPUT with its line and column. The window is `since` (default 1 hour ago) to `until` (default now);',
    'policy caps its width (default 24 h) and a wider one is refused. Newest entries come first (order "desc") unless order is "asc";',
    'entries are capped by `limit` and by size: `truncated` is true when more matched (narrow the filter or window, or pass nextPageToken as page_token).',
    '`follow_seconds` keeps the call open after the listing and collects new entries live (progress per batch; cancelling the call ends it).',
    'Emails, card numbers, tokens, keys and IPs in payloads, URLs and labels come back masked. Every call is audited.',
  ].join(' '),
  get input() {
    return input();
  },
  get output() {
    return output();
  },
  annotations: {
    title: 'Tail logs (governed)',
    readOnlyHint: true,
    destructiveHint: false,
    idempotentHint: false,
    openWorldHint: false,
  },
  facts(args, deps) {
    const scope = deps.logging?.scope(args.scope);
    if (scope === undefined) throw new UnknownResourceError('log scope', args.scope);
    agentFilter(args);
    windowOf(args, new Date(), Number.POSITIVE_INFINITY);
    return { resource: { kind: 'log_scope', name: args.scope }, ...(scope.logNames === undefined ? {} : { logNames: scope.logNames }), logFilter: args.filter ?? '' };
  },
  async execute(args, ctx) {
    const logging = ctx.deps.logging;
    const scope = logging?.scope(args.scope);
    if (logging === undefined || scope === undefined) throw new UnknownResourceError('log scope', args.scope);
    const started = Date.now();
    const now = new Date(started);
    const { since, until } = windowOf(args, now, ctx.limits.maxWindowMs);
    const follow = followMs(args, ctx);
    const agent = agentFilter(args);
    const order = args.order ?? 'desc';
    const logNames = scope.logNames === undefined ? {} : { logNames: { project: scope.project, names: scope.logNames } };
    const filter = composeLogFilter({ forced: ctx.scope.logFilters, ...logNames, ...(agent === undefined ? {} : { agent }), since, until });
    const max = Math.min(args.limit ?? DEFAULT_LIMIT, ctx.limits.maxRows);
    const collected = new Collector(max, ctx.limits.maxBytes);
    const call = { signal: ctx.signal, deadline: started + ctx.limits.timeoutMs, googleToken: () => ctx.googleToken() };
    let pageToken = args.page_token;
    do {
      // Exactly the room left: the page token then points at the first entry not returned (asking one more
      // to see whether more follow would skip it on the next page).
      const page = await logging.list(args.scope, { filter, order, pageSize: Math.min(MAX_PAGE, collected.room()), ...(pageToken === undefined ? {} : { pageToken }) }, call);
      collected.add(page.entries);
      pageToken = page.nextPageToken;
    } while (pageToken !== undefined && collected.room() > 0 && !collected.full);
    const more = collected.full || pageToken !== undefined;
    let followed: number | undefined;
    if (follow > 0 && collected.room() > 0 && !collected.full) {
      const tailSince = new Date(Math.max(Date.now(), until.getTime()));
      const tailFilter = composeLogFilter({ forced: ctx.scope.logFilters, ...logNames, ...(agent === undefined ? {} : { agent }), since: until, until: new Date(tailSince.getTime() + follow + TAIL_SKEW_MS) });
      const tailStart = Date.now();
      const listed = collected.count;
      await logging.tail(args.scope, { filter: tailFilter }, { signal: ctx.signal, deadline: tailStart + follow, googleToken: () => ctx.googleToken() }, (entries) => {
        collected.add(entries);
        const last = collected.lastTimestamp();
        ctx.progress(`${collected.count} entries so far${last === undefined ? '' : `, last at ${last}`}${collected.count > listed ? ` (${collected.count - listed} live)` : ''}`);
      });
      followed = Math.round((Date.now() - tailStart) / 1000);
    }
    const entries = collected.sorted(order);
    const truncated = more || collected.full;
    const value = {
      scope: args.scope,
      project: scope.project,
      filter,
      since: since.toISOString(),
      until: until.toISOString(),
      order,
      entries,
      count: entries.length,
      truncated,
      ...(pageToken === undefined || collected.cutByBytes ? {} : { nextPageToken: pageToken }),
      ...(followed === undefined ? {} : { followedSeconds: followed }),
      ...(truncated ? { note: truncationNote(collected, max, ctx.limits.maxBytes) } : {}),
    };
    // The text is rendered again from the masked value, so text and structure show the same masked data.
    const result: JsonResult = { kind: 'json', value, text: '', render: renderEntries };
    return result;
  },
});

/** The agent's filter parsed (undefined when none or blank); a syntax error is INVALID_INPUT with the spot. */
function agentFilter(args: Input): LogFilter | undefined {
  if (args.filter === undefined || args.filter.trim() === '') return undefined;
  try {
    return parseLogFilter(args.filter);
  } catch (error) {
    if (error instanceof LogFilterError) throw new InvalidInputError('tail_logs', [{ path: 'filter', message: `${error.message}:\n${error.snippet}` }]);
    throw error;
  }
}

/** The time window of the call, checked against the policy's widest window. */
function windowOf(args: Input, now: Date, maxWindowMs: number): { since: Date; until: Date } {
  let until: Date;
  let since: Date;
  try {
    until = args.until === undefined ? now : parseSince(args.until, now, 'until');
    since = args.since === undefined ? new Date(until.getTime() - Math.min(DEFAULT_SINCE_MS, maxWindowMs)) : parseSince(args.since, now, 'since');
  } catch (error) {
    if (error instanceof LogTimeError) throw new InvalidInputError('tail_logs', [{ path: error.message.startsWith('until') ? 'until' : 'since', message: error.message }]);
    throw error;
  }
  if (since.getTime() >= until.getTime()) throw new InvalidInputError('tail_logs', [{ path: 'since', message: `since (${since.toISOString()}) must be before until (${until.toISOString()})` }]);
  const width = until.getTime() - since.getTime();
  if (width > maxWindowMs) {
    throw new InvalidInputError('tail_logs', [{ path: 'since', message: `the window from since to until is ${duration(width)}; policy allows at most ${duration(maxWindowMs)} per call. Narrow since/until` }]);
  }
  return { since, until };
}

/** How long to follow, checked against policy (0: no live tail). */
function followMs(args: Input, ctx: ExecuteContext): number {
  const seconds = args.follow_seconds ?? 0;
  if (seconds === 0) return 0;
  if (args.until !== undefined) throw new InvalidInputError('tail_logs', [{ path: 'follow_seconds', message: 'follow_seconds follows new entries after now: leave until out' }]);
  const max = Math.floor(ctx.limits.maxFollowMs / 1000);
  if (max === 0) throw new InvalidInputError('tail_logs', [{ path: 'follow_seconds', message: 'policy does not allow a live tail on this scope (limits.maxFollowSeconds is 0); call without follow_seconds' }]);
  if (seconds > max) throw new InvalidInputError('tail_logs', [{ path: 'follow_seconds', message: `policy allows at most ${max} seconds of live tail per call` }]);
  return seconds * 1000;
}

function duration(ms: number): string {
  if (ms % 3600_000 === 0) return `${ms / 3600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${Math.ceil(ms / 1000)}s`;
}

function truncationNote(c: Collector, max: number, maxBytes: number): string {
  if (c.cutByBytes) return `Only ${c.count} entries are shown: the result reached the ${maxBytes}-byte cap. Narrow the filter (severity, logName, jsonPayload fields) or the window (since/until).`;
  return `Only ${max} entries are shown (limit). Narrow the filter or the window, or pass nextPageToken as page_token with the same since/until (as RFC 3339 times).`;
}

type Shown = Record<string, unknown>;

/** The fields of an entry the result shows (no receive time, span or internal ids). */
function shown(e: LogEntryJson): Shown {
  const out: Shown = { timestamp: e.timestamp };
  if (e.severity !== undefined) out.severity = e.severity;
  out.logName = e.logName;
  if (e.resource !== undefined) out.resource = e.resource;
  if (e.trace !== undefined) out.trace = e.trace;
  if (e.insertId !== undefined) out.insertId = e.insertId;
  if (e.labels !== undefined) out.labels = e.labels;
  if (e.httpRequest !== undefined) out.httpRequest = e.httpRequest;
  if (e.textPayload !== undefined) out.textPayload = e.textPayload;
  else if (e.jsonPayload !== undefined) out.jsonPayload = e.jsonPayload;
  else if (e.protoPayload !== undefined) out.protoPayload = e.protoPayload;
  return out;
}

/** Entries collected under the count and byte caps, without duplicates (a tail may repeat a listed entry). */
class Collector {
  private readonly entries: Shown[] = [];
  private readonly seen = new Set<string>();
  private bytes = 0;
  full = false;
  cutByBytes = false;

  constructor(
    private readonly max: number,
    private readonly maxBytes: number,
  ) {}

  get count(): number {
    return this.entries.length;
  }

  room(): number {
    return Math.max(0, this.max - this.entries.length);
  }

  add(entries: readonly LogEntryJson[]): void {
    for (const e of entries) {
      if (this.full) return;
      const key = `${e.logName}\u0000${e.timestamp}\u0000${e.insertId ?? ''}`;
      if (e.insertId !== undefined && this.seen.has(key)) continue;
      const item = shown(e);
      const size = Buffer.byteLength(JSON.stringify(item));
      if (this.bytes + size > this.maxBytes) {
        this.full = true;
        this.cutByBytes = true;
        return;
      }
      if (this.entries.length >= this.max) {
        this.full = true;
        return;
      }
      this.seen.add(key);
      this.bytes += size;
      this.entries.push(item);
    }
  }

  lastTimestamp(): string | undefined {
    let last: string | undefined;
    for (const e of this.entries) if (last === undefined || String(e.timestamp) > last) last = String(e.timestamp);
    return last;
  }

  sorted(order: 'asc' | 'desc'): Shown[] {
    const byTime = [...this.entries].sort((a, b) => Date.parse(String(a.timestamp)) - Date.parse(String(b.timestamp)));
    return order === 'asc' ? byTime : byTime.reverse();
  }
}

const MAX_LINE = 600;

/** One line per entry, oldest first: `timestamp severity logName  payload…` (from the masked value). */
function renderEntries(value: Readonly<Record<string, unknown>>): string {
  const entries = (Array.isArray(value.entries) ? value.entries : []) as Shown[];
  const count = entries.length;
  const head = `${count} entr${count === 1 ? 'y' : 'ies'} from log scope ${String(value.scope)} (${String(value.since)} to ${String(value.until)})${value.truncated === true ? ' (TRUNCATED)' : ''}`;
  const lines = [head];
  const ordered = [...entries].sort((a, b) => Date.parse(String(a.timestamp)) - Date.parse(String(b.timestamp)));
  for (const e of ordered) {
    const line = `${String(e.timestamp)} ${str(e.severity ?? 'DEFAULT')} ${logId(String(e.logName))}  ${payloadText(e)}`.replace(/\r?\n/g, '\\n');
    lines.push(line.length > MAX_LINE ? `${line.slice(0, MAX_LINE)}…` : line);
  }
  if (typeof value.note === 'string') lines.push(value.note);
  if (typeof value.nextPageToken === 'string') lines.push(`nextPageToken: ${value.nextPageToken}`);
  return lines.join('\n');
}

function logId(logName: string): string {
  const i = logName.indexOf('/logs/');
  const id = i < 0 ? logName : logName.slice(i + '/logs/'.length);
  try {
    return decodeURIComponent(id);
  } catch {
    return id;
  }
}

function payloadText(e: Shown): string {
  const parts: string[] = [];
  const http = e.httpRequest as Record<string, unknown> | undefined;
  if (http !== undefined) parts.push([http.requestMethod, http.status, http.requestUrl, http.remoteIp === undefined ? undefined : `from ${str(http.remoteIp)}`].filter((p) => p !== undefined).map(str).join(' '));
  if (typeof e.textPayload === 'string') parts.push(e.textPayload);
  if (e.jsonPayload !== undefined) parts.push(JSON.stringify(e.jsonPayload));
  const proto = e.protoPayload as Record<string, unknown> | undefined;
  if (proto !== undefined) {
    const auth = proto.authenticationInfo as Record<string, unknown> | undefined;
    parts.push([proto.methodName, proto.resourceName, auth?.principalEmail === undefined ? undefined : `by ${str(auth.principalEmail)}`].filter((p) => p !== undefined).map(str).join(' '));
  }
  return parts.join(' ');
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v) ?? '';
}
