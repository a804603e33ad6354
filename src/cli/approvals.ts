/**
 * `airlock approvals list|show|approve|deny`: an approver's client of the server's `/approvals` API.
 * Exit codes: 0 done, 1 the server refused (APPROVAL_FORBIDDEN, APPROVAL_USED, APPROVAL_EXPIRED, …),
 * 2 a usage error, 3 the server could not be reached or did not accept the token.
 */
import { readFile } from 'node:fs/promises';
import type { RequestView } from '../approval/view.js';
import { DEFAULTS } from '../defaults.js';
import { UsageError } from '../usage-error.js';
import type { CliContext } from './context.js';

/** The flags of one `airlock approvals` subcommand, as its option table parsed them. */
export type ApprovalsFlags = Readonly<Record<string, string | boolean | (string | boolean)[] | undefined>>;

export const EXIT = { ok: 0, refused: 1, unreachable: 3 } as const;

/** The URL `--url` and `AIRLOCK_URL` default to: the HTTP address `airlock serve --http` listens on by default. */
export const DEFAULT_URL = `http://${DEFAULTS.host}:${DEFAULTS.port}`;

const STATES = ['pending', 'approved', 'denied', 'expired', 'consumed', 'withdrawn', 'all'] as const;
const ID = /^apr_[A-Za-z0-9_-]{1,64}$/;
/** What a bearer token may contain (RFC 6750 b64token); anything else would break the header or is not a token. */
const TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const TIMEOUT_MS = 30_000;
const MAX_REASON = 1000;

/** A command that ended with a message and an exit code other than usage (2). */
class Stop extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly body?: unknown,
  ) {
    super(message);
  }
}

interface Target {
  readonly base: URL;
  readonly token: string;
}

const str = (flags: ApprovalsFlags, name: string): string | undefined => {
  const v = flags[name];
  return typeof v === 'string' ? v : undefined;
};

/** Runs `airlock approvals <name>`; resolves to the exit code. */
export async function runApprovals(name: string, flags: ApprovalsFlags, id: string | undefined, ctx: CliContext): Promise<number> {
  const command = `approvals ${name}`;
  const json = flags.json === true;
  // Arguments are checked before the token is read or the server is asked anything.
  if (id !== undefined && !ID.test(id)) throw new UsageError(`not an approval request id: ${JSON.stringify(id.slice(0, 80))} (ids look like apr_…; see airlock approvals list)`, command);
  const query = name === 'list' ? listQuery(flags, command) : undefined;
  const reason = name === 'approve' || name === 'deny' ? reasonFlag(flags, command) : undefined;
  const target = await resolveTarget(flags, ctx.env, command);
  try {
    if (name === 'list') {
      const body = (await call(target, 'GET', `/approvals?${query?.toString() ?? ''}`)) as { requests: RequestView[] };
      if (json) return ctx.out(JSON.stringify(body, null, 2)), EXIT.ok;
      const state = query?.get('state') ?? 'pending';
      ctx.out(body.requests.length === 0 ? (state === 'all' ? 'No approval requests.' : `No ${state} approval requests.`) : formatList(body.requests, Date.now(), state !== 'pending'));
      return EXIT.ok;
    }
    if (id === undefined) throw new UsageError('missing ID', command);
    if (name === 'show') {
      const body = (await call(target, 'GET', `/approvals/${id}`)) as { request: RequestView };
      ctx.out(json ? JSON.stringify(body, null, 2) : formatShow(body.request, Date.now()));
      return EXIT.ok;
    }
    const verdict = name === 'approve' ? 'approve' : 'deny';
    const body = (await call(target, 'POST', `/approvals/${id}/decision`, { verdict, ...(reason === undefined ? {} : { reason }) })) as { request: RequestView };
    ctx.out(json ? JSON.stringify(body, null, 2) : formatDecided(body.request, verdict));
    return EXIT.ok;
  } catch (error) {
    if (!(error instanceof Stop)) throw error;
    if (json && error.body !== undefined) ctx.out(JSON.stringify(error.body, null, 2));
    ctx.err(`airlock: ${error.message}`);
    return error.exitCode;
  }
}

