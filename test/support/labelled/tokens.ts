/**
 * Labelled masking cases (issue 20): secrets found by their own shape: prefixed tokens, PEM blocks,
 * URL-encoded and mailto emails, URL credentials, Slack tokens and webhooks, across the surfaces real
 * systems write (request and application logs, CSV exports, SQL rows, config files, Cloud Logging entries).
 * Every value is made up; the negatives are look-alikes that must stay readable.
 */
import { crc32 } from 'node:zlib';
import type { DetectorName } from '../../../src/masking/detectors.js';
import { ALNUM, base62, chars, DIGITS, HEX, int, LOWER, pick, rng, sample, UPPER, type Piece, type Rand, type Sample } from '../masking-labelled.js';

// ---------- how a value is written on each surface ----------

/** A value as a surface writes it: `json` once escaped in a JSON string, `json2` in a JSON string inside one. */
type Escape = 'raw' | 'json' | 'json2';
const escape = (value: string, how: Escape): string => {
  if (how === 'raw') return value;
  const once = JSON.stringify(value).slice(1, -1);
  return how === 'json' ? once : JSON.stringify(once).slice(1, -1);
};

const ts = (r: Rand): string => `2026-12-${String(1 + int(r, 28)).padStart(2, '0')}T${String(int(r, 24)).padStart(2, '0')}:${String(int(r, 60)).padStart(2, '0')}:${String(int(r, 60)).padStart(2, '0')}.${String(int(r, 1000)).padStart(3, '0')}Z`;
const sqlTs = (r: Rand): string => `2026-12-${String(1 + int(r, 28)).padStart(2, '0')} ${String(int(r, 24)).padStart(2, '0')}:${String(int(r, 60)).padStart(2, '0')}:00`;
const reqId = (r: Rand): string => chars(r, HEX, 16);
const uuid = (r: Rand): string => {
  const h = chars(r, HEX, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20)}`;
};
const service = (r: Rand): string => pick(r, ['billing-api', 'checkout', 'ingest-worker', 'deployer', 'notifier', 'ci-runner']);
const level = (r: Rand): string => pick(r, ['INFO', 'WARN', 'DEBUG', 'ERROR']);
const severity = (r: Rand): string => pick(r, ['INFO', 'WARNING', 'DEBUG', 'ERROR']);

/** `KEY_NAME` in the spelling a surface uses. */
const spell = (key: string, how: 'env' | 'snake' | 'camel' | 'dotted' | 'dashed'): string => {
  const words = key.toLowerCase().split('_');
  switch (how) {
    case 'env':
      return key.toUpperCase();
    case 'snake':
      return words.join('_');
    case 'camel':
      return words.map((w, i) => (i === 0 ? w : w.charAt(0).toUpperCase() + w.slice(1))).join('');
    case 'dotted':
      return words.join('.');
    case 'dashed':
      return words.join('-');
  }
};

/**
 * The value `[type, value]` under `key` on one surface: config files, CLI flags, CSV, SQL rows, logs and
 * Cloud Logging entries. The label is the value as written there (escaped where the surface escapes it).
 */
type Surface = (r: Rand, key: string, type: DetectorName, value: string) => Piece[];

const SURFACES: readonly Surface[] = [
  // config files
  (_, key, type, v) => [`${spell(key, 'env')}=`, [type, v], '\nLOG_LEVEL=info\n'],
  (_, key, type, v) => [`export ${spell(key, 'env')}="`, [type, v], '"\n'],
  (r, key, type, v) => [`${service(r)}:\n  env:\n    ${spell(key, 'snake')}: `, [type, v], '\n    region: europe-west1\n'],
  (r, key, type, v) => [`${spell(key, 'camel')}: "`, [type, v], `"\ntimeoutSeconds: ${int(r, 60)}\n`],
  (_, key, type, v) => ['{\n  "', spell(key, 'camel'), '": "', [type, escape(v, 'json')], '",\n  "enabled": true\n}'],
  (r, key, type, v) => [`[${pick(r, ['default', 'profile ci', 'prod'])}]\n${spell(key, 'snake')} = `, [type, v], '\n'],
  (_, key, type, v) => [`app.${spell(key, 'dotted')}=`, [type, v], '\napp.pool.size=10\n'],
  (r, key, type, v) => [
    `{"version": 4, "resources": [{"type": "${pick(r, ['google_secret_manager_secret_version', 'kubernetes_secret', 'null_resource'])}", "instances": [{"attributes": {"id": "${uuid(r)}", "${spell(key, 'snake')}": "`,
    [type, escape(v, 'json')],
    '"}}]}]}',
  ],
  (r, key, type, v) => [`${service(r)} --${spell(key, 'dashed')}=`, [type, v], ' --verbose'],
  (r, key, type, v) => [`$ ${service(r)} deploy --${spell(key, 'dashed')} `, [type, v], ` --project shop-prod-${int(r, 90)}`],
  // CSV export with a header, SQL rows
  (r, key, type, v) => [`id,name,${spell(key, 'snake')},created_at\n${int(r, 9000)},${service(r)},`, [type, v], `,${sqlTs(r)}\n`],
  (r, key, type, v) => [`INSERT INTO integrations (id, kind, ${spell(key, 'snake')}) VALUES (${int(r, 9000)}, '${service(r)}', '`, [type, v], "');"],
  (r, key, type, v) => [` ${int(r, 900)} | ${service(r)} | `, [type, v], ` | ${sqlTs(r)}`],
  // request logs: a query parameter, a header
  (r, key, type, v) => [
    ['IP_ADDRESS', `203.0.113.${1 + int(r, 254)}`],
    ` - - [${String(1 + int(r, 28)).padStart(2, '0')}/Dec/2026:10:${String(int(r, 60)).padStart(2, '0')}:07 +0000] "GET /v1/hooks?${spell(key, 'snake')}=`,
    [type, v],
    `&page=${1 + int(r, 9)} HTTP/1.1" ${pick(r, ['200', '401', '403'])} ${100 + int(r, 900)} "-" "curl/8.5.0"`,
  ],
  (r, _, type, v) => [`${ts(r)} DEBUG outgoing request headers: Authorization: ${pick(r, ['Bearer', 'token'])} `, [type, v], ` X-Request-Id: ${uuid(r)}`],
  // application logs, plain and JSON
  (r, key, type, v) => [`${ts(r)} ${level(r)} [${service(r)}] loaded ${spell(key, 'snake')}=`, [type, v], ` req=${reqId(r)}`],
  (r, _, type, v) => [`${ts(r)} ${level(r)} ${service(r)}: using credential `, [type, v], ` for upstream call (attempt ${1 + int(r, 3)})`],
  (r, key, type, v) => [`{"time":"${ts(r)}","level":"${level(r).toLowerCase()}","msg":"config loaded","${spell(key, 'camel')}":"`, [type, escape(v, 'json')], `","trace":"${reqId(r)}"}`],
  (r, _, type, v) => [`{"ts":"${ts(r)}","level":"error","msg":"request failed with `, [type, escape(v, 'json')], `","service":"${service(r)}"}`],
  // Cloud Logging entries: jsonPayload, and textPayload holding JSON text (escaped once more)
  (r, key, type, v) => [
    `{"insertId":"${chars(r, LOWER + DIGITS, 14)}","jsonPayload":{"message":"env dump","${spell(key, 'snake')}":"`,
    [type, escape(v, 'json')],
    `"},"resource":{"type":"cloud_run_revision"},"severity":"${severity(r)}","timestamp":"${ts(r)}"}`,
  ],
  (r, key, type, v) => [
    `{"insertId":"${chars(r, LOWER + DIGITS, 14)}","textPayload":"{\\"level\\":\\"info\\",\\"${spell(key, 'camel')}\\":\\"`,
    [type, escape(v, 'json2')],
    `\\"}","severity":"${severity(r)}","timestamp":"${ts(r)}"}`,
  ],
  (r, _, type, v) => [`{"insertId":"${chars(r, LOWER + DIGITS, 14)}","textPayload":"${ts(r)} startup: token `, [type, escape(v, 'json')], ` accepted","severity":"${severity(r)}"}`],
];

