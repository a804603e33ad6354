/**
 * compose.yaml, deploy/gke/*.yaml and deploy/cloud-run/service.yaml, held to the code: the command each runs
 * is one `airlock serve` accepts, the files it names are the ones mounted, every `env:NAME` the runtime
 * config and the policy read is set, the store URL is one the PostgreSQL stores can use, the probes hit the
 * health endpoint on the port airlock listens on, and the containers run non-root on a read-only root
 * filesystem. (test/e2e/deploy-image.test.ts starts airlock with these settings and sends the probes.)
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { loadRuntimeFile } from '../../../src/config.js';
import { ROOT } from '../../support/airlock.js';
import { flagValue, instructions, readDockerfile, readYaml, serveSettings, stage } from '../../support/deploy-files.js';

type Env = { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } };
type Probe = { httpGet?: { path: string; port: number | string; httpHeaders?: { name: string; value: string }[] } };
type Container = {
  name: string;
  image: string;
  args?: string[];
  command?: string[];
  env?: Env[];
  ports?: { name?: string; containerPort: number }[];
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  securityContext?: Record<string, unknown>;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  restartPolicy?: string;
};
type Volume = { name: string; configMap?: { name: string; items: { key: string; path: string }[] }; secret?: { secretName: string; items: { key: string; path: string }[] }; emptyDir?: object };
type PodSpec = { serviceAccountName?: string; securityContext?: Record<string, unknown>; containers: Container[]; initContainers?: Container[]; volumes?: Volume[]; timeoutSeconds?: number };
type Doc = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: unknown };

const imageUser = Number(instructions(stage(readDockerfile(), 'runtime'), 'USER')[0]?.text.split(':')[0]);

/** The `env:NAME` references of a JSON document (runtime config or policy): the variables airlock reads. */
function envRefs(path: string): string[] {
  return [...new Set([...readFileSync(join(ROOT, path), 'utf8').matchAll(/"env:([A-Za-z_][A-Za-z0-9_]*)"/g)].map((m) => m[1] ?? ''))].sort();
}

/** Compose's variable interpolation: `${VAR}`, `${VAR:-default}`, and `${VAR:?message}` (an error when unset). */
function interpolate(text: string, vars: Record<string, string>): string {
  return text.replace(/\$\{(\w+)(?::([?-])([^}]*))?\}/g, (_, name: string, op: string | undefined, arg: string | undefined) => {
    const value = vars[name];
    if (value !== undefined && value !== '') return value;
    if (op === '?') throw new Error(`${name}: ${arg ?? ''}`);
    return op === '-' ? (arg ?? '') : '';
  });
}

/** What the PostgreSQL stores' driver makes of a connection string (parsed by pg itself; nothing connects). */
function pgTarget(url: string): { user: string; password: string | null; host: string; port: number; database: string } {
  const client = new pg.Client({ connectionString: url }) as unknown as { user: string; password: string | null; host: string; port: number; database: string };
  return { user: client.user, password: client.password, host: client.host, port: client.port, database: client.database };
}

/** A container's probes: each an HTTP GET of /healthz on the port airlock listens on, with a Host airlock accepts. */
function expectHealthProbes(container: Container, port: number, kinds: ('startupProbe' | 'readinessProbe' | 'livenessProbe')[]): void {
  for (const kind of kinds) {
    const get = container[kind]?.httpGet;
    expect(get, kind).toBeDefined();
    expect(get?.path).toBe('/healthz');
    expect(Number(get?.port)).toBe(port);
    // airlock refuses a Host that is not its own; loopback names on its port are always accepted.
    expect(get?.httpHeaders).toEqual([{ name: 'Host', value: `localhost:${port}` }]);
  }
}

function expectRuntimeSecurity(context: Record<string, unknown> | undefined): void {
  expect(context).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
}

