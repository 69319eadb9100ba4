// {{name}}: a kith invite delivery written in JavaScript.
//
// `kith invite` (and `kith resend invite`) calls `deliver` with the invite; it returns a plan
// for the host to carry out: files for the outbox folder (the plugin needs
// `--grant outbox:write` at install), or nothing. Throw a string to fail the delivery.
// This one writes the invitation as a plain-text file.

import { log } from 'kith:plugin/log@0.1.0';
// Helpers (config, the report of unexpected exceptions): kith-plugin.js beside this file.
import { config, reported } from './kith-plugin.js';

/** UTF-8 bytes of `text` (list<u8> crosses as a Uint8Array). */
function utf8(text) {
  const bytes = [];
  for (const char of text) {
    const code = char.codePointAt(0);
    if (code < 0x80) bytes.push(code);
    else if (code < 0x800) bytes.push(0xc0 | (code >> 6), 0x80 | (code & 63));
    else if (code < 0x10000) bytes.push(0xe0 | (code >> 12), 0x80 | ((code >> 6) & 63), 0x80 | (code & 63));
    else bytes.push(0xf0 | (code >> 18), 0x80 | ((code >> 12) & 63), 0x80 | ((code >> 6) & 63), 0x80 | (code & 63));
  }
  return new Uint8Array(bytes);
}

export const delivery = reported({
  deliver(ctx, invite) {
    if (!invite.recipient.includes('@')) {
      throw `cannot deliver to ${invite.recipient}: not an e-mail address`;
    }
    const expires = new Date(Number(invite.expiresUnixMs)).toISOString();
    const text = `${config(ctx, 'greeting', 'Welcome!')}\n\n`
      + `Set your password here: ${invite.recoveryLink}\n`
      + `or enter the code ${invite.recoveryCode}.\n`
      + `The link and the code work until ${expires}.\n`;
    // A bare file name: no separators, no leading dot.
    const name = `invite-${invite.recipient.replace(/[^A-Za-z0-9@._-]/g, '_')}.txt`;
    log('info', `invite for ${invite.recipient} written as ${name}`);
    return { tag: 'outbox', val: [{ name, contentType: 'text/plain; charset=utf-8', body: utf8(text) }] };
  },
});
