/**
 * The demo's log entries for project `airlock-demo`: what the local Logging server serves in `npm start`.
 * They look like a small production service's logs and carry what masking must catch: emails, card
 * numbers, passwords, bearer tokens, API keys, tokens in URL query strings, client IPs, an AWS key in a
 * stack trace, and audit logs with a principal's email and a secret in the request body. Deterministic for
 * a given `now`, so tests and docs can rely on it.
 */
import { AUDIT_LOG_TYPE_URL } from './audit-log-proto.js';
import type { JsonValue, LogEntryJson, LogSeverity } from './log-entry-proto.js';

/** The demo's project id. */
export const DEMO_PROJECT = 'airlock-demo';
/** The demo's log names. */
export const DEMO_LOGS = {
  app: `projects/${DEMO_PROJECT}/logs/app`,
  requests: `projects/${DEMO_PROJECT}/logs/requests`,
  audit: `projects/${DEMO_PROJECT}/logs/cloudaudit.googleapis.com%2Factivity`,
} as const;

const HOURS = 6;
const COUNT = 360;

const PEOPLE = ['ana.silva@example.com', 'bo.chen@example.org', 'carla.mendes@example.net', 'dev.patel@example.com', 'eve.okafor@example.com'];
// Test card numbers that pass the Luhn check (issuers' documented test numbers).
const CARDS = ['4111111111111111', '5500005555555559', '378282246310005', '6011111111111117', '4012888888881881'];
const IPS = ['203.0.113.17', '198.51.100.42', '192.0.2.88', '2001:db8::7', '203.0.113.201'];
const AGENTS = ['Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15', 'Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36', 'okhttp/4.12.0', 'curl/8.5.0'];
const PATHS = ['/v1/orders', '/v1/cart', '/v1/payments', '/v1/login', '/v1/profile', '/healthz'];
const PRINCIPALS = ['ops-admin@airlock-demo.iam.gserviceaccount.com', 'dana.admin@example.com', 'deploy-bot@airlock-demo.iam.gserviceaccount.com'];

