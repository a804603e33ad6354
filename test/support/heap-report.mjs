// Preloaded into a server under test (`node --import`): on SIGUSR2 it writes the size of V8's young generation
// (new space, bytes) to the file AIRLOCK_HEAP_REPORT names, so a test can see the heap settings the process runs
// under without any hook in airlock itself.
import { writeFileSync } from 'node:fs';
import { getHeapSpaceStatistics } from 'node:v8';

const file = process.env.AIRLOCK_HEAP_REPORT;
if (file !== undefined) {
  process.on('SIGUSR2', () => {
    const space = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    writeFileSync(file, String(space?.space_size ?? -1));
  });
}
