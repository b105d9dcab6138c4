'use strict';
// loadgen's web UI. Talks to the server only through the routes of docs/web-ui.md; no framework and
// no build step, so the files are compiled into the binary as they are.

const $ = (id) => document.getElementById(id);
// stats: the last /stats/requests answer, state its state; quit: set once the process was told to exit.
const app = { state: null, stats: null, ui: null, tab: 'panel-statistics', quit: false };

// What /api/history gave for the current run; after the first call only the new tail is asked for.
const hist = { run: null, points: [], server: [], marks: [] };

// ---------------------------------------------------------------- small helpers
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') e.className = v; else e.setAttribute(k, v);
  }
  // Text goes in as text nodes: names, errors and queries come from the target and are not trusted.
  for (const c of children.flat()) if (c != null) e.append(c instanceof Node ? c : String(c));
  return e;
}

const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
const round = (v, d) => Math.round(v * 10 ** d) / 10 ** d;
// Locust's rounding: whole ms for percentiles, min, max and size; two decimals for averages and rates.
const fmtInt = (v) => (isNum(v) ? String(Math.round(v)) : 'N/A');
const fmt2 = (v) => (isNum(v) ? String(round(v, 2)) : 'N/A');
const fmtPct = (ratio) => (isNum(ratio) ? `${round(ratio * 100, 2)}%` : 'N/A');
const MB = 1024 * 1024;
// null * k is 0 in JS: a missing value must stay missing, not become a zero.
const scaled = (v, k) => (isNum(v) ? v * k : null);

function fmtDuration(s) {
  if (!isNum(s)) return '-';
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60), pad = (n) => String(n).padStart(2, '0');
  return h ? `${h}h${pad(m)}m${pad(sec)}s` : m ? `${m}m${pad(sec)}s` : `${sec}s`;
}

// The plan's failure bands, used only when the server did not name the band itself.
const bandOf = (r) => (r >= 0.10 ? 'critical' : r >= 0.05 ? 'warning' : r >= 0.01 ? 'elevated' : 'normal');

function setBadge(node, ratio, band, suffix) {
  band = band || bandOf(ratio || 0);
  Object.assign(node, { textContent: fmtPct(ratio || 0) + (suffix ? ` ${band}` : ''), className: `badge band-${band}`, title: `failure band: ${band}` });
}

function fillBody(tableId, rows, emptyText) {
  const table = $(tableId), cols = table.tHead.rows[0].cells.length;
  table.tBodies[0].replaceChildren(...(rows.length ? rows
    : [el('tr', { class: 'empty' }, el('td', { colspan: cols }, emptyText))]));
}

const cell = (v, num) => el('td', num ? { class: 'num' } : null, v);
const row = (...cells) => el('tr', null, ...cells);

async function getJSON(url) {
  const res = await fetch(url, { cache: 'no-store' });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.json();
}

// Our answers are JSON, errors included; anything else ("ok", a proxy's page) becomes the message.
async function send(method, url, body) {
  const init = { method, cache: 'no-store' };
  if (body) init.body = body, init.headers = { 'Content-Type': 'application/x-www-form-urlencoded' };
  const res = await fetch(url, init), text = await res.text();
  let data;
  try { data = JSON.parse(text) || {}; } catch (_) { data = { message: text.trim() }; }
  return { ok: res.ok && data.success !== false, status: res.status, data };
}

let bannerTimer = 0;
function notify(message) {
  Object.assign($('action-banner'), { textContent: message, hidden: false });
  clearTimeout(bannerTimer);
  bannerTimer = setTimeout(() => { $('action-banner').hidden = true; }, 6000);
}
function connection(ok, error) {
  $('connection-banner').hidden = ok || app.quit;
  // An unreachable server may come back as a new process whose runs count again from 1: ask for
  // the whole history then (fetch rejects with a TypeError only when nothing answered).
  if (error instanceof TypeError) hist.run = null;
}

