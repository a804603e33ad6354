import { randomUUID } from 'node:crypto';
import { deeperThan, MAX_JSON_DEPTH } from '../bounds.js';
import type { TransportKind } from '../audit/record.js';
import type { InputIssue } from '../errors.js';
import type { Credential } from '../identity/principal.js';
import { kindOf, readToolCall, type ToolCallIntake } from './intake.js';

/** The `_meta` key that carries a tools/call's intake ticket past the SDK's schema. */
export const TICKET = 'airlock/intake';

/** The MCP task-augmentation key of `_meta`: airlock declares no tasks, so it is ignored (never validated). */
const RELATED_TASK = 'io.modelcontextprotocol/related-task';

const REQUEST_KEYS = new Set(['jsonrpc', 'id', 'method', 'params']);

/** A message the SDK may see (tools/call params rewritten to a ticket), or one airlock refuses itself. */
export type Screened =
  | { readonly kind: 'pass'; readonly message: Record<string, unknown> }
  | {
      readonly kind: 'refuse';
      /** The id to answer with: the request's own when it is a valid id, else null (JSON-RPC 2.0). */
      readonly id: string | number | null;
      /**
       * -32700 for a message that is not JSON, -32600 for one that is not a valid request; or the code the
       * SDK refused a tools/call with before any handler took it (see {@link IntakeDesk.unserved}); -32000 for a
       * tools/call that reached a closed desk (airlock is stopping).
       */
      readonly code: number;
      /** The refused message as the audit records it (a tools/call keeps its tool and arguments). */
      readonly call: ToolCallIntake;
    };

type Json = Record<string, unknown>;

/** Where a screened message came from, as far as the transport that screened it knows. */
export interface TicketOrigin {
  readonly transport: TransportKind;
  /** The session it was sent on ('' for none, or one not opened yet). */
  readonly sessionId: string;
  /** The caller's credential, checked at the transport (absent where it is checked later, per call). */
  readonly credential?: Credential;
}

