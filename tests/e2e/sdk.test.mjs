// `kith serve`'s admin listener driven with Ory's own JS SDK (@ory/kratos-client):
// if these pass, code written against Kratos works against kith unchanged.

import test from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, identityApi, metadataApi, httpError, adminFetch, assertEnvelope, parseLink,
  passwordMatches, email, literal, UUID, RFC3339,
} from './lib.mjs';

const EMAIL_SCHEMA_URL_ID = 'cHJlc2V0Oi8vZW1haWw'; // base64url("preset://email"), no padding
const CONFLICT_REASON = 'This identity conflicts with another identity that already exists.';

function emailBody(address, extra = {}) {
  return { schema_id: 'preset://email', traits: { email: address }, ...extra };
}

test('create returns 201, a Location and the Kratos identity body', async (t) => {
  const srv = await startServer(t);
  const api = identityApi(srv);
  const before = Date.now();
  const res = await api.createIdentity({
    createIdentityBody: emailBody('Ada.Lovelace@Example.org', { metadata_admin: { ticket: 42 } }),
  });
  assert.equal(res.status, 201);
  assert.match(res.headers['content-type'], /^application\/json/);
  const id = res.data.id;
  assert.match(id, UUID);
  assert.match(res.headers.location ?? '', new RegExp(`^${literal(srv.admin)}(/admin)?/identities/${id}$`));

  const body = res.data;
  assert.equal(body.schema_id, 'preset://email');
  assert.equal(body.schema_url, `${srv.public}/schemas/${EMAIL_SCHEMA_URL_ID}`);
  assert.equal(body.state, 'active');
  assert.match(body.state_changed_at, RFC3339);
  // Traits are stored as submitted; identifiers and addresses are normalized.
  assert.deepEqual(body.traits, { email: 'Ada.Lovelace@Example.org' });
  assert.equal(body.verifiable_addresses.length, 1);
  const [va] = body.verifiable_addresses;
  assert.match(va.id, UUID);
  assert.equal(va.value, 'ada.lovelace@example.org');
  assert.equal(va.verified, false);
  assert.equal(va.via, 'email');
  assert.equal(va.status, 'pending');
  assert.equal('verified_at' in va, false, 'verified_at is left out until verified');
  assert.match(va.created_at, RFC3339);
  assert.equal(body.recovery_addresses.length, 1);
  assert.equal(body.recovery_addresses[0].value, 'ada.lovelace@example.org');
  assert.equal(body.recovery_addresses[0].via, 'email');
  assert.ok('metadata_public' in body, 'metadata_public is always present');
  assert.equal(body.metadata_public, null);
  assert.deepEqual(body.metadata_admin, { ticket: 42 });
  assert.ok('organization_id' in body, 'organization_id is always present');
  assert.equal(body.organization_id, null);
  assert.match(body.created_at, RFC3339);
  assert.match(body.updated_at, RFC3339);
  const created = Date.parse(body.created_at);
  assert.ok(created >= before - 2000 && created <= Date.now() + 2000, `created_at ${body.created_at} is now`);
  // The POST response lists credentials without their config.
  assert.deepEqual(body.credentials.password.identifiers, ['ada.lovelace@example.org']);
  assert.equal(body.credentials.password.type, 'password');
  assert.equal('config' in body.credentials.password, false);

  // The Location and the schema_url both resolve.
  const loc = await adminFetch(srv, new URL(res.headers.location).pathname);
  assert.equal(loc.status, 200);
  assert.equal((await loc.json()).id, id);
  const schema = await fetch(body.schema_url);
  assert.equal(schema.status, 200, `GET ${body.schema_url}`);
  const schemaJson = await schema.json();
  assert.ok(schemaJson.properties?.traits?.properties?.email, `email preset schema: ${JSON.stringify(schemaJson)}`);
});

