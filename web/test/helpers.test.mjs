// The dashboard's pure helpers: pager math, the service link builder,
// query strings, formatting, and the New service form's parsing and target
// filter. They run without a DOM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pageCount, parsePage, plural, pagerState } from '../static/assets/pager.js';
import { fullName, serviceKey, serviceHref, servicePath } from '../static/assets/links.js';
import { q } from '../static/assets/query.js';
import { bytes, cores, ago, statusClass } from '../static/assets/dom.js';
import { splitCommand, parsePorts, parseEnv, runsServices } from '../static/assets/service-form.js';

test('pageCount: at least one page, a partial page counts', () => {
  for (const [total, size, want] of [[0, 50, 1], [1, 50, 1], [50, 50, 1], [51, 50, 2], [100, 50, 2], [101, 50, 3], [undefined, 50, 1]]) {
    assert.equal(pageCount(total, size), want, `${total}/${size}`);
  }
});

test('parsePage: whole numbers from 1, anything else is page 1', () => {
  for (const [v, want] of [['3', 3], ['1', 1], [null, 1], ['', 1], ['0', 1], ['-2', 1], ['2.5', 1], ['x', 1], ['12', 12]]) {
    assert.equal(parsePage(v), want, String(v));
  }
});

test('pagerState: text and which buttons work', () => {
  const noun = ['entry', 'entries'];
  assert.deepEqual(pagerState(0, 1, 50, noun), { pages: 1, text: '0 entries · page 1 of 1', prev: false, next: false });
  assert.deepEqual(pagerState(1, 1, 50, noun), { pages: 1, text: '1 entry · page 1 of 1', prev: false, next: false });
  assert.deepEqual(pagerState(120, 1, 50, noun), { pages: 3, text: '120 entries · page 1 of 3', prev: false, next: true });
  assert.deepEqual(pagerState(120, 2, 50, noun), { pages: 3, text: '120 entries · page 2 of 3', prev: true, next: true });
  assert.deepEqual(pagerState(120, 3, 50, noun), { pages: 3, text: '120 entries · page 3 of 3', prev: true, next: false });
  assert.equal(plural(2, ['service', 'services']), '2 services');
});

test('service links: one segment for ns/name, target unless it is the default', () => {
  const cases = [
    [{ name: 'web', target: 'local' }, 'local', '#/services/web', '/services/web?target=local', 'web', 'local||web'],
    [{ name: 'web', target: 'edge' }, 'local', '#/services/web?target=edge', '/services/web?target=edge', 'web', 'edge||web'],
    [{ name: 'web', namespace: 'team-a', target: 'kube' }, 'local', '#/services/team-a%2Fweb?target=kube', '/services/team-a%2Fweb?target=kube', 'team-a/web', 'kube|team-a|web'],
    [{ name: 'crash', target: 'edge' }, '', '#/services/crash?target=edge', '/services/crash?target=edge', 'crash', 'edge||crash'],
  ];
  for (const [s, def, href, apiPath, full, key] of cases) {
    assert.equal(serviceHref(s, def), href);
    assert.equal(servicePath(fullName(s), s.target), apiPath);
    assert.equal(fullName(s), full);
    assert.equal(serviceKey(s), key);
  }
  assert.equal(servicePath('web', '', '/logs', { tail: 200 }), '/services/web/logs?tail=200');
  assert.equal(servicePath('web', 'edge', '', { namespace: 'ns' }), '/services/web?namespace=ns&target=edge');
  // Keys tell apart what names alone do not.
  assert.notEqual(serviceKey({ name: 'web', target: 'a' }), serviceKey({ name: 'web', target: 'b' }));
});

test('q: only non-empty values, escaped', () => {
  assert.equal(q({}), '');
  assert.equal(q({ a: '', b: null, c: undefined }), '');
  assert.equal(q({ type: 'apply', page: 2, user: 'a b&c' }), '?type=apply&page=2&user=a+b%26c');
  assert.equal(q({ zero: 0 }), '?zero=0');
});

