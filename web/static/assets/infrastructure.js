// @ts-check
// Infrastructure: what every target runs (services, environments and each
// runtime's own items: processes, pods, volumes), orphans flagged, with the
// actions each type supports.
import { h, set, badge, table, empty, field, confirm } from './dom.js';
import { api, act, q, session } from './api.js';

// Types that start and stop; every item can be deleted (the server refuses
// what belongs to a stored service or environment: act on that instead).
const STARTABLE = new Set(['service', 'environment', 'deployment', 'statefulset']);

// Statuses in which start or stop has nothing to do, by what the type
// reports (services' and environments' own words); other statuses (ERROR,
// unknown) leave both enabled.
const NO_START = new Set(['RUNNING', 'DEGRADED', 'DEPLOYING', 'CREATING', 'STARTING', 'DELETING']);
const NO_STOP = new Set(['STOPPED', 'STOPPING', 'DELETING']);

// deleteQuestion says what deleting an item takes with it.
/** @param {any} r an inventory item */
function deleteQuestion(r) {
  const what = `${r.type} ${r.name || r.id}${r.namespace ? ` in ${r.namespace}` : ''} on ${r.target}`;
  switch (r.type) {
    case 'service':
      return `Delete ${what}? Its replicas stop and its revisions are removed. This cannot be undone.`;
    case 'environment':
      return `Delete ${what}? Its workspace data is deleted with it. This cannot be undone.`;
    default:
      return `Delete ${what}? This cannot be undone.`;
  }
}

/**
 * @param {import('./page.js').Page} page
 * @param {HTMLElement} root
 */
export default function infrastructurePage(page, root) {
  document.title = 'Infrastructure · berth';
  const canOperate = session.can('operator');
  let type = page.query.get('type') || '';
  /** @type {any[]} */
  let all = [];

  const typeSel = h('select', { testid: 'infra-type', on: { change: () => { type = typeSel.value; render(); } } });
  const search = h('input', { type: 'search', placeholder: 'filter by name', testid: 'infra-search', on: { input: () => render() } });
  const targets = h('div', { class: 'chips' });
  const headers = ['Type', 'Name', 'Target', 'Namespace', 'Status', 'Managed', 'Details'];
  if (canOperate) headers.push('');
  const t = table('infra-table', headers);
  const info = h('span', { class: 'muted' });
  const note = canOperate ? null : h('p', { class: 'muted small' }, 'Viewers see services and environments; runtime items (processes, pods, volumes) are listed for operators.');

  set(root,
    h('div', { class: 'page-head' }, h('h1', null, 'Infrastructure'),
      h('div', { class: 'tools' }, field('Type', typeSel), field('Filter', search),
        h('button', { type: 'button', testid: 'infra-refresh', on: { click: () => w.now() } }, 'Refresh'))),
    h('section', { class: 'panel' }, h('h2', null, 'Targets'), targets),
    note,
    h('section', { class: 'panel flush' }, t.el, h('div', { class: 'pager' }, info)));

  /** @param {Record<string, any> | undefined} d */
  function details(d) {
    if (!d) return '';
    return Object.entries(d).filter(([, v]) => v !== '' && v !== null && typeof v !== 'object')
      .map(([k, v]) => `${k} ${v}`).join(' · ');
  }

  /** @param {any} r an inventory item */
  function row(r) {
    const acts = [];
    if (canOperate) {
      if (STARTABLE.has(r.type)) {
        const st = String(r.status || '').toUpperCase();
        acts.push(h('button', { type: 'button', class: 'small', testid: 'infra-start', disabled: NO_START.has(st), on: { click: (ev) => run(ev.currentTarget, r, 'start') } }, 'Start'),
          h('button', { type: 'button', class: 'small', testid: 'infra-stop', disabled: NO_STOP.has(st), on: { click: (ev) => run(ev.currentTarget, r, 'stop') } }, 'Stop'));
      }
      acts.push(h('button', { type: 'button', class: 'small danger', testid: 'infra-delete', on: { click: (ev) => run(ev.currentTarget, r, 'delete') } }, 'Delete'));
    }
    const cells = [
      h('td', null, h('span', { class: 'tag' }, r.type)),
      h('td', null, h('span', { class: 'strong' }, r.name || r.id), r.orphaned ? h('span', { class: 'tag bad', testid: 'infra-orphaned', title: 'labelled as berth\'s, but berth has no such object' }, 'orphaned') : null,
        r.name && r.id !== r.name ? h('div', { class: 'muted small' }, r.id) : null),
      h('td', null, r.target), h('td', null, r.namespace || ''), h('td', null, badge(String(r.status || '').toUpperCase())),
      h('td', null, r.managed ? 'berth' : 'external'), h('td', { class: 'small muted' }, details(r.details)),
    ];
    if (canOperate) cells.push(h('td', { class: 'row-actions' }, acts));
    return h('tr', { testid: 'infra-row', data: { type: r.type, id: r.id, target: r.target } }, cells);
  }

  function render() {
    const needle = search.value.trim().toLowerCase();
    const shown = all.filter((r) => (!type || r.type === type) &&
      (!needle || `${r.name} ${r.id} ${r.namespace || ''}`.toLowerCase().includes(needle)));
    set(t.tbody, shown.length ? shown.map(row) : empty('Nothing here.', headers.length));
    const orphans = shown.filter((r) => r.orphaned).length;
    info.textContent = `${shown.length} of ${all.length} item${all.length === 1 ? '' : 's'}${orphans ? ` · ${orphans} orphaned` : ''}`;
  }

  /** @param {AbortSignal} signal */
  async function load(signal) {
    /** @type {{resources?: any[], targets?: any[]}} */
    let res;
    try {
      res = await api('/infrastructure', { signal });
    } catch {
      return;
    }
    if (signal.aborted) return;
    all = res.resources || [];
    const types = [...new Set(all.map((r) => r.type))].sort();
    if (type && !types.includes(type)) types.push(type);
    set(typeSel, h('option', { value: '' }, 'All types'), types.map((x) => h('option', { value: x, selected: x === type }, x)));
    set(targets, (res.targets || []).map((x) => h('span', { class: `target-chip ${x.reachable ? 'up' : 'down'}`, testid: 'infra-target', title: x.error || '' },
      badge(x.reachable ? 'UP' : 'DOWN'), ' ', h('b', null, x.name), ' ', h('span', { class: 'muted' }, `${x.provider.toLowerCase()}${x.region ? ` ${x.region}` : ''}`),
      x.error ? h('span', { class: 'small bad-text' }, ` ${x.error}`) : null)));
    render();
  }

  /**
   * @param {HTMLButtonElement} b
   * @param {any} r
   * @param {'start' | 'stop' | 'delete'} action
   */
  async function run(b, r, action) {
    if (action === 'delete' && !(await confirm(deleteQuestion(r), 'Delete'))) return;
    const path = `/infrastructure/${encodeURIComponent(r.type)}/${encodeURIComponent(r.id)}${action === 'delete' ? '' : `/${action}`}${q({ target: r.target })}`;
    await act(b, () => api(path, { method: action === 'delete' ? 'DELETE' : 'POST' }));
    if (page.alive) w.reload(); // done or refused: the rows (and their buttons) show the state now
  }

  const w = page.watch(['services', 'environments'], load, { delay: 1500 });
}
