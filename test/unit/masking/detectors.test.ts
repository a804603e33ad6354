import { crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { detect, DETECTOR_NAMES, githubChecksumValid, ibanValid, type DetectorName } from '../../../src/masking/detectors.js';
import { MaskContext, Masker } from '../../../src/masking/masker.js';

const found = (text: string, type: DetectorName): string[] => detect(text, [type]).map((d) => text.slice(d.start, d.end));

/** A GitHub classic token with a valid checksum (generated, not a real token). */
function githubToken(body: string): string {
  const alphabet = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
  let v = crc32(body) >>> 0;
  let sum = '';
  do {
    sum = alphabet[v % 62] + sum;
    v = Math.floor(v / 62);
  } while (v > 0);
  return `ghp_${body}${sum.padStart(6, '0')}`;
}

const JWT = `${Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url')}.${Buffer.from('{"sub":"1234567890"}').toString('base64url')}.c2lnbmF0dXJlLXNpZ25hdHVyZQ`;

describe('detectors: true positives and look-alikes that must stay readable', () => {
  it.each<[DetectorName, string, string[]]>([
    ['EMAIL', 'contact ana.silva+news@example.co.uk today', ['ana.silva+news@example.co.uk']],
    ['EMAIL', 'icon@2x.png and logo@3x.webp', []],
    // Written URL-encoded, once or twice, in mailto: and angle brackets (issue 20).
    ['EMAIL', '/unsubscribe?email=ana%2Bnews%40example.com&list=weekly', ['ana%2Bnews%40example.com']],
    ['EMAIL', '?next=%2Fcb%3Femail%3Dana.silva%2540example.org%26x%3D1', ['ana.silva%2540example.org']],
    ['EMAIL', 'X-Goog-Credential=etl%40proj-alpha.iam.gserviceaccount.com%2F20261207%2Fauto%2Fstorage%2Fgoog4_request', ['etl%40proj-alpha.iam.gserviceaccount.com']],
    ['EMAIL', 'mailto:ben%40example.com <chen@example.io> %3Cdana%40example.net%3E', ['ben%40example.com', 'chen@example.io', 'dana%40example.net']],
    ['EMAIL', 'registry.npmjs.org/%40types%2Fnode icon%402x.png user%40localhost 50%40off git%40github.com:org/r.git', []],
    ['EMAIL', 'git clone git@github.com:org/repo.git', []],
    ['EMAIL', 'user@localhost is not an address with a TLD', []],
    // The '@' of a URL's credentials: the password is PASSWORD_IN_URL's, the host stays readable.
    ['EMAIL', 'https://app:s3cr3t-Pa55@api.example.com/v1 and ftp://ana:pw@files.example.org', ['s3cr3t-Pa55@api.example.com', 'pw@files.example.org']],
    ['IBAN', 'pay to GB82 WEST 1234 5698 7654 32 please', ['GB82 WEST 1234 5698 7654 32']],
    ['IBAN', 'DE89370400440532013000', ['DE89370400440532013000']],
    ['IBAN', 'GB82WEST12345698765433 (bad check digits)', []],
    ['IBAN', 'ORDER12345678901234 is a ticket', []],
    ['JWT', `Authorization: Bearer ${JWT}`, [JWT]],
    ['JWT', 'eyJub3QiOiJhIGp3dCJ9.eyJ4IjoxfQ.x is not a JWT header without alg', []],
    ['PRIVATE_KEY', '-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----', ['-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----']],
    ['PRIVATE_KEY', '{"private_key":"-----BEGIN PRIVATE KEY-----\\nMIIEvQ\\n-----END PRIVATE KEY-----\\n"}', ['-----BEGIN PRIVATE KEY-----\\nMIIEvQ\\n-----END PRIVATE KEY-----']],
    ['PRIVATE_KEY', 'truncated: -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk', ['-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk']],
    // Doubly escaped (a JSON string inside a log entry's JSON), flattened with spaces, glued, truncated (issue 20).
    ['PRIVATE_KEY', '{"textPayload":"{\\"k\\":\\"-----BEGIN PRIVATE KEY-----\\\\nMIIEvQ\\\\n-----END PRIVATE KEY-----\\\\n\\"}"}', ['-----BEGIN PRIVATE KEY-----\\\\nMIIEvQ\\\\n-----END PRIVATE KEY-----']],
    ['PRIVATE_KEY', 'KEY=-----BEGIN EC PRIVATE KEY----- MHcCAQEEIB3 -----END EC PRIVATE KEY----- PORT=1', ['-----BEGIN EC PRIVATE KEY----- MHcCAQEEIB3 -----END EC PRIVATE KEY-----']],
    ['PRIVATE_KEY', '-----BEGIN RSA PRIVATE KEY-----MIIEowIBAAKCAQEA==-----END RSA PRIVATE KEY-----', ['-----BEGIN RSA PRIVATE KEY-----MIIEowIBAAKCAQEA==-----END RSA PRIVATE KEY-----']],
    ['PRIVATE_KEY', `-----BEGIN PRIVATE KEY-----\n${'A'.repeat(64)}\nMIIEvQIBADAN\n2026-12-07T10:11:12Z INFO next`, [`-----BEGIN PRIVATE KEY-----\n${'A'.repeat(64)}\nMIIEvQIBADAN`]],
    ['PRIVATE_KEY', '"-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkq...[truncated]"', ['-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkq']],
    ['PRIVATE_KEY', '-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,0A1B\n\nMIIEow\n-----END RSA PRIVATE KEY-----', ['-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,0A1B\n\nMIIEow\n-----END RSA PRIVATE KEY-----']],
    ['PRIVATE_KEY', '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----', []],
    ['PRIVATE_KEY', '-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----', []],
    ['AWS_ACCESS_KEY', 'key=AKIAIOSFODNN7EXAMPLE;', ['AKIAIOSFODNN7EXAMPLE']],
    ['AWS_ACCESS_KEY', 'XAKIAIOSFODNN7EXAMPLEX', []],
    ['GCP_API_KEY', 'key=AIzaSyD-abcdefghijklmnopqrstuvwxyz01234', ['AIzaSyD-abcdefghijklmnopqrstuvwxyz01234']],
    ['GITHUB_TOKEN', `token ${githubToken('a'.repeat(30))} here`, [githubToken('a'.repeat(30))]],
    // Masked on its prefix and length, whatever its checksum (issue 20).
    ['GITHUB_TOKEN', 'ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa000000 (bad checksum)', ['ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa000000']],
    ['GITHUB_TOKEN', 'gho_Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0Pp9Oo8 ghs_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa,ghr_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', ['gho_Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0Pp9Oo8', 'ghs_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'ghr_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb']],
    ['GITHUB_TOKEN', 'ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa (35) ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa (37) xghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', []],
    ['GENERIC_API_KEY', 'NPM_TOKEN=npm_abcdefghijklmnopqrstuvwxyz0123456789 glpat-Ab3dEf6hIj9kLm2nOp5q', ['npm_abcdefghijklmnopqrstuvwxyz0123456789', 'glpat-Ab3dEf6hIj9kLm2nOp5q']],
    ['GENERIC_API_KEY', 'npm_config_cache=/tmp glpat- is the prefix xglpat-Ab3dEf6hIj9kLm2nOp5q', []],
    ['SLACK_TOKEN', 'SLACK_APP_TOKEN=xapp-1-A0123ABCDEF-1234567890123-0123456789abcdef', ['xapp-1-A0123ABCDEF-1234567890123-0123456789abcdef']],
    ['SLACK_TOKEN', 'xoxb-1234567890-abcdefghij', ['xoxb-1234567890-abcdefghij']],
    ['SLACK_TOKEN', 'https://hooks.slack.com/services/T0000AAAA/B0000BBBB/abcdefghijklmnopqrstuvwx', ['https://hooks.slack.com/services/T0000AAAA/B0000BBBB/abcdefghijklmnopqrstuvwx']],
    ['STRIPE_KEY', 'sk_live_abcdefghijklmnop1234 and rk_test_0123456789abc', ['sk_live_abcdefghijklmnop1234', 'rk_test_0123456789abc']],
    ['STRIPE_KEY', 'pk_live_abcdefghijklmnop1234 is publishable', []],
    ['PASSWORD_IN_URL', 'postgres://app:s3cr3t!@db.internal:5432/shop', ['s3cr3t!']],
    ['PASSWORD_IN_URL', 'postgres://app:${DB_PASSWORD}@db:5432/shop and https://user:****@host', []],
    // Every scheme, an empty user, '/' in the password, a URL user that reads like a key (issue 20).
    ['PASSWORD_IN_URL', 'redis://:s3cr3t-Pa55@cache.internal:6379/0 mongodb+srv://app:Ab/cd+ef==@c0.ab1cd.mongodb.net/app', ['s3cr3t-Pa55', 'Ab/cd+ef==']],
    ['PASSWORD_IN_URL', 'https://x-access-token:Zq8Lk2Vx9Tb7Nw3Hc6Jd1F@github.com/org/repo.git amqps://guest:gu3st!@mq:5671', ['Zq8Lk2Vx9Tb7Nw3Hc6Jd1F', 'gu3st!']],
    ['PASSWORD_IN_URL', 'mongodb://$MONGO_USER:$MONGO_PASSWORD@c0.example.net/app https://api.example.com:8443/v1?next=/a@b.com ftp://anon@ftp.example.org', []],
  ])('%s in %j', (type, text, expected) => {
    expect(found(text, type)).toEqual(expected);
  });

  it('validates IBAN check digits and GitHub checksums', () => {
    expect(ibanValid('GB82WEST12345698765432')).toBe(true);
    expect(ibanValid('GB82WEST12345698765431')).toBe(false);
    expect(githubChecksumValid(githubToken('b'.repeat(30)))).toBe(true);
  });

  it('stays linear on adversarial input for every detector', () => {
    const inputs = ['@'.repeat(200_000), '1'.repeat(200_000), '='.repeat(200_000), 'eyJ'.repeat(70_000), 'A'.repeat(200_000), '://a:'.repeat(40_000)];
    for (const text of inputs) {
      const started = performance.now();
      detect(text, [...DETECTOR_NAMES]);
      // A generous bound only a super-linear scan would break (not a performance assertion).
      expect(performance.now() - started).toBeLessThan(4000);
    }
  });
});

describe('Masker with several detectors', () => {
  it('fully redacts secrets with numbered placeholders and keeps the same placeholder for the same value', () => {
    const masker = new Masker({ detectors: ['CREDIT_CARD', 'EMAIL', 'AWS_ACCESS_KEY'], style: 'last4', columns: [] });
    const ctx = new MaskContext();
    expect(masker.maskText('ana@example.com paid with 4111 1111 1111 1111; cc ana@example.com, ben@example.com; AKIAIOSFODNN7EXAMPLE', ctx)).toBe(
      '[EMAIL_1] paid with **** **** **** 1111; cc [EMAIL_1], [EMAIL_2]; [AWS_ACCESS_KEY_1]',
    );
    expect(Object.fromEntries(ctx.counts)).toEqual({ EMAIL: 3, CREDIT_CARD: 1, AWS_ACCESS_KEY: 1 });
  });

  it('returns unchanged plain values as they came, and rebuilds anything else from what it masked', () => {
    const masker = new Masker({ detectors: ['EMAIL', 'CREDIT_CARD'], style: 'redact', columns: [] });
    const clean = { a: ['x', 1, { b: null }], c: 'plain' };
    expect(masker.maskValue(clean, new MaskContext())).toBe(clean);
    const withKey = JSON.parse('{"__proto__": {"x": "ana@example.com"}, "n": 1}') as Record<string, unknown>;
    const masked = masker.maskValue(withKey, new MaskContext()) as Record<string, unknown>;
    expect(Object.hasOwn(masked, '__proto__')).toBe(true);
    expect(JSON.stringify(masked)).toBe('{"__proto__":{"x":"[EMAIL_1]"},"n":1}');
    // A class instance whose toJSON would reveal a value, and boxed strings, are not sent as they came.
    class Contact {
      toJSON(): string {
        return 'ana@example.com';
      }
    }
    class Account {
      constructor(readonly owner: string) {}
    }
    const out = JSON.stringify(masker.maskValue({ contact: new Contact(), boxed: new String('4111 1111 1111 1111'), account: new Account('ben@example.com') }, new MaskContext()));
    expect(out).toBe('{"contact":"[EMAIL_1]","boxed":"[CREDIT_CARD_1]","account":{"owner":"[EMAIL_2]"}}');
    // toJSON is asked once, as JSON.stringify does: what it returns goes out without a toJSON of its own.
    const inner = { toJSON: (): string => 'ana@example.com', n: 1 };
    const list = Object.assign(['x'], { toJSON: (): string => 'ben@example.com' });
    const self = { a: 'ana@example.com', toJSON(): unknown { return this; } };
    const chained = { x: { toJSON: (): unknown => inner }, list, self };
    const sent = JSON.stringify(masker.maskValue(chained, new MaskContext()));
    expect(sent).toBe(JSON.stringify(JSON.parse(JSON.stringify(chained)) as unknown).replace('ben@example.com', '[EMAIL_1]').replace('ana@example.com', '[EMAIL_2]'));
    expect(sent).not.toMatch(/@example\.com/);
    // A function with a toJSON, and an array subclass with one, from a toJSON or in an array.
    const fn = Object.assign(() => 1, { toJSON: (): string => 'ana@example.com' });
    class Emails extends Array<string> {
      toJSON(): string {
        return 'ben@example.com';
      }
    }
    const odd = { fns: [fn], viaJson: { toJSON: (): unknown => Emails.from(['carl@example.com']) } };
    expect(JSON.stringify(masker.maskValue(odd, new MaskContext()))).not.toMatch(/@example\.com/);
  });

  it("masks only the password of a URL's credentials, and masks whatever looks like one when that detector cannot say", () => {
    const all = new Masker({ detectors: [...DETECTOR_NAMES], style: 'redact', columns: [] });
    const mask = (t: string): string => all.maskText(t, new MaskContext());
    expect(mask('https://app:s3cr3t-Pa55@api.example.com/v1')).toBe('https://app:[PASSWORD_IN_URL_1]@api.example.com/v1');
    // No user, a ':' in the password, no scheme: PASSWORD_IN_URL finds nothing, the e-mail-shaped part stays masked.
    for (const t of ['redis://:s3cret@cache.example.com', 'https://user:pa:ss@db.example.com', '//user:s3cret@db.example.com', 'url=//admin:hunter2@db.corp.com']) {
      expect(mask(t)).not.toMatch(/s3cret|pa:ss@|hunter2/);
    }
    // Without PASSWORD_IN_URL the e-mail detector still covers it.
    expect(new Masker({ detectors: ['EMAIL'], style: 'redact', columns: [] }).maskText('https://user:alice@example.com', new MaskContext())).toBe('https://user:[EMAIL_1]');
  });

  it('keeps the last four digits of phone numbers in style last4, and placeholders them in style redact', () => {
    const text = 'call +1 (415) 555-2671 or 415.555.2672';
    expect(new Masker({ detectors: ['PHONE'], style: 'last4', columns: [] }).maskText(text, new MaskContext())).toBe('call +* (***) ***-2671 or ***.***.2672');
    expect(new Masker({ detectors: ['PHONE'], style: 'redact', columns: [] }).maskText(text, new MaskContext())).toBe('call [PHONE_1] or [PHONE_2]');
  });
});

describe('context detectors: keys, headers and formats give the context', () => {
  it.each<[DetectorName, string, string[]]>([
    ['PASSWORD', '{"user":"app","password":"hunter2!x"}', ['hunter2!x']],
    ['PASSWORD', 'DB_PASSWORD=s3cr3t-value\nDB_USER=app', ['s3cr3t-value']],
    ['PASSWORD', 'password: "correct horse"', ['correct horse']],
    ['PASSWORD', 'password: ****  and  PASSWORD=${DB_PASSWORD} and "password": "<redacted>"', []],
    ['AWS_SECRET_KEY', 'aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', ['wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY']],
    // Terraform state (`aws_iam_access_key`) and s3cmd write the AWS secret under `secret` / `secret_key` (issue 20).
    ['AWS_SECRET_KEY', 'secret = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', ['wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY']],
    ['AWS_SECRET_KEY', 'secret = 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b', []],
    ['GENERIC_API_KEY', '{"api_key": "q8Zr4Lk2Vx9Tb7Nw3Hc6Jd1F"}', ['q8Zr4Lk2Vx9Tb7Nw3Hc6Jd1F']],
    ['GENERIC_API_KEY', 'Authorization: Bearer q8Zr4Lk2Vx9Tb7Nw3Hc6Jd1F.aa', ['q8Zr4Lk2Vx9Tb7Nw3Hc6Jd1F.aa']],
    ['GENERIC_API_KEY', '{"token_type": "Bearer", "api_key_id": "key-1234567890abcdef", "token": "aaaaaaaaaaaaaaaaaaaa"}', []],
    ['US_SSN', 'ssn 123-45-6789 on file', ['123-45-6789']],
    ['US_SSN', '{"ssn": "123456789"}', ['123456789']],
    ['US_SSN', '000-12-3456, 666-12-3456, 900-12-3456, 123-00-4567, order 123456789', []],
    ['IP_ADDRESS', 'from 192.168.10.20 and 2001:db8::8a2e:370:7334', ['192.168.10.20', '2001:db8::8a2e:370:7334']],
    ['IP_ADDRESS', 'release v1.2.3.4, OID 1.3.6.1.4.1, at 12:30:45, 999.1.1.1', []],
    ['PHONE', 'call +1 415 555 2671 today', ['+1 415 555 2671']],
    ['PHONE', 'ticket 12345-678, build 2026.11.29, v10.2.3', []],
  ])('%s in %j', (type, text, expected) => {
    expect(found(text, type)).toEqual(expected);
  });
});

describe('detect: issue 6 (one-pass scanner) regressions', () => {
  it.each<[DetectorName, string, string[]]>([
    // IPv6 and IPv4 no longer share one skip position (the IPv6 address first was missed).
    ['IP_ADDRESS', 'from 2001:db8::1 via 10.0.0.1', ['2001:db8::1', '10.0.0.1']],
    // No longer depends on four digits elsewhere in the text; '::' alone is not an address.
    ['IP_ADDRESS', 'bind ::1 and fe80::1%eth0', ['::1', 'fe80::1%eth0']],
    ['IP_ADDRESS', 'a :: b, Foo::Bar, 12:30:45, 2026-11-29T10:00:00Z', []],
    // Compound key names joined by '-'.
    ['GENERIC_API_KEY', 'x-api-key: q8Zr4Lk2Vx9Tb7Nw3Hc6Jd1F', ['q8Zr4Lk2Vx9Tb7Nw3Hc6Jd1F']],
    // Masking already-masked text changes nothing.
    ['GENERIC_API_KEY', 'api_key=[GENERIC_API_KEY_1] token=[GENERIC_API_KEY_12]', []],
    // Digits glued to a word or an id prefix are an identifier; 3-3-4 dotted is a phone, not a version.
    ['PHONE', 'order ORD-2026-177493, IBAN NL76KVDR9195084351, ref x4155552671', []],
    ['PHONE', 'call 415.555.2671 or (415) 555-2671', ['415.555.2671', '(415) 555-2671']],
    ['PHONE', 'id=123456789 at 2026-11-29 10:00:00', []],
    ['PHONE', 'md5 5737034557ef5b8c02c0e46513b98f90, id 920112011', []],
    ['PHONE', '415-555-2671 3rd line, tel 415-555-2672 12h, fax 4155552673 1x', ['415-555-2671', '415-555-2672', '4155552673']],
    ['PHONE', 'caller 4155552671 2026-11-29T10:00:00Z and 415 555 2672 2026-11-29', ['4155552671', '415 555 2672']],
    ['PHONE', 'card 4111 1111 1111 1111 and id 12345678901234567890', []],
    ['PHONE', 'on 2026-11-29 415 555 2671 called', ['415 555 2671']],
    ['PHONE', 'call 415-555-2671x12 or 4155552671 ext. 3', ['415-555-2671', '4155552671']],
    // Candidates whose header does not decode are skipped until the real token.
    ['JWT', `${'eyJ'.repeat(5)}${JWT}`, [JWT]],
  ])('%s in %j', (type, text, expected) => {
    expect(found(text, type)).toEqual(expected);
  });

  it('gives the same findings with one detector on as the full scan keeps for it', () => {
    const text = `ana@example.com 4111 1111 1111 1111 ${JWT} 10.1.2.3 AKIAIOSFODNN7EXAMPLE password=hunter2x +1 415 555 2671`;
    const everything = detect(text, [...DETECTOR_NAMES]);
    for (const name of DETECTOR_NAMES) expect(detect(text, [name])).toEqual(everything.filter((d) => d.type === name));
  });

  it('rejects an unknown detector name (fail closed)', () => {
    expect(() => detect('x', ['NOPE' as DetectorName])).toThrow(TypeError);
  });

  it('stays linear on more adversarial input (anchors every scanner path dispatches on)', () => {
    const inputs = [
      `${'eyJ'.repeat(70_000)}.eyJ.x`,
      ':'.repeat(200_000),
      'a:'.repeat(100_000),
      '1:'.repeat(100_000),
      '_'.repeat(200_000),
      'ghp_'.repeat(50_000),
      '-'.repeat(200_000),
      'xoxb-'.repeat(40_000),
      // Issue 20: encoded addresses, URL credentials, PEM lines and new token prefixes.
      'a%40'.repeat(50_000),
      `${'a'.repeat(300)}%2540`.repeat(600),
      'redis://:a/b@'.repeat(15_000),
      `-----BEGIN PRIVATE KEY-----\n${'A'.repeat(64)}\n`.repeat(2_000),
      '-----BEGIN PRIVATE KEY----- '.repeat(7_000),
      'glpat-'.repeat(30_000),
      'npm_'.repeat(50_000),
      'password='.repeat(20_000),
      `${'a'.repeat(60)}=`.repeat(3_000),
      'GB82 '.repeat(40_000),
      'Bearer '.repeat(30_000),
      '1.'.repeat(100_000),
      '123-45-'.repeat(30_000),
      '(1) '.repeat(10_000),
      '1 '.repeat(10_000),
    ];
    for (const text of inputs) {
      const started = performance.now();
      detect(text, [...DETECTOR_NAMES]);
      // A generous bound only a super-linear scan would break (not a performance assertion).
      expect(performance.now() - started).toBeLessThan(4000);
    }
  });
});

describe('phonesIn check budget', () => {
  it('masks phone-shaped candidates unchecked once a string has used its libphonenumber checks (fail closed)', async () => {
    const { phonesIn } = await import('../../../src/masking/context-detectors.js');
    const text = 'call 999 999 9999 now';
    const checked: { start: number; end: number; type: string }[] = [];
    phonesIn(text, 5, 17, 'US', checked, { left: 10 });
    const unchecked: { start: number; end: number; type: string }[] = [];
    phonesIn(text, 5, 17, 'US', unchecked, { left: 0 });
    // 999 is not an assigned US area code: checked, it is not a phone; out of checks, it is masked anyway.
    expect(checked).toEqual([]);
    expect(unchecked).toEqual([{ start: 5, end: 17, type: 'PHONE' }]);
  });

  it('bounds the checks per string, so a long run of phone-shaped text cannot hold the event loop', async () => {
    const { PHONE_CHECKS_PER_STRING } = await import('../../../src/masking/scan.js');
    // Phone-shaped, but not numbers libphonenumber accepts: each one costs a check.
    const text = Array.from({ length: 2 * PHONE_CHECKS_PER_STRING }, () => '999 999 9999').join(' x ');
    const phones = detect(text, ['PHONE']);
    expect(phones).toHaveLength(PHONE_CHECKS_PER_STRING);
    expect(phones[0]?.start).toBe(PHONE_CHECKS_PER_STRING * 15);
  });
});

describe('an email that ends a phrase with a colon (issue 18)', () => {
  it.each<[string, boolean]>([
    ['slow query for customer ana.silva@example.com: 2300 ms', true],
    ['customer ana.silva@example.com:', true],
    ['"ana.silva@example.com:"', true],
    ['(ana@example.com:)', true],
    ['git@github.com:org/repo.git', false],
    ['ana@example.com:8080', false],
  ])('%s → found: %s', (text, found) => {
    expect(detect(text, ['EMAIL']).some((d) => d.type === 'EMAIL')).toBe(found);
  });
});