// ---------------------------------------------------------------- polling
// One poller per route: a tick is skipped while the previous request is still out, so a slow
// server never has two of the same request at once.
function poller(url, ms, onData, when) {
  const p = { busy: false };
  p.run = async (force) => {
    if (p.busy || app.quit || (!force && when && !when())) return;
    p.busy = true;
    try {
      let data;
      try { data = await getJSON(typeof url === 'function' ? url() : url); } catch (e) { connection(false, e); return; }
      connection(true);
      onData(data); // a rendering bug reaches the console, not the connection banner
    } finally { p.busy = false; }
  };
  setInterval(() => p.run(false), ms);
  p.run(false);
  return p;
}

const polls = {};
function startPolling() {
  const visible = (panel) => () => app.tab === panel;
  polls.stats = poller('/stats/requests', 2000, onStats);
  polls.history = poller(historyUrl, 2000, onHistory);
  polls.findings = poller('/api/findings', 5000, renderFindings); // always: it feeds the tab's badge
  polls.exceptions = poller('/exceptions', 5000, renderExceptions, visible('panel-exceptions'));
  polls.logs = poller('/logs', 5000, renderLogs, visible('panel-logs'));
  polls.tasks = poller('/tasks', 5000, renderRatio, visible('panel-ratio'));
}
const pollSoon = () => { polls.stats.run(true); polls.history.run(true); };

// ---------------------------------------------------------------- header and state
function onStats(s) {
  app.stats = s;
  renderHeader(s); renderStats(s.stats || []); renderFailures(s.errors || []); onState(s.state);
}

function renderHeader(s) {
  $('host-display').textContent = s.host || '-';
  Object.assign($('state'), { textContent: String(s.state || '-').toUpperCase(), className: `state state-${s.state}` });
  const live = s.state === 'spawning' || s.state === 'running';
  const ramping = live && isNum(s.target_user_count) && s.target_user_count !== s.user_count;
  $('user-count').textContent = ramping ? `${s.user_count} -> ${s.target_user_count}` : String(s.user_count ?? 0);
  $('total-rps').textContent = fmt2(s.total_rps || 0);
  setBadge($('fail-ratio'), s.fail_ratio, s.fail_band);
  const limit = isNum(s.run_time_s) ? ` / ${fmtDuration(s.run_time_s)}` : '';
  $('elapsed').textContent = s.state === 'ready' ? '-' : fmtDuration(s.elapsed_s) + limit;
}

// The start form opens by itself when the server becomes ready (first load, or New test from
// another tab); other transitions close what no longer applies.
function onState(state) {
  if (state === app.state) return;
  app.state = state;
  if (state === 'ready') openModal('start-modal'); else closeModal('start-modal');
  if (state !== 'spawning' && state !== 'running') closeModal('edit-modal');
  renderButtons();
}

function renderButtons() {
  const s = app.state, live = s === 'spawning' || s === 'running';
  $('edit-open').hidden = $('stop-button').hidden = !live;
  $('new-test-button').hidden = s !== 'stopped';
  $('start-open').hidden = !(s === 'ready' && $('start-modal').hidden);
  $('quit-button').hidden = !!app.ui && app.ui.quit_allowed === false;
}

function openModal(id) { if ($(id).hidden) { $(id).hidden = false; renderButtons(); $(id).querySelector('input')?.focus(); } }
function closeModal(id) { $(id).hidden = true; renderButtons(); }

