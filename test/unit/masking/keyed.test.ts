import { describe, expect, it } from 'vitest';
import { DETECTOR_NAMES } from '../../../src/masking/detectors.js';
import { keyKinds, K_AWS, K_PASSWORD, K_SECRET, K_SSN } from '../../../src/masking/key-names.js';
import { Masker, MaskContext } from '../../../src/masking/masker.js';

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

  it.each(['password_length', 'passwordless', 'next_page_token', 'NextToken', 'pageToken', 'idempotency_key', 'public_key', 'private_key_id', 'secretKeyRef', 'secret_name', 'token_type', 'max_tokens', 'ssn_last4', 'X-Goog-Credential', 'bypass', 'password_'])(
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
