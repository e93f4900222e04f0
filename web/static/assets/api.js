// @ts-check
// The API client: JSON over fetch with the session's Bearer token. An error
// answer ({"error": CODE, "message": "..."}) becomes an ApiError, shown in
// the toast with the server's message unless the caller asks for quiet.
// A call given an AbortSignal that is aborted rejects with the AbortError
// as it is: nothing is toasted for a read the page no longer wants.
import { toast } from './dom.js';

export { q } from './query.js';

const KEY = 'berth.session';

export class ApiError extends Error {
  /** @param {number} status @param {string} code @param {string} message */
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const session = {
  token: '',
  /** @type {{id: string, username: string, role: string} | null} */
  user: null,
  load() {
    try {
      const s = JSON.parse(sessionStorage.getItem(KEY) || 'null');
      if (s && s.token) {
        this.token = s.token;
        this.user = s.user || null;
      }
    } catch {
      sessionStorage.removeItem(KEY);
    }
  },
  /** @param {string} token @param {{id: string, username: string, role: string}} user */
  save(token, user) {
    this.token = token;
    this.user = user;
    sessionStorage.setItem(KEY, JSON.stringify({ token, user }));
  },
  clear() {
    this.token = '';
    this.user = null;
    sessionStorage.removeItem(KEY);
  },
  role() {
    return this.user ? this.user.role : '';
  },
  // can: operators and admins mutate; admins manage users.
  /** @param {string} min */
  can(min) {
    /** @type {Record<string, number>} */
    const rank = { viewer: 1, operator: 2, admin: 3 };
    return (rank[this.role()] || 0) >= (rank[min] || 99);
  },
};

// onUnauthorized is called when a logged-in request answers 401 (the
// session expired or was revoked); app.js sends the user to the login page.
/** @type {(err: ApiError) => void} */
let unauthorized = () => {};
/** @param {(err: ApiError) => void} fn */
export function onUnauthorized(fn) {
  unauthorized = fn;
}

/**
 * @typedef {object} ApiOptions
 * @property {string} [method] GET unless given
 * @property {unknown} [body] sent as JSON
 * @property {boolean} [quiet] no toast on errors
 * @property {AbortSignal} [signal] aborts the call
 * @property {Record<string, string>} [headers] more request headers (If-Match)
 */

/**
 * api calls /api/v1 + path and answers the decoded JSON.
 * @param {string} path
 * @param {ApiOptions} [opts]
 * @returns {Promise<any>}
 */
export async function api(path, opts = {}) {
  const { method = 'GET', body, quiet = false, signal } = opts;
  /** @type {Record<string, string>} */
  const headers = { ...opts.headers, Accept: 'application/json' };
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  let text;
  try {
    res = await fetch(`/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store', signal });
    text = await res.text();
  } catch (e) {
    if (signal && signal.aborted) throw e;
    const err = new ApiError(0, 'UNAVAILABLE', `cannot reach berth: ${e instanceof Error ? e.message : e}`);
    if (!quiet) toast(err.message);
    throw err;
  }
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const err = new ApiError(res.status, (data && data.error) || `HTTP_${res.status}`,
      (data && data.message) || `${res.status} ${res.statusText}`);
    if (res.status === 401 && session.token && path !== '/auth/login') {
      unauthorized(err);
      throw err;
    }
    if (!quiet) toast(err.message);
    throw err;
  }
  return data;
}

/**
 * ifRevision is the precondition that a change of a service applies only
 * while the service is still at the revision the page showed: another
 * user's change in between answers CONFLICT instead of being overwritten.
 * @param {number} revision
 * @returns {Record<string, string>}
 */
export function ifRevision(revision) {
  return revision > 0 ? { 'If-Match': `"${revision}"` } : {};
}

// act runs fn for a button: disables it meanwhile, toasts success with the
// message the API gave (or ok), and swallows ApiErrors (already toasted).
/** @param {HTMLButtonElement | HTMLInputElement | HTMLSelectElement | null} btn @param {() => Promise<any>} fn @param {string} [ok] */
export async function act(btn, fn, ok) {
  if (btn) btn.disabled = true;
  try {
    const res = await fn();
    const msg = ok || (res && res.message);
    if (msg) toast(msg, 'ok');
    return res;
  } catch (e) {
    if (!(e instanceof ApiError)) {
      toast(e.message || String(e));
      console.error(e);
    }
    return undefined;
  } finally {
    if (btn) btn.disabled = false;
  }
}
