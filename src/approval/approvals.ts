import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { approvalEventRecord, refusedApprovalRecord } from '../audit/approval-record.js';
import { secretText } from '../audit/keys.js';
import type { AuditRecord, AuditSink } from '../audit/record.js';
import { parseKeyMaterial } from '../audit/sealed.js';
import { ConfigError, type ApprovalsConfig } from '../config.js';
import type { TokenVerifier } from '../identity/oidc.js';
import type { Logger } from '../log.js';
import { createApprovalApi, type ApprovalApi, type ApproverAuth } from './api.js';
import { bearerApprovers } from './bearer-auth.js';
import { createApprovalService, type ApprovalService } from './service.js';
import { openJsonApprovalStore, type ApprovalStore } from './store.js';

/** Approvals as the rest of airlock uses them: the service, its HTTP surfaces, and what the pipeline needs. */
export interface Approvals {
  readonly service: ApprovalService;
  /** Where requests are kept (for the log). */
  readonly description: string;
  /** How long calls wait in place (ms). */
  readonly waitMs: number;
  /** The console link of a request (once the public URL is known). */
  consoleUrl(requestId: string): string | undefined;
  /** The approval API (`/approvals`) for the HTTP transport, with the given extra authenticators first. */
  api(extra?: readonly ApproverAuth[]): ApprovalApi;
  /** Sets the base URL links point at (the HTTP server's URL, unless `publicUrl` is configured). */
  setBaseUrl(url: string): void;
  close(): Promise<void>;
}

export interface ApprovalsDeps {
  /** The JSON store and its key file default to this directory. */
  readonly auditDir: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Every approval event and refused API request is recorded here. */
  readonly audit: AuditSink;
  readonly clock: { now(): number };
  readonly log: Logger;
  /** Verifies approvers' bearer tokens (absent: no bearer approvers, e.g. the demo's dev identity). */
  readonly verifier?: TokenVerifier;
}

const KEY_FILE = 'approvals.key';
const SWEEP_MS = 30_000;

/**
 * Creates the approval workflow from the runtime config: the HMAC key (configured, or a random one kept
 * next to the JSON store), the store, the service whose every event is audited, the periodic expiry sweep
 * and the approval API. `close()` stops the sweep, waits for pending audit writes and closes the store.
 */
export async function createApprovals(config: ApprovalsConfig | undefined, deps: ApprovalsDeps): Promise<Approvals> {
  const settings = config ?? { executionWindowSeconds: 600, waitSeconds: 45 };
  const file = settings.file ?? join(deps.auditDir, 'approvals.json');
  if (settings.file === undefined || settings.key === undefined) mkdirSync(deps.auditDir, { recursive: true, mode: 0o700 });
  const key = settings.key === undefined ? localKey(deps.auditDir) : configuredKey(settings.key, deps.env);
  const store = await openStore(file);
  const writes = new Set<Promise<void>>();
  const record = (entry: AuditRecord): Promise<void> => {
    const write = deps.audit.append(entry).catch((error: unknown) => deps.log('error', `audit write failed for approval ${entry.approval?.event ?? ''} of ${entry.approval?.requestId ?? ''}: ${String(error)}`));
    writes.add(write);
    void write.finally(() => writes.delete(write));
    return write;
  };
  const service = createApprovalService({
    store,
    clock: deps.clock,
    key,
    executionWindowMs: settings.executionWindowSeconds * 1000,
    onEvent: (event) => void record(approvalEventRecord(event, new Date(deps.clock.now()))),
  });
  const sweep = setInterval(() => {
    service.expireDue().catch((error: unknown) => deps.log('warn', `approvals: expiry sweep failed: ${String(error)}`));
  }, SWEEP_MS);
  sweep.unref();
  let baseUrl = settings.publicUrl?.replace(/\/+$/, '');
  const bearer = deps.verifier === undefined ? [] : [bearerApprovers(deps.verifier)];
  return {
    service,
    description: file,
    waitMs: settings.waitSeconds * 1000,
    consoleUrl: (id) => (baseUrl === undefined ? undefined : `${baseUrl}/console#/requests/${id}`),
    setBaseUrl(url) {
      if (settings.publicUrl === undefined) baseUrl = url.replace(/\/+$/, '');
    },
    api: (extra = []) =>
      createApprovalApi({
        service,
        authenticators: [...extra, ...bearer, noApprover],
        onRefused: (refusal) => record(refusedApprovalRecord(refusal, new Date(deps.clock.now()))),
      }),
    async close() {
      clearInterval(sweep);
      await Promise.allSettled([...writes]);
      await store.close();
    },
  };
}

/** The configured store. */
function openStore(file: string): Promise<ApprovalStore> {
  return Promise.resolve(openJsonApprovalStore(file));
}

/** When nothing else applies: there is no way to sign in here (401, audited by the API). */
const noApprover: ApproverAuth = () => Promise.resolve({ kind: 'absent' });

function configuredKey(ref: string, env: Readonly<Record<string, string | undefined>>): Uint8Array {
  const label = 'approvals.key';
  try {
    return parseKeyMaterial(secretText(ref, label, env), label);
  } catch (error) {
    throw error instanceof ConfigError ? error : new ConfigError(error instanceof Error ? error.message : String(error));
  }
}

/** The key kept next to the store: created once (0600, never overwritten), then read. */
function localKey(dir: string): Uint8Array {
  const path = join(dir, KEY_FILE);
  try {
    writeFileSync(path, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw new ConfigError(`approvals: cannot create the key file ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    return parseKeyMaterial(readFileSync(path, 'utf8'), path);
  } catch (error) {
    throw new ConfigError(`approvals: the key file ${path} is not usable: ${error instanceof Error ? error.message : String(error)}`);
  }
}
