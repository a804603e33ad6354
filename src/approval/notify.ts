import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../config.js';
import type { ApprovalEvent, ApprovalRecord } from './model.js';
import { DEFAULT_NOTIFY_EVENTS, endpointProblem, type NotifyConfig, type NotifyEventType } from './notify/config.js';
import { slackMessage } from './notify/slack.js';
import { signWebhook, webhookBody } from './notify/webhook.js';

export { NOTIFY_EVENTS, notifyConfigSchema, type NotifyConfig, type NotifyEventType } from './notify/config.js';
export { escapeMrkdwn, slackMessage, type SlackBlock, type SlackMessage } from './notify/slack.js';
export { SIGNATURE_TOLERANCE_SECONDS, verifyWebhookSignature, type NotifiedRequest, type SignatureCheck, type SignatureProblem, type WebhookBody } from './notify/webhook.js';

/** A channel with its references resolved: URLs and secrets as strings. */
export type NotifyChannel =
  | { readonly type: 'slack'; readonly id: string; readonly url: string; readonly events: readonly NotifyEventType[] }
  | { readonly type: 'webhook'; readonly id: string; readonly url: string; readonly secret: string; readonly events: readonly NotifyEventType[] };

/** How one delivery ended; the wiring audits it as the request's `notified` event. */
export interface DeliveryReport {
  readonly requestId: string;
  readonly event: ApprovalEvent['type'];
  /** The channel's id (never its URL: a Slack webhook URL is a credential). */
  readonly channel: string;
  /** The delivery id (sent to webhooks as `airlock-delivery`). */
  readonly deliveryId: string;
  readonly outcome: 'delivered' | 'failed';
  /** HTTP attempts made (0 when the delivery was dropped before its first). */
  readonly attempts: number;
  /** The last HTTP status received. */
  readonly status?: number;
  /** Why it failed, in words that never contain a URL or a secret. */
  readonly error?: string;
}

export interface RetryOptions {
  /** Attempts per delivery, the first included (default 4). */
  readonly attempts?: number;
  /** The first retry waits about this long; each next one twice as long, with jitter (default 500 ms). */
  readonly baseMs?: number;
  /** One attempt's limit, from sending to the end of the response (default 5 s). */
  readonly timeoutMs?: number;
}

export interface NotifierOptions {
  readonly channels: readonly NotifyChannel[];
  /** The console's public base URL: buttons and links point at `<publicUrl>/console#/requests/<id>`. */
  readonly publicUrl: string;
  /** Called once per delivery, when it is delivered or has failed for good. Must not throw. */
  readonly onDelivery: (report: DeliveryReport) => void;
  readonly fetch?: typeof globalThis.fetch;
  /** Epoch milliseconds, for signature timestamps (default `Date.now`). */
  readonly clock?: { now(): number };
  readonly retry?: RetryOptions;
  /** Deliveries one channel holds while another is in flight; beyond it the oldest is dropped (default 100). */
  readonly queueSize?: number;
  /** How long `close()` waits for deliveries in flight and queued before it gives them up (default 5 s). */
  readonly closeTimeoutMs?: number;
  /** In [0, 1): the jitter source (default `Math.random`). */
  readonly random?: () => number;
}

export interface Notifier {
  /** Queues `event` of `record` for every channel that wants it. Returns at once; never throws. */
  notify(event: ApprovalEvent, record: ApprovalRecord): void;
  /** Stops taking events and waits, for a bounded time, for deliveries under way; the rest fail as `closed`. */
  close(): Promise<void>;
}

/**
 * Resolves `approvals.notify` of the runtime file: `env:`/`file:` references become strings, ids and
 * default events are filled in. A missing or unreadable secret is a `ConfigError` naming the channel and the
 * reference, never the value.
 */
