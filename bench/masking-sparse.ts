/**
 * Production-like sparse request logs for the masking bench (issue 20): what a service behind a load
 * balancer writes most of the time. JSON access-log lines, combined-log lines, plain application lines
 * and trace lines full of request and trace ids, UUIDs, user agents (reduced Chrome, Edge, Firefox,
 * Safari, mobile, bots and HTTP clients), versions, paths, status codes and latencies — and, about once
 * per 4 KB, one planted finding (an email, a card, a bearer JWT, an AWS access key, a password in a URL,
 * a client IP). The generator records what it planted, so the density is known without asking a masker.
 */
import { ALNUM, BASE64, chars, flatLines, HEX, int, pick, rng, uuid, type GeneratedLog, type Rand } from './masking-rng.js';

/** The detector a planted value must be found by, and the value itself (it occurs once in its line). */
export interface Planted {
  readonly line: number;
  readonly type: 'EMAIL' | 'CREDIT_CARD' | 'JWT' | 'AWS_ACCESS_KEY' | 'PASSWORD_IN_URL' | 'IP_ADDRESS';
  readonly value: string;
}

export interface SparseLog extends GeneratedLog {
  readonly planted: readonly Planted[];
}

/** Mean distance between planted findings, in bytes. */
export const SPARSE_SPACING = 4096;

const CHROME = ['120', '122', '124', '126', '128', '129', '130', '131', '132', '133'];
const FIREFOX = ['115.0', '128.0', '131.0', '132.0', '133.0', '134.0'];
const SAFARI = ['16.6', '17.4.1', '17.6', '18.0', '18.1', '18.2'];
const USER_AGENTS: readonly ((r: Rand) => string)[] = [
  (r) => `Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${pick(r, CHROME)}.0.0.0 Safari/537.36`,
  (r) => `Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${pick(r, CHROME)}.0.0.0 Safari/537.36`,
  (r) => `Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${pick(r, CHROME)}.0.0.0 Mobile Safari/537.36`,
  (r) => `Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${pick(r, CHROME)}.0.0.0 Safari/537.36`,
  (r) => {
    const v = pick(r, CHROME);
    return `Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${v}.0.0.0 Safari/537.36 Edg/${v}.0.${2000 + int(r, 1000)}.${int(r, 120)}`;
  },
  (r) => {
    const v = pick(r, FIREFOX);
    return `Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:${v}) Gecko/20100101 Firefox/${v}`;
  },
  (r) => {
    const v = pick(r, FIREFOX);
    return `Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:${v}) Gecko/20100101 Firefox/${v}`;
  },
  (r) => `Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/${pick(r, SAFARI)} Safari/605.1.15`,
  (r) => {
    const v = pick(r, SAFARI);
    return `Mozilla/5.0 (iPhone; CPU iPhone OS ${v.replace(/\./g, '_')} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/${v} Mobile/15E148 Safari/604.1`;
  },
  (r) => `curl/8.${int(r, 12)}.${int(r, 3)}`,
  (r) => `okhttp/4.${int(r, 13)}.${int(r, 3)}`,
  (r) => `python-requests/2.${28 + int(r, 5)}.${int(r, 4)}`,
  () => 'Go-http-client/2.0',
  (r) => `kube-probe/1.${28 + int(r, 4)}`,
  () => 'GoogleHC/1.0',
  () => 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
];
const METHODS = ['GET', 'GET', 'GET', 'GET', 'POST', 'POST', 'PUT', 'DELETE', 'PATCH'];
const STATUS = [200, 200, 200, 200, 200, 200, 201, 204, 301, 304, 400, 401, 403, 404, 409, 429, 500, 502, 503];
const SERVICES = ['orders-api', 'checkout', 'catalog', 'auth-gw', 'search', 'inventory'];
const VERSIONS = (r: Rand): string => pick(r, [`${int(r, 6)}.${int(r, 30)}.${int(r, 12)}`, `v${int(r, 4)}.${int(r, 20)}.${int(r, 9)}`, `${int(r, 3)}.${int(r, 9)}.${int(r, 40)}.${256 + int(r, 9000)}`, `v${int(r, 12)}.${int(r, 4)}.0.${int(r, 90)}`]);

