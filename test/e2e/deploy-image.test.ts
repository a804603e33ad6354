/**
 * The image's runtime stage, run without Docker: its RUN and COPY steps are read from the Dockerfile and done
 * in a temp folder (`npm ci --omit=dev` from the npm cache, the build's output copied as the stage copies
 * it), then the ENTRYPOINT and CMD start as the image would, with compose.yaml's environment and runtime
 * config, on PostgreSQL stores. The healthcheck command and the GKE and Cloud Run probes are sent as declared.
 * Not run here: a Docker engine, the base image, a cluster, Cloud Run, Cloud SQL and its Auth Proxy.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { verifyPgStore } from '../../src/audit/pg-store.js';
import { ROOT, tempDir, textOf } from '../support/airlock.js';
import { stopChild, waitForOutput } from '../support/child.js';
import { raw } from '../support/http.js';
import { copyParts, instructions, readDockerfile, readYaml, runCommands, stage } from '../support/deploy-files.js';
import { startLocalIssuer, type LocalIssuer } from '../support/oidc-issuer.js';

const npmCli = process.env.npm_execpath ?? join(process.execPath, '..', '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');
const runtime = stage(readDockerfile(), 'runtime');
const RESOURCE = 'https://airlock.example.com/mcp';

/** The image's filesystem, rooted in a temp folder: `/app` → `<root>/app`, and so on. */
let root = '';
const at = (path: string): string => join(root, path);
/** `/usr/local/bin` of the image, put first on PATH. */
let bin = '';
let issuer: LocalIssuer | undefined;
const admin = new pg.Client({ connectionString: inject('adminUrl') });
let storeDb = '';
let storeUrl = '';

/** Does one command of a RUN step of the runtime stage in the temp image; any other command fails the test. */
function run(command: string, workdir: string): void {
  const words = command.split(/\s+/);
  if (words[0] === 'npm' && words[1] === 'ci') {
    // From this machine's npm cache: the same lockfile, no network.
    const r = spawnSync(process.execPath, [npmCli, ...words.slice(1), '--offline', '--loglevel=error'], { cwd: at(workdir), encoding: 'utf8', env: { ...process.env, npm_config_update_notifier: 'false' } });
    if (r.status !== 0) throw new Error(`${command}: ${r.stderr}`);
  } else if (command === 'npm cache clean --force') {
    // Empties the image's cache; here it would empty this machine's.
  } else if (words[0] === 'ln' && words[1] === '-s' && words[3] === '/usr/local/bin/airlock') {
    symlinkSync(at(words[2] ?? ''), join(bin, 'airlock'));
  } else if (words[0] === 'mkdir' && words[1] === '-p') {
    for (const dir of words.slice(2)) mkdirSync(at(dir), { recursive: true });
  } else if (words[0] === 'chown') {
    // The owner of /var/lib/airlock (tests run as one user).
  } else throw new Error(`the runtime stage runs a command this test does not know: ${command}`);
}

/** Every file under a folder with its size and modification time, to see whether anything wrote there. */
function snapshot(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => !e.isDirectory())
    .map((e) => {
      const path = join(e.parentPath, e.name);
      const s = statSync(path, { throwIfNoEntry: false });
      return `${path} ${s?.size ?? 'link'} ${s?.mtimeMs ?? ''}`;
    })
    .sort();
}

