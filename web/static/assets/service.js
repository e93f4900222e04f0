// @ts-check
// One service: status, actions, replicas, metrics, events, revisions,
// spec (editable as JSON), configuration (env vars editable) and logs (the
// last 200 lines, then live). This module wires the page: what each panel
// shows is in service-view.js, service-config.js, service-spec.js and
// service-logs.js.
import { h, set, badge, updateBadge, timeCell, table, empty, confirm } from './dom.js';
import { api, act, session, ApiError, ifRevision } from './api.js';
import { fullName, servicePath } from './links.js';
import { logsPanel } from './service-logs.js';
import { configPanel } from './service-config.js';
import { specEditor } from './service-spec.js';
import { usageCharts } from './chart.js';
import { serviceLimit } from './chart-data.js';
import {
  actionStates, usageFromAPI, usageFromEvent, metricsPanel,
  renderSpec, renderReplicas, renderEvents, renderRevisions, renderSecrets,
} from './service-view.js';

/**
 * @param {import('./page.js').Page} page
 * @param {HTMLElement} root
 */
export default function servicePage(page, root) {
  const name = page.params.name; // "web" or "team-a/web"
  let target = page.query.get('target') || '';
  /** @type {import('./service-view.js').Service | null} */
  let svc = null;
  let deleted = false;
  let deleting = false; // a DELETE is on its way
  const canOperate = session.can('operator');
  document.title = `${name} · berth`;

  /** @type {(suffix?: string, params?: Record<string, string | number>) => string} */
  const path = (suffix = '', params = {}) => servicePath(name, target, suffix, params);

  // Head.
  const title = h('h1', { testid: 'service-title' }, name);
  const status = badge('…', 'service-status');
  const meta = h('div', { class: 'meta' });
  const message = h('p', { class: 'message', hidden: true });
  const spec = h('dl', { class: 'spec', testid: 'service-spec' });

  // Actions (operators and admins).
  const scaleInput = /** @type {HTMLInputElement} */ (h('input', { type: 'number', min: '0', max: '1000', step: '1', required: true, testid: 'scale-input', 'aria-label': 'replicas' }));
  const scaleBtn = /** @type {HTMLButtonElement} */ (h('button', { type: 'submit', testid: 'scale-submit' }, 'Scale'));
  /** @type {(id: string, label: string, cls: string, fn: (b: HTMLButtonElement) => void) => HTMLElement} */
  const btn = (id, label, cls, fn) => h('button', { type: 'button', class: cls, testid: `action-${id}`, on: { click: (/** @type {Event} */ ev) => fn(/** @type {HTMLButtonElement} */ (ev.currentTarget)) } }, label);
  const actions = canOperate ? h('div', { class: 'actions' },
    h('form', { class: 'inline', novalidate: true, on: { submit: onScale } }, h('label', { class: 'inline-label' }, 'Replicas ', scaleInput), scaleBtn),
    h('span', { class: 'sep' }),
    btn('restart', 'Restart', '', (b) => simple(b, 'restart')),
    btn('stop', 'Stop', '', (b) => confirmed(b, 'stop', `Stop ${name}? Its replicas are stopped; start brings them back.`, 'Stop')),
    btn('start', 'Start', '', (b) => simple(b, 'start')),
    btn('rollback', 'Roll back', '', (b) => rollback(b, 0)),
    btn('delete', 'Delete', 'danger', onDelete)) : null;

  // Panels.
  const editor = specEditor({ view: spec, service: () => svc, save: saveSpec });
  const replicas = table('service-replicas-list', ['Replica', 'State', 'Ready', 'Restarts', 'PID', 'Port', 'Revision', 'Started', 'Last exit']);
  const metrics = metricsPanel();
  const charts = usageCharts(page, { range: page.query.get('range') || undefined, limit: (m) => serviceLimit(svc ? svc.spec : undefined, m) });
  let charted = false;
  const events = h('ul', { class: 'events', testid: 'service-events' });
  const eventsNone = h('p', { class: 'muted', hidden: true }, 'No recent events from the runtime.');
  const revisions = table('service-revisions', ['Revision', 'Cause', 'Author', 'Created', '']);
  const config = configPanel({ canOperate, save: saveConfig });
  const logs = logsPanel((params) => path('/logs', params), (topic, fn) => page.live(topic, fn));

  set(root,
    h('div', { class: 'page-head' },
      h('div', null, h('div', { class: 'crumbs' }, h('a', { href: '#/services' }, 'Services'), ' /'),
        h('div', { class: 'title-row' }, title, status), meta),
      actions),
    message,
    h('section', { class: 'panel' }, h('div', { class: 'panel-head' }, h('h2', null, 'Spec'), canOperate ? editor.edit : null), spec,
      canOperate ? editor.form : null),
    h('div', { class: 'grid2' },
      h('section', { class: 'panel' }, h('h2', null, 'Replicas'), replicas.el),
      metrics.el),
    charts.el,
    h('div', { class: 'grid2' },
      h('section', { class: 'panel' }, h('h2', null, 'Revisions'), revisions.el),
      h('section', { class: 'panel' }, h('h2', null, 'Events'), events, eventsNone)),
    config.el,
    logs.el);

  // ---- rendering ----

  /** @param {import('./service-view.js').Service} s */
  function renderService(s) {
    svc = s;
    target = s.target;
    const full = fullName(s);
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
    editor.offer(canOperate && !!s.managed && !deleted);
    renderSpec(spec, s.spec || {});
    if (!charted) {
      charted = true;
      void charts.show({ service: s.name, target: s.target, namespace: s.namespace });
    }
    renderReplicas(replicas.tbody, s.instances || []);
    renderEvents(events, eventsNone, s.events || []);
    renderSecrets(config.secretsBox, (s.spec && s.spec.secrets) || {});
    logs.follow(s);
  }

  // syncButtons enables what the service's state leaves something to do.
  function syncButtons() {
    if (!actions || !svc || deleted) return;
    for (const { id, off, why } of actionStates(svc)) {
      const b = /** @type {HTMLButtonElement | null} */ (actions.querySelector(`[data-testid="action-${id}"]`));
      if (!b || b.dataset.busy) continue;
      b.disabled = off;
      b.title = off ? why : '';
    }
  }

  /** @param {string} msg */
  function markDeleted(msg) {
    deleted = true;
    updateBadge(status, 'DELETED');
    message.hidden = false;
    message.className = 'message bad';
    message.textContent = msg || 'This service has been deleted.';
    if (actions) for (const b of actions.querySelectorAll('button, input')) /** @type {HTMLButtonElement} */ (b).disabled = true;
    editor.offer(false);
  }

  // ---- loading ----

  /** @param {AbortSignal} signal */
  async function loadService(signal) {
    try {
      const res = await api(path(), { quiet: true, signal });
      if (!signal.aborted) renderService(res.service);
    } catch (e) {
      if (signal.aborted) return;
      if (e instanceof ApiError && e.status === 404) {
        markDeleted(e.message);
        return;
      }
      message.textContent = e instanceof Error ? e.message : String(e);
      message.hidden = false;
      message.className = 'message bad';
    }
  }

  /** @param {AbortSignal} [signal] */
  async function loadRevisions(signal = page.signal) {
    try {
      const res = await api(path('/revisions'), { quiet: true, signal });
      if (!signal.aborted) renderRevisions(revisions.tbody, res.revisions || [], svc ? svc.revision : undefined, canOperate ? rollback : null);
    } catch (e) {
      if (!signal.aborted) set(revisions.tbody, empty(e instanceof Error ? e.message : String(e), 5));
    }
  }

  /** @param {AbortSignal} [signal] */
  async function loadConfig(signal = page.signal) {
    try {
      const res = await api(path('/config'), { quiet: true, signal });
      if (!signal.aborted) config.render(res, !!svc && svc.managed === false);
    } catch (e) {
      if (!signal.aborted) config.fail(e instanceof Error ? e.message : String(e));
    }
  }

  /** @param {AbortSignal} signal */
  async function loadMetrics(signal) {
    try {
      const res = await api(path('/metrics'), { quiet: true, signal });
      if (signal.aborted) return;
      const u = usageFromAPI(res);
      metrics.show(u, u.at);
    } catch (e) {
      if (!signal.aborted) metrics.fail(e instanceof Error ? e.message : String(e));
    }
  }

  /** @param {AbortSignal} signal */
  async function loadAll(signal) {
    if (deleting || deleted) return;
    await loadService(signal);
    if (deleted || signal.aborted) return;
    const jobs = [loadRevisions(signal), loadMetrics(signal)];
    if (!config.dirty) jobs.push(loadConfig(signal));
    if (!logs.loaded) jobs.push(logs.load(signal));
    await Promise.all(jobs);
  }

  // ---- actions ----

  // run is act for an action button: while the request runs a re-render
  // leaves the button alone, and after it the state decides again.
  /**
   * @param {HTMLButtonElement} b
   * @param {() => Promise<any>} fn
   */
  async function run(b, fn) {
    b.dataset.busy = '1';
    try {
      return await act(b, fn);
    } finally {
      delete b.dataset.busy;
      syncButtons();
    }
  }

  /** @param {any} res */
  function applied(res) {
    if (res && res.service && page.alive) renderService(res.service);
    return !!res && page.alive;
  }

  /**
   * @param {HTMLButtonElement} b
   * @param {string} verb
   */
  async function simple(b, verb) {
    applied(await run(b, () => api(path(`/${verb}`), { method: 'POST' })));
  }

  /**
   * @param {HTMLButtonElement} b
   * @param {string} verb
   * @param {string} question
   * @param {string} label
   */
  async function confirmed(b, verb, question, label) {
    if (!(await confirm(question, label))) return;
    await simple(b, verb);
  }

  /**
   * @param {HTMLButtonElement} b
   * @param {number} revision 0: the previous one
   */
  async function rollback(b, revision) {
    const to = revision ? `revision ${revision}` : 'the previous revision';
    if (!(await confirm(`Roll ${name} back to ${to}? This makes a new revision with that spec.`, 'Roll back'))) return;
    const res = await run(b, () => api(path('/rollback'), { method: 'POST', body: revision ? { revision } : {} }));
    if (res && res.service && applied(res)) {
      loadRevisions();
      loadConfig();
    }
  }

  /** @param {Event} ev */
  async function onScale(ev) {
    ev.preventDefault();
    // The server checks the number and says what is wrong with it.
    const v = scaleInput.value.trim();
    const body = v === '' ? {} : { replicas: Number(v) };
    applied(await run(scaleBtn, () => api(path('/scale'), { method: 'POST', body })));
  }

  /** @param {HTMLButtonElement} b */
  async function onDelete(b) {
    if (!(await confirm(`Delete ${name}? Its replicas stop and its revisions are removed. This cannot be undone.`, 'Delete'))) return;
    // No re-read may race the delete: it would ask for a service that is gone.
    deleting = true;
    w.cancel();
    const res = await act(b, () => api(path(), { method: 'DELETE' }));
    deleting = false;
    if (res && page.alive) location.hash = '#/services';
  }

  /**
   * @param {Record<string, string>} env
   * @param {HTMLButtonElement} submit
   * @param {number} revision the one the form showed
   */
  async function saveConfig(env, submit, revision) {
    const res = await act(submit, () => api(path('/config'), { method: 'PUT', body: { env }, headers: ifRevision(revision) }));
    if (!applied(res)) return;
    config.dirty = false;
    loadConfig();
    loadRevisions();
  }

  /**
   * @param {Record<string, any>} body
   * @param {HTMLButtonElement} submit
   * @param {number} revision the one the edit was made to
   */
  async function saveSpec(body, submit, revision) {
    if (!svc) return false;
    // PUT takes the plain name; target and namespace are in the body.
    const res = await act(submit, () => api(`/services/${encodeURIComponent(svc ? svc.name : name)}`, { method: 'PUT', body, headers: ifRevision(revision) }));
    if (!applied(res)) return false;
    loadRevisions();
    loadConfig();
    return true;
  }

  // ---- live ----

  /** @param {any} d */
  const sameService = (d) => !!svc && !!d && d.name === svc.name && d.target === svc.target && (d.namespace || '') === (svc.namespace || '');
  const w = page.watch(['services'], loadAll, {
    delay: 400,
    event(e) {
      if (!svc || !sameService(e.data)) return false;
      if (e.type === 'service.deleted') {
        markDeleted(`${name} was deleted.`);
        return false;
      }
      updateBadge(status, e.data.status);
      // The buttons follow the state now; the rest with the re-read.
      svc = { ...svc, status: e.data.status, stopped: e.data.stopped, revision: e.data.revision || svc.revision };
      syncButtons();
      return true;
    },
  });
  page.live('metrics', (e) => {
    const s = ((e.data && e.data.services) || []).find(sameService);
    if (s) metrics.show(usageFromEvent(s), e.time);
  });
  // Lines may have been lost: the logs are read again with the rest.
  page.onResync(() => { logs.loaded = false; });
}
