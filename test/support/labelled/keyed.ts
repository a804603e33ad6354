/**
 * Labelled masking cases (issue 20): secrets found by the key, column or header they stand under: AWS secret keys, passwords (not references), opaque tokens, SSNs, across the surfaces real systems write (request and application
 * logs, CSV exports, SQL rows, config files, Cloud Logging entries).
 *
 * Span conventions: the value alone, never its quotes (also when the quotes are escaped once or twice
 * inside a JSON string); for `Authorization: Basic|Bearer …` the credential after the scheme word; for a
 * CSV cell the cell's content. Every value is invented.
 */
import { ALNUM, chars, DIGITS, HEX, int, LOWER, pick, rng, sample, UPPER, type Piece, type Rand, type Sample } from '../masking-labelled.js';

type Labelled = readonly ['AWS_SECRET_KEY' | 'PASSWORD' | 'GENERIC_API_KEY' | 'US_SSN', string];

// ---------- values ----------

/** 40 characters of base64 with both cases, as AWS issues them. */
function awsSecret(r: Rand): string {
  const body = chars(r, `${ALNUM}/+`, 38);
  return `${chars(r, UPPER, 1)}${body.slice(0, 19)}${chars(r, LOWER, 1)}${body.slice(19)}`;
}

const accessKeyId = (r: Rand): string => `${pick(r, ['AKIA', 'ASIA'])}${chars(r, UPPER + DIGITS, 16)}`;

const PASSWORD_CHARS = `${ALNUM}!#%^*-_+.~`;

/** A password as people and generators choose them (never a placeholder word, never only '*'). */
function password(r: Rand): string {
  return pick<() => string>(r, [
    () => `${chars(r, ALNUM, 6 + int(r, 10))}${pick(r, ['!', '#', '%', '-', '_', '.', '^', '~'])}${chars(r, DIGITS, 1 + int(r, 3))}`,
    () => `${pick(r, ['Summer', 'Winter', 'Blue', 'Horse', 'Tiger', 'Maple'])}${pick(r, ['', '_', '-', '.'])}${1990 + int(r, 40)}${pick(r, ['!', '#', ''])}`,
    () => chars(r, PASSWORD_CHARS, 12 + int(r, 20)),
    () => chars(r, ALNUM, 20 + int(r, 12)),
    () => `${chars(r, LOWER, 4)}${int(r, 10)}${chars(r, LOWER, 4)}`,
  ])();
}

/** A password that may hold a space (only where the syntax quotes it). */
const quotedPassword = (r: Rand): string => (r() < 0.3 ? `${pick(r, ['correct', 'purple', 'quiet'])} ${pick(r, ['horse', 'monkey', 'river'])} ${chars(r, DIGITS, 2)}` : password(r));

function apiToken(r: Rand): string {
  return pick<() => string>(r, [
    () => chars(r, ALNUM, 24 + int(r, 24)),
    () => chars(r, HEX, 32),
    () => `${chars(r, ALNUM, 20 + int(r, 10))}${chars(r, `${ALNUM}-_`, 10)}`,
    () => `${chars(r, `${ALNUM}+/`, 42)}==`,
    () => `${pick(r, ['key', 'tok', 'ak', 'pk'])}-${chars(r, ALNUM, 24)}`,
  ])();
}

const basicCredential = (r: Rand): string => Buffer.from(`${pick(r, ['svc', 'api', 'deploy', 'grafana'])}-${chars(r, LOWER, 4)}:${password(r)}`).toString('base64');

function ssn(r: Rand, style: 'dash' | 'space' | 'bare'): string {
  const area = String(pick(r, [1 + int(r, 664), 667 + int(r, 232)])).padStart(3, '0');
  const group = String(1 + int(r, 99)).padStart(2, '0');
  const serial = String(1 + int(r, 9999)).padStart(4, '0');
  return style === 'dash' ? `${area}-${group}-${serial}` : style === 'space' ? `${area} ${group} ${serial}` : `${area}${group}${serial}`;
}

