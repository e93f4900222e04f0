// @ts-check
// What a service's page shows, as functions of what the API answers: the
// spec, replicas, events, revisions, secrets and metrics. The state rules
// (which actions have something to do, the last measurement of a series)
// are pure and tested with node (web/test/service.test.mjs).
import { h, set, badge, timeCell, time, table, empty, bytes, cores } from './dom.js';

// Statuses in which start or stop has nothing to do; in any other (ERROR,
// PENDING, unknown) both stay enabled.
const RUNNING = new Set(['RUNNING', 'DEGRADED', 'DEPLOYING']);
const STOPPED = new Set(['STOPPED']);

/**
 * @typedef {object} Service
 * @property {string} name
 * @property {string} [namespace]
 * @property {string} target
 * @property {string} [status]
 * @property {boolean} [stopped]
 * @property {boolean} [managed]
 * @property {number} [revision]
 * @property {number} [replicas]
 * @property {number} [readyReplicas]
 * @property {string} [message]
 * @property {string} [updatedAt]
 * @property {Record<string, any>} [spec]
 * @property {any[]} [instances]
 * @property {any[]} [events]
 */

/**
 * actionStates says, for each action button, whether the service's state
 * leaves it nothing to do and why: no start while it runs, no stop while
 * it is stopped, no rollback at revision 1, no delete of a service berth
 * did not create (the API refuses it: whoever manages it deletes it).
 * @param {Service} svc
 * @returns {Array<{id: string, off: boolean, why: string}>}
 */
export function actionStates(svc) {
  const st = String(svc.status || '').toUpperCase();
  const stopped = STOPPED.has(st) || (!!svc.stopped && !RUNNING.has(st));
  const state = `the service is ${st.toLowerCase()}`;
  return [
    { id: 'start', off: RUNNING.has(st) && !svc.stopped, why: state },
    { id: 'stop', off: stopped, why: state },
    { id: 'rollback', off: svc.revision === 1, why: 'revision 1 has nothing to roll back to' },
    { id: 'delete', off: svc.managed === false, why: 'berth did not create this service: delete it where it is managed' },
  ];
}

/** @typedef {{cpu?: number, memory?: number}} Usage */

/**
 * usageFromAPI reads GET …/metrics: the service's CPU (the last point of
 * its series) and memory, and each replica's.
 * @param {any} res
 * @returns {{total: Usage, replicas: Record<string, Usage>, at: string}}
 */
export function usageFromAPI(res) {
  /** @type {Array<{kind: string, metric: string, replica?: string, points: Array<{v: number}>}>} */
  const series = (res.history && res.history.series) || [];
  /** @type {(kind: string, metric: string, replica?: string) => number | undefined} */
  const last = (kind, metric, replica) => {
    const s = series.find((x) => x.kind === kind && x.metric === metric && (!replica || x.replica === replica));
    return s && s.points.length ? s.points[s.points.length - 1].v : undefined;
  };
  /** @type {Record<string, Usage>} */
  const replicas = {};
  for (const r of res.replicas || []) replicas[r.replica] = { memory: r.rssBytes, cpu: last('replica', 'cpu', r.replica) };
  return { total: { cpu: last('service', 'cpu'), memory: res.memoryBytes }, replicas, at: res.time };
}

/**
 * usageFromEvent reads a service's entry of a "metrics" event.
 * @param {any} s
 * @returns {{total: Usage, replicas: Record<string, Usage>}}
 */
export function usageFromEvent(s) {
  /** @type {Record<string, Usage>} */
  const replicas = {};
  for (const r of s.replicas || []) replicas[r.name] = r.values || {};
  return { total: s.values || {}, replicas };
}

/**
 * specRows lists what the spec says, as [label, value] pairs, leaving out
 * what it does not set.
 * @param {Record<string, any>} sp
 * @returns {Array<[string, string | Node]>}
 */
export function specRows(sp) {
  /** @type {Array<[string, string | Node]>} */
  const rows = [];
  /** @type {(k: string, v: any) => void} */
  const add = (k, v) => { if (v !== undefined && v !== null && v !== '') rows.push([k, v]); };
  add('Template', sp.template);
  add('Image', sp.image);
  add('Command', sp.command && sp.command.length ? h('code', null, sp.command.join(' ')) : '');
  add('Working dir', sp.workingDir);
  add('Ports', (sp.ports || []).map((/** @type {{name?: string, port: number}} */ p) => `${p.name || 'port'} ${p.port}`).join(', '));
  const res = sp.resources || {};
  add('Resources', [res.cpu ? `cpu ${res.cpu}` : '', res.memory ? `memory ${res.memory}` : ''].filter(Boolean).join(', '));
  const hc = sp.healthCheck;
  add('Health check', hc ? (hc.http ? `HTTP GET ${hc.http}` : 'TCP connect') + (hc.port ? ` on ${hc.port}` : '') : '');
  add('Replicas (desired)', sp.replicas !== undefined ? String(sp.replicas) : '');
  return rows;
}

/**
 * renderSpec fills the spec's definition list.
 * @param {HTMLElement} el
 * @param {Record<string, any>} sp
 */