export function resolveNotifyChannels(config: NotifyConfig | undefined, env: Readonly<Record<string, string | undefined>>): NotifyChannel[] {
  return (config ?? []).map((c, i) => {
    const id = c.id ?? `${c.type}-${i}`;
    const label = `approvals.notify[${i}] ("${id}")`;
    const events = c.events ?? DEFAULT_NOTIFY_EVENTS;
    const url = isReference(c.url) ? secretText(c.url, `${label}.url`, env) : c.url;
    const problem = endpointProblem(url);
    if (problem !== undefined) throw new ConfigError(`${label}.url: the URL behind ${c.type === 'slack' || isReference(c.url) ? c.url : 'it'} ${problem}`);
    return c.type === 'slack' ? { type: 'slack', id, url, events } : { type: 'webhook', id, url, secret: secretText(c.secret, `${label}.secret`, env), events };
  });
}

function isReference(value: string): boolean {
  return value.startsWith('env:') || value.startsWith('file:');
}

function secretText(ref: string, label: string, env: Readonly<Record<string, string | undefined>>): string {
  let value: string | undefined;
  if (ref.startsWith('env:')) {
    value = env[ref.slice('env:'.length)];
    if (value === undefined || value.trim() === '') throw new ConfigError(`${label}: ${ref} is not set`);
  } else {
    try {
      value = readFileSync(ref.slice('file:'.length), 'utf8');
    } catch (error) {
      throw new ConfigError(`${label}: cannot read ${ref.slice('file:'.length)} (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`);
    }
    if (value.trim() === '') throw new ConfigError(`${label}: ${ref.slice('file:'.length)} is empty`);
  }
  // Files and variables often end with a newline that is not part of a URL or a key.
  return value.trim();
}

interface Delivery {
  readonly requestId: string;
  readonly event: ApprovalEvent['type'];
  readonly deliveryId: string;
  /** Renders the request for one attempt (webhooks sign each attempt with its own timestamp). */
  readonly request: () => { body: string; headers: Record<string, string> };
}

const DEFAULTS = { attempts: 4, baseMs: 500, timeoutMs: 5000, queueSize: 100, closeTimeoutMs: 5000 };
/** A server's `Retry-After` is honoured up to this. */
const MAX_RETRY_AFTER_MS = 60_000;

/**
 * Announces approval events on Slack and signed webhooks. Deliveries run in the background, one at a time
 * per channel (so a channel sees a request's events in order), retried with exponential backoff and jitter
 * on 429, 5xx, timeouts and network errors. A channel that is down or slow only fills its own bounded queue:
 * it never delays `notify`, a decision or another channel, and every delivery ends in exactly one report.
 */