const ts = (r: Rand): string => `2026-12-${String(1 + int(r, 28)).padStart(2, '0')}T${String(int(r, 24)).padStart(2, '0')}:${String(int(r, 60)).padStart(2, '0')}:${String(int(r, 60)).padStart(2, '0')}.${chars(r, DIGITS, 3)}Z`;
const reqId = (r: Rand): string => chars(r, HEX, 16);
const uuid = (r: Rand): string => {
  const h = chars(r, HEX, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20)}`;
};

// ---------- surfaces: a key and a labelled value in the syntax of one kind of text ----------

/** One level of JSON string escaping of a piece list (only the literal parts hold quotes). */
const escapeOnce = (pieces: readonly Piece[]): Piece[] => pieces.map((p) => (typeof p === 'string' ? JSON.stringify(p).slice(1, -1) : p));

/** `pieces` as the textPayload of a Cloud Logging entry (escaped once), or inside a JSON message in it (twice). */
function cloudLogging(r: Rand, pieces: readonly Piece[]): Piece[] {
  const head = `{"insertId":"${chars(r, LOWER + DIGITS, 14)}","resource":{"type":"${pick(r, ['k8s_container', 'cloud_run_revision', 'gce_instance'])}"},"severity":"${pick(r, ['INFO', 'DEBUG', 'WARNING'])}","timestamp":"${ts(r)}",`;
  if (r() < 0.5) return [`${head}"textPayload":"`, ...escapeOnce(pieces), '"}'];
  return [`${head}"jsonPayload":{"message":"`, ...escapeOnce([`{"event":"config","data":"`, ...escapeOnce(pieces), '"}']), '"}}'];
}

/** key → value in one syntax; `spaced` values need quotes. */
type Syntax = (r: Rand, key: string, value: Labelled) => Piece[];

const SYNTAXES: Readonly<Record<string, Syntax>> = {
  env: (r, k, v) => [`${pick(r, ['APP_ENV=production\n', 'NODE_ENV=production\nLOG_LEVEL=info\n', ''])}${k}=`, v, pick(r, ['\n', '\nPORT=8080\n', ''])],
  export: (r, k, v) => {
    const q = pick(r, ['', '"', "'"]);
    return [`#!/bin/sh\nexport ${k}=${q}`, v, `${q}\n${pick(r, ['exec node server.js', 'terraform apply', 'aws s3 ls'])}\n`];
  },
  yaml: (r, k, v) => {
    const q = pick(r, ['', '"', "'"]);
    return [`${pick(r, ['database:\n', 'spec:\n  config:\n', 'credentials:\n'])}  ${k}: ${q}`, v, `${q}\n  ${pick(r, ['timeout: 30', 'region: us-east-1', 'enabled: true'])}\n`];
  },
  json: (r, k, v) => (r() < 0.5 ? [`{"id":${int(r, 9999)},"${k}":"`, v, `","region":"us-east-1"}`] : [`{\n  "name": "svc-${chars(r, LOWER, 5)}",\n  "${k}": "`, v, '",\n  "enabled": true\n}']),
  ini: (r, k, v) => [`[${pick(r, ['default', 'profile prod', 'client', 'database'])}]\n${pick(r, ['region = us-east-1\n', 'host = db.internal\n', ''])}${k}${pick(r, [' = ', '=', ' =  '])}`, v, '\n'],
  properties: (r, k, v) => [`${pick(r, ['spring.datasource.url=jdbc:postgresql://db:5432/app\n', 'app.name=billing\n'])}${pick(r, ['app.', 'spring.datasource.', ''])}${k}${pick(r, ['=', ': ', ' = '])}`, v, '\nserver.port=8080\n'],
  log: (r, k, v) => [`${ts(r)} ${pick(r, ['DEBUG', 'INFO', 'WARN'])} [${pick(r, ['main', 'worker-3', 'http-nio-8080-exec-2'])}] ${pick(r, ['loaded settings', 'connecting', 'config'])} ${k}=`, v, ` request_id=${reqId(r)}`],
  jsonLog: (r, k, v) => [`{"level":"${pick(r, ['info', 'debug'])}","ts":"${ts(r)}","msg":"${pick(r, ['settings loaded', 'client created'])}","${k}":"`, v, `","trace":"${reqId(r)}"}`],
  sqlRow: (r, k, v) => [`${int(r, 99999)}\t${pick(r, ['billing', 'etl', 'ci'])}\t{"${k}": "`, v, `", "rotated": "2026-11-0${1 + int(r, 9)}"}`],
  cloudLogging: (r, k, v) => cloudLogging(r, [`${pick(r, ['starting with ', 'env: ', ''])}${k}=`, v, ` pid=${int(r, 99999)}`]),
  cloudLoggingJson: (r, k, v) => cloudLogging(r, [`{"${k}": "`, v, '"}']),
};

