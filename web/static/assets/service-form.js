// @ts-check
// The New service form (operators and admins): what runs where, parsed
// before asking the server (splitCommand, parsePorts, parseEnv are pure,
// tested with node); PUT creates, after asking before replacing a service
// of that name. Only targets that run services are offered.
import { h, set, field, confirm, toast } from './dom.js';
import { api, act, session, ApiError, ifRevision } from './api.js';
import { serviceHref, servicePath } from './links.js';

/**
 * runsServices tells the targets the New service form offers: those whose
 * capabilities include "services"; a server that does not say (no
 * capabilities field) gets every target, as before.
 * @param {{capabilities?: string[]}} t
 */
export function runsServices(t) {
  return !Array.isArray(t.capabilities) || t.capabilities.includes('services');
}

// FormError is a mistake in what the user typed, found before asking the
// server: field names the input, as the server's messages do.
class FormError extends Error {
  /** @param {string} field @param {string} message */
  constructor(field, message) {
    super(`${field}: ${message}`);
    this.field = field;
  }
}

/**
 * splitCommand splits one line on whitespace: no quoting, no shell.
 * @param {string} line
 */
export function splitCommand(line) {
  const s = line.trim();
  return s ? s.split(/\s+/) : [];
}

/**
 * parsePorts reads "http:8080, metrics:9090" (commas or spaces between).
 * @param {string} text
 * @returns {Array<{name: string, port: number}>}
 */
export function parsePorts(text) {
  return text.split(/[\s,]+/).filter(Boolean).map((/** @type {string} */ p) => {
    const m = /^([^:]+):(\d{1,5})$/.exec(p);
    if (!m) throw new FormError('ports', `"${p}" is not name:port (e.g. http:8080)`);
    return { name: m[1], port: Number(m[2]) };
  });
}

// parseEnv reads KEY=value lines; blank lines are skipped, the value is
// everything after the first "=".
/** @param {string} text @returns {Record<string, string>} */
export function parseEnv(text) {
  const env = new Map();
  text.split('\n').forEach((/** @type {string} */ raw, /** @type {number} */ i) => {
    const line = raw.replace(/\r$/, '');
    if (!line.trim()) return;
    const eq = line.indexOf('=');
    const key = eq > 0 ? line.slice(0, eq).trim() : '';
    if (!key) throw new FormError('env', `line ${i + 1} "${line}" is not KEY=value`);
    if (env.has(key)) throw new FormError('env', `${key} is set twice`);
    env.set(key, line.slice(eq + 1));
  });
  return Object.fromEntries(env);
}

/**
 * serviceForm builds the form; setTargets fills its target list from
 * GET /api/v1/targets.
 * @param {{page: {alive: boolean}}} o
 */