function path(r: Rand): string {
  return pick(r, [
    () => `/api/v${1 + int(r, 3)}/orders/${uuid(r)}`,
    () => `/api/v2/orders?page=${int(r, 80)}&limit=${pick(r, [20, 50, 100])}&cursor=${chars(r, BASE64.slice(0, 62), 24)}`,
    () => `/api/v1/catalog/items/${int(r, 1e6)}/reviews`,
    () => `/static/js/app.${chars(r, HEX, 8)}.js`,
    () => `/healthz`,
    () => `/api/v1/search?q=${pick(r, ['blue+shoes', 'usb-c', 'desk+lamp', 'rain+jacket'])}&sort=price`,
    () => `/v1/projects/demo-project/locations/europe-west1/jobs/${chars(r, ALNUM.slice(26, 52), 10)}`,
  ])();
}

const time = (r: Rand, n: number): string => `2026-11-29T10:${String(Math.floor(n / 60) % 60).padStart(2, '0')}:${String(n % 60).padStart(2, '0')}.${String(int(r, 1000)).padStart(3, '0')}Z`;
const CLF_TIME = (n: number): string => `29/Nov/2026:10:${String(Math.floor(n / 60) % 60).padStart(2, '0')}:${String(n % 60).padStart(2, '0')} +0000`;

// Four-part versions: `v`-prefixed, or with a build number above 255 (a bare dotted quad of small numbers
// under a key named version is ambiguous, and the bench is not the place to decide it).

/** Ordinary lines: nothing in them is sensitive. `extra` is an optional field carrying a planted value. */
const SHAPES: readonly ((r: Rand, n: number, extra: string) => string)[] = [
  // A JSON access log (Cloud Run / nginx json format).
  (r, n, extra) =>
    `{"time":"${time(r, n)}","severity":"INFO","httpRequest":{"requestMethod":"${pick(r, METHODS)}","requestUrl":"${path(r)}","status":${pick(r, STATUS)},"responseSize":"${int(r, 90000)}","latency":"0.${String(int(r, 999999)).padStart(6, '0')}s","userAgent":"${pick(r, USER_AGENTS)(r)}","protocol":"HTTP/1.1"},"logging.googleapis.com/trace":"projects/demo-project/traces/${chars(r, HEX, 32)}","logging.googleapis.com/spanId":"${chars(r, HEX, 16)}","requestId":"${uuid(r)}"${extra}}`,
  // A combined-log line from the proxy (remote address is the upstream's name, behind the load balancer).
  (r, n, extra) =>
    `gw-${int(r, 8)}.internal - - [${CLF_TIME(n)}] "${pick(r, METHODS)} ${path(r)} HTTP/1.1" ${pick(r, STATUS)} ${int(r, 90000)} "https://shop.example.com/${pick(r, ['', 'cart', 'checkout', 'account'])}" "${pick(r, USER_AGENTS)(r)}" rt=0.${String(int(r, 999)).padStart(3, '0')} uct=0.00${int(r, 9)} req_id=${chars(r, HEX, 32)}${extra}`,
  // A plain application line.
  (r, n, extra) =>
    `${time(r, n)} INFO  [${pick(r, SERVICES)}] ${pick(r, ['order.fetched', 'cart.updated', 'stock.reserved', 'search.served', 'cache.miss'])} request_id=${uuid(r)} tenant=t-${int(r, 5000)} duration=${int(r, 900)}ms version=${VERSIONS(r)} build=${chars(r, HEX, 12)}${extra}`,
  // A JSON application log with a trace context.
  (r, n, extra) =>
    `{"ts":"${time(r, n)}","level":"${pick(r, ['debug', 'info', 'info', 'warn'])}","service":"${pick(r, SERVICES)}","version":"${VERSIONS(r)}","msg":"${pick(r, ['handled request', 'upstream call', 'retrying', 'cache refreshed'])}","trace_id":"${chars(r, HEX, 32)}","span_id":"${chars(r, HEX, 16)}","order_id":"ord_${chars(r, ALNUM, 14)}","attempt":${int(r, 4)},"elapsed_ms":${(r() * 900).toFixed(2)}${extra}}`,
  // A trace/span summary line.
  (r, n, extra) =>
    `${time(r, n)} trace=${chars(r, HEX, 32)} span=${chars(r, HEX, 16)} parent=${chars(r, HEX, 16)} name="${pick(r, ['SELECT orders', 'HTTP GET', 'redis GET', 'pubsub publish'])}" dur_us=${int(r, 200000)} sha256=${chars(r, HEX, 64)} etag="${chars(r, HEX, 32)}"${extra}`,
];

