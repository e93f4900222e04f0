// @ts-check
// One pager for the paged lists (services, environments, audit): the page
// number, the "n things · page x of y" line and the two buttons.
import { h } from './dom.js';

/**
 * pageCount is how many pages total items fill, at least one.
 * @param {number} total
 * @param {number} size
 */
export function pageCount(total, size) {
  return Math.max(1, Math.ceil((Number(total) || 0) / size));
}

/**
 * parsePage reads a page number from a query value: 1 for anything that is
 * not a whole number of at least 1.
 * @param {string | null | undefined} v
 */
export function parsePage(v) {
  const n = Number(v);
  return Number.isInteger(n) && n >= 1 ? n : 1;
}

/**
 * plural says "1 service", "2 services", "1 entry", "3 entries".
 * @param {number} n
 * @param {[string, string]} noun singular and plural
 */
export function plural(n, [one, many]) {
  return `${n} ${n === 1 ? one : many}`;
}

/**
 * pagerState is what the pager shows for total items on page pageNo.
 * @param {number} total
 * @param {number} pageNo
 * @param {number} size
 * @param {[string, string]} noun
 */
export function pagerState(total, pageNo, size, noun) {
  const pages = pageCount(total, size);
  return {
    pages,
    text: `${plural(total, noun)} · page ${pageNo} of ${pages}`,
    prev: pageNo > 1,
    next: pageNo < pages,
  };
}

/**
 * @typedef {object} PagerOptions
 * @property {number} size items a page
 * @property {[string, string]} noun what is counted, singular and plural
 * @property {number} [page] the page shown first (1)
 * @property {string} [testid] prefix of the buttons' test ids (<testid>-prev, <testid>-next)
 * @property {[string, string]} [labels] the buttons' labels
 * @property {(page: number) => void} onChange called after a button changed the page
 */

/**
 * pager builds the pager's element; show(total) updates it after a read.
 * @param {PagerOptions} o
 */
export function pager(o) {
  const [prevLabel, nextLabel] = o.labels || ['← Previous', 'Next →'];
  let page = o.page || 1;
  const go = (/** @type {number} */ d) => {
    page += d;
    o.onChange(page);
  };
  const info = h('span', { class: 'muted' });
  const prev = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', testid: o.testid && `${o.testid}-prev`, on: { click: () => go(-1) } }, prevLabel));
  const next = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', testid: o.testid && `${o.testid}-next`, on: { click: () => go(1) } }, nextLabel));
  return {
    el: h('div', { class: 'pager' }, prev, info, next),
    get page() { return page; },
    set page(v) { page = v; },
    /** @param {number} total */
    show(total) {
      const s = pagerState(total, page, o.size, o.noun);
      info.textContent = s.text;
      prev.disabled = !s.prev;
      next.disabled = !s.next;
    },
  };
}
