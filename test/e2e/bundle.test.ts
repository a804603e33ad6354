/**
 * The bundled CLI (issue 19): `bin.airlock` and `npm start` run dist/bundle/cli.js, a launcher that runs the
 * whole CLI bundled into one CommonJS file (dist/bundle/airlock.cjs) from the V8 code cache `npm run build` made
 * (scripts/bundle.mjs). These tests run it as a real process, as an installed `airlock` runs, and check what a
 * bundle can get wrong: files found next to code (the masking worker, the SQL parser's WebAssembly, the phone
 * metadata, the package's own package.json), the lazily loaded parts (Google, the HTTP stack, the SQL parser,
 * pg) still loading only when used, the same answers as the unbundled build, and a start without a usable cache.
 *
 * The module-graph checks of test/e2e/cold-start.test.ts stay on the unbundled build: they name airlock's own
 * files (dist/src/…), which the bundle merges into one. Here the packages left outside the bundle are watched:
 * ES modules through the module-log hook, CommonJS ones through Node's own module debug log.
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, readdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { auditIdOf, auditRecord, CLI, readAudit, ROOT, tempDir, textOf, writePolicy } from '../support/airlock.js';
import { stopChild, waitForOutput } from '../support/child.js';
import { startLocalIssuer, type LocalIssuer } from '../support/oidc-issuer.js';
import { AGENT_KINDS, connectAgent, serveHttp, tokenFor, writeRuntimeConfig, type Person } from '../support/served.js';

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; bin: Record<string, string>; files: string[]; scripts: Record<string, string> };
const BUNDLE_DIR = join(ROOT, 'dist', 'bundle');
const BUNDLE = join(BUNDLE_DIR, 'cli.js');
const HOOK = join(ROOT, 'test', 'support', 'module-log.mjs');

const meta = (): { readonly codeCache: string; readonly outputs: Record<string, { readonly inputs: readonly string[] }> } =>
  JSON.parse(readFileSync(join(ROOT, 'dist', 'bundle-meta.json'), 'utf8')) as { codeCache: string; outputs: Record<string, { inputs: string[] }> };

/** Files a process loaded from outside the bundle: ES modules (module-log hook) and CommonJS (NODE_DEBUG=module on stderr). */
function modulesLoaded(moduleLog: string, stderr = ''): string[] {
  const esm = readFileSync(moduleLog, 'utf8').split('\n').filter((l) => l !== '');
  const cjs = [...stderr.matchAll(/^MODULE \d+: load "([^"]+)" for module/gm)].map((m) => m[1] ?? '');
  return [...esm, ...cjs];
}

const GOOGLE = ['/node_modules/@google-cloud/', '/node_modules/google-gax/', '/node_modules/google-auth-library/', '/node_modules/gaxios/', '/node_modules/@grpc/'];
/** What airlock's HTTP transport loads when its module initialiser runs: the legacy SSE bridge and Express. */
const HTTP_STACK = ['/node_modules/@modelcontextprotocol/server-legacy/', '/node_modules/express/'];

/** One connection whose URL is the test database, the card column masked, DDL denied. */
const POLICY = {
  version: 1,
  resources: { connections: { shop: { url: 'env:DATABASE_URL', limits: { maxRows: 1000, maxBytes: 4 * 1024 * 1024, timeoutMs: 20000 } } } },
  rules: [
    { id: 'analysts-read-shop', effect: 'allow', principals: { groups: ['analysts'] }, tools: ['query_sql'], resources: ['shop'], sql: { classes: ['read'] } },
    { id: 'no-ddl', effect: 'deny', tools: ['query_sql'], sql: { classes: ['ddl'] }, reason: 'Schema changes are not allowed.' },
  ],
  masking: { detectors: ['CREDIT_CARD', 'EMAIL', 'PHONE'], columns: ['customers.card_number'], sensitiveUse: { approverGroups: ['dba'] } },
};
const CARD_QUERY = { connection: 'shop', sql: 'SELECT name, card_number FROM customers WHERE id = $1', params: [1] };
const MASKED_CARD = '1 row (masked: card_number)\nname | card_number\nAna Silva | [MASKED]';

