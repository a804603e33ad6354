/**
 * Policy benchmark (issue 4): SQL classifications per second (Postgres's parser + tree walk, with and
 * without the connection catalog and lineage) and the p50 cost of deciding one call.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PostgresConnector } from '../src/connectors/postgres.js';
import { evaluate } from '../src/policy/evaluate.js';
import { parsePolicy } from '../src/policy/load.js';
import { sensitiveColumns } from '../src/policy/sensitive.js';
import { classifySql } from '../src/policy/sql/classify.js';
import type { Principal } from '../src/identity/principal.js';

const CORPUS = [
  'SELECT 1',
  'SELECT name, email FROM customers WHERE id = $1',
  'SELECT c.name, sum(o.quantity) FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.name HAVING sum(o.quantity) > 1',
  'WITH t AS (SELECT customer_id, count(*) AS n FROM orders GROUP BY 1) SELECT * FROM t ORDER BY n DESC LIMIT 3',
  'SELECT id, row_number() OVER (PARTITION BY customer_id ORDER BY ordered_at) FROM orders',
  "SELECT jsonb_build_object('id', id, 'name', name) FROM customers",
  "SELECT date_trunc('day', ordered_at) AS d, count(*) FROM orders WHERE status <> 'refunded' GROUP BY 1 ORDER BY 1",
  'SELECT name FROM products UNION SELECT name FROM customers',
  "UPDATE orders SET status = 'shipped' WHERE id = $1",
  'WITH d AS (DELETE FROM orders WHERE id = -1 RETURNING *) SELECT * FROM d',
];

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN;
}

export async function policyBench(sql: PostgresConnector, root: string): Promise<string[]> {
  const catalog = await sql.catalog('shop');
  const sensitive = sensitiveColumns(['customers.card_number', 'customers.email']);
  const rounds = 300;
  const rate = (fn: (q: string) => unknown): number => {
    for (const q of CORPUS) fn(q);
    const started = performance.now();
    for (let r = 0; r < rounds; r++) for (const q of CORPUS) fn(q);
    return (rounds * CORPUS.length) / ((performance.now() - started) / 1000);
  };
  const bare = rate((q) => classifySql(q));
  const withCatalog = rate((q) => classifySql(q, catalog));
  const withLineage = rate((q) => classifySql(q, catalog, sensitive));

  const policy = parsePolicy(readFileSync(join(root, 'policies.json'), 'utf8'), 'policies.json', ['query_sql', 'list_resources', 'explain_policy', 'whoami']);
  const principal: Principal = { issuer: 'i', sub: 'ana', email: 'ana@example.com', groups: ['analysts'], clientId: undefined, dev: false };
  const facts = { resource: { kind: 'connection' as const, name: 'shop' }, sql: classifySql(CORPUS[1] ?? '', catalog, sensitive) };
  const evalTimes: number[] = [];
  const fullTimes: number[] = [];
  for (let i = 0; i < 20_000; i++) {
    const a = performance.now();
    evaluate(policy, { principal, tool: 'query_sql', facts });
    evalTimes.push(performance.now() - a);
  }
  for (let i = 0; i < 5_000; i++) {
    const q = CORPUS[i % CORPUS.length] ?? '';
    const a = performance.now();
    evaluate(policy, { principal, tool: 'query_sql', facts: { resource: facts.resource, sql: classifySql(q, catalog, sensitive) } });
    fullTimes.push(performance.now() - a);
  }
  evalTimes.sort((x, y) => x - y);
  fullTimes.sort((x, y) => x - y);
  const us = (ms: number): string => `${(ms * 1000).toFixed(1)} µs`;
  return [
    `policy: ${CORPUS.length}-statement corpus × ${rounds} rounds; decisions over the repository policies.json`,
    '',
    '| measure | result |',
    '|---|---|',
    `| classifications/s, parser + tree walk, no catalog | ${Math.round(bare).toLocaleString('en-US')} |`,
    `| classifications/s, with the connection's function catalog | ${Math.round(withCatalog).toLocaleString('en-US')} |`,
    `| classifications/s, with catalog and lineage (2 sensitive columns) | ${Math.round(withLineage).toLocaleString('en-US')} |`,
    `| evaluate() one call, p50 / p99 | ${us(percentile(evalTimes, 50))} / ${us(percentile(evalTimes, 99))} |`,
    `| classify + lineage + evaluate one call, p50 / p99 | ${us(percentile(fullTimes, 50))} / ${us(percentile(fullTimes, 99))} |`,
  ];
}
