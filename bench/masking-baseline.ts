/**
 * The masking engine as it was at a fixed commit ("today's engine" of issue 20), built from git into a
 * temporary folder and loaded into this process, so the bench can run it and the working tree's engine
 * alternately on the same input and print a same-run ratio. The sources come from `git archive`, esbuild
 * bundles them (resolving packages from this checkout's node_modules), and the bundle is imported.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, stop } from 'esbuild';
import { MaskContext, Masker } from '../src/masking/masker.js';
import { DETECTOR_NAMES } from '../src/masking/detectors.js';
import { MaskingStream } from '../src/masking/stream.js';
import type { RowsResult } from '../src/tool.js';

/** Today's engine when issue 20 started: main at that time. */
export const BASELINE_COMMIT = 'd0beedf';

/** What the bench uses of a masking engine (the public entry points, the same in both engines). */
export interface MaskingEngine {
  readonly DETECTOR_NAMES: readonly string[];
  readonly Masker: new (settings: { detectors: string[]; style: 'last4'; columns: [] }) => EngineMasker;
  readonly MaskContext: new () => EngineContext;
  readonly MaskingStream: new (masker: EngineMasker) => EngineStream;
}

export interface EngineMasker {
  maskText(text: string, ctx: EngineContext): string;
  /** The findings in one text: every detector on, plus the context a CSV header gives its column. */
  find(text: string): readonly { readonly start: number; readonly end: number; readonly type: string }[];
  maskResult(result: RowsResult): unknown;
}

export interface EngineContext {
  total(): number;
}

export interface EngineStream {
  readonly context: EngineContext;
  push(chunk: string): { readonly masked: string };
  end(): { readonly masked: string };
}

/** The working tree's engine (what this build compiled). */
export const CURRENT_ENGINE: MaskingEngine = {
  DETECTOR_NAMES,
  Masker: Masker as unknown as MaskingEngine['Masker'],
  MaskContext,
  MaskingStream: MaskingStream as unknown as MaskingEngine['MaskingStream'],
};

/** The checkout this file belongs to (it runs from bench/ under vitest and from dist/bench/ as a build). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('masking bench: no package.json above the bench');
    dir = up;
  }
  return dir;
}

const ENTRY = [
  "export { Masker, MaskContext } from './src/masking/masker.ts';",
  "export { MaskingStream } from './src/masking/stream.ts';",
  "export { DETECTOR_NAMES } from './src/masking/detectors.ts';",
].join('\n');

/**
 * Today's engine from git at `commit`, or why it could not be built (no git, a shallow clone without the
 * commit, an unpacked tarball): the bench then prints its figures without the ratio.
 */
export async function loadBaseline(commit = BASELINE_COMMIT, root = repoRoot()): Promise<{ engine: MaskingEngine } | { reason: string }> {
  const verify = spawnSync('git', ['rev-parse', '--verify', '--quiet', `${commit}^{commit}`], { cwd: root, encoding: 'utf8' });
  if (verify.error !== undefined) return { reason: `git is not available (${verify.error.message})` };
  if (verify.status !== 0) return { reason: `commit ${commit} is not in this checkout` };
  const work = mkdtempSync(join(tmpdir(), 'airlock-mask-baseline-'));
  try {
    const archive = spawnSync('git', ['archive', '--format=tar', commit, 'src'], { cwd: root, maxBuffer: 256 * 1024 * 1024 });
    if (archive.status !== 0) return { reason: `git archive ${commit} failed: ${archive.stderr.toString().trim()}` };
    const untar = spawnSync('tar', ['-x', '-C', work], { input: archive.stdout });
    if (untar.status !== 0) return { reason: `tar could not unpack git archive ${commit}: ${untar.stderr.toString().trim()}` };
    const outfile = join(work, 'engine.mjs');
    await build({
      stdin: { contents: ENTRY, resolveDir: work, sourcefile: 'baseline-entry.ts', loader: 'ts' },
      outfile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      logLevel: 'silent',
      nodePaths: [join(root, 'node_modules')],
      // The phone library is required at run time through createRequire(import.meta.url): resolve it from
      // this checkout, as the working tree's engine does.
      define: { 'import.meta.url': JSON.stringify(pathToFileURL(join(root, 'package.json')).href) },
    });
    const engine = (await import(pathToFileURL(outfile).href)) as MaskingEngine;
    return { engine };
  } catch (error) {
    return { reason: `today's engine could not be built: ${error instanceof Error ? error.message : String(error)}` };
  } finally {
    // esbuild's service process would outlive the build (and be a process left behind in a test).
    await stop();
    rmSync(work, { recursive: true, force: true });
  }
}