/** A value on a surface chosen at random. */
const somewhere = (r: Rand, key: string, type: DetectorName, value: string): Piece[] => pick(r, SURFACES)(r, key, type, value);

// ---------- 1. prefixed tokens, masked on their shape alone ----------


/** A classic GitHub token: its CRC32 checksum valid or not (a wrong checksum is no reason to let one through). */
function githubClassic(r: Rand): string {
  const body = chars(r, ALNUM, 30);
  const tail = r() < 0.5 ? base62(crc32(body), 6) : chars(r, ALNUM, 6);
  return `gh${pick(r, ['p', 'o', 'u', 's', 'r'])}_${body}${tail}`;
}

const PREFIXED: readonly (readonly [string, DetectorName, (r: Rand) => string])[] = [
  ['github_token', 'GITHUB_TOKEN', githubClassic],
  ['gh_token', 'GITHUB_TOKEN', githubClassic],
  ['github_pat', 'GITHUB_TOKEN', (r) => `github_pat_${chars(r, ALNUM, 22)}_${chars(r, ALNUM, 59)}`],
  ['aws_access_key_id', 'AWS_ACCESS_KEY', (r) => `${pick(r, ['AKIA', 'ASIA'])}${chars(r, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 16)}`],
  ['stripe_secret_key', 'STRIPE_KEY', (r) => `${pick(r, ['sk_live_', 'rk_live_', 'sk_test_', 'rk_test_'])}${chars(r, ALNUM, 24 + int(r, 76))}`],
  ['stripe_webhook_secret', 'STRIPE_KEY', (r) => `whsec_${chars(r, ALNUM, 32)}`],
  ['google_api_key', 'GCP_API_KEY', (r) => `AIza${chars(r, ALNUM, 20)}${chars(r, `${ALNUM}_-`, 14)}${chars(r, ALNUM, 1)}`],
  ['slack_bot_token', 'SLACK_TOKEN', (r) => `xox${pick(r, ['b', 'p', 'a', 'r'])}-${chars(r, DIGITS, 10 + int(r, 3))}-${chars(r, DIGITS, 12)}-${chars(r, ALNUM, 24)}`],
  ['slack_app_token', 'SLACK_TOKEN', (r) => `xapp-1-A${chars(r, UPPER + DIGITS, 10)}-${chars(r, DIGITS, 13)}-${chars(r, HEX, 64)}`],
  ['gitlab_token', 'GENERIC_API_KEY', (r) => `glpat-${chars(r, `${ALNUM}_-`, 19)}${chars(r, ALNUM, 1)}`],
  ['npm_token', 'GENERIC_API_KEY', (r) => `npm_${chars(r, ALNUM, 36)}`],
];

