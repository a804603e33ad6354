#!/usr/bin/env node
// The installed `airlock` command (dist/bundle/cli.js; the build copies this file there). It runs the whole CLI,
// bundled into one CommonJS file (dist/bundle/airlock.cjs), through vm.Script with the V8 code cache the build
// made for it: a start then deserialises compiled code instead of parsing ~2.6 MB of JavaScript. Node 20 has no
// compile cache for ES modules (module.enableCompileCache is Node 22), hence CommonJS and vm.Script.
//
// The cache is only a shortcut. Its name carries the Node version, the CPU architecture and a hash of the exact
// bundle text, so a cache made for another build or another Node is never offered; V8 itself refuses one made
// under other V8 flags (`cachedDataRejected`), and the launcher refuses one whose bytes do not match the checksum
// stored with them; either way the source is compiled as usual. Nothing is written at run time: the cache is
// made by `npm run build` (scripts/bundle.mjs), for the Node that ran it.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';

const dir = dirname(fileURLToPath(import.meta.url));
const file = join(dir, 'airlock.cjs');
// Hashed as the bytes it was read as (hashing the string would encode it to UTF-8 again on every start).
const bytes = readFileSync(file);
const source = bytes.toString('utf8');
// The same name scripts/bundle.mjs gives the cache it writes.
const cacheFile = join(dir, `airlock.cjs.${process.version}-${process.arch}-${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}.cache`);
let cachedData;
let damaged = false;
try {
  // The SHA-256 of the compiled code, then the code: V8 (release builds) does not check a cache's payload, and
  // a damaged one would crash the process, not be refused.
  const stored = readFileSync(cacheFile);
  cachedData = stored.subarray(32);
  damaged = stored.length <= 32 || !createHash('sha256').update(cachedData).digest().equals(stored.subarray(0, 32));
  if (damaged) cachedData = undefined;
} catch {
  cachedData = undefined;
}
// Node's CommonJS wrapper, plus the bundle's dynamic import (the build made every import() call this one): code
// compiled from a cache loses vm.Script's import() callback on Node 20. This file sits next to the bundle, so a
// specifier resolves here as it would there.
const wrapped = `(function (exports, require, module, __filename, __dirname, __airlock_import) { ${source}\n});`;
const script = new Script(wrapped, { filename: file, cachedData });
if (process.env.AIRLOCK_CODE_CACHE_REPORT === '1') {
  process.stderr.write(`airlock: code cache ${damaged ? 'damaged' : cachedData === undefined ? 'absent' : script.cachedDataRejected ? 'rejected' : 'used'}\n`);
}
const cjsModule = new Module(file);
cjsModule.filename = file;
script.runInThisContext().call(cjsModule.exports, cjsModule.exports, createRequire(file), cjsModule, file, dir, (specifier) => import(specifier));