test('get shows credential config only when include_credential asks for it', async (t) => {
  const srv = await startServer(t);
  const api = identityApi(srv);
  const address = email('pw');
  const password = 'correct horse battery staple 7';
  const { data: created } = await api.createIdentity({
    createIdentityBody: emailBody(address, { credentials: { password: { config: { password } } } }),
  });
  assert.equal('config' in created.credentials.password, false, 'POST response has no credential config');

  const plain = await api.getIdentity({ id: created.id });
  assert.equal(plain.status, 200);
  assert.deepEqual(plain.data.credentials.password.identifiers, [address]);
  assert.equal('config' in plain.data.credentials.password, false, 'no config without include_credential');
  assert.deepEqual(plain.data.traits, { email: address });

  const full = await api.getIdentity({ id: created.id, includeCredential: ['password'] });
  const hash = full.data.credentials.password.config?.hashed_password;
  assert.equal(typeof hash, 'string', JSON.stringify(full.data.credentials));
  assert.match(hash, /^\$/, 'a PHC/modular-crypt hash');
  assert.ok(!hash.includes(password), 'the cleartext is not stored');
  assert.equal(await passwordMatches(srv, address, password), true);
  assert.equal(await passwordMatches(srv, address, 'wrong password'), false);

  // A password given as a hash is kept verbatim and verifies (a vector from Kratos' hasher_test.go).
  const imported = email('bcrypt');
  const bcrypt = '$2a$12$o6hx.Wog/wvFSkT/Bp/6DOxCtLRTDj7lm9on9suF/WaCGNVHbkfL6';
  const { data: imp } = await api.createIdentity({
    createIdentityBody: emailBody(imported, { credentials: { password: { config: { hashed_password: bcrypt } } } }),
  });
  const impFull = await api.getIdentity({ id: imp.id, includeCredential: ['password'] });
  assert.equal(impFull.data.credentials.password.config.hashed_password, bcrypt);
  assert.equal(await passwordMatches(srv, imported, 'test'), true);

  // Kratos rejects an include_credential value it does not know.
  const bad = await adminFetch(srv, `/admin/identities/${created.id}?include_credential=bogus`);
  assert.equal(bad.status, 400);
  assertEnvelope(await bad.json(), 400, 'Bad Request', {
    reason: 'Invalid value `bogus` for parameter `include_credential`.',
  });
});

test('list pages by Link rel="next" in id order', async (t) => {
  const srv = await startServer(t);
  const api = identityApi(srv);
  const created = [];
  for (let i = 0; i < 7; i++) {
    const { data } = await api.createIdentity({ createIdentityBody: emailBody(email('page')) });
    created.push(data.id);
  }

  const seen = [];
  const pages = [];
  let pageToken;
  for (let n = 0; n < 10; n++) {
    const res = await api.listIdentities({ pageSize: 3, pageToken });
    assert.equal(res.status, 200);
    assert.equal(res.headers['cache-control'], 'private, no-cache, no-store, must-revalidate');
    pages.push(res.data.length);
    seen.push(...res.data.map((i) => i.id));
    for (const identity of res.data) {
      assert.equal('credentials' in identity, false, 'list leaves credentials out unless asked');
      assert.equal(identity.schema_id, 'preset://email');
    }
    const links = parseLink(res.headers.link, srv.admin);
    assert.ok(links.first, `Link has rel="first": ${res.headers.link}`);
    assert.equal(links.first.searchParams.get('page_size'), '3');
    assert.equal(links.first.searchParams.get('page_token'), '00000000-0000-0000-0000-000000000000');
    if (!links.next) break;
    assert.equal(links.next.searchParams.get('page_size'), '3', res.headers.link);
    pageToken = links.next.searchParams.get('page_token');
    assert.equal(pageToken, res.data.at(-1).id, 'the next token is the last id of the page');
  }
  assert.deepEqual(pages, [3, 3, 1]);
  assert.equal(new Set(seen).size, 7, 'each identity once');
  assert.deepEqual([...seen].sort(), [...created].sort(), 'exactly the identities created');
  assert.deepEqual(seen, [...seen].sort(), 'ordered by id');

  // Unpaged: everything in one response (default page_size 250).
  const all = await api.listIdentities();
  assert.equal(all.data.length, 7);
  assert.equal(parseLink(all.headers.link, srv.admin).next, undefined, `no next page: ${all.headers.link}`);

  // ids= filter; unknown ids are ignored.
  const picked = await api.listIdentities({ ids: [created[1], created[4], '00000000-0000-4000-8000-000000000000'] });
  assert.deepEqual(picked.data.map((i) => i.id).sort(), [created[1], created[4]].sort());

  // A crafted page token is refused.
  const bad = await adminFetch(srv, '/admin/identities?page_token=not-a-uuid');
  assert.equal(bad.status, 400);
  assertEnvelope(await bad.json(), 400, 'Bad Request', {
    reason: 'The page token is invalid, do not craft your own page tokens',
  });
});

