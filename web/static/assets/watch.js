// @ts-check
// What every page does to stay current, in one place: read now, read again
// (coalesced) when one of its topics has events or when events may have
// been lost (resync), and stop all of it when the page is left. Each read
// gets its own AbortSignal: a newer read, or leaving the page, aborts the
// one still running, so a stale answer never lands on the page.
// No DOM here: node's test runner drives it (web/test/watch.test.mjs).

/** @typedef {{topic: string, type: string, data?: any, time?: string}} LiveEvent */
/** @typedef {{on(topic: string, fn: (e: LiveEvent) => void): () => void}} EventSource */
/** @typedef {(signal: AbortSignal) => (Promise<unknown> | unknown)} Loader */

/**
 * @typedef {object} WatchOptions
 * @property {number} [delay] coalescing delay in ms (default 300)
 * @property {number} [every] also re-read every so many ms (0: never)
 * @property {(e: LiveEvent) => boolean | void} [event] called for each event of the topics; a re-read follows when it returns true (no event function: every event re-reads)
 */

/**
 * @typedef {object} Watch
 * @property {Coalesced} reload a coalesced re-read
 * @property {() => Promise<void>} now reads at once (aborting a read still running)
 * @property {() => void} cancel drops a pending re-read and aborts the running one
 * @property {() => void} dispose stops listening, for good
 */

/**
 * @typedef {(() => void) & {cancel: () => void}} Coalesced
 */

/**
 * coalesce folds a burst of calls into one run of fn, at most ms after the
 * first call of the burst. Unlike a debounce, a steady stream of calls
 * (events every second) cannot put the run off forever.
 * @param {() => void} fn
 * @param {number} ms
 * @returns {Coalesced}
 */
export function coalesce(fn, ms) {
  /** @type {ReturnType<typeof setTimeout> | 0} */
  let t = 0;
  const d = () => {
    if (t) return;
    t = setTimeout(() => {
      t = 0;
      fn();
    }, ms);
  };
  d.cancel = () => {
    if (t) clearTimeout(t);
    t = 0;
  };
  return d;
}

/**
 * isAbort tells an aborted fetch (or read) from a real failure.
 * @param {unknown} e
 */
export function isAbort(e) {
  return e instanceof Error && e.name === 'AbortError';
}

/**
 * watch reads with load now and whenever source reports events of topics
 * (or "resync"), until dispose.
 * @param {EventSource} source
 * @param {string[]} topics
 * @param {Loader} load
 * @param {WatchOptions} [opts]
 * @returns {Watch}
 */
export function watch(source, topics, load, opts = {}) {
  const { delay = 300, every = 0, event } = opts;
  /** @type {AbortController | null} */
  let running = null;
  let disposed = false;

  const abort = () => {
    if (running) running.abort();
    running = null;
  };

  async function now() {
    reload.cancel();
    if (disposed) return;
    abort();
    const ctl = new AbortController();
    running = ctl;
    try {
      await load(ctl.signal);
    } catch (e) {
      if (!ctl.signal.aborted && !isAbort(e)) console.error(e);
    } finally {
      if (running === ctl) running = null;
    }
  }

  const reload = coalesce(() => { now(); }, delay);
  const offs = topics.map((topic) => source.on(topic, (e) => {
    if (!event || event(e) === true) reload();
  }));
  offs.push(source.on('resync', () => reload()));
  const timer = every > 0 ? setInterval(() => { now(); }, every) : 0;

  now();
  return {
    reload,
    now,
    cancel() {
      reload.cancel();
      abort();
    },
    dispose() {
      disposed = true;
      reload.cancel();
      abort();
      if (timer) clearInterval(timer);
      for (const off of offs.splice(0)) off();
    },
  };
}