// ---------------------------------------------------------------- statistics, failures, exceptions, ratio, logs
function statRow(r) {
  const pick = (a, b) => (r[a] != null ? r[a] : r[b]);
  return el('tr', { class: r.name === 'Aggregated' ? 'stat-row total' : 'stat-row' },
    cell(r.method || ''), cell(r.name),
    cell(fmtInt(r.num_requests), 1), cell(fmtInt(r.num_failures), 1),
    cell(fmtInt(pick('response_time_percentile_0.5', 'median_response_time')), 1),
    cell(fmtInt(r['response_time_percentile_0.95']), 1),
    cell(fmtInt(pick('response_time_percentile_0.99', 'ninety_ninth_response_time')), 1),
    cell(fmt2(r.avg_response_time), 1), cell(fmtInt(r.min_response_time), 1), cell(fmtInt(r.max_response_time), 1),
    cell(fmtInt(r.avg_content_length), 1), cell(fmt2(r.current_rps), 1), cell(fmt2(r.current_fail_per_sec), 1));
}

function renderStats(rows) {
  // The server sends Aggregated last; kept last here should that ever change.
  const agg = (r) => r.name === 'Aggregated';
  fillBody('stats-table', rows.filter((r) => !agg(r)).concat(rows.filter(agg)).map(statRow), 'No requests yet.');
}

function renderFailures(errors) {
  fillBody('failures-table', errors.map((e) => row(cell(e.method || ''), cell(e.name),
    el('td', { class: 'wrap' }, e.error), cell(fmtInt(e.occurrences), 1))), 'No failures.');
}

function renderExceptions(d) {
  const nodes = (n) => (Array.isArray(n) ? n.join(', ') : n && typeof n === 'object' ? Object.keys(n).join(', ') : n || '');
  fillBody('exceptions-table', (d.exceptions || []).map((x) => row(cell(fmtInt(x.count), 1),
    el('td', { class: 'wrap' }, x.msg), el('td', null, el('pre', { class: 'traceback' }, x.traceback || '')),
    cell(nodes(x.nodes)))), 'No exceptions.');
}

function ratioList(tasks) {
  const names = Object.keys(tasks || {});
  return names.length ? el('ul', { class: 'ratio' }, names.map((n) => el('li', null,
    el('span', { class: 'pct' }, fmtPct(tasks[n].ratio)), ' ', n, ratioList(tasks[n].tasks)))) : null;
}

function renderRatio(d) {
  const section = (title, classes) => {
    const names = Object.keys(classes || {});
    return names.length ? [el('h2', { class: 'section' }, title), ...names.map((n) => el('div', { class: 'ratio-class' },
      el('h3', null, el('span', { class: 'pct' }, fmtPct(classes[n].ratio)), ' ', n), ratioList(classes[n].tasks)))] : [];
  };
  const parts = [...section('Ratio per scenario', d.per_class), ...section('Total ratio', d.total)];
  $('ratio').replaceChildren(...(parts.length ? parts : [el('p', { class: 'note' }, 'No ratio yet: start a test.')]));
}

function renderLogs(d) {
  const pre = $('logs');
  // Follow the tail only when the reader is at the bottom, so scrolling up to read stays put.
  const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
  pre.textContent = (d.master || []).join('\n') || 'No log lines yet.';
  if (atEnd) pre.scrollTop = pre.scrollHeight;
}

// ---------------------------------------------------------------- findings and the server tab
function renderFindings(d) {
  const findings = d.findings || [];
  Object.assign($('findings-count'), { textContent: String(findings.length), hidden: findings.length === 0 });
  setBadge($('band-ratio'), d.fail_ratio, d.fail_band, true);
  fillBody('thresholds-table', (d.thresholds || []).map((t) => row(cell(t.threshold), cell(t.scope),
    cell(t.actual_text, 1), cell(t.limit_text, 1),
    el('td', null, el('span', { class: t.passed ? 'badge pass' : 'badge fail' }, t.passed ? 'pass' : 'fail')))),
  'No thresholds (pass --threshold, or put them in the phase file).');
  $('findings').replaceChildren(...(findings.length ? findings.map((f) => el('article', { class: 'finding', 'data-id': f.id },
    el('h3', null, el('code', null, f.id), ' ', f.title),
    el('p', { class: 'evidence' }, el('strong', null, 'Evidence: '), f.evidence),
    el('p', { class: 'fix' }, el('strong', null, 'Fix: '), f.fix)))
    : [el('p', { class: 'note' }, 'No findings so far.')]));
  renderSteps(d.steps || []);
  fillBody('top-statements', (d.top_statements || []).map((s) => row(el('td', null, el('code', { class: 'query' }, s.query)),
    cell(fmtInt(s.calls), 1), cell(fmt2(s.total_ms), 1), cell(fmt2(s.mean_ms), 1))),
  'No statements (needs --db-url and pg_stat_statements).');
}

