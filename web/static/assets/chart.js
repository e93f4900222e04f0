// @ts-check
// Charts of CPU and memory history with a range selector, the forecast and
// its band (GET /api/v1/predictions) and the limit line, drawn by uPlot
// (vendored by scripts/vendor-uplot.sh; it styles its elements through the
// DOM, which the CSP allows, and its stylesheet is a file). The data
// shaping is in chart-data.js.
import uPlot from './vendor/uplot/uPlot.esm.js';
import { h } from './dom.js';
import { api, q } from './api.js';
import { RANGES, rangeOf, historyParams, seriesOf, columns, formatValue, forecastNote } from './chart-data.js';

const LIVE = new Set(['1h', '6h']);
const METRICS = [['cpu', 'CPU (cores)'], ['memory', 'Memory']];
const COLORS = { history: '#1f66c1', forecast: '#7e3bc9', band: 'rgba(126, 59, 201, 0.14)', limit: '#b42318', mark: '#925400' };

/**
 * @typedef {object} ChartSubject
 * @property {string} [service]
 * @property {string} [target]
 * @property {string} [namespace]
 * @property {string} [environment]
 */

/**
 * plot draws one chart of cols into box (replacing what was there).
 * @param {HTMLElement} box
 * @param {string} metric
 * @param {import('./chart-data.js').Columns} cols
 * @param {Array<{label: string, value: number}>} [marks] extra horizontal lines (p95, a proposal)
 * @returns {uPlot}
 */
export function plot(box, metric, cols, marks = []) {
  const fmt = (/** @type {any} */ _u, /** @type {number} */ v) => formatValue(metric, v);
  /** @type {uPlot.Series[]} */
  const series = [
    {},
    { label: 'measured', stroke: COLORS.history, width: 1.5, value: fmt },
    { label: 'forecast', stroke: COLORS.forecast, width: 1.5, dash: [6, 4], value: fmt },
    { label: 'band low', stroke: COLORS.band, value: fmt },
    { label: 'band high', stroke: COLORS.band, value: fmt },
    { label: 'limit', stroke: COLORS.limit, width: 1, dash: [2, 3], value: fmt },
  ];
  /** @type {uPlot.AlignedData} */
  const data = [cols.x, cols.history, cols.forecast, cols.lo, cols.hi, cols.limit];
  for (const m of marks) {
    series.push({ label: m.label, stroke: COLORS.mark, width: 1, dash: [4, 2], value: fmt });
    data.push(cols.x.map(() => m.value));
  }
  /** @type {uPlot.Options} */
  const opts = {
    width: Math.max(280, box.clientWidth || 560),
    height: 180,
    series,
    bands: [{ series: [4, 3], fill: COLORS.band }],
    scales: { x: { time: true }, y: { range: (_u, min, max) => [0, Math.max(max, min, 0) * 1.1 || 1] } },
    axes: [{}, { values: (_u, vals) => vals.map((v) => formatValue(metric, v)), size: 70 }],
    legend: { live: true },
    cursor: { drag: { x: false, y: false } },
  };
  box.replaceChildren();
  return new uPlot(opts, data, box);
}

/**
 * usageCharts is a panel of CPU and memory history with a range selector;
 * load (again) with the subject's limits per metric. The forecast is drawn
 * on the ranges that have one (chart-data.js RANGES).
 * @param {import('./page.js').Page} page
 * @param {{title?: string, range?: string, limit: (metric: string) => number}} opts
 */