/** A CSV export with a header naming the column. */
function csv(r: Rand, header: string, value: () => Labelled, other = (): string => `${pick(r, ['ana', 'ben', 'chen'])}-${chars(r, LOWER, 3)}`): Piece[] {
  const rows = 1 + int(r, 3);
  const pieces: Piece[] = [`id,user,${header},created\n`];
  for (let i = 0; i < rows; i++) pieces.push(`${int(r, 9999)},${other()},`, value(), `,2026-11-${String(10 + i).padStart(2, '0')}\n`);
  return pieces;
}

// ---------- class 1: AWS secret access keys ----------

const AWS_KEYS = ['AWS_SECRET_ACCESS_KEY', 'aws_secret_access_key', 'secretAccessKey', 'SecretAccessKey', 'MY_APP_AWS_SECRET_ACCESS_KEY', 'awsSecretAccessKey', 'AWS_SECRET_KEY', 'secret_access_key', 'aws.secretAccessKey', 'BACKUP_AWS_SECRET_ACCESS_KEY'];

function awsCase(r: Rand): Piece[] {
  const v: Labelled = ['AWS_SECRET_KEY', awsSecret(r)];
  const key = pick(r, AWS_KEYS);
  const id = (): Piece => ['AWS_ACCESS_KEY', accessKeyId(r)] as const;
  return pick<() => Piece[]>(r, [
    ...Object.values(SYNTAXES).map((s) => () => s(r, key, v)),
    () => ['[default]\naws_access_key_id = ', id(), '\naws_secret_access_key = ', v, '\n'],
    () => [`aws configure ${pick(r, ['--profile ci ', ''])}--aws-secret-access-key `, v, ' --region eu-west-1'],
    () => [`deploy.sh --aws-secret-access-key=`, v, ' --bucket assets'],
    () => [`{"Credentials":{"AccessKeyId":"`, id(), '","SecretAccessKey":"', v, `","SessionToken":"`, ['GENERIC_API_KEY', chars(r, `${ALNUM}/+`, 120)], '","Expiration":"2026-12-01T00:00:00Z"}}'],
    () => [`{"type":"aws_iam_access_key","name":"ci","instances":[{"attributes":{"id":"`, id(), '","secret":"', v, '","status":"Active","user":"ci"}}]}'],
    () => [`"attributes": {\n  "access_key": "`, id(), '",\n  "secret_key": "', v, '",\n  "region": "us-east-1"\n}'],
    () => csv(r, pick(r, ['aws_secret_access_key', 'Secret access key', 'secret_access_key']), () => ['AWS_SECRET_KEY', awsSecret(r)]),
    () => ['User name,Access key ID,Secret access key\nci-bot,', id(), ',', v, '\n'],
  ])();
}

// ---------- class 2: passwords as values ----------

const PASSWORD_KEYS = ['password', 'PASSWORD', 'db_password', 'DB_PASSWORD', 'passwd', 'pwd', 'PGPASSWORD', 'MYSQL_PWD', 'adminPassword', 'userPassword', 'smtp_pass', 'redis.password', 'POSTGRES_PASSWORD', 'keystore_password', 'passphrase', 'Password', 'ses_smtp_password_v4', 'new_password', 'RABBITMQ_DEFAULT_PASS'];