export function renderSpec(el, sp) {
  const rows = specRows(sp).flatMap(([k, v]) => [h('dt', null, k), h('dd', null, v)]);
  set(el, rows.length ? rows : h('dd', { class: 'muted' }, 'No spec: berth did not create this service.'));
}

/**
 * @param {HTMLElement} tbody
 * @param {any[]} list
 */
export function renderReplicas(tbody, list) {
  set(tbody, list.length ? list.map((r) => h('tr', { testid: 'replica-row', data: { name: r.name } },
    h('td', null, r.name), h('td', null, badge(String(r.state || '').toUpperCase())),
    h('td', null, r.ready ? 'yes' : 'no'), h('td', { class: 'num' }, String(r.restarts || 0)),
    h('td', { class: 'num' }, r.pid ? String(r.pid) : ''), h('td', { class: 'num' }, r.port ? String(r.port) : ''),
    h('td', { class: 'num' }, r.revision ? String(r.revision) : ''), h('td', null, r.startedAt ? timeCell(r.startedAt) : '—'),
    h('td', { class: 'small' }, r.lastExit || ''))) : empty('No replicas running.', 9));
}

/**
 * @param {HTMLElement} ul
 * @param {HTMLElement} none shown when there are no events
 * @param {any[]} list
 */
export function renderEvents(ul, none, list) {
  set(ul, list.map((e) => h('li', { testid: 'event-row', class: e.type === 'Warning' ? 'warn' : '' },
    h('span', { class: 'muted small' }, time(e.time)), ' ',
    h('b', null, e.reason), ' ', h('span', { class: 'muted small' }, e.object), ' ',
    e.message, e.count > 1 ? h('span', { class: 'tag' }, `×${e.count}`) : null)));
  none.hidden = list.length > 0;
}

/**
 * renderRevisions lists revisions; rollback (operators) offers a roll
 * back to each but the current one.
 * @param {HTMLElement} tbody
 * @param {any[]} list
 * @param {number | undefined} current
 * @param {((b: HTMLButtonElement, revision: number) => void) | null} rollback
 */
export function renderRevisions(tbody, list, current, rollback) {
  set(tbody, list.length ? list.map((r) => {
    const cur = r.revision === current;
    return h('tr', { testid: 'revision-row', data: { revision: String(r.revision) }, class: cur ? 'current' : '' },
      h('td', { class: 'num' }, String(r.revision), cur ? h('span', { class: 'tag' }, 'current') : null),
      h('td', null, r.cause || ''), h('td', null, r.author || ''), h('td', null, timeCell(r.createdAt)),
      h('td', null, rollback && !cur ? h('button', { type: 'button', class: 'small', testid: 'revision-rollback',
        on: { click: (/** @type {Event} */ ev) => rollback(/** @type {HTMLButtonElement} */ (ev.currentTarget), r.revision) } }, `Roll back to ${r.revision}`) : null));
  }) : empty('No revisions.', 5));
}

/**
 * renderSecrets lists the secrets' names with the API's redacted values.
 * @param {HTMLElement} el
 * @param {Record<string, string>} secrets
 */
export function renderSecrets(el, secrets) {
  const list = Object.entries(secrets).sort(([a], [b]) => a.localeCompare(b));
  set(el, list.length ? [h('h3', null, 'Secrets'),
    h('ul', { class: 'plain' }, list.map(([k, v]) => h('li', { testid: 'secret-row' }, h('code', null, k), ' = ', h('span', { class: 'redacted' }, v))))] : []);
}

/**
 * metricsPanel is the metrics panel; show puts a measurement on it.
 */
export function metricsPanel() {
  const cpu = h('span', { class: 'big', testid: 'metrics-cpu' }, '—');
  const mem = h('span', { class: 'big', testid: 'metrics-memory' }, '—');
  const at = h('span', { class: 'muted small' });
  const perReplica = table('metrics-replicas', ['Replica', 'CPU', 'Memory']);
  const el = h('section', { class: 'panel' }, h('h2', null, 'Metrics ', at),
    h('div', { class: 'cards compact' },
      h('div', { class: 'card' }, h('div', { class: 'card-label' }, 'CPU (cores)'), cpu),
      h('div', { class: 'card' }, h('div', { class: 'card-label' }, 'Memory'), mem)),
    perReplica.el);
  return {
    el,
    /**
     * @param {{total: Usage, replicas: Record<string, Usage>}} u
     * @param {string} [when]
     */
    show(u, when) {
      cpu.textContent = cores(u.total.cpu);
      mem.textContent = bytes(u.total.memory);
      at.textContent = when ? `at ${time(when)}` : '';
      const names = Object.keys(u.replicas).sort();
      set(perReplica.tbody, names.length ? names.map((n) => h('tr', { testid: 'metrics-replica-row' },
        h('td', null, n), h('td', { class: 'num' }, cores(u.replicas[n].cpu)), h('td', { class: 'num' }, bytes(u.replicas[n].memory))))
        : empty('No measurements yet.', 3));
    },
    /** @param {string} msg */
    fail(msg) {
      at.textContent = msg;
    },
  };
}
