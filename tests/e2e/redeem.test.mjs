// The invite-redemption page on `kith serve`'s public listener, in headless
// Chromium: what an invitee sees when they open a recovery_link.
// Elements are found as a person (or a screen reader) finds them: by label and role.

import { before, after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startServer, identityApi, passwordMatches, email, kith, adminFetch } from './lib.mjs';

// axe-core from npm, injected from the local file: the check needs no network.
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
// One screenshot per page state, kept for a person to look at (git ignores the folder).
const SCREENSHOTS = fileURLToPath(new URL('./screenshots/', import.meta.url));

const CHROMIUM = '/usr/bin/chromium'; // Debian's package; scripts/test installs it
const INVALID_CODE = 'The recovery code is invalid or has already been used. Please try again.';
const TOO_OFTEN = 'The request was submitted too often. Please request another code.';
const PASSWORD = 'Tr0ub4dor & 3 green apples';

let browser;
before(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
});
after(() => browser?.close());

/**
 * A server, an identity without a password, and a fresh browser context (no cookies).
 * `origins` may be requested besides the public listener's; `bypassCSP` lets axe's script in.
 */
async function setup(t, { origins = [], bypassCSP = false } = {}) {
  const srv = await startServer(t);
  const api = identityApi(srv);
  const address = email('invitee');
  const { data: who } = await api.createIdentity({
    createIdentityBody: { schema_id: 'preset://email', traits: { email: address } },
  });
  const context = await browser.newContext({ bypassCSP });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  // The page works offline: it loads nothing from anywhere but the public listener.
  const foreign = [];
  page.on('request', (r) => {
    const url = r.url();
    if (![srv.public, ...origins].some((o) => url.startsWith(`${o}/`))) foreign.push(url);
  });
  t.after(async () => {
    await context.close();
    assert.deepEqual(foreign, [], 'requests to other origins');
  });
  return { srv, api, address, who, context, page };
}

async function codeLink(api, id) {
  const res = await api.createRecoveryCodeForIdentity({ createRecoveryCodeForIdentityBody: { identity_id: id } });
  assert.equal(res.status, 201);
  return res.data;
}

async function tokenLink(api, id) {
  const res = await api.createRecoveryLinkForIdentity({ createRecoveryLinkForIdentityBody: { identity_id: id } });
  assert.equal(res.status, 200);
  return res.data;
}

function otherCode(code) {
  return String((Number(code) + 1) % 1_000_000).padStart(6, '0');
}

/**
 * Fill the form and submit it with the button; resolves once the next page has loaded.
 * The password is confirmed as typed unless `confirm` says otherwise.
 */
async function submit(page, { code, password, confirm = password }) {
  if (code !== undefined) await page.getByLabel('Recovery code').fill(code);
  await page.getByLabel('New password').fill(password);
  await page.getByLabel('Confirm password').fill(confirm);
  await Promise.all([page.waitForEvent('load'), page.getByRole('button', { name: 'Set password' }).click()]);
}

/** Keeps a screenshot of the page as `state`, and asserts axe finds no violation on it. */
async function audit(page, state) {
  await mkdir(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: `${SCREENSHOTS}${state}.png`, fullPage: true });
  await page.addScriptTag({ path: AXE });
  const { violations } = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  assert.deepEqual(
    violations.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
    [],
    `axe on the ${state} page`,
  );
}

async function alertText(page) {
  const alert = page.getByRole('alert');
  await alert.first().waitFor();
  return (await alert.allInnerTexts()).join('\n');
}

async function succeeded(page) {
  return (await page.getByRole('heading', { level: 1, name: 'Password set' }).count()) === 1;
}

test('a recovery link asks only for the new password and sets it', async (t) => {
  const { srv, api, address, who, page } = await setup(t);
  const { recovery_link } = await tokenLink(api, who.id);

  await page.goto(recovery_link);
  assert.equal(await page.getByLabel('Recovery code').count(), 0, 'the token is the proof: no code field');
  const pw = page.getByLabel('New password');
  assert.equal(await pw.count(), 1);
  assert.equal(await pw.getAttribute('type'), 'password');
  assert.equal(await pw.getAttribute('name'), 'password');
  assert.equal(await passwordMatches(srv, address, PASSWORD), false);

  await submit(page, { password: PASSWORD });
  await page.getByRole('heading', { level: 1, name: 'Password set' }).waitFor();
  assert.equal(await page.getByLabel('New password').count(), 0, 'the success page has no form');

  assert.equal(await passwordMatches(srv, address, PASSWORD), true);
  assert.equal(await passwordMatches(srv, address, `${PASSWORD}!`), false);
  const full = await api.getIdentity({ id: who.id, includeCredential: ['password'] });
  assert.match(full.data.credentials.password.config.hashed_password, /^\$/);
});

