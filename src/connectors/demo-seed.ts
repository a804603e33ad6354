import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { DEMO_CARDS } from './demo-cards.js';

export { DEMO_CARDS };

const FIRST = ['Ana', 'Ben', 'Chloé', 'Dev', 'Elif', 'Femi', 'Greta', 'Hiro', 'Ines', 'Jonas', 'Kai', 'Lena'];
const LAST = ['Silva', 'Okafor', 'Martin', 'Patel', 'Yilmaz', 'Adeyemi', 'Berg', 'Tanaka', 'Costa', 'Weber', 'Nakamura', 'Novak'];
const PRODUCTS: readonly [string, string, number][] = [
  ['Espresso beans 1kg', 'coffee', 24.5],
  ['Pour-over kettle', 'equipment', 59],
  ['Ceramic dripper', 'equipment', 32],
  ['Paper filters (100)', 'supplies', 6.9],
  ['Decaf beans 500g', 'coffee', 14.25],
  ['Burr grinder', 'equipment', 189],
];

export interface DemoDatabase {
  /** Connection string for airlock's own least-privilege role on the demo database. */
  readonly url: string;
  readonly database: string;
  readonly role: string;
}

/**
 * Creates the demo database `shop` with customers (names, emails, Luhn-valid test card numbers),
 * products and orders, and a dedicated role `airlock_app` that may read and write rows but owns
 * nothing and cannot change the schema.
 */
export async function seedDemoDatabase(adminUrl: string, database = 'shop'): Promise<DemoDatabase> {
  const role = 'airlock_app';
  const password = randomBytes(18).toString('base64url');
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${admin.escapeIdentifier(database)} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(database)}`);
    const exists = await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
    const verb = exists.rowCount === 0 ? 'CREATE' : 'ALTER';
    await admin.query(`${verb} ROLE ${role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD ${admin.escapeLiteral(password)}`);
  } finally {
    await admin.end();
  }
  const dbUrl = new URL(adminUrl);
  dbUrl.pathname = `/${database}`;
  const db = new pg.Client({ connectionString: dbUrl.toString() });
  await db.connect();
  try {
    await db.query(`
      REVOKE ALL ON SCHEMA public FROM PUBLIC;
      CREATE TABLE customers (
        id serial PRIMARY KEY,
        name text NOT NULL,
        email text NOT NULL UNIQUE,
        card_number text NOT NULL,
        country char(2) NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE products (
        id serial PRIMARY KEY,
        name text NOT NULL,
        category text NOT NULL,
        price numeric(10,2) NOT NULL
      );
      CREATE TABLE orders (
        id bigserial PRIMARY KEY,
        customer_id int NOT NULL REFERENCES customers(id),
        product_id int NOT NULL REFERENCES products(id),
        quantity int NOT NULL CHECK (quantity > 0),
        status text NOT NULL DEFAULT 'paid',
        ordered_at timestamptz NOT NULL
      );
    `);
    const countries = ['PT', 'NG', 'FR', 'IN', 'TR', 'DE', 'JP', 'BR'];
    for (let i = 0; i < FIRST.length; i++) {
      const first = FIRST[i] as string;
      const last = LAST[i] as string;
      await db.query(
        `INSERT INTO customers (name, email, card_number, country, created_at) VALUES ($1, $2, $3, $4, $5)`,
        [
          `${first} ${last}`,
          `${first.toLowerCase().normalize('NFD').replace(/[^a-z]/g, '')}.${last.toLowerCase()}@example.com`,
          DEMO_CARDS[i % DEMO_CARDS.length],
          countries[i % countries.length],
          new Date(Date.UTC(2026, i % 12, 1 + i)).toISOString(),
        ],
      );
    }
    for (const [name, category, price] of PRODUCTS) {
      await db.query('INSERT INTO products (name, category, price) VALUES ($1, $2, $3)', [name, category, price]);
    }
    await db.query(`
      INSERT INTO orders (customer_id, product_id, quantity, status, ordered_at)
      SELECT 1 + (g % ${FIRST.length}), 1 + (g % ${PRODUCTS.length}), 1 + (g % 3),
             (ARRAY['paid','shipped','refunded'])[1 + (g % 3)],
             timestamptz '2026-01-01 09:00+00' + g * interval '7 hours'
      FROM generate_series(1, 200) AS g;
    `);
    await db.query(`
      GRANT USAGE ON SCHEMA public TO ${role};
      GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${role};
      GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO ${role};
    `);
  } finally {
    await db.end();
  }
  const appUrl = new URL(dbUrl.toString());
  appUrl.username = role;
  appUrl.password = password;
  return { url: appUrl.toString(), database, role };
}
