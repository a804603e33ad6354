import { describe, expect, it } from 'vitest';
import { detect, DETECTOR_NAMES } from '../../../src/masking/detectors.js';
import { MaskContext, Masker } from '../../../src/masking/masker.js';

const all = [...DETECTOR_NAMES];

/** Every finding of all detectors: type and the text it covers, in order. */
const findings = (text: string): string[] =>
  detect(text, all)
    .sort((a, b) => a.start - b.start || a.end - b.end)
    .map((d) => `${d.type} ${text.slice(d.start, d.end)}`);

describe("a URL password holding ':' (issue 20)", () => {
  it.each<[string, string[]]>([
    ['REDIS_URL=redis://default:Kx9:vQ2mP7@cache.internal.example.com:6379/0', ['PASSWORD_IN_URL Kx9:vQ2mP7']],
    ['amqp://svc:Kx9:vQ2mP7@mq.example.com/vhost', ['PASSWORD_IN_URL Kx9:vQ2mP7']],
    ['{"dsn":"postgres://app:a:b:c:d@db.example.com:5432/shop"}', ['PASSWORD_IN_URL a:b:c:d']],
    ['redis://:pw:9@cache.internal:6379/0', ['PASSWORD_IN_URL pw:9']],
    ['mongodb+srv://etl:Zq::8Lk/2V@c0.ab1cd.mongodb.net/app', ['PASSWORD_IN_URL Zq::8Lk/2V']],
    ['https://user:pa:ss@db.example.com', ['PASSWORD_IN_URL pa:ss']],
    ['mysql://root:8:Kx@mysql-0.internal:3306/app', ['PASSWORD_IN_URL 8:Kx']],
    // Digits and ',' that are no port of another host.
    ['export BROKER_URL="amqps://app:03,xhE1d98yzpYk%23X@mq.example.com:5671/vhost"', ['PASSWORD_IN_URL 03,xhE1d98yzpYk%23X']],
  ])('%j (issue 20)', (text, expected) => {
    expect(findings(text)).toEqual(expected);
  });

  it.each<string>([
    // Ports and more hosts, not a password.
    'mongodb://h1.internal:27017,h2.internal:27017/db?authSource=admin',
    'https://api.example.com:8443/v1/items:batchGet?x=1',
    'postgres://app:${DB_PASSWORD}@db.internal:5432/shop',
    'amqp://guest:<redacted>@mq.internal:5672/',
  ])('leaves %j readable (issue 20)', (text) => {
    expect(findings(text)).toEqual([]);
  });

  it('masks the whole password and leaves the host readable (issue 20)', () => {
    const masker = new Masker({ detectors: all, style: 'redact', columns: [] });
    expect(masker.maskText('amqp://svc:Kx9:vQ2mP7@mq.example.com/vhost', new MaskContext())).toBe('amqp://svc:[PASSWORD_IN_URL_1]@mq.example.com/vhost');
  });
});

const BODY = [
  'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj',
  'MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu',
  'NMoSfm76oqFvAp8Gy0iz5sxjZmSnXyCdPEovGhLa0VzMaQ8s+CLOyS56YyCFGeJZ',
  'q3/Zk+Yw==',
];
/** A made-up block, its body wrapped at `width`. */
const pemOf = (width: number, label = 'PRIVATE KEY'): string =>
  `-----BEGIN ${label}-----\n${(BODY.join('').match(new RegExp(`.{1,${width}}`, 'g')) ?? []).join('\n')}\n-----END ${label}-----`;
