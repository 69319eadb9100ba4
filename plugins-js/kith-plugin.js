// Helpers for kith plugins written in JavaScript: what the Rust SDK (plugins/sdk) gives Rust
// plugins. `kith new plugin --lang js` writes this file beside app.js; scripts/build-plugins
// puts it beside the app.js of each plugin of plugins-js/ when it builds one.

import { log } from 'kith:plugin/log@0.1.0';

/** A value of the plugin's config (plugin.toml `[config]`, `kith install plugin --config`). */
export function config(ctx, key, fallback) {
  const entry = ctx.config.find(([name]) => name === key);
  return entry === undefined ? fallback : entry[1];
}

/** A comma-separated config value as a list of trimmed, non-empty items. */
export function configList(ctx, key) {
  return config(ctx, key, '')
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}

/**
 * The exported object with each function wrapped so that an unexpected exception (an `Error`:
 * a bug, not a refusal) reaches kith with its message. A component built with stubbed WASI
 * has no stderr, so without this the call ends as "aborted without a message"; kith reads
 * the `panic: ` log line as the fault's message. Refusals (a list of field errors, a string)
 * are thrown on unchanged.
 */
export function reported(exported) {
  const wrapped = {};
  for (const [name, fn] of Object.entries(exported)) {
    wrapped[name] = (...args) => {
      try {
        return fn(...args);
      } catch (e) {
        if (e instanceof Error) {
          const frame = (e.stack || '').split('\n').find((line) => line.includes('('));
          const place = frame ? ` ${frame.trim()}` : '';
          log('error', `panic: ${e.name}: ${e.message}${place}`);
        }
        throw e;
      }
    };
  }
  return wrapped;
}
