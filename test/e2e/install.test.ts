import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { describe, expect, inject, it } from 'vitest';
import { EXAMPLE_POLICY, readAudit, ROOT, tempDir, textOf } from '../support/airlock.js';

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string; bin: Record<string, string> };
// npm itself: the one running `npm test`, else the one installed beside this node.
const npmCli = process.env.npm_execpath ?? join(process.execPath, '..', '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');

function npm(args: readonly string[], cwd: string): string {
  // Offline and without scripts: the tests run on the build `npm test` just made, and need no network.
  return execFileSync(process.execPath, [npmCli, ...args, '--offline', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], { cwd, encoding: 'utf8', env: { ...process.env, npm_config_update_notifier: 'false' } });
}

/** A user whose shell finds `airlock` in `bin`, with their own state and config directories. */
function userEnv(bin: string): Record<string, string> {
  const home = tempDir('airlock-home-');
  return { PATH: `${bin}:${process.env.PATH ?? ''}`, HOME: home, XDG_STATE_HOME: join(home, 'state'), XDG_CONFIG_HOME: join(home, 'config') };
}

function run(command: string, args: readonly string[], env: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(command, args, { cwd: '/', env, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('installing airlock (issue 14: an airlock command that runs from any directory)', () => {
  it(`is published as ${pkg.name} and installs the command airlock`, () => {
    expect(pkg.name).toBe('airlock-mcp');
    expect(Object.keys(pkg.bin)).toEqual(['airlock']);
  });

  it('npm install -g . in a clone puts airlock on PATH; it answers and serves stdio from /', { timeout: 60_000 }, async () => {
    const prefix = tempDir('airlock-prefix-');
    npm(['install', '-g', '--prefix', prefix, '.'], ROOT);
    const bin = join(prefix, 'bin');
    expect(realpathSync(join(bin, 'airlock'))).toBe(realpathSync(join(ROOT, pkg.bin.airlock ?? '')));
    const env = userEnv(bin);

    expect(run('airlock', ['--version'], env)).toEqual({ status: 0, stdout: `${pkg.version}\n`, stderr: '' });
    const help = run('airlock', ['--help'], env);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(new RegExp(`^airlock ${pkg.version.replaceAll('.', '\\.')}: governed MCP access`));

    // The user's policy in their config directory; the audit in their state directory; cwd is /.
    mkdirSync(join(env.XDG_CONFIG_HOME ?? '', 'airlock'), { recursive: true });
    const userPolicy = join(env.XDG_CONFIG_HOME ?? '', 'airlock', 'policies.json');
    writeFileSync(userPolicy, readFileSync(EXAMPLE_POLICY));
    let stderr = '';
    const transport = new StdioClientTransport({
      command: 'airlock',
      args: ['serve', '--stdio', '--dev-identity', 'ana@example.com,analysts'],
      env: { ...env, DATABASE_URL: inject('databaseUrl') },
      cwd: '/',
      stderr: 'pipe',
    });
    transport.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
    const client = new Client({ name: 'install-test', version: '1.0.0' });
    try {
      await client.connect(transport);
      const result = await client.callTool({ name: 'query_sql', arguments: { connection: 'shop', sql: 'SELECT count(*) AS customers FROM customers' } });
      expect(textOf(result)).toBe('1 row\ncustomers\n12');
    } finally {
      await client.close();
    }
    const auditDir = join(env.XDG_STATE_HOME ?? '', 'airlock', 'audit');
    expect(stderr).toContain(`no --policy given: using ${userPolicy}`);
    expect(stderr).toContain(`audit log: ${auditDir} (`);
    expect(readAudit(auditDir).map((r) => r.tool)).toEqual(['query_sql']);
  });

  it('the packed tarball holds what the installed command needs, and runs from /', { timeout: 60_000 }, () => {
    const dir = tempDir('airlock-pack-');
    const [packed] = JSON.parse(npm(['pack', '--json', '--pack-destination', dir], ROOT)) as { filename: string; files: { path: string }[] }[];
    expect(packed?.filename).toBe(`${pkg.name}-${pkg.version}.tgz`);
    const files = (packed?.files ?? []).map((f) => f.path);
    for (const needed of ['package.json', 'policies.json', 'airlock.example.json', pkg.bin.airlock ?? '', 'dist/src/version.js', 'dist/src/main.js', 'dist/tools/index.js']) expect(files).toContain(needed);
    expect(files.filter((f) => f.startsWith('test/') || f.startsWith('src/') || f.startsWith('dist/bench/') || f.endsWith('.ts'))).toEqual([]);

    // Laid out as npm installs it: the package under lib/node_modules with its dependencies, the command in bin.
    const prefix = join(dir, 'prefix');
    const installed = join(prefix, 'lib', 'node_modules', pkg.name);
    mkdirSync(installed, { recursive: true });
    execFileSync('tar', ['-xzf', join(dir, packed?.filename ?? ''), '-C', installed, '--strip-components=1']);
    symlinkSync(join(ROOT, 'node_modules'), join(installed, 'node_modules'), 'dir');
    mkdirSync(join(prefix, 'bin'));
    symlinkSync(join('..', 'lib', 'node_modules', pkg.name, pkg.bin.airlock ?? ''), join(prefix, 'bin', 'airlock'));
    expect(readFileSync(join(installed, pkg.bin.airlock ?? ''), 'utf8')).toMatch(/^#!\/usr\/bin\/env node\n/);
    const env = userEnv(join(prefix, 'bin'));
    const script = join(prefix, 'bin', 'airlock');

    expect(run(process.execPath, [script, '--version'], env)).toEqual({ status: 0, stdout: `${pkg.version}\n`, stderr: '' });
    const check = run(process.execPath, [script, 'policy', 'check', join(installed, 'policies.json')], env);
    expect(check.status).toBe(0);
    expect(check.stdout).toMatch(/: OK \(\d+ rules, version sha256:[0-9a-f]{64}\)\n$/);
    expect(existsSync(join(env.XDG_STATE_HOME ?? '', 'airlock'))).toBe(false);
  });
});