describe('compose.yaml', () => {
  const [compose] = readYaml('compose.yaml') as [{ services: Record<string, { image?: string; build?: string; command?: string[]; environment?: Record<string, string>; volumes?: string[]; ports?: string[]; read_only?: boolean; tmpfs?: string[]; depends_on?: Record<string, { condition: string }>; healthcheck?: { test: string[] } }>; volumes: Record<string, unknown> }];
  const airlock = compose.services.airlock;
  const postgres = compose.services.postgres;
  const command = airlock?.command ?? [];
  const settings = serveSettings(command.slice(1));
  const mounts = new Map((airlock?.volumes ?? []).map((v) => v.split(':')).map(([from = '', to = '']) => [to, from]));

  it('builds this Dockerfile and runs the image\'s own command', () => {
    expect(airlock?.build).toBe('.');
    expect(command).toEqual(instructions(stage(readDockerfile(), 'runtime'), 'CMD')[0]?.exec);
    expect(settings).toMatchObject({ transport: 'http', host: '0.0.0.0' });
  });

  it('mounts the policy and the runtime config where the command reads them, from files that exist', async () => {
    expect(mounts.get(settings.policyPath)).toBe('./policies.json');
    const config = mounts.get(settings.configPath ?? '');
    expect(config).toBe('./deploy/compose/airlock.json');
    const runtime = await loadRuntimeFile(join(ROOT, config ?? ''));
    expect(runtime.audit?.postgres?.url).toBe('env:AIRLOCK_STORE_URL');
    expect(runtime.approvals?.postgres?.url).toBe('env:AIRLOCK_STORE_URL');
    expect(runtime.approvals?.key).toBe('env:APPROVALS_KEY');
  });

  it('sets every variable the runtime config and the policy read', () => {
    const needed = [...envRefs('deploy/compose/airlock.json'), ...envRefs('policies.json')];
    expect(needed).toEqual(expect.arrayContaining(['AIRLOCK_STORE_URL', 'APPROVALS_KEY', 'DATABASE_URL']));
    expect(Object.keys(airlock?.environment ?? {}).sort()).toEqual([...new Set(needed)].sort());
  });

  it('refuses to start without the variables it needs, and names how to make the key', () => {
    expect(() => interpolate(airlock?.environment?.APPROVALS_KEY ?? '', {})).toThrow('set APPROVALS_KEY (openssl rand -base64 32)');
    expect(() => interpolate(postgres?.environment?.POSTGRES_PASSWORD ?? '', {})).toThrow('set AIRLOCK_DB_PASSWORD');
  });

  it('points the stores at the compose PostgreSQL, with its user, password and database', () => {
    // As compose would: a password as the header suggests making it (hex: nothing to escape in a URL).
    const vars = { AIRLOCK_DB_PASSWORD: randomBytes(24).toString('hex') };
    const env = Object.fromEntries(Object.entries(postgres?.environment ?? {}).map(([k, v]) => [k, interpolate(v, vars)]));
    expect(env.POSTGRES_PASSWORD).toBe(vars.AIRLOCK_DB_PASSWORD);
    const target = pgTarget(interpolate(airlock?.environment?.AIRLOCK_STORE_URL ?? '', vars));
    expect(target).toEqual({ user: env.POSTGRES_USER, password: env.POSTGRES_PASSWORD, host: 'postgres', port: 5432, database: env.POSTGRES_DB });
    expect(postgres?.healthcheck?.test).toEqual(['CMD', 'pg_isready', '-U', env.POSTGRES_USER, '-d', env.POSTGRES_DB]);
    expect(airlock?.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
  });

  it('runs read-only, writing only to a volume for the audit folder and to /tmp, published on loopback at the port it listens on', () => {
    expect(airlock?.read_only).toBe(true);
    expect(airlock?.tmpfs).toEqual(['/tmp']);
    const state = [...mounts].find(([to]) => settings.auditDir.startsWith(`${to}/`));
    expect(state?.[1]).toBe('airlock-state');
    expect(Object.keys(compose.volumes)).toContain('airlock-state');
    expect(airlock?.ports).toEqual([`127.0.0.1:${settings.port}:${settings.port}`]);
  });
});

describe('deploy/airlock.gcp.json (the runtime config of the GKE and Cloud Run deployments)', () => {
  it('loads with the real loader: PostgreSQL stores, one approvals key, a Cloud Logging copy', async () => {
    const runtime = await loadRuntimeFile(join(ROOT, 'deploy/airlock.gcp.json'));
    expect(runtime.audit).toMatchObject({ postgres: { url: 'env:AIRLOCK_STORE_URL' }, cloudLogging: { projectId: 'my-project', logName: 'airlock-audit' } });
    expect(runtime.approvals).toMatchObject({ postgres: { url: 'env:AIRLOCK_STORE_URL' }, key: 'env:APPROVALS_KEY' });
  });
});

/** The checks GKE and Cloud Run share: command, env, store URL through the proxy, probes. */
function checkAirlockContainer(pod: PodSpec, where: string): { settings: ReturnType<typeof serveSettings>; container: Container } {
  const container = pod.containers.find((c) => c.name === 'airlock');
  if (container === undefined) throw new Error(`${where}: no airlock container`);
  // `args` only: the image's ENTRYPOINT (airlock) stays.
  expect(container.command).toBeUndefined();
  const args = container.args ?? [];
  expect(args[0]).toBe('serve');
  const settings = serveSettings(args.slice(1));
  expect(settings).toMatchObject({ transport: 'http', host: '0.0.0.0', demo: false });
  expect(settings.devIdentity).toBeUndefined();
  expect(container.ports?.map((p) => p.containerPort)).toEqual([settings.port]);
  // Behind TLS: the public name is allowed bare (as clients send it) and the console's https origin.
  expect(settings.allowedHosts).toEqual(['airlock.example.com']);
  expect(settings.allowedOrigins).toEqual(['https://airlock.example.com']);
  const env = new Map((container.env ?? []).map((e) => [e.name, e]));
  expect([...env.keys()].sort()).toEqual([...new Set([...envRefs('deploy/airlock.gcp.json'), ...envRefs('policies.json')])].sort());
  // Secrets come from a secret store, never inline; the store URL has no password (IAM database authentication).
  for (const name of ['APPROVALS_KEY', 'DATABASE_URL']) expect(env.get(name)?.valueFrom?.secretKeyRef, name).toBeDefined();
  const store = pgTarget(env.get('AIRLOCK_STORE_URL')?.value ?? '');
  const proxy = [...(pod.initContainers ?? []), ...pod.containers].find((c) => c.name === 'cloud-sql-proxy');
  const proxyArgs = proxy?.args ?? [];
  expect(proxyArgs).toEqual(expect.arrayContaining(['--auto-iam-authn', `--port=${store.port}`]));
  expect(proxyArgs.at(-1)).toMatch(/^[a-z][a-z0-9-]+:[a-z]+-[a-z]+\d:[a-z][a-z0-9-]*$/);
  expect(store).toEqual({ user: 'airlock-runtime@my-project.iam', password: null, host: '127.0.0.1', port: 5432, database: 'airlock' });
  // The IAM database user is the service account airlock runs as, without ".gserviceaccount.com".
  return { settings, container };
}

describe('deploy/gke', () => {
  const docs = ['deploy/gke/serviceaccount.yaml', 'deploy/gke/deployment.yaml', 'deploy/gke/service.yaml'].flatMap((f) => readYaml(f) as Doc[]);
  const byKind = (kind: string): Doc => docs.find((d) => d.kind === kind) ?? ({} as Doc);
  const sa = byKind('ServiceAccount');
  const deployment = byKind('Deployment');
  const service = byKind('Service');
  const spec = deployment.spec as { replicas: number; selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: PodSpec } };
  const pod = spec.template.spec;

  it('holds a ServiceAccount, a Deployment and a Service in one namespace', () => {
    expect(docs.map((d) => `${d.apiVersion} ${d.kind}`)).toEqual(['v1 ServiceAccount', 'apps/v1 Deployment', 'v1 Service']);
    expect(new Set(docs.map((d) => d.metadata.namespace))).toEqual(new Set(['airlock']));
  });

  it('runs as the Workload Identity service account whose IAM database user the store URL names', () => {
    expect(pod.serviceAccountName).toBe(sa.metadata.name);
    const google = sa.metadata.annotations?.['iam.gke.io/gcp-service-account'] ?? '';
    expect(google).toMatch(/^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z][a-z0-9-]{4,28}[a-z0-9]\.iam\.gserviceaccount\.com$/);
    const { container } = checkAirlockContainer(pod, 'deployment.yaml');
    const store = pgTarget(container.env?.find((e) => e.name === 'AIRLOCK_STORE_URL')?.value ?? '');
    expect(store.user).toBe(google.replace(/\.gserviceaccount\.com$/, ''));
  });

  it('runs several replicas non-root with a read-only root filesystem, writing only to emptyDirs', () => {
    expect(spec.replicas).toBeGreaterThanOrEqual(2);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: imageUser });
    const { settings, container } = checkAirlockContainer(pod, 'deployment.yaml');
    expectRuntimeSecurity(container.securityContext);
    expectRuntimeSecurity(pod.initContainers?.[0]?.securityContext);
    // The native sidecar starts first and stops last.
    expect(pod.initContainers?.[0]).toMatchObject({ name: 'cloud-sql-proxy', restartPolicy: 'Always' });
    const volumes = new Map((pod.volumes ?? []).map((v) => [v.name, v]));
    const writable = (container.volumeMounts ?? []).filter((m) => m.readOnly !== true).map((m) => [m.mountPath, volumes.get(m.name)] as const);
    expect(writable.map(([path]) => path).sort()).toEqual(['/tmp', dirname(settings.auditDir)].sort());
    for (const [path, volume] of writable) expect(volume?.emptyDir, path).toEqual({});
  });

  it('mounts the ConfigMap\'s policy and runtime config where the command reads them', () => {
    const { settings, container } = checkAirlockContainer(pod, 'deployment.yaml');
    const mount = container.volumeMounts?.find((m) => m.mountPath === dirname(settings.policyPath));
    expect(mount?.readOnly).toBe(true);
    const volume = pod.volumes?.find((v) => v.name === mount?.name);
    expect(volume?.configMap?.name).toBe('airlock-config');
    expect(volume?.configMap?.items.map((i) => i.path).sort()).toEqual([basename(settings.configPath ?? ''), basename(settings.policyPath)].sort());
    expect(dirname(settings.configPath ?? '')).toBe(dirname(settings.policyPath));
  });

  it('probes /healthz on the port airlock listens on', () => {
    const { settings, container } = checkAirlockContainer(pod, 'deployment.yaml');
    expectHealthProbes(container, settings.port, ['startupProbe', 'readinessProbe', 'livenessProbe']);
  });

  it('selects the Deployment\'s pods, to the named container port, with client affinity for 2025-era sessions', () => {
    const svc = service.spec as { selector: Record<string, string>; sessionAffinity: string; ports: { targetPort: string }[] };
    expect(svc.selector).toEqual(spec.selector.matchLabels);
    expect(spec.template.metadata.labels).toMatchObject(spec.selector.matchLabels);
    expect(svc.sessionAffinity).toBe('ClientIP');
    const { container } = checkAirlockContainer(pod, 'deployment.yaml');
    expect(svc.ports.map((p) => p.targetPort)).toEqual(container.ports?.map((p) => p.name));
  });
});

