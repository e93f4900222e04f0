// One service: status, actions, replicas, metrics, events, revisions,
// spec (editable as JSON), configuration (env vars editable) and logs (the
// last 200 lines, then live).
import { h, set, badge, updateBadge, timeCell, time, table, empty, coalesce, confirm, bytes, cores, toast } from './dom.js';
import { api, act, session, svcPath, ApiError } from './api.js';

const MAX_LOG_LINES = 2000;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
// What a log topic takes as a target (wshub.ParseLogTopic).
const TARGET_NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
const REDACTED = '[redacted]';

// Statuses in which start or stop has nothing to do; in any other (ERROR,
// PENDING, unknown) both stay enabled.
const RUNNING = new Set(['RUNNING', 'DEGRADED', 'DEPLOYING']);
const STOPPED = new Set(['STOPPED']);

// logTopic is the WebSocket topic of a service's logs, qualified with its
// target and namespace: logs:<target>:[<namespace>/]<name>. '' when the
// names do not fit the topic's syntax.
export function logTopic(s) {
  if (!DNS_LABEL.test(s.name) || (s.namespace && !DNS_LABEL.test(s.namespace))) return '';
  const svc = `${s.namespace ? `${s.namespace}/` : ''}${s.name}`;
  if (s.target && TARGET_NAME.test(s.target)) return `logs:${s.target}:${svc}`;
  return `logs:${svc}`;
}

