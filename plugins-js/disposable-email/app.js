// disposable-email: a kith trait validator written in JavaScript.
//
// Every string in the traits that looks like an e-mail address (`local@domain`) is checked
// against the `disposable_domains` config (comma-separated): an address at one of them, or at
// a subdomain of one, is refused with `disposable_email`. `allowed_domains` lists exceptions
// (a domain of the list that the deployment does accept after all).
//
// Built by scripts/build-plugins with jco's QuickJS backend (see the README, "Plugins in
// JavaScript and Python"); the component imports only kith:plugin/log.

import { log } from 'kith:plugin/log@0.1.0';
// plugins-js/kith-plugin.js, put beside this file by scripts/build-plugins.
import { configList, reported } from './kith-plugin.js';

/** The config value `key` as a list of lowercase domains ("*.x" and ".x" mean "x"). */
function domains(ctx, key) {
  return configList(ctx, key).map((d) => d.toLowerCase().replace(/^\*?\./, ''));
}

/** True when `rule` is `domain` or a parent of it (`example.org` covers `a.example.org`). */
function covers(rule, domain) {
  return domain === rule || domain.endsWith(`.${rule}`);
}

/** Every string under `value` that looks like `local@domain`, with its RFC 6901 pointer. */
function addresses(value, pointer, out) {
  if (typeof value === 'string') {
    const at = value.lastIndexOf('@');
    if (at > 0 && value.slice(at + 1).includes('.') && !/\s/.test(value)) {
      out.push([pointer, value]);
    }
  } else if (Array.isArray(value)) {
    value.forEach((item, index) => addresses(item, `${pointer}/${index}`, out));
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      const escaped = key.replaceAll('~', '~0').replaceAll('/', '~1');
      addresses(item, `${pointer}/${escaped}`, out);
    }
  }
  return out;
}

export const validator = reported({
  // validate: func(ctx, schema-id, traits-json) -> result<_, list<field-error>>.
  // Returning is `ok`; throwing a list of field errors is `err`.
  validate(ctx, schemaId, traitsJson) {
    const disposable = domains(ctx, 'disposable_domains');
    const allowed = domains(ctx, 'allowed_domains');
    let traits;
    try {
      traits = JSON.parse(traitsJson);
    } catch (e) {
      throw [{ pointer: '', code: 'traits_not_json', message: `traits are not JSON: ${e.message}` }];
    }
    const errors = [];
    for (const [pointer, address] of addresses(traits, '', [])) {
      const domain = address.slice(address.lastIndexOf('@') + 1).toLowerCase().replace(/\.$/, '');
      if (allowed.some((rule) => covers(rule, domain))) continue;
      const rule = disposable.find((rule) => covers(rule, domain));
      if (rule !== undefined) {
        errors.push({
          pointer,
          code: 'disposable_email',
          message: `${domain} hands out disposable addresses; use a permanent e-mail address`,
        });
      }
    }
    log('debug', `${schemaId}: ${errors.length} disposable address(es) among the traits`);
    if (errors.length > 0) {
      log('info', `refused ${errors.map((e) => e.pointer).join(', ')}`);
      throw errors;
    }
  },
});
