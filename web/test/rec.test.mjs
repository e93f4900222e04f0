// The Recommendations page's pure helpers: saving, current → proposed,
// evidence, what apply did, the chart's lines, per-replica shaping.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  saving, stateRows, evidenceRows, resultRows, chartMarks, perReplica, subjectText, listQuery, KINDS, STATUSES,
} from '../static/assets/rec-view.js';

test('saving: positive saves, negative costs more, none is empty', () => {
  assert.equal(saving({ amount: 12.4, currency: 'USD' }), 'saves 12.40 USD/month');
  assert.equal(saving({ amount: -3.1, currency: 'EUR' }), 'costs 3.10 EUR/month more');
  assert.equal(saving({ amount: 0, currency: 'USD' }), '');
  assert.equal(saving(undefined), '');
});

test('stateRows: the spec’s own fields either side sets', () => {
  assert.deepEqual(stateRows({ resources: { cpu: '2', memory: '2Gi' }, replicas: 1, revision: 3 }, { resources: { cpu: '100m', memory: '128Mi' } }), [
    ['resources.cpu', '2', '100m'], ['resources.memory', '2Gi', '128Mi'], ['replicas', '1', '—'], ['revision', '3', '—'],
  ]);
  assert.deepEqual(stateRows({ replicas: 2 }, { replicas: 5 }), [['replicas', '2', '5']]);
  assert.deepEqual(stateRows({ status: 'STOPPED' }, { status: 'DELETED', keepVolume: true }), [['status', 'STOPPED', 'DELETED'], ['keep volume', '', 'yes']]);
  assert.deepEqual(stateRows(undefined, undefined), []);
});

test('evidenceRows: window, samples, per-replica stats in units, what is missing', () => {
  const rows = evidenceRows({ window: '7d', resolution: '1m', samples: 10080, cpu: { p50: 0.05, p95: 0.1, max: 0.3 },
    memory: { p50: 40 * 2 ** 20, p95: 48 * 2 ** 20, max: 50 * 2 ** 20 }, oomKills: 1, restarts: 0 });
  assert.deepEqual(rows, [
    ['Window', '7d of 1m points'], ['Samples', '10080'],
    ['CPU per replica', 'p50 50m · p95 100m · peak 300m'], ['Memory per replica', 'p50 40 MiB · p95 48 MiB · peak 50 MiB'],
    ['OOM kills', '1'],
  ]);
  assert.deepEqual(evidenceRows({ window: '7d', samples: 40, notEnoughData: true, missingSamples: 60 }),
    [['Window', '7d'], ['Samples', '40'], ['Not enough data', '60 more samples needed']]);
});

test('resultRows: sorted, objects as JSON', () => {
  assert.deepEqual(resultRows({ revision: 4, action: 'service.apply', spec: { replicas: 2 } }),
    [['action', 'service.apply'], ['revision', '4'], ['spec', '{"replicas":2}']]);
  assert.deepEqual(resultRows(undefined), []);
});

test('chartMarks: p95 for CPU, peak for memory, current and proposed requests', () => {
  const rec = { evidence: { cpu: { p95: 0.1, max: 0.3 }, memory: { max: 50 * 2 ** 20 } },
    current: { resources: { cpu: '2', memory: '2Gi' } }, proposed: { resources: { cpu: '100m', memory: '64Mi' } } };
  assert.deepEqual(chartMarks(rec, 'cpu'), [{ label: 'p95', value: 0.1 }, { label: 'current request', value: 2 }, { label: 'proposed', value: 0.1 }]);
  assert.deepEqual(chartMarks(rec, 'memory'), [{ label: 'peak', value: 50 * 2 ** 20 }, { label: 'current request', value: 2 ** 31 },
    { label: 'proposed', value: 64 * 2 ** 20 }]);
  assert.deepEqual(chartMarks({ kind: 'stop-idle' }, 'cpu'), []);
});

test('perReplica, subjectText, listQuery', () => {
  assert.deepEqual(perReplica([{ t: 'a', v: 3 }], 3), [{ t: 'a', v: 1 }]);
  assert.deepEqual(perReplica([{ t: 'a', v: 3 }], 0), [{ t: 'a', v: 3 }]);
  assert.equal(subjectText({ subject: { type: 'service', name: 'web' }, namespace: 'prod' }), 'service prod/web');
  assert.equal(subjectText({ subject: { type: 'environment', name: 'dev', id: 'env-1' } }), 'environment dev (env-1)');
  assert.deepEqual(listQuery({ status: 'OPEN', service: ' web ' }, 2, 20), { status: 'OPEN', kind: '', target: '', service: 'web', page: 2, pageSize: 20 });
  assert.equal(KINDS.length, 6);
  assert.deepEqual(STATUSES, ['OPEN', 'APPLIED', 'REJECTED', 'EXPIRED', 'FAILED']);
});