function prefixed(r: Rand): Sample {
  const [key, type, make] = pick(r, PREFIXED);
  return sample(`prefixed:${type}`, somewhere(r, key, type, make(r)));
}

/** Prefixed tokens whose random part opens with '-' (`glpat--…`, `xoxb--…`): the prefix's dash and the next. */
const DASH_LED: readonly (readonly [string, DetectorName, (r: Rand) => string])[] = [
  ['gitlab_token', 'GENERIC_API_KEY', (r) => `glpat-${'-'.repeat(1 + int(r, 2))}${chars(r, `${ALNUM}_-`, 18)}${chars(r, ALNUM, 1)}`],
  ['slack_bot_token', 'SLACK_TOKEN', (r) => `xox${pick(r, ['b', 'p', 'a', 'r'])}--${chars(r, DIGITS, 10)}-${chars(r, ALNUM, 12 + int(r, 12))}`],
];

function dashLed(r: Rand): Sample {
  const [key, type, make] = pick(r, DASH_LED);
  return sample(`prefixed dash-led:${type}`, somewhere(r, key, type, make(r)));
}

/** Look-alikes of prefixed tokens: publishable keys, prefixes in prose, too short or glued to a word. */
const PREFIX_NEGATIVES: readonly ((r: Rand) => string)[] = [
  (r) => `STRIPE_PUBLISHABLE_KEY=pk_live_${chars(r, ALNUM, 24)}`,
  (r) => `${ts(r)} INFO classic tokens start with ghp_ and fine-grained ones with github_pat_`,
  (r) => `ref ghp_${chars(r, ALNUM, 20)} (truncated in the ticket)`,
  (r) => `npm_config_cache=/home/runner/.npm npm_lifecycle_event=${pick(r, ['build', 'test'])}`,
  (r) => `{"setting":"sk_live_mode","value":${r() < 0.5 ? 'true' : 'false'}}`,
  (r) => `MYAKIA${chars(r, UPPER, 16)} is a product code`,
  (r) => `sha256:${chars(r, HEX, 64)} ${chars(r, HEX, 40)}`,
  (r) => `request_id=${uuid(r)} span=${chars(r, HEX, 16)}`,
  (r) => `${ts(r)} DEBUG slack channel C${chars(r, UPPER + DIGITS, 10)} user U${chars(r, UPPER + DIGITS, 10)}`,
  (r) => `glpat- prefix rotated ${chars(r, DIGITS, 2)} days ago`,
];

// ---------- 2. PEM private keys: whole blocks, escaped once or twice, truncated ----------

const B64 = `${ALNUM}+/`;

/** A PEM private key block with real newlines (made-up base64). */
function pemBlock(r: Rand): string {
  const [label, width, headers] = pick(r, [
    ['PRIVATE KEY', 64, ''],
    ['RSA PRIVATE KEY', 64, ''],
    ['EC PRIVATE KEY', 64, ''],
    ['ENCRYPTED PRIVATE KEY', 64, ''],
    ['OPENSSH PRIVATE KEY', 70, ''],
    ['RSA PRIVATE KEY', 64, `Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,${chars(r, HEX.toUpperCase(), 32)}\n\n`],
  ] as const);
  const lines = Array.from({ length: 2 + int(r, 8) }, () => chars(r, B64, width));
  lines.push(`${chars(r, B64, 4 + int(r, width - 8))}${pick(r, ['', '=', '=='])}`);
  return `-----BEGIN ${label}-----\n${headers}${lines.join('\n')}\n-----END ${label}-----`;
}

