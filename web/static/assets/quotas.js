// @ts-check
// Quotas (admins): the defaults, each role's and each user's limits, one
// form per level; an empty field is not set at that level (the less
// specific level decides; set nowhere, unlimited).
import { h, set, field, confirm } from './dom.js';
import { api, act } from './api.js';
import { QUOTA_FIELDS, limitsBody } from './quota-view.js';
import { toast } from './dom.js';

const ROLES = ['viewer', 'operator', 'admin'];

/**
 * @param {import('./page.js').Page} page
 * @param {HTMLElement} root
 */
export default function quotasPage(page, root) {
  document.title = 'Quotas · berth';
  const levels = h('div', { testid: 'quota-levels' });
  const addUser = h('select', { testid: 'quota-add-user' });
  const addBtn = h('button', { type: 'button', testid: 'quota-add-user-submit', on: { click: () => {
    if (!addUser.value) return;
    const name = addUser.selectedOptions[0] ? addUser.selectedOptions[0].textContent || addUser.value : addUser.value;
    levels.append(level('user', addUser.value, `user ${name}`, {}));
  } } }, 'Add a user level');
  set(root, h('div', { class: 'page-head' }, h('h1', null, 'Quotas')),
    h('p', { class: 'muted small' }, 'Per field, a user’s level wins over their role’s, which wins over the defaults. Lowering a limit below use blocks new use and stops nothing.'),
    levels, h('section', { class: 'panel' }, h('div', { class: 'row wrap' }, field('User', addUser), h('div', { class: 'field end' }, addBtn))));

  /**
   * @param {'defaults' | 'role' | 'user'} scope
   * @param {string} key
   * @param {string} title
   * @param {Record<string, number>} limits
   */
  function level(scope, key, title, limits) {
    const path = scope === 'defaults' ? '/quotas/defaults' : `/quotas/${scope === 'role' ? 'roles' : 'users'}/${encodeURIComponent(key)}`;
    /** @type {Record<string, HTMLInputElement>} */
    const ins = {};
    const fields = QUOTA_FIELDS.map(([f, label]) => {
      ins[f] = h('input', { type: 'number', min: '0', step: 'any', placeholder: '—', testid: `quota-${f}`, value: limits[f] === undefined ? '' : String(limits[f]) });
      return field(label, ins[f]);
    });
    const save = h('button', { type: 'submit', class: 'primary small', testid: 'quota-save' }, 'Save');
    const del = scope === 'defaults' ? null : h('button', { type: 'button', class: 'small danger', testid: 'quota-delete', on: { click: remove } }, 'Remove level');
    const el = h('form', { class: 'panel', testid: 'quota-level', data: { scope, key }, novalidate: true, on: { submit: onSave } },
      h('h2', null, title), h('div', { class: 'row wrap' }, fields), h('div', { class: 'row' }, save, del));
    /** @param {Event} ev */
    async function onSave(ev) {
      ev.preventDefault();
      /** @type {Record<string, string>} */
      const vals = {};
      for (const [f, i] of Object.entries(ins)) vals[f] = i.value;
      const r = limitsBody(vals);
      if ('error' in r) {
        toast(r.error);
        return;
      }
      await act(save, () => api(path, { method: 'PUT', body: r.body }), `${title}: saved`);
    }
    async function remove() {
      if (!(await confirm(`Remove the ${title} level? The less specific levels then apply.`, 'Remove'))) return;
      const res = await act(/** @type {HTMLButtonElement} */ (del), () => api(path, { method: 'DELETE' }), `${title}: removed`);
      if (res && page.alive) el.remove();
    }
    return el;
  }

  /** @param {AbortSignal} signal */
  async function load(signal) {
    let qs, users;
    try {
      [qs, users] = await Promise.all([api('/quotas', { signal }), api('/users', { signal, quiet: true })]);
    } catch {
      return;
    }
    if (signal.aborted) return;
    const names = new Map(users.users.map((/** @type {any} */ u) => [u.id, u.username]));
    set(levels, level('defaults', '', 'Defaults', qs.defaults || {}),
      ROLES.map((r) => level('role', r, `Role ${r}`, (qs.roles || {})[r] || {})),
      Object.entries(qs.users || {}).map(([id, l]) => level('user', id, `User ${names.get(id) || id}`, /** @type {any} */ (l))));
    set(addUser, users.users.filter((/** @type {any} */ u) => !(qs.users || {})[u.id])
      .map((/** @type {any} */ u) => h('option', { value: u.id }, u.username)));
  }

  page.watch([], load);
}
