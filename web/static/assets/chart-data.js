// @ts-check
// The charts' pure helpers: which history a range reads (and so which
// resolution the server answers from), how far the forecast reaches, and
// how the API's series, forecast and limit become uPlot's columns. They
// run without a DOM (web/test/chart.test.mjs).
import { bytes, cores } from './dom.js';

/**
 * @typedef {object} Range
 * @property {string} id the range the API reads ("1h", "7d")
 * @property {string} label
 * @property {string} step the width of each point
 * @property {'raw' | '1m' | '1h'} resolution what the server reads for it
 * @property {string} [horizon] how far the forecast is drawn; none: no forecast
 */

/**
 * RANGES: raw samples for the last hour (the raw history kept is 6h),
 * minute rollups up to a day (48h kept), hourly rollups beyond (30d).
 * Forecasts come from hourly rollups, so they are drawn on the ranges
 * whose points are at least minutes wide.
 * @type {Range[]}
 */
export const RANGES = [
  { id: '1h', label: '1h', step: '15s', resolution: 'raw' },
  { id: '6h', label: '6h', step: '1m', resolution: '1m' },
  { id: '24h', label: '24h', step: '2m', resolution: '1m', horizon: '24h' },
  { id: '7d', label: '7d', step: '1h', resolution: '1h', horizon: '72h' },
  { id: '30d', label: '30d', step: '1h', resolution: '1h', horizon: '7d' },
];

export const DEFAULT_RANGE = '24h';

/**
 * rangeOf finds a range by id (an unknown one is the default).
 * @param {string | null | undefined} id
 * @returns {Range}
 */
export function rangeOf(id) {
  return RANGES.find((r) => r.id === id) || /** @type {Range} */ (RANGES.find((r) => r.id === DEFAULT_RANGE));
}

/**
 * historyParams are the query of GET /api/v1/metrics/history for a subject
 * and a range: both metrics, the range's step.
 * @param {{service?: string, target?: string, namespace?: string, environment?: string}} subject
 * @param {Range} range
 * @returns {Record<string, string>}
 */
export function historyParams(subject, range) {
  /** @type {Record<string, string>} */
  const p = { range: range.id, step: range.step, metric: 'cpu,memory' };
  for (const k of /** @type {const} */ (['service', 'target', 'namespace', 'environment'])) {
    const v = subject[k];
    if (v) p[k] = v;
  }
  return p;
}

/** @typedef {{t: string, v: number, min?: number, max?: number, p95?: number, n?: number}} Point */
/** @typedef {{t: string, v: number, lo: number, hi: number}} ForecastPoint */

/**
 * seriesOf picks the subject's own series of a metric from a history
 * answer (not a replica's).
 * @param {{series?: Array<{kind: string, metric: string, points: Point[]}>}} res
 * @param {string} metric
 * @returns {Point[]}
 */
export function seriesOf(res, metric) {
  const s = (res.series || []).find((x) => x.kind !== 'replica' && x.metric === metric);
  return s ? s.points : [];
}

/** @param {string} t @returns {number} seconds since the epoch */
const sec = (t) => Math.floor(Date.parse(t) / 1000);

/**
 * @typedef {object} Columns
 * @property {number[]} x times in seconds, ascending
 * @property {Array<number | null>} history measured values
 * @property {Array<number | null>} forecast the forecast's values
 * @property {Array<number | null>} lo the band's lower edge
 * @property {Array<number | null>} hi the band's upper edge
 * @property {Array<number | null>} limit the limit, over the whole span (null without one)
 * @property {Array<number | null>} [marks] extra horizontal lines, one column each
 * @property {number} points measured points
 */

/**
 * columns lays history, forecast and the limit on one time axis (uPlot's
 * data: one x array, one column per series, null where a series has no
 * value). The forecast starts at the last measured point so that its line
 * continues the history's; only forecast points after the history's end
 * and within horizonEnd (seconds, 0: all) are drawn.
 * @param {Point[]} history
 * @param {ForecastPoint[]} forecast
 * @param {number} limit 0: none
 * @param {number} [horizonEnd]
 * @returns {Columns}
 */