/** The block cut short (a log line limit, a column width): BEGIN, some lines and part of the next. */
function pemTruncated(r: Rand): string {
  const lines = Array.from({ length: int(r, 4) }, () => chars(r, B64, 64));
  lines.push(chars(r, B64, 8 + int(r, 50)));
  return `-----BEGIN ${pick(r, ['PRIVATE KEY', 'RSA PRIVATE KEY', 'OPENSSH PRIVATE KEY'])}-----\n${lines.join('\n')}`;
}

const PEM_KEYS = ['tls_key', 'private_key_pem', 'ssh_private_key', 'deploy_key', 'client_key_pem'];

/** A block on one surface, written as that surface writes it. */
const PEM_SURFACES: readonly ((r: Rand, key: string, pem: string) => Piece[])[] = [
  (r, key, pem) => [`${service(r)}:\n  ${key}: |\n    `, ['PRIVATE_KEY', pem.replace(/\n/g, '\n    ')], '\n  replicas: 2\n'],
  (_, key, pem) => [`${key.toUpperCase()}="`, ['PRIVATE_KEY', escape(pem, 'json')], '"\n'],
  (_, key, pem) => [`${key.toUpperCase()}="`, ['PRIVATE_KEY', pem], '"\nPORT=8443\n'],
  (r, key, pem) => [`{"version": 4, "resources": [{"type": "tls_private_key", "instances": [{"attributes": {"algorithm": "RSA", "id": "${chars(r, HEX, 40)}", "${key}": "`, ['PRIVATE_KEY', escape(pem, 'json')], '\\n", "rsa_bits": 4096}}]}]}'],
  (r, key, pem) => [`id,name,${key}\n${int(r, 900)},${service(r)},"`, ['PRIVATE_KEY', pem], '\n"\n'],
  (r, key, pem) => [`INSERT INTO deploy_keys (id, ${key}) VALUES (${int(r, 900)}, E'`, ['PRIVATE_KEY', pem.replace(/\n/g, '\\n')], "');"],
  (r, _, pem) => [`${ts(r)} ERROR [${service(r)}] could not parse key material: `, ['PRIVATE_KEY', escape(pem, 'json')], ' (PEM routines: bad end line)'],
  (r, key, pem) => [`{"time":"${ts(r)}","level":"debug","msg":"secret mounted","${key}":"`, ['PRIVATE_KEY', escape(pem, 'json')], '\\n"}'],
  (r, key, pem) => [
    `{"insertId":"${chars(r, LOWER + DIGITS, 14)}","textPayload":"{\\"event\\":\\"config\\",\\"${key}\\":\\"`,
    ['PRIVATE_KEY', escape(pem, 'json2')],
    `\\\\n\\"}","severity":"${severity(r)}","timestamp":"${ts(r)}"}`,
  ],
  (r, key, pem) => [`{"insertId":"${chars(r, LOWER + DIGITS, 14)}","jsonPayload":{"${key}":"`, ['PRIVATE_KEY', escape(pem, 'json')], `"},"severity":"${severity(r)}"}`],
];

/** Where a truncated block stops: the end of the text, a closing quote, a marker a logger appends. */
const PEM_CUTS = ['', '"}', ' ...[truncated]', '…', '\n2026-12-07T10:11:12Z INFO next line', '", "len": 4096}'];

function pemCase(r: Rand): Sample {
  if (r() < 0.2) {
    const pem = pemTruncated(r);
    const how = pick<Escape>(r, ['raw', 'json', 'json2']);
    return sample('PRIVATE_KEY truncated', [`${ts(r)} WARN ${service(r)} payload: "`, ['PRIVATE_KEY', escape(pem, how)], pick(r, PEM_CUTS)]);
  }
  if (r() < 0.15) {
    // A service-account key file: its private_key is a GCP_SA_KEY (the value with its trailing newline).
    const key = escape(`${pemBlock(r).replace(/^-----BEGIN [A-Z ]+-----/, '-----BEGIN PRIVATE KEY-----').replace(/-----END [A-Z ]+-----$/, '-----END PRIVATE KEY-----')}\n`, 'json');
    const email = `${pick(r, ['etl', 'ci-deploy', 'reader'])}@${pick(r, ['proj-alpha', 'shop-prod-42'])}.iam.gserviceaccount.com`;
    const file: Piece[] = ['{"type": "service_account", "project_id": "proj-alpha", "private_key": "', ['GCP_SA_KEY', key], '", "client_email": "', ['EMAIL', email], '"}'];
    if (r() < 0.5) return sample('GCP_SA_KEY', file);
    // The key file inside a JSON string (a secret payload in a log entry): escaped once more.
    return sample('GCP_SA_KEY', ['{"jsonPayload":{"payload":"', ...file.map((p): Piece => (typeof p === 'string' ? escape(p, 'json') : [p[0], escape(p[1], 'json')])), '"}}']);
  }
  return sample('PRIVATE_KEY', pick(r, PEM_SURFACES)(r, pick(r, PEM_KEYS), pemBlock(r)));
}

