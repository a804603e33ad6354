import { describe, expect, it } from 'vitest';
import { matchesLogFilter } from '../../src/policy/log-filter-match.js';
import { composeLogFilter, parseLogFilter, type LogFilter } from '../../src/policy/log-filter.js';

const request = {
  logName: 'projects/demo-project/logs/requests',
  insertId: 'req-0001',
  timestamp: '2026-03-01T10:15:30.123456789Z',
  receiveTimestamp: '2026-03-01T10:15:31Z',
  severity: 'WARNING',
  resource: { type: 'k8s_container', labels: { namespace_name: 'shop', 'k8s-pod/app': 'web' } },
  labels: { env: 'prod', 'compute.googleapis.com/resource_name': 'vm-1' },
  httpRequest: { requestMethod: 'GET', requestUrl: '/checkout?token=abc', status: 503, responseSize: '1234', remoteIp: '10.1.2.3', latency: '0.250s' },
  jsonPayload: { message: 'Upstream TIMEOUT after 30s', user: { id: 42, email: 'ana@example.com' }, tags: ['prod', 'canary'], retry: true, ip: '192.168.1.9' },
  trace: 'projects/demo-project/traces/abc',
};
const audit = {
  logName: 'projects/demo-project/logs/cloudaudit.googleapis.com%2Factivity',
  insertId: 'audit-7',
  timestamp: '2026-03-01T09:00:00Z',
  severity: 'NOTICE',
  resource: { type: 'gce_instance', labels: { zone: 'us-central1-a' } },
  protoPayload: { '@type': 'type.googleapis.com/google.cloud.audit.AuditLog', authenticationInfo: { principalEmail: 'bob@example.com' }, methodName: 'v1.compute.instances.delete' },
};
const plain = { logName: 'projects/demo-project/logs/app', timestamp: '2026-03-01T11:00:00Z', textPayload: 'card 4111 1111 1111 1111 declined', insertId: 'p-1' };

function m(filter: string, entry: Record<string, unknown>): boolean {
  return matchesLogFilter(parseLogFilter(filter), entry);
}