function listQuery(flags: ApprovalsFlags, command: string): URLSearchParams {
  const query = new URLSearchParams();
  const state = str(flags, 'state');
  if (state !== undefined) {
    if (!(STATES as readonly string[]).includes(state)) throw new UsageError(`--state must be one of ${STATES.join(', ')} (got ${JSON.stringify(state.slice(0, 40))})`, command);
    query.set('state', state);
  }
  const limit = str(flags, 'limit');
  if (limit !== undefined) {
    if (!/^\d{1,3}$/.test(limit) || Number(limit) < 1 || Number(limit) > 500) throw new UsageError(`--limit must be a whole number from 1 to 500 (got ${JSON.stringify(limit.slice(0, 40))})`, command);
    query.set('limit', String(Number(limit)));
  }
  return query;
}

function reasonFlag(flags: ApprovalsFlags, command: string): string | undefined {
  const reason = str(flags, 'reason');
  if (reason === undefined) return undefined;
  if ([...reason].length > MAX_REASON) throw new UsageError(`--reason is too long (at most ${MAX_REASON} characters)`, command);
  // The server refuses these too; checked here so the message names the flag.
  if ([...reason].some((c) => { const n = c.charCodeAt(0); return (n < 32 && n !== 9 && n !== 10) || (n >= 127 && n <= 159) || (n >= 0x202a && n <= 0x202e) || (n >= 0x2066 && n <= 0x2069); })) {
    throw new UsageError('--reason must not contain control or direction-changing characters', command);
  }
  return reason;
}

/** The server (`--url`, `AIRLOCK_URL`, the default) and the approver's token (`--token-file`, `AIRLOCK_TOKEN`). */
async function resolveTarget(flags: ApprovalsFlags, env: CliContext['env'], command: string): Promise<Target> {
  const fromFlag = str(flags, 'url');
  const source = fromFlag !== undefined ? '--url' : env.AIRLOCK_URL !== undefined && env.AIRLOCK_URL !== '' ? 'AIRLOCK_URL' : undefined;
  const text = fromFlag ?? (source === 'AIRLOCK_URL' ? (env.AIRLOCK_URL ?? '') : DEFAULT_URL);
  let base: URL;
  try {
    base = new URL(text);
  } catch {
    throw new UsageError(`${source ?? 'the URL'}: not a URL: ${JSON.stringify(text.slice(0, 200))}`, command);
  }
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(base.hostname);
  if (base.protocol !== 'https:' && !(base.protocol === 'http:' && loopback)) {
    // The token travels with every request: never in clear text over a network.
    throw new UsageError(`${source ?? 'the URL'}: ${base.origin} must be https (http only on loopback): the token would travel in clear text`, command);
  }
  if (base.username !== '' || base.password !== '' || base.search !== '' || base.hash !== '') {
    throw new UsageError(`${source ?? 'the URL'}: give the server's base URL only (no user, query or fragment), e.g. https://airlock.example.com`, command);
  }
  const file = str(flags, 'token-file');
  let token: string;
  let from: string;
  if (file !== undefined) {
    // Read on every run: a token file that a helper rotates is always current.
    token = (await readFile(file, 'utf8')).trim();
    from = `--token-file ${file}`;
  } else if (env.AIRLOCK_TOKEN !== undefined && env.AIRLOCK_TOKEN.trim() !== '') {
    token = env.AIRLOCK_TOKEN.trim();
    from = 'AIRLOCK_TOKEN';
  } else {
    throw new UsageError('no token: give your approver token with --token-file FILE or in AIRLOCK_TOKEN', command);
  }
  if (token === '') throw new UsageError(`${from}: the file is empty`, command);
  if (!TOKEN.test(token)) throw new UsageError(`${from}: not a bearer token (it contains spaces, line breaks or other characters a token cannot have)`, command);
  return { base, token };
}

