import { setFlagsFromString } from 'node:v8';

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
 */
export const SERVER_V8_FLAGS: readonly string[] = ['--liftoff-only', '--heap-growing-percent=50'];

/** Applies SERVER_V8_FLAGS to this process; call before the server is loaded. */
export function tuneServerHeap(): void {
  for (const flag of SERVER_V8_FLAGS) setFlagsFromString(flag);
}