test('list filters by credentials_identifier, normalized, with credentials', async (t) => {
  const srv = await startServer(t);
  const api = identityApi(srv);
  const a = email('alice');
  const b = email('bob');
  const { data: alice } = await api.createIdentity({
    createIdentityBody: emailBody(a, { credentials: { password: { config: { password: 'a long enough secret 3' } } } }),
  });
  await api.createIdentity({ createIdentityBody: emailBody(b) });

  const res = await api.listIdentities({ credentialsIdentifier: a.toUpperCase() });
  assert.equal(res.status, 200);
  assert.deepEqual(res.data.map((i) => i.id), [alice.id]);
  assert.deepEqual(res.data[0].credentials?.password?.identifiers, [a], 'credentials are expanded');
  assert.equal('config' in res.data[0].credentials.password, false);

  const withConfig = await api.listIdentities({ credentialsIdentifier: a, includeCredential: ['password'] });
  assert.deepEqual(withConfig.data.map((i) => i.id), [alice.id]);
  assert.match(withConfig.data[0].credentials.password.config?.hashed_password ?? '', /^\$/);

  const none = await api.listIdentities({ credentialsIdentifier: email('nobody') });
  assert.deepEqual(none.data, []);

  const two = await adminFetch(srv, `/admin/identities?credentials_identifier=${a}&ids=${alice.id}`);
  assert.equal(two.status, 400);
  assertEnvelope(await two.json(), 400, 'Bad Request', { reason: 'You cannot combine multiple filters in this API' });
});

test('update (PUT) replaces traits and metadata and re-derives addresses', async (t) => {
  const srv = await startServer(t);
  const api = identityApi(srv);
  const oldAddress = email('old');
  const newAddress = email('new');
  const { data: created } = await api.createIdentity({
    createIdentityBody: emailBody(oldAddress, { metadata_public: { plan: 'free' }, metadata_admin: { note: 'x' } }),
  });

  const res = await api.updateIdentity({
    id: created.id,
    updateIdentityBody: {
      schema_id: 'preset://email',
      traits: { email: newAddress },
      state: 'inactive',
      metadata_public: { plan: 'pro' },
    },
  });
  assert.equal(res.status, 200);
  const u = res.data;
  assert.equal(u.id, created.id);
  assert.deepEqual(u.traits, { email: newAddress });
  assert.equal(u.state, 'inactive');
  assert.notEqual(u.state_changed_at, created.state_changed_at, 'a state change moves state_changed_at');
  assert.ok(Date.parse(u.state_changed_at) >= Date.parse(created.state_changed_at));
  assert.deepEqual(u.metadata_public, { plan: 'pro' });
  assert.equal(u.metadata_admin, null, 'metadata left out of a PUT is cleared');
  assert.deepEqual(u.verifiable_addresses.map((x) => x.value), [newAddress]);
  assert.deepEqual(u.recovery_addresses.map((x) => x.value), [newAddress]);
  assert.deepEqual(u.credentials.password.identifiers, [newAddress]);
  assert.equal(u.created_at, created.created_at);

  assert.deepEqual((await api.listIdentities({ credentialsIdentifier: oldAddress })).data, []);
  assert.deepEqual((await api.listIdentities({ credentialsIdentifier: newAddress })).data.map((i) => i.id), [created.id]);

  // PUT on an id that does not exist.
  const missing = await httpError(
    api.updateIdentity({ id: '00000000-0000-4000-8000-000000000000', updateIdentityBody: { traits: { email: email() } } }),
    404,
  );
  assertEnvelope(missing.data, 404, 'Not Found');
});

