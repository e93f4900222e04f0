// @ts-check
// What the Recommendations page shows of a recommendation, as pure
// functions of what the API answers (GET /api/v1/recommendations…): the
// saving, current → proposed, the evidence, what apply did, and the lines
// drawn on its chart. Tested with node (web/test/rec.test.mjs).
import { bytes, cores } from './dom.js';
import { quantity } from './chart-data.js';

export const STATUSES = ['OPEN', 'APPLIED', 'REJECTED', 'EXPIRED', 'FAILED'];
export const KINDS = ['rightsize', 'scale', 'stop-idle', 'delete-dormant', 'rollback', 'cleanup-orphan'];

/**
 * saving writes a monthly saving: "saves 12.40 USD/month", "costs 3.10
 * USD/month more" when negative, "" when none.
 * @param {{amount?: number, currency?: string} | undefined} s
 * @returns {string}
 */
export function saving(s) {
  if (!s || !s.amount) return '';
  const cur = s.currency || '';
  const v = Math.abs(s.amount).toFixed(2);
  return s.amount > 0 ? `saves ${v} ${cur}/month` : `costs ${v} ${cur}/month more`;
}

/**
 * stateRows lists what apply changes as [what, current, proposed], only
 * the fields either side sets.
 * @param {any} cur the recommendation's current
 * @param {any} prop its proposed
 * @returns {Array<[string, string, string]>}
 */
export function stateRows(cur, prop) {
  cur = cur || {};
  prop = prop || {};
  /** @type {Array<[string, string, string]>} */
  const rows = [];
  /** @type {(v: any) => string} */
  const s = (v) => (v === undefined || v === null || v === '' ? '—' : String(v));
  const cr = cur.resources || {};
  const pr = prop.resources || {};
  if (cr.cpu || pr.cpu) rows.push(['resources.cpu', s(cr.cpu), s(pr.cpu)]);
  if (cr.memory || pr.memory) rows.push(['resources.memory', s(cr.memory), s(pr.memory)]);
  if (cur.replicas !== undefined || prop.replicas !== undefined) rows.push(['replicas', s(cur.replicas), s(prop.replicas)]);
  if (cur.revision || prop.revision) rows.push(['revision', s(cur.revision), s(prop.revision)]);
  if (cur.status || prop.status) rows.push(['status', s(cur.status), s(prop.status)]);
  if (prop.keepVolume !== undefined) rows.push(['keep volume', '', prop.keepVolume ? 'yes' : 'no']);
  return rows;
}

/**
 * evidenceRows lists the evidence as [label, value] pairs.
 * @param {any} ev
 * @returns {Array<[string, string]>}
 */
export function evidenceRows(ev) {
  ev = ev || {};
  /** @type {Array<[string, string]>} */
  const rows = [];
  /** @type {(k: string, v: any) => void} */
  const add = (k, v) => { if (v !== undefined && v !== null && v !== '' && v !== 0 && v !== false) rows.push([k, String(v)]); };
  add('Window', ev.window && `${ev.window}${ev.resolution ? ` of ${ev.resolution} points` : ''}`);
  add('Samples', ev.samples);
  if (ev.notEnoughData) add('Not enough data', `${ev.missingSamples || 0} more samples needed`);
  /** @type {(st: any, f: (n: number) => string) => string} */
  const stats = (st, f) => (st ? `p50 ${f(st.p50)} · p95 ${f(st.p95)} · peak ${f(st.max)}` : '');
  add('CPU per replica', stats(ev.cpu, cores));
  add('Memory per replica', stats(ev.memory, bytes));
  add('OOM kills', ev.oomKills);
  add('Restarts', ev.restarts);
  add('Idle since', ev.idleSince);
  add('Stopped since', ev.stoppedSince);
  add('Healthy revision', ev.healthyRevision);
  add('Note', ev.note);
  return rows;
}

/**
 * resultRows lists what apply did (the recommendation's result) as
 * [key, value] pairs, objects written as JSON.
 * @param {Record<string, any> | undefined} result
 * @returns {Array<[string, string]>}
 */
export function resultRows(result) {
  return Object.entries(result || {}).sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => [k, typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)]);
}

/**
 * chartMarks are the horizontal lines of a recommendation's chart of one
 * metric (per replica): p95 (CPU) or the peak (memory) of the evidence,
 * the current request and the proposed one.
 * @param {any} rec
 * @param {'cpu' | 'memory'} metric
 * @returns {Array<{label: string, value: number}>}
 */
export function chartMarks(rec, metric) {
  const ev = (rec.evidence || {})[metric];
  /** @type {Array<{label: string, value: number}>} */
  const out = [];
  if (ev) out.push(metric === 'cpu' ? { label: 'p95', value: ev.p95 } : { label: 'peak', value: ev.max });
  const pick = (/** @type {any} */ st) => quantity(metric, ((st || {}).resources || {})[metric]);
  const cur = pick(rec.current);
  const prop = pick(rec.proposed);
  if (cur) out.push({ label: 'current request', value: cur });
  if (prop) out.push({ label: 'proposed', value: prop });
  return out;
}

/**
 * perReplica divides a service's summed points by its replicas, so that
 * they compare with per-replica requests.
 * @param {Array<{t: string, v: number}>} points
 * @param {number | undefined} replicas
 */
export function perReplica(points, replicas) {
  const n = replicas && replicas > 0 ? replicas : 1;
  return points.map((p) => ({ t: p.t, v: p.v / n }));
}

/**
 * subjectText names a recommendation's subject ("service web", "environment dev (env-1)").
 * @param {any} rec
 * @returns {string}
 */
export function subjectText(rec) {
  const s = rec.subject || {};
  const ns = rec.namespace && s.type === 'service' ? `${rec.namespace}/` : '';
  return `${s.type || ''} ${ns}${s.name || ''}${s.id && s.id !== s.name ? ` (${s.id})` : ''}`.trim();
}

/**
 * listQuery is the list's query from the filter.
 * @param {{status?: string, kind?: string, target?: string, service?: string}} f
 * @param {number} page
 * @param {number} pageSize
 */
export function listQuery(f, page, pageSize) {
  return { status: f.status || '', kind: f.kind || '', target: f.target || '', service: (f.service || '').trim(), page, pageSize };
}