test('formatting: bytes, cores, ago, status classes', () => {
  for (const [n, want] of [[undefined, '—'], [0, '0 B'], [512, '512 B'], [1536, '1.5 KiB'], [10 * 1024 * 1024, '10 MiB'], [3 * 1024 ** 3, '3.0 GiB']]) {
    assert.equal(bytes(n), want, String(n));
  }
  for (const [n, want] of [[undefined, '—'], [0.005, '5.0m'], [0.25, '250m'], [1.5, '1.50']]) {
    assert.equal(cores(n), want, String(n));
  }
  const before = (s) => new Date(Date.now() - s * 1000).toISOString();
  assert.equal(ago(''), '—');
  assert.equal(ago('0001-01-01T00:00:00Z'), '—');
  assert.equal(ago(before(1)), 'just now');
  assert.equal(ago(before(30)), '30s ago');
  assert.equal(ago(before(120)), '2m ago');
  assert.equal(ago(before(7200)), '2h ago');
  assert.equal(ago(before(3 * 86400)), '3d ago');
  assert.equal(statusClass('running'), 'status s-ok');
  assert.equal(statusClass('DEGRADED'), 'status s-warn');
  assert.equal(statusClass('CRASHLOOP'), 'status s-bad');
  assert.equal(statusClass(undefined), 'status s-off');
  assert.equal(statusClass('SOMETHING'), 'status s-off');
});

test('New service form: command, ports and env parsing', () => {
  assert.deepEqual(splitCommand('  python3 -m   http.server '), ['python3', '-m', 'http.server']);
  assert.deepEqual(splitCommand('   '), []);
  assert.deepEqual(parsePorts('http:8080, metrics:9090 admin:1'), [{ name: 'http', port: 8080 }, { name: 'metrics', port: 9090 }, { name: 'admin', port: 1 }]);
  assert.deepEqual(parsePorts(''), []);
  assert.throws(() => parsePorts('8080'), { message: /^ports: "8080" is not name:port/ });
  assert.deepEqual(parseEnv('A=1\n\nB = x=y\r\nC='), { A: '1', 'B': ' x=y', C: '' });
  assert.throws(() => parseEnv('A=1\nnope'), { message: 'env: line 2 "nope" is not KEY=value' });
  assert.throws(() => parseEnv('A=1\nA=2'), { message: 'env: A is set twice' });
});

test('New service form: only targets that run services, all of them from an older server', () => {
  const targets = [
    { name: 'local', capabilities: ['services', 'environments', 'logs'] },
    { name: 'aci', capabilities: ['environments'] },
    { name: 'kube', capabilities: ['services', 'environments'] },
    { name: 'old' }, // a server without the field
    { name: 'none', capabilities: [] },
  ];
  assert.deepEqual(targets.filter(runsServices).map((t) => t.name), ['local', 'kube', 'old']);
});

test('chat answerView: reply lines, code with apply, confirm, results, suggestions', async () => {
  const { answerView, fileName } = await import('../static/assets/chat.js');
  const gen = answerView({ reply: 'Here is a spec.\nSay apply it.', code: { language: 'yaml', content: '# redis: PUT …\nreplicas: 1\n' },
    suggestions: ['apply it'], actions: [], confirm: null, context: 'c1.x', intent: 'service.generate' });
  assert.deepEqual(gen.lines, ['Here is a spec.', 'Say apply it.']);
  assert.equal(gen.canApply, true);
  assert.deepEqual(gen.suggestions, [], 'the Apply button stands for "apply it"');
  assert.equal(fileName(gen.code), 'redis.yaml');
  const logs = answerView({ reply: 'lines', code: { language: 'text', content: 'a\nb' }, suggestions: ['status of web'] });
  assert.equal(logs.canApply, false);
  assert.equal(fileName(logs.code), 'berth.txt');
  const conf = answerView({ reply: 'I will scale.', confirm: { token: 'chc_x', summary: 'scale web', expiresAt: '' } });
  assert.equal(conf.confirm.summary, 'scale web');
  assert.equal(answerView({ confirm: { token: '', summary: 's' } }).confirm, null);
  const done = answerView({ reply: 'Done', actions: [{ action: 'service.scale', subject: 'web', target: 'local', status: 'completed', result: 'scaled' },
    { action: 'service.delete', subject: 'api', target: 'local', status: 'failed', result: 'forbidden' }] });
  assert.deepEqual(done.results, [{ text: 'service.scale web: scaled', ok: true }, { text: 'service.delete api: forbidden', ok: false }]);
  assert.deepEqual(answerView(null), { lines: [''], code: null, canApply: false, confirm: null, results: [], suggestions: [] });
});
