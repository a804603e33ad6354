import type { PerformanceObserver as GcObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

/**
 * V8 settings for a long-running server process, applied in-process before anything compiles the SQL parser
 * (no second process, no flags on the command line). Measured under 1,000-row query_sql calls:
 *
 * - `--liftoff-only`: the Postgres parser is a WASM module; V8's optimising tier recompiles its hot
 *   functions and keeps ~40 MB of code resident for no measurable gain (parsing costs the same ~40–48 µs per
 *   statement, most of it moving the parse tree across as JSON).
 * - `--heap-growing-percent=50`: after a full GC the old generation may grow to 1.5× what is live before the
 *   next one, instead of V8's default of up to 4×: a server with ~50 MB live otherwise lets its heap reach
 *   ~200 MB of mostly garbage. 1.5× costs no measurable CPU per call; 1.2× saved ~13 MB more but cost ~25%
 *   more CPU per 1,000-row call. A growth factor, not a limit: a large call still gets the heap it needs.
 * - `--interrupt-budget=16384`: V8 optimises a hot JavaScript function after a quarter of the bytecode it
 *   otherwise runs first (67,584). A stdio server lives one agent session, often a few hundred calls; with V8's
 *   default, calls 100–1,100 still ran much of the call path unoptimised: 1-row query_sql calls cost ~1.7 ms
 *   of server CPU there against ~0.7 ms once warm. At a quarter, the same window costs ~0.3 ms less per call
 *   (p50 vs the MCP reference Postgres server, calls alternating: +0.47–0.72 ms → +0.31–0.34 ms); the warm
 *   cost is unchanged.
 */
export const SERVER_V8_FLAGS: readonly string[] = ['--liftoff-only', '--heap-growing-percent=50', '--interrupt-budget=16384'];

/**
 * The largest semi-space a stdio server's young generation grows to (bytes; V8's own limit on 64-bit is 16 MB).
 * A stdio server is one process per agent session, where resident memory is what a platform team counts, but
 * V8's initial 1 MB semi-spaces make a 1,000-row call scavenge several times and promote rows still in use.
 * Measured under 1,000-row query_sql calls over stdio (server CPU per call, steady RSS), against 1 MB semi-spaces:
 * 4 MB ~-10% CPU for ~+6 MB, 8 MB ~-20% CPU for ~+13 MB (~113 MB steady, the MCP reference Postgres server
 * ~107 MB); V8's own growth to 16 MB kept ~155 MB resident.
 */
export const STDIO_SEMI_SPACE_LIMIT = 8 * 1024 * 1024;

const MB = 1024 * 1024;

/** The current capacity of one semi-space: what the new space can hold before the next scavenge. */
function semiSpaceCapacity(): number {
  for (const space of getHeapSpaceStatistics()) {
    // used + available is the to-space's capacity less its page headers: round up to V8's 1 MB steps.
    if (space.space_name === 'new_space') return Math.ceil((space.space_used_size + space.space_available_size) / MB) * MB;
  }
  return 0;
}

/**
 * Lets V8 grow the young generation (by its usual doubling) only while the next step stays within `limit`.
 * `--max-semi-space-size` cannot be changed once the heap exists, but V8 reads `--semi-space-growth-factor`
 * each time it decides to grow the new space: it is set to 2 while a doubling fits and to 1 once it does not,
 * checked after every GC (V8 may also shrink the new space again when allocation is low, and growth is then
 * allowed again). The check runs after the GC, not inside it, so a burst of scavenges before it runs can grow
 * one step further than the limit, never beyond V8's own maximum; V8 shrinks it back when allocation drops.
 * Returns the observer, for tests to stop it. (Node's global PerformanceObserver: node:perf_hooks loads only
 * when a stdio server starts, not for every command.)
 */
export function limitYoungGeneration(limit: number): GcObserver {
  let factor = 0;
  const check = (): void => {
    const wanted = semiSpaceCapacity() * 2 <= limit ? 2 : 1;
    if (wanted === factor) return;
    factor = wanted;
    setFlagsFromString(`--semi-space-growth-factor=${wanted}`);
  };
  check();
  const observer = new PerformanceObserver(check);
  observer.observe({ entryTypes: ['gc'] });
  return observer;
}

/**
 * Applies the server's V8 settings to this process; call before the server is loaded. A stdio server's young
 * generation is also kept at or under {@link STDIO_SEMI_SPACE_LIMIT}; HTTP keeps V8's default (growing to
 * 16 MB semi-spaces): one process serves many sessions at once, and a smaller young generation promotes more of
 * the calls in flight.
 */
export function tuneServerHeap(stdio: boolean): void {
  for (const flag of SERVER_V8_FLAGS) setFlagsFromString(flag);
  if (stdio) limitYoungGeneration(STDIO_SEMI_SPACE_LIMIT);
}
