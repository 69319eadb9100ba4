// {{name}}: a kith invite-delivery plugin written in JavaScript. kith calls `deliver` for
// each invite and carries out the plan it returns. This one plans one text file for kith's
// outbox folder (the capability `outbox:write`, granted at install), holding the link and the
// code. Throwing a string is a failed delivery: kith records it and the invite can be resent.

import { log } from 'kith:plugin/log@0.1.0';
// Helpers (config values, the report of unexpected exceptions): kith-plugin.js beside this file.
import { config, reported } from './kith-plugin.js';

/** UTF-8 bytes of `text` (a list<u8> crosses as a Uint8Array). */
function utf8(text) {
  const bytes = [];
  for (const char of text) {
    const c = char.codePointAt(0);
    if (c < 0x80) bytes.push(c);
    else if (c < 0x800) bytes.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) bytes.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else bytes.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return new Uint8Array(bytes);
}

export const delivery = reported({
  deliver(ctx, invite) {
    if (invite.recipient.trim() === '') throw 'the invite has no recipient';
    const greeting = config(ctx, 'greeting', 'Hello');
    const body = `To: ${invite.recipient}\n\n${greeting},\n\n`
      + `open ${invite.recoveryLink} to set your password, or enter the code ${invite.recoveryCode}.\n`;
    // A bare file name: no separators, no leading dot (kith refuses anything else).
    const name = `invite-${ctx.nowUnixMs}-${invite.recipient.replace(/[^A-Za-z0-9@._-]/g, '_')}.txt`;
    log('info', `planned ${name} for ${invite.recipient}`);
    return { tag: 'outbox', val: [{ name, contentType: 'text/plain; charset=utf-8', body: utf8(body) }] };
  },
});