const PEM_NEGATIVES: readonly ((r: Rand) => string)[] = [
  (r) => `-----BEGIN CERTIFICATE-----\n${chars(r, B64, 64)}\n${chars(r, B64, 20)}=\n-----END CERTIFICATE-----`,
  (r) => `{"tls_crt":"-----BEGIN CERTIFICATE-----\\n${chars(r, B64, 64)}\\n-----END CERTIFICATE-----\\n"}`,
  (r) => `public_key_pem = "-----BEGIN PUBLIC KEY-----\\n${chars(r, B64, 64)}\\n-----END PUBLIC KEY-----"`,
  (r) => `-----BEGIN PGP SIGNATURE-----\n\n${chars(r, B64, 64)}\n=${chars(r, B64, 4)}\n-----END PGP SIGNATURE-----`,
  (r) => `-----BEGIN CERTIFICATE REQUEST-----\n${chars(r, B64, 64)}\n-----END CERTIFICATE REQUEST-----`,
  (r) => `authorized_keys: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI${chars(r, B64, 43)} deploy@ci`,
];

/** A block wrapped narrower than 64 (a tool's own width), or written with escaped slashes (PHP's json_encode). */
function pemVariant(r: Rand): Sample {
  const width = pick(r, [16, 24, 32, 36, 48, 64, 76]);
  const label = pick(r, ['PRIVATE KEY', 'RSA PRIVATE KEY', 'EC PRIVATE KEY']);
  const body = chars(r, B64, 200 + int(r, 800)).match(new RegExp(`.{1,${width}}`, 'g')) ?? [];
  const pem = `-----BEGIN ${label}-----\n${body.join('\n')}${pick(r, ['', '=', '=='])}\n-----END ${label}-----`;
  const php = (v: string): string => v.replace(/\//g, '\\/');
  const key = pick(r, PEM_KEYS);
  return sample(
    'PRIVATE_KEY narrow or escaped slashes',
    pick<Piece[]>(r, [
      [`{"${key}":"`, ['PRIVATE_KEY', php(escape(pem, 'json'))], `","ts":"${ts(r)}"}`],
      [`{"insertId":"${chars(r, LOWER + DIGITS, 14)}","textPayload":"{\\"${key}\\":\\"`, ['PRIVATE_KEY', escape(php(escape(pem, 'json')), 'json')], `\\"}","severity":"${severity(r)}"}`],
      [`${service(r)}:\n  ${key}: |\n    `, ['PRIVATE_KEY', pem.replace(/\n/g, '\n    ')], '\n  replicas: 2\n'],
      [`{"${key}":"`, ['PRIVATE_KEY', escape(pem, 'json')], '"}'],
      [`${key.toUpperCase()}="`, ['PRIVATE_KEY', pem], '"\n'],
    ]),
  );
}

// ---------- 5. e-mail addresses written URL-encoded, in mailto: and in angle brackets ----------

const mailbox = (r: Rand): string => `${pick(r, ['ana', 'ben', 'chen', 'dana', 'eli', 'fatima'])}${pick(r, ['', '.', '_', '-'])}${pick(r, ['silva', 'ng', 'ortiz', 'k', 'ito'])}${r() < 0.4 ? String(int(r, 100)) : ''}`;
const mailDomain = (r: Rand): string => pick(r, ['example.com', 'example.org', 'mail.example.co.uk', 'corp.example.io', 'shop.example.net']);
const saName = (r: Rand): string => `${pick(r, ['airlock-reader', 'etl', 'ci-deploy', 'signer'])}@${pick(r, ['proj-alpha', 'shop-prod-42', 'data-lake-7'])}.iam.gserviceaccount.com`;

/** `ana+shop@example.com` URL-encoded once (`%2B`, `%40`) or twice (`%252B`, `%2540`). */
const encode = (address: string, twice: boolean): string => {
  const once = encodeURIComponent(address);
  return twice ? once.replace(/%/g, '%25') : once;
};

const EMAIL_CASES: readonly ((r: Rand) => Piece[])[] = [
  // query strings and request logs
  (r) => [`GET /account/unsubscribe?email=`, ['EMAIL', encode(`${mailbox(r)}${r() < 0.4 ? '+news' : ''}@${mailDomain(r)}`, false)], `&list=${pick(r, ['weekly', 'promo'])} HTTP/1.1`],
  (r) => [
    ['IP_ADDRESS', `198.51.100.${1 + int(r, 254)}`],
    ` - - [07/Dec/2026:10:${String(int(r, 60)).padStart(2, '0')}:07 +0000] "GET /login?redirect=https%3A%2F%2Fshop.example.com%2Fverify%3Femail%3D`,
    ['EMAIL', encode(`${mailbox(r)}@${mailDomain(r)}`, true)],
    `%26step%3D${1 + int(r, 3)} HTTP/1.1" 302 0 "-" "Mozilla/5.0"`,
  ],
  (r) => [`${ts(r)} INFO [${service(r)}] callback next=/invite%3Fto%3D`, ['EMAIL', encode(`${mailbox(r)}+${pick(r, ['team', 'ops'])}@${mailDomain(r)}`, true)], ' accepted'],
  // signed URLs and service-account certificate URLs
  (r) => [
    `https://storage.googleapis.com/${pick(r, ['exports', 'invoices'])}-bucket/report.csv?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=`,
    ['EMAIL', encode(saName(r), false)],
    `%2F2026120${1 + int(r, 8)}%2Fauto%2Fstorage%2Fgoog4_request&X-Goog-Date=20261207T101112Z&X-Goog-Expires=900`,
  ],
  (r) => [`{"type": "service_account", "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/`, ['EMAIL', encode(saName(r), false)], '", "universe_domain": "googleapis.com"}'],
  (r) => [
    `{"insertId":"${chars(r, LOWER + DIGITS, 14)}","httpRequest":{"requestMethod":"GET","requestUrl":"https://api.example.com/v2/users?filter=email%3D`,
    ['EMAIL', encode(`${mailbox(r)}@${mailDomain(r)}`, false)],
    `","status":${pick(r, ['200', '404'])}},"severity":"${severity(r)}"}`,
  ],
  (r) => [`id,redirect_url,created_at\n${int(r, 9000)},https://app.example.com/welcome?u=`, ['EMAIL', encode(`${mailbox(r)}@${mailDomain(r)}`, r() < 0.3)], `,${sqlTs(r)}\n`],
  (r) => [`UPDATE sessions SET return_to = '/reset?email=`, ['EMAIL', encode(`${mailbox(r)}@${mailDomain(r)}`, false)], `' WHERE id = ${int(r, 9999)};`],
  // mailto: and angle brackets
  (r) => ['<a href="mailto:', ['EMAIL', `${mailbox(r)}@${mailDomain(r)}`], `?subject=Invoice%20${int(r, 999)}">Contact billing</a>`],
  (r) => ['{"contact":"mailto:', ['EMAIL', encode(`${mailbox(r)}@${mailDomain(r)}`, false)], '"}'],
  (r) => [`${ts(r)} INFO mail queued From: ${pick(r, ['Ana Silva', 'Billing', 'Ops Team'])} <`, ['EMAIL', `${mailbox(r)}@${mailDomain(r)}`], '> To: <', ['EMAIL', `${mailbox(r)}@${mailDomain(r)}`], '>'],
  (r) => [`{"jsonPayload":{"to":"${pick(r, ['Ben', 'Dana K.'])} <`, ['EMAIL', `${mailbox(r)}@${mailDomain(r)}`], '>","template":"receipt"}}'],
  (r) => [`Reply-To: %3C`, ['EMAIL', encode(`${mailbox(r)}@${mailDomain(r)}`, false)], '%3E'],
];

const EMAIL_NEGATIVES: readonly ((r: Rand) => string)[] = [
  (r) => `GET https://registry.npmjs.org/%40${pick(r, ['types', 'angular', 'babel'])}%2F${pick(r, ['node', 'core', 'parser'])} 200`,
  (r) => `/static/icon%40${1 + int(r, 3)}x.png`,
  (r) => `progress=${int(r, 100)}%25 done, discount ${int(r, 50)}%40off`,
  (r) => `remote=git%40github.com:org/repo-${int(r, 99)}.git`,
  (r) => `${ts(r)} DEBUG user%40localhost connected`,
  (r) => `q=${pick(r, ['caf%C3%A9', 'a%2Bb', '100%25%20sure'])}&page=${int(r, 9)}`,
];

// ---------- 4. credentials in URLs of every scheme ----------

const URL_SCHEMES: readonly (readonly [string, string])[] = [
  ['postgres', 'db.internal:5432/shop'],
  ['postgresql', 'pg-primary.prod.internal:5432/orders?sslmode=require'],
  ['mysql', 'mysql-0.mysql.default.svc.cluster.local:3306/app'],
  ['redis', 'cache.internal:6379/0'],
  ['rediss', 'redis-12345.c1.europe-west1-2.gce.example.com:6380'],
  ['amqp', 'rabbitmq.internal:5672/%2F'],
  ['amqps', 'mq.example.com:5671/vhost'],
  ['mongodb', 'mongo-0.internal:27017,mongo-1.internal:27017/app?replicaSet=rs0'],
  ['mongodb+srv', 'cluster0.ab1cd.mongodb.net/app?retryWrites=true&w=majority'],
  ['https', 'registry.example.com/v2/'],
  ['http', 'proxy.internal:3128'],
  ['ftp', 'files.example.org/incoming'],
  ['sftp', 'sftp.example.net:22/upload'],
  ['smtp', 'smtp.example.com:587'],
];

/** A generated password: letters, digits and the punctuation URLs carry unencoded or percent-encoded. */
const urlPassword = (r: Rand): string =>
  `${chars(r, ALNUM, 1)}${chars(r, `${ALNUM}${pick(r, ['', '!-_.~', '*+,;=', '/+'])}`, 6 + int(r, 20))}${pick(r, ['', '%40x', '%23', '%2F9'])}${chars(r, ALNUM, 1)}`;

function credentialUrl(r: Rand): Piece[] {
  const [scheme, rest] = pick(r, URL_SCHEMES);
  const user = pick(r, ['app', 'admin', 'svc_etl', 'default', 'readonly', 'guest', 'x-access-token', '']);
  return [`${scheme}://${user}:`, ['PASSWORD_IN_URL', urlPassword(r)], `@${rest}`];
}

/** A URL with credentials on a surface (these surfaces do not escape what URLs hold). */
const URL_SURFACES: readonly ((r: Rand, url: Piece[]) => Piece[])[] = [
  (_, url) => ['DATABASE_URL=', ...url, '\n'],
  (_, url) => ['export BROKER_URL="', ...url, '"'],
  (r, url) => [`${service(r)}:\n  connection: "`, ...url, '"\n'],
  (_, url) => ['{"dsn": "', ...url, '", "pool": 10}'],
  (r, url) => [`${service(r)} migrate --url `, ...url, ' --dry-run'],
  (r, url) => [`${ts(r)} INFO [${service(r)}] connecting to `, ...url, ' (attempt 1)'],
  (r, url) => [`{"level":"error","msg":"dial failed","target":"`, ...url, `","err":"timeout","ts":"${ts(r)}"}`],
  (r, url) => [`{"insertId":"${chars(r, LOWER + DIGITS, 14)}","textPayload":"${ts(r)} upstream `, ...url, ' refused","severity":"WARNING"}'],
  (r, url) => [`id,name,endpoint\n${int(r, 900)},${service(r)},`, ...url, '\n'],
  (r, url) => [`INSERT INTO datasources (id, url) VALUES (${int(r, 900)}, '`, ...url, "');"],
  (r, url) => [`{"resources":[{"type":"kubernetes_secret","instances":[{"attributes":{"data":{"uri":"`, ...url, `"},"id":"default/${service(r)}"}}]}]}`],
];

const URL_NEGATIVES: readonly ((r: Rand) => string)[] = [
  () => 'DATABASE_URL=postgres://app:${DB_PASSWORD}@db.internal:5432/shop',
  () => 'redis_url: "redis://:{{.Values.redis.password}}@cache:6379/0"',
  () => 'amqp://guest:<redacted>@mq.internal:5672/',
  () => 'postgres://app:****@db.internal:5432/shop',
  () => 'MONGO_URI=mongodb+srv://$MONGO_USER:$MONGO_PASSWORD@cluster0.ab1cd.mongodb.net/app',
  (r) => `https://api.example.com:${8000 + int(r, 999)}/v1/items?page=${int(r, 9)}`,
  () => 'ssh://git@github.com:22/org/repo.git',
  (r) => `${ts(r)} INFO listening on http://localhost:${8000 + int(r, 999)}/healthz`,
  () => 'dsn = "postgresql://app:%s@%s/shop" % (password, host)',
];

/** A password holding ':' (RFC 3986: everything from the first ':' after the user to the '@'). */
const colonPassword = (r: Rand): string => `${chars(r, ALNUM, 1 + int(r, 6))}:${r() < 0.3 ? ':' : ''}${chars(r, `${ALNUM}!-_.~/+`, 2 + int(r, 10))}${r() < 0.4 ? `:${chars(r, ALNUM, 2)}` : ''}`;

function colonCredentialUrl(r: Rand): Piece[] {
  const [scheme, rest] = pick(r, URL_SCHEMES);
  const user = pick(r, ['app', 'default', 'svc', 'guest', '']);
  return [`${scheme}://${user}:`, ['PASSWORD_IN_URL', colonPassword(r)], `@${rest}`];
}

/** Ports and hosts written where a password could be: `h1:27017,h2:27017/db?x=a@b`. */
const URL_PORT_NEGATIVES: readonly ((r: Rand) => string)[] = [
  (r) => `MONGO_URI=mongodb://mongo-0.internal:${27017 + int(r, 3)},mongo-1.internal:27017/app?replicaSet=rs0`,
  (r) => `${ts(r)} INFO GET https://api.example.com:${8000 + int(r, 999)}/v1/items:batchGet?page=${int(r, 9)}`,
  (r) => `{"upstream":"http://edge-${int(r, 9)}.internal:8080,backup.internal:8080/health"}`,
];

// ---------- 3. Slack incoming-webhook URLs ----------

function slackHook(r: Rand): string {
  return `https://hooks.slack.com/services/T${chars(r, UPPER + DIGITS, 8 + int(r, 3))}/B${chars(r, UPPER + DIGITS, 8 + int(r, 3))}/${chars(r, ALNUM, 24)}`;
}

const SLACK_HOOK_SURFACES: readonly ((r: Rand, hook: string) => Piece[])[] = [
  (_, hook) => ['SLACK_WEBHOOK_URL=', ['SLACK_TOKEN', hook], '\n'],
  (_, hook) => ['alerting:\n  slack_api_url: ', ['SLACK_TOKEN', hook], '\n'],
  (_, hook) => ['{"webhook": "', ['SLACK_TOKEN', hook], '", "channel": "#alerts"}'],
  (r, hook) => [`${ts(r)} DEBUG POST `, ['SLACK_TOKEN', hook], ` -> ${pick(r, ['200', '404'])} in ${int(r, 900)}ms`],
  (r, hook) => [`{"insertId":"${chars(r, LOWER + DIGITS, 14)}","jsonPayload":{"msg":"notify","url":"`, ['SLACK_TOKEN', hook], '"}}'],
  (r, hook) => [`id,channel,webhook_url\n${int(r, 900)},#deploys,`, ['SLACK_TOKEN', hook], '\n'],
  (_, hook) => ['curl -X POST -H "Content-type: application/json" --data \'{"text":"deployed"}\' ', ['SLACK_TOKEN', hook]],
];

const SLACK_NEGATIVES: readonly ((r: Rand) => string)[] = [
  () => 'see https://api.slack.com/messaging/webhooks for the setup',
  (r) => `https://hooks.slack.com/services/T${chars(r, UPPER, 9)}/ (truncated)`,
  (r) => `${ts(r)} INFO posted to #alerts (ts=${int(r, 1e9)}.${chars(r, DIGITS, 6)})`,
];

// ---------- 6. URLs in JSON whose writer escapes '/' (PHP's json_encode) ----------

const phpEscape = (piece: Piece): Piece => (typeof piece === 'string' ? piece.replace(/\//g, '\\/') : [piece[0], piece[1].replace(/\//g, '\\/')]);

function escapedSlashUrl(r: Rand): Sample {
  if (r() < 0.3) {
    const hook = slackHook(r);
    return sample('escaped slashes', [`{"${pick(r, ['webhook', 'slack_url', 'notify'])}":"`, phpEscape(['SLACK_TOKEN', hook]), `","ts":"${ts(r)}"}`]);
  }
  const url = r() < 0.3 ? colonCredentialUrl(r) : credentialUrl(r);
  return sample('escaped slashes', [`{"${pick(r, ['dsn', 'url', 'database_url', 'broker'])}":"`, ...url.map(phpEscape), `","pool":${1 + int(r, 20)}}`]);
}

// ---------- the set ----------

/** The cases of this group, generated from `seed` (the same cases on every run). */
export function tokensSamples(seed: number): Sample[] {
  const r = rng(seed);
  const out: Sample[] = [];
  for (let i = 0; i < 600; i++) out.push(prefixed(r));
  for (let i = 0; i < 150; i++) out.push(sample('negative:prefixed look-alike', [pick(r, PREFIX_NEGATIVES)(r)]));
  for (let i = 0; i < 400; i++) out.push(pemCase(r));
  for (let i = 0; i < 100; i++) out.push(sample('negative:certificates and public keys', [pick(r, PEM_NEGATIVES)(r)]));
  for (let i = 0; i < 400; i++) out.push(sample('EMAIL encoded', pick(r, EMAIL_CASES)(r)));
  for (let i = 0; i < 100; i++) out.push(sample('negative:encoded non-addresses', [pick(r, EMAIL_NEGATIVES)(r)]));
  for (let i = 0; i < 400; i++) out.push(sample('PASSWORD_IN_URL', pick(r, URL_SURFACES)(r, credentialUrl(r))));
  for (let i = 0; i < 100; i++) out.push(sample('negative:URLs without a password', [pick(r, URL_NEGATIVES)(r)]));
  for (let i = 0; i < 150; i++) out.push(sample('SLACK_TOKEN webhook', pick(r, SLACK_HOOK_SURFACES)(r, slackHook(r))));
  for (let i = 0; i < 50; i++) out.push(sample('negative:Slack look-alikes', [pick(r, SLACK_NEGATIVES)(r)]));
  for (let i = 0; i < 200; i++) out.push(sample('PASSWORD_IN_URL with colon', pick(r, URL_SURFACES)(r, colonCredentialUrl(r))));
  for (let i = 0; i < 60; i++) out.push(sample('negative:URL ports and hosts', [pick(r, URL_PORT_NEGATIVES)(r)]));
  for (let i = 0; i < 200; i++) out.push(pemVariant(r));
  for (let i = 0; i < 150; i++) out.push(dashLed(r));
  for (let i = 0; i < 200; i++) out.push(escapedSlashUrl(r));
  return out;
}
