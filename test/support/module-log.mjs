// Preloaded with `node --import` by the CLI tests: records the URL of every module the program imports
// (appended, one per line, to the file named by AIRLOCK_MODULE_LOG), so a test can tell what a command loaded.
// With AIRLOCK_MODULE_LOG_MARK=1 it also appends `# stdout` before the program's first write to stdout (a stdio
// server's answer to `initialize`). The loader thread appends each module as it resolves it, before that import
// goes on: a module the answer waited for is above the mark, one asked for only after the answer is below it,
// however fast the program goes on loading while the test reads the log.
import { appendFileSync } from 'node:fs';
import { register } from 'node:module';

register('./module-log-hooks.mjs', import.meta.url);

const log = process.env.AIRLOCK_MODULE_LOG;
if (log && process.env.AIRLOCK_MODULE_LOG_MARK === '1') {
  const write = process.stdout.write;
  let marked = false;
  process.stdout.write = function (...args) {
    if (!marked) {
      marked = true;
      appendFileSync(log, '# stdout\n');
    }
    return write.apply(this, args);
  };
}
