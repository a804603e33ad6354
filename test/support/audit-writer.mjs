// Writes audit entries as fast as it can, printing each acknowledged call id on stdout, until killed.
// Used by the kill -9 test: everything printed must survive, and every segment must stay valid JSON.
import { JsonAuditStore } from '../../dist/src/audit/store.js';

const [dir, segmentBytes = '8192'] = process.argv.slice(2);
const store = await JsonAuditStore.open(dir, { segmentBytes: Number(segmentBytes), flushIntervalMs: 1 });
let n = 0;
const entry = (id) => ({ id, time: new Date().toISOString(), sessionId: 'kill', transport: 'stdio', principal: null, devIdentity: false, tool: 'query_sql', input: { sql: `SELECT ${id}`, pad: 'x'.repeat(200 + (n % 700)) }, facts: null, decision: null });
for (;;) {
  const batch = [];
  for (let i = 0; i < 8; i++) {
    const id = `k${++n}`;
    const started = entry(id);
    batch.push(
      store.start(started).then(async () => {
        if (n % 3 === 0) return; // some calls are still running when the kill comes
        await store.append({ ...started, durationMs: 1, downstream: [], outcome: 'ok', error: null, result: null, response: { sha256: '0'.repeat(64), bytes: 0, truncated: false } });
        process.stdout.write(`${id}\n`);
      }),
    );
  }
  await Promise.all(batch);
  // Let timers run, as network I/O does in a server (segment moves are timer-driven).
  await new Promise((resolve) => setImmediate(resolve));
}
