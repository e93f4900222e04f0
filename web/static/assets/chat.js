// @ts-check
// The chat drawer, on every page: ask berth in plain words (POST
// /api/v1/chat). A proposed mutation shows its summary with Confirm and
// Cancel buttons; generated YAML shows in a code block with Copy and Apply
// ("apply it", which proposes the creation for confirming). The opaque
// context of each answer goes with the next message ("restart it").
import { h, set } from './dom.js';
import { api, ApiError } from './api.js';

/**
 * @typedef {{action: string, target: string, subject: string, status: string, result: string}} ChatAction
 * @typedef {{token: string, summary: string, expiresAt: string}} ChatConfirm
 * @typedef {{language: string, content: string}} ChatCode
 * @typedef {{reply: string, intent: string, actions: ChatAction[], confirm: ChatConfirm | null,
 *   code: ChatCode | null, suggestions: string[], context: string}} ChatResponse
 */

/**
 * @typedef {object} AnswerView what one answer shows
 * @property {string[]} lines the reply, line by line
 * @property {ChatCode | null} code
 * @property {boolean} canApply the code is a spec berth can apply ("apply it")
 * @property {ChatConfirm | null} confirm
 * @property {{text: string, ok: boolean}[]} results what a confirmation did
 * @property {string[]} suggestions
 */

/**
 * answerView turns an answer into what the drawer shows (pure: node tests it).
 * @param {Partial<ChatResponse> | null | undefined} r
 * @returns {AnswerView}
 */
export function answerView(r) {
  const res = r || {};
  const suggestions = Array.isArray(res.suggestions) ? res.suggestions.filter((s) => typeof s === 'string' && s !== '') : [];
  const code = res.code && typeof res.code.content === 'string' ? res.code : null;
  return {
    lines: String(res.reply || '').split('\n'),
    code,
    canApply: !!code && code.language === 'yaml' && suggestions.includes('apply it'),
    confirm: res.confirm && res.confirm.token ? res.confirm : null,
    results: (res.actions || []).map((a) => ({ text: `${a.action} ${a.subject}: ${a.result}`, ok: a.status === 'completed' })),
    suggestions: suggestions.filter((s) => s !== 'apply it' || !code),
  };
}

/**
 * fileName is a name to save generated code under ("redis.yaml").
 * @param {ChatCode} code
 */
export function fileName(code) {
  const m = /^# ([a-z0-9-]+):/.exec(code.content);
  return `${m ? m[1] : 'berth'}.${code.language === 'yaml' ? 'yaml' : 'txt'}`;
}

/**
 * mountChat builds the drawer and the button that opens it.
 * @returns {{button: HTMLButtonElement, drawer: HTMLElement}}
 */
export function mountChat() {
  let context = '';
  const log = h('div', { class: 'chat-log', testid: 'chat-log', 'aria-live': 'polite' });
  const input = h('input', { type: 'text', class: 'chat-input', testid: 'chat-input', maxlength: '2000',
    placeholder: 'e.g. scale web to 3', 'aria-label': 'Message to berth', autocomplete: 'off' });
  const send = h('button', { type: 'submit', testid: 'chat-send' }, 'Send');
  const form = h('form', { class: 'chat-form', on: { submit: (ev) => { ev.preventDefault(); ask(input.value); } } }, input, send);
  const close = h('button', { type: 'button', class: 'link', testid: 'chat-close', on: { click: () => toggle(false) } }, 'Close');
  const drawer = h('aside', { class: 'chat-drawer', testid: 'chat-drawer', hidden: true, 'aria-label': 'Chat with berth' },
    h('div', { class: 'chat-head' }, h('strong', null, 'Ask berth'), close), log, form);
  const button = h('button', { type: 'button', class: 'link chat-toggle', testid: 'chat-toggle', 'aria-expanded': 'false',
    on: { click: () => toggle(drawer.hidden) } }, 'Chat');

  /** @param {boolean} open */
  function toggle(open) {
    drawer.hidden = !open;
    button.setAttribute('aria-expanded', String(open));
    if (open) input.focus();
  }

  /** @param {string} who @param {...import('./dom.js').Child} children */
  function add(who, ...children) {
    const el = h('div', { class: `chat-msg chat-${who}`, testid: who === 'you' ? 'chat-question' : 'chat-answer' }, children);
    log.appendChild(el);
    log.scrollTop = log.scrollHeight;
    return el;
  }

  /** @param {object} body */
  async function post(body) {
    send.disabled = true;
    try {
      return /** @type {ChatResponse} */ (await api('/chat', { method: 'POST', body, quiet: true }));
    } catch (e) {
      add('berth', h('p', { class: 'chat-error', testid: 'chat-error' }, e instanceof ApiError ? e.message : String(e)));
      return null;
    } finally {
      send.disabled = false;
    }
  }

  /** @param {string} text */
  async function ask(text) {
    const msg = text.trim();
    if (!msg) return;
    input.value = '';
    add('you', msg);
    const r = await post({ message: msg, context });
    if (r) show(r);
  }

  /** @param {ChatResponse} r */
  function show(r) {
    context = r.context || '';
    const v = answerView(r);
    const el = add('berth', h('p', { class: 'chat-reply' }, v.lines.map((l, i) => [i ? h('br') : null, l])));
    for (const res of v.results) {
      el.appendChild(h('p', { class: res.ok ? 'chat-ok' : 'chat-error', testid: 'chat-result' }, res.text));
    }
    if (v.code) el.appendChild(codeBlock(v.code, v.canApply));
    if (v.confirm) el.appendChild(confirmBox(v.confirm));
    if (v.suggestions.length) {
      el.appendChild(h('div', { class: 'chat-suggestions' }, v.suggestions.map((s) =>
        h('button', { type: 'button', class: 'chip', testid: 'chat-suggestion', on: { click: () => ask(s) } }, s))));
    }
  }

  /** @param {ChatCode} code @param {boolean} canApply */
  function codeBlock(code, canApply) {
    const copy = h('button', { type: 'button', testid: 'chat-copy', on: { click: async () => {
      try {
        await navigator.clipboard.writeText(code.content);
        copy.textContent = 'Copied';
      } catch {
        copy.textContent = 'Copy failed: select the text';
      }
    } } }, 'Copy');
    const apply = canApply ? h('button', { type: 'button', testid: 'chat-apply', on: { click: () => ask('apply it') } }, 'Apply') : null;
    return h('div', { class: 'chat-code' },
      h('div', { class: 'row' }, h('span', { class: 'muted' }, fileName(code)), copy, apply),
      h('pre', null, h('code', { testid: 'chat-code' }, code.content)));
  }

  /** @param {ChatConfirm} c */
  function confirmBox(c) {
    const box = h('div', { class: 'chat-confirm', testid: 'chat-confirm' });
    const done = (/** @type {string} */ text) => set(box, h('p', { class: 'muted' }, text));
    const ok = h('button', { type: 'button', class: 'danger', testid: 'chat-confirm-ok', on: { click: async () => {
      done('Confirmed.');
      const r = await post({ confirm: c.token });
      if (r) show(r);
    } } }, 'Confirm');
    const cancel = h('button', { type: 'button', testid: 'chat-confirm-cancel', on: { click: () => done('Cancelled: nothing was done.') } }, 'Cancel');
    set(box, h('p', { testid: 'chat-summary' }, c.summary), h('div', { class: 'row' }, ok, cancel));
    return box;
  }

  return { button, drawer };
}
