import * as z from 'zod';
import { once } from '../../once.js';

/** Every approval event a channel can subscribe to. */
export const NOTIFY_EVENTS = ['requested', 'joined', 'approved', 'denied', 'expired', 'consumed', 'withdrawn'] as const;
export type NotifyEventType = (typeof NOTIFY_EVENTS)[number];

/** What a channel hears when its config names no events: the start of a request and every end that needs no agent. */
export const DEFAULT_NOTIFY_EVENTS: readonly NotifyEventType[] = ['requested', 'approved', 'denied', 'expired', 'withdrawn'];

/**
 * Whether `url` may receive notifications: https anywhere, plain http only on a loopback address (a local
 * relay or a test receiver), never credentials in the URL. Returns the problem, or undefined.
 */
export function endpointProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'is not a URL';
  }
  if (parsed.username !== '' || parsed.password !== '') return 'must not carry a user name or password';
  if (parsed.protocol === 'https:') return undefined;
  if (parsed.protocol === 'http:' && isLoopback(parsed.hostname)) return undefined;
  return 'must be https (plain http only on a loopback address)';
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** `approvals.notify` of the runtime file: where requests and decisions are announced (built on first use). */
export const notifyConfigSchema = once(() => {
  // The same reference form as the rest of the runtime file (kept here so that config.ts can import this
  // module without an import circle).
  const SecretRef = z.string().regex(/^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+)$/, 'must be a reference: "env:NAME" or "file:/path" (never the secret itself)');
  const ChannelId = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, ".", "_" or "-" (at most 64)');
  const Events = z
    .array(z.enum(NOTIFY_EVENTS))
    .min(1)
    .refine((events) => new Set(events).size === events.length, 'lists an event twice')
    .optional();

  const SlackChannel = z.strictObject({
    type: z.literal('slack'),
    /** Names the channel in the audit and in errors (default: `slack-<index>`). */
    id: ChannelId.optional(),
    /** The incoming-webhook URL is a credential: only by reference. */
    url: SecretRef,
    events: Events,
  });

  const WebhookChannel = z.strictObject({
    type: z.literal('webhook'),
    id: ChannelId.optional(),
    /** A reference, or the URL itself when it is not secret (https, or http on loopback). */
    url: z
      .string()
      .refine((u) => SecretRef.safeParse(u).success || endpointProblem(u) === undefined, { message: 'must be "env:NAME", "file:/path", or an https URL (plain http only on a loopback address)' }),
    /** The HMAC-SHA256 key receivers verify `airlock-signature` with. */
    secret: SecretRef,
    events: Events,
  });

  return z
    .array(z.discriminatedUnion('type', [SlackChannel, WebhookChannel]))
    .superRefine((channels, ctx) => {
      const seen = new Set<string>();
      channels.forEach((c, i) => {
        const id = c.id ?? `${c.type}-${i}`;
        if (seen.has(id)) ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `channel id "${id}" is used twice` });
        seen.add(id);
      });
    });
});
export type NotifyConfig = z.output<ReturnType<typeof notifyConfigSchema>>;
