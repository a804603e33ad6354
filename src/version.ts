/**
 * The package's identity, kept apart from the server so `airlock --version` and `--help` load nothing else.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The name this package is published under (the command it installs is `airlock`). */
export const PACKAGE_NAME = 'airlock-mcp';

/** The installed package's root (where package.json and the example policies.json live). */
export function packageRoot(): string {
  // Compiled (dist/src/version.js) or run from source (src/version.ts): walk up to our package.json.
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate) && (JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string }).name === PACKAGE_NAME) return dir;
    const parent = resolve(dir, '..');
    if (parent === dir) throw new Error(`cannot find the ${PACKAGE_NAME} package root above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

/** The package version (package.json). */
export const VERSION = (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
