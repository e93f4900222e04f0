// @ts-check
import { live } from './ws.js';
import { watch } from './watch.js';

// Page is what a page module gets: its route parameters, a way to stay
// current while it is shown (watch), and an AbortSignal aborted when it is
// left (signal; alive is its negation).
export class Page {
  /**
   * @param {Record<string, string>} params
   * @param {URLSearchParams} query
   */
  constructor(params, query) {
    this.params = params;
    this.query = query;
    this.controller = new AbortController();
    this.signal = this.controller.signal;
    /** @type {Array<() => void>} */
    this.cleanups = [];
  }

  get alive() {
    return !this.signal.aborted;
  }

  /**
   * live runs fn for each event of topic while the page is shown.
   * @param {string} topic
   * @param {(e: import('./watch.js').LiveEvent) => void} fn
   */
  live(topic, fn) {
    this.cleanups.push(live.on(topic, fn));
  }

  /**
   * onResync runs fn when events may have been lost (reconnect, server resync).
   * @param {() => void} fn
   */
  onResync(fn) {
    this.live('resync', fn);
  }

  /**
   * watch reads with load now, again (coalesced) on events of topics and on
   * resync, each read with its own AbortSignal, until the page is left.
   * @param {string[]} topics
   * @param {import('./watch.js').Loader} load
   * @param {import('./watch.js').WatchOptions} [opts]
   */
  watch(topics, load, opts) {
    const w = watch(live, topics, load, opts);
    this.cleanups.push(w.dispose);
    return w;
  }

  /** @param {() => void} fn */
  cleanup(fn) {
    this.cleanups.push(fn);
  }

  dispose() {
    this.controller.abort();
    for (const fn of this.cleanups.splice(0)) fn();
  }
}