/** The image's CMD with its paths in the temp image and the port given, plus the environment compose sets. */
function started(args: readonly string[], env: Record<string, string>, port: number): ChildProcess {
  const mapped = args.map((a) => (a.startsWith('/') ? at(a) : a)).map((a, i, all) => (all[i - 1] === '--port' ? String(port) : a));
  return spawn(join(bin, 'airlock'), mapped, { cwd: at('/app'), env: { PATH: `${bin}:${process.env.PATH ?? ''}`, HOME: at('/home/node'), TMPDIR: at('/tmp'), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

beforeAll(async () => {
  root = tempDir('airlock-image-');
  bin = at('/usr/local/bin');
  for (const dir of ['/usr/local/bin', '/tmp', '/home/node', '/etc/airlock']) mkdirSync(at(dir), { recursive: true });
  let workdir = '/';
  for (const step of runtime.instructions) {
    if (step.keyword === 'WORKDIR') mkdirSync(at((workdir = step.text)), { recursive: true });
    else if (step.keyword === 'COPY') {
      const { from, sources, dest } = copyParts(step);
      for (const source of sources) {
        // `--from=build` copies the build's /src: this checkout, built by `npm test` before the tests run.
        const src = from === 'build' ? join(ROOT, source.replace(/^\/src\//, '')) : join(ROOT, source);
        const target = dest.endsWith('/') ? join(at(workdir), dest, source.split('/').at(-1) ?? '') : join(at(workdir), dest);
        cpSync(src, target, { recursive: true });
      }
    } else if (step.keyword === 'RUN') for (const command of runCommands(step)) run(command, workdir);
  }
  issuer = await startLocalIssuer();
  await admin.connect();
  storeDb = `airlock_image_${randomBytes(4).toString('hex')}`;
  await admin.query(`CREATE DATABASE ${storeDb}`);
  const url = new URL(inject('adminUrl'));
  url.pathname = `/${storeDb}`;
  storeUrl = url.toString();
}, 180_000);

afterAll(async () => {
  await issuer?.close();
  if (storeDb !== '') await admin.query(`DROP DATABASE IF EXISTS ${storeDb} WITH (FORCE)`);
  await admin.end();
});

/** Starts the image's command, waits until it serves, and returns its URL (the caller stops it). */
async function serve(args: readonly string[], env: Record<string, string>): Promise<{ child: ChildProcess; url: string; port: number }> {
  const child = started(args, env, 0);
  const match = await waitForOutput(child, /serving MCP on (http:\/\/[^/\s]+)\/mcp/, { stream: 'stderr', timeoutMs: 60_000 });
  // It listens on every interface; a client on this machine reaches it on loopback.
  const port = Number(new URL(match[1] ?? '').port);
  return { child, url: `http://127.0.0.1:${port}`, port };
}

/** The runtime config the command reads, as compose mounts it, trusting the local issuer instead of Google. */
function composeConfig(): void {
  const config = JSON.parse(readFileSync(join(ROOT, 'deploy/compose/airlock.json'), 'utf8')) as { identity: { resource: string; issuers: { issuer: string; audiences: string[] }[] } };
  config.identity.issuers = [{ issuer: issuer?.issuer ?? '', audiences: [RESOURCE], ...{ groupsClaim: 'groups' } }];
  writeFileSync(at('/etc/airlock/airlock.json'), JSON.stringify(config));
  cpSync(join(ROOT, 'policies.json'), at('/etc/airlock/policies.json'));
}

describe('the image\'s runtime stage, run without Docker (issue 21)', () => {
  it('holds production dependencies only', () => {
    const installed = readdirSync(at('/app/node_modules'));
    expect(installed).toContain('pg');
    for (const dev of ['vitest', 'typescript', 'esbuild', 'eslint', 'playwright-core', 'yaml']) expect(installed, dev).not.toContain(dev);
  });

  it('starts as ENTRYPOINT + CMD with compose\'s environment, serves governed calls on the PostgreSQL stores, and writes nothing outside its volume and /tmp', { timeout: 120_000 }, async () => {
    composeConfig();
    const [compose] = readYaml('compose.yaml') as [{ services: { airlock: { environment: Record<string, string> } } }];
    const env = Object.fromEntries(Object.keys(compose.services.airlock.environment).map((k) => [k, '']));
    Object.assign(env, { AIRLOCK_STORE_URL: storeUrl, APPROVALS_KEY: randomBytes(32).toString('base64'), DATABASE_URL: inject('databaseUrl') });
    const before = snapshot(at('/app'));
    const cmd = instructions(runtime, 'CMD')[0]?.exec ?? [];
    const entry = instructions(runtime, 'ENTRYPOINT')[0]?.exec ?? [];
    expect(entry).toEqual(['airlock']);
    const server = await serve(cmd, env);
    try {
      // The HEALTHCHECK command as the engine runs it, on the port this run listens on.
      const check = JSON.parse(/CMD (\[.*\])$/.exec(instructions(runtime, 'HEALTHCHECK')[0]?.text ?? '')?.[1] ?? '[]') as string[];
      const probe = (argv: string[]): number | null => spawnSync(argv[0] === 'node' ? process.execPath : (argv[0] ?? ''), argv.slice(1).map((a) => a.replace(':7300/', `:${server.port}/`)), { encoding: 'utf8' }).status;
      expect(probe(check)).toBe(0);
      // A governed call with a verified token: the audit lands in PostgreSQL as one verifying chain.
      const token = await issuer?.sign({ sub: 'ana', email: 'ana@example.com', email_verified: true, groups: ['analysts'], aud: RESOURCE }) ?? '';
      const client = new Client({ name: 'image-test', version: '1.0.0' });
      const transport = new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
      await client.connect(transport);
      try {
        const result = await client.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT count(*) AS customers FROM customers' } });
        expect(textOf(result)).toBe('1 row\ncustomers\n12');
        await transport.terminateSession();
      } finally {
        await client.close();
      }
      const verified = await verifyPgStore(storeUrl, 'airlock_audit');
      expect(verified).toMatchObject({ ok: true });
      const tables = await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_user_tables WHERE relname = 'airlock_approvals'`);
      expect(tables.rows).toHaveLength(1);
      await stopChild(server.child);
      // The healthcheck fails once nothing answers.
      expect(probe(check)).toBe(1);
    } finally {
      await stopChild(server.child);
    }
    // A read-only root filesystem would have held: nothing changed under /app, nothing in HOME.
    expect(snapshot(at('/app'))).toEqual(before);
    expect(readdirSync(at('/home/node'))).toEqual([]);
  });

  for (const [file, kind] of [
    ['deploy/gke/deployment.yaml', 'Deployment'],
    ['deploy/cloud-run/service.yaml', 'Service'],
  ] as const) {
    it(`${file}: the airlock container's command starts and answers its probes as declared`, { timeout: 120_000 }, async () => {
      type Probe = { httpGet: { path: string; port: number; httpHeaders?: { name: string; value: string }[] } };
      type C = { name: string; args: string[]; startupProbe?: Probe; readinessProbe?: Probe; livenessProbe?: Probe };
      const doc = (readYaml(file) as { kind: string; spec: { template: { spec: { containers: C[] } } } }[]).find((d) => d.kind === kind);
      const container = doc?.spec.template.spec.containers.find((c) => c.name === 'airlock');
      if (container === undefined) throw new Error(`${file}: no airlock container`);
      // The GKE and Cloud Run runtime config, trusting the local issuer; its Cloud Logging copy is left out
      // (no Google project here: test/integration/audit-cloud-logging.test.ts runs that copy against a local server).
      const config = JSON.parse(readFileSync(join(ROOT, 'deploy/airlock.gcp.json'), 'utf8')) as { identity: { issuers: unknown[] }; audit: Record<string, unknown> };
      config.identity.issuers = [{ issuer: issuer?.issuer ?? '', audiences: [RESOURCE] }];
      delete config.audit.cloudLogging;
      const policy = container.args[container.args.indexOf('--policy') + 1] ?? '';
      const runtimeConfig = container.args[container.args.indexOf('--config') + 1] ?? '';
      mkdirSync(at(join(runtimeConfig, '..')), { recursive: true });
      mkdirSync(at(join(policy, '..')), { recursive: true });
      writeFileSync(at(runtimeConfig), JSON.stringify(config));
      cpSync(join(ROOT, 'policies.json'), at(policy));
      const server = await serve(container.args, { AIRLOCK_STORE_URL: storeUrl, APPROVALS_KEY: randomBytes(32).toString('hex'), DATABASE_URL: inject('databaseUrl') });
      try {
        for (const probe of [container.startupProbe, container.readinessProbe, container.livenessProbe]) {
          if (probe === undefined) continue;
          const headers = Object.fromEntries((probe.httpGet.httpHeaders ?? []).map((h) => [h.name.toLowerCase(), h.value.replace(`:${probe.httpGet.port}`, `:${server.port}`)]));
          const res = await rawGet(`http://127.0.0.1:${server.port}${probe.httpGet.path}`, headers);
          expect(res, JSON.stringify(probe)).toBe(200);
        }
        // The public name, as clients behind the TLS load balancer send it, is accepted too.
        expect(await rawGet(`http://127.0.0.1:${server.port}/healthz`, { host: 'airlock.example.com' })).toBe(200);
        // A load balancer's health check names the pod by its address: it gets the bare status.
        expect(await rawGet(`http://127.0.0.1:${server.port}/healthz`, { host: `10.8.0.7:${server.port}` })).toBe(200);
        // Past /healthz the address is refused as a foreign host (DNS rebinding protection).
        expect(await rawGet(`http://127.0.0.1:${server.port}/mcp`, { host: `10.8.0.7:${server.port}` })).toBe(403);
      } finally {
        await stopChild(server.child);
      }
    });
  }
});

async function rawGet(url: string, headers: Record<string, string>): Promise<number> {
  return (await raw(url, { headers })).status;
}
