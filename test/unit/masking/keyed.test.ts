import { describe, expect, it } from 'vitest';
import { DETECTOR_NAMES as DETECTOR_NAMES, maskOf } from '../../../src/masking/detectors.js';
import { isEncodedCursor, keyedWork, keyKinds, K_AWS, K_PASSWORD, K_SECRET, K_SSN } from '../../../src/masking/key-names.js';
import { Masker, MaskContext } from '../../../src/masking/masker.js';
import { scan } from '../../../src/masking/scan.js';

const masker = new Masker({ detectors: [...DETECTOR_NAMES], style: 'redact', columns: [] });
const mask = (text: string): string => masker.maskText(text, new MaskContext());
const AWS = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

describe('keyKinds', () => {
  it.each([
    ['AWS_SECRET_ACCESS_KEY', K_AWS], ['secretAccessKey', K_AWS], ['SecretAccessKey', K_AWS], ['MY_APP_AWS_SECRET_ACCESS_KEY', K_AWS], ['aws-secret-access-key', K_AWS],
    ['PGPASSWORD', K_PASSWORD], ['userPassword', K_PASSWORD], ['ses_smtp_password_v4', K_PASSWORD], ['password_confirmation', K_PASSWORD], ['spring.datasource.password', K_PASSWORD],
    ['x-api-key', K_SECRET], ['X-Goog-Signature', K_SECRET], ['JSESSIONID', K_SECRET], ['sessionId', K_SECRET], ['SessionToken', K_SECRET],
    ['customerSsn', K_SSN], ['Social_Security_Number', K_SSN],
  ])('reads %s as a secret name (issue 20)', (name, kind) => {
    expect(keyKinds(name) & kind).toBe(kind);
  });

  it.each([
    ['clientsecret', K_SECRET], ['credential', K_SECRET], ['DB_CREDENTIAL', K_SECRET], ['X-Goog-Credential', K_SECRET], ['signingkey', K_SECRET], ['privatetoken', K_SECRET], ['apitoken', K_SECRET],
    ['client_credentials', K_SECRET], ['password2', K_PASSWORD], ['DB_PASSWORD2', K_PASSWORD], ['userPassword12', K_PASSWORD], ['passwd3', K_PASSWORD], ['SESSION__ID', K_SECRET], ['session.-id', K_SECRET],
  ])('reads %s as a secret name again (issue 20)', (name, kind) => {
    expect(keyKinds(name) & kind).toBe(kind);
  });

  it.each(['password_length', 'passwordless', 'next_page_token', 'NextToken', 'pageToken', 'pagetoken', 'nexttoken', 'maxtoken', 'idempotency_key', 'public_key', 'private_key_id', 'secretKeyRef', 'secret_name', 'token_type', 'max_tokens', 'ssn_last4', 'bypass', 'password_', 'session2id', 'password1234'])(
    'reads %s as an ordinary name (issue 20)',
    (name) => {
      expect(keyKinds(name)).toBe(0);
    },
  );
});