function rng(seed: number): () => number {
  // mulberry32: small, fast, and the same sequence on every platform.
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(r: () => number, items: readonly T[]): T {
  return items[Math.floor(r() * items.length)] as T;
}

function hex(r: () => number, length: number): string {
  let out = '';
  while (out.length < length) out += Math.floor(r() * 16).toString(16);
  return out;
}

function token(r: () => number, length: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let out = '';
  while (out.length < length) out += alphabet[Math.floor(r() * alphabet.length)];
  return out;
}

function severityFor(r: () => number): LogSeverity {
  const x = r();
  if (x < 0.12) return 'DEBUG';
  if (x < 0.62) return 'INFO';
  if (x < 0.72) return 'NOTICE';
  if (x < 0.86) return 'WARNING';
  if (x < 0.97) return 'ERROR';
  return 'CRITICAL';
}

const RUN = { type: 'cloud_run_revision', labels: { project_id: DEMO_PROJECT, service_name: 'checkout', revision_name: 'checkout-00042-xoq', location: 'europe-west1', configuration_name: 'checkout' } };
const GCE = { type: 'gce_instance', labels: { project_id: DEMO_PROJECT, instance_id: '4817204761392047712', zone: 'europe-west1-b' } };
const SQL = { type: 'cloudsql_database', labels: { project_id: DEMO_PROJECT, database_id: `${DEMO_PROJECT}:orders-db`, region: 'europe-west1' } };

const STACK = (r: () => number): string =>
  [
    'Error: upstream payment gateway returned 502',
    '    at PaymentClient.charge (/srv/app/payments/client.js:88:13)',
    '    at async CheckoutService.placeOrder (/srv/app/checkout/service.js:142:7)',
    `    at async /srv/app/server.js:57:5 (request ${hex(r, 8)})`,
  ].join('\n');

type Kind = 'app' | 'request' | 'text' | 'audit';

function entry(kind: Kind, r: () => number, time: Date, n: number): LogEntryJson {
  const trace = `projects/${DEMO_PROJECT}/traces/${hex(r, 32)}`;
  const spanId = hex(r, 16);
  const email = pick(r, PEOPLE);
  const base = { timestamp: time.toISOString(), insertId: `demo-${String(n).padStart(4, '0')}-${hex(r, 6)}`, trace, spanId };
  switch (kind) {
    case 'app': {
      const severity = severityFor(r);
      const variant = n % 5;
      const jsonPayload: { [key: string]: JsonValue } =
        variant === 0
          ? { message: 'payment authorised', user: { email, id: `u_${hex(r, 6)}` }, payment: { card_number: pick(r, CARDS), amount: Math.round(r() * 50000) / 100, currency: 'EUR' } }
          : variant === 1
            ? { message: 'login failed', email, password: `Summer${2020 + (n % 6)}!${token(r, 3)}`, attempts: 1 + (n % 4) }
            : variant === 2
              ? { message: 'calling partner API', headers: { authorization: `Bearer eyJhbGciOiJSUzI1NiJ9.${token(r, 40)}.${token(r, 43)}`, 'x-request-id': hex(r, 12) }, api_key: `AIzaSy${token(r, 33)}` }
              : variant === 3
                ? { message: 'order placed', order_id: `ord_${hex(r, 10)}`, customer: { email, phone: '+44 20 7946 0958' }, items: 1 + (n % 3) }
                : { message: 'cache refreshed', keys: 100 + (n % 50), duration_ms: Math.round(r() * 400) };
      return { ...base, logName: DEMO_LOGS.app, resource: RUN, severity, labels: { service: 'checkout', env: 'prod' }, jsonPayload };
    }
    case 'request': {
      const status = pick(r, [200, 200, 200, 201, 204, 302, 400, 401, 403, 404, 500, 503]);
      const path = pick(r, PATHS);
      return {
        ...base,
        logName: DEMO_LOGS.requests,
        resource: n % 4 === 0 ? GCE : RUN,
        severity: status >= 500 ? 'ERROR' : status >= 400 ? 'WARNING' : 'INFO',
        httpRequest: {
          requestMethod: path === '/v1/login' || path === '/v1/payments' ? 'POST' : 'GET',
          requestUrl: `https://api.airlock-demo.example${path}?access_token=ya29.${token(r, 36)}&email=${encodeURIComponent(email)}&page=${1 + (n % 3)}`,
          status,
          responseSize: String(200 + Math.floor(r() * 20000)),
          remoteIp: pick(r, IPS),
          userAgent: pick(r, AGENTS),
          referer: `https://shop.airlock-demo.example/cart?session=${token(r, 24)}&email=${encodeURIComponent(email)}`,
          latency: `${(r() * 1.5).toFixed(6)}s`,
          protocol: 'HTTP/1.1',
        },
      };
    }
    case 'text': {
      const severity = n % 3 === 0 ? 'ERROR' : n % 3 === 1 ? 'WARNING' : 'DEBUG';
      const textPayload =
        severity === 'ERROR'
          ? `${STACK(r)}\n    env: AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY`
          : severity === 'WARNING'
            ? `slow query (${Math.round(r() * 3000)} ms) for customer ${email}: SELECT * FROM orders WHERE card_number = '${pick(r, CARDS)}'`
            : `worker ${hex(r, 4)} heartbeat ok; queue depth ${Math.floor(r() * 40)}`;
      return { ...base, logName: DEMO_LOGS.app, resource: GCE, severity, textPayload };
    }
    case 'audit': {
      const principal = pick(r, PRINCIPALS);
      const variant = n % 3;
      const protoPayload =
        variant === 0
          ? {
              methodName: 'cloudsql.users.update',
              serviceName: 'cloudsql.googleapis.com',
              resourceName: `projects/${DEMO_PROJECT}/instances/orders-db/users/app`,
              request: { '@type': 'type.googleapis.com/google.cloud.sql.v1beta4.SqlUsersUpdateRequest', project: DEMO_PROJECT, instance: 'orders-db', body: { name: 'app', password: `Pr0d-${token(r, 16)}` } },
            }
          : variant === 1
            ? {
                methodName: 'google.iam.admin.v1.CreateServiceAccountKey',
                serviceName: 'iam.googleapis.com',
                resourceName: `projects/-/serviceAccounts/deploy-bot@${DEMO_PROJECT}.iam.gserviceaccount.com`,
                request: { '@type': 'type.googleapis.com/google.iam.admin.v1.CreateServiceAccountKeyRequest', name: `projects/-/serviceAccounts/deploy-bot@${DEMO_PROJECT}.iam.gserviceaccount.com` },
                response: { '@type': 'type.googleapis.com/google.iam.admin.v1.ServiceAccountKey', name: `keys/${hex(r, 40)}`, private_key_data: `LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0t${token(r, 40)}` },
              }
            : {
                methodName: 'cloudsql.instances.connect',
                serviceName: 'cloudsql.googleapis.com',
                resourceName: `projects/${DEMO_PROJECT}/instances/orders-db`,
                request: { '@type': 'type.googleapis.com/google.cloud.sql.v1beta4.SqlInstancesConnectRequest', user: 'app', database: 'orders' },
              };
      return {
        ...base,
        logName: DEMO_LOGS.audit,
        resource: SQL,
        severity: variant === 1 ? 'NOTICE' : 'INFO',
        protoPayload: {
          '@type': AUDIT_LOG_TYPE_URL,
          ...protoPayload,
          authenticationInfo: { principalEmail: principal },
          authorizationInfo: [{ resource: protoPayload.resourceName, permission: protoPayload.methodName.replace(/^google\.iam\.admin\.v1\.CreateServiceAccountKey$/, 'iam.serviceAccountKeys.create'), granted: true }],
          requestMetadata: { callerIp: pick(r, IPS), callerSuppliedUserAgent: pick(r, AGENTS) },
          status: {},
        },
      };
    }
  }
}

function kindFor(n: number): Kind {
  const x = n % 20;
  if (x < 9) return 'app';
  if (x < 16) return 'request';
  if (x < 19) return 'text';
  return 'audit';
}

/**
 * The demo set: 360 entries over the 6 hours before `now`, oldest first — app logs (JSON), request logs
 * (HTTP requests), text lines (stack traces) and audit logs, on Cloud Run, Compute Engine and Cloud SQL
 * resources, DEBUG to CRITICAL plus one ALERT and one EMERGENCY. The same `now` gives the same entries.
 */
export function demoLogEntries(now: Date): LogEntryJson[] {
  const r = rng(0x5eed);
  const span = HOURS * 3600_000;
  const out: LogEntryJson[] = [];
  for (let n = 0; n < COUNT; n++) {
    const at = new Date(now.getTime() - span + Math.floor(((n + r() * 0.9) * span) / COUNT));
    out.push(entry(kindFor(n), r, at, n));
  }
  const alertAt = new Date(now.getTime() - 95 * 60_000);
  out.push({ logName: DEMO_LOGS.app, resource: RUN, timestamp: alertAt.toISOString(), severity: 'ALERT', insertId: 'demo-alert', textPayload: 'payment error rate above 20% for 5 minutes (card 4111111111111111 declined repeatedly)' });
  out.push({ logName: DEMO_LOGS.app, resource: GCE, timestamp: new Date(alertAt.getTime() + 42_000).toISOString(), severity: 'EMERGENCY', insertId: 'demo-emergency', textPayload: `disk full on worker; last write from ${PEOPLE[0] ?? ''}` });
  return out.sort((a, b) => a.timestamp.localeCompare(b.timestamp));
}

/** One entry for the demo's live tail: the `i`-th of an endless sequence, stamped `now`. */
export function demoLiveEntry(i: number, now: Date): LogEntryJson {
  const r = rng(0x11fe + i);
  const kinds: readonly Kind[] = ['request', 'app', 'request', 'text', 'app', 'audit'];
  const e = entry(kinds[i % kinds.length] ?? 'app', r, now, i);
  return { ...e, insertId: `live-${i}` };
}
