/**
 * Approval notifications against real HTTP receivers on loopback: what Slack and webhook endpoints receive,
 * signatures, retries, and channels that are down, slow or backed up (issue 17).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { bindCall } from '../../src/approval/binding.js';
import type { ApprovalEvent, ApprovalRecord, Approver } from '../../src/approval/model.js';
import { createNotifier, verifyWebhookSignature, type DeliveryReport, type NotifierOptions, type NotifyChannel, type SlackBlock } from '../../src/approval/notify.js';
import { createApprovalService } from '../../src/approval/service.js';
import { createMemoryApprovalStore } from '../../src/approval/store.js';
import { blocksOf } from '../docs/blocks.js';

const ISSUER = 'https://issuer.test';
const KEY = new Uint8Array(32).fill(9);
const PUBLIC_URL = 'https://airlock.example.com/';
const SECRET = 'whsec-test-0123456789abcdef';
const SLACK_PATH = '/services/T0AIRLOCK/B0NOTIFY/s3cr3tPathToken';
const ana = { issuer: ISSUER, sub: 'ana-sub' };
const bob: Approver = { issuer: ISSUER, sub: 'bob-sub', email: 'bob@example.com', groups: ['dba'] };
const cy: Approver = { issuer: ISSUER, sub: 'cy-sub', groups: ['dba'] };

// ---- a receiver: a real HTTP server that records what arrives and answers as a test tells it ----

interface Received {
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}
type Answer = number | 'hang' | { status: number; body: string };

interface Receiver {
  readonly url: string;
  readonly received: Received[];
  /** Resolves when `n` requests have arrived. */
  arrived(n: number): Promise<void>;
  /** Answers every held request with 200. */
  release(): void;
  close(): Promise<void>;
}

async function receiver(answer: (n: number) => Answer = () => 200, path = '/hook'): Promise<Receiver> {
  const received: Received[] = [];
  const held: ServerResponse[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', headers: req.headers, body });
      for (const w of waiters.filter((w) => received.length >= w.n)) w.resolve();
      const a = answer(received.length);
      if (a === 'hang') return void held.push(res);
      const { status, body: text } = typeof a === 'number' ? { status: a, body: 'ok' } : a;
      res.writeHead(status, { 'content-type': 'text/plain' }).end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}${path}`,
    received,
    arrived: (n) => (received.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
    release: () => {
      for (const res of held.splice(0)) res.writeHead(200).end('ok');
    },
    close: async () => {
      for (const res of held.splice(0)) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A loopback port with nothing listening on it. */
async function closedPortUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}${SLACK_PATH}`;
}

// ---- reports, awaited by count ----

