// {{name}}: a kith trait validator written in JavaScript. kith calls `validate` after
// JSON-Schema validation whenever an identity is created, updated or imported, and refuses the
// write when it throws field errors. This one refuses the usernames its `reserved` config lists.
//
// Returning is `ok`; throwing a list of field errors (`pointer`, an RFC 6901 pointer into the
// traits; a stable `code`; a `message` for people) is `err`.

import { log } from 'kith:plugin/log@0.1.0';
// Helpers (config values, the report of unexpected exceptions): kith-plugin.js beside this file.
import { configList, reported } from './kith-plugin.js';

export const validator = reported({
  validate(ctx, schemaId, traitsJson) {
    log('debug', `checking an identity of schema ${schemaId}`);
    const traits = JSON.parse(traitsJson);
    const username = traits.username;
    if (typeof username !== 'string') return;
    const reserved = configList(ctx, 'reserved').map((name) => name.toLowerCase());
    if (reserved.includes(username.trim().toLowerCase())) {
      throw [{ pointer: '/username', code: 'reserved', message: `the username ${username} is reserved` }];
    }
  },
});