function passwordCase(r: Rand): Piece[] {
  const plain = (): Labelled => ['PASSWORD', password(r)];
  const v = plain();
  const key = pick(r, PASSWORD_KEYS);
  return pick<() => Piece[]>(r, [
    ...Object.values(SYNTAXES).map((s) => () => s(r, key, v)),
    () => ['jdbc:sqlserver://db.internal:1433;databaseName=shop;user=app;password=', v, ';encrypt=true'],
    () => ['jdbc:mysql://db.internal:3306/shop?user=app&password=', v, '&useSSL=true'],
    () => ['Driver={ODBC Driver 18 for SQL Server};Server=tcp:db.internal,1433;Uid=app;Pwd=', v, ';Encrypt=yes;'],
    () => ['Server=db.internal;Database=shop;User Id=app;Password=', v, ';TrustServerCertificate=true'],
    () => ['host=db.internal port=5432 dbname=shop user=app password=', v, ' sslmode=require'],
    () => [`PGPASSWORD=`, v, ' psql -h db.internal -U app shop'],
    () => [`${pick(r, ['mysqladmin', 'app migrate', 'keytool -importkeystore'])} --${pick(r, ['password', 'db-password', 'store-password'])} `, v, ' --verbose'],
    () => [`${pick(r, ['mysql -u root', 'redis-cli', 'app'])} --${pick(r, ['password', 'db-password'])}=`, v, ' -e "SELECT 1"'],
    () => [`args: ["--db-password", "`, v, '", "--port", "5432"]'],
    () => ['POST /login HTTP/1.1 body: username=ana&password=', v, '&remember=1'],
    () => ['{"user":"ana","password":"', ['PASSWORD', quotedPassword(r)], '","remember":true}'],
    () => ['smtp:\n  password: "', ['PASSWORD', quotedPassword(r)], '"\n'],
    () => csv(r, pick(r, ['password', 'Password', 'db_password']), plain),
    () => [`${int(r, 9999)}\t${pick(r, ['ana', 'ben'])}\tUser{id=${int(r, 999)}, username='ana', password='`, v, "', active=true}"],
  ])();
}

// ---------- class 3: opaque keys and tokens under key-like names and headers ----------

const TOKEN_KEYS = ['api_key', 'apiKey', 'API_KEY', 'x-api-key', 'access_token', 'client_secret', 'auth_token', 'SECRET_TOKEN', 'refresh_token', 'clientSecret', 'STRIPE_WEBHOOK_SECRET', 'mailgun_api_key', 'encryption_key', 'signing_key', 'ocp-apim-subscription-key', 'private_token', 'session_token', 'app_secret'];

function tokenCase(r: Rand): Piece[] {
  const v: Labelled = ['GENERIC_API_KEY', apiToken(r)];
  const key = pick(r, TOKEN_KEYS);
  return pick<() => Piece[]>(r, [
    ...Object.values(SYNTAXES).map((s) => () => s(r, key, v)),
    () => [`${ts(r)} GET /v1/orders HTTP/1.1 ${pick(r, ['x-api-key', 'X-API-Key', 'api-key'])}: `, v, ` user-agent: curl/8.5`],
    () => [`${pick(r, ['Authorization', 'authorization', 'Proxy-Authorization'])}: Bearer `, v, ''],
    () => [`${pick(r, ['Authorization', 'authorization'])}: Basic `, ['GENERIC_API_KEY', basicCredential(r)], ''],
    () => [`{"headers":{"${pick(r, ['Authorization', 'authorization'])}":"${pick(r, ['Bearer', 'Basic'])} `, v, `","accept":"application/json"}}`],
    () => [`Cookie: ${pick(r, ['theme=dark; ', ''])}${pick(r, ['session', 'sid', 'sessionid', 'connect.sid', 'JSESSIONID', '_app_session'])}=`, ['GENERIC_API_KEY', chars(r, `${ALNUM}-_`, 24 + int(r, 20))], pick(r, ['; lang=en', ''])],
    () => [`Set-Cookie: ${pick(r, ['session', '__Secure-next-auth.session-token', 'PHPSESSID', 'sid'])}=`, ['GENERIC_API_KEY', chars(r, `${ALNUM}-_`, 26 + int(r, 20))], '; Path=/; HttpOnly; Secure; SameSite=Lax'],
    () => [`GET https://storage.googleapis.com/bucket/report.csv?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Date=20261201T000000Z&X-Goog-Expires=900&X-Goog-SignedHeaders=host&X-Goog-Signature=`, ['GENERIC_API_KEY', chars(r, HEX, 256)], ' 200'],
    () => ['https://bucket.s3.amazonaws.com/a.zip?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=3600&X-Amz-Signature=', ['GENERIC_API_KEY', chars(r, HEX, 64)], ''],
    () => ['https://acct.blob.core.windows.net/c/b.txt?sv=2022-11-02&se=2026-12-01&sr=b&sp=r&sig=', ['GENERIC_API_KEY', `${chars(r, ALNUM, 40)}%2B${chars(r, ALNUM, 8)}%3D`], ''],
    () => [`curl -H "x-api-key: `, v, '" https://api.example.com/v2/items'],
    () => csv(r, pick(r, ['api_key', 'access_token', 'client_secret']), () => ['GENERIC_API_KEY', apiToken(r)]),
  ])();
}

