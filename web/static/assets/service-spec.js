// @ts-check
// The spec editor of a service berth created: its stored spec as JSON,
// saved with PUT as a new revision. The checks made before sending are
// pure (checkSpecEdit) and tested with node.
import { h, toast, confirm } from './dom.js';

export const REDACTED = '[redacted]';

/**
 * editableSpec is the stored spec without what the editor does not
 * change: target and namespace (they name the service) and secrets (the
 * API only ever shows them redacted).
 * @param {Record<string, any>} sp
 */
export function editableSpec(sp) {
  const out = { ...sp };
  delete out.target;
  delete out.namespace;
  delete out.secrets;
  return out;
}

/**
 * checkSpecEdit checks the edited JSON (already parsed) against the
 * service: an error to show, or the secrets saving would remove (the
 * editor asks first).
 * @param {unknown} body
 * @param {{target: string, namespace?: string, spec?: {secrets?: Record<string, string>}}} svc
 * @returns {{error: string} | {dropped: string[]}}
 */
export function checkSpecEdit(body, svc) {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    return { error: 'spec: give a JSON object, e.g. {"command": ["sleep", "60"], "replicas": 1}' };
  }
  const b = /** @type {Record<string, any>} */ (body);
  for (const [k, want] of [['target', svc.target], ['namespace', svc.namespace || '']]) {
    if (k in b && b[k] !== want) return { error: `${k}: cannot be changed here (it names the service); create a new service instead` };
  }
  const secrets = b.secrets;
  if (secrets !== undefined && (secrets === null || typeof secrets !== 'object' || Array.isArray(secrets))) {
    return { error: 'secrets: give an object of NAME: value' };
  }
  const redacted = Object.entries(secrets || {}).filter(([, v]) => v === REDACTED).map(([k]) => k);
  if (redacted.length) {
    // Sending the placeholder back would store it as the secret's value.
    return { error: `secrets: ${redacted.join(', ')} hold "${REDACTED}", not a value: give the real value or leave the secret out` };
  }
  const had = Object.keys((svc.spec && svc.spec.secrets) || {}).sort();
  return { dropped: had.filter((k) => !secrets || !(k in secrets)) };
}

/**
 * @typedef {object} SpecEditorOptions
 * @property {HTMLElement} view the spec as shown (hidden while editing)
 * @property {() => any} service the service shown now (null before the first read)
 * @property {(body: Record<string, any>, submit: HTMLButtonElement, revision: number) => Promise<boolean>} save
 *   true when saved; revision is the one the editor was opened on (the save applies only at it)
 */

/**
 * specEditor builds the editor and its Edit button.
 * @param {SpecEditorOptions} o
 */
export function specEditor(o) {
  const edit = h('button', { type: 'button', class: 'small', testid: 'spec-edit', hidden: true, on: { click: open } }, 'Edit spec');
  const text = /** @type {HTMLTextAreaElement} */ (h('textarea', { class: 'spec-json', testid: 'spec-json', spellcheck: 'false', 'aria-label': 'spec as JSON' }));
  const save = /** @type {HTMLButtonElement} */ (h('button', { type: 'submit', class: 'primary', testid: 'spec-save' }, 'Save as a new revision'));
  const note = h('p', { class: 'hint' });
  const secretsNote = h('p', { class: 'warn-note', testid: 'spec-secrets-note', hidden: true });
  const form = h('form', { class: 'spec-editor', novalidate: true, hidden: true, on: { submit: onSave } },
    secretsNote, text,
    h('div', { class: 'row' }, save,
      h('button', { type: 'button', testid: 'spec-cancel', on: { click: close } }, 'Cancel'), note));
  let editing = false;
  let usable = false; // operators, on a service berth created that exists
  let base = 0; // the revision the text was made from

  function open() {
    const svc = o.service();
    if (!svc) return;
    editing = true;
    base = svc.revision || 0;
    text.value = JSON.stringify(editableSpec(svc.spec || {}), null, 2);
    const keys = Object.keys((svc.spec && svc.spec.secrets) || {}).sort();
    secretsNote.hidden = keys.length === 0;
    secretsNote.textContent = keys.length
      ? `This service has secrets (${keys.join(', ')}). Saving replaces the whole spec: add "secrets": {"NAME": "value"} with their real values to keep them; without it they are removed (you are asked first). The API never shows their values, so they are not in the text below.`
      : '';
    note.textContent = `target ${svc.target}${svc.namespace ? `, namespace ${svc.namespace}` : ''}: they name the service and are kept`;
    o.view.hidden = true;
    form.hidden = false;
    edit.hidden = true;
    text.focus();
  }

  function close() {
    editing = false;
    form.hidden = true;
    o.view.hidden = false;
    edit.hidden = !usable;
  }

  /** @param {Event} ev */
  async function onSave(ev) {
    ev.preventDefault();
    const svc = o.service();
    if (!svc) return;
    let body;
    try {
      body = JSON.parse(text.value);
    } catch (e) {
      toast(`spec: not valid JSON: ${e instanceof Error ? e.message : e}`);
      text.focus();
      return;
    }
    const c = checkSpecEdit(body, svc);
    if ('error' in c) {
      toast(c.error);
      return;
    }
    const n = c.dropped.length;
    if (n && !(await confirm(`Saving removes the secret${n > 1 ? 's' : ''} ${c.dropped.join(', ')} of ${svc.name}: the spec replaces them and their values are not shown to put back. Save anyway?`, 'Save without them'))) return;
    body.target = svc.target;
    if (svc.namespace) body.namespace = svc.namespace;
    // Saved only over the revision the text came from: a change someone
    // made meanwhile is refused (the toast says so), not overwritten.
    if (await o.save(body, save, base)) close();
  }

  return {
    edit,
    form,
    close,
    /**
     * usable says whether the editor may be offered (operators, services
     * berth created, not deleted).
     * @param {boolean} v
     */
    offer(v) {
      usable = v;
      if (!editing) edit.hidden = !v;
      if (!v) close();
    },
  };
}
