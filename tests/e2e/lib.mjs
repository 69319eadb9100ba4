// Helpers for the end-to-end tests: run the kith CLI, start `kith serve` on a
// fresh store, and talk to it with Ory's SDK. Every server a test starts is
// stopped with SIGTERM when the test ends, and must exit 0.

import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import assert from 'node:assert/strict';
import { Configuration, IdentityApi, MetadataApi } from '@ory/kratos-client';

export const KITH_BIN = process.env.KITH_BIN;
if (!KITH_BIN || !path.isAbsolute(KITH_BIN)) {
  throw new Error(
    'KITH_BIN must be the absolute path of the kith binary, e.g. ' +
      'KITH_BIN=$PWD/target/debug/kith node --test tests/e2e/ (scripts/test sets it up)',
  );
}

const READY_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;

/** A fresh temp dir holding the store file and kith's cache; removed when the test ends. */
export async function tempStore(t) {
  const dir = await mkdtemp(path.join(tmpdir(), 'kith-e2e-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return {
    dir,
    db: path.join(dir, 'kith.db'),
    env: { ...process.env, KITH_CACHE_DIR: path.join(dir, 'cache'), USER: 'tester' },
  };
}

/**
 * Run `kith --db DB --format json ARGS...`; resolves to {code, signal, stdout, stderr}.
 * `input` is written to stdin (then closed).
 */
export function kith(store, args, { input } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(KITH_BIN, ['--db', store.db, '--format', 'json', ...args], {
      env: store.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

/** Run a kith command that must succeed and print one JSON document; returns it parsed. */
export async function kithJson(store, args, opts) {
  const r = await kith(store, args, opts);
  assert.equal(r.code, 0, `kith ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** `kith verify password`: true on exit 0, false on exit 1, anything else fails the test. */
export async function passwordMatches(store, identifier, password) {
  const r = await kith(store, ['verify', 'password', '--identifier', identifier, '--password-stdin'], {
    input: `${password}\n`,
  });
  assert.ok(r.code === 0 || r.code === 1, `kith verify password exited ${r.code}: ${r.stderr}`);
  return r.code === 0;
}

/**
 * Start `kith serve` on a fresh store with a fresh admin token. Resolves once the
 * server printed its ready line. The server is stopped (and its exit code checked)
 * when the test ends; call `stop()` earlier to check it inside the test.
 */
export async function startServer(t) {
  const store = await tempStore(t);
  const { token } = await kithJson(store, ['create', 'token', '--name', 'e2e']);
  assert.equal(typeof token, 'string', 'create token prints {"token": "..."}');
  assert.ok(token.length >= 16, `token too short to be a secret: ${token}`);

  const child = spawn(
    KITH_BIN,
    ['--db', store.db, '--format', 'json', 'serve', '--admin', '127.0.0.1:0', '--public', '127.0.0.1:0'],
    { env: store.env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const spawnFailed = new Promise((_, reject) => child.once('error', reject));

  const lines = readline.createInterface({ input: child.stdout });
  const extra = [];
  const ready = await Promise.race([
    new Promise((resolve) => lines.once('line', resolve)),
    spawnFailed,
    exited.then(({ code, signal }) => {
      throw new Error(`kith serve exited (${code ?? signal}) before its ready line: ${stderr}`);
    }),
    new Promise((_, reject) =>
      setTimeout(() => reject(new Error(`kith serve printed no ready line in ${READY_TIMEOUT_MS} ms: ${stderr}`)),
        READY_TIMEOUT_MS).unref(),
    ),
  ]).catch((err) => {
    child.kill('SIGKILL');
    throw err;
  });
  // Anything printed after the ready line is kept for the failure message.
  lines.on('line', (l) => extra.push(l));

  let info;
  try {
    info = JSON.parse(ready);
  } catch {
    child.kill('SIGKILL');
    throw new Error(`kith serve's first stdout line is not JSON: ${ready}`);
  }
  for (const key of ['admin', 'public']) {
    assert.match(info[key] ?? '', /^http:\/\/127\.0\.0\.1:[1-9][0-9]*$/, `ready line ${key}: ${ready}`);
  }
  assert.notEqual(info.admin, info.public, 'admin and public listeners are separate');

  let stopped;
  const stop = () => {
    stopped ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      const { code, signal } = await exited;
      clearTimeout(timer);
      assert.equal(signal, null, `kith serve died of ${signal} (SIGKILL means it ignored SIGTERM for ${STOP_TIMEOUT_MS} ms); stderr: ${stderr}`);
      assert.equal(code, 0, `kith serve exited ${code} after SIGTERM; stderr: ${stderr}; stdout: ${extra.join('\n')}`);
    })();
    return stopped;
  };
  t.after(stop);

  return { ...store, admin: info.admin, public: info.public, token, ready: info, stop, stderr: () => stderr };
}

/** Ory's IdentityApi pointed at the admin listener. */
export function identityApi(server) {
  // The SDK's spec declares `oryAccessToken` as an API key in the Authorization header
  // (setApiKeyToObject), so `accessToken` is never sent: the scheme goes in apiKey.
  return new IdentityApi(new Configuration({ basePath: server.admin, apiKey: `Bearer ${server.token}` }));
}

export function metadataApi(server) {
  return new MetadataApi(new Configuration({ basePath: server.admin, apiKey: `Bearer ${server.token}` }));
}

/** Await an SDK call that must fail with `status`; returns the response {status, headers, data}. */
export async function httpError(promise, status) {
  let res;
  try {
    res = await promise;
  } catch (err) {
    if (!err.response) throw err;
    assert.equal(err.response.status, status, `expected HTTP ${status}, body: ${JSON.stringify(err.response.data)}`);
    return err.response;
  }
  assert.fail(`expected HTTP ${status}, got ${res.status}: ${JSON.stringify(res.data)}`);
}

/** Raw request to the admin listener (with the token unless `token: null`). */
export async function adminFetch(server, pathAndQuery, { token = server.token, ...init } = {}) {
  const headers = { ...(init.headers ?? {}) };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (init.body !== undefined && typeof init.body !== 'string') {
    init.body = JSON.stringify(init.body);
    headers['content-type'] = 'application/json';
  }
  return fetch(server.admin + pathAndQuery, { ...init, headers, redirect: 'manual' });
}

/** Check a herodot error envelope: {"error":{code, status, message, reason?...}}. */
export function assertEnvelope(body, code, status, extra = {}) {
  assert.equal(typeof body?.error, 'object', `not a Kratos error envelope: ${JSON.stringify(body)}`);
  assert.equal(body.error.code, code, JSON.stringify(body));
  assert.equal(body.error.status, status, JSON.stringify(body));
  assert.equal(typeof body.error.message, 'string', JSON.stringify(body));
  for (const [k, v] of Object.entries(extra)) {
    if (v instanceof RegExp) assert.match(body.error[k] ?? '', v, `error.${k} in ${JSON.stringify(body)}`);
    else assert.deepEqual(body.error[k], v, `error.${k} in ${JSON.stringify(body)}`);
  }
}

/** The `rel` links of an RFC 8288 Link header, as {rel: URL}; relative targets resolve against `base`. */
export function parseLink(header, base) {
  const links = {};
  for (const part of (header ?? '').split(/,(?=\s*<)/)) {
    const m = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
    if (!m) continue;
    const rel = /\brel="?([^";]+)"?/.exec(m[2]);
    if (rel) for (const r of rel[1].trim().split(/\s+/)) links[r] = new URL(m[1], base);
  }
  return links;
}

/** `s` as a literal inside a RegExp. */
export function literal(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** A unique email for this run, so tests never collide by accident. */
let counter = 0;
export function email(prefix = 'user') {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}@example.org`;
}