test('a recovery code link asks for the code; a wrong code keeps the form, the right one works', async (t) => {
  const { srv, address, api, who, page } = await setup(t);
  const { recovery_link, recovery_code } = await codeLink(api, who.id);

  await page.goto(recovery_link);
  const code = page.getByLabel('Recovery code');
  assert.equal(await code.count(), 1);
  assert.equal(await code.getAttribute('name'), 'code');
  assert.equal(await page.getByLabel('New password').count(), 1);

  await submit(page, { code: otherCode(recovery_code), password: PASSWORD });
  assert.equal(await alertText(page), INVALID_CODE);
  assert.equal(await page.getByLabel('Recovery code').count(), 1, 'the form is still there');
  assert.equal(await page.getByLabel('New password').count(), 1);
  assert.equal(await succeeded(page), false);
  assert.equal(await passwordMatches(srv, address, PASSWORD), false, 'a wrong code sets nothing');

  await submit(page, { code: recovery_code, password: PASSWORD });
  await page.getByRole('heading', { level: 1, name: 'Password set' }).waitFor();
  assert.equal(await passwordMatches(srv, address, PASSWORD), true);
});

test('five wrong codes are allowed, the sixth submission is refused', async (t) => {
  const { srv, address, api, who, page } = await setup(t);
  const { recovery_link, recovery_code } = await codeLink(api, who.id);
  const wrong = otherCode(recovery_code);

  await page.goto(recovery_link);
  for (let i = 1; i <= 5; i++) {
    await submit(page, { code: wrong, password: PASSWORD });
    assert.equal(await alertText(page), INVALID_CODE, `wrong code #${i}`);
    // "Please try again" needs a form to try again with; Kratos refuses only the 6th submission.
    assert.equal(await page.getByLabel('Recovery code').count(), 1, `the form is still offered after wrong code #${i}`);
  }
  await submit(page, { code: wrong, password: PASSWORD });
  assert.equal(await alertText(page), TOO_OFTEN, 'wrong code #6');
  assert.equal(await succeeded(page), false);

  // The flow is spent: even the right code no longer sets the password.
  await page.goto(recovery_link);
  if (await page.getByLabel('Recovery code').count()) {
    await submit(page, { code: recovery_code, password: PASSWORD });
    assert.match(await alertText(page), /\S/);
  } else {
    assert.match(await alertText(page), /\S/, 'a spent flow explains itself');
  }
  assert.equal(await succeeded(page), false);
  assert.equal(await passwordMatches(srv, address, PASSWORD), false);

  // A new code from the admin API works.
  const fresh = await codeLink(api, who.id);
  await page.goto(fresh.recovery_link);
  await submit(page, { code: fresh.recovery_code, password: PASSWORD });
  await page.getByRole('heading', { level: 1, name: 'Password set' }).waitFor();
  assert.equal(await passwordMatches(srv, address, PASSWORD), true);
});

test('a used link or code shows an error instead of setting the password again', async (t) => {
  const { srv, address, api, who, page } = await setup(t);
  const second = 'a different passphrase 99';

  const link = await tokenLink(api, who.id);
  await page.goto(link.recovery_link);
  await submit(page, { password: PASSWORD });
  await page.getByRole('heading', { level: 1, name: 'Password set' }).waitFor();

  await page.goto(link.recovery_link);
  assert.match(await alertText(page), /\S/, 'reopening a used link explains why');
  if (await page.getByLabel('New password').count()) {
    await submit(page, { password: second });
    assert.equal(await succeeded(page), false, 'a used link does not set a password again');
  }
  assert.equal(await passwordMatches(srv, address, PASSWORD), true, 'the first password stands');
  assert.equal(await passwordMatches(srv, address, second), false);

  const code = await codeLink(api, who.id);
  await page.goto(code.recovery_link);
  await submit(page, { code: code.recovery_code, password: second });
  await page.getByRole('heading', { level: 1, name: 'Password set' }).waitFor();
  assert.equal(await passwordMatches(srv, address, second), true);

  await page.goto(code.recovery_link);
  if (await page.getByLabel('Recovery code').count()) {
    await submit(page, { code: code.recovery_code, password: PASSWORD });
  }
  assert.match(await alertText(page), /\S/, 'reusing a code explains why');
  assert.equal(await succeeded(page), false, 'a used code does not set a password again');
  assert.equal(await passwordMatches(srv, address, second), true);
  assert.equal(await passwordMatches(srv, address, PASSWORD), false);
});

