// {{name}}: a kith import mapper written in JavaScript.
//
// `kith import identities FILE --mapper {{name}}` hands it each record of the file (an object
// of a JSON array or of NDJSON lines; a CSV row as an object of strings) and imports what it
// returns: a Kratos createIdentityBody, as JSON. Throw a list of field errors (pointers into
// the record) to refuse a record; the import reports it and goes on with the next.
// This one maps `{"mail": ..., "full_name": ..., "password_sha512_crypt": ...}` records.

import { log } from 'kith:plugin/log@0.1.0';
// Helpers (config, the report of unexpected exceptions): kith-plugin.js beside this file.
import { config, reported } from './kith-plugin.js';

export const mapper = reported({
  mapRecord(ctx, recordJson) {
    const record = JSON.parse(recordJson);
    const email = typeof record.mail === 'string' ? record.mail.trim() : '';
    if (!email.includes('@')) {
      throw [{ pointer: '/mail', code: 'missing_email', message: 'the record has no e-mail address' }];
    }
    const body = {
      schema_id: config(ctx, 'schema_id', 'preset://email'),
      traits: { email },
      verifiable_addresses: [{ value: email, via: 'email', verified: true, status: 'completed' }],
    };
    if (typeof record.full_name === 'string' && record.full_name !== '') {
      body.metadata_public = { full_name: record.full_name };
    }
    // Kratos takes crypt(3) SHA-512 hashes as `$sha512-crypt$...`; kith converts `$6$` itself.
    if (typeof record.password_sha512_crypt === 'string') {
      body.credentials = { password: { config: { hashed_password: record.password_sha512_crypt } } };
    }
    log('debug', `mapped ${email}`);
    return JSON.stringify(body);
  },
});