describe('keyed secrets in text (issue 20)', () => {
  it.each([
    // AWS secret keys in every syntax
    [`export MY_APP_AWS_SECRET_ACCESS_KEY="${AWS}"`, 'export MY_APP_AWS_SECRET_ACCESS_KEY="[AWS_SECRET_KEY_1]"'],
    [`[default]\naws_secret_access_key = ${AWS}\n`, '[default]\naws_secret_access_key = [AWS_SECRET_KEY_1]\n'],
    [`aws-vault exec ci --aws-secret-access-key ${AWS} --region x`, 'aws-vault exec ci --aws-secret-access-key [AWS_SECRET_KEY_1] --region x'],
    [`{"type":"aws_iam_access_key","attributes":{"secret":"${AWS}"}}`, '{"type":"aws_iam_access_key","attributes":{"secret":"[AWS_SECRET_KEY_1]"}}'],
    [`{"textPayload":"{\\"SecretAccessKey\\":\\"${AWS}\\"}"}`, '{"textPayload":"{\\"SecretAccessKey\\":\\"[AWS_SECRET_KEY_1]\\"}"}'],
    [`{"m":"{\\"d\\":\\"{\\\\\\"secretAccessKey\\\\\\": \\\\\\"${AWS}\\\\\\"}\\"}"}`, '{"m":"{\\"d\\":\\"{\\\\\\"secretAccessKey\\\\\\": \\\\\\"[AWS_SECRET_KEY_1]\\\\\\"}\\"}"}'],
    // passwords, and the references that are not
    ['jdbc:sqlserver://db:1433;user=app;password=Tr0ub4dor!;encrypt=true', 'jdbc:sqlserver://db:1433;user=app;password=[PASSWORD_1];encrypt=true'],
    ['Driver={ODBC};Uid=app;Pwd=Xy9-kk2;Encrypt=yes', 'Driver={ODBC};Uid=app;Pwd=[PASSWORD_1];Encrypt=yes'],
    ['PGPASSWORD=s3cr3t psql -h db', 'PGPASSWORD=[PASSWORD_1] psql -h db'],
    ['mysqladmin --password s3cr3t-x status', 'mysqladmin --password [PASSWORD_1] status'],
    ['args: ["--db-password", "s3cr3t-x", "--port", "5432"]', 'args: ["--db-password", "[PASSWORD_1]", "--port", "5432"]'],
    ['smtp:\n  password: |\n    s3cr3t-x\n', 'smtp:\n  password: |\n    [PASSWORD_1]\n'],
    ['$c = ["password" => "s3cr3t-x"];', '$c = ["password" => "[PASSWORD_1]"];'],
    // tokens under names and headers
    ['authorization: bearer q8Zr4Lk2Vx9Tb7Nw3Hc6Jd1F', 'authorization: bearer [GENERIC_API_KEY_1]'],
    ['{"Authorization":"Basic YXBpOnMzY3IzdC1wYXNzd29yZA=="}', '{"Authorization":"Basic [GENERIC_API_KEY_1]"}'],
    ['Set-Cookie: sid=Zx8Yw7Vu6Ts5Rq4Po3Nm2Lk1; Path=/; HttpOnly', 'Set-Cookie: sid=[GENERIC_API_KEY_1]; Path=/; HttpOnly'],
    ['?X-Goog-Date=20261201T000000Z&X-Goog-Signature=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', '?X-Goog-Date=20261201T000000Z&X-Goog-Signature=[GENERIC_API_KEY_1]'],
    ['client_secret=abc123def', 'client_secret=[GENERIC_API_KEY_1]'],
    // SSNs under their names
    ['ssn: 123 45 6789\n', 'ssn: [US_SSN_1]\n'],
    ['{"SSN":123456789}', '{"SSN":[US_SSN_1]}'],
  ])('masks %j (issue 20)', (text, masked) => {
    expect(mask(text)).toBe(masked);
  });

  it.each([
    'password=${DB_PASSWORD}', 'password=$DB_PASSWORD', 'password: "{{ .Values.db.password }}"', 'password: vault:secret/data/db#pwd', 'DB_PASSWORD=env:DB_PASSWORD',
    'password: <redacted>', 'password=****', 'password=[REDACTED]', 'password=', 'password: null', 'password=%s', 'AWS_SECRET_ACCESS_KEY: "${{ secrets.AWS_SECRET_ACCESS_KEY }}"',
    'export AWS_SECRET_ACCESS_KEY="$(vault kv get -field=secret aws/ci)"', 'PWD=/home/app/src', 'pass=12 fail=0', 'token: required',
    '{"next_page_token": "eyJwYWdlIjoyLCJhZnRlciI6IjEyMzQ1Njc4In0"}', '{"token": "eyJvZmZzZXQiOjEwMCwibGltaXQiOjEwMH0="}', 'request_id=3f2a9c1e-4b7d-4e2a-8c1f-9d0e7a6b5c4d',
    'etag: "9f86d081884c7d659a2feaa0c55ad015"', 'ssn=000-12-3456', 'ssn_last4=6789', 'Authorization: Bearer [GENERIC_API_KEY_1]', 'secret: ENC[AES256_GCM,data:abc,iv:def,type:str]',
    'Authorization: AWS4-HMAC-SHA256 Credential=x/20261201/us-east-1/s3/aws4_request, SignedHeaders=host',
  ])('leaves %j readable (issue 20)', (text) => {
    expect(mask(text)).toBe(text);
  });
});

const ALL = maskOf(DETECTOR_NAMES);
const V = 'Zx9Qw8Er7Ty6Ui5Op4As3Df2';
const GRAFANA = 'eyJrIjoiT0tTcG1pUlY2RnVKZTFVaDFsNFZXdE9ZWmNrMkZYbmsiLCJuIjoiZGVwbG95IiwiaWQiOjF9';

