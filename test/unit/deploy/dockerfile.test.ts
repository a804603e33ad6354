/**
 * The Dockerfile and .dockerignore, held to the package and the code: the build stage runs the package's own
 * scripts on a context that holds every file they read, the runtime stage ships what the npm package ships
 * with production dependencies only, as a numeric non-root user, exposing the port the command listens on,
 * and the command is one `airlock serve` accepts. (test/e2e/deploy-image.test.ts runs the runtime stage.)
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../../src/defaults.js';
import { ROOT, tempDir } from '../../support/airlock.js';
import { copyParts, flagValue, inBuildContext, instructions, parseDockerfile, readDockerfile, runCommands, serveSettings, stage } from '../../support/deploy-files.js';

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string>; files: string[]; bin: Record<string, string>; engines: { node: string } };
const docker = readDockerfile();
const build = stage(docker, 'build');
const runtime = stage(docker, 'runtime');
const only = <T>(items: readonly T[], what: string): T => {
  if (items.length !== 1) throw new Error(`expected one ${what}, found ${items.length}`);
  return items[0] as T;
};
const cmd = only(instructions(runtime, 'CMD'), 'CMD').exec ?? [];
const entrypoint = only(instructions(runtime, 'ENTRYPOINT'), 'ENTRYPOINT').exec ?? [];

describe('parseDockerfile', () => {
  it('joins continuations, drops comments between them, splits stages and reads exec forms', () => {
    const parsed = parseDockerfile('ARG IMG=node:20\nFROM ${IMG} AS a\nRUN one \\\n# note\n && two\nFROM a AS b\nCMD ["x", "y"]\n');
    expect(parsed.stages.map((s) => [s.name, s.from])).toEqual([['a', 'node:20'], ['b', 'a']]);
    expect(parsed.stages[0]?.instructions).toEqual([{ keyword: 'RUN', text: 'one && two' }]);
    expect(parsed.stages[1]?.instructions[0]?.exec).toEqual(['x', 'y']);
  });

  it('fails on an exec form that is not an array of strings', () => {
    expect(() => parseDockerfile('FROM a\nCMD ["x", 1]\n')).toThrow('not an exec form');
  });
});

describe('inBuildContext', () => {
  it('applies the last matching pattern, parent folders included', () => {
    const rules = '*\n!src\nsrc/secret\n';
    expect(inBuildContext('src/a.ts', rules)).toBe(true);
    expect(inBuildContext('src/secret/key', rules)).toBe(false);
    expect(inBuildContext('node_modules/x', rules)).toBe(false);
  });
});

describe('Dockerfile', () => {
  it('has a build stage and a runtime stage on one Node image, the Node the tests run on', () => {
    expect(docker.stages.map((s) => s.name)).toEqual(['build', 'runtime']);
    // The V8 code cache made by the build is valid only for the same Node: both stages share the image.
    expect(build.from).toBe(runtime.from);
    expect(runtime.from).toBe(`node:${process.version.slice(1)}-bookworm-slim`);
    expect(Number(process.version.slice(1).split('.')[0])).toBeGreaterThanOrEqual(Number(/\d+/.exec(pkg.engines.node)?.[0]));
  });

  it('builds with npm ci and the package\'s own build script', () => {
    const commands = instructions(build, 'RUN').flatMap(runCommands);
    expect(commands).toEqual(['npm ci --ignore-scripts --no-audit --no-fund', 'npm run build']);
    for (const command of commands) {
      const script = /^npm run (\S+)/.exec(command)?.[1];
      if (script !== undefined) expect(Object.keys(pkg.scripts)).toContain(script);
    }
  });

  it('sends the build every file the build reads, and nothing from this machine\'s node_modules, dist or tests', () => {
    // What tsc compiles for the image: the project's program without bench/ (compiled for `npm run bench`
    // only, and not in the context), listed by tsc itself; plus the scripts `npm run build` runs.
    const project = JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')) as { include: string[] };
    const config = join(tempDir('airlock-tsconfig-'), 'tsconfig.json');
    writeFileSync(config, JSON.stringify({ extends: join(ROOT, 'tsconfig.json'), include: project.include.filter((i) => i !== 'bench').map((i) => join(ROOT, i)), compilerOptions: { typeRoots: [join(ROOT, 'node_modules', '@types')] } }));
    const listed = execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', config, '--listFilesOnly'], { encoding: 'utf8' });
    const sources = listed
      .split('\n')
      .filter((f) => f !== '' && !f.includes('/node_modules/'))
      .map((f) => relative(ROOT, f));
    const scripts = [...(pkg.scripts.build ?? '').matchAll(/node (\S+)/g)].map((m) => m[1] ?? '');
    const needed = [...sources, ...scripts, 'package.json', 'package-lock.json', 'tsconfig.json', 'scripts/cli-launcher.mjs'];
    expect(sources.length).toBeGreaterThan(100);
    expect(needed.filter((f) => !inBuildContext(f))).toEqual([]);
    for (const path of ['node_modules/zod/package.json', 'dist/bundle/cli.js', 'test/e2e/http.test.ts', '.git/HEAD', 'bench/run.ts']) expect(inBuildContext(path), path).toBe(false);
    // Each path the build stage copies from the context is in it.
    const copied = instructions(build, 'COPY').flatMap((c) => copyParts(c).sources);
    expect(copied.filter((p) => !inBuildContext(p))).toEqual([]);
    expect(needed.map((f) => f.split('/')[0]).filter((top) => !copied.includes(top ?? ''))).toEqual([]);
  });

  it('installs production dependencies only in the runtime stage, and copies what the npm package ships', () => {
    const commands = instructions(runtime, 'RUN').flatMap(runCommands);
    expect(commands).toContain('npm ci --omit=dev --ignore-scripts --no-audit --no-fund');
    expect(commands.some((c) => /npm (ci|install)(?![^&]*--omit=dev)/.test(c))).toBe(false);
    const copies = instructions(runtime, 'COPY').map(copyParts);
    const fromBuild = copies.filter((c) => c.from === 'build').map((c) => c.sources[0]?.replace(/^\/src\//, ''));
    const fromContext = copies.filter((c) => c.from === undefined).flatMap((c) => c.sources);
    expect([...fromBuild, ...fromContext.filter((f) => !f.startsWith('package'))].sort()).toEqual([...pkg.files].sort());
    expect(fromContext).toEqual(expect.arrayContaining(['package.json', 'package-lock.json']));
  });

  it('runs as a numeric non-root user (Kubernetes can only check runAsNonRoot for a number)', () => {
    const user = only(instructions(runtime, 'USER'), 'USER').text;
    expect(user).toMatch(/^\d+:\d+$/);
    expect(Number(user.split(':')[0])).toBeGreaterThan(0);
    // The only folder it writes is a volume, owned by that user.
    expect(only(instructions(runtime, 'VOLUME'), 'VOLUME').exec).toEqual(['/var/lib/airlock']);
    expect(instructions(runtime, 'RUN').flatMap(runCommands)).toContain(`chown -R ${user} /var/lib/airlock`);
  });

  it('enters through the package\'s airlock command, linked where npm would put it', () => {
    expect(entrypoint).toEqual(Object.keys(pkg.bin));
    expect(instructions(runtime, 'RUN').flatMap(runCommands)).toContain(`ln -s /app/${pkg.bin.airlock ?? ''} /usr/local/bin/airlock`);
  });

  it('runs a command airlock serve accepts, on all interfaces, on the port it exposes', () => {
    expect(cmd[0]).toBe('serve');
    const settings = serveSettings(cmd.slice(1));
    expect(settings).toMatchObject({ transport: 'http', host: '0.0.0.0', port: DEFAULTS.port, policyPath: '/etc/airlock/policies.json', configPath: '/etc/airlock/airlock.json', auditDir: '/var/lib/airlock/audit' });
    expect(only(instructions(runtime, 'EXPOSE'), 'EXPOSE').text).toBe(String(settings.port));
    expect(settings.auditDir.startsWith(`${only(instructions(runtime, 'VOLUME'), 'VOLUME').exec?.[0] ?? '?'}/`)).toBe(true);
    expect(settings.devIdentity).toBeUndefined();
    expect(settings.demo).toBe(false);
  });

  it('checks health on the port the command listens on, at /healthz, without curl', () => {
    const healthcheck = only(instructions(runtime, 'HEALTHCHECK'), 'HEALTHCHECK').text;
    const probe = /CMD (\[.*\])$/.exec(healthcheck)?.[1] ?? '';
    const argv = JSON.parse(probe) as string[];
    expect(argv.slice(0, 2)).toEqual(['node', '-e']);
    expect(argv[2]).toContain(`fetch('http://127.0.0.1:${flagValue(cmd, '--port') ?? '?'}/healthz')`);
  });
});