test('JSON patch changes traits and metadata; denied paths are refused', async (t) => {
  const srv = await startServer(t);
  const api = identityApi(srv);
  const address = email('patch');
  const patched = email('patched');
  const { data: created } = await api.createIdentity({ createIdentityBody: emailBody(address) });

  const res = await api.patchIdentity({
    id: created.id,
    jsonPatch: [
      { op: 'replace', path: '/traits/email', value: patched },
      { op: 'add', path: '/metadata_public', value: { tier: 2 } },
    ],
  });
  assert.equal(res.status, 200);
  assert.deepEqual(res.data.traits, { email: patched });
  assert.deepEqual(res.data.metadata_public, { tier: 2 });
  assert.deepEqual(res.data.verifiable_addresses.map((x) => x.value), [patched]);
  assert.deepEqual(res.data.credentials.password.identifiers, [patched]);
  const got = await api.getIdentity({ id: created.id });
  assert.deepEqual(got.data.traits, { email: patched });

  const denied = await httpError(
    api.patchIdentity({ id: created.id, jsonPatch: [{ op: 'replace', path: '/id', value: created.id }] }),
    400,
  );
  assertEnvelope(denied.data, 400, 'Bad Request', { message: 'patch includes denied path: /id' });

  // Traits are validated again after the patch.
  const invalid = await httpError(
    api.patchIdentity({ id: created.id, jsonPatch: [{ op: 'replace', path: '/traits/email', value: 'not-an-email' }] }),
    400,
  );
  assertEnvelope(invalid.data, 400, 'Bad Request', { reason: /not-an-email/ });
  assert.deepEqual((await api.getIdentity({ id: created.id })).data.traits, { email: patched }, 'nothing written');
});

test('batch create reports a conflict per item and creates the rest', async (t) => {
  const srv = await startServer(t);
  const api = identityApi(srv);
  const taken = email('taken');
  const { data: existing } = await api.createIdentity({ createIdentityBody: emailBody(taken) });
  const first = email('batch1');
  const third = email('batch3');
  const patchIds = ['11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222', '33333333-3333-4333-8333-333333333333'];

  const res = await api.batchPatchIdentities({
    patchIdentitiesBody: {
      identities: [
        { patch_id: patchIds[0], create: emailBody(first) },
        { patch_id: patchIds[1], create: emailBody(taken) },
        { patch_id: patchIds[2], create: emailBody(third) },
      ],
    },
  });
  assert.equal(res.status, 200);
  const items = res.data.identities;
  assert.equal(items.length, 3, JSON.stringify(res.data));
  assert.equal(items[0].action, 'create');
  assert.match(items[0].identity, UUID);
  assert.equal(items[0].patch_id, patchIds[0]);
  assert.equal(items[1].action, 'error');
  assert.equal(items[1].patch_id, patchIds[1]);
  assert.equal(items[1].error?.code, 409, JSON.stringify(items[1]));
  assert.equal(items[1].error?.status, 'Conflict');
  assert.equal(items[2].action, 'create');
  assert.equal(items[2].patch_id, patchIds[2]);

  assert.deepEqual((await api.getIdentity({ id: items[0].identity })).data.traits, { email: first });
  assert.deepEqual((await api.getIdentity({ id: items[2].identity })).data.traits, { email: third });
  const holders = await api.listIdentities({ credentialsIdentifier: taken });
  assert.deepEqual(holders.data.map((i) => i.id), [existing.id], 'the conflicting item created nothing');
  assert.equal((await api.listIdentities()).data.length, 3);

  // kith's ?dry_run=true answers the same way and writes nothing.
  const dryAddress = email('dry');
  const dry = await adminFetch(srv, '/admin/identities?dry_run=true', {
    method: 'PATCH',
    body: { identities: [{ create: emailBody(dryAddress) }, { create: emailBody(taken) }] },
  });
  assert.equal(dry.status, 200);
  const dryItems = (await dry.json()).identities;
  assert.equal(dryItems[0].action, 'create', JSON.stringify(dryItems));
  assert.equal(dryItems[1].action, 'error');
  assert.equal(dryItems[1].error?.code, 409);
  assert.deepEqual((await api.listIdentities({ credentialsIdentifier: dryAddress })).data, []);
  assert.equal((await api.listIdentities()).data.length, 3);
});

