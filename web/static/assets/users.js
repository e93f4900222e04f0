// @ts-check
// Users and API keys (admins): create, change role, delete; keys are shown
// once, when created.
import { h, set, timeCell, table, empty, confirm, field } from './dom.js';
import { api, act, session } from './api.js';

const ROLES = ['viewer', 'operator', 'admin'];

/**
 * @param {import('./page.js').Page} page
 * @param {HTMLElement} root
 */
export default function usersPage(page, root) {
  document.title = 'Users · berth';
  /** @type {(testid: string, value: string) => HTMLSelectElement} */
  const roleSelect = (testid, value) => h('select', { testid }, ROLES.map((r) => h('option', { value: r, selected: r === value }, r)));

  const uName = h('input', { required: true, autocomplete: 'off', testid: 'user-create-username', spellcheck: 'false' });
  const uPass = h('input', { type: 'password', required: true, autocomplete: 'new-password', testid: 'user-create-password' });
  const uRole = roleSelect('user-create-role', 'viewer');
  const uSubmit = h('button', { type: 'submit', class: 'primary', testid: 'user-create-submit' }, 'Create user');
  const users = table('users-table', ['Username', 'Role', 'Created', 'Updated', '']);

  const kName = h('input', { required: true, autocomplete: 'off', testid: 'apikey-create-name', spellcheck: 'false' });
  const kRole = roleSelect('apikey-create-role', 'viewer');
  const kDays = h('input', { type: 'number', min: '0', max: '3650', step: '1', placeholder: 'never', testid: 'apikey-create-expires', size: '6' });
  const kSubmit = h('button', { type: 'submit', class: 'primary', testid: 'apikey-create-submit' }, 'Create key');
  const secretBox = h('div', { class: 'secret-box', hidden: true });
  const keys = table('apikeys-table', ['Name', 'Role', 'Owner', 'Created', 'Expires', 'Last used', '']);
  let byId = new Map();

  set(root,
    h('div', { class: 'page-head' }, h('h1', null, 'Users and API keys')),
    h('section', { class: 'panel' }, h('h2', null, 'Users'),
      h('form', { class: 'row wrap', novalidate: true, on: { submit: createUser } },
        field('Username', uName), field('Password (8+ characters)', uPass), field('Role', uRole), h('div', { class: 'field end' }, uSubmit)),
      users.el),
    h('section', { class: 'panel' }, h('h2', null, 'API keys'),
      h('p', { class: 'muted small' }, 'A key acts for you with its own role (never above yours): send it as ', h('code', null, 'Authorization: Bearer brt_…'), '.'),
      h('form', { class: 'row wrap', novalidate: true, on: { submit: createKey } },
        field('Name', kName), field('Role', kRole), field('Expires in days', kDays), h('div', { class: 'field end' }, kSubmit)),
      secretBox, keys.el));

  /** @param {any} u a user */
  function userRow(u) {
    const self = !!session.user && u.id === session.user.id;
    const role = roleSelect('user-role', u.role);
    role.setAttribute('aria-label', `role of ${u.username}`);
    role.disabled = self;
    role.addEventListener('change', async () => {
      const res = await act(role, () => api(`/users/${encodeURIComponent(u.id)}`, { method: 'PATCH', body: { role: role.value } }), `${u.username} is now ${role.value}`);
      if (!res) role.value = u.role;
      else u.role = role.value;
    });
    return h('tr', { testid: 'user-row', data: { username: u.username, id: u.id } },
      h('td', null, h('span', { class: 'strong' }, u.username), self ? h('span', { class: 'tag' }, 'you') : null),
      h('td', null, role), h('td', null, timeCell(u.createdAt)), h('td', null, timeCell(u.updatedAt)),
      // Admins cannot delete themselves: the server says so (the button
      // stays, for the same answer the API gives).
      h('td', { class: 'row-actions' }, h('button', { type: 'button', class: 'small danger', testid: 'user-delete',
        title: self ? 'you cannot delete yourself' : '', on: { click: (ev) => deleteUser(ev.currentTarget, u) } }, 'Delete')));
  }

  /** @param {any} k an API key */
  function keyRow(k) {
    return h('tr', { testid: 'apikey-row', data: { id: k.id, name: k.name } },
      h('td', null, h('span', { class: 'strong' }, k.name), h('div', { class: 'muted small' }, k.id)),
      h('td', null, k.role), h('td', null, byId.get(k.userId) || k.userId),
      h('td', null, timeCell(k.createdAt)), h('td', null, k.expiresAt ? timeCell(k.expiresAt) : 'never'),
      h('td', null, k.lastUsedAt ? timeCell(k.lastUsedAt) : 'never'),
      h('td', { class: 'row-actions' }, h('button', { type: 'button', class: 'small danger', testid: 'apikey-delete',
        on: { click: (ev) => deleteKey(ev.currentTarget, k) } }, 'Delete')));
  }

  /** @param {AbortSignal} signal */
  async function load(signal) {
    let u;
    let k;
    try {
      [u, k] = await Promise.all([api('/users', { signal }), api('/apikeys', { signal })]);
    } catch {
      return;
    }
    if (signal.aborted) return;
    byId = new Map(u.users.map((/** @type {any} */ x) => [x.id, x.username]));
    set(users.tbody, u.users.length ? u.users.map(userRow) : empty('No users.', 5));
    set(keys.tbody, k.apiKeys.length ? k.apiKeys.map(keyRow) : empty('No API keys.', 7));
  }

  /** @param {Event} ev */
  async function createUser(ev) {
    ev.preventDefault();
    const res = await act(uSubmit, () => api('/users', { method: 'POST', body: { username: uName.value.trim(), password: uPass.value, role: uRole.value } }),
      `User ${uName.value.trim()} created`);
    if (!res || !page.alive) return;
    uName.value = '';
    uPass.value = '';
    w.now();
  }

  /** @param {Event} ev */
  async function createKey(ev) {
    ev.preventDefault();
    /** @type {{name: string, role: string, expiresInDays?: number}} */
    const body = { name: kName.value.trim(), role: kRole.value };
    if (kDays.value !== '') body.expiresInDays = Number(kDays.value);
    const res = await act(kSubmit, () => api('/apikeys', { method: 'POST', body }), `API key ${body.name} created`);
    if (!res || !page.alive) return;
    kName.value = '';
    kDays.value = '';
    const secret = h('code', { testid: 'apikey-secret', class: 'secret' }, res.key);
    const copy = h('button', { type: 'button', class: 'small', on: { click: async () => {
      try {
        await navigator.clipboard.writeText(res.key);
        copy.textContent = 'Copied';
      } catch {
        const sel = getSelection();
        if (sel) sel.selectAllChildren(secret);
      }
    } } }, 'Copy');
    set(secretBox, h('p', null, h('b', null, `Key ${res.apiKey.name}: `), 'store it now, it is not shown again.'),
      h('div', { class: 'row' }, secret, copy,
        h('button', { type: 'button', class: 'small', on: { click: () => { secretBox.hidden = true; secretBox.replaceChildren(); } } }, 'Done')));
    secretBox.hidden = false;
    w.now();
  }

  /**
   * @param {HTMLButtonElement} b
   * @param {any} u
   */
  async function deleteUser(b, u) {
    if (!(await confirm(`Delete user ${u.username}? Their sessions and API keys stop working.`, 'Delete'))) return;
    const res = await act(b, () => api(`/users/${encodeURIComponent(u.id)}`, { method: 'DELETE' }), `User ${u.username} deleted`);
    if (res && page.alive) w.now();
  }

  /**
   * @param {HTMLButtonElement} b
   * @param {any} k
   */
  async function deleteKey(b, k) {
    if (!(await confirm(`Delete API key ${k.name}? What uses it gets 401 from now on.`, 'Delete'))) return;
    const res = await act(b, () => api(`/apikeys/${encodeURIComponent(k.id)}`, { method: 'DELETE' }), `API key ${k.name} deleted`);
    if (res && page.alive) w.now();
  }

  // No live topic: the page reads when shown and after each change here.
  const w = page.watch([], load);
}