// The stress step table: a row per stage so far, the last one still going while the run does.
function renderSteps(steps) {
  $('steps-box').hidden = steps.length === 0;
  fillBody('steps-table', steps.map((s) => row(cell(`${s.stage}: ${s.name ?? ''}`), cell(fmtInt(s.users), 1),
    cell(fmtInt(s.requests), 1), cell(fmtInt(s.p95), 1), cell(fmtInt(s.p99), 1), cell(fmtPct(s.fail_ratio), 1),
    el('td', null, s.broken.length ? el('span', { class: 'badge fail' }, `broke ${s.broken.join(', ')}`)
      : el('span', { class: 'badge pass' }, 'ok')))), '');
}

// [label, value of a sample, format]; a row whose part of the sample is null is left out.
const SERVER_ROWS = [
  ['DB active', (s) => s.db?.active, fmtInt], ['DB idle', (s) => s.db?.idle, fmtInt],
  ['DB idle in transaction', (s) => s.db?.idle_in_transaction, fmtInt], ['DB lock waiting', (s) => s.db?.lock_waiting, fmtInt],
  ['DB total', (s) => s.db?.total, fmtInt], ['DB connections in database', (s) => s.db?.in_database, fmtInt],
  ['Pool in use', (s) => s.pool?.in_use, fmt2], ['Pool idle', (s) => s.pool?.idle, fmt2],
  ['Pool waiting', (s) => s.pool?.waiting, fmt2], ['Pool max', (s) => s.pool?.max, fmt2],
  ['Redis used memory (MB)', (s) => scaled(s.redis?.used_memory, 1 / MB), fmt2], ['Redis hit ratio (%)', (s) => scaled(s.redis?.hit_ratio, 100), fmt2],
  ['Redis ops/s', (s) => s.redis?.ops_per_s, fmt2], ['Redis stream length', (s) => s.redis?.stream_length, fmtInt],
  ['Job backlog', (s) => s.jobs_backlog, fmtInt],
];

function renderServerTab() {
  const last = hist.server[hist.server.length - 1];
  $('server-empty').hidden = !!last;
  $('server-sample-t').textContent = last ? `at ${round(last.t, 1)} s` : '';
  const rows = [], add = (name, v, f) => rows.push(row(cell(name), cell(f(v), 1)));
  for (const [name, get, f] of last ? SERVER_ROWS : []) if (isNum(get(last))) add(name, get(last), f);
  for (const p of (last && last.processes) || []) {
    add(`CPU % (${p.name})`, p.cpu_percent, fmt2);
    add(`RSS MB (${p.name})`, scaled(p.rss_bytes, 1 / MB), fmt2);
  }
  fillBody('server-table', rows, last ? 'The sample is empty.' : 'No server samples.');
}

// ---------------------------------------------------------------- history
// The tail is asked from the older of the two series' ends; what is already held is dropped on
// arrival, so a server answering "t >= since" or "t > since" both work.
const seriesEnds = () => [hist.points, hist.server].filter((a) => a.length).map((a) => a[a.length - 1].t);

function historyUrl() {
  if (hist.run == null) return '/api/history';
  const ends = seriesEnds(), q = `/api/history?run=${encodeURIComponent(hist.run)}`;
  return ends.length ? `${q}&since=${Math.floor(Math.min(...ends))}` : q; // whole seconds, as the contract says
}

function appendAfter(list, items) {
  let end = list.length ? list[list.length - 1].t : -Infinity;
  for (const it of items || []) if (it.t > end) { list.push(it); end = it.t; }
}