export function columns(history, forecast, limit, horizonEnd = 0) {
  /** @type {Map<number, {h?: number, f?: number, lo?: number, hi?: number}>} */
  const at = new Map();
  /** @type {(t: number) => {h?: number, f?: number, lo?: number, hi?: number}} */
  const row = (t) => {
    let r = at.get(t);
    if (!r) at.set(t, (r = {}));
    return r;
  };
  let last = -Infinity;
  for (const p of history) {
    const t = sec(p.t);
    if (!Number.isFinite(t) || !Number.isFinite(p.v)) continue;
    row(t).h = p.v;
    last = Math.max(last, t);
  }
  const fc = forecast.filter((p) => {
    const t = sec(p.t);
    return Number.isFinite(t) && t > last && (!horizonEnd || t <= horizonEnd);
  });
  if (fc.length && last > -Infinity) {
    const r = row(last);
    r.f = r.lo = r.hi = r.h; // the forecast leaves from the last measurement
  }
  for (const p of fc) Object.assign(row(sec(p.t)), { f: p.v, lo: p.lo, hi: p.hi });
  const x = [...at.keys()].sort((a, b) => a - b);
  /** @type {(k: 'h' | 'f' | 'lo' | 'hi') => Array<number | null>} */
  const col = (k) => x.map((t) => {
    const v = /** @type {{h?: number, f?: number, lo?: number, hi?: number}} */ (at.get(t))[k];
    return v === undefined ? null : v;
  });
  return {
    x, history: col('h'), forecast: col('f'), lo: col('lo'), hi: col('hi'),
    limit: x.map(() => (limit > 0 ? limit : null)),
    points: history.length,
  };
}

/**
 * formatValue writes a value of a metric in its unit (cores, bytes).
 * @param {string} metric cpu | memory
 * @param {number | null | undefined} v
 * @returns {string}
 */
export function formatValue(metric, v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return '—';
  return metric === 'cpu' ? cores(v) : bytes(v);
}

/** @type {Array<[string, number]>} */
const MEM = [['Ki', 2 ** 10], ['Mi', 2 ** 20], ['Gi', 2 ** 30], ['Ti', 2 ** 40], ['k', 1e3], ['M', 1e6], ['G', 1e9], ['T', 1e12]];

/**
 * quantity parses a Kubernetes quantity of a metric as the API takes it:
 * CPU "500m" or "2" into cores, memory "256Mi" or "1G" into bytes; 0 when
 * empty or not one.
 * @param {string} metric
 * @param {string | undefined} q
 * @returns {number}
 */
export function quantity(metric, q) {
  if (!q) return 0;
  if (metric === 'cpu') {
    const m = /^(\d+)m$/.exec(q);
    if (m) return Number(m[1]) / 1000;
    const n = Number(q);
    return Number.isFinite(n) && n > 0 ? n : 0;
  }
  for (const [suffix, mult] of MEM) {
    if (q.endsWith(suffix)) {
      const n = Number(q.slice(0, -suffix.length));
      return /^\d+$/.test(q.slice(0, -suffix.length)) && n > 0 ? n * mult : 0;
    }
  }
  return /^\d+$/.test(q) ? Number(q) : 0;
}

/**
 * serviceLimit is what a service's series (summed over replicas) is
 * compared with: its request × its desired replicas (0: no request).
 * @param {{resources?: {cpu?: string, memory?: string}, replicas?: number} | undefined} spec
 * @param {string} metric
 * @returns {number}
 */
export function serviceLimit(spec, metric) {
  if (!spec) return 0;
  const r = spec.resources || {};
  const per = quantity(metric, metric === 'cpu' ? r.cpu : r.memory);
  return per * (spec.replicas === undefined ? 1 : spec.replicas);
}

/**
 * forecastNote says what a prediction means for a reader: when the limit
 * is reached, or that it is not within the horizon, or why there is none,
 * with the backtest error.
 * @param {any} p a prediction of GET /api/v1/predictions
 * @param {number} [now] milliseconds since the epoch
 * @returns {string}
 */
export function forecastNote(p, now = Date.now()) {
  if (!p) return '';
  if (p.notEnoughData) return `No forecast: not enough data (${p.notEnoughData}).`;
  const err = p.backtest ? ` Backtest error on the last day: ${Math.round(p.backtest.error * 1000) / 10}% (${p.method}).` : '';
  if (!p.limit) return `Forecast (${p.method}); no ${p.limitSource === 'size' ? 'size' : 'request'} to compare with.${err}`;
  if (!p.reachesLimitAt) return `Stays below its ${p.limitSource} (${formatValue(p.metric, p.limit)}) for the next ${p.horizon}.${err}`;
  const ms = Date.parse(p.reachesLimitAt) - now;
  const when = ms <= 0 ? 'has reached' : `reaches in ${inWords(ms)}`;
  return `Forecast ${when} its ${p.limitSource} (${formatValue(p.metric, p.limit)}).${err}`;
}

/** @param {number} ms @returns {string} */
export function inWords(ms) {
  const h = ms / 3600e3;
  if (h < 1) return `${Math.max(1, Math.round(ms / 60e3))} min`;
  if (h < 48) return `${Math.round(h)} h`;
  return `${Math.round(h / 24)} days`;
}
