import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createNotifier, notifyConfigSchema, resolveNotifyChannels } from '../../../src/approval/notify.js';
import { ConfigError, runtimeFileSchema } from '../../../src/config.js';

const issues = (input: unknown): string[] => {
  const parsed = notifyConfigSchema().safeParse(input);
  return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('notifyConfigSchema (issue 17)', () => {
  it('accepts Slack by reference and webhooks by reference or by https/loopback URL, as approvals.notify of the runtime file', () => {
    const notify = [
      { type: 'slack', id: 'dba-slack', url: 'env:SLACK_WEBHOOK_URL' },
      { type: 'webhook', url: 'https://siem.example.com/airlock', secret: 'file:/run/secrets/hook', events: ['requested', 'consumed'] },
      { type: 'webhook', url: 'http://127.0.0.1:8080/hook', secret: 'env:HOOK_SECRET' },
      { type: 'webhook', url: 'env:HOOK_URL', secret: 'env:HOOK_SECRET' },
    ];
    expect(issues(notify)).toEqual([]);
    expect(runtimeFileSchema().parse({ approvals: { publicUrl: 'https://airlock.example.com', notify } }).approvals?.notify).toEqual(notify);
    // Links in notifications must reach the console from elsewhere: a notify list needs the public URL (issue 17).
    expect(runtimeFileSchema().safeParse({ approvals: { notify } }).error?.issues[0]?.message).toBe('approvals.notify needs approvals.publicUrl (the console address approvers open from a notification)');
  });

  it.each([
    [[{ type: 'slack', url: 'https://hooks.slack.com/services/T/B/x' }], '0.url: must be a reference: "env:NAME" or "file:/path" (never the secret itself)'],
    [[{ type: 'webhook', url: 'http://siem.example.com/hook', secret: 'env:S' }], '0.url: must be "env:NAME", "file:/path", or an https URL (plain http only on a loopback address)'],
    [[{ type: 'webhook', url: 'https://user:pw@siem.example.com/hook', secret: 'env:S' }], '0.url: must be "env:NAME", "file:/path", or an https URL (plain http only on a loopback address)'],
    [[{ type: 'webhook', url: 'https://siem.example.com/hook', secret: 'hunter2' }], '0.secret: must be a reference: "env:NAME" or "file:/path" (never the secret itself)'],
    [[{ type: 'webhook', url: 'https://siem.example.com/hook' }], '0.secret: Invalid input: expected string, received undefined'],
    [[{ type: 'slack', url: 'env:A', events: ['requested', 'requested'] }], '0.events: lists an event twice'],
    [[{ type: 'slack', url: 'env:A', events: [] }], '0.events: Too small: expected array to have >=1 items'],
    [[{ type: 'slack', url: 'env:A', id: 'a b' }], '0.id: letters, digits, ".", "_" or "-" (at most 64)'],
    [[{ type: 'slack', url: 'env:A' }, { type: 'slack', url: 'env:B', id: 'slack-0' }], '1.id: channel id "slack-0" is used twice'],
  ])('refuses %j', (input, message) => {
    expect(issues(input)).toEqual([message]);
  });

  it('refuses unknown keys, unknown types and unknown events', () => {
    expect(issues([{ type: 'slack', url: 'env:A', channel: '#dba' }])).toEqual(['0: Unrecognized key: "channel"']);
    expect(issues([{ type: 'email', url: 'env:A' }])).toHaveLength(1);
    expect(issues([{ type: 'slack', url: 'env:A', events: ['executed'] }])).toHaveLength(1);
  });
});

describe('resolveNotifyChannels (issue 17)', () => {
  it('resolves env and file references, trims a trailing newline, and fills ids and default events', () => {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-notify-'));
    try {
      writeFileSync(join(dir, 'secret'), 'k3y-from-file\n');
      const config = notifyConfigSchema().parse([
        { type: 'slack', url: 'env:SLACK_URL' },
        { type: 'webhook', id: 'siem', url: 'https://siem.example.com/h', secret: `file:${join(dir, 'secret')}`, events: ['denied'] },
      ]);
      expect(resolveNotifyChannels(config, { SLACK_URL: 'https://hooks.slack.com/services/T/B/x\n' })).toEqual([
        { type: 'slack', id: 'slack-0', url: 'https://hooks.slack.com/services/T/B/x', events: ['requested', 'approved', 'denied', 'expired', 'withdrawn'] },
        { type: 'webhook', id: 'siem', url: 'https://siem.example.com/h', secret: 'k3y-from-file', events: ['denied'] },
      ]);
      expect(resolveNotifyChannels(undefined, {})).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names the channel and the reference, never the value, when a secret is missing or its URL is not allowed', () => {
    const config = notifyConfigSchema().parse([{ type: 'slack', id: 'dba', url: 'env:SLACK_URL' }]);
    expect(() => resolveNotifyChannels(config, {})).toThrow(new ConfigError('approvals.notify[0] ("dba").url: env:SLACK_URL is not set'));
    const leak = 'http://hooks.example.com/services/T/B/s3cr3t';
    let message = '';
    try {
      resolveNotifyChannels(config, { SLACK_URL: leak });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      message = (error as Error).message;
    }
    expect(message).toBe('approvals.notify[0] ("dba").url: the URL behind env:SLACK_URL must be https (plain http only on a loopback address)');
    const hook = notifyConfigSchema().parse([{ type: 'webhook', url: 'https://x.example.com', secret: 'file:/nonexistent/airlock-secret' }]);
    expect(() => resolveNotifyChannels(hook, {})).toThrow(new ConfigError('approvals.notify[0] ("webhook-0").secret: cannot read /nonexistent/airlock-secret (ENOENT)'));
  });
});

describe('createNotifier options (issue 17)', () => {
  const ok = { publicUrl: 'https://airlock.example.com', onDelivery: () => undefined };
  it('refuses bad wiring when built, naming the channel but not its URL', () => {
    expect(() => createNotifier({ ...ok, channels: [{ type: 'slack', id: 's', url: 'http://hooks.example.com/s3cr3t', events: ['requested'] }] })).toThrow(
      new TypeError('createNotifier: the URL of channel "s" must be https (plain http only on a loopback address)'),
    );
    const twice = { type: 'webhook', id: 'w', url: 'https://a.example.com', secret: 'k', events: ['requested'] } as const;
    expect(() => createNotifier({ ...ok, channels: [twice, twice] })).toThrow(new TypeError('createNotifier: channel id "w" is used twice'));
    expect(() => createNotifier({ ...ok, channels: [{ ...twice, secret: '' }] })).toThrow(new TypeError('createNotifier: channel "w" has an empty secret'));
    expect(() => createNotifier({ ...ok, publicUrl: '/console', channels: [] })).toThrow(new TypeError('createNotifier: publicUrl must be an absolute URL'));
    expect(() => createNotifier({ ...ok, channels: [], retry: { attempts: 0 } })).toThrow(new TypeError('createNotifier: retry.attempts must be a whole number from 1 to 20'));
    expect(() => createNotifier({ ...ok, channels: [], queueSize: 0.5 })).toThrow(new TypeError('createNotifier: queueSize must be a whole number from 1 to 100000'));
  });
});
