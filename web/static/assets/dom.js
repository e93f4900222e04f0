// @ts-check
// DOM helpers. Text from the API only ever reaches the page as text nodes
// or attribute values: nothing here parses HTML.

/** @typedef {Node | string | number | null | undefined | false | any[]} Child a node, text, nothing, or a list of children */
/**
 * @typedef {{on?: Record<string, (ev: Event & {currentTarget: any}) => void>, [attr: string]: any} | null | undefined} Attrs
 * attributes of h: on holds listeners (their currentTarget is the element)
 */

/**
 * h builds an element: h('td', {testid: 'service-name', class: 'x'}, child…).
 * Attributes: class, testid (data-testid), data (dataset), on (listeners),
 * any other key is set as an attribute, or as a property when it is one of
 * value, checked, disabled, selected, hidden.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Attrs} [attrs]
 * @param {...Child} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  /** @type {Record<string, any>} */
  const props = el;
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'testid') el.dataset.testid = v;
    else if (k === 'data') Object.assign(el.dataset, v);
    else if (k === 'on') for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'selected' || k === 'hidden') props[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

/**
 * @param {Element} el
 * @param {Child[]} children
 */
function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/**
 * set replaces the children of el.
 * @template {Element} E
 * @param {E} el
 * @param {...Child} children
 * @returns {E}
 */
export function set(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** @type {Record<string, string>} */
const STATUS_CLASS = {
  RUNNING: 'ok', READY: 'ok', UP: 'ok', COMPLETED: 'ok', ACTIVE: 'ok', BOUND: 'ok', SUCCEEDED: 'ok',
  DEGRADED: 'warn', DEPLOYING: 'warn', PENDING: 'warn', CREATING: 'warn', STARTING: 'warn', STOPPING: 'warn',
  DELETING: 'warn', BACKOFF: 'warn', WARNING: 'warn',
  ERROR: 'bad', FAILED: 'bad', DOWN: 'bad', CRITICAL: 'bad', CRASHLOOP: 'bad',
  STOPPED: 'off', EXITED: 'off', UNKNOWN: 'off',
};

// statusClass maps a status word to a colour class.
/** @param {string | undefined} s */
export function statusClass(s) {
  return 'status s-' + (STATUS_CLASS[String(s || '').toUpperCase()] || 'off');
}

/** @param {string | undefined} status @param {string} [testid] */
export function badge(status, testid) {
  return h('span', { class: statusClass(status), testid }, status || '—');
}

// updateBadge changes a badge made by badge() in place.
/** @param {HTMLElement} el @param {string | undefined} status */
export function updateBadge(el, status) {
  el.className = statusClass(status);
  el.textContent = status || '—';
}

/** @param {string | undefined} t */
export function time(t) {
  if (!t || String(t).startsWith('0001-')) return '—';
  const d = new Date(t);
  if (isNaN(d.getTime())) return String(t);
  const pad = (/** @type {number} */ n) => String(n).padStart(2, '0');
  const today = new Date();
  const hms = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  if (d.toDateString() === today.toDateString()) return hms;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hms}`;
}

// ago says how long ago t was, in the largest unit.
/** @param {string | undefined} t */
export function ago(t) {
  if (!t || String(t).startsWith('0001-')) return '—';
  const s = Math.round((Date.now() - new Date(t).getTime()) / 1000);
  if (isNaN(s)) return String(t);
  if (s < 5) return 'just now';
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

// timeCell shows the relative time with the exact one on hover.
/** @param {string | undefined} t */
export function timeCell(t) {
  return h('time', { datetime: t, title: t ? new Date(t).toLocaleString() : '' }, ago(t));
}

/** @param {number | undefined} n */
export function bytes(n) {
  if (n === undefined || n === null || isNaN(n)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = Number(n);
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v < 10 && i > 0 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

// cores shows CPU in cores, below one core in millicores as Kubernetes
// writes them ("250m").
/** @param {number | undefined} n */
export function cores(n) {
  if (n === undefined || n === null || isNaN(n)) return '—';
  if (n < 0.01) return `${(n * 1000).toFixed(1)}m`;
  if (n < 1) return `${Math.round(n * 1000)}m`;
  return n.toFixed(2);
}

let toastTimer = 0;

// toast shows the last message: kind 'error' or 'ok'. It fades after a
// while but keeps its text until the next message.
/** @param {string} message @param {'error' | 'ok'} [kind] */
export function toast(message, kind = 'error') {
  const el = document.getElementById('toast');
  if (!el) return;
  el.textContent = message;
  el.className = `toast ${kind === 'error' ? 'error' : 'ok'}`;
  el.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => el.classList.add('hidden'), kind === 'error' ? 10000 : 5000);
}

/**
 * byId is the page's element of that id (index.html has it).
 * @template {HTMLElement} [E=HTMLElement]
 * @param {string} id
 * @returns {E}
 */
function byId(id) {
  return /** @type {E} */ (document.getElementById(id));
}

// The question the confirm dialog is asking: its resolver, null when none.
/** @type {((ok: boolean) => void) | null} */
let settle = null;
let confirmReady = false;

/** @param {boolean} ok */
function answer(ok) {
  const s = settle;
  settle = null;
  const box = byId('confirm-extra');
  box.replaceChildren();
  box.hidden = true;
  if (s) s(ok);
}

// confirm asks in a modal dialog; resolves true when confirmed. Escape or
// Cancel resolve false. extra (an element, or a list of them) is shown
// under the question, for options the caller reads once it resolves (a
// checkbox: keep the workspace volume).
//
// The answer is taken when it is given (the form's submit, the dialog's
// cancel), not from the close event: that one is queued, and a question
// asked right after the previous one closed would get the old event.
/**
 * @param {string} message
 * @param {string} [okLabel]
 * @param {Child} [extra]
 * @returns {Promise<boolean>}
 */
export function confirm(message, okLabel = 'Confirm', extra = null) {
  /** @type {HTMLDialogElement} */
  const dlg = byId('confirm');
  /** @type {(sel: string) => HTMLElement} */
  const part = (sel) => /** @type {HTMLElement} */ (dlg.querySelector(sel));
  if (!confirmReady) {
    confirmReady = true;
    part('form').addEventListener('submit', (ev) => {
      const by = /** @type {HTMLButtonElement | null} */ (ev.submitter);
      answer(!!by && by.value === 'ok');
    });
    dlg.addEventListener('cancel', () => answer(false));
    // Closed some other way: the dialog's own return value.
    dlg.addEventListener('close', () => {
      if (!dlg.open) answer(dlg.returnValue === 'ok');
    });
  }
  if (settle) answer(false); // never two questions at once
  byId('confirm-message').textContent = message;
  const box = byId('confirm-extra');
  set(box, extra);
  box.hidden = !extra;
  part('[data-testid="confirm-ok"]').textContent = okLabel;
  dlg.returnValue = '';
  return new Promise((resolve) => {
    settle = resolve;
    dlg.showModal();
    part('[data-testid="confirm-cancel"]').focus();
  });
}

// checkbox is a labelled checkbox: h('input') inside its label.
/** @param {string} label @param {string} testid @param {boolean} [checked] */
export function checkbox(label, testid, checked = false) {
  const input = h('input', { type: 'checkbox', testid, checked });
  return { input, el: h('label', { class: 'check' }, input, ' ', label) };
}

// safeURL returns u, unchanged, when it is an http(s) URL, else '' (no
// script URLs).
/** @param {string | undefined} u */
export function safeURL(u) {
  if (!u) return '';
  try {
    const p = new URL(u, location.href);
    return p.protocol === 'http:' || p.protocol === 'https:' ? u : '';
  } catch {
    return '';
  }
}

// table builds a table in a scrolling wrapper; body rows are added by the caller.
/** @param {string} testid @param {string[]} headers @param {Attrs} [tbodyAttrs] */
export function table(testid, headers, tbodyAttrs) {
  const tbody = h('tbody', tbodyAttrs);
  const el = h('div', { class: 'table-wrap' },
    h('table', { testid }, h('thead', null, h('tr', null, headers.map((x) => h('th', { scope: 'col' }, x)))), tbody));
  return { el, tbody };
}

/** @param {string} text @param {number} cols */
export function empty(text, cols) {
  return h('tr', { class: 'empty' }, h('td', { colspan: cols }, text));
}

// field wraps an input with its label.
/** @param {string} label @param {HTMLElement} input @param {string} [hint] */
export function field(label, input, hint) {
  return h('label', { class: 'field' }, h('span', { class: 'label' }, label), input, hint ? h('span', { class: 'hint' }, hint) : null);
}