test('recovery code: 201 with a 6-digit code and a link to the public page', async (t) => {
  const srv = await startServer(t);
  const api = identityApi(srv);
  const { data: who } = await api.createIdentity({ createIdentityBody: emailBody(email('rc')) });

  const before = Date.now();
  const res = await api.createRecoveryCodeForIdentity({ createRecoveryCodeForIdentityBody: { identity_id: who.id } });
  assert.equal(res.status, 201);
  assert.match(res.data.recovery_code, /^[0-9]{6}$/);
  const link = new URL(res.data.recovery_link);
  assert.equal(link.origin + link.pathname, `${srv.public}/self-service/recovery`);
  assert.match(link.searchParams.get('flow') ?? '', /\S/);
  assert.equal(link.searchParams.get('token'), null, 'the code is not in the link');
  assert.ok(!res.data.recovery_link.includes(res.data.recovery_code));
  const ttl = Date.parse(res.data.expires_at) - before;
  assert.ok(ttl > 59 * 60_000 && ttl < 61 * 60_000, `default lifetime 1h, got ${res.data.expires_at}`);

  const short = await api.createRecoveryCodeForIdentity({
    createRecoveryCodeForIdentityBody: { identity_id: who.id, expires_in: '15m' },
  });
  const shortTtl = Date.parse(short.data.expires_at) - Date.now();
  assert.ok(shortTtl > 14 * 60_000 && shortTtl < 16 * 60_000, `15m lifetime, got ${short.data.expires_at}`);
  assert.notEqual(short.data.recovery_link, res.data.recovery_link, 'each code gets its own flow');

  const unknown = await httpError(
    api.createRecoveryCodeForIdentity({
      createRecoveryCodeForIdentityBody: { identity_id: '00000000-0000-4000-8000-000000000000' },
    }),
    404,
  );
  assertEnvelope(unknown.data, 404, 'Not Found', { reason: 'could not find identity' });

  const badDuration = await httpError(
    api.createRecoveryCodeForIdentity({ createRecoveryCodeForIdentityBody: { identity_id: who.id, expires_in: 'soon' } }),
    400,
  );
  assertEnvelope(badDuration.data, 400, 'Bad Request', { reason: /expires_in/ });
});

test('recovery link: 200 with a token link to the public page', async (t) => {
  const srv = await startServer(t);
  const api = identityApi(srv);
  const { data: who } = await api.createIdentity({ createIdentityBody: emailBody(email('rl')) });

  const before = Date.now();
  const res = await api.createRecoveryLinkForIdentity({ createRecoveryLinkForIdentityBody: { identity_id: who.id } });
  assert.equal(res.status, 200);
  const link = new URL(res.data.recovery_link);
  assert.equal(link.origin + link.pathname, `${srv.public}/self-service/recovery`);
  assert.match(link.searchParams.get('token') ?? '', /^[A-Za-z0-9]{32}$/);
  assert.match(link.searchParams.get('flow') ?? '', /\S/);
  const ttl = Date.parse(res.data.expires_at) - before;
  assert.ok(ttl > 59 * 60_000 && ttl < 61 * 60_000, `default lifetime 1h, got ${res.data.expires_at}`);

  const unknown = await httpError(
    api.createRecoveryLinkForIdentity({
      createRecoveryLinkForIdentityBody: { identity_id: '00000000-0000-4000-8000-000000000000' },
    }),
    400,
  );
  assertEnvelope(unknown.data, 400, 'Bad Request', { reason: 'The requested identity id does not exist.' });
});