test('a POST without the CSRF cookie and field is refused with 403', async (t) => {
  const { srv, address, api, who, context, page } = await setup(t);
  const { recovery_link } = await tokenLink(api, who.id);

  await page.goto(recovery_link);
  const form = await page.evaluate(() => {
    const f = document.forms[0];
    return {
      action: f.action,
      method: f.method,
      hidden: [...f.querySelectorAll('input[type=hidden]')].map((i) => [i.name, i.value]),
    };
  });
  assert.equal(form.method, 'post');
  assert.ok(form.hidden.length >= 1, 'the form carries a hidden CSRF field');
  const hidden = Object.fromEntries(form.hidden);
  const forged = Object.fromEntries(form.hidden.map(([k, v]) => [k, v ? `x${v.slice(1)}` : 'x']));

  // No cookie, no field: what a cross-site form post without a session looks like.
  const bare = await fetch(form.action, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ password: PASSWORD }),
    redirect: 'manual',
  });
  assert.equal(bare.status, 403, 'no cookie, no field');
  // The field copied from the page, but not the cookie.
  const noCookie = await fetch(form.action, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ ...hidden, password: PASSWORD }),
    redirect: 'manual',
  });
  assert.equal(noCookie.status, 403, 'field without cookie');
  // The cookie (the browser context sends it), but no field, then a forged field.
  const noField = await context.request.post(form.action, { form: { password: PASSWORD }, maxRedirects: 0 });
  assert.equal(noField.status(), 403, 'cookie without field');
  const wrongField = await context.request.post(form.action, { form: { ...forged, password: PASSWORD }, maxRedirects: 0 });
  assert.equal(wrongField.status(), 403, 'cookie with a forged field');

  assert.equal(await passwordMatches(srv, address, PASSWORD), false, 'the refused posts set nothing');

  // Refused posts do not spend the link: the real form still works.
  await page.goto(recovery_link);
  await submit(page, { password: PASSWORD });
  await page.getByRole('heading', { level: 1, name: 'Password set' }).waitFor();
  assert.equal(await passwordMatches(srv, address, PASSWORD), true);
});

test('the page is labelled, titled and in a declared language', async (t) => {
  const { api, who, page } = await setup(t);
  const { recovery_link, recovery_code } = await codeLink(api, who.id);

  // Inputs a person fills must have a label; hidden fields and buttons are exempt.
  const audit = () =>
    page.evaluate(() => ({
      lang: document.documentElement.lang,
      title: document.title.trim(),
      unlabelled: [...document.querySelectorAll('input, select, textarea')]
        .filter((el) => !['hidden', 'submit', 'button', 'reset'].includes(el.type))
        .filter((el) => el.labels.length === 0 && !el.getAttribute('aria-labelledby'))
        .map((el) => el.name || el.id || el.outerHTML),
    }));

  await page.goto(recovery_link);
  const form = await audit();
  assert.match(form.lang, /^[a-z]{2,3}(-[A-Za-z0-9]+)*$/, 'html lang');
  assert.ok(form.title.length > 0, 'a <title>');
  assert.deepEqual(form.unlabelled, []);
  assert.equal(await page.getByLabel('Recovery code').getAttribute('name'), 'code');
  assert.equal(await page.getByLabel('New password').getAttribute('name'), 'password');
  assert.equal(await page.getByRole('button', { name: 'Set password' }).count(), 1);

  // The error page: the message is announced, the form stays labelled.
  await submit(page, { code: otherCode(recovery_code), password: PASSWORD });
  assert.equal(await alertText(page), INVALID_CODE);
  const error = await audit();
  assert.match(error.lang, /\S/);
  assert.ok(error.title.length > 0);
  assert.deepEqual(error.unlabelled, []);

  // The success page.
  await submit(page, { code: recovery_code, password: PASSWORD });
  await page.getByRole('heading', { level: 1, name: 'Password set' }).waitFor();
  const done = await audit();
  assert.match(done.lang, /\S/);
  assert.ok(done.title.length > 0);

  // A link-token page (no code field) passes the same audit.
  const link = await tokenLink(api, who.id);
  await page.goto(link.recovery_link);
  const tokenPage = await audit();
  assert.match(tokenPage.lang, /\S/);
  assert.ok(tokenPage.title.length > 0);
  assert.deepEqual(tokenPage.unlabelled, []);
});