// ---------- class 4: SSNs under ssn-like keys and columns ----------

const SSN_KEYS = ['ssn', 'SSN', 'social_security_number', 'customer_ssn', 'socialSecurityNumber', 'SocialSecurityNumber', 'applicant.ssn'];

function ssnCase(r: Rand): Piece[] {
  const style = pick(r, ['dash', 'space', 'bare'] as const);
  const v: Labelled = ['US_SSN', ssn(r, style)];
  const key = pick(r, SSN_KEYS);
  const quotedOnly = style === 'space';
  return pick<() => Piece[]>(r, [
    () => [`{"name":"${pick(r, ['Ana', 'Ben'])}","${key}":"`, v, '","dob":"1980-01-01"}'],
    () => [`${key}: "`, v, '"\n'],
    () => (quotedOnly ? [`${key}="`, v, '"'] : [`${key}=`, v, ' status=verified']),
    () => (quotedOnly ? [`${key}: `, v, '\n'] : [`${ts(r)} INFO kyc ${key}=`, v, ` applicant=${int(r, 99999)}`]),
    () => cloudLogging(r, [`{"${key}": "`, v, '"}']),
    () => csv(r, pick(r, ['ssn', 'SSN', 'Social Security Number', 'social_security_number']), () => ['US_SSN', ssn(r, pick(r, ['dash', 'space', 'bare'] as const))]),
    () => [`${int(r, 9999)}\t{"${key}": "`, v, '", "state": "CA"}'],
  ])();
}

// ---------- negatives: look-alikes and references that stay readable ----------