test('duplicate create is a 409 Kratos envelope', async (t) => {
  const srv = await startServer(t);
  const api = identityApi(srv);
  const address = email('dup');
  await api.createIdentity({ createIdentityBody: emailBody(address) });

  // Same address in another case: identifiers are normalized before the uniqueness check.
  const res = await httpError(api.createIdentity({ createIdentityBody: emailBody(address.toUpperCase()) }), 409);
  assert.match(res.headers['content-type'], /^application\/json/);
  assertEnvelope(res.data, 409, 'Conflict', {
    reason: CONFLICT_REASON,
    message: 'The resource could not be created due to a conflict',
  });
  assert.equal((await api.listIdentities()).data.length, 1);
});

test('delete answers 204, then the identity is 404', async (t) => {
  const srv = await startServer(t);
  const api = identityApi(srv);
  const address = email('gone');
  const { data: who } = await api.createIdentity({
    createIdentityBody: emailBody(address, { credentials: { password: { config: { password: 'a long enough secret 1' } } } }),
  });

  const del = await api.deleteIdentity({ id: who.id });
  assert.equal(del.status, 204);
  assert.equal(del.data, '', 'no body');

  const get = await httpError(api.getIdentity({ id: who.id }), 404);
  assertEnvelope(get.data, 404, 'Not Found');
  const again = await httpError(api.deleteIdentity({ id: who.id }), 404);
  assertEnvelope(again.data, 404, 'Not Found');
  assert.deepEqual((await api.listIdentities({ credentialsIdentifier: address })).data, []);
  assert.equal(await passwordMatches(srv, address, 'a long enough secret 1'), false);

  // The address is free again.
  const re = await api.createIdentity({ createIdentityBody: emailBody(address) });
  assert.equal(re.status, 201);
  assert.notEqual(re.data.id, who.id);
});

test('deleting credentials follows Kratos rules', async (t) => {
  const srv = await startServer(t);
  const api = identityApi(srv);
  const { data: who } = await api.createIdentity({
    createIdentityBody: emailBody(email('cred'), { credentials: { password: { config: { password: 'a long enough secret 2' } } } }),
  });

  const last = await httpError(api.deleteIdentityCredentials({ id: who.id, type: 'password' }), 400);
  assertEnvelope(last.data, 400, 'Bad Request', { reason: 'You cannot remove the last first factor credential.' });
  const full = await api.getIdentity({ id: who.id, includeCredential: ['password'] });
  assert.equal(typeof full.data.credentials.password.config.hashed_password, 'string', 'password kept');

  const none = await httpError(api.deleteIdentityCredentials({ id: who.id, type: 'totp' }), 404);
  assertEnvelope(none.data, 404, 'Not Found', { reason: 'You tried to remove a totp but this user have no totp set up.' });
});

