/**
 * Labelled masking cases (issue 20): digit runs: versions that are not addresses, phones next to other digit runs, ids that are not phones, across the surfaces real systems write (request and application
 * logs, CSV exports, SQL rows, config files, Cloud Logging entries).
 *
 * Span conventions: IP_ADDRESS is the address alone (no port, no quotes); PHONE is the number as written,
 * with its leading '+' and an area code's brackets, never a surrounding quote; CREDIT_CARD is the digits
 * with their group separators. Every address is a documentation or private one, every card a made-up
 * Luhn-valid number, every phone an invented number in an assigned area code.
 *
 * Decimal trace and span ids that happen to pass Luhn with a card brand's prefix are left out of the
 * look-alikes: such a number is masked as a card wherever it stands (fail closed), by design.
 */
import { DIGITS, HEX, int, LOWER, pick, rng, sample, type Piece, type Rand, type Sample } from '../masking-labelled.js';

// ---------- values ----------

const octet = (r: Rand): number => 1 + int(r, 254);

function ipv4(r: Rand): string {
  return pick(r, [
    () => `10.${int(r, 256)}.${int(r, 256)}.${octet(r)}`,
    () => `192.168.${int(r, 256)}.${octet(r)}`,
    () => `172.${16 + int(r, 16)}.${int(r, 256)}.${octet(r)}`,
    () => `203.0.113.${octet(r)}`,
    () => `198.51.100.${octet(r)}`,
    () => `192.0.2.${octet(r)}`,
  ])();
}

/** A Chrome-family major version: every reduced user agent ends its version in `.0.0.0`. */
const major = (r: Rand): number => 100 + int(r, 40);

/** User agents as browsers, apps, bots and libraries send them; many carry a dotted quad. */
function userAgent(r: Rand): string {
  const m = major(r);
  const win = 'Windows NT 10.0; Win64; x64';
  const mac = 'Macintosh; Intel Mac OS X 10_15_7';
  const android = `Linux; Android ${10 + int(r, 5)}; K`;
  const chromeLike = (os: string, tail: string): string => `Mozilla/5.0 (${os}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${m}.0.0.0 ${tail}`;
  return pick(r, [
    () => chromeLike(win, 'Safari/537.36'),
    () => chromeLike(mac, 'Safari/537.36'),
    () => chromeLike(android, 'Mobile Safari/537.36'),
    () => chromeLike(win, `Safari/537.36 Edg/${m}.0.0.0`),
    () => chromeLike(win, `Safari/537.36 OPR/${m - 15}.0.0.0`),
    () => chromeLike(mac, `YaBrowser/${20 + int(r, 5)}.${1 + int(r, 12)}.0.0 Safari/537.36`),
    () => `Mozilla/5.0 (${win}) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${m}.0.${int(r, 256)}.${int(r, 256)} Safari/537.36`,
    () => `Mozilla/5.0 (${mac}) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/${15 + int(r, 4)}.${int(r, 7)}.${int(r, 4)}.${int(r, 9)} Safari/605.1.15`,
    () => `Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1`,
    () => `Mozilla/5.0 (${win}; rv:${120 + int(r, 12)}.0) Gecko/20100101 Firefox/${120 + int(r, 12)}.0`,
    () => `ShopApp/${1 + int(r, 9)}.${int(r, 30)}.${int(r, 10)}.${int(r, 200)} (iPhone; iOS 17.4.1; Scale/3.00)`,
    () => `Electron/${20 + int(r, 12)}.${int(r, 5)}.${int(r, 9)}.${int(r, 9)} Chrome/${m}.0.0.0`,
    () => `grpc-java-netty/1.${50 + int(r, 15)}.${int(r, 5)}.${int(r, 5)}`,
    () => `Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8 Build/AP2A.240805.005) ShopApp/4.${int(r, 20)}.0.${int(r, 99)}`,
    () => `curl/8.${int(r, 12)}.${int(r, 3)}`,
    () => `kube-probe/1.${25 + int(r, 6)}`,
    () => `GoogleHC/1.0`,
    () => `python-requests/2.${28 + int(r, 5)}.0`,
    () => `Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html) Chrome/${m}.0.0.0 Safari/537.36`,
  ])();
}

