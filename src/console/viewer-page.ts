/**
 * The audit viewer's page. No inline script or style (the CSP forbids them) and no innerHTML: every value
 * from the audit — agent-supplied SQL, paths, error text — is written with textContent.
 */
export const VIEWER_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>airlock audit</title>
<link rel="stylesheet" href="/viewer.css">
</head>
<body>
<header><h1>airlock audit</h1><span id="chain" class="badge">checking chain…</span><span id="store"></span></header>
<main>
  <section id="sessions-pane"><h2>Sessions</h2><p id="sessions-empty" hidden>No calls recorded yet.</p><ol id="sessions"></ol></section>
  <section id="timeline-pane"><h2 id="timeline-title">Select a session</h2><ol id="timeline"></ol></section>
</main>
<p id="error" role="alert" hidden></p>
<script src="/viewer.js" defer></script>
</body>
</html>
`;

export const VIEWER_CSS = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d232b; background: #f6f7f9; }
header { display: flex; gap: 1em; align-items: center; padding: .6em 1em; background: #1d232b; color: #fff; }
h1 { font-size: 1.1em; margin: 0; }
h2 { font-size: 1em; margin: .4em 0; }
main { display: grid; grid-template-columns: minmax(16em, 1fr) 3fr; gap: 1em; padding: 1em; }
ol { list-style: none; margin: 0; padding: 0; }
#sessions li { background: #fff; border: 1px solid #d6dae0; border-radius: 6px; padding: .5em; margin-bottom: .5em; cursor: pointer; }
#sessions li[aria-current="true"] { border-color: #2f6fde; box-shadow: 0 0 0 1px #2f6fde; }
#timeline li { background: #fff; border-left: 4px solid #8a94a3; border-radius: 4px; padding: .5em .8em; margin-bottom: .6em; }
#timeline li.ok { border-left-color: #2e9d57; }
#timeline li.denied, #timeline li.unauthenticated, #timeline li.invalid, #timeline li.unknown_tool { border-left-color: #d07a12; }
#timeline li.error, #timeline li.timed_out, #timeline li.cancelled, #timeline li.interrupted { border-left-color: #c93535; }
.meta { color: #5b6573; font-size: .9em; }
.badge { border-radius: 1em; padding: .1em .7em; background: #5b6573; }
.badge.ok { background: #2e9d57; } .badge.bad { background: #c93535; }
pre { white-space: pre-wrap; word-break: break-word; background: #f0f2f5; padding: .4em; margin: .3em 0; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .1em .8em; margin: .3em 0; }
dt { color: #5b6573; }
#error { color: #c93535; padding: 0 1em; }
`;

export const VIEWER_JS = `'use strict';
(function () {
  const token = new URLSearchParams(location.hash.slice(1)).get('token') || '';
  const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; };
  const api = async (path) => {
    const res = await fetch(path, { headers: { authorization: 'Bearer ' + token } });
    if (!res.ok) throw new Error(path + ': ' + res.status + ' ' + (await res.text()));
    return res.json();
  };
  const fail = (e) => { const p = document.getElementById('error'); p.textContent = String(e && e.message || e); p.hidden = false; };
  const field = (dl, name, value) => { dl.append(el('dt', name), el('dd', value)); };

  async function showSession(li, s) {
    for (const other of document.querySelectorAll('#sessions li')) other.setAttribute('aria-current', 'false');
    li.setAttribute('aria-current', 'true');
    document.getElementById('timeline-title').textContent = 'Session ' + s.sessionId + ' — ' + s.principal + ' over ' + s.transport;
    const list = document.getElementById('timeline');
    list.replaceChildren();
    const calls = await api('/api/sessions/' + encodeURIComponent(s.sessionId));
    calls.forEach((c, i) => {
      const item = el('li', undefined, c.outcome);
      item.dataset.id = c.id;
      item.append(el('div', '#' + (i + 1) + '  ' + c.time + '  ' + c.tool + '  → ' + c.outcome + (c.error ? ' (' + c.error.code + ')' : ''), 'head'));
      item.append(el('pre', JSON.stringify(c.input, null, 2), 'input'));
      const dl = el('dl');
      if (c.decision) field(dl, 'decision', c.decision.effect + ' by ' + (c.decision.ruleIds.join(', ') || '(no rule)') + ': ' + c.decision.reason);
      if (c.error) field(dl, 'error', c.error.message);
      if (c.result) {
        const findings = Object.entries(c.result.findings).map(([k, v]) => k + '×' + v).join(', ');
        field(dl, 'result', c.result.rowCount + ' row(s)' + (c.result.truncated ? ' (truncated)' : '') + (c.result.maskedColumns.length ? '; masked: ' + c.result.maskedColumns.join(', ') : '') + (findings ? '; findings: ' + findings : ''));
      }
      if (c.downstream.length) field(dl, 'ran as', c.downstream.map((d) => d.kind + ' ' + d.principal).join(', '));
      field(dl, 'response', c.response.bytes + ' bytes, sha256 ' + c.response.sha256.slice(0, 16) + '…' + (c.sealed ? '; sealed compliance copy' : ''));
      field(dl, 'chain', 'seq ' + c.chain.seq + ', hash ' + c.chain.hash.slice(0, 16) + '…');
      item.append(dl, el('div', c.durationMs + ' ms · id ' + c.id, 'meta'));
      list.append(item);
    });
  }

  async function load() {
    const [sessions, verify] = await Promise.all([api('/api/sessions'), api('/api/verify')]);
    const chain = document.getElementById('chain');
    chain.textContent = verify.ok ? 'chain verified: ' + verify.records + ' records' : 'TAMPERED: ' + verify.problems.length + ' problem(s)';
    chain.className = 'badge ' + (verify.ok ? 'ok' : 'bad');
    if (!verify.ok) chain.title = verify.problems.map((p) => p.message).join('\\n');
    document.getElementById('sessions-empty').hidden = sessions.length > 0;
    const list = document.getElementById('sessions');
    for (const s of sessions) {
      const li = el('li');
      li.dataset.session = s.sessionId;
      li.setAttribute('aria-current', 'false');
      li.append(el('strong', s.principal), el('div', s.calls + ' call(s) · ' + s.transport, 'meta'), el('div', s.first + ' → ' + s.last, 'meta'),
        el('div', Object.entries(s.outcomes).map(([k, v]) => k + ' ' + v).join(' · '), 'meta'));
      li.addEventListener('click', () => showSession(li, s).catch(fail));
      list.append(li);
    }
  }
  load().catch(fail);
})();
`;
