// @ts-check
// Recommendations: filter (status, kind, target, service), a paged list,
// and the chosen one's detail: why (evidence, with a chart of the series,
// its p95 or peak and the proposed value), current → proposed, the saving,
// apply and reject with a reason (operators), and what apply did.
import { h, set, badge, timeCell, table, empty, field, confirm, checkbox } from './dom.js';
import { api, act, q, session } from './api.js';
import { pager, parsePage } from './pager.js';
import { plot } from './chart.js';
import { columns, seriesOf } from './chart-data.js';
import {
  STATUSES, KINDS, saving, stateRows, evidenceRows, resultRows, chartMarks, perReplica, subjectText, listQuery,
} from './rec-view.js';

const PAGE_SIZE = 20;

// statusParam reads the status filter of the hash: OPEN unless given, "any" for none.
/** @param {string | null} v */
const statusParam = (v) => (v === null ? 'OPEN' : v === 'any' ? '' : v);

/**
 * @param {import('./page.js').Page} page
 * @param {HTMLElement} root
 */
export default function recommendationsPage(page, root) {
  document.title = 'Recommendations · berth';
  const canOperate = session.can('operator');
  const f = {
    status: statusParam(page.query.get('status')), kind: page.query.get('kind') || '',
    target: page.query.get('target') || '', service: page.query.get('service') || '',
  };
  let chosen = page.query.get('id') || '';

  /** @type {(testid: string, value: string, opts: string[], any: string) => HTMLSelectElement} */
  const select = (testid, value, opts, any) => h('select', { testid },
    h('option', { value: '' }, any), opts.map((o) => h('option', { value: o, selected: o === value }, o)));
  const statusSel = select('rec-filter-status', f.status, STATUSES, 'any');
  const kindSel = select('rec-filter-kind', f.kind, KINDS, 'any');
  const targetSel = select('rec-filter-target', f.target, f.target ? [f.target] : [], 'any');
  const serviceIn = h('input', { value: f.service, placeholder: 'any', testid: 'rec-filter-service', size: '14', spellcheck: 'false' });
  const form = h('form', { class: 'tools', novalidate: true, on: { submit: (ev) => { ev.preventDefault(); filter(); } } },
    field('Status', statusSel), field('Kind', kindSel), field('Target', targetSel), field('Service', serviceIn),
    h('button', { type: 'submit', testid: 'rec-filter-submit' }, 'Filter'));
  for (const s of [statusSel, kindSel, targetSel]) s.addEventListener('change', () => filter());
  const refresh = canOperate ? h('button', { type: 'button', testid: 'rec-refresh', on: { click: (ev) => onRefresh(ev.currentTarget) } }, 'Refresh now') : null;

  const t = table('rec-table', ['Recommendation', 'Kind', 'Subject', 'Target', 'Status', 'Confidence', 'Saving', 'Updated']);
  const pages = pager({ size: PAGE_SIZE, noun: ['recommendation', 'recommendations'], page: parsePage(page.query.get('page')), testid: 'rec',
    onChange: () => { syncHash(); w.now(); } });
  const total = h('span', { class: 'muted', testid: 'rec-total-saving' });
  const detail = h('section', { class: 'panel', testid: 'rec-detail', hidden: true });

  set(root,
    h('div', { class: 'page-head' }, h('div', null, h('h1', null, 'Recommendations'), total), h('div', { class: 'row' }, form, refresh)),
    h('section', { class: 'panel flush' }, t.el, pages.el),
    detail);

  function filter() {
    f.status = statusSel.value;
    f.kind = kindSel.value;
    f.target = targetSel.value;
    f.service = serviceIn.value.trim();
    pages.page = 1;
    syncHash();
    w.now();
  }

  function syncHash() {
    history.replaceState(null, '', `#/recommendations${q({ ...f, status: f.status || 'any', page: pages.page > 1 ? pages.page : '', id: chosen })}`);
  }

  /** @param {any} r a recommendation */
  function row(r) {
    const pick = () => { chosen = r.id; syncHash(); void showDetail(r.id); };
    return h('tr', { testid: 'rec-row', data: { id: r.id, kind: r.kind, status: r.status }, class: r.id === chosen ? 'current' : '' },
      h('td', null, h('button', { type: 'button', class: 'link', testid: 'rec-open', on: { click: pick } }, r.title || r.kind),
        r.source === 'ai-engine' ? h('span', { class: 'tag' }, 'AI engine') : null),
      h('td', null, r.kind), h('td', null, subjectText(r)), h('td', null, r.target || ''),
      h('td', null, badge(r.status, 'rec-status')), h('td', null, r.confidence || ''),
      h('td', { class: 'nowrap', testid: 'rec-saving' }, saving(r.monthlySaving)), h('td', null, timeCell(r.updatedAt)));
  }

  /** @param {AbortSignal} signal */
  async function load(signal) {
    let res;
    try {
      res = await api(`/recommendations${q(listQuery(f, pages.page, PAGE_SIZE))}`, { signal });
    } catch {
      return;
    }
    if (signal.aborted) return;
    const list = res.recommendations || [];
    set(t.tbody, list.length ? list.map(row) : empty(f.status === 'OPEN' ? 'No open recommendations: nothing to change for now.' : 'No recommendations match.', 8));
    pages.show(res.total);
    const sum = list.filter((/** @type {any} */ r) => r.status === 'OPEN' && r.monthlySaving && r.monthlySaving.amount)
      .reduce((/** @type {number} */ a, /** @type {any} */ r) => a + r.monthlySaving.amount, 0);
    const cur = list.find((/** @type {any} */ r) => r.monthlySaving && r.monthlySaving.currency);
    total.textContent = sum ? `open on this page: ${saving({ amount: sum, currency: cur ? cur.monthlySaving.currency : '' })}` : '';
    if (chosen && !detail.dataset.id) void showDetail(chosen);
  }

  async function loadTargets() {
    try {
      const res = await api('/targets', { quiet: true, signal: page.signal });
      set(targetSel, h('option', { value: '' }, 'any'),
        (res.targets || []).map((/** @type {any} */ tg) => h('option', { value: tg.name, selected: tg.name === f.target }, tg.name)));
    } catch {
      // the filter keeps what it has
    }
  }

  /** @param {string} id */
  async function showDetail(id) {
    let res;
    try {
      res = await api(`/recommendations/${encodeURIComponent(id)}`, { signal: page.signal });
    } catch {
      return;
    }
    if (!page.alive) return;
    renderDetail(res.recommendation);
  }

  /** @param {any} r */
  function renderDetail(r) {
    detail.hidden = false;
    detail.dataset.id = r.id;
    detail.dataset.status = r.status;
    const chart = h('div', { class: 'charts' });
    const result = h('div', { testid: 'rec-result' });
    renderResult(result, r);
    set(detail,
      h('div', { class: 'panel-head' }, h('h2', { testid: 'rec-title' }, r.title || r.kind), badge(r.status, 'rec-detail-status'),
        r.confidence ? h('span', { class: 'tag' }, `${r.confidence} confidence`) : null),
      h('p', { testid: 'rec-reason' }, r.reason || ''),
      h('p', { class: 'meta' }, subjectText(r), ' · target ', h('b', null, r.target || ''), ' · ', r.source === 'ai-engine' ? 'from the AI engine' : 'from berth',
        ' · created ', timeCell(r.createdAt), r.monthlySaving && r.monthlySaving.amount ? [' · ', h('b', { testid: 'rec-detail-saving' }, saving(r.monthlySaving))] : null),
      h('div', { class: 'grid2' },
        h('div', null, h('h3', null, 'Change'), changeTable(r)),
        h('div', null, h('h3', null, 'Evidence'), h('dl', { class: 'spec', testid: 'rec-evidence' },
          evidenceRows(r.evidence).flatMap(([k, v]) => [h('dt', null, k), h('dd', null, v)])))),
      r.command ? h('div', null, h('h3', null, 'For whoever manages it'), h('pre', { testid: 'rec-command' }, r.command)) : null,
      chart,
      canOperate && r.status === 'OPEN' ? actions(r) : null,
      result);
    void drawChart(chart, r);
  }

  /** @param {any} r */
  function changeTable(r) {
    const rows = stateRows(r.current, r.proposed);
    return h('table', { class: 'kv', testid: 'rec-change' }, h('thead', null, h('tr', null, h('th', null, ''), h('th', null, 'Current'), h('th', null, 'Proposed'))),
      h('tbody', null, rows.length ? rows.map(([k, c, p]) => h('tr', { testid: 'rec-change-row', data: { field: k } },
        h('td', null, h('code', null, k)), h('td', null, c), h('td', { class: 'strong' }, p))) : empty('Nothing to compare.', 3)));
  }

  /** @param {HTMLElement} el @param {any} r */
  function renderResult(el, r) {
    const rows = resultRows(r.result);
    set(el, r.status === 'APPLIED' || r.status === 'FAILED' || r.status === 'REJECTED' ? [
      h('h3', null, r.status === 'REJECTED' ? 'Rejected' : 'What apply did'),
      h('p', { class: 'meta' }, r.appliedBy ? ['applied by ', h('b', null, r.appliedBy), ' ', timeCell(r.appliedAt)] : null,
        r.rejectedBy ? ['rejected by ', h('b', null, r.rejectedBy), r.rejectReason ? `: ${r.rejectReason}` : ''] : null),
      rows.length ? h('dl', { class: 'spec' }, rows.flatMap(([k, v]) => [h('dt', null, k), h('dd', null, v)])) : null,
    ] : []);
  }

  /** @param {any} r */
  function actions(r) {
    const reason = h('input', { placeholder: 'why not (required)', testid: 'rec-reject-reason', size: '28', maxlength: '500' });
    return h('div', { class: 'actions row' },
      h('button', { type: 'button', class: 'primary', testid: 'rec-apply', on: { click: (ev) => onApply(ev.currentTarget, r) } }, 'Apply'),
      h('span', { class: 'sep' }),
      h('form', { class: 'inline', novalidate: true, on: { submit: (ev) => { ev.preventDefault(); onReject(/** @type {HTMLButtonElement} */ (ev.currentTarget.querySelector('button')), r, reason); } } },
        reason, h('button', { type: 'submit', testid: 'rec-reject' }, 'Reject')));
  }

  /** @param {HTMLButtonElement} b @param {any} r */
  async function onApply(b, r) {
    const keep = r.kind === 'delete-dormant' ? checkbox('Keep the volume', 'rec-keep-volume', true) : null;
    if (!(await confirm(`${r.title || r.kind}: apply it now? ${r.reason || ''}`, 'Apply', keep ? keep.el : null))) return;
    const body = keep ? { keepVolume: keep.input.checked } : undefined;
    const res = await act(b, () => api(`/recommendations/${encodeURIComponent(r.id)}/apply`, { method: 'POST', body }));
    if (res && res.recommendation) renderDetail(res.recommendation);
    w.now();
  }

  /** @param {HTMLButtonElement} b @param {any} r @param {HTMLInputElement} reason */
  async function onReject(b, r, reason) {
    const why = reason.value.trim();
    if (!why) {
      reason.setCustomValidity('Say why, so that others see it.');
      reason.reportValidity();
      reason.setCustomValidity('');
      return;
    }
    const res = await act(b, () => api(`/recommendations/${encodeURIComponent(r.id)}/reject`, { method: 'POST', body: { reason: why } }), 'Rejected');
    if (res) await showDetail(r.id);
    w.now();
  }

  /** @param {HTMLButtonElement} b */
  async function onRefresh(b) {
    await act(b, () => api('/recommendations/refresh', { method: 'POST' }), 'Recommendations refreshed');
    w.now();
  }

  /**
   * drawChart plots the subject's CPU and memory over the evidence window
   * (a service's per replica, as its requests are), with the lines of
   * chartMarks.
   * @param {HTMLElement} el @param {any} r
   */
  async function drawChart(el, r) {
    const s = r.subject || {};
    if (s.type !== 'service' && s.type !== 'environment') return;
    const params = s.type === 'service' ? { service: s.name, target: r.target, namespace: r.namespace } : { environment: s.id };
    let res;
    try {
      res = await api(`/metrics/history${q({ ...params, range: (r.evidence && r.evidence.window) || '7d', metric: 'cpu,memory' })}`, { quiet: true, signal: page.signal });
    } catch {
      set(el, h('p', { class: 'muted small' }, 'No history to draw.'));
      return;
    }
    if (!page.alive || detail.dataset.id !== r.id) return;
    const replicas = s.type === 'service' ? (r.current && r.current.replicas) || 1 : 1;
    for (const m of /** @type {const} */ (['cpu', 'memory'])) {
      const box = h('div', { class: 'chart', testid: `rec-chart-${m}` });
      el.appendChild(h('div', null, h('h3', null, `${m === 'cpu' ? 'CPU' : 'Memory'}${s.type === 'service' ? ' per replica' : ''} over ${res.range}`), box));
      const cols = columns(perReplica(seriesOf(res, m), replicas), [], 0);
      const u = plot(box, m, cols, chartMarks(r, m));
      box.dataset.points = String(cols.points);
      page.cleanup(() => u.destroy());
    }
  }

  const w = page.watch(['recommendations'], load, { delay: 500 });
  void loadTargets();
}
