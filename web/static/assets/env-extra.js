// @ts-check
// The rest of Dev8's create request on the environment form: template or
// base image, git identity, SSH key, write-only secrets, auto-stop and ttl;
// and the line that says what is left of the caller's quota.
import { h, set, field } from './dom.js';
import { api } from './api.js';
import { remaining } from './quota-view.js';

/**
 * extraFields returns the inputs (in a collapsible section) and collect,
 * which adds the filled ones to a create body; clear empties the secrets.
 */
export function extraFields() {
  /** @type {(testid: string, attrs?: Record<string, any>) => HTMLInputElement} */
  const text = (testid, attrs = {}) => h('input', { testid, autocomplete: 'off', spellcheck: 'false', ...attrs });
  /** @type {(testid: string) => HTMLInputElement} */
  const secret = (testid) => text(testid, { type: 'password', autocomplete: 'new-password' });
  const inputs = {
    template: text('env-create-template', { placeholder: 'default' }),
    baseImage: text('env-create-base-image', { placeholder: 'the template’s image' }),
    gitUserName: text('env-create-git-name', { maxlength: '255' }),
    gitUserEmail: text('env-create-git-email', { type: 'email', maxlength: '255' }),
    autoStopMinutes: text('env-create-autostop', { type: 'number', min: '0', max: '10080', step: '1', placeholder: 'never' }),
    ttl: text('env-create-ttl', { placeholder: 'e.g. 7d, 72h' }),
  };
  const ssh = h('textarea', { testid: 'env-create-ssh-key', rows: '2', spellcheck: 'false', placeholder: 'ssh-ed25519 AAAA…' });
  const secrets = {
    githubToken: secret('env-create-github-token'),
    codeServerPassword: secret('env-create-code-server-password'),
    anthropicApiKey: secret('env-create-anthropic-key'),
    openaiApiKey: secret('env-create-openai-key'),
    geminiApiKey: secret('env-create-gemini-key'),
  };
  const el = h('details', { class: 'more', testid: 'env-create-more' },
    h('summary', null, 'More: template, git, SSH key, secrets, auto-stop, ttl'),
    h('div', { class: 'row wrap' },
      field('Template', inputs.template), field('Base image', inputs.baseImage),
      field('Git name', inputs.gitUserName), field('Git email', inputs.gitUserEmail),
      field('Auto-stop after idle minutes', inputs.autoStopMinutes), field('Delete after (ttl)', inputs.ttl)),
    h('div', { class: 'row wrap' }, field('SSH public key', ssh)),
    h('p', { class: 'muted small' }, 'Secrets are write-only: berth keeps them encrypted and never shows them again.'),
    h('div', { class: 'row wrap' },
      field('GitHub token', secrets.githubToken), field('code-server password', secrets.codeServerPassword),
      field('Anthropic API key', secrets.anthropicApiKey), field('OpenAI API key', secrets.openaiApiKey),
      field('Gemini API key', secrets.geminiApiKey)));

  /** @param {Record<string, any>} body */
  function collect(body) {
    for (const [k, el] of Object.entries(inputs)) {
      const v = el.value.trim();
      if (v === '') continue;
      body[k] = k === 'autoStopMinutes' ? Number(v) : v;
    }
    if (ssh.value.trim()) body.sshPublicKey = ssh.value.trim();
    for (const [k, el] of Object.entries(secrets)) {
      if (el.value) body[k] = el.value;
    }
  }

  function clear() {
    for (const el of Object.values(secrets)) el.value = '';
  }
  return { el, collect, clear };
}

/**
 * quotaLine shows what is left of the caller's environment quota; refresh
 * reads it again (after a create, on events).
 */
export function quotaLine() {
  const el = h('p', { class: 'muted small', testid: 'env-quota' });
  /** @param {AbortSignal} [signal] */
  async function refresh(signal) {
    let st;
    try {
      st = await api('/quotas/me', { quiet: true, signal });
    } catch {
      return;
    }
    const left = remaining(st);
    set(el, left.length ? `Your quota: ${left.map((x) => x.text).join(' · ')}` : 'No quota limits apply to you.');
  }
  return { el, refresh };
}
