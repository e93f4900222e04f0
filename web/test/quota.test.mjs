// Pure helpers of the quota and usage views.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { remaining, bars, limitsBody } from '../static/assets/quota-view.js';

test('remaining lists only the environment limits that are set, never below zero', () => {
  const got = remaining({ limits: { cpuCores: 8, storageGB: 50, maxServices: 3 }, used: { cpuCores: 6, storageGB: 60, services: 1 } });
  assert.deepEqual(got.map((x) => x.text), ['CPU cores: 2 of 8 left', 'Storage GB: 0 of 50 left']);
  assert.deepEqual(remaining({ limits: {}, used: {} }), []);
});

test('bars scale to the tallest and share the width', () => {
  const b = bars([{ key: '2026-01', cost: 1 }, { key: '2026-02', cost: 4 }], 200, 100);
  assert.equal(b.length, 2);
  assert.equal(b[1].h, 100);
  assert.equal(b[0].h, 25);
  assert.equal(b[0].y, 75);
  assert.ok(b[0].x < b[1].x && b[1].x + b[1].w <= 200);
  assert.deepEqual(bars([], 200, 100), []);
  assert.equal(bars([{ key: 'x', cost: 0 }], 10, 10)[0].h, 0);
});

test('limitsBody leaves empty fields out and refuses bad numbers', () => {
  assert.deepEqual(limitsBody({ cpuCores: '8', memoryGB: '', maxEnvironments: ' 3 ' }), { body: { cpuCores: 8, maxEnvironments: 3 } });
  assert.ok('error' in limitsBody({ cpuCores: '-1' }));
  assert.ok('error' in limitsBody({ maxEnvironments: '1.5' }));
  assert.deepEqual(limitsBody({ serviceCpuCores: '0.5' }), { body: { serviceCpuCores: 0.5 } });
});
