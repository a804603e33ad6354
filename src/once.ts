/**
 * A value built on its first use and kept. For zod schemas that a process may never need: a schema built at
 * module load costs every command that imports the module (and the server's start) whether it parses or not.
 */
export function once<T>(build: () => T): () => T {
  let built: { readonly value: T } | undefined;
  return () => (built ??= { value: build() }).value;
}
