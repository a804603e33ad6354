/**
 * The demo bucket's objects, generated (deterministically) into a folder the local Cloud Storage server
 * serves: a customer export with card numbers, emails and phones; NDJSON API logs with tokens, IPs and a
 * password field; a service-account key file; a gzip worker log with a card and an AWS key; a real PNG.
 * Every card number is a published test number; every key is made up.
 */
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { deflateSync, gzipSync } from 'node:zlib';
import { DEMO_CARDS } from './demo-cards.js';

/** The Cloud Storage name of the demo bucket. */
export const DEMO_BUCKET = 'airlock-demo-data';

const PEOPLE: readonly [string, string, string][] = [
  ['Ana', 'Silva', '+1 415 555 0134'],
  ['Ben', 'Okafor', '+44 20 7946 0321'],
  ['Chloé', 'Martin', '+33 1 70 36 39 50'],
  ['Dev', 'Patel', '+1 212 555 0187'],
  ['Elif', 'Yilmaz', '+49 30 901820'],
  ['Femi', 'Adeyemi', '+1 646 555 0145'],
];

/** Deterministic bytes (a hash chain): stable demo keys and tokens across runs. */
function bytes(seed: string, n: number): Buffer {
  const out: Buffer[] = [];
  let block = createHash('sha256').update(seed).digest();
  let total = 0;
  while (total < n) {
    out.push(block);
    total += block.length;
    block = createHash('sha256').update(block).digest();
  }
  return Buffer.concat(out).subarray(0, n);
}

function customersCsv(): string {
  const lines = ['customer_id,full_name,email,card_number,phone,country,created_at'];
  PEOPLE.forEach(([first, last, phone], i) => {
    const email = `${first.toLowerCase().normalize('NFD').replace(/[^a-z]/g, '')}.${last.toLowerCase()}@example.com`;
    lines.push([1001 + i, `${first} ${last}`, email, DEMO_CARDS[i % DEMO_CARDS.length], `"${phone}"`, ['US', 'GB', 'FR', 'US', 'DE', 'US'][i], `2026-11-${String(3 + i * 4).padStart(2, '0')}T10:15:00Z`].join(','));
  });
  return `${lines.join('\n')}\n`;
}

function apiLogNdjson(): string {
  const routes = ['/v1/orders', '/v1/customers/1002', '/v1/login', '/v1/orders/77/refund', '/v1/health'];
  const lines = routes.map((route, i) => {
    const [first, last] = PEOPLE[i % PEOPLE.length] as [string, string, string];
    const entry: Record<string, unknown> = {
      ts: `2026-12-01T08:${String(10 + i * 7).padStart(2, '0')}:0${i}Z`,
      level: i === 3 ? 'error' : 'info',
      method: i === 2 ? 'POST' : 'GET',
      path: route,
      status: i === 3 ? 500 : 200,
      client_ip: `203.0.113.${20 + i}`,
      user: `${first.toLowerCase().normalize('NFD').replace(/[^a-z]/g, '')}.${last.toLowerCase()}@example.com`,
      authorization: `Bearer eyJhbGciOiJIUzI1NiJ9.${bytes(`jwt${i}`, 24).toString('base64url')}.${bytes(`sig${i}`, 32).toString('base64url')}`,
    };
    if (i === 2) entry.body = { username: entry.user, password: 'correct-horse-battery-staple' };
    if (i === 3) entry.error = `refund failed for card ${DEMO_CARDS[1]}`;
    return JSON.stringify(entry);
  });
  return `${lines.join('\n')}\n`;
}

function serviceAccountJson(): string {
  const body = bytes('demo-service-account-key', 1190).toString('base64').replace(/(.{64})/g, '$1\n').trimEnd();
  const key = {
    type: 'service_account',
    project_id: 'airlock-demo',
    private_key_id: bytes('key-id', 20).toString('hex'),
    private_key: `-----BEGIN PRIVATE KEY-----\n${body}\n-----END PRIVATE KEY-----\n`,
    client_email: 'exporter@airlock-demo.iam.gserviceaccount.com',
    client_id: '104729384756102938475',
    auth_uri: 'https://accounts.google.com/o/oauth2/auth',
    token_uri: 'https://oauth2.googleapis.com/token',
  };
  return `${JSON.stringify(key, null, 2)}\n`;
}

function workerLog(): string {
  const lines: string[] = [];
  for (let i = 0; i < 40; i++) lines.push(`2026-12-01T09:${String(i).padStart(2, '0')}:00Z INFO worker-3 job ${5000 + i} done in ${(i * 37) % 900} ms`);
  lines.splice(12, 0, `2026-12-01T09:12:30Z WARN worker-3 payment retry for card ${DEMO_CARDS[0]} (customer ana.silva@example.com)`);
  lines.splice(25, 0, '2026-12-01T09:24:10Z DEBUG worker-3 using AWS key AKIAIOSFODNN7EXAMPLE for s3://exports');
  return `${lines.join('\n')}\n`;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) c = (CRC_TABLE[(c ^ b) & 0xff] ?? 0) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])));
  return Buffer.concat([head, data, crc]);
}

/** A real 16×16 RGB PNG (a two-colour logo), built in code so no binary file is kept in the repository. */
export function demoPng(): Buffer {
  const size = 16;
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // truecolour
  const rows: Buffer[] = [];
  for (let y = 0; y < size; y++) {
    const row = Buffer.alloc(1 + size * 3);
    for (let x = 0; x < size; x++) {
      const inside = Math.abs(x - 7.5) + Math.abs(y - 7.5) < 7;
      row.set(inside ? [0x1a, 0x73, 0xe8] : [0xff, 0xff, 0xff], 1 + x * 3);
    }
    rows.push(row);
  }
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.concat(rows))), chunk('IEND', Buffer.alloc(0))]);
}

/** Object name → content, in the demo bucket. */
export function demoObjects(): Readonly<Record<string, string | Buffer>> {
  return {
    'exports/customers-2026-11.csv': customersCsv(),
    'app/logs/api-2026-12-01.ndjson': apiLogNdjson(),
    'app/logs/worker.log.gz': gzipSync(workerLog()),
    'app/assets/logo.png': demoPng(),
    'app/README.md': '# app\n\nLogs and assets of the shop API. Logs rotate daily; worker logs are gzip.\n',
    'app/config/features.json': `${JSON.stringify({ checkout_v2: true, refunds: { enabled: true, max_eur: 500 } }, null, 2)}\n`,
    'config/service.json': serviceAccountJson(),
    'config/settings.txt': 'region=europe-west1\nreplicas=3\nsupport_email=support@example.com\n',
  };
}

/** Writes the demo bucket under `root` (`<root>/airlock-demo-data/...`). */
export async function writeDemoObjects(root: string): Promise<void> {
  for (const [name, content] of Object.entries(demoObjects())) {
    const path = join(root, DEMO_BUCKET, ...name.split('/'));
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, content);
  }
}