const NEGATIVES: readonly ((r: Rand) => string)[] = [
  // references to secrets, empty and already masked values
  (r) => `${pick(r, PASSWORD_KEYS)}=${pick(r, ['${DB_PASSWORD}', '$DB_PASSWORD', '', '****', '********', '<redacted>', '[REDACTED]', 'null', '[PASSWORD_1]', '[FILTERED]'])}\n`,
  (r) => `password: ${pick(r, ['"{{ .Values.db.password }}"', '{{ .Values.db.password }}', '"vault:secret/data/db#password"', 'vault:secret/data/app#pwd', 'env:DB_PASSWORD', '""', "''", '~', 'null', '"${DB_PASSWORD}"', '!vault |'])}\n`,
  () => 'env:\n  - name: DB_PASSWORD\n    valueFrom:\n      secretKeyRef:\n        name: db-credentials\n        key: password\n',
  (r) => `{"${pick(r, ['password', 'api_key', 'client_secret', 'aws_secret_access_key'])}": ${pick(r, ['null', '""', '"****"', '"<redacted>"', '"[REDACTED]"', '"${SECRET}"', '"[GENERIC_API_KEY_2]"'])}}`,
  (r) => `export AWS_SECRET_ACCESS_KEY=${pick(r, ['"$(vault kv get -field=secret aws/ci)"', '${AWS_SECRET}', '$AWS_SECRET', '""'])}`,
  // keys that mention secrets but hold none
  (r) => pick(r, [`password_length=${8 + int(r, 20)}`, `password_min_length: ${8 + int(r, 8)}`, 'password_required=true', `"passwordLastChanged": "2026-11-0${1 + int(r, 9)}"`, 'password_policy: strong', `secret_name: db-credentials-${chars(r, LOWER, 4)}`, `"secretRef": "projects/p/secrets/db/versions/${1 + int(r, 9)}"`, `token_type=Bearer`, `"expires_in": ${int(r, 9999)}`, `max_tokens=${int(r, 4096)}`]),
  // shell working directory, not a password
  (r) => `PWD=/home/${pick(r, ['app', 'ana', 'runner'])}/${pick(r, ['src', 'work', 'deploy'])}\nOLDPWD=/home/app\n`,
  // pagination cursors and ids under token-like names
  (r) => `{"next_page_token": "${Buffer.from(JSON.stringify({ page: 2 + int(r, 50), after: chars(r, DIGITS, 8) })).toString('base64url')}"}`,
  (r) => `GET /v1/items?cursor=${Buffer.from(JSON.stringify({ id: int(r, 1e6), ts: 1_700_000_000 + int(r, 1e6) })).toString('base64')} 200`,
  (r) => `{"token": "${Buffer.from(JSON.stringify({ offset: int(r, 1e5), limit: 100 })).toString('base64')}", "items": []}`,
  (r) => `pageToken=${Buffer.from(JSON.stringify({ last: uuid(r) })).toString('base64url')}&pageSize=50`,
  (r) => pick(r, [`request_id=${uuid(r)}`, `"x-request-id": "${uuid(r)}"`, `trace_id=${chars(r, HEX, 32)}`, `idempotency_key: ${uuid(r)}`, `session_count=${int(r, 99)}`]),
  // hashes under hash-like names
  (r) => pick(r, [`etag: "${chars(r, HEX, 32)}"`, `commit=${chars(r, HEX, 40)}`, `"sha256": "${chars(r, HEX, 64)}"`, `checksum: ${chars(r, HEX, 32)}`, `"hash":"${chars(r, HEX, 40)}"`, `x-goog-hash: md5=${Buffer.from(chars(r, HEX, 16)).toString('base64')}`]),
  // short, low-entropy or ordinary values under token-like names
  (r) => pick(r, ['session=1', 'api_key=', 'token=true', `"access_token": ""`, 'sid=en', `auth_token: none`, `secret: false`, 'Authorization: Bearer', 'Authorization: Basic ****', 'Authorization: Bearer [GENERIC_API_KEY_1]']),
  // SSN look-alikes: invalid ranges, other keys, partial
  (r) => pick(r, [`ssn=000-${String(10 + int(r, 89))}-${String(1000 + int(r, 8999))}`, `"ssn": "666${chars(r, DIGITS, 2)}${String(1000 + int(r, 8999))}"`, `ssn: 9${chars(r, DIGITS, 2)} 12 3456`, `ssn_last4=${chars(r, DIGITS, 4)}`, `"ssn": "***-**-${chars(r, DIGITS, 4)}"`, `SSN: ${String(100 + int(r, 500))}-00-${String(1000 + int(r, 8999))}`, `ssn=${String(100 + int(r, 500))}${String(10 + int(r, 89))}0000`]),
  (r) => `id,user,ssn_last4,created\n${int(r, 999)},ana,${chars(r, DIGITS, 4)},2026-11-10\n`,
  (r) => `id,user,password_changed,created\n${int(r, 999)},ana,2026-11-0${1 + int(r, 9)},2026-11-10\n`,
  // prose that mentions the words
  (r) => pick(r, ['Enter your password to continue', 'Forgot password? Reset it here', 'rotate the AWS secret access key every 90 days', 'invalid api key supplied', 'the session expired, please sign in']),
];

// ---------- more syntaxes (their own stream, so the cases above stay the same) ----------

