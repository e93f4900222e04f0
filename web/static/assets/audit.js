// @ts-check
// Audit: the log of every mutating call, newest first, filtered by type
// (the verb), user (admins) and status; paged; new entries arrive live.
import { h, set, time, table, empty, field } from './dom.js';
import { api, q, session } from './api.js';
import { pager, parsePage } from './pager.js';

const PAGE_SIZE = 50;
const TYPES = ['apply', 'create', 'update', 'delete', 'start', 'stop', 'restart', 'scale', 'rollback', 'config', 'login', 'logout'];

/**
 * @param {import('./page.js').Page} page
 * @param {HTMLElement} root
 */
export default function auditPage(page, root) {
  document.title = 'Audit · berth';
  const isAdmin = session.can('admin');
  const f = { type: page.query.get('type') || '', user: page.query.get('user') || '', status: page.query.get('status') || '' };

  const typeIn = h('input', { list: 'audit-types', value: f.type, placeholder: 'any', testid: 'audit-filter-type', size: '10', spellcheck: 'false' });
  const types = h('datalist', { id: 'audit-types' }, TYPES.map((x) => h('option', { value: x })));
  const userIn = isAdmin ? h('input', { value: f.user, placeholder: 'anyone', testid: 'audit-filter-user', size: '12', spellcheck: 'false' }) : null;
  const statusSel = h('select', { testid: 'audit-filter-status' },
    [['', 'any'], ['completed', 'completed'], ['failed', 'failed']].map(([v, l]) => h('option', { value: v, selected: v === f.status }, l)));
  const form = h('form', { class: 'tools', novalidate: true, on: { submit: (/** @type {Event} */ ev) => { ev.preventDefault(); apply(); } } },
    field('Type', typeIn), types, userIn ? field('User', userIn) : null, field('Status', statusSel),
    h('button', { type: 'submit', testid: 'audit-filter-submit' }, 'Filter'));
  statusSel.addEventListener('change', () => apply());
  const t = table('audit-table', ['Time', 'User', 'Action', 'Type', 'Resource', 'Target', 'Status', 'Duration', 'Error']);
  const pages = pager({ size: PAGE_SIZE, noun: ['entry', 'entries'], page: parsePage(page.query.get('page')), testid: 'audit',
    labels: ['← Newer', 'Older →'], onChange: () => { syncHash(); w.now(); } });

  set(root,
    h('div', { class: 'page-head' }, h('h1', null, 'Audit log'), form),
    isAdmin ? null : h('p', { class: 'muted small' }, 'You see your own entries; admins see everyone\'s.'),
    h('section', { class: 'panel flush' }, t.el, pages.el));

  function apply() {
    f.type = typeIn.value.trim();
    f.user = userIn ? userIn.value.trim() : '';
    f.status = statusSel.value;
    pages.page = 1;
    syncHash();
    w.now();
  }

  function syncHash() {
    history.replaceState(null, '', `#/audit${q({ ...f, page: pages.page > 1 ? pages.page : '' })}`);
  }

  /** @param {any} e an audit entry */
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

  /** @param {AbortSignal} signal */
  async function load(signal) {
    let res;
    try {
      res = await api(`/logs${q({ ...f, page: pages.page, pageSize: PAGE_SIZE })}`, { signal });
    } catch {
      return;
    }
    if (signal.aborted) return;
    set(t.tbody, res.logs.length ? res.logs.map(row) : empty('No entries match.', 9));
    pages.show(res.total);
  }

  // New entries arrive on the first page; older pages stay as they are.
  const w = page.watch(['audit'], load, { delay: 500, event: () => pages.page === 1 });
}