test('a disabled (inactive) identity cannot redeem', async (t) => {
  const { srv, address, api, who, page } = await setup(t);
  await api.patchIdentity({ id: who.id, jsonPatch: [{ op: 'replace', path: '/state', value: 'inactive' }] });
  // Kratos issues codes for inactive identities and refuses them at redemption.
  const { recovery_link, recovery_code } = await codeLink(api, who.id);

  await page.goto(recovery_link);
  if (await page.getByLabel('Recovery code').count()) {
    await submit(page, { code: recovery_code, password: PASSWORD });
  }
  assert.equal(await alertText(page), 'This account has been disabled. Please contact support for assistance.');
  assert.equal(await succeeded(page), false);
  assert.equal(await passwordMatches(srv, address, PASSWORD), false);
});

test('an expired link explains itself and sets nothing', async (t) => {
  const { srv, address, api, who, page } = await setup(t);
  const res = await api.createRecoveryLinkForIdentity({
    createRecoveryLinkForIdentityBody: { identity_id: who.id, expires_in: '1s' },
  });
  await new Promise((r) => setTimeout(r, 1500));

  await page.goto(res.data.recovery_link);
  assert.match(await alertText(page), /\S/);
  if (await page.getByLabel('New password').count()) {
    await submit(page, { password: PASSWORD });
    assert.equal(await succeeded(page), false, 'an expired link sets no password');
  }
  assert.equal(await passwordMatches(srv, address, PASSWORD), false);
});

test('a password the policy refuses keeps the form and the link', async (t) => {
  const { srv, address, api, who, page } = await setup(t);
  const { recovery_link, recovery_code } = await codeLink(api, who.id);

  await page.goto(recovery_link);
  const pw = page.getByLabel('New password');
  await pw.fill('short');
  assert.equal(await pw.evaluate((el) => el.validity.valid), false, 'the browser checks the length first');

  // Past the browser's check (old browsers, scripts), the server says why.
  await page.evaluate(() => { document.forms[0].noValidate = true; });
  await submit(page, { code: recovery_code, password: 'short' });
  assert.match(await alertText(page), /8/, 'the message names the minimum length');
  assert.equal(await succeeded(page), false);
  assert.equal(await passwordMatches(srv, address, 'short'), false);

  // The code was not spent on a password that was refused.
  assert.equal(await page.getByLabel('Recovery code').count(), 1, 'the form is still there');
  await submit(page, { code: recovery_code, password: PASSWORD });
  await page.getByRole('heading', { level: 1, name: 'Password set' }).waitFor();
  assert.equal(await passwordMatches(srv, address, PASSWORD), true);
});

test('the form names the account and carries it, hidden, for password managers', async (t) => {
  const { address, api, who, page } = await setup(t);
  const { recovery_link } = await tokenLink(api, who.id);

  await page.goto(recovery_link);
  assert.equal(
    await page.locator('#account').innerText(),
    `Choose a new password for the account ${address}.`,
  );
  const username = page.locator('input[autocomplete=username]');
  assert.equal(await username.count(), 1);
  assert.equal(await username.inputValue(), address);
  assert.equal(await username.getAttribute('name'), 'username');
  assert.equal(await username.isVisible(), true, 'in the layout (password managers skip display:none)');
  const box = await username.boundingBox();
  assert.ok(box && box.width <= 1 && box.height <= 1, `visually hidden: ${JSON.stringify(box)}`);
  // The account field is out of the tab order: Tab goes from the page to the password.
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'password');
  for (const label of ['New password', 'Confirm password']) {
    assert.equal(await page.getByLabel(label).getAttribute('autocomplete'), 'new-password', label);
    assert.equal(await page.getByLabel(label).getAttribute('type'), 'password', label);
  }
});