function moreCase(r: Rand): Piece[] {
  const pw = (): Labelled => ['PASSWORD', password(r)];
  return pick<() => Piece[]>(r, [
    () => [`$config = ["${pick(r, ['password', 'db_pass', 'smtp_password'])}" => "`, pw(), '"];'],
    () => [`${pick(r, ['DB_PASSWORD', 'ADMIN_PASS'])} := `, pw(), '\n'],
    () => [`${ts(r)} level=info msg="login" user=${pick(r, ['ana', 'ben'])} pass=`, ['PASSWORD', `${chars(r, LOWER, 4)}${chars(r, DIGITS, 3)}${chars(r, UPPER, 2)}`], ' host=db'],
    () => [`${pick(r, ['client_secret', 'api_key', 'app_secret'])}=`, ['GENERIC_API_KEY', `${chars(r, LOWER, 4 + int(r, 4))}${chars(r, DIGITS, 2 + int(r, 3))}${chars(r, LOWER, 2)}`], '\n'],
    () => [`smtp:\n  ${pick(r, ['password', 'pass'])}: ${pick(r, ['|', '>-', '|-', '>'])}\n    `, pw(), '\n  port: 587\n'],
    () => [`Authorization: AWS4-HMAC-SHA256 Credential=`, ['AWS_ACCESS_KEY', accessKeyId(r)], `/20261201/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=`, ['GENERIC_API_KEY', chars(r, HEX, 64)], ''],
    () => [`{"name":"${pick(r, ['Ana', 'Ben'])}","${pick(r, ['SSN', 'ssn'])}":`, ['US_SSN', ssn(r, 'bare')], ',"state":"CA"}'],
    () => [`${pick(r, ['ssn_number', 'SSNNumber'])}=`, ['US_SSN', ssn(r, pick(r, ['dash', 'bare'] as const))], '\n'],
  ])();
}

const MORE_NEGATIVES: readonly ((r: Rand) => string)[] = [
  (r) => `AWS_SECRET_ACCESS_KEY: ${pick(r, ['"${{ secrets.AWS_SECRET_ACCESS_KEY }}"', '${{ secrets.AWS_SECRET_ACCESS_KEY }}'])}`,
  (r) => `${pick(r, ['password', 'api_key'])}${pick(r, ['=%s', ' = ?', '=%d'])}`,
  (r) => `pass=${int(r, 99)} fail=${int(r, 9)} skip=0`,
  (r) => `${pick(r, ['token', 'secret', 'auth'])}: ${pick(r, ['required', 'optional', 'enabled', 'disabled'])}`,
  (r) => `${pick(r, ['password', 'secret_key'])}: ENC[AES256_GCM,data:${chars(r, ALNUM, 12)},iv:${chars(r, ALNUM, 8)},type:str]`,
];

// ---------- names a review found unread: compounds, credential(s), numbered passwords, long flags ----------

/** An API key that is base64 of JSON holding a long random string (Grafana's `{"k":…,"n":…,"id":…}`). */
const jsonKey = (r: Rand): string => Buffer.from(JSON.stringify({ k: chars(r, ALNUM, 32), n: pick(r, ['deploy', 'ci', 'viewer']), id: 1 + int(r, 9) })).toString(pick(r, ['base64', 'base64url'] as const)).replace(/=+$/, '');

