// Preloaded with `node --import` by the CLI tests: records the URL of every module the program imports
// (appended, one per line, to the file named by AIRLOCK_MODULE_LOG), so a test can tell what a command loaded.
import { register } from 'node:module';

register('./module-log-hooks.mjs', import.meta.url);
