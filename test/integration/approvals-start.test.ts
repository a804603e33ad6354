import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { createApprovals } from '../../src/approval/approvals.js';
import { approvalsConfigSchema } from '../../src/config.js';
import { until } from '../support/served.js';

const url = (): string => inject('adminUrl');

/** How many connections the approval store and the console's sessions of table `t` hold open. */
async function connectionsOf(t: string): Promise<number> {
  const client = new pg.Client({ connectionString: url() });
  await client.connect();
  try {
    const res = await client.query<{ n: string }>('SELECT count(*) AS n FROM pg_stat_activity WHERE application_name IN ($1, $2, $3)', [`airlock approvals ${t}`, `airlock approvals ${t} listener`, `airlock console ${t}`]);
    return Number(res.rows[0]?.n ?? 0);
  } finally {
    await client.end();
  }
}

describe('createApprovals (issue 21)', () => {
  it('closes the PostgreSQL approval store and console sessions it opened when the console then refuses its settings', async () => {
    const t = `start_t_${randomBytes(4).toString('hex')}`;
    // secureCookies: false is refused for a console that is not on loopback: createApprovalConsole throws.
    const config = approvalsConfigSchema().parse({ postgres: { url: 'env:STORE_URL', table: t }, key: 'env:KEY', publicUrl: 'https://approvals.example.com', console: { secureCookies: false } });
    const logged: string[] = [];
    const started = createApprovals(config, {
      auditDir: undefined,
      env: { STORE_URL: url(), KEY: randomBytes(32).toString('base64') },
      audit: { start: () => Promise.resolve(), append: () => Promise.resolve() },
      clock: { now: () => Date.now() },
      log: (_level, message) => void logged.push(message),
    });
    await expect(started).rejects.toThrow(/secureCookies: false is only for plain HTTP on loopback/);
    // The pools and the change listener are gone (a leak would hold the listener's connection until the process ends).
    expect(await until(async () => (await connectionsOf(t)) === 0, 'the connections to close')).toBe(true);
  });
});
