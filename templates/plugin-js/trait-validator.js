// {{name}}: a kith trait validator written in JavaScript.
//
// kith calls `validate` after JSON-Schema validation, on create, update and import, for the
// schemas plugin.toml lists. Return to accept the traits; throw a list of field errors
// (`pointer` into the traits, a stable `code`, a `message` for people) to refuse them.
// This one refuses the usernames of its `reserved` config (comma-separated).

import { log } from 'kith:plugin/log@0.1.0';
// Helpers (config, the report of unexpected exceptions): kith-plugin.js beside this file.
import { configList, reported } from './kith-plugin.js';

export const validator = reported({
  validate(ctx, schemaId, traitsJson) {
    const reserved = configList(ctx, 'reserved').map((name) => name.toLowerCase());
    const traits = JSON.parse(traitsJson);
    log('debug', `checking a ${schemaId} identity`);
    const username = traits.username;
    if (typeof username === 'string' && reserved.includes(username.toLowerCase())) {
      throw [{ pointer: '/username', code: 'reserved', message: `${username} is reserved` }];
    }
  },
});