/** One API request; the parsed JSON of a 2xx answer, else a `Stop` that says what went wrong. */
async function call(target: Target, method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
  const prefix = target.base.pathname.replace(/\/+$/, '');
  const url = `${target.base.origin}${prefix}${path}`;
  const where = `${target.base.origin}${prefix}`;
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: { authorization: `Bearer ${target.token}`, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      // A redirect is not followed: the token must go only where the user pointed it.
      redirect: 'manual',
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (error) {
    throw new Stop(`could not reach ${where}: ${networkProblem(error)}`, EXIT.unreachable);
  }
  const type = (res.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (res.status >= 300 && res.status < 400) {
    throw new Stop(`${where} answered with a redirect (${res.status}${res.headers.get('location') === null ? '' : ` to ${res.headers.get('location') ?? ''}`}): give the server's own URL with --url`, EXIT.unreachable);
  }
  const text = await res.text().catch(() => '');
  let parsed: unknown;
  try {
    parsed = type === 'application/json' ? (JSON.parse(text) as unknown) : undefined;
  } catch {
    parsed = undefined;
  }
  const error = errorOf(parsed);
  if (res.ok && parsed !== undefined && error === undefined) return parsed;
  if (error === undefined) {
    throw new Stop(`${where} answered ${res.status}${type === '' ? '' : ` (${type})`}: not the airlock approval API, or it is not enabled there (check --url)`, EXIT.unreachable);
  }
  if (res.status === 401) {
    throw new Stop(`not signed in at ${where}: ${error.code}: ${clean(error.message)} (check your token: --token-file or AIRLOCK_TOKEN; it may have expired)`, EXIT.unreachable, parsed);
  }
  throw new Stop(`${error.code}: ${clean(error.message)}`, EXIT.refused, parsed);
}

function errorOf(body: unknown): { code: string; message: string } | undefined {
  const e = (body as { error?: { code?: unknown; message?: unknown } } | null | undefined)?.error;
  return typeof e?.code === 'string' && typeof e.message === 'string' ? { code: e.code, message: e.message } : undefined;
}

const NETWORK: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'timed out',
  UND_ERR_CONNECT_TIMEOUT: 'timed out connecting',
  UND_ERR_SOCKET: 'connection closed',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'TLS: self-signed certificate',
  SELF_SIGNED_CERT_IN_CHAIN: 'TLS: self-signed certificate in the chain',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'TLS: certificate not trusted',
  CERT_HAS_EXPIRED: 'TLS: certificate expired',
  ERR_TLS_CERT_ALTNAME_INVALID: 'TLS: certificate is for another host',
};

/** What a failed fetch means, in words (fetch only says "fetch failed"; the reason is in its cause). */
function networkProblem(error: unknown): string {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return `no answer within ${TIMEOUT_MS / 1000} s`;
  const cause = (error as { cause?: unknown }).cause as { code?: unknown; errors?: { code?: unknown }[]; message?: unknown } | undefined;
  const code = typeof cause?.code === 'string' ? cause.code : typeof cause?.errors?.[0]?.code === 'string' ? cause.errors[0].code : undefined;
  if (code !== undefined) return NETWORK[code] ?? code;
  return typeof cause?.message === 'string' ? cause.message : error instanceof Error ? error.message : String(error);
}

/**
 * Text from the request (SQL, names, reasons) as a terminal may show it: control characters, and the
 * invisible and direction-changing ones that could make a statement look other than it is, are written as
 * visible `\u{…}` escapes. `keep` lists characters shown as they are (line breaks in the detail view).
 */
export function clean(text: string, keep = ''): string {
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g, (c) =>
    keep.includes(c) ? c : `\\u{${(c.codePointAt(0) ?? 0).toString(16)}}`,
  );
}

/** A duration in the largest two units: 45s, 9m, 2h 5m, 3d 4h. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 === 0 ? `${h}h` : `${h}h ${m % 60}m`;
  const d = Math.floor(h / 24);
  return h % 24 === 0 ? `${d}d` : `${d}d ${h % 24}h`;
}

function sqlOf(input: unknown): string | undefined {
  const sql = (input as { sql?: unknown } | null)?.sql;
  return typeof sql === 'string' ? sql : undefined;
}

const who = (p: { readonly sub: string; readonly email?: string }): string => clean(p.email ?? p.sub);

/** Time left to decide (pending) or to run the grant (approved); `-` when the request is final. */
function timeLeft(view: RequestView, now: number): string {
  const until = view.state === 'pending' ? view.expiresAt : view.state === 'approved' ? view.executeBy : undefined;
  if (until === undefined) return '-';
  const left = Date.parse(until) - now;
  return left <= 0 ? 'expired' : duration(left);
}

function truncate(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
}

