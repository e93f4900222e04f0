// The page.watch helper: one read at once, bursts of events coalesced into
// one re-read, a newer read aborting the stale one, nothing after dispose.
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { watch, coalesce, isAbort } from '../static/assets/watch.js';

// fakeSource is the live-events hub as watch sees it.
function fakeSource() {
  const handlers = new Map();
  return {
    handlers,
    on(topic, fn) {
      if (!handlers.has(topic)) handlers.set(topic, new Set());
      handlers.get(topic).add(fn);
      return () => handlers.get(topic).delete(fn);
    },
    emit(topic, e = {}) {
      for (const fn of handlers.get(topic) || []) fn({ topic, type: 'x', ...e });
    },
    count() {
      let n = 0;
      for (const s of handlers.values()) n += s.size;
      return n;
    },
  };
}

test('coalesce runs once per burst, at most ms after its first call', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  let runs = 0;
  const c = coalesce(() => runs++, 100);
  c(); c(); c();
  t.mock.timers.tick(99);
  assert.equal(runs, 0);
  t.mock.timers.tick(1);
  assert.equal(runs, 1);
  // A steady stream still runs every 100 ms (a debounce would never run).
  for (let i = 0; i < 10; i++) {
    c();
    t.mock.timers.tick(30);
  }
  assert.ok(runs >= 3, `runs ${runs}`);
  c();
  c.cancel();
  const before = runs;
  t.mock.timers.tick(1000);
  assert.equal(runs, before, 'cancel drops the pending run');
});

test('watch reads at once, then once per burst of events and on resync', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const src = fakeSource();
  let reads = 0;
  const w = watch(src, ['services', 'environments'], () => { reads++; }, { delay: 300 });
  await Promise.resolve();
  assert.equal(reads, 1, 'read at once');
  src.emit('services');
  src.emit('environments');
  src.emit('services');
  t.mock.timers.tick(300);
  await Promise.resolve();
  assert.equal(reads, 2, 'three events, one re-read');
  src.emit('resync');
  t.mock.timers.tick(300);
  assert.equal(reads, 3, 'resync re-reads');
  src.emit('audit');
  t.mock.timers.tick(300);
  assert.equal(reads, 3, 'other topics do not');
  w.dispose();
});

test('watch: the event function decides which events re-read', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const src = fakeSource();
  let reads = 0;
  const seen = [];
  watch(src, ['services'], () => { reads++; }, {
    delay: 10,
    event: (e) => { seen.push(e.type); return e.type === 'service.created'; },
  });
  src.emit('services', { type: 'service.updated' });
  t.mock.timers.tick(10);
  assert.equal(reads, 1, 'an update handled in place does not re-read');
  src.emit('services', { type: 'service.created' });
  t.mock.timers.tick(10);
  assert.equal(reads, 2);
  assert.deepEqual(seen, ['service.updated', 'service.created']);
});

test('watch aborts the stale read when a newer one starts, and all on dispose', async () => {
  const src = fakeSource();
  const signals = [];
  const releases = [];
  const w = watch(src, ['services'], (signal) => {
    signals.push(signal);
    return new Promise((resolve) => releases.push(resolve));
  });
  assert.equal(signals.length, 1);
  w.now();
  assert.equal(signals.length, 2);
  assert.equal(signals[0].aborted, true, 'the first read is stale');
  assert.equal(signals[1].aborted, false);
  w.dispose();
  assert.equal(signals[1].aborted, true, 'leaving the page aborts the running read');
  assert.equal(src.count(), 0, 'no listener is left');
  await w.now();
  assert.equal(signals.length, 2, 'no read after dispose');
  releases.forEach((r) => r());
});

test('watch re-reads on its interval until disposed', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const src = fakeSource();
  let reads = 0;
  const w = watch(src, [], () => { reads++; }, { every: 1000 });
  t.mock.timers.tick(3000);
  assert.equal(reads, 4);
  w.dispose();
  t.mock.timers.tick(3000);
  assert.equal(reads, 4);
});

test('watch: a failing read is reported, an aborted one is not', async (t) => {
  const errors = t.mock.method(console, 'error', () => {});
  // Only what watch reports counts (node may warn through console.error).
  const reported = () => errors.mock.calls.filter((c) => c.arguments[0] instanceof Error).length;
  const src = fakeSource();
  const w = watch(src, [], async () => { throw new Error('boom'); });
  await new Promise((resolve) => setImmediate(resolve));
  await w.now();
  assert.equal(reported(), 2, 'both reads failed and were reported');
  const ab = watch(src, [], async (signal) => {
    await new Promise((resolve) => setTimeout(resolve, 1));
    if (signal.aborted) throw new DOMException('aborted', 'AbortError');
  });
  ab.dispose();
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(reported(), 2, 'an aborted read is not an error');
  assert.equal(isAbort(new DOMException('x', 'AbortError')), true);
  assert.equal(isAbort(new Error('x')), false);
  w.dispose();
});
