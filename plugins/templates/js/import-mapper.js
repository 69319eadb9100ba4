// {{name}}: a kith import mapper written in JavaScript. `kith import identities --mapper`
// hands it each record of a foreign export, and it answers with a Kratos createIdentityBody
// as JSON, or throws field errors (pointers into the record), which make that record's error,
// never the run's. This one maps `{"email": ..., "name": ...}` records.

import { log } from 'kith:plugin/log@0.1.0';
// Helpers (config values, the report of unexpected exceptions): kith-plugin.js beside this file.
import { config, reported } from './kith-plugin.js';

export const mapper = reported({
  mapRecord(ctx, recordJson) {
    const record = JSON.parse(recordJson);
    const email = typeof record.email === 'string' ? record.email.trim() : '';
    if (!email.includes('@')) {
      throw [{ pointer: '/email', code: 'missing_email', message: 'the record has no e-mail address' }];
    }
    const traits = { email };
    if (typeof record.name === 'string') log('debug', `${email} is named ${record.name}`);
    const nameTrait = config(ctx, 'name_trait', '');
    if (nameTrait !== '' && record.name !== undefined) traits[nameTrait] = record.name;
    return JSON.stringify({
      schema_id: config(ctx, 'schema_id', 'preset://email'),
      traits,
      state: 'active',
    });
  },
});
