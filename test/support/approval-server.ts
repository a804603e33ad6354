/**
 * The approval API on a real `node:http` server on loopback, for tests: a real approval service over a JSON
 * store in a temp dir, approvers verified by `OidcVerifier` against a local OIDC issuer, every refusal and
 * every event kept for assertions. The service's clock can be moved forward (the verifier's cannot).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createApprovalApi, type ApiRefusal } from '../../src/approval/api.js';
import { bearerApprovers } from '../../src/approval/bearer-auth.js';
import { bindCall } from '../../src/approval/binding.js';
import type { ApprovalEvent, ApprovalRecord, Approver } from '../../src/approval/model.js';
import { createApprovalService, type ApprovalService } from '../../src/approval/service.js';
import { openJsonApprovalStore } from '../../src/approval/store.js';
import { identityConfigSchema } from '../../src/identity/config.js';
import { OidcVerifier } from '../../src/identity/oidc.js';
import { tempDir } from './airlock.js';
import type { LocalIssuer } from './oidc-issuer.js';

/** A person in a test: the token's subject, email and groups. */
export interface Person {
  readonly sub: string;
  readonly email: string;
  readonly groups: readonly string[];
}

export interface OpenOptions {
  readonly input?: unknown;
  readonly approverGroups?: readonly string[];
  readonly quorum?: number;
  readonly timeoutSeconds?: number;
  readonly justification?: string;
  readonly reason?: string;
  readonly resource?: string;
}

export interface ApprovalServer {
  /** `http://127.0.0.1:PORT` (the API is under `/approvals`). */
  readonly url: string;
  readonly service: ApprovalService;
  /** Every refusal `onRefused` was given, in order. */
  readonly refusals: ApiRefusal[];
  readonly events: ApprovalEvent[];
  /** Errors the API threw (the server answered 500); a test expects none. */
  readonly thrown: unknown[];
  /** Moves the service's clock forward. */
  advance(ms: number): void;
  /** A token the local issuer signs for `who`, with this server's audience; `claims` override. */
  token(who: Person, claims?: Record<string, unknown>): Promise<string>;
  /** `who` as a verified approver of the local issuer (for calling the service directly). */
  approver(who: Person): Approver;
  /** Request `id` as stored now (read as an approver of every group the tests use). */
  get(id: string): Promise<ApprovalRecord>;
  /** Opens a request for a call by `requester` (as the approval stage would), returns it. */
  open(requester: Person, options?: OpenOptions): Promise<ApprovalRecord>;
  close(): Promise<void>;
}

export const AUDIENCE = 'https://airlock.test/mcp';

export async function startApprovalServer(issuer: LocalIssuer, options: { dir?: string } = {}): Promise<ApprovalServer> {
  const dir = options.dir ?? tempDir('airlock-approvals-');
  const store = openJsonApprovalStore(join(dir, 'approvals.json'));
  let offset = 0;
  const events: ApprovalEvent[] = [];
  const refusals: ApiRefusal[] = [];
  const thrown: unknown[] = [];
  const service = createApprovalService({ store, clock: { now: () => Date.now() + offset }, key: randomBytes(32), onEvent: (e) => void events.push(e) });
  const verifier = new OidcVerifier(identityConfigSchema().parse({ issuers: [{ issuer: issuer.issuer, audiences: [AUDIENCE] }], jwksCooldownSeconds: 0 }));
  const api = createApprovalApi({
    service,
    authenticators: [bearerApprovers(verifier)],
    onRefused: async (refusal) => {
      refusals.push(refusal);
      await Promise.resolve();
    },
    challenge: 'Bearer realm="airlock"',
  });
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    api(req, res, url).then(
      (handled) => {
        if (handled) return;
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found');
      },
      (error: unknown) => {
        thrown.push(error);
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('internal error');
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    service,
    refusals,
    events,
    thrown,
    advance: (ms) => void (offset += ms),
    token: (who, claims = {}) => issuer.sign({ sub: who.sub, email: who.email, email_verified: true, groups: [...who.groups], aud: AUDIENCE, ...claims }),
    approver: (who) => ({ issuer: issuer.issuer, sub: who.sub, email: who.email, groups: [...who.groups] }),
    get: (id) => service.view(id, { issuer: issuer.issuer, sub: 'test-reader', groups: ['dba', 'security', 'admin'] }),
    async open(requester, o = {}) {
      const input = o.input ?? { connection: 'shop', sql: 'UPDATE orders SET status = $1 WHERE id = $2', params: ['paid', 42] };
      const call = bindCall({ principal: { issuer: issuer.issuer, sub: requester.sub }, tool: 'query_sql', resource: o.resource ?? 'shop', input, ruleIds: ['writes-need-dba'], policyVersion: 'sha256:test-policy' });
      const { request } = await service.request(call, {
        approverGroups: o.approverGroups ?? ['dba'],
        quorum: o.quorum ?? 1,
        timeoutSeconds: o.timeoutSeconds ?? 600,
        ...(o.justification === undefined ? {} : { justification: o.justification }),
        details: { requester: { email: requester.email, groups: [...requester.groups] }, reason: o.reason ?? 'Writes to shop need a DBA' },
      });
      return request;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await store.close();
    },
  };
}