function reports(): { list: DeliveryReport[]; onDelivery: (r: DeliveryReport) => void; count(n: number): Promise<DeliveryReport[]> } {
  const list: DeliveryReport[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  return {
    list,
    onDelivery: (r) => {
      list.push(r);
      for (const w of waiters.filter((w) => list.length >= w.n)) w.resolve();
    },
    count: async (n) => {
      if (list.length < n) await new Promise<void>((resolve) => waiters.push({ n, resolve }));
      return list;
    },
  };
}

// ---- real requests from the real approval service ----

async function requests(sqls: readonly string[] = ["UPDATE orders SET note = '<!channel> & <https://evil.example|click>' WHERE id = $1"]) {
  const events: ApprovalEvent[] = [];
  const service = createApprovalService({ store: createMemoryApprovalStore(), clock: { now: () => Date.now() }, key: KEY, onEvent: (e) => void events.push(e) });
  const opened: { event: ApprovalEvent; record: ApprovalRecord }[] = [];
  for (const sql of sqls) {
    const r = await service.request(bindCall({ principal: ana, tool: 'query_sql', resource: 'shop', input: { connection: 'shop', sql, params: [42] }, ruleIds: ['writes-need-dba'], policyVersion: 'sha256:v1' }), {
      approverGroups: ['dba'],
      quorum: 1,
      timeoutSeconds: 300,
      justification: 'customer asked <@U123> & ops',
      details: { requester: { email: 'ana@example.com', groups: ['analysts'] }, reason: 'Writes to <shop> need a DBA' },
    });
    opened.push({ event: r.events[0]!, record: r.request });
  }
  return { service, opened, events };
}

function channel(type: 'slack', url: string, extra?: Partial<NotifyChannel>): NotifyChannel;
function channel(type: 'webhook', url: string, extra?: Partial<NotifyChannel>): NotifyChannel;
function channel(type: 'slack' | 'webhook', url: string, extra: Partial<NotifyChannel> = {}): NotifyChannel {
  const events = ['requested', 'approved', 'denied', 'expired', 'withdrawn'] as const;
  return (type === 'slack' ? { type, id: 'team-slack', url, events, ...extra } : { type, id: 'siem', url, secret: SECRET, events, ...extra }) as NotifyChannel;
}

function notifier(channels: NotifyChannel[], onDelivery: (r: DeliveryReport) => void, extra: Partial<NotifierOptions> = {}) {
  return createNotifier({ channels, publicUrl: PUBLIC_URL, onDelivery, retry: { attempts: 4, baseMs: 1, timeoutMs: 5000 }, ...extra });
}

const sectionTexts = (blocks: readonly SlackBlock[]): string[] => blocks.flatMap((b) => (b.type === 'section' ? [b.text?.text ?? '', ...(b.fields ?? []).map((f) => f.text)] : []));

describe('createNotifier: Slack (issue 17)', () => {
  it('posts a Block Kit message with requester, tool, resource, the statement, reason, justification and a console button when a request is opened', async () => {
    const slack = await receiver(() => 200, SLACK_PATH);
    const r = reports();
    const n = notifier([channel('slack', slack.url)], r.onDelivery);
    try {
      const { opened } = await requests();
      const { event, record } = opened[0]!;
      n.notify(event, record);
      const [report] = await r.count(1);
      expect(report).toEqual({ requestId: record.id, event: 'requested', channel: 'team-slack', deliveryId: expect.stringMatching(/^dlv_[A-Za-z0-9_-]{22}$/) as unknown, outcome: 'delivered', attempts: 1, status: 200 });
      expect(slack.received).toHaveLength(1);
      const got = slack.received[0]!;
      expect(got.path).toBe(SLACK_PATH);
      expect(got.headers['content-type']).toBe('application/json');
      const message = JSON.parse(got.body) as { text: string; blocks: SlackBlock[] };
      expect(message.text).toBe(`Approval requested: query_sql on shop by ana@example.com (${record.id})`);
      expect(message.blocks[0]).toEqual({ type: 'header', text: { type: 'plain_text', text: 'Approval requested: query_sql on shop' } });
      const texts = sectionTexts(message.blocks);
      expect(texts).toContain('*Requester*\nana@example.com');
      expect(texts).toContain('*Tool*\nquery_sql');
      expect(texts).toContain('*Resource*\nshop');
      expect(texts).toContain('*Approvers*\ndba (1 needed)');
      const expires = Math.floor(record.expiresAt / 1000);
      expect(texts).toContain(`*Expires*\n<!date^${expires}^{date_short_pretty} {time}|${new Date(expires * 1000).toISOString().replace('.000Z', 'Z')}>`);
      expect(texts).toContain("*Statement*\n```UPDATE orders SET note = '&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;' WHERE id = $1```\n*Parameters*\n```[42]```");
      expect(texts).toContain('*Why approval is needed*\nWrites to &lt;shop&gt; need a DBA');
      expect(texts).toContain('*Justification*\ncustomer asked &lt;@U123&gt; &amp; ops');
      const actions = message.blocks.find((b) => b.type === 'actions');
      expect(actions).toEqual({
        type: 'actions',
        elements: [{ type: 'button', text: { type: 'plain_text', text: 'Review in console' }, url: `https://airlock.example.com/console#/requests/${record.id}`, action_id: 'open_console', style: 'primary' }],
      });
      // Nothing from the request can become a mention or a link: the only "<" is Slack's own date token.
      expect(got.body.match(/</g)).toHaveLength(1);
    } finally {
      await n.close();
      await slack.close();
    }
  });

  it('says who decided and why on a partial approval, a grant and a denial, escaping the reason', async () => {
    const slack = await receiver(() => 200, SLACK_PATH);
    const r = reports();
    const n = notifier([channel('slack', slack.url)], r.onDelivery);
    try {
      const { service, opened } = await requests(['DELETE FROM carts WHERE id = 1', 'DELETE FROM carts WHERE id = 2']);
      // Quorum 2 on a third request, so the first approval is partial.
      const q = await service.request(bindCall({ principal: ana, tool: 'query_sql', resource: 'shop', input: { connection: 'shop', sql: 'DELETE FROM carts' }, ruleIds: ['r'], policyVersion: 'sha256:v1' }), { approverGroups: ['dba'], quorum: 2, timeoutSeconds: 300 });
      const partial = await service.decide(q.request.id, bob, 'approve', 'fine by me');
      const granted = await service.decide(q.request.id, cy, 'approve');
      const denied = await service.decide(opened[0]!.record.id, bob, 'deny', 'not during the <b>freeze</b> & never on Friday');
      n.notify(partial.events[0]!, partial.request);
      n.notify(granted.events[0]!, granted.request);
      n.notify(denied.events[0]!, denied.request);
      await r.count(3);
      expect(r.list.map((x) => [x.event, x.outcome])).toEqual([['approved', 'delivered'], ['approved', 'delivered'], ['denied', 'delivered']]);
      const bodies = slack.received.map((x) => JSON.parse(x.body) as { text: string; blocks: SlackBlock[] });
      expect(bodies[0]!.blocks[0]).toEqual({ type: 'header', text: { type: 'plain_text', text: 'Approval 1 of 2: query_sql on shop' } });
      expect(sectionTexts(bodies[0]!.blocks)[0]).toBe('*Approved by bob@example.com* (1 of 2 approvals): fine by me');
      expect(bodies[1]!.blocks[0]).toEqual({ type: 'header', text: { type: 'plain_text', text: 'Approved: query_sql on shop' } });
      // An approver without an email is named by subject.
      expect(sectionTexts(bodies[1]!.blocks)[0]).toBe('*Approved by cy-sub* (the call may run once)');
      expect(sectionTexts(bodies[1]!.blocks)).toContain('*State*\napproved');
      expect(sectionTexts(bodies[2]!.blocks)[0]).toBe('*Denied by bob@example.com*: not during the &lt;b&gt;freeze&lt;/b&gt; &amp; never on Friday');
      expect(bodies[2]!.text).toBe(`Denied: query_sql on shop by ana@example.com (${opened[0]!.record.id})`);
      const button = bodies[2]!.blocks.find((b) => b.type === 'actions');
      expect(button?.type === 'actions' && button.elements[0]).toEqual({ type: 'button', text: { type: 'plain_text', text: 'Open in console' }, url: `https://airlock.example.com/console#/requests/${opened[0]!.record.id}`, action_id: 'open_console' });
    } finally {
      await n.close();
      await slack.close();
    }
  });

  it('cuts a long statement within Slack limits with a note, and backticks in it cannot close the code block', async () => {
    const slack = await receiver(() => 200, SLACK_PATH);
    const r = reports();
    const n = notifier([channel('slack', slack.url)], r.onDelivery);
    try {
      const sql = "SELECT '```' AS x, '" + '<&>'.repeat(3000) + "'";
      const { opened } = await requests([sql]);
      n.notify(opened[0]!.event, opened[0]!.record);
      await r.count(1);
      expect(r.list[0]!.outcome).toBe('delivered');
      const message = JSON.parse(slack.received[0]!.body) as { blocks: SlackBlock[] };
      const statement = sectionTexts(message.blocks).find((t) => t.startsWith('*Statement*'))!;
      expect(statement.length).toBeLessThanOrEqual(3000);
      expect(statement.split('```')).toHaveLength(5); // the statement's block and the parameters' block, nothing more
      expect(statement).toContain("SELECT '`\u200b`\u200b`\u200b' AS x, '&lt;&amp;&gt;&lt;&amp;&gt;");
      expect(statement).toMatch(new RegExp(`\\n_Cut after \\d+ of ${sql.length} characters: read the whole statement in the console before deciding\\._\\n`));
      // The cut never leaves half an entity.
      expect(statement).toMatch(/(&lt;|&amp;|&gt;)```\n_Cut after/);
      expect(message.blocks.length).toBeLessThanOrEqual(50);
    } finally {
      await n.close();
      await slack.close();
    }
  });

  it('shows a non-SQL input as JSON, names a requester without email by subject, and keeps a long header within 150 characters', async () => {
    const slack = await receiver(() => 200, SLACK_PATH);
    const r = reports();
    const n = notifier([channel('slack', slack.url)], r.onDelivery);
    try {
      const service = createApprovalService({ store: createMemoryApprovalStore(), clock: { now: () => Date.now() }, key: KEY });
      const resource = `bucket-${'x'.repeat(200)}`;
      const opened = await service.request(bindCall({ principal: ana, tool: 'read_bucket', resource, input: { bucket: resource, path: 'exports/<all>.csv' }, ruleIds: ['b'], policyVersion: 'sha256:v1' }), { approverGroups: ['sec'], timeoutSeconds: 60 });
      n.notify(opened.events[0]!, opened.request);
      await r.count(1);
      expect(r.list[0]!.outcome).toBe('delivered');
      const message = JSON.parse(slack.received[0]!.body) as { blocks: SlackBlock[] };
      const header = message.blocks[0]!;
      expect(header.type === 'header' && [...header.text.text].length).toBe(150);
      expect(header.type === 'header' && header.text.text).toMatch(/^Approval requested: read_bucket on bucket-x+…$/);
      const texts = sectionTexts(message.blocks);
      expect(texts).toContain('*Requester*\nana-sub');
      expect(texts).toContain(`*Input*\n\`\`\`{\n  "bucket": "${resource}",\n  "path": "exports/&lt;all&gt;.csv"\n}\`\`\``);
      expect(texts.some((t) => t.startsWith('*Why approval is needed*') || t.startsWith('*Justification*'))).toBe(false);
    } finally {
      await n.close();
      await slack.close();
    }
  });

  it('reports a Slack error code without the webhook URL, and does not retry a 4xx', async () => {
    const slack = await receiver(() => ({ status: 404, body: 'no_service' }), SLACK_PATH);
    const r = reports();
    const n = notifier([channel('slack', slack.url)], r.onDelivery);
    try {
      const { opened } = await requests();
      n.notify(opened[0]!.event, opened[0]!.record);
      await r.count(1);
      expect(r.list[0]).toMatchObject({ channel: 'team-slack', outcome: 'failed', attempts: 1, status: 404, error: 'HTTP 404 (no_service)' });
      expect(slack.received).toHaveLength(1);
      expect(JSON.stringify(r.list)).not.toContain('s3cr3tPathToken');
    } finally {
      await n.close();
      await slack.close();
    }
  });
});

describe('createNotifier: signed webhooks (issue 17)', () => {
  it('sends the request view signed over timestamp and body; the signature verifies and a tampered body or timestamp fails', async () => {
    const hook = await receiver();
    const r = reports();
    const n = notifier([channel('webhook', hook.url)], r.onDelivery);
    try {
      const { opened } = await requests();
      const { event, record } = opened[0]!;
      n.notify(event, record);
      await r.count(1);
      const got = hook.received[0]!;
      expect(got.headers['content-type']).toBe('application/json');
      const deliveryId = got.headers['airlock-delivery'];
      expect(deliveryId).toBe(r.list[0]!.deliveryId);
      const body = JSON.parse(got.body) as Record<string, unknown> & { request: Record<string, unknown> };
      expect(body).toMatchObject({ type: 'approval.requested', id: deliveryId, requestId: record.id, at: event.at, consoleUrl: `https://airlock.example.com/console#/requests/${record.id}` });
      expect(Object.keys(body).sort()).toEqual(['at', 'consoleUrl', 'id', 'request', 'requestId', 'type']);
      expect(body.request).toMatchObject({ id: record.id, state: 'pending', tool: 'query_sql', resource: 'shop', input: record.binding.input, bindingHash: record.bindingHash, justification: 'customer asked <@U123> & ops', reason: 'Writes to <shop> need a DBA' });
      expect(body.request).not.toHaveProperty('canDecide');
      expect(body.request).not.toHaveProperty('cannotDecide');

      const header = got.headers['airlock-signature'] as string;
      const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
      expect(m).not.toBeNull();
      const t = Number(m![1]);
      const now = t * 1000;
      expect(verifyWebhookSignature(header, got.body, SECRET, now)).toEqual({ ok: true, timestamp: t });
      expect(verifyWebhookSignature(header, Buffer.from(got.body), SECRET, now)).toEqual({ ok: true, timestamp: t });
      // One byte of the body, the timestamp, or the secret changed: refused.
      expect(verifyWebhookSignature(header, got.body.replace('"approval.requested"', '"approval.approved"'), SECRET, now)).toEqual({ ok: false, problem: 'mismatch' });
      expect(verifyWebhookSignature(header, `${got.body} `, SECRET, now)).toEqual({ ok: false, problem: 'mismatch' });
      expect(verifyWebhookSignature(`t=${t + 1},v1=${m![2]}`, got.body, SECRET, now)).toEqual({ ok: false, problem: 'mismatch' });
      expect(verifyWebhookSignature(header, got.body, `${SECRET}x`, now)).toEqual({ ok: false, problem: 'mismatch' });
      // Replayed outside the window: refused, either side of it.
      expect(verifyWebhookSignature(header, got.body, SECRET, now + 300_000)).toEqual({ ok: true, timestamp: t });
      expect(verifyWebhookSignature(header, got.body, SECRET, now + 301_000)).toEqual({ ok: false, problem: 'stale' });
      expect(verifyWebhookSignature(header, got.body, SECRET, now - 301_000)).toEqual({ ok: false, problem: 'stale' });
      for (const bad of [undefined, '', 'v1=' + m![2], `t=${t}`, `t=abc,v1=${m![2]}`, `t=${t},t=${t},v1=${m![2]}`, `t=${t},v1`]) {
        expect(verifyWebhookSignature(bad, got.body, SECRET, now)).toEqual({ ok: false, problem: 'malformed' });
      }
      expect(verifyWebhookSignature(`t=${t},v1=zz`, got.body, SECRET, now)).toEqual({ ok: false, problem: 'mismatch' });
    } finally {
      await n.close();
      await hook.close();
    }
  });

  it('passes the verification example of docs/approvers.md: accepted once, a repeat is a duplicate, tampered or stale is invalid', async () => {
    const snippet = blocksOf('docs/approvers.md').find((b) => b.meta.id === 'webhook-verify');
    expect(snippet?.text).toContain('export function checkAirlockDelivery');
    const dir = mkdtempSync(join(tmpdir(), 'airlock-verify-'));
    const hook = await receiver();
    const r = reports();
    const n = notifier([channel('webhook', hook.url)], r.onDelivery);
    try {
      writeFileSync(join(dir, 'verify.mjs'), snippet!.text);
      const { checkAirlockDelivery } = (await import(pathToFileURL(join(dir, 'verify.mjs')).href)) as {
        checkAirlockDelivery: (headers: IncomingMessage['headers'], raw: Buffer, secret: string, now?: number) => 'ok' | 'duplicate' | 'invalid';
      };
      const { opened } = await requests();
      n.notify(opened[0]!.event, opened[0]!.record);
      await r.count(1);
      const got = hook.received[0]!;
      const raw = Buffer.from(got.body);
      const t = Number(/^t=(\d+),/.exec(got.headers['airlock-signature'] as string)![1]) * 1000;
      expect(checkAirlockDelivery(got.headers, Buffer.from(got.body.replace('query_sql', 'query_sq1')), SECRET, t)).toBe('invalid');
      expect(checkAirlockDelivery(got.headers, raw, 'another-secret', t)).toBe('invalid');
      expect(checkAirlockDelivery(got.headers, raw, SECRET, t + 301_000)).toBe('invalid');
      expect(checkAirlockDelivery({ ...got.headers, 'airlock-signature': `t=${t / 1000 + 1},v1=${(got.headers['airlock-signature'] as string).split('v1=')[1]}` }, raw, SECRET, t)).toBe('invalid');
      expect(checkAirlockDelivery(got.headers, raw, SECRET, t)).toBe('ok');
      expect(checkAirlockDelivery(got.headers, raw, SECRET, t + 1000)).toBe('duplicate');
    } finally {
      await n.close();
      await hook.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('retries 500, 503 and 429 with the same delivery id and body, then reports delivered with the attempts counted', async () => {
    const hook = await receiver((k) => [500, 503, 429, 200][k - 1] ?? 200);
    const r = reports();
    const n = notifier([channel('webhook', hook.url)], r.onDelivery);
    try {
      const { opened } = await requests();
      n.notify(opened[0]!.event, opened[0]!.record);
      await r.count(1);
      expect(r.list[0]).toMatchObject({ outcome: 'delivered', attempts: 4, status: 200 });
      expect(r.list[0]).not.toHaveProperty('error');
      expect(hook.received).toHaveLength(4);
      expect(new Set(hook.received.map((x) => x.headers['airlock-delivery'])).size).toBe(1);
      expect(new Set(hook.received.map((x) => x.body)).size).toBe(1);
      for (const x of hook.received) expect(verifyWebhookSignature(x.headers['airlock-signature'] as string, x.body, SECRET).ok).toBe(true);
    } finally {
      await n.close();
      await hook.close();
    }
  });

  it('fails after the last attempt when the endpoint keeps answering 502', async () => {
    const hook = await receiver(() => 502);
    const r = reports();
    const n = notifier([channel('webhook', hook.url)], r.onDelivery, { retry: { attempts: 3, baseMs: 1 } });
    try {
      const { opened } = await requests();
      n.notify(opened[0]!.event, opened[0]!.record);
      await r.count(1);
      expect(r.list[0]).toMatchObject({ channel: 'siem', outcome: 'failed', attempts: 3, status: 502, error: 'HTTP 502' });
      expect(hook.received).toHaveLength(3);
    } finally {
      await n.close();
      await hook.close();
    }
  });

  it.each([400, 401, 403, 404, 410, 422, 302])('does not retry HTTP %i', async (status) => {
    const hook = await receiver(() => status);
    const r = reports();
    const n = notifier([channel('webhook', hook.url)], r.onDelivery);
    try {
      const { opened } = await requests();
      n.notify(opened[0]!.event, opened[0]!.record);
      await r.count(1);
      expect(r.list[0]).toMatchObject({ outcome: 'failed', attempts: 1, status, error: `HTTP ${status}` });
      expect(hook.received).toHaveLength(1);
    } finally {
      await n.close();
      await hook.close();
    }
  });

  it('sends only the events a channel subscribed to', async () => {
    const hook = await receiver();
    const r = reports();
    const n = notifier([channel('webhook', hook.url, { events: ['denied'] })], r.onDelivery);
    try {
      const { service, opened } = await requests();
      n.notify(opened[0]!.event, opened[0]!.record);
      const denied = await service.decide(opened[0]!.record.id, bob, 'deny', 'no');
      n.notify(denied.events[0]!, denied.request);
      await r.count(1);
      expect(r.list.map((x) => x.event)).toEqual(['denied']);
      const body = JSON.parse(hook.received[0]!.body) as { type: string; request: { state: string; decisions: unknown[] } };
      expect(body.type).toBe('approval.denied');
      expect(body.request.state).toBe('denied');
      expect(body.request.decisions).toEqual([{ approver: { sub: 'bob-sub', email: 'bob@example.com' }, verdict: 'deny', reason: 'no', at: expect.any(String) as unknown }]);
    } finally {
      await n.close();
      await hook.close();
    }
  });
});

describe('createNotifier: channels that are down, slow or backed up (issue 17)', () => {
  it('returns from notify at once and reports failed when the receiver refuses connections, without the URL in the report', async () => {
    const url = await closedPortUrl();
    const r = reports();
    const n = notifier([channel('slack', url)], r.onDelivery, { retry: { attempts: 2, baseMs: 1 } });
    try {
      const { opened } = await requests();
      const returned = n.notify(opened[0]!.event, opened[0]!.record);
      expect(returned).toBeUndefined();
      expect(r.list).toEqual([]); // nothing was waited for
      await r.count(1);
      expect(r.list[0]).toMatchObject({ channel: 'team-slack', outcome: 'failed', attempts: 2, error: 'connection refused' });
      expect(r.list[0]).not.toHaveProperty('status');
      expect(JSON.stringify(r.list)).not.toContain('s3cr3tPathToken');
      expect(JSON.stringify(r.list)).not.toContain(new URL(url).port);
    } finally {
      await n.close();
    }
  });

  it('times out a receiver that never answers, retries it and reports failed', async () => {
    const slow = await receiver(() => 'hang', SLACK_PATH);
    const r = reports();
    const n = notifier([channel('slack', slow.url)], r.onDelivery, { retry: { attempts: 2, baseMs: 1, timeoutMs: 300 } });
    try {
      const { opened } = await requests();
      expect(n.notify(opened[0]!.event, opened[0]!.record)).toBeUndefined();
      expect(r.list).toEqual([]);
      await r.count(1);
      expect(r.list[0]).toMatchObject({ channel: 'team-slack', outcome: 'failed', attempts: 2, error: 'timed out after 300 ms' });
      expect(slow.received).toHaveLength(2);
    } finally {
      await n.close();
      await slow.close();
    }
  });

  it('delivers to a healthy channel while another hangs', async () => {
    const slow = await receiver(() => 'hang', SLACK_PATH);
    const healthy = await receiver();
    const r = reports();
    // The hanging channel cannot give up before the test ends: whatever is reported first is the healthy one.
    const n = notifier([channel('slack', slow.url), channel('webhook', healthy.url)], r.onDelivery, { retry: { attempts: 1, baseMs: 1, timeoutMs: 600_000 }, closeTimeoutMs: 0 });
    try {
      const { opened } = await requests();
      n.notify(opened[0]!.event, opened[0]!.record);
      await r.count(1);
      await slow.arrived(1);
      expect(r.list.map((x) => [x.channel, x.outcome])).toEqual([['siem', 'delivered']]);
      await n.close();
      expect(r.list.map((x) => [x.channel, x.outcome, x.error])).toEqual([
        ['siem', 'delivered', undefined],
        ['team-slack', 'failed', 'cancelled: airlock shut down'],
      ]);
    } finally {
      await n.close();
      await slow.close();
      await healthy.close();
    }
  });

  it('drops the oldest queued delivery with a failed report when a channel queue is full, and delivers the rest in order', async () => {
    const hook = await receiver(() => 'hang');
    const r = reports();
    const n = notifier([channel('webhook', hook.url)], r.onDelivery, { queueSize: 2 });
    try {
      const { opened } = await requests(['UPDATE t SET a = 1', 'UPDATE t SET a = 2', 'UPDATE t SET a = 3', 'UPDATE t SET a = 4', 'UPDATE t SET a = 5']);
      for (const o of opened) n.notify(o.event, o.record);
      // The first is in flight, 2 and 3 were queued and pushed out by 4 and 5: reported at once.
      expect(r.list.map((x) => [x.requestId, x.outcome, x.attempts, x.error])).toEqual([
        [opened[1]!.record.id, 'failed', 0, "dropped: the channel's queue of 2 was full"],
        [opened[2]!.record.id, 'failed', 0, "dropped: the channel's queue of 2 was full"],
      ]);
      await hook.arrived(1);
      hook.release();
      await hook.arrived(2);
      hook.release();
      await hook.arrived(3);
      hook.release();
      await r.count(5);
      expect(r.list.slice(2).map((x) => [x.requestId, x.outcome])).toEqual([
        [opened[0]!.record.id, 'delivered'],
        [opened[3]!.record.id, 'delivered'],
        [opened[4]!.record.id, 'delivered'],
      ]);
      expect(hook.received.map((x) => (JSON.parse(x.body) as { requestId: string }).requestId)).toEqual([opened[0]!.record.id, opened[3]!.record.id, opened[4]!.record.id]);
    } finally {
      await n.close();
      await hook.close();
    }
  });

  it('close() gives up a delivery stuck in flight and the queued ones after its grace, one failed report each, and later events fail at once', async () => {
    const hook = await receiver(() => 'hang');
    const r = reports();
    const n = notifier([channel('webhook', hook.url)], r.onDelivery, { closeTimeoutMs: 50 });
    try {
      const { opened } = await requests(['UPDATE t SET a = 1', 'UPDATE t SET a = 2']);
      for (const o of opened) n.notify(o.event, o.record);
      await hook.arrived(1);
      await n.close();
      expect(r.list.map((x) => [x.requestId, x.outcome, x.attempts, x.error])).toEqual([
        [opened[1]!.record.id, 'failed', 0, 'not sent: airlock was shutting down'],
        [opened[0]!.record.id, 'failed', 1, 'cancelled: airlock shut down'],
      ]);
      n.notify(opened[0]!.event, opened[0]!.record);
      expect(r.list).toHaveLength(3);
      expect(r.list[2]).toMatchObject({ requestId: opened[0]!.record.id, outcome: 'failed', attempts: 0, error: 'not sent: airlock was shutting down' });
      expect(new Set(r.list.map((x) => x.deliveryId)).size).toBe(3);
      for (const x of r.list) expect(x.deliveryId).toMatch(/^dlv_[A-Za-z0-9_-]{22}$/);
      expect(hook.received).toHaveLength(1);
    } finally {
      await n.close();
      await hook.close();
    }
  });

  it('survives an onDelivery that throws', async () => {
    const hook = await receiver();
    const seen: DeliveryReport[] = [];
    let done!: () => void;
    const second = new Promise<void>((resolve) => (done = resolve));
    const n = notifier([channel('webhook', hook.url)], (x) => {
      seen.push(x);
      if (seen.length === 2) done();
      throw new Error('audit is down');
    });
    try {
      const { opened } = await requests(['UPDATE t SET a = 1', 'UPDATE t SET a = 2']);
      for (const o of opened) n.notify(o.event, o.record);
      await second;
      expect(seen.map((x) => x.outcome)).toEqual(['delivered', 'delivered']);
    } finally {
      await n.close();
      await hook.close();
    }
  });
});
