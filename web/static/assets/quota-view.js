// @ts-check
// Pure helpers for quotas and usage on the dashboard (node-tested in
// web/test/quota.test.mjs): what is left of a quota, and the bars of the
// monthly usage chart.

/** The limit names, as the API gives them, with labels. */
export const QUOTA_FIELDS = /** @type {const} */ ([
  ['maxEnvironments', 'Environments', 'environments'],
  ['maxRunningEnvironments', 'Running environments', 'runningEnvironments'],
  ['cpuCores', 'CPU cores', 'cpuCores'],
  ['memoryGB', 'Memory GB', 'memoryGB'],
  ['storageGB', 'Storage GB', 'storageGB'],
  ['maxServices', 'Services', 'services'],
  ['maxReplicasPerService', 'Replicas per service', ''],
  ['serviceCpuCores', 'Service CPU cores', 'serviceCpuCores'],
  ['serviceMemoryGB', 'Service memory GB', 'serviceMemoryGB'],
]);

/** @param {number} n */
function fmt(n) {
  return String(Math.round(n * 100) / 100);
}

/**
 * remaining lists, for the environment form, what is left of each
 * environment limit that is set: "CPU cores: 2 of 8 left".
 * @param {{limits: Record<string, number>, used: Record<string, number>}} st
 * @returns {Array<{field: string, label: string, left: number, limit: number, text: string}>}
 */
export function remaining(st) {
  const out = [];
  for (const [field, label, usedKey] of QUOTA_FIELDS.slice(0, 5)) {
    const limit = st.limits ? st.limits[field] : undefined;
    if (typeof limit !== 'number') continue;
    const used = (st.used && st.used[usedKey]) || 0;
    const left = Math.max(0, limit - used);
    out.push({ field, label, left, limit, text: `${label}: ${fmt(left)} of ${fmt(limit)} left` });
  }
  return out;
}

/**
 * bars lays out one bar per row of a usage report for an SVG chart of the
 * given size: the tallest bar is the full height.
 * @param {Array<{key: string, cost: number}>} rows
 * @param {number} width
 * @param {number} height
 * @returns {Array<{key: string, x: number, y: number, w: number, h: number, value: number}>}
 */
export function bars(rows, width, height) {
  if (!rows.length) return [];
  const max = Math.max(...rows.map((r) => r.cost), 0);
  const slot = width / rows.length;
  const w = Math.max(1, slot * 0.7);
  return rows.map((r, i) => {
    const bh = max > 0 ? (r.cost / max) * height : 0;
    return { key: r.key, x: i * slot + (slot - w) / 2, y: height - bh, w, h: bh, value: r.cost };
  });
}

/**
 * limitsBody turns the editor's inputs (field → text) into a PUT body:
 * empty fields are left out (not set at this level).
 * @param {Record<string, string>} inputs
 * @returns {{body: Record<string, number>} | {error: string}}
 */
export function limitsBody(inputs) {
  /** @type {Record<string, number>} */
  const body = {};
  for (const [field] of QUOTA_FIELDS) {
    const v = (inputs[field] || '').trim();
    if (v === '') continue;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) return { error: `${field}: ${v} is not a number ≥ 0` };
    if (field.startsWith('max') && !Number.isInteger(n)) return { error: `${field}: ${v} is not a whole number` };
    body[field] = n;
  }
  return { body };
}