/** US numbers in assigned area codes, in the ways systems write them. */
function usPhone(r: Rand): string {
  const area = pick(r, ['212', '303', '312', '415', '512', '617', '646', '702', '206', '818', '404', '713']);
  let exchange = String(200 + int(r, 800));
  if (exchange.endsWith('11')) exchange = '234';
  const line = exchange === '555' ? String(2000 + int(r, 8000)) : String(int(r, 10000)).padStart(4, '0');
  return pick(r, [`+1 ${area} ${exchange} ${line}`, `(${area}) ${exchange}-${line}`, `${area}-${exchange}-${line}`, `${area}.${exchange}.${line}`, `+1-${area}-${exchange}-${line}`, `+1 (${area}) ${exchange}-${line}`, `${area}${exchange}${line}`, `+1${area}${exchange}${line}`]);
}

function intlPhone(r: Rand): string {
  const n = (k: number): string => String(int(r, 10 ** k)).padStart(k, '0');
  return pick(r, [`+44 20 7946 ${n(4)}`, `+49 30 ${1_000_000 + int(r, 8_999_999)}`, `+33 1 42 68 ${n(2)} ${n(2)}`, `+61 2 9374 ${n(4)}`, `+81 3 3224 ${n(4)}`, `+34 91 123 ${n(2)} ${n(2)}`, `+31 20 123 ${n(4)}`, `+353 1 234 ${n(4)}`]);
}

const phone = (r: Rand): string => (r() < 0.75 ? usPhone(r) : intlPhone(r));

/** Ten digits that form a valid North American number: what an id, a size or a counter often is. */
function nanpDigits(r: Rand): string {
  return `${pick(r, ['212', '415', '646', '303', '617', '702'])}${2 + int(r, 8)}${String(int(r, 100)).padStart(2, '0')}${String(int(r, 10000)).padStart(4, '0')}`;
}

