// One airlock replica's PostgreSQL audit store in a process of its own, for the tests that kill it: it opens
// the store as `replica` (default: host:pid:suffix), starts the call `<replica>-open` (`default-open`) (and never finishes it), prints "ready", and waits.
import { PgAuditStore } from '../../dist/src/audit/pg-store.js';

const [url, table, replica] = process.argv.slice(2);
// An empty name leaves the default (host:pid:suffix).
const store = await PgAuditStore.open({ url, table, ...(replica === '' ? {} : { replica }) });
const name = replica === '' ? 'default' : replica;
await store.start({ id: `${name}-open`, time: new Date().toISOString(), sessionId: name, transport: 'http', principal: null, devIdentity: false, tool: 'query_sql', input: { sql: 'SELECT 1' }, facts: null, decision: null });
process.stdout.write('ready\n');
setInterval(() => undefined, 60_000);
