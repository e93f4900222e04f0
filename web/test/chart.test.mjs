// The charts' pure helpers: range → resolution and query, series shaping
// for uPlot (history, forecast, band, limit on one time axis), quantities
// and formatting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  RANGES, rangeOf, historyParams, seriesOf, columns, formatValue, quantity, serviceLimit, forecastNote, inWords,
} from '../static/assets/chart-data.js';

test('ranges: raw for an hour, minute rollups to a day, hourly beyond; at most 1000 points', () => {
  const unit = { s: 1, m: 60, h: 3600, d: 86400 };
  /** @param {string} d */
  const secs = (d) => Number(d.slice(0, -1)) * unit[/** @type {'s'|'m'|'h'|'d'} */ (d.slice(-1))];
  assert.deepEqual(RANGES.map((r) => [r.id, r.resolution]), [['1h', 'raw'], ['6h', '1m'], ['24h', '1m'], ['7d', '1h'], ['30d', '1h']]);
  for (const r of RANGES) {
    const n = secs(r.id) / secs(r.step);
    assert.ok(n >= 100 && n <= 1000, `${r.id}/${r.step} gives ${n} points`);
    // The server reads raw points below a 1m step within 6h, minute rollups below 1h within 48h.
    const res = secs(r.id) <= 6 * 3600 && secs(r.step) < 60 ? 'raw' : secs(r.id) <= 48 * 3600 && secs(r.step) < 3600 ? '1m' : '1h';
    assert.equal(res, r.resolution, r.id);
  }
  assert.equal(rangeOf('7d').id, '7d');
  assert.equal(rangeOf('bogus').id, '24h');
  assert.equal(rangeOf(null).id, '24h');
  assert.deepEqual(RANGES.filter((r) => r.horizon).map((r) => r.id), ['24h', '7d', '30d']);
});

test('historyParams: the subject, both metrics, the range and its step', () => {
  assert.deepEqual(historyParams({ service: 'web', target: 'local', namespace: '' }, rangeOf('1h')),
    { range: '1h', step: '15s', metric: 'cpu,memory', service: 'web', target: 'local' });
  assert.deepEqual(historyParams({ environment: 'env-1' }, rangeOf('30d')),
    { range: '30d', step: '1h', metric: 'cpu,memory', environment: 'env-1' });
});

test('seriesOf: the subject’s own series, not a replica’s', () => {
  const res = { series: [
    { kind: 'replica', metric: 'cpu', points: [{ t: 'a', v: 9 }] },
    { kind: 'service', metric: 'cpu', points: [{ t: 'b', v: 1 }] },
    { kind: 'service', metric: 'memory', points: [{ t: 'c', v: 2 }] },
  ] };
  assert.deepEqual(seriesOf(res, 'cpu'), [{ t: 'b', v: 1 }]);
  assert.deepEqual(seriesOf(res, 'net_rx'), []);
  assert.deepEqual(seriesOf({}, 'cpu'), []);
});

test('columns: history then forecast on one axis, the forecast leaving from the last point', () => {
  const t = (/** @type {number} */ h) => new Date(Date.UTC(2026, 0, 1, h)).toISOString();
  const s = (/** @type {number} */ h) => Date.UTC(2026, 0, 1, h) / 1000;
  const hist = [{ t: t(0), v: 1 }, { t: t(1), v: 2 }, { t: t(2), v: 3 }];
  const fc = [
    { t: t(2), v: 9, lo: 9, hi: 9 }, // not after the history: left out
    { t: t(3), v: 4, lo: 3.5, hi: 4.5 },
    { t: t(4), v: 5, lo: 4, hi: 6 },
    { t: t(5), v: 6, lo: 4.5, hi: 7.5 },
  ];
  const c = columns(hist, fc, 5.5, s(4));
  assert.deepEqual(c.x, [s(0), s(1), s(2), s(3), s(4)]);
  assert.deepEqual(c.history, [1, 2, 3, null, null]);
  assert.deepEqual(c.forecast, [null, null, 3, 4, 5]);
  assert.deepEqual(c.lo, [null, null, 3, 3.5, 4]);
  assert.deepEqual(c.hi, [null, null, 3, 4.5, 6]);
  assert.deepEqual(c.limit, [5.5, 5.5, 5.5, 5.5, 5.5]);
  assert.equal(c.points, 3);
  const none = columns(hist, [], 0);
  assert.deepEqual(none.forecast, [null, null, null]);
  assert.deepEqual(none.limit, [null, null, null]);
  assert.deepEqual(columns([], [], 1).x, []);
  // Unsorted input and a bad point.
  assert.deepEqual(columns([{ t: t(2), v: 3 }, { t: 'x', v: 1 }, { t: t(1), v: NaN }, { t: t(0), v: 1 }], [], 0).x, [s(0), s(2)]);
});

test('quantity and serviceLimit: Kubernetes quantities, × replicas', () => {
  for (const [m, v, want] of [['cpu', '500m', 0.5], ['cpu', '2', 2], ['cpu', '0.25', 0.25], ['cpu', '', 0], ['cpu', 'lots', 0],
    ['memory', '256Mi', 256 * 2 ** 20], ['memory', '1Gi', 2 ** 30], ['memory', '1G', 1e9], ['memory', '1048576', 1048576],
    ['memory', '1.5Gi', 0], ['memory', 'Mi', 0]]) {
    assert.equal(quantity(String(m), String(v)), want, `${m} ${v}`);
  }
  assert.equal(serviceLimit({ resources: { cpu: '500m', memory: '1Gi' }, replicas: 3 }, 'cpu'), 1.5);
  assert.equal(serviceLimit({ resources: { memory: '1Gi' } }, 'memory'), 2 ** 30);
  assert.equal(serviceLimit({ resources: { memory: '1Gi' }, replicas: 0 }, 'memory'), 0);
  assert.equal(serviceLimit(undefined, 'cpu'), 0);
});

test('formatValue and forecastNote: units and what a prediction means', () => {
  assert.equal(formatValue('cpu', 0.25), '250m');
  assert.equal(formatValue('memory', 3 * 2 ** 30), '3.0 GiB');
  assert.equal(formatValue('cpu', null), '—');
  const now = Date.UTC(2026, 0, 1);
  const base = { metric: 'memory', method: 'holt', limit: 2 ** 30, limitSource: 'request', horizon: '3d', backtest: { error: 0.0423 } };
  assert.equal(forecastNote({ ...base, reachesLimitAt: new Date(now + 36 * 3600e3).toISOString() }, now),
    'Forecast reaches in 36 h its request (1.0 GiB). Backtest error on the last day: 4.2% (holt).');
  assert.equal(forecastNote({ ...base, reachesLimitAt: new Date(now - 60e3).toISOString() }, now),
    'Forecast has reached its request (1.0 GiB). Backtest error on the last day: 4.2% (holt).');
  assert.equal(forecastNote(base, now), 'Stays below its request (1.0 GiB) for the next 3d. Backtest error on the last day: 4.2% (holt).');
  assert.equal(forecastNote({ ...base, limit: 0, limitSource: '' }, now), 'Forecast (holt); no request to compare with. Backtest error on the last day: 4.2% (holt).');
  assert.equal(forecastNote({ notEnoughData: '30 of 48 hourly points' }), 'No forecast: not enough data (30 of 48 hourly points).');
  assert.equal(forecastNote(undefined), '');
  assert.deepEqual([inWords(30e3), inWords(20 * 60e3), inWords(5 * 3600e3), inWords(5 * 86400e3)], ['1 min', '20 min', '5 h', '5 days']);
});
