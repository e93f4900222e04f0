// @ts-check
// One place that says how a service is named in links: its page in the
// dashboard (a hash route) and its path in the API. Names repeat across
// targets and namespaces, so both carry them.
import { q } from './query.js';

/** @typedef {{name: string, namespace?: string, target?: string}} ServiceRef */

/**
 * fullName is ns/name on clusters, the name elsewhere.
 * @param {ServiceRef} s
 */
export function fullName(s) {
  return s.namespace ? `${s.namespace}/${s.name}` : s.name;
}

/**
 * serviceKey tells services apart across targets and namespaces.
 * @param {ServiceRef} s
 */
export function serviceKey(s) {
  return `${s.target || ''}|${s.namespace || ''}|${s.name}`;
}

/**
 * serviceHref links to a service's page: ns/name escaped as one segment,
 * and ?target= unless it is on the default target (when that is known).
 * @param {ServiceRef} s
 * @param {string} [defaultTarget]
 */
export function serviceHref(s, defaultTarget = '') {
  return `#/services/${encodeURIComponent(fullName(s))}${q({ target: s.target === defaultTarget ? '' : s.target })}`;
}

/**
 * servicePath is the API path of a service: its name (ns/name on clusters)
 * escaped as one segment, a suffix (/logs), query parameters and ?target=
 * when known.
 * @param {string} name
 * @param {string | undefined} target
 * @param {string} [suffix]
 * @param {Record<string, string | number | undefined>} [params]
 */
export function servicePath(name, target, suffix = '', params = {}) {
  return `/services/${encodeURIComponent(name)}${suffix}${q({ ...params, target })}`;
}