test('every admin route needs the bearer token', async (t) => {
  const srv = await startServer(t);
  const { data: who } = await identityApi(srv).createIdentity({ createIdentityBody: emailBody(email('auth')) });

  const cases = [
    ['GET', '/admin/identities'],
    ['GET', '/identities'],
    ['GET', `/admin/identities/${who.id}`],
    ['POST', '/admin/identities', emailBody(email('sneaky'))],
    ['PATCH', '/admin/identities', { identities: [{ create: emailBody(email('sneaky')) }] }],
    ['DELETE', `/admin/identities/${who.id}`],
    ['POST', '/admin/recovery/code', { identity_id: who.id }],
    ['POST', '/admin/recovery/link', { identity_id: who.id }],
  ];
  for (const [method, path, body] of cases) {
    for (const token of [null, 'not-the-token']) {
      const res = await adminFetch(srv, path, { method, body, token });
      assert.equal(res.status, 401, `${method} ${path} with token ${token}`);
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
      assertEnvelope(await res.json(), 401, 'Unauthorized');
    }
  }
  // Nothing above got through.
  const api = identityApi(srv);
  const all = await api.listIdentities();
  assert.deepEqual(all.data.map((i) => i.id), [who.id]);

  // The SDK with a wrong token gets the same envelope.
  const { IdentityApi, Configuration } = await import('@ory/kratos-client');
  const wrong = new IdentityApi(new Configuration({ basePath: srv.admin, apiKey: 'Bearer wrong' }));
  const res = await httpError(wrong.getIdentity({ id: who.id }), 401);
  assertEnvelope(res.data, 401, 'Unauthorized', { message: 'The request could not be authorized' });

  // Without the /admin prefix the same routes work with the token.
  const bare = await adminFetch(srv, `/identities/${who.id}`);
  assert.equal(bare.status, 200);
  assert.equal((await bare.json()).id, who.id);
});

test('create validates the schema id and the traits', async (t) => {
  const srv = await startServer(t);
  const api = identityApi(srv);

  const unknown = await httpError(api.createIdentity({ createIdentityBody: { schema_id: 'x', traits: {} } }), 400);
  assertEnvelope(unknown.data, 400, 'Bad Request', {
    reason: 'Unable to find JSON Schema ID: x',
    message: 'The request was malformed or contained invalid parameters',
  });

  const invalid = await httpError(api.createIdentity({ createIdentityBody: emailBody('not-an-email') }), 400);
  assertEnvelope(invalid.data, 400, 'Bad Request', { reason: /"not-an-email" is not valid "email"/ });

  const missing = await httpError(api.createIdentity({ createIdentityBody: { schema_id: 'preset://email', traits: {} } }), 400);
  assertEnvelope(missing.data, 400, 'Bad Request', { reason: /missing properties: "email"/ });

  // The body decoder is strict, as Kratos' is.
  const extra = await httpError(
    api.createIdentity({ createIdentityBody: { ...emailBody(email('strict')), schema_url: 'http://x' } }),
    400,
  );
  assertEnvelope(extra.data, 400, 'Bad Request', { message: /schema_url/ });

  const state = await httpError(api.createIdentity({ createIdentityBody: emailBody(email('st'), { state: 'asleep' }) }), 400);
  assertEnvelope(state.data, 400, 'Bad Request');

  assert.deepEqual((await api.listIdentities()).data, [], 'nothing was created');

  // The username preset works too.
  const user = await api.createIdentity({ createIdentityBody: { schema_id: 'preset://username', traits: { username: 'Grace' } } });
  assert.equal(user.status, 201);
  assert.deepEqual(user.data.credentials.password.identifiers, ['grace']);
  assert.equal(user.data.verifiable_addresses?.length ?? 0, 0);
  assert.equal(user.data.recovery_addresses?.length ?? 0, 0);
});

test('schemas through the SDK (which sends no token for them)', async (t) => {
  const srv = await startServer(t);
  const api = identityApi(srv);

  const list = await api.listIdentitySchemas();
  assert.equal(list.status, 200);
  const ids = list.data.map((s) => s.id);
  assert.ok(ids.includes('preset://email') && ids.includes('preset://username'), JSON.stringify(ids));
  const emailEntry = list.data.find((s) => s.id === 'preset://email');
  assert.ok(emailEntry.schema?.properties?.traits?.properties?.email);

  const raw = await api.getIdentitySchema({ id: 'preset://email' });
  const encoded = await api.getIdentitySchema({ id: EMAIL_SCHEMA_URL_ID });
  assert.deepEqual(raw.data, emailEntry.schema);
  assert.deepEqual(encoded.data, raw.data, 'the base64url id names the same schema');
  const user = await api.getIdentitySchema({ id: 'preset://username' });
  assert.ok(user.data.properties?.traits?.properties?.username);

  // Not valid base64url, so Kratos reports the id as given (it decodes ids that are).
  const missing = await httpError(api.getIdentitySchema({ id: 'no.such.schema' }), 404);
  assertEnvelope(missing.data, 404, 'Not Found', {
    reason: 'Identity schema `no.such.schema` could not be found.',
    message: 'The requested resource could not be found',
  });
});