test('passwords that differ are refused and set nothing; the link still works', async (t) => {
  const { srv, address, api, who, page } = await setup(t);
  const { recovery_link, recovery_code } = await codeLink(api, who.id);

  await page.goto(recovery_link);
  await submit(page, { code: recovery_code, password: PASSWORD, confirm: `${PASSWORD}.` });
  assert.equal(
    await alertText(page),
    'The two passwords do not match. Please type the same new password in both fields.',
  );
  assert.equal(await succeeded(page), false);
  assert.equal(await passwordMatches(srv, address, PASSWORD), false, 'nothing was set');
  assert.equal(await page.getByLabel('Confirm password').count(), 1, 'the form is shown again');
  assert.equal(await page.getByLabel('Recovery code').inputValue(), recovery_code, 'the typed code is kept');
  assert.equal(await page.getByLabel('New password').inputValue(), '', 'passwords are never sent back');

  await submit(page, { code: recovery_code, password: PASSWORD });
  await page.getByRole('heading', { level: 1, name: 'Password set' }).waitFor();
  assert.equal(await passwordMatches(srv, address, PASSWORD), true);
});

/** A stand-in for the application an invitee returns to, on its own loopback origin. */
async function appServer(t) {
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><html lang="en"><title>App</title><h1>Welcome back</h1><p>${req.url}</p></html>`);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  return `http://127.0.0.1:${server.address().port}`;
}

test('after the password is set, an allowed return_to of the link is followed', async (t) => {
  const app = await appServer(t);
  const { srv, address, api, who, page } = await setup(t, { origins: [app] });
  const set = await kith(srv, ['set', 'config', 'selfservice.allowed_return_urls', `${app}/welcome`]);
  assert.equal(set.code, 0, set.stderr);

  // Not allowed: refused when the link is made, with Kratos' error.
  const refused = await fetch(`${srv.admin}/admin/recovery/link?return_to=${encodeURIComponent(`${app}/elsewhere`)}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${srv.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ identity_id: who.id }),
  });
  assert.equal(refused.status, 400);
  assert.equal((await refused.json()).error.id, 'self_service_flow_return_to_forbidden');

  const res = await api.createRecoveryLinkForIdentity({
    returnTo: `${app}/welcome?from=invite`,
    createRecoveryLinkForIdentityBody: { identity_id: who.id },
  });
  assert.equal(res.status, 200);
  // A return_to added to the page's own address is never followed.
  await page.goto(`${res.data.recovery_link}&return_to=${encodeURIComponent(`${app}/welcome/evil`)}`);
  await submit(page, { password: PASSWORD });
  await page.getByRole('heading', { level: 1, name: 'Welcome back' }).waitFor();
  assert.equal(page.url(), `${app}/welcome?from=invite`);
  assert.equal(await passwordMatches(srv, address, PASSWORD), true);
});

test('every page state passes axe with no violation, and is kept as a screenshot', async (t) => {
  const { srv, api, who, page } = await setup(t, { bypassCSP: true });

  const code = await codeLink(api, who.id);
  await page.goto(code.recovery_link);
  await audit(page, 'form-code');
  await submit(page, { code: otherCode(code.recovery_code), password: PASSWORD });
  assert.equal(await alertText(page), INVALID_CODE);
  await audit(page, 'error-wrong-code');
  await submit(page, { code: code.recovery_code, password: PASSWORD, confirm: 'something else' });
  await audit(page, 'error-mismatch');
  await submit(page, { code: code.recovery_code, password: PASSWORD });
  await page.getByRole('heading', { level: 1, name: 'Password set' }).waitFor();
  await audit(page, 'success');

  await page.goto(code.recovery_link);
  assert.match(await alertText(page), /ask whoever invited you/);
  await audit(page, 'used');

  // An invite (kith's own route): its form names the account; a newer invite revokes it.
  const invite = async () => {
    const res = await adminFetch(srv, '/admin/invites', {
      method: 'POST',
      body: { identity_id: who.id, deliver: false },
    });
    assert.equal(res.status, 201);
    return res.json();
  };
  const first = await invite();
  await page.goto(first.recovery_link);
  await audit(page, 'form-link');
  await invite();
  await page.goto(first.recovery_link);
  assert.match(await alertText(page), /ask whoever invited you/);
  await audit(page, 'revoked');

  const expiring = await api.createRecoveryLinkForIdentity({
    createRecoveryLinkForIdentityBody: { identity_id: who.id, expires_in: '1s' },
  });
  await new Promise((r) => setTimeout(r, 1500));
  await page.goto(expiring.data.recovery_link);
  assert.match(await alertText(page), /expired/);
  await audit(page, 'expired');

  await page.goto(`${srv.public}/self-service/recovery?flow=00000000-0000-7000-8000-000000000000`);
  await audit(page, 'unknown');
});
