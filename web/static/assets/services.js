// @ts-check
// Services: every service of every target (paged), filtered by target,
// updated live from "services" events; operators create new ones here.
import { h, set, badge, updateBadge, timeCell, table, empty, field } from './dom.js';
import { api, q, session } from './api.js';
import { serviceHref, serviceKey } from './links.js';
import { pager, parsePage } from './pager.js';
import { serviceForm } from './service-form.js';

const PAGE_SIZE = 50;

/**
 * @param {import('./page.js').Page} page
 * @param {HTMLElement} root
 */
export default function servicesPage(page, root) {
  document.title = 'Services · berth';
  let target = page.query.get('target') || '';
  let defaultTarget = '';
  let targetsRead = false;
  const canOperate = session.can('operator');
  /** @type {Map<string, ReturnType<typeof row>>} */
  const rows = new Map();

  const targetSel = h('select', { testid: 'services-target', on: { change: () => { target = targetSel.value; pages.page = 1; syncHash(); w.now(); } } },
    h('option', { value: '' }, 'All targets'));
  const unreachable = h('div', { class: 'banner warn', testid: 'services-unreachable', hidden: true });
  const t = table('services-table', ['Name', 'Status', 'Replicas', 'Target', 'Namespace', 'Revision', 'Managed', 'Updated']);
  const form = canOperate ? serviceForm({ page }) : null;
  const pages = pager({ size: PAGE_SIZE, noun: ['service', 'services'], page: parsePage(page.query.get('page')), testid: 'services',
    onChange: () => { syncHash(); w.now(); } });

  set(root,
    h('div', { class: 'page-head' }, h('h1', null, 'Services'), h('div', { class: 'tools' }, field('Target', targetSel))),
    form && form.el,
    unreachable,
    h('section', { class: 'panel flush' }, t.el, pages.el));

  function syncHash() {
    const hash = `#/services${q({ target, page: pages.page > 1 ? pages.page : '' })}`;
    history.replaceState(null, '', hash);
  }

  /** @param {any} s a service of the list */
  function row(s) {
    const status = badge(s.status, 'service-status');
    const replicas = h('td', { class: 'num', testid: 'service-replicas' }, `${s.readyReplicas}/${s.replicas}`);
    const revision = h('td', { class: 'num' }, s.revision ? String(s.revision) : '—');
    const updated = h('td', null, timeCell(s.updatedAt));
    const tr = h('tr', { testid: 'service-row', data: { name: s.name, target: s.target } },
      h('td', null, h('a', { href: serviceHref(s, defaultTarget), testid: 'service-name' }, s.name),
        s.message ? h('div', { class: 'muted small clip', title: s.message }, s.message) : null),
      h('td', null, status), replicas,
      h('td', { testid: 'service-target' }, s.target), h('td', null, s.namespace || ''), revision,
      h('td', null, s.managed ? 'berth' : 'external'), updated);
    return { tr, status, replicas, revision, updated };
  }

  /**
   * @param {ReturnType<typeof row>} r
   * @param {any} s
   */
  function update(r, s) {
    updateBadge(r.status, s.status);
    r.replicas.textContent = `${s.readyReplicas}/${s.replicas}`;
    r.revision.textContent = s.revision ? String(s.revision) : '—';
    set(r.updated, timeCell(s.updatedAt));
  }

  /** @param {AbortSignal} signal */
  async function loadTargets(signal) {
    /** @type {{targets: any[]}} */
    let res;
    try {
      res = await api('/targets', { signal });
    } catch {
      return; // toasted
    }
    if (signal.aborted) return;
    targetsRead = true;
    defaultTarget = (res.targets.find((x) => x.default) || {}).name || '';
    set(targetSel, h('option', { value: '' }, 'All targets'),
      res.targets.map((x) => h('option', { value: x.name, selected: x.name === target }, `${x.name} (${x.provider.toLowerCase()})`)));
    if (form) form.setTargets(res.targets, defaultTarget);
  }

  /** @param {AbortSignal} signal */
  async function load(signal) {
    if (!targetsRead) await loadTargets(signal);
    /** @type {{services: any[], total: number, unreachable?: any[]}} */
    let res;
    try {
      res = await api(`/services${q({ target, page: pages.page, pageSize: PAGE_SIZE })}`, { signal });
    } catch {
      return;
    }
    if (signal.aborted) return;
    rows.clear();
    if (res.services.length === 0) {
      set(t.tbody, empty(target ? `No services on ${target}.` : `No services yet. Create one ${canOperate ? 'above, or ' : ''}with: berth svc apply -f examples/web.yaml`, 8));
    } else {
      set(t.tbody, res.services.map((s) => {
        const r = row(s);
        rows.set(serviceKey(s), r);
        return r.tr;
      }));
    }
    pages.show(res.total);
    const un = res.unreachable || [];
    unreachable.hidden = un.length === 0;
    set(unreachable, un.length ? ['Unreachable: ', un.map((u) => `${u.name}${u.error ? ` (${u.error})` : ''}`).join('; '),
      ' — services berth did not create on these targets are not listed.'] : []);
  }

  // Known rows change in place; a new or deleted service re-reads the
  // page (where it goes depends on the order; totals and paging).
  const w = page.watch(['services'], load, {
    event(e) {
      const s = e.data;
      if (!s || (target && s.target !== target)) return false;
      const key = serviceKey(s);
      const r = rows.get(key);
      if (e.type === 'service.deleted') {
        if (r) {
          r.tr.remove();
          rows.delete(key);
        }
        return true;
      }
      if (r) update(r, s);
      return !r;
    },
  });
}