export function serviceForm(o) {
  /** @type {any[]} */
  let targets = []; // from /targets
  let defaultTarget = '';
  const cName = h('input', { required: true, maxlength: '63', placeholder: 'web', testid: 'service-create-name', autocomplete: 'off', spellcheck: 'false' });
  const cTarget = h('select', { testid: 'service-create-target', on: { change: () => syncProvider() } });
  const cNamespace = h('input', { maxlength: '63', testid: 'service-create-namespace', autocomplete: 'off', spellcheck: 'false' });
  const nsField = field('Namespace', cNamespace);
  // A target's service templates (its policy): operators where only admins
  // run commands pick one, and the template gives what runs.
  const cTemplate = h('select', { testid: 'service-create-template', on: { change: () => syncProvider() } });
  const tplField = field('Template', cTemplate);
  const cImage = h('input', { placeholder: 'nginx:1.27', testid: 'service-create-image', autocomplete: 'off', spellcheck: 'false' });
  const cCommand = h('input', { placeholder: 'python3 -m http.server', testid: 'service-create-command', autocomplete: 'off', spellcheck: 'false' });
  const cReplicas = h('input', { type: 'number', min: '0', step: '1', placeholder: '1', testid: 'service-create-replicas', inputmode: 'numeric' });
  const cPorts = h('input', { placeholder: 'http:8080, metrics:9090', testid: 'service-create-ports', autocomplete: 'off', spellcheck: 'false' });
  const cEnv = h('textarea', { rows: '3', placeholder: 'GREETING=hello\nLOG_LEVEL=info', testid: 'service-create-env', spellcheck: 'false' });
  const cSubmit = h('button', { type: 'submit', class: 'primary', testid: 'service-create-submit' }, 'Create service');
  const providerHint = h('p', { class: 'hint' });
  const inputs = { name: cName, target: cTarget, template: cTemplate, namespace: cNamespace, image: cImage, command: cCommand, replicas: cReplicas, ports: cPorts, env: cEnv };
  const imageField = h('div', { class: 'grow' }, field('Image', cImage, 'container targets run it'));
  const commandField = h('div', { class: 'grow' }, field('Command', cCommand, 'one line, split on whitespace (no quotes, no shell: for sh -c \'…\' use berth svc apply -f)'));
  const el = h('details', { class: 'panel create', testid: 'service-create' },
    h('summary', { testid: 'service-create-open' }, 'New service'),
    h('form', { novalidate: true, on: { submit: onCreate } },
      h('div', { class: 'row wrap' },
        field('Name', cName, 'a DNS label: a-z, 0-9, -'), field('Target', cTarget), tplField, nsField,
        field('Replicas', cReplicas)),
      h('div', { class: 'row wrap' }, imageField, commandField),
      h('div', { class: 'row wrap' },
        h('div', { class: 'grow' }, field('Ports', cPorts, 'name:port, separated by commas or spaces')),
        h('div', { class: 'grow' }, field('Environment', cEnv, 'KEY=value, one a line'))),
      providerHint,
      h('div', { class: 'row' }, cSubmit)));

  const selectedTarget = () => targets.find((x) => x.name === cTarget.value);

  // syncProvider shows the namespace for Kubernetes targets and says what
  // the chosen target runs.
  function syncProvider() {
    const tg = selectedTarget();
    const provider = tg ? tg.provider : '';
    nsField.hidden = provider !== 'KUBERNETES';
    cNamespace.placeholder = (tg && tg.defaultNamespace) || 'default';
    syncTemplates(tg);
    const tpl = tg && (tg.serviceTemplates || []).find((/** @type {any} */ x) => x.name === cTemplate.value);
    imageField.hidden = commandField.hidden = Boolean(tpl);
    if (tpl) {
      const p = tpl.params || {};
      const may = [p.env && p.env.length ? `env ${p.env.join(', ')}` : '', p.replicas ? 'replicas' : '', p.ports ? 'ports' : ''].filter(Boolean);
      providerHint.textContent = `Template ${tpl.name} gives what runs; you may set ${may.length ? may.join('; ') : 'nothing else'}.`;
      return;
    }
    providerHint.textContent = provider === 'LOCAL'
      ? `${cTarget.value} runs the command as processes on its host (each replica gets its first port as $PORT); the image is not used.`
      : provider ? `${cTarget.value} runs the image; a command overrides its entrypoint.` : '';
  }

  // syncTemplates offers the target's templates, and "own command" only
  // to a role its policy lets run commands.
  /** @param {any} tg */
  function syncTemplates(tg) {
    const tpls = (tg && tg.serviceTemplates) || [];
    const roles = tg && tg.commandRoles;
    const mayCommand = !roles || roles.includes(session.role());
    const want = [...(mayCommand ? [''] : []), ...tpls.map((/** @type {{name: string}} */ x) => x.name)];
    const have = [...cTemplate.options].map((o) => o.value);
    if (want.join('\n') !== have.join('\n')) {
      const keep = cTemplate.value;
      set(cTemplate, ...want.map((n) => h('option', { value: n }, n || '— own command —')));
      if (want.includes(keep)) cTemplate.value = keep;
    }
    tplField.hidden = tpls.length === 0 && mayCommand;
  }

  // specFromForm builds the PUT body from the form; it throws a FormError
  // for what cannot be sent at all. Ranges and names are the server's to check.
  function specFromForm() {
    const name = cName.value.trim();
    if (!name) throw new FormError('name', 'is required');
    /** @type {Record<string, any>} */
    const spec = { target: cTarget.value };
    const tg = selectedTarget();
    if (tg && tg.provider === 'KUBERNETES' && cNamespace.value.trim()) spec.namespace = cNamespace.value.trim();
    if (cTemplate.value) {
      spec.template = cTemplate.value;
    } else {
      if (cImage.value.trim()) spec.image = cImage.value.trim();
      const command = splitCommand(cCommand.value);
      if (command.length) spec.command = command;
    }
    if (cReplicas.validity.badInput) throw new FormError('replicas', 'is not a number');
    if (cReplicas.value !== '') spec.replicas = Number(cReplicas.value);
    const ports = parsePorts(cPorts.value);
    if (ports.length) spec.ports = ports;
    const env = parseEnv(cEnv.value);
    if (Object.keys(env).length) spec.env = env;
    return { name, spec };
  }

  /** @param {Event} ev */
  async function onCreate(ev) {
    ev.preventDefault();
    let name;
    let spec;
    try {
      ({ name, spec } = specFromForm());
    } catch (e) {
      if (!(e instanceof FormError)) throw e;
      toast(e.message);
      inputs[/** @type {keyof typeof inputs} */ (e.field)].focus();
      return;
    }
    // PUT creates or replaces: never replace an existing service unasked.
    // The PUT then holds to what was asked: it creates only if nothing was
    // there, and replaces only the revision the user agreed to replace.
    const tg = selectedTarget();
    const ns = spec.namespace || (tg && tg.defaultNamespace) || '';
    /** @type {Record<string, string>} */
    let headers = { 'If-None-Match': '*' };
    try {
      const cur = await api(servicePath(name, spec.target, '', { namespace: ns }), { quiet: true });
      const where = `${cur.service.namespace ? `${cur.service.namespace}/` : ''}${cur.service.name} on ${cur.service.target}`;
      if (!(await confirm(`${where} exists already (revision ${cur.service.revision}). Replace its spec with this one?`, 'Replace'))) return;
      headers = ifRevision(cur.service.revision);
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 404) {
        toast(e.message);
        return;
      }
    }
    const res = await act(cSubmit, () => api(`/services/${encodeURIComponent(name)}`, { method: 'PUT', body: spec, headers }));
    if (!res || !o.page.alive) return;
    location.hash = serviceHref(res.service, defaultTarget);
  }

  return {
    el,
    /**
     * @param {any[]} list
     * @param {string} def the default target
     */
    setTargets(list, def) {
      targets = list;
      defaultTarget = def;
      // Only targets that run services: the others would refuse the form.
      set(cTarget, list.filter(runsServices).map((x) => h('option', { value: x.name, selected: x.name === def },
        `${x.name} (${x.provider.toLowerCase()}${x.region ? `, ${x.region}` : ''})${x.default ? ' · default' : ''}`)));
      syncProvider();
    },
  };
}