/** A tools/call that was screened and given a ticket which no handler took in time: it never ran. */
export interface UnservedCall {
  readonly call: ToolCallIntake;
  readonly requestId: string | number;
  /** When the desk screened it (the desk's clock). */
  readonly receivedAt: number;
  readonly ageMs: number;
  readonly origin: TicketOrigin;
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** JSON-RPC ids the SDK answers: strings and integers. */
function validId(value: unknown): value is string | number {
  return typeof value === 'string' || (typeof value === 'number' && Number.isSafeInteger(value));
}

/**
 * A request's `_meta` as the SDK may see it: entries nested past the depth bound are left out (nothing walks
 * them), task augmentation is ignored, a progress token must be a string or an integer.
 */
function readMeta(meta: unknown, issues: InputIssue[]): Json {
  if (meta === undefined) return {};
  if (!isObject(meta)) {
    issues.push({ path: 'params._meta', message: `must be an object, got ${kindOf(meta)}` });
    return {};
  }
  const kept: Json = {};
  for (const [key, value] of Object.entries(meta)) {
    if (key === RELATED_TASK || key === TICKET || deeperThan(value, MAX_JSON_DEPTH - 1)) continue;
    if (key === 'progressToken' && !validId(value)) {
      issues.push({ path: 'params._meta.progressToken', message: `must be a string or an integer, got ${kindOf(value)}` });
      continue;
    }
    Object.defineProperty(kept, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return kept;
}

function label(value: unknown, fallback: string): string {
  return typeof value === 'string' ? value.slice(0, 100) : fallback;
}

/**
 * Reads every inbound JSON-RPC message before the SDK's transport schema does, so that no request airlock
 * receives is dropped unanswered and unaudited:
 * - a tools/call keeps its params as received under a ticket (`take`), and the SDK sees a minimal valid
 *   request carrying the tool's name (when it is a string), the ticket and the client's `_meta` (progress
 *   token, 2026-07-28 envelope);
 * - a request the SDK's message schema would drop (bad envelope, id, params or `_meta`) is refused here,
 *   for the transport to answer and audit;
 * - responses and well-formed messages pass unchanged.
 * One desk per serving entry (a stdio connection, an HTTP server): the servers that `take` share it with the
 * transport that screens, and a stateless entry creates a server per request. A ticket nobody takes (the
 * request never reached a handler) is dropped after `ticketTtlMs` and reported to `onExpired`.
 */
export class IntakeDesk {
  private readonly intakes = new Map<string, { readonly call: ToolCallIntake; readonly at: number; readonly id: string | number; readonly origin: TicketOrigin }>();
  /** Messages this desk has passed already: a transport that screens raw input hands them on as they are. */
  private readonly passed = new WeakSet<object>();
  private lastSweep = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  /**
   * `onExpired` is told of each ticket dropped untaken, so that the call is recorded: every tools/call that
   * reaches airlock has an audit record, including one that the SDK or a closing connection let fall
   * between the screen and a handler. It must not throw.
   */
  constructor(
    private readonly ticketTtlMs = 60_000,
    private readonly now: () => number = Date.now,
    private readonly onExpired?: (unserved: UnservedCall) => void,
  ) {}

  /** Tickets waiting to be taken (tests and health). */
  pending(): number {
    this.sweep(true);
    return this.intakes.size;
  }

  private sweep(always = false): void {
    const now = this.now();
    // Swept at most once a second on the message path: a ticket lives its time, up to a second more.
    if (!always && now - this.lastSweep < Math.min(1000, this.ticketTtlMs)) return;
    this.lastSweep = now;
    for (const [ticket, entry] of this.intakes) {
      if (now - entry.at < this.ticketTtlMs) continue;
      this.intakes.delete(ticket);
      this.report(entry, now);
    }
  }

  private report(entry: { readonly call: ToolCallIntake; readonly at: number; readonly id: string | number; readonly origin: TicketOrigin }, now: number): void {
    this.onExpired?.({ call: entry.call, requestId: entry.id, receivedAt: entry.at, ageMs: now - entry.at, origin: entry.origin });
  }

  /**
   * Sweeps when the oldest ticket's time is up even when no message comes (the sweep on the message path
   * needs traffic): an untaken call is recorded within one time-to-live of its arrival, plus the timer's
   * slack. The timer is armed for the oldest ticket left (tickets are kept in arrival order), not for a
   * whole time-to-live from the sweep, which would let a ticket wait almost twice its time.
   */
  private armSweep(): void {
    if (this.timer !== undefined || this.closed) return;
    const oldest = this.intakes.values().next();
    if (oldest.done === true) return;
    const due = Math.max(0, oldest.value.at + this.ticketTtlMs - this.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.sweep(true);
      this.armSweep();
    }, Math.min(due + 10, 2_147_483_647));
    this.timer.unref();
  }

  /**
   * Stops the desk as its serving entry closes: the sweep timer is cleared (it must not fire into a closed
   * audit store), and every ticket still waiting is reported to `onExpired` now, since no handler will take
   * it. Call it before the audit closes; a desk closed twice reports nothing the second time.
   */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    const now = this.now();
    const open = [...this.intakes.values()];
    this.intakes.clear();
    for (const entry of open) this.report(entry, now);
  }

  /**
   * A tools/call this desk rewrote, as an SDK transport hands it on after parsing it into a new object: the
   * same request under a ticket still waiting here. Tickets are random and never leave the server.
   */
  private isRewritten(message: Json): boolean {
    const params = message.params;
    if (message.method !== 'tools/call' || !isObject(params) || !isObject(params._meta)) return false;
    const ticket = params._meta[TICKET];
    return typeof ticket === 'string' && this.intakes.has(ticket);
  }

  /** A message that could not be read at all (not JSON, or over the size limit). */
  static unreadable(path: string, message: string, code: -32600 | -32700): Screened & { kind: 'refuse' } {
    return { kind: 'refuse', id: null, code, call: { toolName: '(unreadable message)', rawArguments: null, issues: [{ path, message }] } };
  }

  /** `origin` says who sent the message, for the record of a tools/call that is never served. */
  screen(message: unknown, origin: TicketOrigin): Screened {
    this.sweep();
    if (isObject(message) && (this.passed.has(message) || this.isRewritten(message))) return { kind: 'pass', message };
    const screened = this.read(message, origin);
    if (screened.kind === 'pass') this.passed.add(screened.message);
    return screened;
  }

  private read(message: unknown, origin: TicketOrigin): Screened {
    if (!isObject(message)) {
      return { kind: 'refuse', id: null, code: -32600, call: { toolName: '(not a JSON-RPC message)', rawArguments: null, issues: [{ path: 'message', message: `must be a JSON-RPC object, got ${kindOf(message)}` }] } };
    }
    const hasMethod = Object.hasOwn(message, 'method');
    if (!hasMethod && (Object.hasOwn(message, 'result') || Object.hasOwn(message, 'error'))) return { kind: 'pass', message };
    const method = message.method;
    const isCall = method === 'tools/call';
    const issues: InputIssue[] = [];
    if (!hasMethod) issues.push({ path: 'method', message: 'is missing (not a request, notification or response)' });
    else if (typeof method !== 'string') issues.push({ path: 'method', message: `must be a string, got ${kindOf(method)}` });
    if (message.jsonrpc !== '2.0') issues.push({ path: 'jsonrpc', message: 'must be "2.0"' });
    const hasId = Object.hasOwn(message, 'id');
    if (hasId && !validId(message.id)) issues.push({ path: 'id', message: `must be a string or an integer, got ${kindOf(message.id)}` });
    if (isCall && !hasId) issues.push({ path: 'id', message: 'a tools/call must have an id' });
    for (const key of Object.keys(message)) if (!REQUEST_KEYS.has(key)) issues.push({ path: key.slice(0, 64), message: 'is not a JSON-RPC request member' });
    const params = message.params;
    let meta: Json = {};
    if (params !== undefined && !isObject(params)) {
      if (!isCall) issues.push({ path: 'params', message: `must be an object, got ${kindOf(params)}` });
    } else if (params !== undefined) meta = readMeta(params._meta, issues);
    const id = hasId && validId(message.id) ? message.id : null;
    if (!isCall) {
      if (issues.length > 0) return { kind: 'refuse', id, code: -32600, call: { toolName: label(method, '(no method)'), rawArguments: null, issues } };
      // Only the _meta entries that pass the bound reach the SDK.
      return { kind: 'pass', message: isObject(params) && Object.hasOwn(params, '_meta') ? { ...message, params: { ...params, _meta: meta } } : message };
    }
    // A tools/call: its params are read as received; the request's own faults join the call's issues.
    const intake = readToolCall(params);
    const call: ToolCallIntake = { ...intake, issues: [...issues, ...intake.issues] };
    if (id === null || issues.some((i) => i.path === 'jsonrpc' || !i.path.startsWith('params'))) return { kind: 'refuse', id, code: -32600, call };
    // A closed desk issues no ticket (nothing would report it untaken): the call is refused here, and the
    // transport's refusal runs it through the pipeline, which records it (SHUTTING_DOWN) while the audit is open.
    if (this.closed) return { kind: 'refuse', id, code: -32000, call: { ...call, issues: [...call.issues, { path: 'message', message: 'airlock is stopping and takes no new calls' }] } };
    const ticket = randomUUID();
    this.intakes.set(ticket, { call, at: this.now(), id, origin });
    this.armSweep();
    // The tool's name stays when it is one (2026-07-28 transports check it against the Mcp-Name header).
    const name = isObject(params) && typeof params.name === 'string' ? params.name : 'airlock';
    const rewritten: Json = { jsonrpc: '2.0', id, method, params: { name, arguments: {}, ...retryFields(params), _meta: { ...meta, [TICKET]: ticket } } };
    return { kind: 'pass', message: rewritten };
  }

  /**
   * The call behind a tools/call this desk rewrote whose ticket no handler has taken, taken now: the SDK
   * refused the request before dispatch (a 2026-07-28 header check), so the transport audits it instead.
   * Undefined for any other message, and for a call a handler has taken.
   */
  unserved(message: unknown): ToolCallIntake | undefined {
    if (!isObject(message) || !this.isRewritten(message)) return undefined;
    return this.take((message.params as Json)._meta);
  }

  /** The call behind a ticket, once. */
  take(meta: unknown): ToolCallIntake {
    const ticket = isObject(meta) ? meta[TICKET] : undefined;
    const intake = typeof ticket === 'string' ? this.intakes.get(ticket)?.call : undefined;
    if (intake === undefined) return { toolName: '(unknown)', rawArguments: null, issues: [{ path: 'params', message: 'the request could not be read' }] };
    this.intakes.delete(ticket as string);
    return intake;
  }
}

/** The largest `requestState` passed on (airlock's own states are a few hundred characters). */
const MAX_REQUEST_STATE = 8192;

/**
 * A 2026-07-28 retry's answers (`inputResponses`) and echoed `requestState`, passed on to the SDK when well
 * formed; anything else is left out, so the call is asked again instead of failing outside the audit.
 */
function retryFields(params: unknown): Json {
  if (!isObject(params)) return {};
  const { inputResponses, requestState } = params;
  return {
    ...(isObject(inputResponses) && !deeperThan(inputResponses, MAX_JSON_DEPTH) ? { inputResponses } : {}),
    ...(typeof requestState === 'string' && requestState.length <= MAX_REQUEST_STATE ? { requestState } : {}),
  };
}