function run(cli: string, args: readonly string[], options: { input?: string; env?: Record<string, string> } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [cli, ...args], { cwd: tempDir('airlock-bundle-cwd-'), timeout: 25_000, maxBuffer: 16 * 1024 * 1024, env: { PATH: process.env.PATH ?? '', HOME: tempDir('airlock-home-'), ...options.env } }, (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr }),
    );
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(options.input ?? '');
  });
}

interface StdioRun {
  readonly client: Client;
  /** What the server wrote to stderr so far. */
  stderr(): string;
}

async function stdioClient(cli: string, args: readonly string[], env: Record<string, string>, nodeArgs: readonly string[] = [], client = new Client({ name: 'bundle-test', version: '1.0.0' })): Promise<StdioRun> {
  const transport = new StdioClientTransport({ command: process.execPath, args: [...nodeArgs, cli, 'serve', '--stdio', ...args], env: { PATH: process.env.PATH ?? '', ...env }, cwd: tempDir('airlock-bundle-cwd-'), stderr: 'pipe' });
  let stderr = '';
  transport.stderr?.on('data', (c: Buffer) => void (stderr += c.toString()));
  await client.connect(transport);
  return { client, stderr: () => stderr };
}

describe('the bundled CLI is what the package installs (issue 19)', () => {
  it('bin.airlock and npm start point at dist/bundle/cli.js, which exists after the build with the bundle, its code cache and the worker', () => {
    expect(pkg.bin).toEqual({ airlock: 'dist/bundle/cli.js' });
    expect(pkg.scripts.start).toBe('node dist/bundle/cli.js start');
    expect(pkg.scripts.build).toBe('node scripts/phone-tables.mjs && tsc -p tsconfig.json && node scripts/bundle.mjs');
    expect(readFileSync(join(ROOT, pkg.bin.airlock ?? ''), 'utf8')).toMatch(/^#!\/usr\/bin\/env node\n/);
    // The cache is named for this Node and this exact bundle text (what the launcher looks up).
    const source = readFileSync(join(BUNDLE_DIR, 'airlock.cjs'), 'utf8');
    const cacheName = `airlock.cjs.${process.version}-${process.arch}-${createHash('sha256').update(source).digest('hex').slice(0, 16)}.cache`;
    expect(meta().codeCache).toBe(cacheName);
    expect(readdirSync(BUNDLE_DIR).sort()).toEqual(['airlock.cjs', cacheName, 'cli.js', 'mask-worker.js']);
  });

  it('npm pack includes every file of the bundle, and not the build notes beside it', () => {
    const npmCli = process.env.npm_execpath ?? join(process.execPath, '..', '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');
    const r = spawnSync(process.execPath, [npmCli, 'pack', '--dry-run', '--json', '--offline', '--ignore-scripts', '--loglevel=error'], { cwd: ROOT, encoding: 'utf8' });
    expect(r.status).toBe(0);
    const files = (JSON.parse(r.stdout) as { files: { path: string }[] }[])[0]?.files.map((f) => f.path) ?? [];
    expect(files.filter((f) => f.startsWith('dist/bundle/')).sort()).toEqual(readdirSync(BUNDLE_DIR).map((f) => `dist/bundle/${f}`).sort());
    expect(files).not.toContain('dist/bundle-meta.json');
  });

  it('answers --help and --version like the unbundled CLI', async () => {
    const [help, version, plainHelp] = await Promise.all([run(BUNDLE, ['--help']), run(BUNDLE, ['--version']), run(CLI, ['--help'])]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(new RegExp(`^airlock ${pkg.version.replaceAll('.', '\\.')}: governed MCP access`));
    expect(help.stdout).toBe(plainHelp.stdout);
    expect(version).toEqual({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
    const unknown = await run(BUNDLE, ['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe((await run(CLI, ['frobnicate'])).stderr);
  });

  it('policy check and mask run from the bundle', async () => {
    const dir = tempDir('airlock-bundle-');
    const good = writePolicy(dir, POLICY);
    const check = await run(BUNDLE, ['policy', 'check', good]);
    expect(check.code).toBe(0);
    expect(check.stdout).toMatch(/policies\.json: OK \(2 rules, version sha256:[0-9a-f]{64}\)\n$/);
    const badPath = join(dir, 'bad.json');
    writeFileSync(badPath, JSON.stringify({ version: 1, rules: [{ id: 'a', effect: 'deny', tools: ['query_sq1'] }] }));
    const bad = await run(BUNDLE, ['policy', 'check', badPath]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('bad.json: rules[0].reason: a "deny" rule needs a "reason" (it is shown to the agent)');

    const input = `${JSON.stringify({ id: 1, text: 'mail ana@example.com, card 4111 1111 1111 1111, call +1 415 555 0132' })}\n`;
    const masked = await run(BUNDLE, ['mask', '--jsonl'], { input });
    expect(masked.code).toBe(0);
    expect(JSON.parse(masked.stdout)).toMatchObject({ id: 1, masked: 'mail [EMAIL_1], card [CREDIT_CARD_1], call [PHONE_1]' });
    expect(masked.stdout).toBe((await run(CLI, ['mask', '--jsonl'], { input })).stdout);
  });
});

describe('airlock serve --stdio from the bundle (issue 19)', () => {
  it('lists the same tools as the unbundled CLI, masks the card column, audits each denial once, and its store verifies', async () => {
    const dir = tempDir('airlock-bundle-');
    const auditDir = join(dir, 'audit');
    const log = join(dir, 'modules.log');
    writeFileSync(log, '');
    const args = ['--policy', writePolicy(dir, POLICY), '--audit-dir', auditDir, '--dev-identity', 'ana@example.com,analysts', '--log-level', 'warn'];
    const env = { HOME: dir, DATABASE_URL: inject('databaseUrl') };
    const server = await stdioClient(BUNDLE, args, { ...env, AIRLOCK_MODULE_LOG: log, NODE_DEBUG: 'module', AIRLOCK_CODE_CACHE_REPORT: '1' }, ['--import', HOOK]);
    const bundled = server.client;
    const loaded = (prefixes: readonly string[]): string[] => modulesLoaded(log, server.stderr()).filter((m) => prefixes.some((p) => m.includes(p)));
    try {
      // Answered initialize from the bundle, compiled from its code cache: nothing of dist/src, Google or the HTTP stack.
      expect(server.stderr()).toContain('airlock: code cache used\n');
      expect(loaded(['/dist/src/', ...GOOGLE, ...HTTP_STACK])).toEqual([]);
      expect(bundled.getServerVersion()).toMatchObject({ name: 'airlock', version: pkg.version });

      const { client: plain } = await stdioClient(CLI, ['--policy', writePolicy(tempDir('airlock-bundle-'), POLICY), '--audit-dir', join(dir, 'audit-plain'), '--dev-identity', 'ana@example.com,analysts', '--log-level', 'warn'], env);
      try {
        const [fromBundle, fromPlain] = await Promise.all([bundled.listTools(), plain.listTools()]);
        expect(fromBundle.tools.map((t) => t.name)).toEqual(expect.arrayContaining(['query_sql', 'read_bucket', 'tail_logs', 'explain_policy', 'approval_status', 'whoami']));
        expect(fromBundle).toEqual(fromPlain);

        const ok = await bundled.callTool({ name: 'query_sql', arguments: CARD_QUERY });
        expect(textOf(ok)).toBe(MASKED_CARD);
        expect(auditRecord(auditDir, auditIdOf(ok))).toMatchObject({ outcome: 'ok', tool: 'query_sql', principal: { email: 'ana@example.com' }, result: { maskedColumns: ['card_number'] } });
        // The SQL parser (libpg-query's WebAssembly, external to the bundle) and pg were found and ran.
        expect(loaded(['/node_modules/libpg-query/'])).not.toEqual([]);
        expect(loaded(['/node_modules/pg/'])).not.toEqual([]);

        // A rule's denial and the default deny: the agent reads what the unbundled CLI says; one record each.
        const denials = [
          { sql: 'ALTER TABLE customers ADD COLUMN x int', text: 'Schema changes are not allowed.' },
          { sql: 'DROP TABLE customers', text: 'Denied by policy: no rule allows this call (default deny).' },
        ];
        for (const { sql, text } of denials) {
          const denied = await bundled.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql } });
          expect(denied.isError).toBe(true);
          const deniedId = auditIdOf(denied);
          expect(textOf(denied)).toContain(text);
          const same = await plain.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql } });
          expect(textOf(denied).replace(deniedId, 'ID')).toBe(textOf(same).replace(auditIdOf(same), 'ID'));
          const records = readAudit(auditDir).filter((r) => r.id === deniedId);
          expect(records).toHaveLength(1);
          expect(records[0]).toMatchObject({ outcome: 'denied', tool: 'query_sql', error: { code: 'POLICY_DENIED' }, principal: { email: 'ana@example.com' } });
        }
      } finally {
        await plain.close();
      }

      // Phones: the phone tables (generated at build time, bundled) validate the number.
      const phone = await bundled.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql: "SELECT 'call +1 415 555 0132 now' AS note" } });
      expect(textOf(phone)).toBe('1 row (masked: note)\nnote\ncall +* *** *** 0132 now');
    } finally {
      await bundled.close();
    }
    expect(loaded([...GOOGLE, ...HTTP_STACK])).toEqual([]);

    const verify = await run(BUNDLE, ['audit', 'verify', '--audit-dir', auditDir]);
    expect(verify.code).toBe(0);
    expect(verify.stdout).toMatch(/^ok: 4 record\(s\) in \d+ segment\(s\) form an unbroken chain; head [0-9a-f]{64}/);
  });

  it('masks a result past the offload size on the worker thread of the bundle (dist/bundle/mask-worker.js)', async () => {
    const dir = tempDir('airlock-bundle-');
    const auditDir = join(dir, 'audit');
    const log = join(dir, 'modules.log');
    writeFileSync(log, '');
    const { client } = await stdioClient(BUNDLE, ['--policy', writePolicy(dir, POLICY), '--audit-dir', auditDir, '--dev-identity', 'ana@example.com,analysts', '--log-level', 'warn'], { HOME: dir, DATABASE_URL: inject('databaseUrl'), AIRLOCK_MODULE_LOG: log }, ['--import', HOOK]);
    try {
      // 600,000 characters: past OFFLOAD_MIN_CHARS (512 Ki), so masked off the main thread.
      const large = await client.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql: "SELECT repeat('4111 1111 1111 1111 ', 30000) AS cards" } }, undefined, { timeout: 60_000 });
      const cell = (large.structuredContent as { rows: string[][] }).rows[0]?.[0] ?? '';
      expect(cell).toHaveLength(600_000);
      expect(cell.startsWith('**** **** **** 1111 **** **** **** 1111 ')).toBe(true);
      expect(cell).not.toMatch(/4111/);
      expect(auditRecord(auditDir, auditIdOf(large))).toMatchObject({ outcome: 'ok', result: { findings: { CREDIT_CARD: 30_000 }, maskedColumns: ['cards'] } });
      expect(modulesLoaded(log).filter((m) => m.endsWith('/dist/bundle/mask-worker.js'))).toHaveLength(1);
    } finally {
      await client.close();
    }
  });
});

