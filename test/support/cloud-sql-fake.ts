/**
 * A local stand-in for Cloud SQL, speaking what the real `@google-cloud/cloud-sql-connector` speaks:
 * the Admin API (`connectSettings`, `generateEphemeralCert`, signing the connector's public key with a
 * CA made here by openssl) and the server-side proxy on 127.0.0.1:3307 (TLS 1.3 with client
 * certificates), which forwards to a real PostgreSQL. Like Cloud SQL's IAM database authentication, it
 * lets a connection in only if its client certificate was issued against a valid access token.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';

export interface CloudSqlFake {
  readonly adminEndpoint: string;
  /** Access tokens seen on generateEphemeralCert (IAM authentication). */
  readonly tokens: string[];
  readonly requests: string[];
  close(): Promise<void>;
}

export const PROXY_PORT = 3307;

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
}

export async function startCloudSqlFake(options: {
  project: string;
  region: string;
  instance: string;
  postgresPort: number;
  validToken: string;
}): Promise<CloudSqlFake> {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-cloudsql-'));
  openssl(dir, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-subj', '/CN=Google Cloud SQL Server CA', '-days', '2']);
  openssl(dir, ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', `/CN=${options.project}:${options.instance}`]);
  openssl(dir, ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2']);
  const ca = readFileSync(join(dir, 'ca.pem'), 'utf8');
  const tokens: string[] = [];
  const requests: string[] = [];
  /** Serial numbers of client certificates issued against a valid token. */
  const authorizedSerials = new Set<string>();

  const admin: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const url = req.url ?? '';
      requests.push(`${req.method ?? ''} ${url.split('?')[0] ?? ''}`);
      res.setHeader('content-type', 'application/json');
      const base = `/sql/v1beta4/projects/${options.project}/instances/${options.instance}`;
      if (req.method === 'GET' && url.startsWith(`${base}/connectSettings`)) {
        res.end(
          JSON.stringify({
            kind: 'sql#connectSettings',
            serverCaCert: { cert: ca, expirationTime: new Date(Date.now() + 86_400_000).toISOString() },
            ipAddresses: [{ type: 'PRIMARY', ipAddress: '127.0.0.1' }],
            region: options.region,
            databaseVersion: 'POSTGRES_18',
            backendType: 'SECOND_GEN',
          }),
        );
        return;
      }
      if (req.method === 'POST' && url.startsWith(`${base}:generateEphemeralCert`)) {
        const request = JSON.parse(body) as { public_key?: string; access_token?: string };
        if (request.access_token !== undefined) tokens.push(request.access_token);
        const id = randomUUID();
        writeFileSync(join(dir, `${id}.pub`), request.public_key ?? '');
        openssl(dir, ['x509', '-new', '-force_pubkey', `${id}.pub`, '-subj', `/CN=${id}`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-days', '1', '-out', `${id}.pem`]);
        const cert = readFileSync(join(dir, `${id}.pem`), 'utf8');
        if (request.access_token === options.validToken) authorizedSerials.add(new X509Certificate(cert).serialNumber);
        res.end(JSON.stringify({ ephemeralCert: { cert, expirationTime: new Date(Date.now() + 3_600_000).toISOString() } }));
        return;
      }
      res.statusCode = 404;
      res.end(JSON.stringify({ error: { code: 404, message: `no fake for ${url}` } }));
    });
  });
  await new Promise<void>((r) => admin.listen(0, '127.0.0.1', r));

  const proxy: TlsServer = createTlsServer(
    {
      key: readFileSync(join(dir, 'server.key')),
      cert: readFileSync(join(dir, 'server.pem')),
      ca,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.3',
    },
    (socket: TLSSocket) => {
      const peer = socket.getPeerX509Certificate();
      if (peer === undefined || !authorizedSerials.has(peer.serialNumber)) {
        socket.destroy();
        return;
      }
      const upstream = netConnect(options.postgresPort, '127.0.0.1');
      socket.pipe(upstream).pipe(socket);
      upstream.on('error', () => socket.destroy());
      socket.on('error', () => upstream.destroy());
    },
  );
  await new Promise<void>((resolve, reject) => {
    proxy.once('error', reject);
    proxy.listen(PROXY_PORT, '127.0.0.1', resolve);
  });

  return {
    adminEndpoint: `http://127.0.0.1:${(admin.address() as AddressInfo).port}`,
    tokens,
    requests,
    async close() {
      await new Promise<void>((r) => proxy.close(() => r()));
      admin.closeAllConnections();
      await new Promise<void>((r) => admin.close(() => r()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
