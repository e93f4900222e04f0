// @ts-check
// Live events over the WebSocket: a single-use ticket from
// POST /api/v1/ws-ticket opens /ws?ticket=…; topics are subscribed while
// some page listens to them. When the connection drops it reconnects with
// backoff (a new ticket each time) and tells listeners of "resync" to
// re-read what they show, as it does when the server says events were lost.
import { api, ApiError } from './api.js';

const MAX_DELAY = 30000;

class Live {
  constructor() {
    this.handlers = new Map(); // topic → Set of fn(event)
    this.ws = null;
    this.open = false;
    this.attempt = 0;
    this.timer = 0;
    this.running = false;
    /** @type {(open: boolean) => void} */
    this.statusFn = () => {};
  }

  // start connects (after login); stop disconnects (logout).
  start() {
    if (this.running) return;
    this.running = true;
    this.attempt = 0;
    this.connect();
  }

  stop() {
    this.running = false;
    clearTimeout(this.timer);
    const ws = this.ws;
    this.ws = null;
    if (ws) ws.close(1000, 'logout');
    this.setOpen(false);
  }

  // onStatus sets what shows the connection state (one indicator: the
  // frame's, rebuilt at each login).
  /** @param {(open: boolean) => void} fn */
  onStatus(fn) {
    this.statusFn = fn;
    fn(this.open);
  }

  /** @param {boolean} v */
  setOpen(v) {
    this.open = v;
    this.statusFn(v);
  }

  async connect() {
    if (!this.running) return;
    let ticket;
    try {
      ticket = (await api('/ws-ticket', { method: 'POST', quiet: true })).ticket;
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return; // logged out: app.js handles it
      this.retry();
      return;
    }
    if (!this.running) return;
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${proto}//${location.host}/ws?ticket=${encodeURIComponent(ticket)}`);
    this.ws = ws;
    ws.addEventListener('open', () => {
      if (this.ws !== ws) return;
      this.attempt = 0;
      const topics = [...this.handlers.keys()].filter((t) => t !== 'resync');
      if (topics.length) this.send({ action: 'subscribe', topics });
      this.setOpen(true);
      // Whatever happened while we were away (or before the first
      // subscription took hold) is re-read.
      this.emit({ topic: 'resync', type: 'events.connected' });
    });
    ws.addEventListener('message', (m) => {
      if (this.ws !== ws) return;
      let e;
      try {
        e = JSON.parse(m.data);
      } catch {
        return;
      }
      if (!e.topic) {
        if (e.type === 'error') console.warn('berth live events:', e.message);
        return;
      }
      this.emit(e);
    });
    ws.addEventListener('close', () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.setOpen(false);
      this.retry();
    });
  }

  retry() {
    if (!this.running) return;
    clearTimeout(this.timer);
    const base = Math.min(MAX_DELAY, 1000 * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 10);
    this.timer = setTimeout(() => this.connect(), base / 2 + Math.random() * (base / 2));
  }

  /** @param {{action: string, topics: string[]}} msg */
  send(msg) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  /** @param {import('./watch.js').LiveEvent} e */
  emit(e) {
    const set = this.handlers.get(e.topic);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(e);
      } catch (err) {
        console.error(err);
      }
    }
  }

  // on listens to a topic ("services", "logs:web", or "resync"); it
  // returns the function that stops listening.
  /** @param {string} topic @param {(e: import('./watch.js').LiveEvent) => void} fn @returns {() => void} */
  on(topic, fn) {
    let set = this.handlers.get(topic);
    if (!set) {
      set = new Set();
      this.handlers.set(topic, set);
      if (topic !== 'resync') this.send({ action: 'subscribe', topics: [topic] });
    }
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0 && this.handlers.get(topic) === set) {
        this.handlers.delete(topic);
        if (topic !== 'resync') this.send({ action: 'unsubscribe', topics: [topic] });
      }
    };
  }
}

export const live = new Live();