function onHistory(d) {
  if (d.full || d.run !== hist.run) Object.assign(hist, { run: d.run, points: [], server: [], marks: [] });
  appendAfter(hist.points, d.points);
  appendAfter(hist.server, d.server);
  for (const m of d.marks || []) if (!hist.marks.some((x) => x.t === m.t && x.label === m.label)) hist.marks.push(m);
  renderServerTab();
  scheduleCharts();
}

// ---------------------------------------------------------------- forms
function clearErrors(form, box) {
  Object.assign(box, { hidden: true, textContent: '' });
  form.querySelectorAll('.field-error').forEach((e) => e.remove());
  form.querySelectorAll('.invalid').forEach((e) => e.classList.remove('invalid'));
}

function showErrors(form, box, message, errors) {
  Object.assign(box, { textContent: message, hidden: false });
  for (const [field, text] of Object.entries(errors || {})) {
    const holder = form.querySelector(`[data-for="${field}"]`);
    const note = el('span', { class: 'field-error', 'data-field': field }, text); // a <label> holds phrasing content only
    if (!holder) { box.append(note); continue; } // a field this form does not show: still said
    holder.classList.add('invalid');
    holder.append(note);
    // An error inside the closed "Advanced options" would go unseen.
    holder.closest('details')?.setAttribute('open', '');
  }
}

// A refused or unreachable request says why, as `send`'s shape, so every caller has one path.
const sendOrSay = (method, url, body) => send(method, url, body)
  .catch((e) => ({ ok: false, status: 0, data: { message: `Could not reach loadgen: ${e.message}` } }));

async function postSwarm(form, box, button, body) {
  clearErrors(form, box);
  button.disabled = true;
  const r = await sendOrSay('POST', '/swarm', body);
  button.disabled = false;
  if (!r.ok) showErrors(form, box, r.data.message || `The server answered HTTP ${r.status}.`, r.data.errors);
  return r.ok;
}

async function submitStart(ev) {
  ev.preventDefault();
  const body = new URLSearchParams();
  for (const f of ['user_count', 'spawn_rate', 'host', 'run_time']) body.set(f, $(f).value.trim());
  if ($('use_stages').checked) body.set('stages', 'phase');
  // A typed file path wins over the list: typing one is the deliberate act.
  body.set('scenario', $('scenario_file').value.trim() || $('scenario').value);
  if (await postSwarm($('start-form'), $('form-message'), $('start-button'), body)) { closeModal('start-modal'); pollSoon(); }
}

async function submitEdit(ev) {
  ev.preventDefault();
  const body = new URLSearchParams({ user_count: $('edit_user_count').value.trim(), spawn_rate: $('edit_spawn_rate').value.trim() });
  if (await postSwarm($('edit-form'), $('edit-message'), $('edit-button'), body)) { closeModal('edit-modal'); pollSoon(); }
}

function openEdit() {
  const s = app.stats || {};
  $('edit_user_count').value = s.target_user_count ?? s.user_count ?? '';
  $('edit_spawn_rate').value = s.spawn_rate ?? '';
  clearErrors($('edit-form'), $('edit-message'));
  openModal('edit-modal');
}

function fillDefaults(ui) {
  $('version').textContent = ui.version ? `v${ui.version}` : '';
  for (const f of ['user_count', 'spawn_rate', 'host', 'run_time']) $(f).value = ui[f] ?? '';
  const list = ui.scenarios || [];
  $('scenario').replaceChildren(...list.map((s) => el('option', { value: s.name }, s.description ? `${s.name}: ${s.description}` : s.name)));
  // A default that is not a built-in name is a file path: it belongs in the text box.
  if (list.some((s) => s.name === ui.scenario)) $('scenario').value = ui.scenario;
  else if (ui.scenario) $('scenario_file').value = ui.scenario;
  // A phase file's stages: one click runs them (the stress steps), the step table filling in.
  const stages = ui.phase_stages || [];
  $('stages-field').hidden = stages.length < 2;
  $('stages-text').textContent = `${ui.phase}: ${stages.map((s) => s.users).join(' -> ')} users, `
    + `${fmtDuration(stages.reduce((t, s) => t + s.duration_s, 0))} in all`;
  renderButtons();
}