describe('airlock start (the demo) from the bundle (issue 19)', () => {
  it('loads embedded PostgreSQL and the Cloud Logging client through the bundle\'s dynamic imports, serves HTTP, stops on Ctrl-C', { timeout: 90_000 }, async () => {
    const home = tempDir('airlock-home-');
    const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: home, XDG_STATE_HOME: join(home, 'state'), AIRLOCK_CODE_CACHE_REPORT: '1' };
    const child = spawn(process.execPath, [BUNDLE, 'start', '--port', '0'], { cwd: tempDir(), env, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const url = (await waitForOutput(child, /Streamable HTTP:\s+(http:\/\/\S+\/mcp)/, { stream: 'stderr', timeoutMs: 60_000, stopSignal: 'SIGINT' }))[1] ?? '';
      const client = new Client({ name: 'bundle-demo', version: '1.0.0' });
      const transport = new StreamableHTTPClientTransport(new URL(url));
      await client.connect(transport);
      try {
        expect(textOf(await client.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT count(*) AS customers FROM customers' } }))).toBe('1 row\ncustomers\n12');
        // The demo's logs go through the real @google-cloud/logging client, imported when first called.
        const logs = await client.callTool({ name: 'tail_logs', arguments: { scope: 'prod-logs', filter: 'severity>=ERROR', since: '6h', limit: 3 } });
        expect(logs.isError).toBeFalsy();
        expect((logs.structuredContent as { entries?: unknown[] }).entries?.length).toBeGreaterThan(0);
      } finally {
        await transport.terminateSession().catch(() => undefined);
        await client.close();
      }
      expect(await stopChild(child, 'SIGINT', 30_000)).toEqual({ code: 0, signal: null });
    } finally {
      await stopChild(child, 'SIGINT', 30_000);
    }
  });
});

describe('the bundle without a usable code cache (issue 19)', () => {
  /** A copy of the installed layout (package.json, dist/bundle, node_modules) whose cache a test may change. */
  function installedCopy(): { root: string; cli: string; cache: string } {
    const root = tempDir('airlock-bundle-copy-');
    writeFileSync(join(root, 'package.json'), readFileSync(join(ROOT, 'package.json')));
    mkdirSync(join(root, 'dist'));
    cpSync(BUNDLE_DIR, join(root, 'dist', 'bundle'), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'), 'dir');
    return { root, cli: join(root, 'dist', 'bundle', 'cli.js'), cache: join(root, 'dist', 'bundle', meta().codeCache) };
  }
  const input = `${JSON.stringify({ id: 7, text: 'card 4111 1111 1111 1111, mail ana@example.com' })}\n`;
  const expected = `${JSON.stringify({ id: 7, masked: 'card [CREDIT_CARD_1], mail [EMAIL_1]', findings: [{ start: 5, end: 24, type: 'CREDIT_CARD' }, { start: 31, end: 46, type: 'EMAIL' }] })}\n`;
  const report = { AIRLOCK_CODE_CACHE_REPORT: '1' };

  it('uses the cache the build made, and compiles as usual when it is missing, made for another Node, damaged, or made under other V8 flags', async () => {
    const copy = installedCopy();
    const used = await run(copy.cli, ['mask', '--jsonl'], { input, env: report });
    expect(used).toEqual({ code: 0, stdout: expected, stderr: 'airlock: code cache used\n' });
    // Other V8 flags than the build's: V8 refuses the cache (it would not match the code V8 would make).
    const otherFlags = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(process.execPath, ['--no-opt', copy.cli, 'mask', '--jsonl'], { cwd: copy.root, timeout: 25_000, env: { PATH: process.env.PATH ?? '', HOME: copy.root, ...report } }, (error, stdout, stderr) =>
        resolve({ code: error === null ? 0 : 1, stdout, stderr }),
      );
      child.stdin?.end(input);
    });
    expect(otherFlags).toEqual({ code: 0, stdout: expected, stderr: 'airlock: code cache rejected\n' });

    // Damaged: bytes of the compiled code flipped, or the file cut short. V8 would crash on such code (release
    // builds do not check it); the launcher's checksum refuses it first.
    const intact = readFileSync(copy.cache);
    const flipped = Buffer.from(intact);
    for (let i = flipped.length - 4096; i < flipped.length - 2048; i++) flipped[i] = (flipped[i] ?? 0) ^ 0xff;
    for (const damaged of [flipped, intact.subarray(0, intact.length >> 1), intact.subarray(0, 16), Buffer.alloc(0)]) {
      writeFileSync(copy.cache, damaged);
      expect(await run(copy.cli, ['mask', '--jsonl'], { input, env: report })).toEqual({ code: 0, stdout: expected, stderr: 'airlock: code cache damaged\n' });
    }

    // Made for another Node: its name does not match this one's, so it is never offered.
    renameSync(copy.cache, copy.cache.replace(process.version, 'v18.0.0'));
    expect(await run(copy.cli, ['mask', '--jsonl'], { input, env: report })).toEqual({ code: 0, stdout: expected, stderr: 'airlock: code cache absent\n' });
  });

  it('never offers a cache made for other bundle text: an edited bundle runs its own code', async () => {
    const copy = installedCopy();
    const bundle = join(copy.root, 'dist', 'bundle', 'airlock.cjs');
    // Same length, other text: a cache checked only by source length would run the old code.
    writeFileSync(bundle, readFileSync(bundle, 'utf8').replace('governed MCP access to production data', 'governed MCP access to production DATA'));
    const help = await run(copy.cli, ['--help'], { env: report });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('governed MCP access to production DATA');
    expect(help.stderr).toBe('airlock: code cache absent\n');
  });

  it('serves stdio with a damaged cache: masked answer, audited', async () => {
    const copy = installedCopy();
    writeFileSync(copy.cache, Buffer.alloc(readFileSync(copy.cache).length, 7));
    const dir = tempDir('airlock-bundle-');
    const auditDir = join(dir, 'audit');
    const server = await stdioClient(copy.cli, ['--policy', writePolicy(dir, POLICY), '--audit-dir', auditDir, '--dev-identity', 'ana@example.com,analysts', '--log-level', 'warn'], { HOME: dir, DATABASE_URL: inject('databaseUrl'), ...report });
    try {
      const ok = await server.client.callTool({ name: 'query_sql', arguments: CARD_QUERY });
      expect(textOf(ok)).toBe(MASKED_CARD);
      expect(auditRecord(auditDir, auditIdOf(ok))).toMatchObject({ outcome: 'ok', tool: 'query_sql', result: { maskedColumns: ['card_number'] } });
      expect(server.stderr()).toContain('airlock: code cache damaged\n');
    } finally {
      await server.client.close();
    }
  });
});

describe('airlock serve --http from the bundle (issue 19)', () => {
  let idp: LocalIssuer;
  beforeAll(async () => {
    idp = await startLocalIssuer();
  });
  afterAll(async () => {
    await idp.close();
  });
  const ana: Person = { sub: 'ana', email: 'ana@example.com', groups: ['analysts'] };

  it('verifies OIDC tokens, serves every transport and era, masks and audits each call', async () => {
    const dir = tempDir('airlock-bundle-http-');
    const auditDir = join(dir, 'audit');
    const served = await serveHttp({ cli: BUNDLE, configPath: writeRuntimeConfig(dir, idp, {}), policyPath: writePolicy(dir, POLICY), auditDir });
    try {
      const noToken = await fetch(`${served.url}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{}' });
      expect(noToken.status).toBe(401);
      expect(noToken.headers.get('www-authenticate')).toContain('resource_metadata=');
      const otherAudience = await fetch(`${served.url}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${await tokenFor(idp, ana, { aud: 'https://elsewhere.test/mcp' })}` },
        body: '{}',
      });
      expect(otherAudience.status).toBe(401);
      const token = await tokenFor(idp, ana);
      const ids: string[] = [];
      for (const kind of AGENT_KINDS) {
        const agent = await connectAgent(kind, served.url, token);
        try {
          const ok = await agent.call('query_sql', CARD_QUERY);
          expect(textOf(ok), kind).toBe(MASKED_CARD);
          ids.push(auditIdOf(ok));
        } finally {
          await agent.close();
        }
      }
      expect(new Set(ids).size).toBe(AGENT_KINDS.length);
      for (const id of ids) expect(auditRecord(auditDir, id)).toMatchObject({ outcome: 'ok', tool: 'query_sql', principal: { sub: 'ana', email: 'ana@example.com' }, result: { maskedColumns: ['card_number'] } });
      // Each refusal (no token; a token for another audience, refused by the bundled jose) is one record, no principal.
      const refused = readAudit(auditDir).filter((r) => r.outcome === 'unauthenticated');
      expect(refused.map((r) => [r.principal, r.error?.code, r.error?.detail])).toEqual([
        [null, 'UNAUTHENTICATED', 'no Authorization header'],
        [null, 'UNAUTHENTICATED', expect.stringContaining('aud')],
      ]);
      expect(readAudit(auditDir)).toHaveLength(AGENT_KINDS.length + 2);
    } finally {
      await served.stop();
    }
  });
});

describe('what the bundle leaves out of a start, and the same answers without it (issue 19)', () => {
  it('holds zod\'s English messages only and not the SDK\'s ajv: both were evaluated by every start for nothing', () => {
    const inputs = meta().outputs['dist/bundle/airlock.cjs']?.inputs ?? [];
    // zod itself and the SDK are in the bundle (a check that cannot pass on an empty list).
    expect(inputs.filter((i) => i.startsWith('node_modules/zod/v4/classic/')).length).toBeGreaterThan(3);
    expect(inputs.filter((i) => i.startsWith('node_modules/@modelcontextprotocol/server/dist/')).length).toBeGreaterThan(1);
    expect(inputs.filter((i) => i.includes('zod/v4/locales/')).map((i) => i.replace(/^.*zod\/v4\/locales\//, ''))).toEqual(['en.js', 'en.js']);
    expect(inputs.filter((i) => /ajv|shimsNode/.test(i))).toEqual([]);
  });

  it('shows zod\'s exact messages for a bad policy, as the unbundled CLI does', async () => {
    const dir = tempDir('airlock-bundle-');
    const cases: [unknown, string][] = [
      [{ version: '1', rules: [] }, 'bad-0.json: version: Invalid input: expected 1'],
      [{ version: 1, rules: [{ id: 'a', effect: 'maybe', tools: ['query_sql'] }] }, 'bad-1.json: rules[0].effect: Invalid option: expected one of "allow"|"approve"|"deny"'],
      [{ version: 1, rules: [{ id: 'a', effect: 'allow', tools: 'query_sql' }] }, 'bad-2.json: rules[0].tools: Invalid input: expected array, received string'],
      [{ version: 1, rules: [{ id: 7, effect: 'allow', tools: ['query_sql'] }] }, 'bad-3.json: rules[0].id: Invalid input: expected string, received number'],
      [{ version: 1, rules: [{ id: 'a', effect: 'allow', tools: ['query_sql'], limits: { maxRows: -5 } }] }, 'bad-4.json: rules[0].limits.maxRows: Too small: expected number to be >=1'],
    ];
    for (const [i, [policy, message]] of cases.entries()) {
      const path = join(dir, `bad-${i}.json`);
      writeFileSync(path, JSON.stringify(policy));
      const [bundled, plain] = await Promise.all([run(BUNDLE, ['policy', 'check', path]), run(CLI, ['policy', 'check', path])]);
      expect(bundled.code, message).toBe(2);
      expect(bundled.stderr, message).toContain(`  ${message}\n`);
      expect(bundled).toEqual(plain);
    }
  });

  it('shows zod\'s exact messages for bad tool arguments, as the unbundled CLI does, and audits each refusal once', async () => {
    const dir = tempDir('airlock-bundle-');
    const env = { HOME: dir, DATABASE_URL: inject('databaseUrl') };
    const flags = (audit: string): string[] => ['--policy', writePolicy(dir, POLICY), '--audit-dir', join(dir, audit), '--dev-identity', 'ana@example.com,analysts', '--log-level', 'warn'];
    const bundled = await stdioClient(BUNDLE, flags('audit'), env);
    try {
      const plain = await stdioClient(CLI, flags('audit-plain'), env);
      try {
        const cases: [Record<string, unknown>, string][] = [
          [{ connection: 'shop', sql: 42 }, 'sql: Invalid input: expected string, received number'],
          [{ sql: 'SELECT 1' }, 'connection: Invalid input: expected string, received undefined'],
          [{ connection: 'shop', sql: 'SELECT 1', params: 'x' }, 'params: Invalid input: expected array, received string'],
        ];
        for (const [args, message] of cases) {
          const [got, want] = await Promise.all([bundled.client.callTool({ name: 'query_sql', arguments: args }), plain.client.callTool({ name: 'query_sql', arguments: args })]);
          const id = auditIdOf(got);
          expect(got.isError, message).toBe(true);
          expect(textOf(got), message).toContain(message);
          expect(textOf(got).replace(id, 'ID')).toBe(textOf(want).replace(auditIdOf(want), 'ID'));
          expect(readAudit(join(dir, 'audit')).filter((r) => r.id === id).map((r) => [r.outcome, r.error?.code])).toEqual([['invalid', 'INVALID_INPUT']]);
        }
      } finally {
        await plain.client.close();
      }
    } finally {
      await bundled.client.close();
    }
  });
});

describe('confirmByCaller from the bundle: elicitation answers are checked against the form\'s schema (issue 19)', () => {
  const TABLE = 'bundle_confirm_notes';
  const dbUrl = new URL(inject('databaseUrl'));
  const adminUrl = new URL(inject('adminUrl'));
  adminUrl.pathname = dbUrl.pathname;
  const admin = new pg.Client({ connectionString: adminUrl.toString() });
  beforeAll(async () => {
    await admin.connect();
    await admin.query(`CREATE TABLE IF NOT EXISTS ${TABLE} (id int NOT NULL, note text NOT NULL)`);
    await admin.query(`GRANT SELECT, INSERT ON ${TABLE} TO ${pg.escapeIdentifier(decodeURIComponent(dbUrl.username))}`);
  });
  afterAll(async () => {
    await admin.end();
  });
  const rows = async (note: string): Promise<number> => (await admin.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${TABLE} WHERE note = $1`, [note])).rows[0]?.n ?? -1;
  const policy = {
    ...POLICY,
    rules: [
      ...POLICY.rules,
      { id: 'confirm-notes', effect: 'approve', principals: { groups: ['analysts'] }, tools: ['query_sql'], resources: ['shop'], sql: { classes: ['write'], tablesWritten: [TABLE] }, reason: 'Notes change only when the user confirms.', approval: { confirmByCaller: true } },
    ],
  };
  const ajvLoaded = (stderr: string): boolean => /^MODULE \d+: load "[^"]*\/@modelcontextprotocol\/server\/dist\/ajvProvider-[^"]*\.cjs"/m.test(stderr);

  for (const [name, cli] of [['bundle', BUNDLE], ['unbundled CLI', CLI]] as const) {
    it(`refuses answers that do not match the form and runs nothing; a matching answer runs once (${name})`, async () => {
      const dir = tempDir('airlock-bundle-confirm-');
      const auditDir = join(dir, 'audit');
      let answer: Record<string, unknown> = {};
      const client = new Client({ name: 'bundle-confirm', version: '1.0.0' }, { capabilities: { elicitation: {} } });
      client.setRequestHandler(ElicitRequestSchema, () => ({ action: 'accept', content: answer }));
      const args = ['--policy', writePolicy(dir, policy), '--audit-dir', auditDir, '--dev-identity', 'ana@example.com,analysts', '--log-level', 'warn'];
      const server = await stdioClient(cli, args, { HOME: dir, DATABASE_URL: inject('databaseUrl'), NODE_DEBUG: 'module' }, [], client);
      try {
        // Nothing validated yet: the SDK's ajv provider is not loaded by the start.
        expect(ajvLoaded(server.stderr())).toBe(false);
        const bad: Record<string, unknown>[] = [{ confirm: true, note: 42 }, { confirm: true, note: 'x'.repeat(501) }, { confirm: 'true' }, { note: 'no box' }];
        for (const [i, content] of bad.entries()) {
          const note = `bundle-${name}-${process.pid}-bad-${i}`;
          answer = content;
          const result = await client.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql: `INSERT INTO ${TABLE} (id, note) VALUES (1, '${note}')` } });
          const id = auditIdOf(result);
          expect(result, JSON.stringify(content)).toMatchObject({ isError: true, _meta: { 'airlock/error': { code: 'CONFIRMATION_DECLINED', how: 'no_answer', ruleIds: ['confirm-notes'] } } });
          expect(textOf(result)).toBe(`Your user's confirmation of this call did not arrive; it was not run. Do not send it again unless your user asks for it.\n[code: CONFIRMATION_DECLINED; audit id: ${id}]`);
          expect(await rows(note)).toBe(0);
          // Exactly one record of the refused call.
          expect(readAudit(auditDir).filter((r) => JSON.stringify(r.input).includes(note)).map((r) => [r.id, r.outcome, r.error?.code, r.confirmation?.state, r.confirmation?.how])).toEqual([
            [id, 'denied', 'CONFIRMATION_DECLINED', 'declined', 'no_answer'],
          ]);
        }
        expect(ajvLoaded(server.stderr())).toBe(true);
        const note = `bundle-${name}-${process.pid}-good`;
        answer = { confirm: true, note: 'ok' };
        const ok = await client.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql: `INSERT INTO ${TABLE} (id, note) VALUES (1, '${note}')` } });
        expect(textOf(ok)).toMatch(/^0 rows \(1 affected\)/);
        expect(await rows(note)).toBe(1);
        expect(auditRecord(auditDir, auditIdOf(ok))).toMatchObject({ outcome: 'ok', confirmation: { state: 'confirmed', note: 'ok' } });
      } finally {
        await client.close();
      }
    });
  }
});
