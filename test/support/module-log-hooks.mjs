// Module resolution hook (runs on the loader thread): see module-log.mjs.
import { appendFileSync } from 'node:fs';

export async function resolve(specifier, context, nextResolve) {
  const result = await nextResolve(specifier, context);
  if (process.env.AIRLOCK_MODULE_LOG) appendFileSync(process.env.AIRLOCK_MODULE_LOG, `${result.url}\n`);
  return result;
}