describe('secret names restored: compounds, credential(s), numbered passwords (issue 20)', () => {
  it.each([
    [`clientsecret=${V}`, 'clientsecret=[GENERIC_API_KEY_1]'],
    [`credential:${V}`, 'credential:[GENERIC_API_KEY_1]'],
    [`DB_CREDENTIAL=${V}`, 'DB_CREDENTIAL=[GENERIC_API_KEY_1]'],
    [`signingkey=${V}`, 'signingkey=[GENERIC_API_KEY_1]'],
    [`privatetoken=${V}`, 'privatetoken=[GENERIC_API_KEY_1]'],
    [`export APITOKEN="${V}"`, 'export APITOKEN="[GENERIC_API_KEY_1]"'],
    [`{"clientsecret": "${V}"}`, '{"clientsecret": "[GENERIC_API_KEY_1]"}'],
    [`{"jsonPayload":"{\\"credentials\\":\\"${V}\\"}"}`, '{"jsonPayload":"{\\"credentials\\":\\"[GENERIC_API_KEY_1]\\"}"}'],
    [`X-Goog-Credential: ${V}`, 'X-Goog-Credential: [GENERIC_API_KEY_1]'],
    ['password2=hunter2xyz', 'password2=[PASSWORD_1]'],
    ['DB_PASSWORD2=hunter2xyz', 'DB_PASSWORD2=[PASSWORD_1]'],
    ['spring.datasource.password12: s3cr3t-x', 'spring.datasource.password12: [PASSWORD_1]'],
    ['mysql --password2 s3cr3t-x', 'mysql --password2 [PASSWORD_1]'],
  ])('masks %j', (text, masked) => {
    expect(mask(text)).toBe(masked);
  });

  it('masks them under JSON keys and CSV headers, which go through the same names', () => {
    expect(masker.maskValue({ clientsecret: V, DB_CREDENTIAL: V, password2: 'hunter2xyz', name: 'deploy' }, new MaskContext())).toEqual({
      clientsecret: '[GENERIC_API_KEY_1]', DB_CREDENTIAL: '[GENERIC_API_KEY_1]', password2: '[PASSWORD_1]', name: 'deploy',
    });
    const csv = `id,privatetoken,note\n1,${V},ok\n`;
    const types = masker.find(csv).map((f) => [csv.slice(f.start, f.end), f.type]);
    expect(types).toEqual([[V, 'GENERIC_API_KEY']]);
  });

  it.each([
    // a SigV4 or GOOG4 credential scope: the key id and the e-mail in it have their own detectors
    ['Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261201/us-east-1/s3/aws4_request, SignedHeaders=host', 'Authorization: AWS4-HMAC-SHA256 Credential=[AWS_ACCESS_KEY_1]/20261201/us-east-1/s3/aws4_request, SignedHeaders=host'],
    ['GET /b/o?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=signer%40my-proj.iam.gserviceaccount.com%2F20261201%2Fauto%2Fstorage%2Fgoog4_request&X-Goog-Date=20261201T000000Z', 'GET /b/o?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=[EMAIL_1]%2F20261201%2Fauto%2Fstorage%2Fgoog4_request&X-Goog-Date=20261201T000000Z'],
    ['?X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20261201%2Feu-west-1%2Fs3%2Faws4_request&X-Amz-Date=20261201T000000Z', '?X-Amz-Credential=[AWS_ACCESS_KEY_1]%2F20261201%2Feu-west-1%2Fs3%2Faws4_request&X-Amz-Date=20261201T000000Z'],
    ['{"credential":"AKIAIOSFODNN7EXAMPLE\\/20261201\\/us-east-1\\/sts\\/aws4_request"}', '{"credential":"[AWS_ACCESS_KEY_1]\\/20261201\\/us-east-1\\/sts\\/aws4_request"}'],
  ])('leaves the credential scope of a signed request readable: %j', (text, masked) => {
    expect(mask(text)).toBe(masked);
  });
});

