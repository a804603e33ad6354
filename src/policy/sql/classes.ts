/**
 * The SQL classes policy rules name, most to least harmful last. Kept apart from the classifier so that
 * loading a policy does not load the Postgres parser.
 */
export const SQL_CLASSES = ['read', 'write', 'server_state', 'ddl', 'destructive', 'privilege', 'admin', 'unparseable'] as const;
export type SqlClass = (typeof SQL_CLASSES)[number];