/** How PHP's json_encode writes a string by default: '/' as `\/`. */
const phpJson = (value: unknown): string => JSON.stringify(value).replace(/\//g, '\\/');

describe('PEM private keys with escaped slashes and narrow lines (issue 20)', () => {
  it.each<[string, string, string]>([
    ['PHP-escaped slashes', phpJson({ key: pemOf(64) }), phpJson(pemOf(64)).slice(1, -1)],
    ['PHP-escaped slashes, RSA label', phpJson({ tls: { key: pemOf(64, 'RSA PRIVATE KEY') } }), phpJson(pemOf(64, 'RSA PRIVATE KEY')).slice(1, -1)],
    ['escaped slashes inside a JSON string inside a log entry', JSON.stringify({ textPayload: phpJson({ key: pemOf(64) }) }), JSON.stringify(phpJson(pemOf(64)).slice(1, -1)).slice(1, -1)],
    ['.NET-escaped + and =', JSON.stringify({ key: pemOf(64) }).replace(/\+/g, '\\u002B').replace(/=/g, '\\u003D'), JSON.stringify(pemOf(64)).slice(1, -1).replace(/\+/g, '\\u002B').replace(/=/g, '\\u003D')],
    ['lines of 32 characters', `key: |\n${pemOf(32)}\nreplicas: 2`, pemOf(32)],
    ['lines of 16 characters, JSON-escaped', JSON.stringify({ key: pemOf(16, 'EC PRIVATE KEY') }), JSON.stringify(pemOf(16, 'EC PRIVATE KEY')).slice(1, -1)],
    ['lines of 24 characters flattened with spaces', `KEY="${pemOf(24).replace(/\n/g, ' ')}" PORT=8443`, pemOf(24).replace(/\n/g, ' ')],
  ])('masks the whole block: %s (issue 20)', (_, text, block) => {
    expect(findings(text)).toEqual([`PRIVATE_KEY ${block}`]);
  });

  it('keeps a truncated narrow block to its first line, and the text after a cut readable (issue 20)', () => {
    const cut = pemOf(32).split('\n').slice(0, 4).join('\n');
    const text = `${cut}\n2026-12-07T10:11:12Z INFO next line`;
    expect(findings(text)).toEqual([`PRIVATE_KEY ${cut.split('\n').slice(0, 2).join('\n')}`]);
  });

  it('does not take the END line of a block that follows another BEGIN (issue 20)', () => {
    const cut = pemOf(64).split('\n').slice(0, 3).join('\n');
    const text = `${cut} ...[truncated]\n${pemOf(64, 'EC PRIVATE KEY')}`;
    expect(findings(text)).toEqual([`PRIVATE_KEY ${cut}`, `PRIVATE_KEY ${pemOf(64, 'EC PRIVATE KEY')}`]);
  });

  it('masks a service-account key written with escaped slashes as GCP_SA_KEY, whole (issue 20)', () => {
    const text = phpJson({ type: 'service_account', private_key: `${pemOf(64)}\n`, client_email: 'etl@proj-alpha.iam.gserviceaccount.com' });
    expect(findings(text)).toEqual([`GCP_SA_KEY ${phpJson(`${pemOf(64)}\n`).slice(1, -1)}`, 'EMAIL etl@proj-alpha.iam.gserviceaccount.com']);
  });
});

describe("prefixed tokens whose random part opens with '-' (issue 20)", () => {
  it.each<[string, string[]]>([
    ['token glpat--AbCdEfGhIjKlMnOpQrSt here', ['GENERIC_API_KEY glpat--AbCdEfGhIjKlMnOpQrSt']],
    ['GITLAB_TOKEN=glpat---x9Yz8Wv7Ut6Sr5Qp4On3M', ['GENERIC_API_KEY glpat---x9Yz8Wv7Ut6Sr5Qp4On3M']],
    ['{"slack":"xoxb--12345678901-abcdefghijk"}', ['SLACK_TOKEN xoxb--12345678901-abcdefghijk']],
    ['SLACK_USER_TOKEN=xoxp--1234567890-0987654321-AbCdEf', ['SLACK_TOKEN xoxp--1234567890-0987654321-AbCdEf']],
    ['deploy --gitlab-token glpat--AbCdEfGhIjKlMnOpQrSt --dry-run', ['GENERIC_API_KEY glpat--AbCdEfGhIjKlMnOpQrSt']],
  ])('%j (issue 20)', (text, expected) => {
    expect(findings(text)).toEqual(expected);
  });

  it.each<string>(['the glpat-- prefix is documented', 'xglpat--AbCdEfGhIjKlMnOpQrSt is glued to a word', 'xoxb-- then nothing'])('leaves %j readable (issue 20)', (text) => {
    expect(findings(text)).toEqual([]);
  });
});

describe('IPv4 addresses after a short word or `word/`, and versions after a product (issue 20)', () => {
  const ips = (text: string): string[] => findings(text).filter((f) => f.startsWith('IP_ADDRESS'));
  it.each<[string, string[]]>([
    ['fw=10.1.2.3 edge-fw: 10.1.2.4 build: 10.1.2.5', ['IP_ADDRESS 10.1.2.3', 'IP_ADDRESS 10.1.2.4', 'IP_ADDRESS 10.1.2.5']],
    ['connect to backend/10.0.0.12 failed; peer/10.0.0.13', ['IP_ADDRESS 10.0.0.12', 'IP_ADDRESS 10.0.0.13']],
    ['rev 192.168.4.20 via rev_proxy=172.16.0.9', ['IP_ADDRESS 192.168.4.20', 'IP_ADDRESS 172.16.0.9']],
    ['{"msg":"proxy via lb/203.0.113.7","BUILD":"198.51.100.23"}', ['IP_ADDRESS 203.0.113.7', 'IP_ADDRESS 198.51.100.23']],
    ['build_version=4.2.0.1 build_host=10.9.8.7', ['IP_ADDRESS 10.9.8.7']],
  ])('%j (issue 20)', (text, expected) => {
    expect(ips(text)).toEqual(expected);
  });

  it.each<string>([
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
    'client Chrome/131.0.0.0 on Windows, runtime Electron/28.2.3.4, Server: ShopServer/1.2.3.45',
    'loaded plugin auth/1.2.3.45 and grpc-java-netty/1.62.0.1',
    'build_version: 10.1.2.5 buildVersion=1.2.3.4 build_number 10.2.3.4 buildNumber: 12.0.1.7',
    '{"userAgent":"backend/10.0.0.12 (probe)"}',
  ])('leaves %j readable (issue 20)', (text) => {
    expect(ips(text)).toEqual([]);
  });
});

describe("URL credentials and Slack webhooks in JSON that escapes '/' (issue 20)", () => {
  it.each<[string, string[]]>([
    ['{"dsn":"https:\\/\\/user:pw@db.example.com\\/shop"}', ['PASSWORD_IN_URL pw']],
    ['{"dsn":"postgres:\\/\\/app:Ab\\/cd+ef==@c0.example.net\\/app"}', ['PASSWORD_IN_URL Ab\\/cd+ef==']],
    ['{"broker":"amqp:\\/\\/svc:Kx9:vQ2mP7@mq.example.com\\/vhost"}', ['PASSWORD_IN_URL Kx9:vQ2mP7']],
    ['{"cache":"redis:\\/\\/:s3cr3t-Pa55@cache.internal:6379\\/0"}', ['PASSWORD_IN_URL s3cr3t-Pa55']],
    [
      '{"url":"https:\\/\\/hooks.slack.com\\/services\\/T0000AAAA\\/B0000BBBB\\/abcdefghijklmnopqrstuvwx"}',
      ['SLACK_TOKEN https:\\/\\/hooks.slack.com\\/services\\/T0000AAAA\\/B0000BBBB\\/abcdefghijklmnopqrstuvwx'],
    ],
  ])('%j (issue 20)', (text, expected) => {
    expect(findings(text)).toEqual(expected);
  });

  it.each<string>([
    '{"u":"https:\\/\\/api.example.com:8443\\/v1\\/items?page=2"}',
    '{"d":"redis:\\/\\/:${REDIS_PASSWORD}@cache:6379"}',
    '{"d":"postgres:\\/\\/app:****@db.internal:5432\\/shop"}',
    '{"doc":"https:\\/\\/api.slack.com\\/messaging\\/webhooks"}',
    // The user of a URL that reads like a key is no key, escaped or not.
    '{"registry":"https:\\/\\/x-access-token:****@registry.example.com\\/v2\\/"}',
  ])('leaves %j readable (issue 20)', (text) => {
    expect(findings(text)).toEqual([]);
  });
});
