import type { Principal } from '../identity/principal.js';
import type { CallerView, ResourceAccess } from '../tool.js';
import { evaluate } from './evaluate.js';
import type { Policy } from './load.js';
import { SQL_CLASSES } from './sql/classify.js';

/**
 * What policy lets a caller do on each resource, computed by evaluating the same `evaluate()` the server
 * uses for a representative call of every kind (one per SQL class for query_sql).
 */
export function accessFor(policy: Policy, caller: CallerView): ResourceAccess[] {
  const principal: Principal = { ...caller, dev: !caller.verified };
  return Object.entries(policy.file.resources.connections).map(([name, connection]) => {
    const effects: Record<string, 'allow' | 'approve' | 'deny'> = {};
    for (const cls of SQL_CLASSES) {
      const facts = {
        resource: { kind: 'connection' as const, name },
        sql: { class: cls, classesSeen: [cls], statementType: null, tables: [], tablesWritten: [], functions: [], reason: '' },
      };
      effects[cls] = evaluate(policy, { principal, tool: 'query_sql', facts }).effect;
    }
    return { kind: 'connection', name, ...(connection.description === undefined ? {} : { description: connection.description }), effects };
  });
}