export default function servicePage(page, root) {
  const name = page.params.name; // "web" or "team-a/web"
  let target = page.query.get('target') || '';
  let svc = null;
  let deleted = false;
  let deleting = false; // a DELETE is on its way
  let configDirty = false;
  let logsTopic = '';
  const canOperate = session.can('operator');
  document.title = `${name} · berth`;

  const path = (suffix = '', params = {}) => svcPath(name, target, suffix, params);

  // Head.
  const title = h('h1', { testid: 'service-title' }, name);
  const status = badge('…', 'service-status');
  const meta = h('div', { class: 'meta' });
  const message = h('p', { class: 'message', hidden: true });
  const spec = h('dl', { class: 'spec', testid: 'service-spec' });

  // Actions (operators and admins).
  const scaleInput = h('input', { type: 'number', min: '0', max: '1000', step: '1', required: true, testid: 'scale-input', 'aria-label': 'replicas' });
  const scaleBtn = h('button', { type: 'submit', testid: 'scale-submit' }, 'Scale');
  const btn = (id, label, cls, fn) => h('button', { type: 'button', class: cls, testid: `action-${id}`, on: { click: (ev) => fn(ev.currentTarget) } }, label);
  const actions = canOperate ? h('div', { class: 'actions' },
    h('form', { class: 'inline', novalidate: true, on: { submit: onScale } }, h('label', { class: 'inline-label' }, 'Replicas ', scaleInput), scaleBtn),
    h('span', { class: 'sep' }),
    btn('restart', 'Restart', '', (b) => simple(b, 'restart')),
    btn('stop', 'Stop', '', (b) => confirmed(b, 'stop', `Stop ${name}? Its replicas are stopped; start brings them back.`, 'Stop')),
    btn('start', 'Start', '', (b) => simple(b, 'start')),
    btn('rollback', 'Roll back', '', (b) => rollback(b, 0)),
    btn('delete', 'Delete', 'danger', onDelete)) : null;

  // The spec editor (operators, services berth created).
  const specEdit = h('button', { type: 'button', class: 'small', testid: 'spec-edit', hidden: true, on: { click: openEditor } }, 'Edit spec');
  const specJSON = h('textarea', { class: 'spec-json', testid: 'spec-json', spellcheck: 'false', 'aria-label': 'spec as JSON' });
  const specSave = h('button', { type: 'submit', class: 'primary', testid: 'spec-save' }, 'Save as a new revision');
  const specNote = h('p', { class: 'hint' });
  const secretsNote = h('p', { class: 'warn-note', testid: 'spec-secrets-note', hidden: true });
  const editor = h('form', { class: 'spec-editor', novalidate: true, hidden: true, on: { submit: onSaveSpec } },
    secretsNote, specJSON,
    h('div', { class: 'row' }, specSave,
      h('button', { type: 'button', testid: 'spec-cancel', on: { click: closeEditor } }, 'Cancel'), specNote));
  let editing = false;

  // Panels.
  const replicas = table('service-replicas-list', ['Replica', 'State', 'Ready', 'Restarts', 'PID', 'Port', 'Revision', 'Started', 'Last exit']);
  const cpu = h('span', { class: 'big', testid: 'metrics-cpu' }, '—');
  const mem = h('span', { class: 'big', testid: 'metrics-memory' }, '—');
  const metricsAt = h('span', { class: 'muted small' });
  const perReplica = table('metrics-replicas', ['Replica', 'CPU', 'Memory']);
  const events = h('ul', { class: 'events', testid: 'service-events' });
  const eventsNone = h('p', { class: 'muted', hidden: true }, 'No recent events from the runtime.');
  const revisions = table('service-revisions', ['Revision', 'Cause', 'Author', 'Created', '']);
  const envBox = h('div');
  const secretsBox = h('div');
  const filesBox = h('div');
  const logs = h('div', { class: 'logs', testid: 'logs', role: 'log', tabindex: '0' });
  const logsNote = h('span', { class: 'muted small' });
  const follow = h('input', { type: 'checkbox', checked: true });

  set(root,
    h('div', { class: 'page-head' },
      h('div', null, h('div', { class: 'crumbs' }, h('a', { href: '#/services' }, 'Services'), ' /'),
        h('div', { class: 'title-row' }, title, status), meta),
      actions),
    message,
    h('section', { class: 'panel' }, h('div', { class: 'panel-head' }, h('h2', null, 'Spec'), canOperate ? specEdit : null), spec,
      canOperate ? editor : null),
    h('div', { class: 'grid2' },
      h('section', { class: 'panel' }, h('h2', null, 'Replicas'), replicas.el),
      h('section', { class: 'panel' }, h('h2', null, 'Metrics ', metricsAt),
        h('div', { class: 'cards compact' },
          h('div', { class: 'card' }, h('div', { class: 'card-label' }, 'CPU (cores)'), cpu),
          h('div', { class: 'card' }, h('div', { class: 'card-label' }, 'Memory'), mem)),
        perReplica.el)),
    h('div', { class: 'grid2' },
      h('section', { class: 'panel' }, h('h2', null, 'Revisions'), revisions.el),
      h('section', { class: 'panel' }, h('h2', null, 'Events'), events, eventsNone)),
    h('section', { class: 'panel' }, h('h2', null, 'Configuration'), envBox, secretsBox, filesBox),
    h('section', { class: 'panel' },
      h('div', { class: 'panel-head' }, h('h2', null, 'Logs'), logsNote,
        h('label', { class: 'inline-label' }, follow, ' follow'),
        h('button', { type: 'button', class: 'small', on: { click: () => set(logs) } }, 'Clear')),
      logs));

  // ---- rendering ----

  function renderService(s) {
    svc = s;
    target = s.target;
    const full = s.namespace ? `${s.namespace}/${s.name}` : s.name;
    title.textContent = full;
    document.title = `${full} · berth`;
    updateBadge(status, s.status);
    set(meta,
      h('span', { testid: 'service-replicas' }, `${s.readyReplicas}/${s.replicas} ready`), ' · target ', h('b', null, s.target),
      s.namespace ? [' · namespace ', h('b', null, s.namespace)] : null,
      s.revision ? [' · revision ', h('b', { testid: 'service-revision' }, String(s.revision))] : null,
      ' · ', s.managed ? 'created by berth' : h('span', { class: 'tag' }, 'external'),
      ' · updated ', timeCell(s.updatedAt));
    message.hidden = !s.message;
    message.textContent = s.message || '';
    message.className = `message ${s.status === 'ERROR' ? 'bad' : ''}`;
    if (canOperate && document.activeElement !== scaleInput) scaleInput.value = String(s.replicas);
    syncButtons();
    specEdit.hidden = !canOperate || !s.managed || editing;
    renderSpec(s.spec || {});
    renderReplicas(s.instances || []);
    renderEvents(s.events || []);
    renderSecrets((s.spec && s.spec.secrets) || {});
    subscribeLogs(s);
  }

  // syncButtons enables what the service's state leaves something to do:
  // no start while it runs, no stop while it is stopped, no rollback at
  // revision 1, no delete of a service berth did not create (the API
  // refuses it: whoever manages it deletes it).
  function syncButtons() {
    if (!actions || !svc || deleted) return;
    const st = String(svc.status || '').toUpperCase();
    const stopped = STOPPED.has(st) || (svc.stopped && !RUNNING.has(st));
    const state = `the service is ${st.toLowerCase()}`;
    for (const [id, off, why] of [
      ['start', RUNNING.has(st) && !svc.stopped, state], ['stop', stopped, state],
      ['rollback', svc.revision === 1, 'revision 1 has nothing to roll back to'],
      ['delete', svc.managed === false, 'berth did not create this service: delete it where it is managed']]) {
      const b = actions.querySelector(`[data-testid="action-${id}"]`);
      if (!b || b.dataset.busy) continue;
      b.disabled = off;
      b.title = off ? why : '';
    }
  }

  function renderSpec(sp) {
    const rows = [];
    const add = (k, v) => { if (v !== undefined && v !== null && v !== '') rows.push(h('dt', null, k), h('dd', null, v)); };
    add('Template', sp.template);
    add('Image', sp.image);
    add('Command', sp.command && sp.command.length ? h('code', null, sp.command.join(' ')) : '');
    add('Working dir', sp.workingDir);
    add('Ports', (sp.ports || []).map((p) => `${p.name || 'port'} ${p.port}`).join(', '));
    const res = sp.resources || {};
    add('Resources', [res.cpu ? `cpu ${res.cpu}` : '', res.memory ? `memory ${res.memory}` : ''].filter(Boolean).join(', '));
    const hc = sp.healthCheck;
    add('Health check', hc ? (hc.http ? `HTTP GET ${hc.http}` : 'TCP connect') + (hc.port ? ` on ${hc.port}` : '') : '');
    add('Replicas (desired)', sp.replicas !== undefined ? String(sp.replicas) : '');
    set(spec, rows.length ? rows : h('dd', { class: 'muted' }, 'No spec: berth did not create this service.'));
  }

  function renderReplicas(list) {
    set(replicas.tbody, list.length ? list.map((r) => h('tr', { testid: 'replica-row', data: { name: r.name } },
      h('td', null, r.name), h('td', null, badge(String(r.state || '').toUpperCase())),
      h('td', null, r.ready ? 'yes' : 'no'), h('td', { class: 'num' }, String(r.restarts || 0)),
      h('td', { class: 'num' }, r.pid ? String(r.pid) : ''), h('td', { class: 'num' }, r.port ? String(r.port) : ''),
      h('td', { class: 'num' }, r.revision ? String(r.revision) : ''), h('td', null, r.startedAt ? timeCell(r.startedAt) : '—'),
      h('td', { class: 'small' }, r.lastExit || ''))) : empty('No replicas running.', 9));
  }

  function renderEvents(list) {
    set(events, list.map((e) => h('li', { testid: 'event-row', class: e.type === 'Warning' ? 'warn' : '' },
      h('span', { class: 'muted small' }, time(e.time)), ' ',
      h('b', null, e.reason), ' ', h('span', { class: 'muted small' }, e.object), ' ',
      e.message, e.count > 1 ? h('span', { class: 'tag' }, `×${e.count}`) : null)));
    eventsNone.hidden = list.length > 0;
  }

  function renderRevisions(list) {
    set(revisions.tbody, list.length ? list.map((r) => {
      const current = svc && r.revision === svc.revision;
      return h('tr', { testid: 'revision-row', data: { revision: String(r.revision) }, class: current ? 'current' : '' },
        h('td', { class: 'num' }, String(r.revision), current ? h('span', { class: 'tag' }, 'current') : null),
        h('td', null, r.cause || ''), h('td', null, r.author || ''), h('td', null, timeCell(r.createdAt)),
        h('td', null, canOperate && !current ? h('button', { type: 'button', class: 'small', testid: 'revision-rollback',
          on: { click: (ev) => rollback(ev.currentTarget, r.revision) } }, `Roll back to ${r.revision}`) : null));
    }) : empty('No revisions.', 5));
  }

  function renderConfig(cfg) {
    configDirty = false;
    const env = Object.entries(cfg.env || {}).sort(([a], [b]) => a.localeCompare(b));
    // A service berth did not create keeps the configuration its owner
    // gives it: the API refuses changes, so it is shown read-only.
    const external = svc && svc.managed === false;
    if (!canOperate || external) {
      const t = table('config-env', ['Variable', 'Value']);
      set(t.tbody, env.length ? env.map(([k, v]) => h('tr', { testid: 'env-var-row', data: { key: k } }, h('td', null, h('code', null, k)), h('td', null, h('code', null, v)))) : empty('No environment variables.', 2));
      set(envBox, h('h3', null, 'Environment variables'), t.el,
        canOperate ? h('p', { class: 'hint' }, 'berth did not create this service: change its configuration where it is managed.') : null);
    } else {
      const rowsBox = h('div', { class: 'kv-rows' });
      const addRow = (k = '', v = '') => {
        const key = h('input', { value: k, placeholder: 'NAME', testid: 'config-env-key', 'aria-label': 'variable name', spellcheck: 'false' });
        const val = h('input', { value: v, placeholder: 'value', testid: 'config-env-value', 'aria-label': 'value', spellcheck: 'false' });
        const row = h('div', { class: 'kv', testid: 'env-var-row', data: { key: k } }, key, val,
          h('button', { type: 'button', class: 'small', title: 'Remove', 'aria-label': `remove ${k || 'variable'}`,
            on: { click: () => { row.remove(); configDirty = true; } } }, '✕'));
        rowsBox.appendChild(row);
        return key;
      };
      env.forEach(([k, v]) => addRow(k, v));
      const form = h('form', { class: 'config-form', novalidate: true, on: { submit: onSaveConfig, input: () => { configDirty = true; } } },
        rowsBox,
        h('div', { class: 'row' },
          h('button', { type: 'button', testid: 'config-add', on: { click: () => { addRow().focus(); configDirty = true; } } }, 'Add variable'),
          h('button', { type: 'submit', class: 'primary', testid: 'config-save' }, 'Save and roll out'),
          h('span', { class: 'muted small' }, `revision ${cfg.revision}: saving makes a new revision`)));
      set(envBox, h('h3', null, 'Environment variables'), form);
    }
    const files = Object.entries((cfg.config && cfg.config.files) || {});
    set(filesBox, files.length ? [h('h3', null, 'Config files'), files.map(([n, body]) =>
      h('details', { class: 'file' }, h('summary', null, h('code', null, n), ' ', h('span', { class: 'muted small' }, bytes(body.length))), h('pre', null, body)))] : []);
  }

  function renderSecrets(secrets) {
    const list = Object.entries(secrets).sort(([a], [b]) => a.localeCompare(b));
    set(secretsBox, list.length ? [h('h3', null, 'Secrets'),
      h('ul', { class: 'plain' }, list.map(([k, v]) => h('li', { testid: 'secret-row' }, h('code', null, k), ' = ', h('span', { class: 'redacted' }, v))))] : []);
  }

  function renderMetrics(total, replicaValues, at) {
    cpu.textContent = cores(total.cpu);
    mem.textContent = bytes(total.memory);
    metricsAt.textContent = at ? `at ${time(at)}` : '';
    const names = Object.keys(replicaValues).sort();
    set(perReplica.tbody, names.length ? names.map((n) => h('tr', { testid: 'metrics-replica-row' },
      h('td', null, n), h('td', { class: 'num' }, cores(replicaValues[n].cpu)), h('td', { class: 'num' }, bytes(replicaValues[n].memory))))
      : empty('No measurements yet.', 3));
  }

  // ---- loading ----

  async function loadService() {
    try {
      const res = await api(path(), { quiet: true });
      if (!page.alive) return;
      renderService(res.service);
    } catch (e) {
      if (!page.alive) return;
      if (e instanceof ApiError && e.status === 404) {
        markDeleted(e.message);
        return;
      }
      set(message, e.message);
      message.hidden = false;
      message.className = 'message bad';
    }
  }

  async function loadRevisions() {
    try {
      const res = await api(path('/revisions'), { quiet: true });
      if (page.alive) renderRevisions(res.revisions || []);
    } catch (e) {
      if (page.alive) set(revisions.tbody, empty(e.message, 5));
    }
  }

  async function loadConfig() {
    try {
      const res = await api(path('/config'), { quiet: true });
      if (page.alive) renderConfig(res);
    } catch (e) {
      if (page.alive) set(envBox, h('p', { class: 'muted' }, e.message));
    }
  }

  async function loadMetrics() {
    try {
      const res = await api(path('/metrics'), { quiet: true });
      if (!page.alive) return;
      const series = (res.history && res.history.series) || [];
      const last = (kind, metric, replica) => {
        const s = series.find((x) => x.kind === kind && x.metric === metric && (!replica || x.replica === replica));
        return s && s.points.length ? s.points[s.points.length - 1].v : undefined;
      };
      const reps = {};
      for (const r of res.replicas || []) reps[r.replica] = { memory: r.rssBytes, cpu: last('replica', 'cpu', r.replica) };
      renderMetrics({ cpu: last('service', 'cpu'), memory: res.memoryBytes }, reps, res.time);
    } catch (e) {
      if (page.alive) metricsAt.textContent = e.message;
    }
  }

  async function loadLogs() {
    try {
      const res = await api(path('/logs', { tail: 200 }), { quiet: true });
      if (!page.alive) return;
      set(logs);
      (res.lines || []).forEach(addLine);
      logs.scrollTop = logs.scrollHeight;
    } catch (e) {
      if (page.alive) logsNote.textContent = e.message;
    }
  }

  function addLine(l) {
    const stick = follow.checked && logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 24;
    logs.appendChild(h('div', { class: `log-line ${l.stream === 'stderr' ? 'stderr' : ''}`, testid: 'log-line' },
      h('span', { class: 'log-time' }, time(l.time)), h('span', { class: 'log-replica' }, l.replica || ''), h('span', { class: 'log-text' }, l.line)));
    while (logs.childElementCount > MAX_LOG_LINES) logs.firstElementChild.remove();
    if (stick) logs.scrollTop = logs.scrollHeight;
  }

  // Live logs: the topic names the service with its target and namespace
  // (names repeat across targets and namespaces).
  function subscribeLogs(s) {
    if (logsTopic) return;
    const topic = logTopic(s);
    if (!topic) {
      logsNote.textContent = 'live logs are not available for this service';
      return;
    }
    logsTopic = topic;
    logsNote.textContent = 'live';
    page.live(logsTopic, (e) => {
      if (e.type === 'log.line') addLine(e.data);
      else if (e.type === 'log.end') {
        logs.appendChild(h('div', { class: 'log-note' }, `— ${e.data && e.data.message ? e.data.message : 'log stream ended'} —`));
        logsNote.textContent = 'stream ended';
      }
    });
  }

  function markDeleted(msg) {
    deleted = true;
    updateBadge(status, 'DELETED');
    message.hidden = false;
    message.className = 'message bad';
    message.textContent = msg || 'This service has been deleted.';
    if (actions) for (const b of actions.querySelectorAll('button, input')) b.disabled = true;
    specEdit.hidden = true;
    closeEditor();
  }

  function loadAll() {
    if (deleting) return Promise.resolve();
    return loadService().then(() => {
      if (deleted || !page.alive) return;
      loadRevisions();
      if (!configDirty) loadConfig();
      loadMetrics();
    });
  }

  // ---- actions ----

  // run is act for an action button: while the request runs a re-render
  // leaves the button alone, and after it the state decides again.
  async function run(b, fn) {
    if (b) b.dataset.busy = '1';
    try {
      return await act(b, fn);
    } finally {
      if (b) delete b.dataset.busy;
      syncButtons();
    }
  }

  async function simple(b, verb) {
    const res = await run(b, () => api(path(`/${verb}`), { method: 'POST' }));
    if (res && res.service && page.alive) renderService(res.service);
  }

  async function confirmed(b, verb, question, label) {
    if (!(await confirm(question, label))) return;
    await simple(b, verb);
  }

  async function rollback(b, revision) {
    const to = revision ? `revision ${revision}` : 'the previous revision';
    if (!(await confirm(`Roll ${name} back to ${to}? This makes a new revision with that spec.`, 'Roll back'))) return;
    const res = await run(b, () => api(path('/rollback'), { method: 'POST', body: revision ? { revision } : {} }));
    if (res && res.service && page.alive) {
      renderService(res.service);
      loadRevisions();
      loadConfig();
    }
  }

  async function onScale(ev) {
    ev.preventDefault();
    // The server checks the number and says what is wrong with it.
    const v = scaleInput.value.trim();
    const body = v === '' ? {} : { replicas: Number(v) };
    const res = await run(scaleBtn, () => api(path('/scale'), { method: 'POST', body }));
    if (res && res.service && page.alive) renderService(res.service);
  }

  async function onDelete(b) {
    if (!(await confirm(`Delete ${name}? Its replicas stop and its revisions are removed. This cannot be undone.`, 'Delete'))) return;
    // No re-read may race the delete: it would ask for a service that is gone.
    deleting = true;
    refresh.cancel();
    const res = await act(b, () => api(path(), { method: 'DELETE' }));
    deleting = false;
    if (res && page.alive) location.hash = '#/services';
  }

  async function onSaveConfig(ev) {
    ev.preventDefault();
    const env = {};
    for (const row of envBox.querySelectorAll('.kv')) {
      const [k, v] = row.querySelectorAll('input');
      const key = k.value.trim();
      if (!key && !v.value) continue;
      if (!key) {
        k.setCustomValidity('give the variable a name');
        k.reportValidity();
        k.setCustomValidity('');
        return;
      }
      if (key in env) {
        k.setCustomValidity(`${key} is set twice`);
        k.reportValidity();
        k.setCustomValidity('');
        return;
      }
      env[key] = v.value;
    }
    const submit = ev.currentTarget.querySelector('[type=submit]');
    const res = await act(submit, () => api(path('/config'), { method: 'PUT', body: { env } }));
    if (res && page.alive) {
      configDirty = false;
      if (res.service) renderService(res.service);
      loadConfig();
      loadRevisions();
    }
  }

  // ---- the spec editor ----

  // The JSON shown is the stored spec without what the editor does not
  // change: target and namespace (they name the service) and secrets (the
  // API only ever shows them redacted).
  function editableSpec(sp) {
    const out = { ...sp };
    delete out.target;
    delete out.namespace;
    delete out.secrets;
    return out;
  }

  const secretKeys = () => Object.keys((svc && svc.spec && svc.spec.secrets) || {}).sort();

  function openEditor() {
    if (!svc) return;
    editing = true;
    specJSON.value = JSON.stringify(editableSpec(svc.spec || {}), null, 2);
    const keys = secretKeys();
    secretsNote.hidden = keys.length === 0;
    secretsNote.textContent = keys.length
      ? `This service has secrets (${keys.join(', ')}). Saving replaces the whole spec: add "secrets": {"NAME": "value"} with their real values to keep them; without it they are removed (you are asked first). The API never shows their values, so they are not in the text below.`
      : '';
    specNote.textContent = `target ${svc.target}${svc.namespace ? `, namespace ${svc.namespace}` : ''}: they name the service and are kept`;
    spec.hidden = true;
    editor.hidden = false;
    specEdit.hidden = true;
    specJSON.focus();
  }

  function closeEditor() {
    editing = false;
    editor.hidden = true;
    spec.hidden = false;
    specEdit.hidden = !canOperate || !svc || !svc.managed || deleted;
  }

  async function onSaveSpec(ev) {
    ev.preventDefault();
    if (!svc) return;
    let body;
    try {
      body = JSON.parse(specJSON.value);
    } catch (e) {
      toast(`spec: not valid JSON: ${e.message}`);
      specJSON.focus();
      return;
    }
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      toast('spec: give a JSON object, e.g. {"command": ["sleep", "60"], "replicas": 1}');
      return;
    }
    for (const k of ['target', 'namespace']) {
      if (k in body && body[k] !== (k === 'target' ? svc.target : (svc.namespace || ''))) {
        toast(`${k}: cannot be changed here (it names the service); create a new service instead`);
        return;
      }
    }
    const secrets = body.secrets;
    if (secrets !== undefined && (secrets === null || typeof secrets !== 'object' || Array.isArray(secrets))) {
      toast('secrets: give an object of NAME: value');
      return;
    }
    const redacted = Object.entries(secrets || {}).filter(([, v]) => v === REDACTED).map(([k]) => k);
    if (redacted.length) {
      // Sending the placeholder back would store it as the secret's value.
      toast(`secrets: ${redacted.join(', ')} hold "${REDACTED}", not a value: give the real value or leave the secret out`);
      return;
    }
    const dropped = secretKeys().filter((k) => !secrets || !(k in secrets));
    if (dropped.length && !(await confirm(`Saving removes the secret${dropped.length > 1 ? 's' : ''} ${dropped.join(', ')} of ${svc.name}: the spec replaces them and their values are not shown to put back. Save anyway?`, 'Save without them'))) return;
    body.target = svc.target;
    if (svc.namespace) body.namespace = svc.namespace;
    // PUT takes the plain name; target and namespace are in the body.
    const res = await act(specSave, () => api(`/services/${encodeURIComponent(svc.name)}`, { method: 'PUT', body }));
    if (!res || !page.alive) return;
    closeEditor();
    renderService(res.service);
    loadRevisions();
    loadConfig();
  }

  // ---- live ----

  const sameService = (d) => svc && d && d.name === svc.name && d.target === svc.target && (d.namespace || '') === (svc.namespace || '');
  const refresh = coalesce(loadAll, 400);
  page.live('services', (e) => {
    if (!sameService(e.data)) return;
    if (e.type === 'service.deleted') {
      markDeleted(`${name} was deleted.`);
      return;
    }
    updateBadge(status, e.data.status);
    // The buttons follow the state now; the rest with the re-read.
    svc = { ...svc, status: e.data.status, stopped: e.data.stopped, revision: e.data.revision || svc.revision };
    syncButtons();
    refresh();
  });
  page.live('metrics', (e) => {
    const s = ((e.data && e.data.services) || []).find(sameService);
    if (!s) return;
    const reps = {};
    for (const r of s.replicas || []) reps[r.name] = r.values || {};
    renderMetrics(s.values || {}, reps, e.time);
  });
  page.onResync(() => {
    if (deleted) return;
    refresh();
    if (logsTopic) loadLogs();
  });
  page.cleanup(() => refresh.cancel());

  loadAll().then(() => {
    if (!deleted && page.alive) loadLogs();
  });
}