export function usageCharts(page, opts) {
  let range = rangeOf(opts.range);
  /** @type {ChartSubject | null} */
  let subject = null;
  /** @type {Map<string, uPlot>} */
  const plots = new Map();
  /** @type {AbortController | null} */
  let inflight = null;
  const buttons = RANGES.map((r) => h('button', {
    type: 'button', class: 'small', testid: `range-${r.id}`, 'aria-pressed': String(r.id === range.id),
    on: { click: () => choose(r.id) },
  }, r.label));
  const status = h('span', { class: 'muted small', testid: 'chart-status' });
  const boxes = new Map(METRICS.map(([m, label]) => {
    const box = h('div', { class: 'chart', testid: `chart-${m}`, data: { metric: m, points: '0' } });
    const note = h('p', { class: 'muted small chart-note', testid: `forecast-${m}` });
    return [m, { box, note, label }];
  }));
  const el = h('section', { class: 'panel', testid: 'usage-charts' },
    h('div', { class: 'panel-head' }, h('h2', null, opts.title || 'Usage history'), status,
      h('div', { class: 'range', role: 'group', 'aria-label': 'range' }, buttons)),
    h('div', { class: 'charts' }, [...boxes.values()].map(({ box, note, label }) => h('div', null, h('h3', null, label), box, note))));

  const onResize = () => {
    for (const [m, u] of plots) {
      const b = boxes.get(m);
      if (b && b.box.clientWidth) u.setSize({ width: b.box.clientWidth, height: 180 });
    }
  };
  window.addEventListener('resize', onResize);
  page.cleanup(() => {
    window.removeEventListener('resize', onResize);
    if (inflight) inflight.abort();
    for (const u of plots.values()) u.destroy();
  });

  // The short ranges follow the sampler: its "metrics" events re-read
  // them, at most every 5 s.
  page.watch(['metrics'], () => (subject && LIVE.has(range.id) ? load() : undefined), { delay: 5000, event: () => LIVE.has(range.id) });

  /** @param {string} id */
  function choose(id) {
    range = rangeOf(id);
    for (const b of buttons) b.setAttribute('aria-pressed', String(b.dataset.testid === `range-${range.id}`));
    void load();
  }

  async function load() {
    if (!subject) return;
    if (inflight) inflight.abort();
    const ctl = new AbortController();
    inflight = ctl;
    const signal = AbortSignal.any([ctl.signal, page.signal]);
    status.textContent = 'loading…';
    el.dataset.range = range.id;
    try {
      const history = api(`/metrics/history${q(historyParams(subject, range))}`, { quiet: true, signal });
      const preds = range.horizon
        ? api(`/predictions${q({ ...predictionSubject(subject), horizon: range.horizon })}`, { quiet: true, signal }).catch((e) => {
          if (signal.aborted) throw e;
          return { predictions: [] }; // no forecast is no reason to hide the history
        })
        : Promise.resolve({ predictions: [] });
      const [res, pr] = await Promise.all([history, preds]);
      if (signal.aborted) return;
      for (const [m, { box, note }] of boxes) {
        const p = (pr.predictions || []).find((/** @type {any} */ x) => x.metric === m);
        const limit = (p && p.limit) || opts.limit(m);
        const cols = columns(seriesOf(res, m), (p && p.forecast) || [], limit);
        const old = plots.get(m);
        if (old && old.root.isConnected && box.contains(old.root)) {
          old.setData([cols.x, cols.history, cols.forecast, cols.lo, cols.hi, cols.limit]);
        } else {
          if (old) old.destroy();
          plots.set(m, plot(box, m, cols));
        }
        box.dataset.points = String(cols.points);
        box.dataset.resolution = res.resolution;
        box.dataset.forecast = String(cols.forecast.filter((v) => v !== null).length);
        note.textContent = range.horizon ? forecastNote(p) : 'Forecasts are drawn on the 24h, 7d and 30d ranges.';
      }
      status.textContent = `${res.range} · ${res.resolution} points every ${res.step}`;
      el.dataset.loaded = range.id;
    } catch (e) {
      if (signal.aborted) return;
      status.textContent = e instanceof Error ? e.message : String(e);
    }
  }

  return {
    el,
    /**
     * show (re)loads the charts of subject.
     * @param {ChartSubject} s
     */
    show(s) {
      subject = s;
      return load();
    },
    reload: load,
  };
}

/**
 * predictionSubject is the predictions API's query for a chart's subject.
 * @param {ChartSubject} s
 */
function predictionSubject(s) {
  return s.environment ? { environment: s.environment } : { service: s.service, target: s.target, namespace: s.namespace };
}
