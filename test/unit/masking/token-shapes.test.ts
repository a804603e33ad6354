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
