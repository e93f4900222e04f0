// @ts-check
// A service's logs panel: the last lines, then live ones from the
// WebSocket topic that names the service with its target and namespace.
import { h, set, time } from './dom.js';
import { api } from './api.js';

const MAX_LOG_LINES = 2000;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
// What a log topic takes as a target (wshub.ParseLogTopic).
const TARGET_NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;

/**
 * logTopic is the WebSocket topic of a service's logs, qualified with its
 * target and namespace: logs:<target>:[<namespace>/]<name>. '' when the
 * names do not fit the topic's syntax.
 * @param {{name: string, namespace?: string, target?: string}} s
 */
export function logTopic(s) {
  if (!DNS_LABEL.test(s.name) || (s.namespace && !DNS_LABEL.test(s.namespace))) return '';
  const svc = `${s.namespace ? `${s.namespace}/` : ''}${s.name}`;
  if (s.target && TARGET_NAME.test(s.target)) return `logs:${s.target}:${svc}`;
  return `logs:${svc}`;
}

/** @typedef {{time?: string, replica?: string, stream?: string, line: string}} LogLine */

/**
 * logsPanel builds the panel. load reads the last 200 lines (path gives
 * the API path of the service's logs); follow subscribes, once, to the
 * service's live lines through listen (a page's live).
 * @param {(params: Record<string, number>) => string} path
 * @param {(topic: string, fn: (e: import('./watch.js').LiveEvent) => void) => void} listen
 */
export function logsPanel(path, listen) {
  const logs = h('div', { class: 'logs', testid: 'logs', role: 'log', tabindex: '0' });
  const note = h('span', { class: 'muted small' });
  const followBox = /** @type {HTMLInputElement} */ (h('input', { type: 'checkbox', checked: true }));
  let topic = '';
  let loaded = false; // the last lines were read (resync: read them again)
  const el = h('section', { class: 'panel' },
    h('div', { class: 'panel-head' }, h('h2', null, 'Logs'), note,
      h('label', { class: 'inline-label' }, followBox, ' follow'),
      h('button', { type: 'button', class: 'small', on: { click: () => set(logs) } }, 'Clear')),
    logs);

  /** @param {LogLine} l */
  function add(l) {
    const stick = followBox.checked && logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 24;
    logs.appendChild(h('div', { class: `log-line ${l.stream === 'stderr' ? 'stderr' : ''}`, testid: 'log-line' },
      h('span', { class: 'log-time' }, time(l.time)), h('span', { class: 'log-replica' }, l.replica || ''), h('span', { class: 'log-text' }, l.line)));
    while (logs.childElementCount > MAX_LOG_LINES && logs.firstElementChild) logs.firstElementChild.remove();
    if (stick) logs.scrollTop = logs.scrollHeight;
  }

  /** @param {AbortSignal} signal */
  async function load(signal) {
    try {
      const res = await api(path({ tail: 200 }), { quiet: true, signal });
      if (signal.aborted) return;
      loaded = true;
      set(logs);
      (res.lines || []).forEach(add);
      logs.scrollTop = logs.scrollHeight;
    } catch (e) {
      if (!signal.aborted) note.textContent = e instanceof Error ? e.message : String(e);
    }
  }

  /** @param {{name: string, namespace?: string, target?: string}} s */
  function follow(s) {
    if (topic) return;
    topic = logTopic(s);
    if (!topic) {
      note.textContent = 'live logs are not available for this service';
      return;
    }
    note.textContent = 'live';
    listen(topic, (e) => {
      if (e.type === 'log.line') add(e.data);
      else if (e.type === 'log.end') {
        logs.appendChild(h('div', { class: 'log-note' }, `— ${e.data && e.data.message ? e.data.message : 'log stream ended'} —`));
        note.textContent = 'stream ended';
      }
    });
  }

  return {
    el,
    load,
    follow,
    get loaded() { return loaded; },
    set loaded(v) { loaded = v; },
  };
}
