// @ts-check
// Usage: metered core-, memory- and storage-hours and their cost, as a
// chart per month (the last twelve) and a table grouped as asked; admins
// see every user, everyone else their own.
import { h, set, table, empty, field } from './dom.js';
import { api, q, session } from './api.js';
import { bars } from './quota-view.js';

const SVG = 'http://www.w3.org/2000/svg';
const GROUPS = ['user', 'environment', 'service', 'target', 'day', 'month'];

/**
 * @param {string} tag
 * @param {Record<string, string | number>} attrs
 * @param {...Node} children
 */
function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  el.append(...children);
  return el;
}

/** @param {number} n @param {number} [d] */
const fix = (n, d = 2) => (Math.round(n * 10 ** d) / 10 ** d).toFixed(d);

/**
 * @param {import('./page.js').Page} page
 * @param {HTMLElement} root
 */
export default function usagePage(page, root) {
  document.title = 'Usage · berth';
  const isAdmin = session.can('admin');
  const today = new Date();
  const monthAgo = new Date(today.getTime() - 30 * 24 * 3600 * 1000);
  const day = (/** @type {Date} */ d) => d.toISOString().slice(0, 10);
  const fromIn = h('input', { type: 'date', testid: 'usage-from', value: day(monthAgo) });
  const toIn = h('input', { type: 'date', testid: 'usage-to', value: '' });
  const groupSel = h('select', { testid: 'usage-group' }, GROUPS.map((g) => h('option', { value: g, selected: g === 'user' }, g)));
  const chart = h('div', { class: 'chart', testid: 'usage-chart' });
  const total = h('p', { class: 'muted', testid: 'usage-total' });
  const t = table('usage-table', ['Key', 'Name', 'CPU core-h', 'Memory GB-h', 'Storage GB-h', 'Running h', 'Cost']);
  for (const el of [fromIn, toIn, groupSel]) el.addEventListener('change', () => w.now());

  set(root, h('div', { class: 'page-head' }, h('h1', null, 'Usage')),
    h('p', { class: 'muted small' }, isAdmin ? 'Every user’s usage, metered from status transitions (docs/usage.md).' : 'Your usage, metered from status transitions.'),
    h('section', { class: 'panel' }, h('h2', null, 'Cost per month (last 12 months)'), chart),
    h('section', { class: 'panel' },
      h('div', { class: 'row wrap' }, field('From', fromIn), field('To (empty: now)', toIn), field('Group by', groupSel)),
      total, t.el));

  /** @param {any} rep */
  function drawChart(rep) {
    const W = 720, H = 160, pad = 18;
    const bs = bars(rep.usage, W, H - pad);
    const g = bs.map((b) => svg('g', {},
      svg('rect', { x: b.x, y: b.y, width: b.w, height: Math.max(b.h, 0.5), class: 'bar' },
        svg('title', {}, document.createTextNode(`${b.key}: ${fix(b.value, 4)} ${rep.currency}`))),
      svg('text', { x: b.x + b.w / 2, y: H - 4, 'text-anchor': 'middle', class: 'axis' }, document.createTextNode(b.key.slice(2)))));
    set(chart, rep.usage.length ? svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'cost per month' }, ...g) : h('p', { class: 'muted' }, 'No usage yet.'));
  }

  /** @param {AbortSignal} signal */
  async function load(signal) {
    const to = toIn.value ? `${toIn.value}T23:59:59Z` : '';
    const yearAgo = new Date(Date.UTC(today.getUTCFullYear() - 1, today.getUTCMonth() + 1, 1));
    let rep, months;
    try {
      [rep, months] = await Promise.all([
        api(`/usage${q({ from: fromIn.value, to, groupBy: groupSel.value })}`, { signal }),
        api(`/usage${q({ from: day(yearAgo), groupBy: 'month' })}`, { signal, quiet: true }),
      ]);
    } catch {
      return;
    }
    if (signal.aborted) return;
    drawChart(months);
    set(total, `Total: ${fix(rep.total.cpuCoreHours)} core-hours, ${fix(rep.total.memoryGBHours)} GB-hours of memory, `,
      `${fix(rep.total.storageGBHours)} GB-hours of storage, ${fix(rep.total.cost, 4)} ${rep.currency}`);
    if (!rep.usage.length) {
      set(t.tbody, empty('No usage in this range.', 7));
      return;
    }
    set(t.tbody, rep.usage.map((/** @type {any} */ r) => h('tr', { testid: 'usage-row', data: { key: r.key } },
      h('td', null, h('code', null, r.key)), h('td', null, r.name), h('td', null, fix(r.cpuCoreHours)), h('td', null, fix(r.memoryGBHours)),
      h('td', null, fix(r.storageGBHours)), h('td', null, fix(r.runningHours)), h('td', null, `${fix(r.cost, 4)} ${rep.currency}`))));
  }

  const w = page.watch(['environments'], load);
}
