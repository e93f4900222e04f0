// @ts-check
// The login page: POST /api/v1/auth/login, the token kept in sessionStorage.
import { h, set } from './dom.js';
import { api } from './api.js';

/**
 * @param {import('./page.js').Page} page
 * @param {HTMLElement} root
 * @param {{loggedIn: (res: any) => void}} opts
 */
export default function loginPage(page, root, { loggedIn }) {
  document.title = 'Log in · berth';
  const username = h('input', { id: 'login-username', name: 'username', autocomplete: 'username', required: true, testid: 'login-username' });
  const password = h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true, testid: 'login-password' });
  const error = h('p', { class: 'login-error', testid: 'login-error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'primary', testid: 'login-submit' }, 'Log in');
  const form = h('form', { class: 'login-card', novalidate: true, on: { submit: onSubmit } },
    h('div', { class: 'brand big' }, h('img', { src: '/assets/favicon.svg', alt: '' }), 'berth'),
    h('label', { for: 'login-username' }, 'Username'), username,
    h('label', { for: 'login-password' }, 'Password'), password,
    error, submit,
    h('p', { class: 'hint' }, 'The first start of ', h('code', null, 'berth serve'), ' prints the password of ', h('code', null, 'admin'), '.'));
  set(root, h('div', { class: 'login' }, form));
  username.focus();

  /** @param {Event} ev */
  async function onSubmit(ev) {
    ev.preventDefault();
    error.textContent = '';
    submit.disabled = true;
    try {
      const res = await api('/auth/login', { method: 'POST', body: { username: username.value.trim(), password: password.value }, quiet: true });
      if (!page.alive) return;
      loggedIn(res);
    } catch (e) {
      if (!page.alive) return;
      error.textContent = e.message;
      password.select();
    } finally {
      submit.disabled = false;
    }
  }
}
