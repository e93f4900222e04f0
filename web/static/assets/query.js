// @ts-check
// Query strings for the API and for hash routes.

/**
 * q builds a query string from the non-empty values of obj ('' when none).
 * @param {Record<string, unknown>} obj
 */
export function q(obj) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(obj)) {
    if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}
