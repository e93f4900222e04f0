// The service page's rules, apart from its DOM: which actions have
// something to do, how measurements are read, the env editor's rows, the
// spec editor's checks, the live log topic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { actionStates, usageFromAPI, usageFromEvent, specRows } from '../static/assets/service-view.js';
import { envFromPairs } from '../static/assets/service-config.js';
import { checkSpecEdit, editableSpec, REDACTED } from '../static/assets/service-spec.js';
import { logTopic } from '../static/assets/service-logs.js';

test('actionStates: start, stop, rollback and delete follow the state', () => {
  const off = (svc) => Object.fromEntries(actionStates(svc).map((a) => [a.id, a.off]));
  const cases = [
    [{ status: 'RUNNING', revision: 2, managed: true }, { start: true, stop: false, rollback: false, delete: false }],
    [{ status: 'STOPPED', revision: 2, managed: true, stopped: true }, { start: false, stop: true, rollback: false, delete: false }],
    // Stopped on request but still going down: both directions stay possible.
    [{ status: 'STOPPING', stopped: true, revision: 1, managed: true }, { start: false, stop: true, rollback: true, delete: false }],
    [{ status: 'ERROR', revision: 3, managed: false }, { start: false, stop: false, rollback: false, delete: true }],
    // Running but asked to stop (the event came first): start is offered.
    [{ status: 'RUNNING', stopped: true, revision: 2 }, { start: false, stop: false, rollback: false, delete: false }],
  ];
  for (const [svc, want] of cases) assert.deepEqual(off(svc), want, JSON.stringify(svc));
  const why = Object.fromEntries(actionStates({ status: 'RUNNING', revision: 1, managed: false }).map((a) => [a.id, a.why]));
  assert.equal(why.start, 'the service is running');
  assert.match(why.rollback, /revision 1/);
  assert.match(why.delete, /did not create/);
});

test('usageFromAPI: the last point of each series, per replica', () => {
  const res = {
    time: '2026-01-01T00:00:00Z',
    memoryBytes: 2048,
    replicas: [{ replica: 'web-0', rssBytes: 1024 }, { replica: 'web-1', rssBytes: 1024 }],
    history: { series: [
      { kind: 'service', metric: 'cpu', points: [{ v: 0.1 }, { v: 0.3 }] },
      { kind: 'replica', metric: 'cpu', replica: 'web-0', points: [{ v: 0.2 }] },
      { kind: 'replica', metric: 'cpu', replica: 'web-1', points: [] },
    ] },
  };
  assert.deepEqual(usageFromAPI(res), {
    total: { cpu: 0.3, memory: 2048 },
    replicas: { 'web-0': { cpu: 0.2, memory: 1024 }, 'web-1': { cpu: undefined, memory: 1024 } },
    at: '2026-01-01T00:00:00Z',
  });
  assert.deepEqual(usageFromAPI({}), { total: { cpu: undefined, memory: undefined }, replicas: {}, at: undefined });
  assert.deepEqual(usageFromEvent({ values: { cpu: 1 }, replicas: [{ name: 'a', values: { memory: 5 } }, { name: 'b' }] }),
    { total: { cpu: 1 }, replicas: { a: { memory: 5 }, b: {} } });
});

test('specRows: what the spec sets, in order', () => {
  const rows = specRows({ image: 'nginx', ports: [{ name: 'http', port: 80 }, { port: 81 }], resources: { memory: '1Gi' },
    healthCheck: { http: '/healthz', port: 80 }, replicas: 0 });
  assert.deepEqual(rows, [['Image', 'nginx'], ['Ports', 'http 80, port 81'], ['Resources', 'memory 1Gi'],
    ['Health check', 'HTTP GET /healthz on 80'], ['Replicas (desired)', '0']]);
  assert.deepEqual(specRows({}), []);
});

test('envFromPairs: empty rows skipped, nameless or repeated ones pointed at', () => {
  assert.deepEqual(envFromPairs([['A', '1'], ['', ''], [' B ', 'x=y']]), { env: { A: '1', B: 'x=y' } });
  assert.deepEqual(envFromPairs([['A', '1'], ['', 'v']]), { index: 1, error: 'give the variable a name' });
  assert.deepEqual(envFromPairs([['A', '1'], ['B', ''], ['A', '2']]), { index: 2, error: 'A is set twice' });
  assert.deepEqual(envFromPairs([['constructor', 'x']]), { env: { constructor: 'x' } });
});

test('checkSpecEdit: what the editor refuses before sending, and the secrets it would drop', () => {
  const svc = { name: 'web', target: 'kube', namespace: 'team-a', spec: { secrets: { DB: REDACTED, TOKEN: REDACTED } } };
  const cases = [
    [[], /give a JSON object/],
    [null, /give a JSON object/],
    [{ target: 'other' }, /^target: cannot be changed/],
    [{ namespace: 'default' }, /^namespace: cannot be changed/],
    [{ secrets: 'x' }, /^secrets: give an object/],
    [{ secrets: { DB: REDACTED } }, /DB hold "\[redacted\]"/],
  ];
  for (const [body, re] of cases) {
    const c = checkSpecEdit(body, svc);
    assert.ok('error' in c && re.test(c.error), `${JSON.stringify(body)}: ${JSON.stringify(c)}`);
  }
  assert.deepEqual(checkSpecEdit({ target: 'kube', namespace: 'team-a', image: 'x' }, svc), { dropped: ['DB', 'TOKEN'] });
  assert.deepEqual(checkSpecEdit({ secrets: { DB: 'real' } }, svc), { dropped: ['TOKEN'] });
  assert.deepEqual(checkSpecEdit({ command: ['sleep', '1'] }, { name: 'w', target: 'local' }), { dropped: [] });
  assert.deepEqual(editableSpec({ target: 't', namespace: 'n', secrets: {}, image: 'i', replicas: 2 }), { image: 'i', replicas: 2 });
});

test('logTopic: qualified by target and namespace, none for names the topic cannot carry', () => {
  assert.equal(logTopic({ name: 'web', target: 'local' }), 'logs:local:web');
  assert.equal(logTopic({ name: 'web', namespace: 'team-a', target: 'kube' }), 'logs:kube:team-a/web');
  assert.equal(logTopic({ name: 'web' }), 'logs:web');
  assert.equal(logTopic({ name: 'Web', target: 'local' }), '');
  assert.equal(logTopic({ name: 'web', namespace: 'a_b', target: 'kube' }), '');
  assert.equal(logTopic({ name: 'web', target: 'bad:target' }), 'logs:web');
});