function namesCase(r: Rand): Piece[] {
  const token = (): Labelled => ['GENERIC_API_KEY', apiToken(r)];
  const pw = (): Labelled => ['PASSWORD', password(r)];
  const syntax = (): Syntax => pick(r, Object.values(SYNTAXES));
  return pick<() => Piece[]>(r, [
    () => syntax()(r, pick(r, ['clientsecret', 'CLIENTSECRET', 'appsecret', 'privatetoken', 'apitoken', 'APITOKEN', 'signingkey', 'authtoken', 'csrftoken', 'webhooksecret']), token()),
    () => syntax()(r, pick(r, ['credential', 'credentials', 'DB_CREDENTIAL', 'serviceCredential', 'client_credentials', 'X-Goog-Credential']), token()),
    () => syntax()(r, pick(r, ['password2', 'DB_PASSWORD2', 'userPassword12', 'passwd3', 'ADMIN_PASSWORD1']), pw()),
    () => syntax()(r, pick(r, ['SESSION__ID', 'session.id', 'Session-_Id', 'session__id']), ['GENERIC_API_KEY', chars(r, ALNUM, 24 + int(r, 8))]),
    () => syntax()(r, pick(r, ['GRAFANA_API_KEY', 'api_key', 'x-api-key', 'token', 'service_account_token']), ['GENERIC_API_KEY', jsonKey(r)]),
    () => [`${ts(r)} GET /api/dashboards HTTP/1.1 ${pick(r, ['x-api-key', 'X-Api-Key'])}: `, ['GENERIC_API_KEY', jsonKey(r)], ' 200'],
    () => [`${pick(r, ['tool run', 'deploy.sh'])} --${chars(r, LOWER, 40 + int(r, 14))}-password `, pw(), ' --verbose'],
    () => [`["--${chars(r, LOWER, 30 + int(r, 20))}-token", "`, token(), '"]'],
    () => (r() < 0.5 ? csv(r, pick(r, ['clientsecret', 'credential', 'privatetoken']), token) : csv(r, pick(r, ['password2', 'DB_PASSWORD2']), pw)),
  ])();
}

/** Signed-request scopes and cursors that stay readable (the key ids and e-mails in a scope are another group's). */
const NAMES_NEGATIVES: readonly ((r: Rand) => string)[] = [
  (r) => `Credential=${pick(r, ['x', 'ci-bot', 'deploy'])}/202612${String(1 + int(r, 28)).padStart(2, '0')}/${pick(r, ['us-east-1', 'eu-west-1', 'auto'])}/${pick(r, ['s3', 'sts', 'storage'])}/${pick(r, ['aws4_request', 'goog4_request'])}, SignedHeaders=host`,
  (r) => `{"credential":"${pick(r, ['ci', 'build'])}\\/202612${String(1 + int(r, 28)).padStart(2, '0')}\\/us-east-1\\/s3\\/aws4_request"}`,
  (r) => `next_token=${Buffer.from(JSON.stringify({ page: 2 + int(r, 50), after: chars(r, DIGITS, 8), dir: 'asc' })).toString('base64')}`,
  (r) => `{"token": "${Buffer.from(JSON.stringify({ last_id: int(r, 1e9), ts: `2026-12-${String(1 + int(r, 28)).padStart(2, '0')}T10:00:00Z` })).toString('base64')}"}`,
  (r) => `pagetoken=${chars(r, ALNUM, 24)}`,
  (r) => `password${1000 + int(r, 8000)}=${pick(r, ['yes', 'enabled'])}`,
];

/** The cases of this group, generated from `seed` (the same cases on every run). */
export function keyedSamples(seed: number): Sample[] {
  const r = rng(seed);
  const out: Sample[] = [];
  for (let i = 0; i < 400; i++) out.push(sample('AWS_SECRET_KEY', awsCase(r)));
  for (let i = 0; i < 400; i++) out.push(sample('PASSWORD', passwordCase(r)));
  for (let i = 0; i < 400; i++) out.push(sample('GENERIC_API_KEY', tokenCase(r)));
  for (let i = 0; i < 250; i++) out.push(sample('US_SSN', ssnCase(r)));
  for (let i = 0; i < 400; i++) out.push(sample('negative:keyed', [pick(r, NEGATIVES)(r)]));
  const more = rng(seed + 1);
  for (let i = 0; i < 200; i++) out.push(sample('keyed:more syntaxes', moreCase(more)));
  for (let i = 0; i < 100; i++) out.push(sample('negative:keyed', [pick(more, MORE_NEGATIVES)(more)]));
  const names = rng(seed + 2);
  for (let i = 0; i < 300; i++) out.push(sample('keyed:names', namesCase(names)));
  for (let i = 0; i < 100; i++) out.push(sample('negative:keyed', [pick(names, NAMES_NEGATIVES)(names)]));
  return out;
}
