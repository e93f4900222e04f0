// @ts-check
// Environments: create (every field of Dev8's request, with what is left of
// the caller's quota), start, stop, delete, open; updated live from
// "environments" events.
import { h, set, badge, updateBadge, timeCell, table, empty, field, safeURL, confirm, checkbox } from './dom.js';
import { api, act, q, session } from './api.js';
import { pager } from './pager.js';
import { usageCharts } from './chart.js';
import { extraFields, quotaLine } from './env-extra.js';

const PAGE_SIZE = 50;

// Statuses in which start or stop has nothing to do (in ERROR and unknown
// ones both stay enabled); while DELETING neither has.
const NO_START = new Set(['CREATING', 'STARTING', 'RUNNING', 'DELETING']);
const NO_STOP = new Set(['STOPPING', 'STOPPED', 'DELETING']);

/**
 * @param {import('./page.js').Page} page
 * @param {HTMLElement} root
 */
export default function environmentsPage(page, root) {
  document.title = 'Environments · berth';
  const canOperate = session.can('operator');
  const isAdmin = session.can('admin');
  let auxRead = false;
  let users = new Map(); // id → username (admins)
  const rows = new Map(); // id → row
  const gone = new Set(); // ids deleted here: late events must not bring them back

  /** @type {(testid: string, min: string, max: string, placeholder: string) => HTMLInputElement} */
  const num = (testid, min, max, placeholder) => h('input', { type: 'number', min, max, step: '1', placeholder, testid, inputmode: 'numeric' });
  const nameIn = h('input', { required: true, maxlength: '63', placeholder: 'my-env', testid: 'env-create-name', autocomplete: 'off', spellcheck: 'false' });
  const cpuIn = num('env-create-cpu', '1', '4', '2');
  const memIn = num('env-create-memory', '1', '16', '4');
  const diskIn = num('env-create-storage', '10', '100', '20');
  const targetSel = h('select', { testid: 'env-create-target' }, h('option', { value: '' }, 'default'));
  const submit = h('button', { type: 'submit', class: 'primary', testid: 'env-create-submit' }, 'Create');
  const extra = extraFields();
  const quota = quotaLine();
  const form = canOperate ? h('form', { class: 'panel create', novalidate: true, on: { submit: onCreate } },
    h('h2', null, 'New environment'), quota.el,
    h('div', { class: 'row wrap' },
      field('Name', nameIn), field('CPU cores (1–4)', cpuIn), field('Memory GB (1–16)', memIn),
      field('Storage GB (10–100)', diskIn), field('Target', targetSel),
      h('div', { class: 'field end' }, submit)), extra.el) : null;

  const headers = ['Name', 'Status', 'Target', 'Size', 'Created', 'Last access', 'Open'];
  if (isAdmin) headers.splice(3, 0, 'Owner');
  if (canOperate) headers.push('');
  const t = table('environments-table', headers);
  const pages = pager({ size: PAGE_SIZE, noun: ['environment', 'environments'], onChange: () => w.now() });

  // Usage history of one environment, chosen with its name; its size is the limit.
  /** @type {any} */
  let charted = null;
  const charts = usageCharts(page, {
    title: 'Usage history',
    limit: (m) => (charted ? (m === 'cpu' ? charted.cpuCores : charted.memoryGB * 2 ** 30) : 0),
  });
  charts.el.hidden = true;
  /** @param {any} env */
  function chart(env) {
    charted = env;
    charts.el.hidden = false;
    const head = charts.el.querySelector('h2');
    if (head) head.textContent = `Usage history of ${env.name}`;
    void charts.show({ environment: env.id });
  }

  set(root, h('div', { class: 'page-head' }, h('h1', null, 'Environments')), form,
    h('section', { class: 'panel flush' }, t.el, pages.el), charts.el);

  /** @param {any} env */
  function openCell(env) {
    const url = safeURL(env.vsCodeUrl);
    return url ? h('a', { href: url, target: '_blank', rel: 'noopener', testid: 'env-open', on: { click: (ev) => openEnv(ev, env) } }, 'Open ↗') : h('span', { class: 'muted' }, '—');
  }

  // openEnv opens an environment in a new tab with a single-use ticket:
  // berth's proxy exchanges it for a cookie of that environment only (a
  // navigation cannot carry the token this page holds). The tab is opened
  // at once, so that the browser does not take it for an unwanted popup.
  /**
   * @param {Event} ev
   * @param {any} env
   */
  async function openEnv(ev, env) {
    ev.preventDefault();
    const w = window.open('about:blank', '_blank');
    if (w) w.opener = null;
    try {
      const o = await api(`/environments/${encodeURIComponent(env.id)}/open`, { method: 'POST' });
      const url = safeURL(o && o.url);
      if (!url) throw new Error('no URL');
      if (w) w.location.href = url; else window.location.assign(url);
    } catch {
      if (w) w.close();
    }
  }

  /** @param {any} env an environment */
  function row(env) {
    const status = badge(env.status, 'env-status');
    const msg = h('div', { class: 'muted small clip', title: env.message || '' }, env.message || '');
    const open = h('td', null, openCell(env));
    const cells = [
      h('td', null, h('span', { testid: 'env-name', class: 'strong' }, env.name), h('div', { class: 'muted small' }, env.id),
        h('button', { type: 'button', class: 'link small', testid: 'env-usage', on: { click: () => chart(current) } }, 'usage')),
      h('td', null, status, msg),
      h('td', null, env.target, env.cloudRegion ? h('span', { class: 'muted small' }, ` ${env.cloudRegion}`) : null),
    ];
    if (isAdmin) cells.push(h('td', null, users.get(env.userId) || env.userId));
    cells.push(h('td', { class: 'nowrap' }, `${env.cpuCores} CPU · ${env.memoryGB} GB · ${env.storageGB} GB`),
      h('td', null, timeCell(env.createdAt)), h('td', null, timeCell(env.lastAccessedAt)), open);
    let current = env; // the last state shown
    const start = h('button', { type: 'button', class: 'small', testid: 'env-start', on: { click: (ev) => action(ev.currentTarget, r, 'start') } }, 'Start');
    const stop = h('button', { type: 'button', class: 'small', testid: 'env-stop', on: { click: (ev) => action(ev.currentTarget, r, 'stop') } }, 'Stop');
    if (canOperate) {
      cells.push(h('td', { class: 'row-actions' }, start, stop,
        h('button', { type: 'button', class: 'small danger', testid: 'env-delete', on: { click: (ev) => remove(ev.currentTarget, current) } }, 'Delete')));
    }
    const tr = h('tr', { testid: 'env-row', data: { id: env.id } }, cells);
    const r = {
      tr,
      get env() { return current; },
      // syncButtons: no start while it runs, no stop while it is stopped
      // (a button whose request runs is left alone).
      syncButtons() {
        const st = String(current.status || '').toUpperCase();
        /** @type {Array<[HTMLButtonElement, boolean]>} */
        const states = [[start, NO_START.has(st)], [stop, NO_STOP.has(st)]];
        for (const [b, off] of states) {
          if (b.dataset.busy) continue;
          b.disabled = off;
          b.title = off ? `the environment is ${st.toLowerCase()}` : '';
        }
      },
      /** @param {any} e */
      update(e) {
        current = e;
        updateBadge(status, e.status);
        msg.textContent = e.message || '';
        msg.title = e.message || '';
        set(open, openCell(e));
        r.syncButtons();
      },
    };
    r.syncButtons();
    return r;
  }

  /** @param {any[]} list */
  function render(list) {
    rows.clear();
    if (!list.length) {
      set(t.tbody, empty(canOperate ? 'No environments yet: create one above.' : 'No environments.', headers.length));
      return;
    }
    set(t.tbody, list.map((env) => {
      const r = row(env);
      rows.set(env.id, r);
      return r.tr;
    }));
  }

  /** @param {AbortSignal} signal */
  async function load(signal) {
    if (!auxRead) await loadAux(signal);
    let res;
    try {
      res = await api(`/environments${q({ page: pages.page, pageSize: PAGE_SIZE })}`, { signal });
    } catch {
      return;
    }
    if (signal.aborted) return;
    render(res.environments);
    pages.show(res.total);
    if (canOperate) quota.refresh(signal);
  }

  // loadAux reads, once, the targets (for the form) and the users (owners' names).
  /** @param {AbortSignal} signal */
  async function loadAux(signal) {
    const jobs = [];
    if (canOperate) {
      jobs.push(api('/targets', { quiet: true, signal }).then((res) => {
        if (signal.aborted) return;
        set(targetSel, h('option', { value: '' }, 'default'),
          res.targets.map((/** @type {any} */ x) => h('option', { value: x.name }, `${x.name} (${x.provider.toLowerCase()}${x.region ? `, ${x.region}` : ''})`)));
      }).catch(() => {}));
    }
    if (isAdmin) {
      jobs.push(api('/users', { quiet: true, signal }).then((res) => {
        users = new Map(res.users.map((/** @type {any} */ u) => [u.id, u.username]));
      }).catch(() => {}));
    }
    await Promise.all(jobs);
    auxRead = !signal.aborted;
  }

  /** @param {Event} ev */
  async function onCreate(ev) {
    ev.preventDefault();
    /** @type {Record<string, string | number>} */
    const body = { name: nameIn.value.trim() };
    /** @type {Array<[string, HTMLInputElement]>} */
    const sizes = [['cpuCores', cpuIn], ['memoryGB', memIn], ['storageGB', diskIn]];
    for (const [k, el] of sizes) {
      if (el.value !== '') body[k] = Number(el.value);
    }
    if (targetSel.value) body.target = targetSel.value;
    extra.collect(body);
    const res = await act(submit, () => api('/environments', { method: 'POST', body }));
    if (!res || !page.alive) return;
    nameIn.value = '';
    extra.clear();
    quota.refresh();
    upsert(res.environment);
    nameIn.focus();
  }

  // Start and stop act at once; delete asks first.
  /**
   * @param {HTMLButtonElement} b
   * @param {ReturnType<typeof row>} r
   * @param {'start' | 'stop'} verb
   */
  async function action(b, r, verb) {
    const env = r.env;
    b.dataset.busy = '1';
    let res;
    try {
      res = await act(b, () => api(`/environments/${encodeURIComponent(env.id)}/${verb}`, { method: 'POST' }));
    } finally {
      delete b.dataset.busy;
      r.syncButtons();
    }
    if (!res || !page.alive) return;
    // Events update the row too; this covers a moment without them.
    try {
      const cur = await api(`/environments/${encodeURIComponent(env.id)}`, { quiet: true });
      if (page.alive) upsert(cur.environment);
    } catch {
      // deleted meanwhile: the event removes it
    }
  }

  /**
   * @param {HTMLButtonElement} b
   * @param {any} env
   */
  async function remove(b, env) {
    const keep = checkbox('keep the workspace volume (its files stay on the target; the environment goes)', 'confirm-keep-volume');
    if (!(await confirm(`Delete environment ${env.name}? Its workspace data is deleted with it unless you keep the volume.`, 'Delete', keep.el))) return;
    const res = await act(b, () => api(`/environments/${encodeURIComponent(env.id)}${q({ keepVolume: keep.input.checked ? 'true' : '' })}`, { method: 'DELETE' }),
      keep.input.checked ? `Environment ${env.name} deleted; its workspace volume is kept` : undefined);
    if (!res || !page.alive) return;
    drop(env.id);
  }

  // drop removes a deleted environment's row for good (a late event must
  // not bring it back) and re-reads the page.
  /** @param {string} id */
  function drop(id) {
    gone.add(id);
    const r = rows.get(id);
    if (r) {
      r.tr.remove();
      rows.delete(id);
    }
    w.reload();
  }

  /** @param {any} env */
  function upsert(env) {
    if (gone.has(env.id)) return;
    const r = rows.get(env.id);
    if (r) {
      r.update(env);
      return;
    }
    if (pages.page !== 1) return;
    if (rows.size === 0) t.tbody.replaceChildren();
    const nr = row(env);
    rows.set(env.id, nr);
    t.tbody.prepend(nr.tr);
  }

  // Events change rows in place; drop re-reads the page (totals, paging).
  const w = page.watch(['environments'], load, {
    event(e) {
      const env = e.data;
      if (!env || !env.id) return false;
      if (e.type === 'environment.deleted') drop(env.id);
      else upsert(env);
      return false;
    },
  });
}