/** The list as a table: one request a line. */
export function formatList(views: readonly RequestView[], now: number, withState: boolean): string {
  const header = ['ID', ...(withState ? ['STATE'] : []), 'AGE', 'REQUESTER', 'TOOL', 'RESOURCE', 'SQL', 'APPROVALS', 'EXPIRES IN'];
  const rows = views.map((v) => {
    const sql = sqlOf(v.input);
    const lines = sql?.trim().split('\n') ?? [];
    const first = sql === undefined ? clean(JSON.stringify(v.input)) : `${clean(lines[0]?.trim() ?? '')}${lines.length > 1 ? ' …' : ''}`;
    return [
      v.id,
      ...(withState ? [v.state] : []),
      duration(now - Date.parse(v.createdAt)),
      truncate(who(v.requester), 32),
      truncate(clean(v.tool), 24),
      truncate(clean(v.resource), 20),
      truncate(first, 60),
      `${v.approvals}/${v.quorum}`,
      timeLeft(v, now),
    ];
  });
  const widths = header.map((h, i) => Math.max([...h].length, ...rows.map((r) => [...(r[i] ?? '')].length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat((widths[i] ?? 0) - [...c].length))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

const CANNOT: Readonly<Record<NonNullable<RequestView['cannotDecide']>, string>> = {
  own_request: 'cannot decide it: it is your own request',
  not_an_approver: 'cannot decide it: you are in none of its approver groups',
  already_decided: 'cannot decide it again: you have already approved it',
  decided: 'cannot decide it: it is already decided',
};

function when(iso: string, now: number): string {
  const delta = Date.parse(iso) - now;
  return `${iso} (${delta >= 0 ? `in ${duration(delta)}` : `${duration(-delta)} ago`})`;
}

/** One request in full: the exact statement and parameters, why it needs approval, and the decisions. */
export function formatShow(v: RequestView, now: number): string {
  const out: string[] = [];
  const field = (name: string, value: string): void => void out.push(`  ${name.padEnd(14)} ${value}`);
  out.push(`${v.id}  ${v.state}  (${v.approvals} of ${v.quorum} approval${v.quorum === 1 ? '' : 's'})`);
  field('requester', `${who(v.requester)} (sub ${clean(v.requester.sub)}, issuer ${clean(v.requester.issuer)})${v.requester.groups.length === 0 ? '' : `, groups ${clean(v.requester.groups.join(', '))}`}`);
  field('tool', `${clean(v.tool)} on ${clean(v.resource)}`);
  field('rule', `${clean(v.ruleIds.join(', '))}${v.reason === undefined ? '' : `: ${clean(v.reason)}`}`);
  field('justification', v.justification === undefined ? '(none given)' : clean(v.justification));
  field('approvers', `${clean(v.approverGroups.join(', '))}; quorum ${v.quorum}`);
  field('created', when(v.createdAt, now));
  field('expires', when(v.expiresAt, now));
  if (v.decidedAt !== undefined) field('decided', when(v.decidedAt, now));
  if (v.executeBy !== undefined) field('execute by', when(v.executeBy, now));
  if (v.consumedAt !== undefined) field('ran', when(v.consumedAt, now));
  field('policy', v.policyVersion);
  field('binding', v.bindingHash);
  field('you', v.canDecide ? 'can approve or deny it' : CANNOT[v.cannotDecide ?? 'decided']);
  const sql = sqlOf(v.input);
  if (sql !== undefined) {
    const { sql: _sql, params, ...rest } = v.input as { sql: string; params?: unknown };
    void _sql;
    out.push('', 'SQL (exactly what runs if approved):', ...clean(sql, '\n').split('\n').map((l) => `  ${l}`));
    if (Array.isArray(params) && params.length > 0) {
      out.push('', 'Parameters:');
      params.forEach((p: unknown, i) => out.push(`  $${i + 1}  ${clean(JSON.stringify(p))}  (${p === null ? 'null' : Array.isArray(p) ? 'array' : typeof p})`));
    }
    if (Object.keys(rest).length > 0) out.push('', `Other arguments: ${clean(JSON.stringify(rest))}`);
  } else {
    out.push('', 'Input (exactly what runs if approved):', ...clean(JSON.stringify(v.input, null, 2), '\n').split('\n').map((l) => `  ${l}`));
  }
  out.push('', 'Decisions:');
  if (v.decisions.length === 0) out.push('  (none yet)');
  for (const d of v.decisions) out.push(`  ${d.verdict.padEnd(7)}  ${who(d.approver)}  ${d.at}${d.reason === undefined ? '' : `  ${clean(d.reason)}`}`);
  return out.join('\n');
}

/** What an approve or deny came to. */
export function formatDecided(v: RequestView, verdict: 'approve' | 'deny'): string {
  if (verdict === 'deny') return `Denied ${v.id}: the call will not run.`;
  if (v.state === 'approved') return `Approved ${v.id} (${v.approvals} of ${v.quorum}): the requester's call can run once, until ${v.executeBy ?? '?'}.`;
  const more = v.quorum - v.approvals;
  return `Approved ${v.id} (${v.approvals} of ${v.quorum}): ${more} more approval${more === 1 ? '' : 's'} needed before it can run.`;
}