describe('matchesLogFilter (issue 18)', () => {
  const cases: [string, boolean, boolean, boolean][] = [
    // filter, request, audit, plain
    ['resource.type="k8s_container"', true, false, false],
    ['resource.type=("k8s_container" OR "gce_instance")', true, true, false],
    ['severity>=WARNING', true, false, false],
    ['severity>=NOTICE', true, true, false],
    ['severity<ERROR', true, true, false],
    ['severity=warning', true, false, false],
    ['severity>=400', true, false, false],
    ['timestamp>="2026-03-01T10:00:00Z" AND timestamp<"2026-03-01T11:00:00Z"', true, false, false],
    ['timestamp>"2026-03-01T10:15:30.123Z"', true, false, true],
    ['timestamp<="2026-03-01T10:15:30.123Z"', false, true, false],
    ['receiveTimestamp>="2026-03-01T10:15:31Z"', true, false, false],
    ['jsonPayload.message:timeout', true, false, false],
    ['jsonPayload.message="Upstream TIMEOUT after 30s"', true, false, false],
    ['jsonPayload.message="upstream timeout after 30s"', false, false, false],
    ['jsonPayload.user.id=42', true, false, false],
    ['jsonPayload.user.id="42"', true, false, false],
    ['jsonPayload.user.id>40 jsonPayload.user.id<=42', true, false, false],
    ['httpRequest.status>=500', true, false, false],
    ['httpRequest.responseSize>1000', true, false, false],
    ['jsonPayload.tags:canary', true, false, false],
    ['jsonPayload.tags="prod"', true, false, false],
    ['jsonPayload.tags:(prod AND canary)', true, false, false],
    ['jsonPayload.tags:(NOT prod)', false, false, false],
    ['jsonPayload.tags:(beta OR canary)', true, false, false],
    ['jsonPayload.retry=true', true, false, false],
    ['labels."compute.googleapis.com/resource_name"="vm-1"', true, false, false],
    ['resource.labels."k8s-pod/app"=web', true, false, false],
    ['jsonPayload.user:*', true, false, false],
    ['NOT jsonPayload.user:*', false, true, true],
    ['jsonPayload.missing="x"', false, false, false],
    ['jsonPayload.missing!="x"', false, false, false],
    ['NOT jsonPayload.missing="x"', true, true, true],
    ['-jsonPayload.missing:x', true, true, true],
    ['severity!=WARNING', false, true, false],
    ['textPayload=~"4111( \\\\d{4}){3}"', false, false, true],
    ['textPayload!~"^card"', false, false, false],
    ['textPayload!~"^debit"', false, false, true],
    ['jsonPayload.message=~"(?i)timeout"', false, false, false],
    ['jsonPayload.message=~"[unclosed"', false, false, false],
    ['jsonPayload.message!~"[unclosed"', false, false, false],
    ['"declined"', false, false, true],
    ['ana@example.com', true, false, false],
    ['BOB@EXAMPLE.COM', false, true, false],
    ['"token=abc"', true, false, false],
    ['declined OR timeout', true, false, true],
    ['declined timeout', false, false, false],
    ['protoPayload.authenticationInfo.principalEmail:"bob@"', false, true, false],
    ['log_id("cloudaudit.googleapis.com/activity")', false, true, false],
    ['log_id("requests")', true, false, false],
    ['logName="projects/demo-project/logs/cloudaudit.googleapis.com%2Factivity"', false, true, false],
    ['logName:"/logs/app"', false, false, true],
    ['ip_in_net(httpRequest.remoteIp, "10.0.0.0/8")', true, false, false],
    ['ip_in_net(jsonPayload.ip, "10.0.0.0/8")', false, false, false],
    ['ip_in_net(jsonPayload.ip, "192.168.1.0/24")', true, false, false],
    ['SEARCH("upstream")', true, false, false],
    ['SEARCH(textPayload, "CARD")', false, false, true],
    ['sample(insertId, 1)', true, true, true],
    ['regex_extract(httpRequest.requestUrl, "token=(\\\\w+)")="abc"', true, false, false],
    ['cast(jsonPayload.user.id, STRING)="42"', true, false, false],
    ['resource.type="k8s_container" AND (severity>=ERROR OR jsonPayload.message:timeout)', true, false, false],
    ['"zzz" OR NOT resource.type="gce_instance" AND NOT textPayload:card OR insertId="p-1"', true, false, true],
  ];
  it.each(cases)('%s → request %s, audit %s, plain %s', (filter, r, a, p) => {
    expect([m(filter, request), m(filter, audit), m(filter, plain)]).toEqual([r, a, p]);
  });

  it('samples deterministically by the field value', () => {
    const ids = Array.from({ length: 400 }, (_, i) => ({ insertId: `id-${i}` }));
    const f = parseLogFilter('sample(insertId, 0.25)');
    const first = ids.filter((e) => matchesLogFilter(f, e)).map((e) => e.insertId);
    expect(ids.filter((e) => matchesLogFilter(f, e)).map((e) => e.insertId)).toEqual(first);
    expect(first.length).toBeGreaterThan(60);
    expect(first.length).toBeLessThan(140);
  });

  it('matches nothing for a pattern over the length cap and for functions it does not evaluate', () => {
    expect(m(`textPayload=~"${'a'.repeat(1_025)}"`, { textPayload: 'a'.repeat(2_000) })).toBe(false);
    expect(m(`textPayload=~"${'a'.repeat(1_024)}"`, { textPayload: 'a'.repeat(2_000) })).toBe(true);
    const unknown = { kind: 'call', name: 'TIMEZONE', args: [{ kind: 'string', text: 'UTC' }] } as unknown as LogFilter;
    expect(matchesLogFilter(unknown, request)).toBe(false);
  });

  it('keeps a composed filter inside the scope whatever the agent filter matches', () => {
    const window = { since: new Date('2026-03-01T00:00:00Z'), until: new Date('2026-03-02T00:00:00Z') };
    const scoped = (agent: string) =>
      parseLogFilter(composeLogFilter({ forced: ['resource.type="k8s_container"'], logNames: { project: 'demo-project', names: ['requests'] }, agent: parseLogFilter(agent), ...window }));
    expect([request, audit, plain].map((e) => matchesLogFilter(scoped('card OR bob'), e))).toEqual([false, false, false]);
    expect([request, audit, plain].map((e) => matchesLogFilter(scoped('timeout OR card'), e))).toEqual([true, false, false]);
    expect([request, audit, plain].map((e) => matchesLogFilter(scoped('NOT zzz'), e))).toEqual([true, false, false]);
  });
});