describe('deploy/cloud-run/service.yaml', () => {
  const [run] = readYaml('deploy/cloud-run/service.yaml') as [Doc];
  const template = (run.spec as { template: { metadata: { annotations: Record<string, string> }; spec: PodSpec } }).template;
  const annotations = template.metadata.annotations;
  const pod = template.spec;

  it('is a Cloud Run service with warm instances, session affinity and CPU outside requests', () => {
    expect(`${run.apiVersion} ${run.kind}`).toBe('serving.knative.dev/v1 Service');
    expect(Number(annotations['autoscaling.knative.dev/minScale'])).toBeGreaterThanOrEqual(2);
    expect(Number(annotations['autoscaling.knative.dev/maxScale'])).toBeGreaterThanOrEqual(Number(annotations['autoscaling.knative.dev/minScale']));
    expect(annotations['run.googleapis.com/sessionAffinity']).toBe('true');
    expect(annotations['run.googleapis.com/cpu-throttling']).toBe('false');
    expect(pod.timeoutSeconds).toBe(3600);
  });

  it('starts airlock after the Cloud SQL Auth Proxy, as the service account the store URL names', () => {
    expect(JSON.parse(annotations['run.googleapis.com/container-dependencies'] ?? '{}')).toEqual({ airlock: ['cloud-sql-proxy'] });
    expect(pod.containers.map((c) => c.name)).toEqual(['airlock', 'cloud-sql-proxy']);
    const { container } = checkAirlockContainer(pod, 'service.yaml');
    const store = pgTarget(container.env?.find((e) => e.name === 'AIRLOCK_STORE_URL')?.value ?? '');
    expect(store.user).toBe((pod.serviceAccountName ?? '').replace(/\.gserviceaccount\.com$/, ''));
  });

  it('mounts the policy and the runtime config from Secret Manager where the command reads them', () => {
    const { settings, container } = checkAirlockContainer(pod, 'service.yaml');
    for (const path of [settings.policyPath, settings.configPath ?? '']) {
      const mount = container.volumeMounts?.find((m) => m.mountPath === dirname(path));
      const volume = pod.volumes?.find((v) => v.name === mount?.name);
      expect(volume?.secret?.items, path).toEqual([{ key: 'latest', path: basename(path) }]);
    }
  });

  it('probes /healthz on the port airlock listens on', () => {
    const { settings, container } = checkAirlockContainer(pod, 'service.yaml');
    expectHealthProbes(container, settings.port, ['startupProbe', 'livenessProbe']);
    expect(flagValue(container.args ?? [], '--port')).toBe(String(settings.port));
  });
});