test('schemas with the token, and on the public listener', async (t) => {
  const srv = await startServer(t);
  for (const url of [`${srv.admin}/schemas`, `${srv.public}/schemas`]) {
    const res = await fetch(url, { headers: { authorization: `Bearer ${srv.token}` } });
    assert.equal(res.status, 200, url);
    const ids = (await res.json()).map((s) => s.id);
    assert.ok(ids.includes('preset://email'), `${url}: ${JSON.stringify(ids)}`);
  }
  const one = await fetch(`${srv.public}/schemas/${EMAIL_SCHEMA_URL_ID}`);
  assert.equal(one.status, 200);
  assert.ok((await one.json()).properties?.traits?.properties?.email);
});

test('health and version through the SDK, and health on the public listener', async (t) => {
  const srv = await startServer(t);
  const meta = metadataApi(srv);
  assert.deepEqual((await meta.isAlive()).data, { status: 'ok' });
  assert.deepEqual((await meta.isReady()).data, { status: 'ok' });
  const version = await meta.getVersion();
  assert.equal(typeof version.data.version, 'string');
  assert.match(version.data.version, /\d+\.\d+/);

  for (const path of ['/health/alive', '/health/ready']) {
    const res = await fetch(srv.public + path);
    assert.equal(res.status, 200, `public ${path}`);
    assert.deepEqual(await res.json(), { status: 'ok' });
  }

  // Stopping inside the test: SIGTERM, exit 0.
  await srv.stop();
  await assert.rejects(fetch(`${srv.admin}/health/alive`), 'the admin listener is closed');
});

test('the routes a Kratos admin UI adds: by external id, prefix and organization filters, numbered pages, sessions', async (t) => {
  const srv = await startServer(t);
  const api = identityApi(srv);
  const org = '0195f1f0-1a2b-7c3d-8e4f-5a6b7c8d9e0f';
  const ada = (await api.createIdentity({
    createIdentityBody: emailBody('ada@example.org', { external_id: 'crm-1', organization_id: org }),
  })).data;
  const alan = (await api.createIdentity({ createIdentityBody: emailBody('alan@example.org') })).data;
  await api.createIdentity({ createIdentityBody: emailBody('grace@example.org') });

  const byExternal = await api.getIdentityByExternalID({ externalID: 'crm-1' });
  assert.equal(byExternal.data.id, ada.id);
  await httpError(api.getIdentityByExternalID({ externalID: 'crm-2' }), 404);

  const similar = await api.listIdentities({ previewCredentialsIdentifierSimilar: 'a' });
  assert.deepEqual(similar.data.map((i) => i.id).sort(), [ada.id, alan.id].sort());
  const members = await api.listIdentities({ organizationId: org });
  assert.deepEqual(members.data.map((i) => i.id), [ada.id]);

  const page = await api.listIdentities({ page: 0, perPage: 2 });
  assert.equal(page.data.length, 2);
  assert.equal(page.headers['x-total-count'], '3');
  assert.match(page.headers.link ?? '', /page=1&per_page=2>; rel="next"/);

  const sessions = await api.listIdentitySessions({ id: ada.id });
  assert.deepEqual(sessions.data, []);
  assert.deepEqual((await api.listSessions({})).data, []);
  await httpError(api.getSession({ id: ada.id }), 404);
  await httpError(api.disableSession({ id: ada.id }), 404);
  await httpError(api.extendSession({ id: ada.id }), 404);
  await httpError(api.deleteIdentitySessions({ id: ada.id }), 404);
});
