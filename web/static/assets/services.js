// Services: every service of every target (paged), filtered by target,
// updated live from "services" events.
import { h, set, badge, updateBadge, timeCell, table, empty, coalesce, field } from './dom.js';
import { api, q } from './api.js';

const PAGE_SIZE = 50;

export function serviceKey(s) {
  return `${s.target}|${s.namespace || ''}|${s.name}`;
}

// serviceHref links to a service's page: ns/name escaped as one segment,
// and ?target= unless it is on the default target.
export function serviceHref(s, defaultTarget) {
  const full = s.namespace ? `${s.namespace}/${s.name}` : s.name;
  return `#/services/${encodeURIComponent(full)}${q({ target: s.target === defaultTarget ? '' : s.target })}`;
}

export default function servicesPage(page, root) {
  document.title = 'Services · berth';
  let pageNo = Math.max(1, Number(page.query.get('page')) || 1);
  let target = page.query.get('target') || '';
  let total = 0;
  let defaultTarget = '';
  const rows = new Map(); // key → {tr, status, replicas}

  const targetSel = h('select', { testid: 'services-target', on: { change: () => { target = targetSel.value; pageNo = 1; syncHash(); load(); } } },
    h('option', { value: '' }, 'All targets'));
  const unreachable = h('div', { class: 'banner warn', testid: 'services-unreachable', hidden: true });
  const t = table('services-table', ['Name', 'Status', 'Replicas', 'Target', 'Namespace', 'Revision', 'Managed', 'Updated']);
  const info = h('span', { class: 'muted' });
  const prev = h('button', { type: 'button', testid: 'services-prev', on: { click: () => { pageNo--; syncHash(); load(); } } }, '← Previous');
  const next = h('button', { type: 'button', testid: 'services-next', on: { click: () => { pageNo++; syncHash(); load(); } } }, 'Next →');

  set(root,
    h('div', { class: 'page-head' }, h('h1', null, 'Services'), h('div', { class: 'tools' }, field('Target', targetSel))),
    unreachable,
    h('section', { class: 'panel flush' }, t.el, h('div', { class: 'pager' }, prev, info, next)));

  function syncHash() {
    const hash = `#/services${q({ target, page: pageNo > 1 ? pageNo : '' })}`;
    history.replaceState(null, '', hash);
  }

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

  function update(r, s) {
    updateBadge(r.status, s.status);
    r.replicas.textContent = `${s.readyReplicas}/${s.replicas}`;
    r.revision.textContent = s.revision ? String(s.revision) : '—';
    set(r.updated, timeCell(s.updatedAt));
  }

  async function loadTargets() {
    try {
      const res = await api('/targets');
      if (!page.alive) return;
      defaultTarget = (res.targets.find((x) => x.default) || {}).name || '';
      set(targetSel, h('option', { value: '' }, 'All targets'),
        res.targets.map((x) => h('option', { value: x.name, selected: x.name === target }, `${x.name} (${x.provider.toLowerCase()})`)));
    } catch {
      // toasted
    }
  }

  async function load() {
    let res;
    try {
      res = await api(`/services${q({ target, page: pageNo, pageSize: PAGE_SIZE })}`);
    } catch {
      return;
    }
    if (!page.alive) return;
    total = res.total;
    rows.clear();
    if (res.services.length === 0) {
      set(t.tbody, empty(target ? `No services on ${target}.` : 'No services yet. Create one with: berth svc apply -f examples/web.yaml', 8));
    } else {
      set(t.tbody, res.services.map((s) => {
        const r = row(s);
        rows.set(serviceKey(s), r);
        return r.tr;
      }));
    }
    const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
    info.textContent = `${total} service${total === 1 ? '' : 's'} · page ${pageNo} of ${pages}`;
    prev.disabled = pageNo <= 1;
    next.disabled = pageNo >= pages;
    const un = res.unreachable || [];
    unreachable.hidden = un.length === 0;
    set(unreachable, un.length ? ['Unreachable: ', un.map((u) => `${u.name}${u.error ? ` (${u.error})` : ''}`).join('; '),
      ' — services berth did not create on these targets are not listed.'] : []);
  }

  const reload = coalesce(load, 300);
  page.live('services', (e) => {
    const s = e.data;
    if (!s || (target && s.target !== target)) return;
    const key = serviceKey(s);
    const r = rows.get(key);
    if (e.type === 'service.deleted') {
      if (r) {
        r.tr.remove();
        rows.delete(key);
      }
      reload(); // totals and paging
      return;
    }
    if (r) update(r, s);
    else reload(); // a new service: where it goes depends on the order
  });
  page.onResync(reload);
  page.cleanup(() => reload.cancel());
  loadTargets().then(load);
}