describe('API keys that are base64 JSON (issue 20)', () => {
  it.each([
    [`GRAFANA_API_KEY=${GRAFANA}`, 'GRAFANA_API_KEY=[GENERIC_API_KEY_1]'],
    [`{"api_key": "${GRAFANA}"}`, '{"api_key": "[GENERIC_API_KEY_1]"}'],
    [`x-api-key: ${GRAFANA}`, 'x-api-key: [GENERIC_API_KEY_1]'],
    // {"id":"k7Qp2Zr9Xw4Lm8Nv3Bt6Yc1D","v":1} and {"a":[{"s":"…"}]}: a long varied string anywhere inside
    [`session=${Buffer.from('{"id":"k7Qp2Zr9Xw4Lm8Nv3Bt6Yc1D","v":1}').toString('base64url')}`, 'session=[GENERIC_API_KEY_1]'],
    [`"token": "${Buffer.from('{"a":[{"s":"Q9w8E7r6T5y4U3i2O1p0AsDf"}]}').toString('base64')}"`, '"token": "[GENERIC_API_KEY_1]"'],
  ])('masks %j', (text, masked) => {
    expect(mask(text)).toBe(masked);
  });

  it.each([
    '{"page":2,"after":"12345678"}', '{"offset":100,"limit":100}', '{"last_id":"ord_00000000000000012345","dir":"asc"}', '{"ts":"2026-12-01T10:00:00Z","seq":[1,2,3]}', '[{"k":"aaaaaaaaaaaaaaaaaaaaaaaaa"}]',
  ])('keeps the cursor %s readable (no long varied string in it)', (json) => {
    const cursor = Buffer.from(json).toString('base64');
    expect(isEncodedCursor(cursor)).toBe(true);
    expect(mask(`next_token=${cursor} token=${cursor}`)).toBe(`next_token=${cursor} token=${cursor}`);
  });
});

describe('flag names and session ids the candidate search reads as the detectors do (issue 20)', () => {
  it.each([
    ['run --' + 'a'.repeat(54) + 'password hunter2xyz', [[69, 79, 'PASSWORD']]],
    ['run --' + 'a'.repeat(53) + 'password hunter2xyz', [[68, 78, 'PASSWORD']]],
    ['run --' + 'a'.repeat(55) + 'password hunter2xyz', []],
    ['SESSION__ID=Abc123def456ghi789', [[12, 30, 'GENERIC_API_KEY']]],
    ['session.-_id: "Abc123def456ghi789"', [[15, 33, 'GENERIC_API_KEY']]],
    ['x=1 DB_PASSWORD2=hunter2xyz', [[17, 27, 'PASSWORD']]],
    ['T10:00:00 d10:x password2_v4=hunter2xyz', [[29, 39, 'PASSWORD']]],
  ])('%j', (text, expected) => {
    const found = (every: boolean): unknown[] => scan(text, ALL, 'US', every).map((d) => [d.start, d.end, d.type]);
    expect(found(true)).toEqual(expected);
    expect(found(false)).toEqual(expected);
  });
});

describe('runs of keyed anchors are read once (issue 20)', () => {
  const work = (text: string): number => {
    keyedWork.chars = 0;
    scan(text, ALL);
    return keyedWork.chars;
  };
  const units = ['token=', 'sig=', 'auth=', 'secret:', 'session=', 'password=', 'api_key: ', '--token ', '"--token",', 'token="', "token='", '"token":"x', '\\"secret\\": \\"x', 'x-api-key: Bearer '];
  it.each(units)('%j repeated: characters read as values grow with the input, at most twice its length', (unit) => {
    const text = (size: number): string => unit.repeat(Math.ceil(size / unit.length));
    const small = work(text(65_536));
    const large = work(text(262_144));
    expect(small).toBeGreaterThan(0);
    expect(large).toBeLessThanOrEqual(2 * 262_144);
    expect(large / small).toBeLessThan(4.2);
  });

  it('still reads a key after a value that is not a secret, and the flag after a flag', () => {
    expect(mask('token=short password=hunter2xyz')).toBe('token=short password=[PASSWORD_1]');
    expect(mask('["--token", "--password", "hunter2xyz"]')).toBe('["--token", "--password", "[PASSWORD_1]"]');
    expect(mask('app --token --api-key Zx9Qw8Er7Ty6Ui5Op4As3Df2')).toBe('app --token --api-key [GENERIC_API_KEY_1]');
    expect(mask('Authorization: "AWS4-HMAC-SHA256 Credential=x/20261201/us-east-1/s3/aws4_request, Signature=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"')).toBe(
      'Authorization: "AWS4-HMAC-SHA256 Credential=x/20261201/us-east-1/s3/aws4_request, Signature=[GENERIC_API_KEY_1]"',
    );
  });

  it('judges a long value by its first 256 characters', () => {
    const varied = `${V}${'Qw8Er7Ty6Ui5Op4As3Df2Zx9'.repeat(10)}`;
    expect(mask(`token=${varied}${'a'.repeat(3000)}`)).toBe('token=[GENERIC_API_KEY_1]');
    expect(mask(`token=${'ab'.repeat(200)}${varied}`)).toBe(`token=${'ab'.repeat(200)}${varied}`);
  });
});
