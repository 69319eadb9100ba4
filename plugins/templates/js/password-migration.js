// {{name}}: a kith password-migration plugin written in JavaScript. For an identity imported
// with `use_password_migration_hook: true`, kith asks `verify` whether a password matches the
// legacy hash it kept: return 'password-match' (kith then stores its own hash and never asks
// again) or 'no-match' (a wrong password); throwing a string is a fault (kith keeps the flag
// and records it).
//
// This one knows Dovecot's `{PLAIN}` and `{CLEARTEXT}` schemes (the password itself, in
// clear). Add the schemes of your legacy system in `verifyScheme`.

import { log } from 'kith:plugin/log@0.1.0';
// Helpers (the report of unexpected exceptions): kith-plugin.js beside this file.
import { reported } from './kith-plugin.js';

/** `a === b` in a time that depends on the lengths only, not on where they differ. */
function same(a, b) {
  let diff = 0;
  for (let i = 0; i < a.length && a.length === b.length; i += 1) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return a.length === b.length && diff === 0;
}

/** Whether `password` matches `legacyHash`; throws why the hash cannot be checked. */
function verifyScheme(legacyHash, password) {
  const scheme = /^\{([^}]*)\}/.exec(legacyHash);
  if (scheme === null) throw 'the legacy hash has no {SCHEME} prefix';
  const rest = legacyHash.slice(scheme[0].length);
  switch (scheme[1]) {
    case 'PLAIN':
    case 'CLEARTEXT':
      return same(rest, password);
    default:
      throw `the legacy hash scheme {${scheme[1]}} is not one this plugin knows`;
  }
}

export const migration = reported({
  verify(ctx, attempt) {
    const matched = verifyScheme(attempt.legacyHash, attempt.password);
    log('debug', `${attempt.identifier}: ${matched ? 'match' : 'no match'}`);
    return matched ? 'password-match' : 'no-match';
  },
});