function luhnCard(r: Rand): string {
  const digits = `4${chars(r, '0123456789', 14)}`;
  let sum = 0;
  for (let i = 0; i < 15; i++) {
    let d = Number(digits[14 - i]);
    if (i % 2 === 0) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return `${digits}${(10 - (sum % 10)) % 10}`;
}

const b64url = (s: string): string => Buffer.from(s).toString('base64url');

/** A planted value and how it is written into a line of each shape (JSON shapes get a JSON field). */
const PLANTS: readonly ((r: Rand) => { type: Planted['type']; value: string; json: string; text: string })[] = [
  (r) => {
    const value = `${pick(r, ['ana.silva', 'j.doe', 'maria', 'ops-team', 'li.wei'])}${int(r, 1000)}@${pick(r, ['example.com', 'example.org', 'mail.example.net'])}`;
    return { type: 'EMAIL', value, json: `,"user":"${value}"`, text: ` user=${value}` };
  },
  (r) => {
    const value = luhnCard(r);
    return { type: 'CREDIT_CARD', value, json: `,"payment":{"card":"${value}"}`, text: ` card=${value}` };
  },
  (r) => {
    const value = `${b64url('{"alg":"RS256","typ":"JWT"}')}.${b64url(`{"sub":"${int(r, 1e6)}","iat":${1764000000 + int(r, 1e6)}}`)}.${chars(r, BASE64.slice(0, 62), 43)}`;
    return { type: 'JWT', value, json: `,"authorization":"Bearer ${value}"`, text: ` authorization="Bearer ${value}"` };
  },
  (r) => {
    const value = `AKIA${chars(r, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', 16)}`;
    return { type: 'AWS_ACCESS_KEY', value, json: `,"aws_access_key_id":"${value}"`, text: ` aws_access_key_id=${value}` };
  },
  (r) => {
    const secret = chars(r, ALNUM, 14);
    const value = `postgres://app:${secret}@db-${int(r, 4)}.internal:5432/shop`;
    return { type: 'PASSWORD_IN_URL', value: secret, json: `,"dsn":"${value}"`, text: ` dsn=${value}` };
  },
  (r) => {
    const value = `203.0.113.${1 + int(r, 254)}`;
    return { type: 'IP_ADDRESS', value, json: `,"client_ip":"${value}"`, text: ` client=${value}` };
  },
];

/**
 * At least `megabytes` MiB of sparse request logs (seed 7). A value is planted once the text since the
 * last one is longer than a distance drawn uniformly from [SPARSE_SPACING/2, 3·SPARSE_SPACING/2).
 */
export function sparseLog(megabytes: number, seed = 7): SparseLog {
  const r = rng(seed);
  const lines: string[] = [];
  const planted: Planted[] = [];
  let bytes = 0;
  let since = 0;
  let next = SPARSE_SPACING / 2 + int(r, SPARSE_SPACING);
  for (let n = 0; bytes < megabytes * 1024 * 1024; n++) {
    const shape = int(r, SHAPES.length);
    let extra = '';
    if (since >= next) {
      const plant = pick(r, PLANTS)(r);
      extra = shape === 0 || shape === 3 ? plant.json : plant.text;
      planted.push({ line: lines.length, type: plant.type, value: plant.value });
      since = 0;
      next = SPARSE_SPACING / 2 + int(r, SPARSE_SPACING);
    }
    const line = SHAPES[shape]!(r, n, extra);
    lines.push(line);
    bytes += line.length + 1;
    since += line.length + 1;
  }
  return { lines: flatLines(lines), bytes, planted };
}
