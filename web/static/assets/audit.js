// Audit: the log of every mutating call, newest first, filtered by type
// (the verb), user (admins) and status; paged; new entries arrive live.
import { h, set, badge, time, table, empty, coalesce, field } from './dom.js';
import { api, q, session } from './api.js';

const PAGE_SIZE = 50;
const TYPES = ['apply', 'create', 'update', 'delete', 'start', 'stop', 'restart', 'scale', 'rollback', 'config', 'login', 'logout'];

export default function auditPage(page, root) {
  document.title = 'Audit · berth';
  const isAdmin = session.can('admin');
  const f = { type: page.query.get('type') || '', user: page.query.get('user') || '', status: page.query.get('status') || '' };
  let pageNo = Math.max(1, Number(page.query.get('page')) || 1);
  let total = 0;

  const typeIn = h('input', { list: 'audit-types', value: f.type, placeholder: 'any', testid: 'audit-filter-type', size: '10', spellcheck: 'false' });
  const types = h('datalist', { id: 'audit-types' }, TYPES.map((x) => h('option', { value: x })));
  const userIn = isAdmin ? h('input', { value: f.user, placeholder: 'anyone', testid: 'audit-filter-user', size: '12', spellcheck: 'false' }) : null;
  const statusSel = h('select', { testid: 'audit-filter-status' },
    [['', 'any'], ['completed', 'completed'], ['failed', 'failed']].map(([v, l]) => h('option', { value: v, selected: v === f.status }, l)));
  const form = h('form', { class: 'tools', novalidate: true, on: { submit: (ev) => { ev.preventDefault(); apply(); } } },
    field('Type', typeIn), types, userIn ? field('User', userIn) : null, field('Status', statusSel),
    h('button', { type: 'submit', testid: 'audit-filter-submit' }, 'Filter'));
  statusSel.addEventListener('change', () => apply());
  const t = table('audit-table', ['Time', 'User', 'Action', 'Type', 'Resource', 'Target', 'Status', 'Duration', 'Error']);
  const info = h('span', { class: 'muted' });
  const prev = h('button', { type: 'button', testid: 'audit-prev', on: { click: () => { pageNo--; syncHash(); load(); } } }, '← Newer');
  const next = h('button', { type: 'button', testid: 'audit-next', on: { click: () => { pageNo++; syncHash(); load(); } } }, 'Older →');

  set(root,
    h('div', { class: 'page-head' }, h('h1', null, 'Audit log'), form),
    isAdmin ? null : h('p', { class: 'muted small' }, 'You see your own entries; admins see everyone\'s.'),
    h('section', { class: 'panel flush' }, t.el, h('div', { class: 'pager' }, prev, info, next)));

  function apply() {
    f.type = typeIn.value.trim();
    f.user = userIn ? userIn.value.trim() : '';
    f.status = statusSel.value;
    pageNo = 1;
    syncHash();
    load();
  }

  function syncHash() {
    history.replaceState(null, '', `#/audit${q({ ...f, page: pageNo > 1 ? pageNo : '' })}`);
  }

  function row(e) {
    return h('tr', { testid: 'audit-row', data: { id: String(e.id) }, class: e.status === 'failed' ? 'failed' : '' },
      h('td', { class: 'nowrap' }, h('time', { datetime: e.timestamp, title: e.timestamp }, time(e.timestamp))),
      h('td', { testid: 'audit-user' }, e.user || e.userId || ''),
      h('td', null, h('code', null, e.action)),
      h('td', { testid: 'audit-type' }, e.type),
      h('td', null, e.resourceType ? h('span', { class: 'muted' }, `${e.resourceType} `) : null, e.resource || ''),
      h('td', null, e.target || ''),
      h('td', null, h('span', { testid: 'audit-status', class: e.status === 'completed' ? 'status s-ok' : 'status s-bad' }, e.status)),
      h('td', { class: 'num' }, `${e.durationMs} ms`),
      h('td', { class: 'small clip', title: e.error || '' }, e.error || ''));
  }

  async function load() {
    let res;
    try {
      res = await api(`/logs${q({ ...f, page: pageNo, pageSize: PAGE_SIZE })}`);
    } catch {
      return;
    }
    if (!page.alive) return;
    total = res.total;
    set(t.tbody, res.logs.length ? res.logs.map(row) : empty('No entries match.', 9));
    const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
    info.textContent = `${total} entr${total === 1 ? 'y' : 'ies'} · page ${pageNo} of ${pages}`;
    prev.disabled = pageNo <= 1;
    next.disabled = pageNo >= pages;
  }

  const reload = coalesce(load, 500);
  page.live('audit', () => {
    if (pageNo === 1) reload();
  });
  page.onResync(reload);
  page.cleanup(() => reload.cancel());
  load();
}
