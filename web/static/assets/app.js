// @ts-check
// The dashboard: a router on the URL hash, the frame (navigation, who is
// logged in, live status, logout) and one module per page.
import { h, set, toast } from './dom.js';
import { api, session, onUnauthorized } from './api.js';
import { live } from './ws.js';
import { Page } from './page.js';
import loginPage from './login.js';
import overviewPage from './overview.js';
import servicesPage from './services.js';
import servicePage from './service.js';
import environmentsPage from './environments.js';
import infrastructurePage from './infrastructure.js';
import auditPage from './audit.js';
import usersPage from './users.js';
import recommendationsPage from './recommendations.js';
import { mountChat } from './chat.js';
import usagePage from './usage.js';
import quotasPage from './quotas.js';

const app = /** @type {HTMLElement} */ (document.getElementById('app'));
/** @type {{main: HTMLElement, nav: Map<string, HTMLElement>} | null} */
let frame = null;
/** @type {Page | null} */
let current = null; // the page shown
let afterLogin = '#/overview';

const routes = [
  { re: /^\/overview$/, page: overviewPage, nav: 'overview' },
  { re: /^\/services$/, page: servicesPage, nav: 'services' },
  { re: /^\/services\/(.+)$/, page: servicePage, nav: 'services', params: ['name'] },
  { re: /^\/environments$/, page: environmentsPage, nav: 'environments' },
  { re: /^\/infrastructure$/, page: infrastructurePage, nav: 'infrastructure' },
  { re: /^\/audit$/, page: auditPage, nav: 'audit' },
  { re: /^\/users$/, page: usersPage, nav: 'users', role: 'admin' },
  { re: /^\/recommendations$/, page: recommendationsPage, nav: 'recommendations' },
  { re: /^\/usage$/, page: usagePage, nav: 'usage' },
  { re: /^\/quotas$/, page: quotasPage, nav: 'quotas', role: 'admin' },
];

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const i = raw.indexOf('?');
  const path = i >= 0 ? raw.slice(0, i) : raw;
  const query = new URLSearchParams(i >= 0 ? raw.slice(i + 1) : '');
  return { path, query };
}

/** @param {string} hash */
function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

/** @returns {{main: HTMLElement, nav: Map<string, HTMLElement>}} */
function buildFrame() {
  const navItems = [
    ['overview', 'Overview'], ['services', 'Services'], ['environments', 'Environments'],
    ['infrastructure', 'Infrastructure'], ['audit', 'Audit'],
  ];
  navItems.push(['recommendations', 'Recommendations']);
  navItems.push(['usage', 'Usage']);
  if (session.can('admin')) navItems.push(['users', 'Users']);
  if (session.can('admin')) navItems.push(['quotas', 'Quotas']);
  const nav = new Map();
  const links = navItems.map(([id, label]) => {
    const a = h('a', { href: `#/${id}`, testid: `nav-${id}` }, label);
    nav.set(id, a);
    return a;
  });
  const status = h('span', { class: 'live offline', testid: 'live-status', title: 'live updates' }, 'offline');
  const u = session.user || { username: '', role: '' };
  const whoami = h('span', { class: 'whoami', testid: 'whoami' }, `${u.username} (${u.role})`);
  const logout = h('button', { type: 'button', class: 'link', testid: 'logout', on: { click: doLogout } }, 'Log out');
  const main = h('main', { id: 'main', tabindex: '-1' });
  const chat = mountChat(); // the chat drawer, on every page
  set(app,
    h('header', { class: 'top' },
      h('a', { class: 'brand', href: '#/overview' }, h('img', { src: '/assets/favicon.svg', alt: '' }), 'berth'),
      h('nav', { 'aria-label': 'main' }, links),
      h('div', { class: 'session' }, chat.button, status, whoami, logout)),
    main, chat.drawer);
  live.onStatus((open) => {
    status.textContent = open ? 'live' : 'offline';
    status.className = `live ${open ? 'on' : 'offline'}`;
  });
  frame = { main, nav };
  return frame;
}

async function doLogout() {
  live.stop();
  try {
    await api('/auth/logout', { method: 'POST', quiet: true });
  } catch {
    // The session is forgotten here whatever the server says.
  }
  session.clear();
  frame = null;
  afterLogin = '#/overview';
  go('#/login');
}

/** @typedef {(page: Page, root: HTMLElement, opts?: any) => void} PageFn */

/**
 * @param {PageFn} pageFn
 * @param {Record<string, string>} params
 * @param {URLSearchParams} query
 * @param {string} [nav]
 */
function show(pageFn, params, query, nav) {
  if (current) current.dispose();
  current = new Page(params, query);
  if (pageFn === loginPage) {
    frame = null;
    app.replaceChildren();
    pageFn(current, app, { loggedIn });
    return;
  }
  const f = frame || buildFrame();
  for (const [id, a] of f.nav) {
    if (id === nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  f.main.replaceChildren();
  pageFn(current, f.main);
}

/** @type {PageFn} */
function notFound(page, main) {
  document.title = 'Not found · berth';
  set(main, h('section', { class: 'panel' }, h('h1', null, 'Not found'),
    h('p', null, 'No page at ', h('code', null, location.hash), '. ', h('a', { href: '#/overview' }, 'Go to the overview'), '.')));
}

/** @type {PageFn} */
function forbidden(page, main) {
  document.title = 'Admins only · berth';
  set(main, h('section', { class: 'panel' }, h('h1', null, 'Admins only'),
    h('p', null, 'This page is for admins; you are ', session.role(), '. ', h('a', { href: '#/overview' }, 'Go to the overview'), '.')));
}

function route() {
  const { path, query } = parseHash();
  if (!session.token) {
    if (path !== '/login') {
      if (path !== '/' && path !== '') afterLogin = `#${path}${query.toString() ? `?${query}` : ''}`;
      go('#/login');
      return;
    }
    show(loginPage, {}, query);
    return;
  }
  if (path === '/login' || path === '/' || path === '') {
    go('#/overview');
    return;
  }
  for (const r of routes) {
    const m = path.match(r.re);
    if (!m) continue;
    if (r.role && !session.can(r.role)) {
      show(forbidden, {}, query, '');
      return;
    }
    /** @type {Record<string, string>} */
    const params = {};
    (r.params || []).forEach((name, i) => {
      try {
        params[name] = decodeURIComponent(m[i + 1]);
      } catch {
        params[name] = m[i + 1];
      }
    });
    show(r.page, params, query, r.nav);
    return;
  }
  show(notFound, {}, query, '');
}

// loggedIn is called by the login page with the API's answer.
/** @param {{token: string, user: {id: string, username: string, role: string}}} res */
function loggedIn(res) {
  session.save(res.token, res.user);
  frame = null;
  live.start();
  const next = afterLogin;
  afterLogin = '#/overview';
  go(next);
}

onUnauthorized(() => {
  const { path, query } = parseHash();
  session.clear();
  live.stop();
  frame = null;
  if (path !== '/login') afterLogin = `#${path}${query.toString() ? `?${query}` : ''}`;
  toast('Your session has ended: log in again.');
  go('#/login');
});

async function start() {
  session.load();
  if (session.token) {
    // Refresh who we are (the role may have changed since).
    try {
      const me = await api('/auth/me', { quiet: true });
      session.save(session.token, { ...me.user, role: me.role || me.user.role });
    } catch {
      // 401 went through onUnauthorized; anything else: keep what we had.
    }
    if (session.token) live.start();
  }
  window.addEventListener('hashchange', route);
  route();
}

start();
