// @ts-check
// Overview: counts by status, alerts, top consumers, targets, the leader,
// recent activity. Re-read when services or environments change.
import { h, set, badge, statusClass, bytes, cores, timeCell, table, empty } from './dom.js';
import { api } from './api.js';
import { fullName, serviceHref } from './links.js';
import { formatValue, inWords } from './chart-data.js';

/**
 * @param {import('./page.js').Page} page
 * @param {HTMLElement} root
 */
export default function overviewPage(page, root) {
  document.title = 'Overview · berth';
  const svcCount = h('span', { class: 'big', testid: 'overview-services' }, '…');
  const envCount = h('span', { class: 'big', testid: 'overview-environments' }, '…');
  const svcChips = h('div', { class: 'chips' });
  const envChips = h('div', { class: 'chips' });
  const targetsUp = h('span', { class: 'big', testid: 'overview-targets' }, '…');
  const targetsNote = h('div', { class: 'muted' });
  const leader = h('span', { class: 'big', testid: 'overview-leader' }, '…');
  const leaderNote = h('div', { class: 'muted' });
  const alerts = h('ul', { class: 'alerts', testid: 'overview-alerts' });
  const alertsNone = h('p', { class: 'muted', hidden: true }, 'No alerts: everything that should run is running.');
  const top = table('overview-top', ['Service', 'Target', 'CPU (cores)', 'Memory', 'Replicas']);
  const tgts = table('overview-targets-table', ['Target', 'Provider', 'Region', 'Reachable', 'Latency', 'Services', 'Environments']);
  const recent = table('overview-recent', ['When', 'User', 'Action', 'Resource', 'Status']);
  const footer = h('p', { class: 'muted small' });
  const risks = table('overview-risks', ['Subject', 'Metric', 'Now', 'Limit', 'Reaches it', 'Backtest error']);

  set(root,
    h('div', { class: 'page-head' }, h('h1', null, 'Overview')),
    h('div', { class: 'cards' },
      h('a', { class: 'card', href: '#/services' }, h('div', { class: 'card-label' }, 'Services'), svcCount, svcChips),
      h('a', { class: 'card', href: '#/environments' }, h('div', { class: 'card-label' }, 'Environments'), envCount, envChips),
      h('a', { class: 'card', href: '#/infrastructure' }, h('div', { class: 'card-label' }, 'Targets up'), targetsUp, targetsNote),
      h('div', { class: 'card' }, h('div', { class: 'card-label' }, 'This replica leads'), leader, leaderNote)),
    h('section', { class: 'panel' }, h('h2', null, 'Alerts'), alerts, alertsNone),
    h('div', { class: 'grid2' },
      h('section', { class: 'panel' }, h('h2', null, 'Top consumers'), top.el),
      h('section', { class: 'panel' }, h('h2', null, 'Targets'), tgts.el)),
    h('section', { class: 'panel' }, h('h2', null, 'Recent activity ', h('a', { class: 'small', href: '#/audit' }, 'all')), recent.el),
    h('section', { class: 'panel' }, h('h2', null, 'Predicted to reach their limit (72h)'), risks.el),
    footer);

  /**
   * @param {HTMLElement} el
   * @param {Record<string, number>} byStatus
   */
  function chips(el, byStatus) {
    set(el, Object.entries(byStatus || {}).sort().map(([s, n]) => h('span', { class: statusClass(s) }, `${n} ${s}`)));
  }

  let defaultTarget = '';
  /** @type {(name: string, namespace: string | undefined, target: string) => HTMLElement} */
  const svcLink = (name, namespace, target) => {
    const s = { name, namespace, target };
    return h('a', { href: serviceHref(s, defaultTarget), testid: 'service-link' }, fullName(s));
  };

  /** @param {AbortSignal} signal */
  async function load(signal) {
    /** @type {{totals: any, alerts: any[], topConsumers: any[], targets: any[], recentAudit: any[], predictions?: any[]}} */
    let ov;
    /** @type {{targets: any[], leader: boolean, store: any, events?: any, sampler?: any, version: string, uptime: string}} */
    let st;
    try {
      [ov, st] = await Promise.all([api('/overview', { signal }), api('/status', { signal })]);
    } catch {
      return;
    }
    if (signal.aborted) return;
    defaultTarget = (st.targets.find((p) => p.default) || {}).name || '';
    svcCount.textContent = String(ov.totals.services.total);
    envCount.textContent = String(ov.totals.environments.total);
    chips(svcChips, ov.totals.services.byStatus);
    chips(envChips, ov.totals.environments.byStatus);

    set(alerts, ov.alerts.map((a) => h('li', { class: `alert ${a.severity}`, testid: 'alert-row' },
      h('span', { class: statusClass(a.severity === 'critical' ? 'ERROR' : 'DEGRADED') }, a.kind),
      ' ',
      // The alert names the service by target (and namespace, when the API
      // gives it): the link opens that one even where names repeat.
      a.resourceType === 'service' ? svcLink(a.resource, a.namespace || '', a.target)
        : h('a', { href: '#/environments' }, a.resource),
      h('span', { class: 'alert-msg' }, a.message))));
    alertsNone.hidden = ov.alerts.length > 0;

    set(top.tbody, ov.topConsumers.length ? ov.topConsumers.map((u) => h('tr', null,
      h('td', null, svcLink(u.name, u.namespace, u.target)), h('td', null, u.target),
      h('td', { class: 'num' }, cores(u.cpuCores)), h('td', { class: 'num' }, bytes(u.memoryBytes)),
      h('td', { class: 'num' }, String(u.replicas)))) : empty('No measurements yet (the sampler runs every 15 s).', 5));

    const counts = new Map(ov.targets.map((t) => [t.name, t]));
    set(tgts.tbody, st.targets.map((p) => {
      const t = counts.get(p.name) || { services: {}, environments: {} };
      return h('tr', { testid: 'target-row', data: { name: p.name } },
        h('td', null, p.name, p.default ? h('span', { class: 'tag' }, 'default') : null),
        h('td', null, p.provider || ''), h('td', null, p.region || ''),
        h('td', null, badge(p.reachable ? 'UP' : 'DOWN'), p.error ? h('div', { class: 'muted small' }, p.error) : null),
        h('td', { class: 'num' }, `${p.latencyMs.toFixed(1)} ms`),
        h('td', { class: 'num' }, String(t.services.total || 0)), h('td', { class: 'num' }, String(t.environments.total || 0)));
    }));
    const up = st.targets.filter((p) => p.reachable).length;
    targetsUp.textContent = `${up}/${st.targets.length}`;
    targetsUp.className = `big ${up === st.targets.length ? 'good' : 'bad'}`;
    set(targetsNote, st.targets.filter((p) => !p.reachable).map((p) => `${p.name} down`).join(', ') || 'all reachable');
    leader.textContent = st.leader ? 'yes' : 'no';
    set(leaderNote, `store ${st.store.kind}${st.store.reachable ? '' : ' (unreachable)'}`,
      st.events && st.events.bus ? `, events ${st.events.bus}` : '');

    set(recent.tbody, ov.recentAudit.length ? ov.recentAudit.map((e) => h('tr', null,
      h('td', null, timeCell(e.timestamp)), h('td', null, e.user || ''), h('td', null, e.action),
      h('td', null, e.resource || ''), h('td', null, badge(e.status === 'completed' ? 'COMPLETED' : 'FAILED')))) : empty('Nothing yet.', 5));

    renderRisks(ov.predictions || []);

    const sampler = st.sampler ? (st.sampler.lagSeconds !== undefined ? `sampled ${Math.round(st.sampler.lagSeconds)} s ago` : st.sampler.status) : '';
    set(footer, `berth ${st.version} · up ${st.uptime} · ${sampler}`,
      st.events && st.events.enabled ? ` · ${st.events.clients} live clients` : '');
  }

  /** @param {any[]} list the overview's predictions, the nearest risk first */
  function renderRisks(list) {
    set(risks.tbody, list.length ? list.map((p) => h('tr', { testid: 'risk-row' },
      h('td', null, p.subject.type === 'service' ? svcLink(p.subject.name, p.namespace, p.target) : h('a', { href: '#/environments' }, p.subject.name)),
      h('td', null, p.metric), h('td', { class: 'num' }, formatValue(p.metric, p.current)),
      h('td', { class: 'num' }, `${formatValue(p.metric, p.limit)} ${p.limitSource}`),
      h('td', null, Date.parse(p.reachesLimitAt) <= Date.now() ? 'already' : `in ${inWords(Date.parse(p.reachesLimitAt) - Date.now())}`),
      h('td', { class: 'num' }, p.backtest ? `${Math.round(p.backtest.error * 1000) / 10}%` : '—')))
      : empty('No series is forecast to reach its requests or size within 72h.', 6));
  }

  page.watch(['services', 'environments'], load, { delay: 1000, every: 30000 });
}