// /api/ui is asked until it answers: the form is of little use without its defaults.
async function loadUi() {
  try { app.ui = await getJSON('/api/ui'); } catch (_) { if (!app.quit) setTimeout(loadUi, 2000); return; }
  fillDefaults(app.ui);
}

// ---------------------------------------------------------------- header buttons
async function simpleAction(method, url, failText) {
  const r = await sendOrSay(method, url);
  if (!r.ok) notify(`${failText}: ${r.data.message || `HTTP ${r.status}`}`);
  pollSoon();
  return r.ok;
}

async function newTest() {
  if (await simpleAction('POST', '/api/new', 'New test refused')) openModal('start-modal');
}

async function quit() {
  if (!window.confirm('Stop the test and quit loadgen? The reports are written and the process exits.')) return;
  // The process may exit before its answer is read: no answer is what was asked for.
  const r = await send('POST', '/quit').catch(() => ({ ok: true }));
  if (!r.ok) { notify(`Quit refused: ${r.data.message || `HTTP ${r.status}`}`); return; }
  app.quit = true;
  connection(true);
  document.querySelectorAll('.modal').forEach((m) => { m.hidden = true; });
  $('quit-overlay').hidden = false;
}

// ---------------------------------------------------------------- tabs and wiring
const tabPolls = { 'panel-exceptions': 'exceptions', 'panel-logs': 'logs', 'panel-ratio': 'tasks' };
function selectTab(panelId) {
  if (!$(panelId) || !$(panelId).classList.contains('panel')) panelId = 'panel-statistics';
  for (const b of document.querySelectorAll('.tabs [role=tab]')) {
    const on = b.dataset.panel === panelId;
    b.classList.toggle('active', on);
    b.setAttribute('aria-selected', String(on));
    $(b.dataset.panel).hidden = !on;
  }
  app.tab = panelId;
  const hash = `#${panelId.slice('panel-'.length)}`;
  if (location.hash !== hash) window.history.replaceState(null, '', hash); // a reload keeps the tab
  if (panelId === 'panel-charts') scheduleCharts();
  const p = polls[tabPolls[panelId]];
  if (p) p.run(true);
}

function wire() {
  document.querySelectorAll('.tabs [role=tab]').forEach((b) => b.addEventListener('click', () => selectTab(b.dataset.panel)));
  document.querySelectorAll('[data-close]').forEach((b) => b.addEventListener('click', () => closeModal(b.dataset.close)));
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') ['start-modal', 'edit-modal'].forEach((id) => { if (!$(id).hidden) closeModal(id); });
  });
  $('start-form').addEventListener('submit', submitStart);
  $('edit-form').addEventListener('submit', submitEdit);
  $('start-open').addEventListener('click', () => openModal('start-modal'));
  $('edit-open').addEventListener('click', openEdit);
  $('stop-button').addEventListener('click', () => simpleAction('GET', '/stop', 'Stop failed'));
  $('reset-button').addEventListener('click', () => simpleAction('GET', '/stats/reset', 'Reset failed'));
  $('new-test-button').addEventListener('click', newTest);
  $('quit-button').addEventListener('click', quit);
  // Charts follow their container's width (window resize, a scrollbar appearing, the tab shown);
  // a zoom changes devicePixelRatio and fires resize too.
  new ResizeObserver(scheduleCharts).observe($('panel-charts'));
  window.addEventListener('resize', scheduleCharts);
}

wire();
selectTab(`panel-${location.hash.slice(1) || 'statistics'}`);
loadUi();
startPolling();