export function createNotifier(options: NotifierOptions): Notifier {
  const attempts = options.retry?.attempts ?? DEFAULTS.attempts;
  const baseMs = options.retry?.baseMs ?? DEFAULTS.baseMs;
  const timeoutMs = options.retry?.timeoutMs ?? DEFAULTS.timeoutMs;
  const queueSize = options.queueSize ?? DEFAULTS.queueSize;
  const closeTimeoutMs = options.closeTimeoutMs ?? DEFAULTS.closeTimeoutMs;
  wholeAtLeast('retry.attempts', attempts, 1, 20);
  wholeAtLeast('retry.baseMs', baseMs, 0, 600_000);
  wholeAtLeast('retry.timeoutMs', timeoutMs, 1, 600_000);
  wholeAtLeast('queueSize', queueSize, 1, 100_000);
  wholeAtLeast('closeTimeoutMs', closeTimeoutMs, 0, 600_000);
  if (typeof options.onDelivery !== 'function') throw new TypeError('createNotifier: onDelivery must be a function');
  let base: URL;
  try {
    base = new URL(options.publicUrl);
  } catch {
    throw new TypeError('createNotifier: publicUrl must be an absolute URL');
  }
  const publicUrl = base.href.replace(/\/+$/, '');
  const seen = new Set<string>();
  for (const c of options.channels) {
    if (seen.has(c.id)) throw new TypeError(`createNotifier: channel id "${c.id}" is used twice`);
    seen.add(c.id);
    // Names the channel, never the URL: a Slack webhook URL is a credential.
    const problem = endpointProblem(c.url);
    if (problem !== undefined) throw new TypeError(`createNotifier: the URL of channel "${c.id}" ${problem}`);
    if (c.type === 'webhook' && c.secret.length === 0) throw new TypeError(`createNotifier: channel "${c.id}" has an empty secret`);
  }

  const doFetch = options.fetch ?? globalThis.fetch;
  const now = options.clock === undefined ? () => Date.now() : () => options.clock!.now();
  const random = options.random ?? Math.random;
  const shutdown = new AbortController();
  let closed = false;

  const report = (r: DeliveryReport): void => {
    try {
      options.onDelivery(r);
    } catch {
      // The report's consumer must not throw; if it does, nothing here can do better than go on.
    }
  };

  const lanes = options.channels.map((channel) => {
    const queue: Delivery[] = [];
    let busy: Promise<void> | undefined;

    const pump = (): void => {
      if (busy !== undefined) return;
      const next = queue.shift();
      if (next === undefined) return;
      busy = deliver(channel, next).then((r) => {
        report(r);
        busy = undefined;
        pump();
      });
    };

    return {
      channel,
      enqueue(delivery: Delivery): void {
        queue.push(delivery);
        while (queue.length > queueSize) {
          const dropped = queue.shift()!;
          report({ requestId: dropped.requestId, event: dropped.event, channel: channel.id, deliveryId: dropped.deliveryId, outcome: 'failed', attempts: 0, error: `dropped: the channel's queue of ${queueSize} was full` });
        }
        pump();
      },
      /** Resolves when the lane is empty and idle. */
      async drained(): Promise<void> {
        while (busy !== undefined) await busy;
      },
      /** Fails what never started (the one in flight ends through the shutdown signal). */
      abandon(): void {
        for (const d of queue.splice(0)) report({ requestId: d.requestId, event: d.event, channel: channel.id, deliveryId: d.deliveryId, outcome: 'failed', attempts: 0, error: 'not sent: airlock was shutting down' });
      },
    };
  });

  async function deliver(channel: NotifyChannel, d: Delivery): Promise<DeliveryReport> {
    const base = { requestId: d.requestId, event: d.event, channel: channel.id, deliveryId: d.deliveryId };
    let status: number | undefined;
    let error = 'not sent';
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (shutdown.signal.aborted) return { ...base, outcome: 'failed', attempts: attempt - 1, ...(status === undefined ? {} : { status }), error: `${error}; then airlock shut down` };
      const result = await attemptOnce(channel, d);
      if (result.kind === 'ok') return { ...base, outcome: 'delivered', attempts: attempt, status: result.status };
      status = result.status ?? status;
      error = result.error;
      if (!result.retry || attempt === attempts) return { ...base, outcome: 'failed', attempts: attempt, ...(status === undefined ? {} : { status }), error };
      const backoff = baseMs * 2 ** (attempt - 1);
      const wait = Math.max(backoff / 2 + random() * (backoff / 2), Math.min(result.retryAfterMs ?? 0, MAX_RETRY_AFTER_MS));
      await sleep(wait, shutdown.signal);
    }
    return { ...base, outcome: 'failed', attempts, error };
  }

  type Attempt = { kind: 'ok'; status: number } | { kind: 'failed'; retry: boolean; status?: number; error: string; retryAfterMs?: number };

  async function attemptOnce(channel: NotifyChannel, d: Delivery): Promise<Attempt> {
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), timeoutMs);
    const onShutdown = (): void => timeout.abort();
    shutdown.signal.addEventListener('abort', onShutdown, { once: true });
    try {
      const { body, headers } = d.request();
      const res = await doFetch(channel.url, { method: 'POST', headers, body, redirect: 'manual', signal: timeout.signal });
      // Read to the end, within the same timeout, so that the connection is reusable and a hung body counts as slow.
      const text = await res.text();
      if (res.status >= 200 && res.status < 300) return { kind: 'ok', status: res.status };
      const retry = res.status === 429 || res.status >= 500;
      const retryAfterMs = retryAfter(res.headers.get('retry-after'));
      // Slack answers errors with a short code (invalid_blocks, no_service): worth keeping, and never a secret.
      const code = channel.type === 'slack' && /^[a-z_]{1,64}$/.test(text.trim()) ? ` (${text.trim()})` : '';
      return { kind: 'failed', retry, status: res.status, error: `HTTP ${res.status}${code}`, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
    } catch (err) {
      if (shutdown.signal.aborted) return { kind: 'failed', retry: false, error: 'cancelled: airlock shut down' };
      if (timeout.signal.aborted) return { kind: 'failed', retry: true, error: `timed out after ${timeoutMs} ms` };
      return { kind: 'failed', retry: true, error: networkError(err) };
    } finally {
      clearTimeout(timer);
      shutdown.signal.removeEventListener('abort', onShutdown);
    }
  }

  function consoleUrl(requestId: string): string {
    return `${publicUrl}/console#/requests/${encodeURIComponent(requestId)}`;
  }

  function deliveryFor(channel: NotifyChannel, event: ApprovalEvent, record: ApprovalRecord): Delivery {
    const deliveryId = newDeliveryId();
    const link = consoleUrl(record.id);
    // Rendered once: every attempt sends the same bytes (receivers dedupe by delivery id, not by body).
    const body = JSON.stringify(channel.type === 'slack' ? slackMessage(event, record, link) : webhookBody(event, record, deliveryId, link));
    const request =
      channel.type === 'slack'
        ? () => ({ body, headers: { 'content-type': 'application/json' } })
        : () => ({
            body,
            headers: { 'content-type': 'application/json', 'airlock-delivery': deliveryId, 'airlock-signature': signWebhook(body, channel.secret, Math.floor(now() / 1000)) },
          });
    return { requestId: event.requestId, event: event.type, deliveryId, request };
  }

  return {
    notify(event, record) {
      for (const lane of lanes) {
        if (!lane.channel.events.includes(event.type)) continue;
        try {
          if (closed) {
            report({ requestId: event.requestId, event: event.type, channel: lane.channel.id, deliveryId: newDeliveryId(), outcome: 'failed', attempts: 0, error: 'not sent: airlock was shutting down' });
            continue;
          }
          lane.enqueue(deliveryFor(lane.channel, event, record));
        } catch (err) {
          // A message that cannot be rendered is a bug; it must still not reach the caller.
          report({ requestId: event.requestId, event: event.type, channel: lane.channel.id, deliveryId: newDeliveryId(), outcome: 'failed', attempts: 0, error: `not sent: ${err instanceof Error ? err.name : 'error'} while rendering` });
        }
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, closeTimeoutMs)));
      await Promise.race([Promise.all(lanes.map((l) => l.drained())), grace]);
      clearTimeout(timer);
      for (const lane of lanes) lane.abandon();
      shutdown.abort();
      await Promise.all(lanes.map((l) => l.drained()));
    },
  };
}

function newDeliveryId(): string {
  return `dlv_${randomBytes(16).toString('base64url')}`;
}

function wholeAtLeast(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) throw new TypeError(`createNotifier: ${name} must be a whole number from ${min} to ${max}`);
}

function retryAfter(header: string | null): number | undefined {
  if (header === null || !/^\d{1,6}$/.test(header.trim())) return undefined;
  return Number(header.trim()) * 1000;
}

/** A network failure in words: the error code only, since messages can carry the address. */
function networkError(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown } } | undefined)?.cause;
  const code = typeof cause?.code === 'string' && /^[A-Z0-9_]{1,40}$/.test(cause.code) ? cause.code : undefined;
  if (code === 'ECONNREFUSED') return 'connection refused';
  return code === undefined ? 'network error' : `network error (${code})`;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
