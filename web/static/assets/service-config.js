// @ts-check
// A service's configuration panel: its environment variables (editable by
// operators on services berth created: saving rolls out a new revision),
// secrets (names only) and config files.
import { h, set, table, empty, bytes } from './dom.js';

/**
 * envFromPairs builds the env map from the editor's rows ([name, value]):
 * rows with neither are skipped; a value without a name, or a name given
 * twice, is an error naming the row (index) to point at.
 * @param {Array<[string, string]>} pairs
 * @returns {{env: Record<string, string>} | {index: number, error: string}}
 */
export function envFromPairs(pairs) {
  /** @type {Record<string, string>} */
  const env = {};
  for (let i = 0; i < pairs.length; i++) {
    const key = pairs[i][0].trim();
    const value = pairs[i][1];
    if (!key && !value) continue;
    if (!key) return { index: i, error: 'give the variable a name' };
    if (Object.hasOwn(env, key)) return { index: i, error: `${key} is set twice` };
    env[key] = value;
  }
  return { env };
}

/**
 * @typedef {object} ConfigPanelOptions
 * @property {boolean} canOperate
 * @property {(env: Record<string, string>, submit: HTMLButtonElement, revision: number) => Promise<void>} save
 *   revision is the one the form shows (the save applies only at it)
 */

/**
 * configPanel builds the panel; render shows GET …/config, secrets the
 * service's secrets. dirty is true while the form has unsaved edits (a
 * re-read must not throw them away).
 * @param {ConfigPanelOptions} o
 */
export function configPanel(o) {
  const envBox = h('div');
  const secretsBox = h('div');
  const filesBox = h('div');
  let dirty = false;
  let shown = 0; // the revision the form shows: a save applies only at it
  const el = h('section', { class: 'panel' }, h('h2', null, 'Configuration'), envBox, secretsBox, filesBox);

  /** @param {Array<[string, string]>} env */
  function readOnly(env) {
    const t = table('config-env', ['Variable', 'Value']);
    set(t.tbody, env.length ? env.map(([k, v]) => h('tr', { testid: 'env-var-row', data: { key: k } }, h('td', null, h('code', null, k)), h('td', null, h('code', null, v)))) : empty('No environment variables.', 2));
    set(envBox, h('h3', null, 'Environment variables'), t.el,
      o.canOperate ? h('p', { class: 'hint' }, 'berth did not create this service: change its configuration where it is managed.') : null);
  }

  /**
   * @param {Array<[string, string]>} env
   * @param {number} revision
   */
  function editable(env, revision) {
    const rowsBox = h('div', { class: 'kv-rows' });
    const addRow = (k = '', v = '') => {
      const key = h('input', { value: k, placeholder: 'NAME', testid: 'config-env-key', 'aria-label': 'variable name', spellcheck: 'false' });
      const val = h('input', { value: v, placeholder: 'value', testid: 'config-env-value', 'aria-label': 'value', spellcheck: 'false' });
      const row = h('div', { class: 'kv', testid: 'env-var-row', data: { key: k } }, key, val,
        h('button', { type: 'button', class: 'small', title: 'Remove', 'aria-label': `remove ${k || 'variable'}`,
          on: { click: () => { row.remove(); dirty = true; } } }, '✕'));
      rowsBox.appendChild(row);
      return key;
    };
    env.forEach(([k, v]) => addRow(k, v));
    const form = h('form', { class: 'config-form', novalidate: true, on: { submit: onSave, input: () => { dirty = true; } } },
      rowsBox,
      h('div', { class: 'row' },
        h('button', { type: 'button', testid: 'config-add', on: { click: () => { addRow().focus(); dirty = true; } } }, 'Add variable'),
        h('button', { type: 'submit', class: 'primary', testid: 'config-save' }, 'Save and roll out'),
        h('span', { class: 'muted small' }, `revision ${revision}: saving makes a new revision`)));
    set(envBox, h('h3', null, 'Environment variables'), form);
  }

  /** @param {Event} ev */
  async function onSave(ev) {
    ev.preventDefault();
    const inputs = [...envBox.querySelectorAll('.kv')].map((row) => /** @type {HTMLInputElement[]} */ ([...row.querySelectorAll('input')]));
    const res = envFromPairs(inputs.map(([k, v]) => /** @type {[string, string]} */ ([k.value, v.value])));
    if ('error' in res) {
      const k = inputs[res.index][0];
      k.setCustomValidity(res.error);
      k.reportValidity();
      k.setCustomValidity('');
      return;
    }
    const form = /** @type {HTMLFormElement} */ (ev.currentTarget);
    await o.save(res.env, /** @type {HTMLButtonElement} */ (form.querySelector('[type=submit]')), shown);
  }

  return {
    el,
    get dirty() { return dirty; },
    set dirty(v) { dirty = v; },
    /**
     * @param {{env?: Record<string, string>, revision: number, config?: {files?: Record<string, string>}}} cfg
     * @param {boolean} external the service is not berth's: the API refuses changes
     */
    render(cfg, external) {
      dirty = false;
      shown = cfg.revision || 0;
      const env = Object.entries(cfg.env || {}).sort(([a], [b]) => a.localeCompare(b));
      if (!o.canOperate || external) readOnly(env);
      else editable(env, cfg.revision);
      const files = Object.entries((cfg.config && cfg.config.files) || {});
      set(filesBox, files.length ? [h('h3', null, 'Config files'), files.map(([n, body]) =>
        h('details', { class: 'file' }, h('summary', null, h('code', null, n), ' ', h('span', { class: 'muted small' }, bytes(body.length))), h('pre', null, body)))] : []);
    },
    /** @param {string} msg */
    fail(msg) {
      set(envBox, h('p', { class: 'muted' }, msg));
    },
    secretsBox,
  };
}
