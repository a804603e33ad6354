import type { ApprovalEvent, ApprovalRecord } from '../model.js';

/** A Slack incoming-webhook message: fallback `text` for notifications, and Block Kit `blocks`. */
export interface SlackMessage {
  readonly text: string;
  readonly blocks: readonly SlackBlock[];
}

type Text = { readonly type: 'plain_text' | 'mrkdwn'; readonly text: string };
export type SlackBlock =
  | { readonly type: 'header'; readonly text: Text }
  | { readonly type: 'section'; readonly text?: Text; readonly fields?: readonly Text[] }
  | { readonly type: 'context'; readonly elements: readonly Text[] }
  | { readonly type: 'actions'; readonly elements: readonly { readonly type: 'button'; readonly text: Text; readonly url: string; readonly action_id: string; readonly style?: 'primary' }[] };

/** Longest statement shown in the message (escaped characters); the console always has the whole of it. */
export const SLACK_MAX_STATEMENT = 2300;
const MAX_PARAMS = 400;
// Slack's own limits: header 150, a field 2000, a section's text 3000 characters.
const MAX_HEADER = 150;
const MAX_FIELD = 600;
const MAX_TEXT = 1500;

/**
 * Escapes the three characters Slack's mrkdwn treats as control characters, so that text from a request
 * (SQL, a justification, a reason) can never become a link, a mention such as `<!channel>`, or markup.
 */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '`': '`\u200b' };

/**
 * The longest escaped prefix of `text` that fits in `budget` characters (Slack's limits apply to what it
 * receives, and escaping can grow a text fivefold). Never splits an entity or a surrogate pair.
 * In code blocks a zero-width space follows each backtick, so the content cannot close the block early.
 */
function fit(text: string, budget: number, code = false): { text: string; cut: boolean; shown: number } {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const cp = text.codePointAt(i) ?? 0;
    const ch = String.fromCodePoint(cp);
    const esc = (ch === '`' && !code ? undefined : ESCAPES[ch]) ?? ch;
    if (out.length + esc.length > budget) return { text: out, cut: true, shown: i };
    out += esc;
    i += ch.length;
  }
  return { text: out, cut: false, shown: i };
}

/** Escaped text within `max` characters, with an ellipsis when cut. */
function plain(text: string, max: number): string {
  const f = fit(text, max - 1);
  return f.cut ? `${f.text}…` : f.text;
}

function codeBlock(escaped: string): string {
  return '```' + escaped + '```';
}

const HEADLINE: Record<ApprovalEvent['type'], string> = {
  requested: 'Approval requested',
  joined: 'Approval requested again',
  approved: 'Approved',
  denied: 'Denied',
  expired: 'Approval expired',
  consumed: 'Approved call ran',
  withdrawn: 'Approval request withdrawn',
};

