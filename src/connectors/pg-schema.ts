/** What {@link ensureSchema} needs of a pooled PostgreSQL client. */
export interface SchemaClient {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
  release(): void;
}

/**
 * Creates a store's tables and indexes unless every relation in `wanted` is there already. A start that finds
 * them runs no DDL, so airlock can run as a role that may use the tables but not create them (`IF NOT EXISTS`
 * still asks for CREATE). Replicas starting together take the advisory lock `lock` for the DDL, one at a time;
 * it ends with the transaction. The client is released whatever happens.
 */
export async function ensureSchema(client: SchemaClient, wanted: readonly string[], lock: string, ddl: string): Promise<void> {
  try {
    const present = await client.query('SELECT bool_and(to_regclass(name) IS NOT NULL) AS ready FROM unnest($1::text[]) AS name', [wanted]);
    if ((present.rows[0] as { ready?: boolean } | undefined)?.ready === true) return;
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [lock]);
    await client.query(ddl);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
