/**
 * The approval console's page. No inline script or style (the CSP forbids them) and no innerHTML: every
 * value from a request — agent-supplied SQL, parameters, justification — is written with textContent.
 */
export const CONSOLE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>airlock approvals</title>
<link rel="stylesheet" href="/console/console.css">
</head>
<body>
<p id="dev-banner" class="banner dev" role="note" hidden>DEV SIGN-IN ENABLED: anyone who reaches this console can act as a dev approver. Not for production.</p>
<p id="insecure-banner" class="banner warn" role="note" hidden>Session cookie without Secure: plain HTTP on loopback only.</p>
<header>
  <h1>airlock approvals</h1>
  <span id="who"></span>
  <button type="button" id="sign-out" hidden>Sign out</button>
</header>
<main>
  <section id="sign-in" hidden aria-labelledby="sign-in-title">
    <h2 id="sign-in-title">Sign in</h2>
    <p id="oidc-box" hidden><a id="oidc-link" class="button primary" href="/console/login">Sign in with your identity provider</a></p>
    <form id="token-form" hidden>
      <label for="token">Or paste a bearer token (headless use)</label>
      <textarea id="token" rows="3" autocomplete="off" spellcheck="false"></textarea>
      <button type="submit">Sign in with token</button>
    </form>
    <form id="dev-form" class="dev" hidden>
      <label for="dev-sub">Dev sign-in (demo only)</label>
      <select id="dev-sub"></select>
      <button type="submit">Dev sign-in</button>
    </form>
  </section>
  <section id="board" hidden>
    <div role="tablist" aria-label="Requests">
      <button type="button" role="tab" id="tab-pending" aria-selected="true" aria-controls="list">Pending <span id="pending-count"></span></button>
      <button type="button" role="tab" id="tab-history" aria-selected="false" aria-controls="list">History</button>
    </div>
    <p id="live" class="meta"></p>
    <p id="empty" hidden>Nothing here.</p>
    <ol id="list" aria-live="polite"></ol>
  </section>
  <p id="status" role="status"></p>
  <p id="error" role="alert" hidden></p>
