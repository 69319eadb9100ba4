// {{name}}: a kith password-migration plugin written in JavaScript.
//
// For identities imported with `use_password_migration_hook: true`, `kith verify password`
// (and every sign-in) asks `verify` whether the password matches the legacy hash kept from
// the import. Return 'password-match' (kith then stores its own hash and never asks again)
// or 'no-match'; throw a string for a fault (an unknown hash format): the flag stays.
// This one knows LDAP's `{CLEARTEXT}` values; put your legacy system's check in its place.

import { log } from 'kith:plugin/log@0.1.0';
// Helpers (config, the report of unexpected exceptions): kith-plugin.js beside this file.
import { reported } from './kith-plugin.js';

/** Compares two strings in time that depends on their lengths only. */
function same(a, b) {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i += 1) {
    diff |= (a.charCodeAt(i) | 0) ^ (b.charCodeAt(i) | 0);
  }
  return diff === 0;
}

export const migration = reported({
  verify(ctx, attempt) {
    const hash = attempt.legacyHash;
    if (hash.startsWith('{CLEARTEXT}')) {
      const verdict = same(hash.slice('{CLEARTEXT}'.length), attempt.password) ? 'password-match' : 'no-match';
      log('debug', `${attempt.identifier}: ${verdict}`);
      return verdict;
    }
    throw `unknown legacy hash format for ${attempt.identifier}: ${hash.slice(0, 12)}...`;
  },
});
