/**
 * A value built on its first use and kept. For zod schemas that a process may never need: a schema built at
 * module load costs every command that imports the module (and the server's start) whether it parses or not.
 */
export function once<T>(build: () => T): () => T {
  let built: { readonly value: T } | undefined;
  return () => (built ??= { value: build() }).value;
}

/**
 * Parse options for a schema that parses once per process (settings, the policy file, the runtime file):
 * zod compiles a fast path (`new Function`) on an object schema's first parse, which pays off only when the
 * schema parses many times. Same result and the same issues, about half the CPU for a one-off parse.
 */
export const ONE_SHOT = { jitless: true } as const;