</main>
<script src="/console/console.js" defer></script>
</body>
</html>
`;

export const CONSOLE_CSS = `
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, sans-serif; margin: 0; color: #1d232b; background: #f6f7f9; }
header { display: flex; flex-wrap: wrap; gap: .5em 1em; align-items: center; padding: .6em 1em; background: #1d232b; color: #fff; }
header #who { flex: 1; min-width: 0; overflow-wrap: anywhere; }
h1 { font-size: 1.1em; margin: 0; }
h2, h3 { font-size: 1em; margin: .3em 0; }
main { padding: 1em; max-width: 60em; margin: 0 auto; }
.banner { margin: 0; padding: .5em 1em; font-weight: 600; }
.banner.dev { background: #ffd84d; color: #3a2d00; }
.banner.warn { background: #ffe3c2; color: #5a2e00; }
button, .button, select, textarea { font: inherit; }
button, .button { display: inline-block; border: 1px solid #5b6573; background: #fff; color: #1d232b; border-radius: 6px; padding: .45em .9em; cursor: pointer; text-decoration: none; }
button.primary, .button.primary { background: #2f6fde; border-color: #2f6fde; color: #fff; }
button.approve { background: #2e7d4f; border-color: #2e7d4f; color: #fff; }
button.deny { background: #b42b2b; border-color: #b42b2b; color: #fff; }
button:focus-visible, .button:focus-visible, textarea:focus-visible, select:focus-visible, a:focus-visible { outline: 3px solid #f5a623; outline-offset: 2px; }
form { display: flex; flex-direction: column; gap: .4em; margin: 1em 0; max-width: 36em; }
form.dev { border: 2px dashed #d4a800; padding: .6em; border-radius: 6px; background: #fff8d6; }
textarea { width: 100%; }
[role="tablist"] { display: flex; gap: .4em; margin-bottom: .5em; }
[role="tab"][aria-selected="true"] { background: #1d232b; color: #fff; }
ol { list-style: none; margin: 0; padding: 0; }
#list > li { background: #fff; border: 1px solid #d6dae0; border-left: 4px solid #d07a12; border-radius: 6px; padding: .7em .9em; margin-bottom: .8em; min-width: 0; }
#list > li.approved, #list > li.consumed { border-left-color: #2e7d4f; }
#list > li.target { box-shadow: 0 0 0 3px #2b6cb0; }
#list > li.denied, #list > li.expired, #list > li.withdrawn { border-left-color: #8a94a3; }
.head { display: flex; flex-wrap: wrap; gap: .3em .8em; align-items: baseline; }
.state { font-weight: 600; text-transform: uppercase; font-size: .8em; }
.meta { color: #5b6573; font-size: .9em; }
.left.urgent { color: #b42b2b; font-weight: 600; }
pre.sql { white-space: pre-wrap; overflow-wrap: anywhere; background: #1d232b; color: #e6e9ee; padding: .6em; border-radius: 4px; margin: .4em 0; }
pre.json { white-space: pre-wrap; overflow-wrap: anywhere; background: #f0f2f5; padding: .4em; margin: .3em 0; }
.sql .kw { color: #7fb3ff; font-weight: 600; }
.sql .str { color: #a8e08a; }
.sql .num { color: #f7b36b; }
.sql .param { color: #f08fd4; }
.sql .cmt { color: #8a94a3; font-style: italic; }
dl { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: .15em .8em; margin: .4em 0; }
dt { color: #5b6573; }
dd { margin: 0; overflow-wrap: anywhere; }
.decide { display: flex; flex-direction: column; gap: .4em; margin-top: .5em; }
.decide .buttons { display: flex; flex-wrap: wrap; gap: .5em; }
.cannot { background: #eef1f5; padding: .4em .6em; border-radius: 4px; }
#error { color: #b42b2b; }
.message { padding: 2em 1em; }
@media (max-width: 480px) { main { padding: .6em; } dl { grid-template-columns: minmax(0, 1fr); } dt { margin-top: .3em; } }
`;

export const CONSOLE_JS = `'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined && text !== null) e.textContent = String(text); if (cls) e.className = cls; return e; };
  let me = null;
  let tab = 'pending';
  let deadlines = [];
  let loading = null;
  let again = false;

  const fail = (e) => { const p = $('error'); p.textContent = String((e && e.message) || e); p.hidden = false; };
  const say = (text) => { $('status').textContent = text; };
  const getJson = async (path) => {
    const res = await fetch(path, { credentials: 'same-origin' });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error((body.error && body.error.message) || (path + ': ' + res.status));
    return body;
  };
  const post = async (path, body, csrf) => {
    const headers = { 'content-type': 'application/json' };
    if (csrf) headers['x-csrf-token'] = csrf;
    const res = await fetch(path, { method: 'POST', credentials: 'same-origin', headers, body: JSON.stringify(body) });
    const out = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error((out.error && out.error.message) || (path + ': ' + res.status));
    return out;
  };

  // A small SQL tokenizer, for highlighting only: what runs is the exact text, shown whole.
  const KEYWORDS = new Set(('select from where and or not insert into values update set delete returning join left right inner outer full cross on using group by order having limit offset as distinct union all except intersect with recursive case when then else end is null true false in exists between like ilike create alter drop table index view truncate grant revoke begin commit rollback primary key references default cascade asc desc nulls first last lateral window over partition any some do nothing conflict copy vacuum analyze explain').split(' '));
  function tokenize(sql) {
    const out = [];
    let i = 0;
    const push = (type, text) => { out.push({ type, text }); };
    while (i < sql.length) {
      const c = sql[i];
      const rest = sql.slice(i);
      let m;
      if (rest.startsWith('--')) { const j = sql.indexOf('\\n', i); const end = j === -1 ? sql.length : j; push('cmt', sql.slice(i, end)); i = end; continue; }
      if (rest.startsWith('/*')) { const j = sql.indexOf('*/', i + 2); const end = j === -1 ? sql.length : j + 2; push('cmt', sql.slice(i, end)); i = end; continue; }
      if (c === "'" || ((c === 'E' || c === 'e') && sql[i + 1] === "'")) {
        let j = i + (c === "'" ? 1 : 2);
        while (j < sql.length) { if (sql[j] === '\\\\' && c !== "'") { j += 2; continue; } if (sql[j] === "'") { if (sql[j + 1] === "'") { j += 2; continue; } j++; break; } j++; }
        push('str', sql.slice(i, j)); i = j; continue;
      }
      if ((m = /^\\$([A-Za-z_][A-Za-z0-9_]*)?\\$/.exec(rest))) {
        const tag = m[0]; const j = sql.indexOf(tag, i + tag.length); const end = j === -1 ? sql.length : j + tag.length;
        push('str', sql.slice(i, end)); i = end; continue;
      }
      if ((m = /^\\$\\d+/.exec(rest))) { push('param', m[0]); i += m[0].length; continue; }
      if (c === '"') { const j = sql.indexOf('"', i + 1); const end = j === -1 ? sql.length : j + 1; push('id', sql.slice(i, end)); i = end; continue; }
      if ((m = /^\\d+(\\.\\d+)?([eE][+-]?\\d+)?/.exec(rest))) { push('num', m[0]); i += m[0].length; continue; }
      if ((m = /^[A-Za-z_][A-Za-z0-9_$]*/.exec(rest))) { push(KEYWORDS.has(m[0].toLowerCase()) ? 'kw' : 'id', m[0]); i += m[0].length; continue; }
      push('op', c); i++;
    }
    return out;
  }
  function sqlBlock(sql) {
    const pre = el('pre', undefined, 'sql');
    const code = el('code');
    for (const t of tokenize(sql)) code.append(t.type === 'id' || t.type === 'op' ? document.createTextNode(t.text) : el('span', t.text, t.type));
    pre.append(code);
    return pre;
  }

  const who = (p) => p.email || p.sub;
  const leftText = (iso) => {
    const ms = Date.parse(iso) - Date.now();
    if (ms <= 0) return 'time is up';
    const s = Math.floor(ms / 1000);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return (h ? h + ' h ' : '') + (h || m ? m + ' min ' : '') + (h ? '' : r + ' s ') + 'left';
  };
  const FACT_LABELS = { class: 'classification', classification: 'classification', statementType: 'statement', tablesWritten: 'writes tables', tables: 'tables', estimatedRows: 'estimated rows', estimate: 'planner estimate' };
  const factText = (v) => Array.isArray(v) ? (v.length ? v.join(', ') : '(none)') : (typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v));
  const CANNOT = {
    own_request: 'This is your own request: someone else has to decide it.',
    not_an_approver: 'You are not in an approver group of this request.',
    already_decided: 'You have already approved this request; it waits for more approvers.',
    decided: 'This request is decided.',
  };

  function card(r) {
    const li = el('li', undefined, r.state);
    li.dataset.id = r.id;
    const head = el('div', undefined, 'head');
    head.append(el('h3', r.tool + ' on ' + r.resource), el('span', r.state, 'state'));
    if (r.state === 'pending') { const left = el('span', leftText(r.expiresAt), 'left'); left.dataset.deadline = r.expiresAt; head.append(left); }
    li.append(head);
    const dl = el('dl');
    const field = (k, v) => { if (v !== undefined && v !== null && v !== '') dl.append(el('dt', k), el('dd', v)); };
    field('requested by', who(r.requester) + (r.requester.groups.length ? ' (' + r.requester.groups.join(', ') + ')' : ''));
    field('id', r.id);
    const input = r.input && typeof r.input === 'object' ? r.input : {};
    li.append(dl);
    if (typeof input.sql === 'string') li.append(sqlBlock(input.sql));
    const d2 = el('dl');
    const field2 = (k, v) => { if (v !== undefined && v !== null && v !== '') d2.append(el('dt', k), el('dd', v)); };
    if (Array.isArray(input.params)) {
      const ol = el('ol', undefined, 'params');
      input.params.forEach((p, i) => ol.append(el('li', '$' + (i + 1) + ' = ' + JSON.stringify(p) + ' (' + (p === null ? 'null' : typeof p) + ')')));
      d2.append(el('dt', 'parameters'), Object.assign(el('dd'), {}));
      d2.lastChild.append(input.params.length ? ol : el('span', '(none)'));
    }
    const other = Object.keys(input).filter((k) => k !== 'sql' && k !== 'params');
    if (other.length) field2('input', other.map((k) => k + ': ' + JSON.stringify(input[k])).join('; '));
    for (const [k, v] of Object.entries(r.facts || {})) if (k !== 'lineage' && k !== 'reason' && k !== 'classesSeen' && k !== 'placeholders') field2(FACT_LABELS[k] || k, factText(v));
    field2('rule', r.ruleIds.join(', ') + (r.reason ? ': ' + r.reason : ''));
    field2('justification', r.justification);
    field2('approvers', r.approverGroups.join(', ') + ' — ' + r.approvals + ' of ' + r.quorum + ' approval(s)');
    for (const d of r.decisions) field2(d.verdict === 'approve' ? 'approved by' : 'denied by', who(d.approver) + ' at ' + d.at + (d.reason ? ': ' + d.reason : ''));
    field2('requested', r.createdAt);
    if (r.state !== 'pending') field2('decided', r.decidedAt);
    li.append(d2);
    if (r.canDecide) {
      const box = el('div', undefined, 'decide');
      const id = 'reason-' + r.id;
      const label = el('label', 'Reason (shown to the requester and in the audit)');
      label.htmlFor = id;
      const reason = el('textarea'); reason.id = id; reason.rows = 2; reason.maxLength = 1000;
      const buttons = el('div', undefined, 'buttons');
      const approve = el('button', 'Approve', 'approve'); approve.type = 'button';
      const deny = el('button', 'Deny', 'deny'); deny.type = 'button';
      approve.setAttribute('aria-label', 'Approve ' + r.tool + ' request ' + r.id);
      deny.setAttribute('aria-label', 'Deny ' + r.tool + ' request ' + r.id);
      const decide = async (verdict) => {
        approve.disabled = deny.disabled = true;
        try {
          const body = { verdict };
          if (reason.value.trim()) body.reason = reason.value.trim();
          const out = await post('/approvals/' + encodeURIComponent(r.id) + '/decision', body, me.csrf);
          say((verdict === 'approve' ? 'Approved ' : 'Denied ') + r.id + ' (' + out.request.state + ').');
          await refresh();
        } catch (e) { approve.disabled = deny.disabled = false; fail(e); }
      };
      approve.addEventListener('click', () => decide('approve'));
      deny.addEventListener('click', () => decide('deny'));
      buttons.append(approve, deny);
      box.append(label, reason, buttons);
      li.append(box);
    } else if (r.state === 'pending' && r.cannotDecide) {
      li.append(el('p', CANNOT[r.cannotDecide] || 'You cannot decide this request.', 'cannot'));
    }
    return li;
  }

  async function load() {
    const q = tab === 'pending' ? '?state=pending' : '?state=all&limit=200';
    const body = await getJson('/approvals' + q);
    const requests = tab === 'pending' ? body.requests : body.requests.filter((r) => r.state !== 'pending');
    const list = $('list');
    // Keep what an approver is typing when the list refreshes under them.
    const typed = new Map([...list.querySelectorAll('textarea')].map((t) => [t.id, t.value]));
    const focused = document.activeElement && document.activeElement.id;
    list.replaceChildren(...requests.map(card));
    for (const [id, value] of typed) { const t = document.getElementById(id); if (t) t.value = value; }
    if (focused) { const f = document.getElementById(focused); if (f) f.focus(); }
    $('empty').hidden = requests.length > 0;
    $('empty').textContent = tab === 'pending' ? 'No request is waiting for a decision.' : 'No decided requests yet.';
    if (tab === 'pending') $('pending-count').textContent = '(' + requests.length + ')';
    reveal();
  }
  // A link to one request (#/requests/apr_…, as notifications send): show it, marked, once.
  const TARGET = /^#[/]requests[/](apr_[A-Za-z0-9_-]{1,64})$/;
  const KEPT = 'airlock-console-target';
  let sought = false;
  function target() { const m = TARGET.exec(location.hash); return m ? m[1] : null; }
  function reveal() {
    const id = target();
    if (!id) return;
    const items = [...$('list').children];
    const li = items.find((c) => c.dataset.id === id);
    for (const c of items) c.classList.toggle('target', c === li);
    if (li) {
      if (!sought) { li.scrollIntoView({ block: 'center' }); const first = li.querySelector('textarea, button'); if (first) first.focus(); }
      sought = true;
      return;
    }
    // Not waiting any more: look in the history once.
    if (!sought && tab === 'pending') { sought = true; select('history'); }
  }
  async function refresh() {
    if (loading) { again = true; return loading; }
    loading = load().catch(fail).finally(() => { loading = null; if (again) { again = false; refresh(); } });
    return loading;
  }
  function tick() {
    let due = false;
    for (const s of document.querySelectorAll('[data-deadline]')) {
      s.textContent = leftText(s.dataset.deadline);
      const ms = Date.parse(s.dataset.deadline) - Date.now();
      s.classList.toggle('urgent', ms < 60000);
      if (ms <= 0 && !deadlines.includes(s.dataset.deadline)) { deadlines.push(s.dataset.deadline); due = true; }
    }
    if (due) refresh();
  }
  function live() {
    if (typeof EventSource === 'function') {
      const es = new EventSource('/console/events');
      es.addEventListener('change', () => refresh());
      es.addEventListener('open', () => { $('live').textContent = 'Live: updates appear as they happen.'; });
      es.addEventListener('error', () => { $('live').textContent = 'Live updates interrupted; reconnecting (the list is refreshed every 15 s meanwhile).'; });
    }
    // Polling backs the stream up (a proxy that buffers SSE, a lost connection).
    setInterval(refresh, 15000);
    setInterval(tick, 1000);
  }
  function select(which) {
    tab = which;
    $('tab-pending').setAttribute('aria-selected', String(which === 'pending'));
    $('tab-history').setAttribute('aria-selected', String(which === 'history'));
    refresh();
  }

  async function start() {
    const s = await getJson('/console/session');
    // The fragment does not survive the issuer's redirect: keep it across sign-in.
    if (!s.signedIn && target()) sessionStorage.setItem(KEPT, location.hash);
    const kept = sessionStorage.getItem(KEPT);
    if (s.signedIn && kept && !target()) history.replaceState(null, '', location.pathname + kept);
    if (s.signedIn) sessionStorage.removeItem(KEPT);
    $('dev-banner').hidden = s.methods.dev.length === 0;
    $('insecure-banner').hidden = !s.insecureCookies;
    if (!s.signedIn) {
      $('sign-in').hidden = false;
      $('oidc-box').hidden = !s.methods.oidc;
      $('token-form').hidden = !s.methods.token;
      $('dev-form').hidden = s.methods.dev.length === 0;
      for (const d of s.methods.dev) { const o = el('option', (d.email || d.sub) + ' (' + (d.groups.join(', ') || 'no groups') + ')'); o.value = d.sub; $('dev-sub').append(o); }
      return;
    }
    me = s;
    $('who').textContent = 'Signed in as ' + who(s.approver) + (s.approver.groups.length ? ' (' + s.approver.groups.join(', ') + ')' : '') + (s.via === 'dev' ? ' — DEV SIGN-IN' : '');
    $('sign-out').hidden = false;
    $('board').hidden = false;
    await refresh();
    live();
  }

  $('token-form').addEventListener('submit', (e) => { e.preventDefault(); post('/console/token', { token: $('token').value }).then(() => location.reload(), fail); });
  $('dev-form').addEventListener('submit', (e) => { e.preventDefault(); post('/console/dev', { sub: $('dev-sub').value }).then(() => location.reload(), fail); });
  $('sign-out').addEventListener('click', () => post('/console/logout', {}, me && me.csrf).then(() => location.reload(), fail));
  $('tab-pending').addEventListener('click', () => select('pending'));
  $('tab-history').addEventListener('click', () => select('history'));
  window.addEventListener('hashchange', () => { sought = false; if (me) select('pending'); });
  start().catch(fail);
})();
`;