/** The Slack message announcing `event` of `record`, with a button that opens the request in the console. */
export function slackMessage(event: ApprovalEvent, record: ApprovalRecord, consoleUrl: string): SlackMessage {
  const who = requesterName(record);
  const tool = record.binding.tool;
  const resource = record.binding.resource;
  const headline = event.type === 'approved' && !event.granted ? `Approval ${event.approvals} of ${event.quorum}` : HEADLINE[event.type];

  const blocks: SlackBlock[] = [{ type: 'header', text: { type: 'plain_text', text: headerText(`${headline}: ${tool} on ${resource}`) } }];
  const outcome = outcomeText(event);
  if (outcome !== undefined) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: outcome } });
  blocks.push({
    type: 'section',
    fields: [
      { type: 'mrkdwn', text: `*Requester*\n${plain(who, MAX_FIELD)}` },
      { type: 'mrkdwn', text: `*Tool*\n${plain(tool, MAX_FIELD)}` },
      { type: 'mrkdwn', text: `*Resource*\n${plain(resource, MAX_FIELD)}` },
      { type: 'mrkdwn', text: `*Approvers*\n${plain(record.approverGroups.join(', '), MAX_FIELD)} (${record.quorum} needed)` },
      { type: 'mrkdwn', text: `*${record.state === 'pending' ? 'Expires' : 'State'}*\n${record.state === 'pending' ? slackDate(record.expiresAt) : record.state}` },
      { type: 'mrkdwn', text: `*Rules*\n${plain(record.binding.ruleIds.join(', '), MAX_FIELD)}` },
    ],
  });
  blocks.push({ type: 'section', text: { type: 'mrkdwn', text: statementText(record.binding.input) } });
  const reason = record.details?.reason;
  if (reason !== undefined && reason !== '') blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `*Why approval is needed*\n${plain(reason, MAX_TEXT)}` } });
  if (record.justification !== undefined && record.justification !== '') {
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `*Justification*\n${plain(record.justification, MAX_TEXT)}` } });
  }
  blocks.push({
    type: 'actions',
    elements: [{ type: 'button', text: { type: 'plain_text', text: record.state === 'pending' ? 'Review in console' : 'Open in console' }, url: consoleUrl, action_id: 'open_console', ...(record.state === 'pending' ? { style: 'primary' as const } : {}) }],
  });
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `${plain(record.id, 100)} · policy ${plain(record.binding.policyVersion, 80)}` }] });

  return { text: plain(`${headline}: ${tool} on ${resource} by ${who} (${record.id})`, 300), blocks };
}

function headerText(text: string): string {
  const chars = [...text];
  return chars.length <= MAX_HEADER ? text : `${chars.slice(0, MAX_HEADER - 1).join('')}…`;
}

function requesterName(record: ApprovalRecord): string {
  return record.details?.requester.email ?? record.requester.sub;
}

/** Who decided and why, or what ended the request. */
function outcomeText(event: ApprovalEvent): string | undefined {
  const why = (reason: string | undefined): string => (reason === undefined || reason === '' ? '' : `: ${plain(reason, MAX_TEXT)}`);
  switch (event.type) {
    case 'approved': {
      const by = plain(event.approver.email ?? event.approver.sub, MAX_FIELD);
      const count = event.granted ? 'the call may run once' : `${event.approvals} of ${event.quorum} approvals`;
      return `*Approved by ${by}* (${count})${why(event.reason)}`;
    }
    case 'denied':
      return `*Denied by ${plain(event.approver.email ?? event.approver.sub, MAX_FIELD)}*${why(event.reason)}`;
    case 'expired':
      return event.phase === 'decision' ? '*Expired:* no decision in time; the call did not run.' : '*Expired:* the approved call was not collected in time; it did not run.';
    case 'withdrawn':
      return '*Withdrawn* by the requester before a decision.';
    case 'consumed':
      return '*Ran:* the requester collected the approved call.';
    case 'joined':
      return 'The requester sent the same call again; it waits on this request.';
    case 'requested':
      return undefined;
  }
}

/** The exact input as approvers must read it: the SQL in a code block, then its parameters. */
function statementText(input: unknown): string {
  const sql = typeof input === 'object' && input !== null && typeof (input as { sql?: unknown }).sql === 'string' ? (input as { sql: string }).sql : undefined;
  const what = sql === undefined ? 'input' : 'statement';
  const shown = sql ?? JSON.stringify(input, null, 2);
  const f = fit(shown, SLACK_MAX_STATEMENT, true);
  let text = `*${sql === undefined ? 'Input' : 'Statement'}*\n${codeBlock(f.text)}`;
  if (f.cut) text += `\n_Cut after ${f.shown} of ${shown.length} characters: read the whole ${what} in the console before deciding._`;
  const params = sql === undefined ? undefined : (input as { params?: unknown }).params;
  if (params !== undefined) {
    const p = fit(JSON.stringify(params), MAX_PARAMS, true);
    text += `\n*Parameters*\n${codeBlock(p.cut ? `${p.text}…` : p.text)}`;
  }
  return text;
}

/** Slack shows the reader's local time; the fallback after `|` is UTC. */
function slackDate(ms: number): string {
  const iso = new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
  return `<!date^${Math.floor(ms / 1000)}^{date_short_pretty} {time}|${iso}>`;
}