function luhnOk(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

function card(r: Rand): string {
  const body = pick(r, ['4', '4', '51', '55', '6011']) + Array.from({ length: 20 }, () => String(int(r, 10))).join('');
  const digits = body.slice(0, 15);
  let check = 0;
  while (!luhnOk(`${digits}${check}`)) check++;
  const number = `${digits}${check}`;
  return r() < 0.5 ? number : [0, 4, 8, 12].map((i) => number.slice(i, i + 4)).join(pick(r, [' ', '-']));
}

/** A decimal 64-bit id (trace, span, snowflake) that is not a Luhn-valid card number. */
function decimalId(r: Rand): string {
  for (;;) {
    const id = `${1 + int(r, 9)}${Array.from({ length: 18 }, () => String(int(r, 10))).join('')}`;
    if (!luhnOk(id)) return id;
  }
}

const hex = (r: Rand, n: number): string => Array.from({ length: n }, () => HEX[int(r, 16)]).join('');
const day = (r: Rand): string => String(1 + int(r, 28)).padStart(2, '0');
const clock = (r: Rand): string => `${String(int(r, 24)).padStart(2, '0')}:${String(int(r, 60)).padStart(2, '0')}:${String(int(r, 60)).padStart(2, '0')}`;
const iso = (r: Rand): string => `2026-11-${day(r)}T${clock(r)}.${String(int(r, 1000)).padStart(3, '0')}Z`;
const clf = (r: Rand): string => `${day(r)}/Nov/2026:${clock(r)} +0000`;
const path = (r: Rand): string => pick(r, ['/', '/api/v1/orders', '/healthz', '/static/app.js', `/api/v2/users/${int(r, 99_999)}/cart`, '/search?q=shoes&page=2', '/login']);
const method = (r: Rand): string => pick(r, ['GET', 'POST', 'PUT', 'DELETE']);
const status = (r: Rand): number => pick(r, [200, 200, 201, 204, 301, 304, 404, 500, 503]);
const epochSeconds = (r: Rand): string => String(1_760_000_000 + int(r, 40_000_000));
const epochMillis = (r: Rand): string => `${epochSeconds(r)}${String(int(r, 1000)).padStart(3, '0')}`;

/** JSON string content, escaped once (`\"`) or twice (`\\\"`), as Cloud Logging text payloads hold it. */
const esc1 = (s: string): string => JSON.stringify(s).slice(1, -1);

/** Pieces escaped as one JSON string level; labelled values keep their label (they need no escaping). */
const escaped = (pieces: readonly Piece[], levels: number): Piece[] =>
  pieces.map((p) => {
    if (typeof p !== 'string') return p;
    let s = p;
    for (let k = 0; k < levels; k++) s = esc1(s);
    return s;
  });

// ---------- class 1: addresses in request logs, versions in user agents ----------

const IP = (value: string): Piece => ['IP_ADDRESS', value];

const REQUEST_LOGS: readonly ((r: Rand) => Piece[])[] = [
  // nginx/apache combined: the client address first, the user agent in the last quoted column.
  (r) => [IP(ipv4(r)), ` - - [${clf(r)}] "${method(r)} ${path(r)} HTTP/1.1" ${status(r)} ${int(r, 90_000)} "-" "${userAgent(r)}"`],
  (r) => [IP(ipv4(r)), ` - ${pick(r, ['-', 'ana'])} [${clf(r)}] "${method(r)} ${path(r)} HTTP/2.0" ${status(r)} ${int(r, 90_000)} "https://shop.example.com${path(r)}" "${userAgent(r)}" "`, IP(ipv4(r)), ', ', IP(ipv4(r)), '"'],
  // nginx with the upstream address and request time at the end.
  (r) => [IP(ipv4(r)), ` - - [${clf(r)}] "${method(r)} ${path(r)} HTTP/1.1" ${status(r)} ${int(r, 9000)} "-" "${userAgent(r)}" upstream=`, IP(ipv4(r)), `:8080 rt=0.${int(r, 999)}`],
  // Cloud Run / GCLB request log entry.
  (r) => ['{"httpRequest":{"requestMethod":"', method(r), `","requestUrl":"https://shop.example.com${path(r)}","status":${status(r)},"responseSize":"${int(r, 90_000)}","userAgent":"${userAgent(r)}","remoteIp":"`, IP(ipv4(r)), '","serverIp":"', IP(ipv4(r)), `","latency":"0.0${int(r, 9999)}s","protocol":"HTTP/1.1"},"timestamp":"${iso(r)}","trace":"projects/shop-prod/traces/${hex(r, 32)}"}`],
  (r) => [`{"insertId":"${hex(r, 14)}","httpRequest":{"remoteIp":"`, IP(ipv4(r)), `","userAgent":"${userAgent(r)}","requestMethod":"${method(r)}","status":${status(r)}},"severity":"INFO"}`],
  // Application logs, plain and JSON.
  (r) => [`${iso(r)} INFO request ${method(r)} ${path(r)} remote_addr=`, IP(ipv4(r)), ` status=${status(r)} ua="${userAgent(r)}"`],
  (r) => [`${iso(r)} WARN login failed for user ana from `, IP(ipv4(r)), ` user_agent="${userAgent(r)}"`],
  (r) => [`{"ts":"${iso(r)}","level":"info","msg":"request","ip":"`, IP(ipv4(r)), `","user_agent":"${userAgent(r)}","status":${status(r)}}`],
  (r) => [`level=info msg="proxied" client=`, IP(ipv4(r)), ` userAgent="${userAgent(r)}" upstream_host `, IP(ipv4(r))],
  // Raw headers.
  (r) => [`${method(r)} ${path(r)} HTTP/1.1\nHost: shop.example.com\nUser-Agent: ${userAgent(r)}\nX-Forwarded-For: `, IP(ipv4(r)), ', ', IP(ipv4(r)), '\nX-Real-IP: ', IP(ipv4(r)), '\n'],
  // CSV export with a header row.
  (r) => [`ts,client_ip,user_agent,status\n${iso(r)},`, IP(ipv4(r)), `,"${userAgent(r)}",${status(r)}\n`],
  // Addresses in a request path or after an unquoted user agent stay addresses.
  (r) => [IP(ipv4(r)), ` - - [${clf(r)}] "GET /api/v1/hosts/`, IP(ipv4(r)), `/metrics HTTP/1.1" 200 77 "https://console.example.com/hosts/`, IP(ipv4(r)), `" "${userAgent(r)}"`],
  (r) => [`${iso(r)} DEBUG ua=${userAgent(r).replace(/"/g, '')} ip=`, IP(ipv4(r)), ' peer=', IP(ipv4(r))],
  (r) => [`{"userAgent":"${userAgent(r)}","message":"retry from `, IP(ipv4(r)), ' via ', IP(ipv4(r)), '"}'],
  // SQL row as psql prints it.
  (r) => [` ${int(r, 99_999)} | `, IP(ipv4(r)), ` | ${userAgent(r)} | ${status(r)}`],
];

/** Cloud Logging entries whose text payload holds a request line, escaped once or twice. */
function cloudLogging(r: Rand): Piece[] {
  const inner: Piece[] = pick(r, [
    (): Piece[] => ['{"remote_ip": "', IP(ipv4(r)), `", "user_agent": "${userAgent(r)}"}`],
    (): Piece[] => [IP(ipv4(r)), ` - - [${clf(r)}] "${method(r)} ${path(r)} HTTP/1.1" ${status(r)} 512 "-" "${userAgent(r)}"`],
  ])();
  return r() < 0.5 ? ['{"textPayload": "', ...escaped(inner, 1), `", "severity": "INFO", "timestamp": "${iso(r)}"}`] : ['{"jsonPayload": {"message": "{\\"body\\": \\"', ...escaped(inner, 2), '\\"}"}}'];
}

/** Addresses in config files and command lines. */
const CONFIG_IPS: readonly ((r: Rand) => Piece[])[] = [
  (r) => ['BIND_ADDRESS=', IP(ipv4(r)), '\nPORT=8080\n'],
  (r) => ['export DB_HOST=', IP(ipv4(r)), '\n'],
  (r) => ['database:\n  host: ', IP(ipv4(r)), '\n  port: 5432\n'],
  (r) => ['[server]\nlisten = ', IP(ipv4(r)), '\nworkers = 4\n'],
  (r) => ['db.host=', IP(ipv4(r)), '\ndb.pool.size=10\n'],
  (r) => ['{"resources": [{"type": "google_compute_instance", "instances": [{"attributes": {"network_ip": "', IP(ipv4(r)), '", "nat_ip": "', IP(ipv4(r)), '"}}]}]}'],
  (r) => ['psql --host ', IP(ipv4(r)), ' --port 5432 -U app shop'],
  (r) => ['server --bind=', IP(ipv4(r)), ':8443 --log-level=info'],
  (r) => ['ssh -p 22 deploy at ', IP(ipv4(r))],
];

/**
 * Addresses after a short word, a `word:` key or a `word/` that is no product: a firewall, a reverse proxy, a
 * build host, a backend in free text. Only a version key (`build_version`) or a user agent makes a quad a version.
 */
const WORD_IPS: readonly ((r: Rand) => Piece[])[] = [
  (r) => [`${iso(r)} WARN ${pick(r, ['fw', 'edge-fw', 'fw_ip', 'rev', 'rev_proxy'])}=`, IP(ipv4(r)), ` dropped ${int(r, 900)} packets`],
  (r) => [`${pick(r, ['build', 'Build', 'BUILD', 'build-host', 'fw', 'rev'])}: `, IP(ipv4(r)), '\n'],
  (r) => [`${iso(r)} ERROR connect to ${pick(r, ['backend', 'peer', 'upstream', 'replica', 'node'])}/`, IP(ipv4(r)), ` failed; ${pick(r, ['peer', 'backend'])}/`, IP(ipv4(r)), ' retrying'],
  (r) => [`{"msg":"proxy via ${pick(r, ['lb', 'gw', 'rev'])}/`, IP(ipv4(r)), `","status":${status(r)}}`],
  (r) => [`build_version=${1 + int(r, 9)}.${int(r, 20)}.${int(r, 9)}.${int(r, 200)} build_host=`, IP(ipv4(r)), '\n'],
];

/** User agents and versions with no address anywhere. */
const VERSIONS: readonly ((r: Rand) => string)[] = [
  (r) => `"${userAgent(r)}"`,
  (r) => `User-Agent: ${userAgent(r)}`,
  (r) => `{"userAgent":"${userAgent(r)}","status":${status(r)}}`,
  (r) => `${iso(r)} INFO request done user_agent="${userAgent(r)}"`,
  (r) => `{"textPayload": "${esc1(`{"user_agent": "${userAgent(r)}"}`)}"}`,
  (r) => `{"jsonPayload": {"message": "${esc1(esc1(`{"userAgent": "${userAgent(r)}"}`))}"}}`,
  (r) => `ts,user_agent\n${iso(r)},"${userAgent(r)}"\n`,
  (r) => `client v${1 + int(r, 9)}.${int(r, 20)}.${int(r, 20)}.${int(r, 200)} connected`,
  (r) => `${pick(r, ['version', 'Version', 'VERSION', 'ver', 'build_version', 'release', 'firmware'])}${pick(r, [' ', ': ', '=', ' = '])}${int(r, 20)}.${int(r, 20)}.${int(r, 20)}.${int(r, 200)}`,
  (r) => `{"version": "${int(r, 20)}.${int(r, 20)}.${int(r, 9)}.${int(r, 200)}", "name": "shop-api"}`,
  (r) => `app_version: "${int(r, 20)}.${int(r, 20)}.${int(r, 9)}.${int(r, 200)}"`,
  (r) => `Server: ShopServer/${int(r, 9)}.${int(r, 9)}.${int(r, 9)}.${int(r, 99)}`,
  (r) => `loaded plugin ${pick(r, ['auth', 'cache'])}/${int(r, 9)}.${int(r, 9)}.${int(r, 9)}.${int(r, 99)}`,
];

/** Versions after `Product/` in free text: reduced, capitalised or with a one-digit major. */
const PRODUCT_VERSIONS: readonly ((r: Rand) => string)[] = [
  (r) => `${iso(r)} INFO client Chrome/${110 + int(r, 30)}.0.0.0 on ${pick(r, ['Windows', 'macOS'])}`,
  (r) => `${iso(r)} INFO runtime ${pick(r, ['Electron', 'Node', 'Envoy', 'Nginx'])}/${10 + int(r, 20)}.${int(r, 20)}.${int(r, 9)}.${int(r, 200)} ready`,
  (r) => `loaded ${pick(r, ['grpc-java-netty', 'okhttp', 'aws-sdk-java'])}/${1 + int(r, 9)}.${int(r, 70)}.${int(r, 9)}.${int(r, 9)}`,
];

// ---------- class 2: phones next to other digit runs ----------

const PHONE = (value: string): Piece => ['PHONE', value];
const CARD = (value: string): Piece => ['CREDIT_CARD', value];

/** Two numbers, or a number and a card, separated by spaces only. */
function adjacent(r: Rand): Piece[] {
  const a = usPhone(r);
  return pick(r, [
    (): Piece[] => [PHONE(a), ' ', PHONE(usPhone(r))],
    (): Piece[] => [PHONE(a), pick(r, [' ', '  ']), CARD(card(r))],
    (): Piece[] => [CARD(card(r)), ' ', PHONE(a)],
    (): Piece[] => [PHONE(a), ' ', PHONE(phone(r)), ' ', PHONE(usPhone(r))],
    (): Piece[] => [PHONE(a), ` ${epochSeconds(r)}`],
    (): Piece[] => [`${decimalId(r)} `, PHONE(a)],
    (): Piece[] => [PHONE(intlPhone(r)), ' ', PHONE(a)],
    (): Piece[] => [PHONE(a), ' ', CARD(card(r)), ' ', PHONE(usPhone(r))],
    (): Piece[] => [CARD(card(r)), ' ', PHONE(intlPhone(r))],
  ])();
}

/** The surfaces where several numbers end up in one field or line. */
const ADJACENT_SURFACES: readonly ((r: Rand, body: Piece[]) => Piece[])[] = [
  (r, body) => [`${iso(r)} INFO contact updated: `, ...body, ' ok'],
  (r, body) => ['{"contacts": "', ...body, `", "updated": "${iso(r)}"}`],
  (r, body) => ['id,name,contacts\n', `${int(r, 99_999)},ana,"`, ...body, '"\n'],
  (r, body) => [` ${int(r, 99_999)} | ana | `, ...body, ' | t'],
  (r, body) => ['{"textPayload": "notes: ', ...escaped(body, 1), '"}'],
  (r, body) => ['notes=', ...body, '\n'],
  (r, body) => ['INSERT INTO contacts VALUES (', String(int(r, 999)), ", '", ...body, "');"],
];

// ---------- class 3: phones under phone keys, ids under id keys ----------

const PHONE_KEYS = ['phone', 'phone_number', 'phoneNumber', 'tel', 'mobile', 'fax', 'cell', 'contact_phone', 'PHONE', 'Mobile', 'msisdn'];

const KEYED_PHONES: readonly ((r: Rand) => Piece[])[] = [
  (r) => [`{"${pick(r, PHONE_KEYS)}": "`, PHONE(phone(r)), '"}'],
  (r) => [`${pick(r, PHONE_KEYS)}=`, PHONE(usPhone(r).replace(/ /g, '-')), ` status=${status(r)}`],
  (r) => [`${pick(r, PHONE_KEYS)}: `, PHONE(phone(r)), '\n'],
  (r) => [`${iso(r)} INFO sms sent to `, PHONE(phone(r))],
  (r) => ['call ', PHONE(phone(r)), ' after 5pm'],
  (r) => ['name,phone,city\nana,', PHONE(phone(r)), ',Lisbon\n'],
  (r) => [` ${int(r, 99_999)} | ana | `, PHONE(phone(r)), ' | Lisbon'],
  (r) => ['{"textPayload": "', ...escaped([`{"phone": "`, PHONE(phone(r)), '"}'], 1), '"}'],
  (r) => ['{"jsonPayload": {"message": "', ...escaped([`{"mobile": "`, PHONE(phone(r)), '"}'], 2), '"}}'],
  (r) => ['Tel.: ', PHONE(phone(r)), ' / Fax: ', PHONE(phone(r))],
];

const ID_KEYS = ['id', 'order_id', 'orderId', 'user_id', 'userId', 'customer_id', 'invoice_id', 'account_id', 'request_id', 'span_id', 'spanId', 'trace_id', 'parent_id', 'session_id', 'build', 'build_number', 'buildNumber', 'seq', 'sequence', 'offset', 'responseSize', 'requestSize', 'bytes', 'size', 'count', 'pid', 'uid', 'generation', 'ID', 'Id', 'job_id', 'txn_id'];
const TIME_KEYS = ['ts', 'timestamp', 'time', 'epoch', 'created', 'created_at', 'updated_at', 'timeMillis', 'ts_ms', 'timestamp_ms', 'expires', 'exp', 'iat'];

/** Decimal ids, sizes and times under keys that say so. */
const IDS: readonly ((r: Rand) => string)[] = [
  (r) => `${pick(r, ID_KEYS)}=${nanpDigits(r)}`,
  (r) => `{"${pick(r, ID_KEYS)}": ${nanpDigits(r)}, "status": "ok"}`,
  (r) => `{"${pick(r, ID_KEYS)}": "${nanpDigits(r)}"}`,
  (r) => `${iso(r)} INFO shipped ${pick(r, ID_KEYS)}=${nanpDigits(r)} items=${1 + int(r, 9)}`,
  (r) => `${pick(r, ID_KEYS)}: ${nanpDigits(r)}\n`,
  (r) => `${pick(r, TIME_KEYS)}=${r() < 0.5 ? epochSeconds(r) : epochMillis(r)}`,
  (r) => `{"${pick(r, TIME_KEYS)}": ${r() < 0.5 ? epochSeconds(r) : epochMillis(r)}}`,
  (r) => `trace=${decimalId(r)} span=${decimalId(r)}`,
  (r) => `{"span_id": "${decimalId(r)}", "trace_id": "${hex(r, 32)}"}`,
  (r) => `{"textPayload": "${esc1(`{"order_id": ${nanpDigits(r)}}`)}"}`,
  (r) => `{"jsonPayload": {"message": "${esc1(esc1(`{"userId": "${nanpDigits(r)}"}`))}"}}`,
  (r) => `--build-number ${nanpDigits(r)} --job-id=${nanpDigits(r)}`,
  (r) => `BUILD_ID=${nanpDigits(r)}\n`,
  (r) => `${pick(r, ['order', 'invoice', 'build', 'ticket', 'job'])} #${nanpDigits(r)} done`,
  (r) => `${pick(r, ['Order', 'Invoice', 'Build', 'Job'])} ID: ${nanpDigits(r)}`,
];

// ---------- the set ----------

/** The cases of this group, generated from `seed` (the same cases on every run). */
export function numbersSamples(seed: number): Sample[] {
  const r = rng(seed);
  const out: Sample[] = [];
  const add = (kind: string, count: number, make: () => Piece[]): void => {
    for (let i = 0; i < count; i++) out.push(sample(kind, make()));
  };
  for (const make of REQUEST_LOGS) add('IP_ADDRESS:request log', 40, () => make(r));
  add('IP_ADDRESS:cloud logging', 80, () => cloudLogging(r));
  for (const make of CONFIG_IPS) add('IP_ADDRESS:config', 15, () => make(r));
  for (const make of VERSIONS) add('negative:version in a user agent or after a version word', 30, () => [make(r)]);
  for (const surface of ADJACENT_SURFACES) add('PHONE:next to other digit runs', 40, () => surface(r, adjacent(r)));
  for (const make of KEYED_PHONES) add('PHONE:keyed and formatted', 30, () => make(r));
  for (const make of IDS) add('negative:decimal id under an id key', 30, () => [make(r)]);
  // Lower-case letters in a word glued to digits ('ab12…') never start a run: a quick sanity look-alike.
  add('negative:decimal id under an id key', 20, () => [`ref ${LOWER[int(r, 26)]}${Array.from({ length: 10 }, () => DIGITS[int(r, 10)]).join('')}`]);
  for (const make of WORD_IPS) add('IP_ADDRESS:after a word that is no version', 30, () => make(r));
  for (const make of PRODUCT_VERSIONS) add('negative:version after a product', 30, () => [make(r)]);
  return out;
}
