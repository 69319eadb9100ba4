"""{{name}}: a kith invite delivery written in Python.

`kith invite` (and `kith resend invite`) calls `deliver` with the invite; it returns a plan for
the host to carry out: files for the outbox folder (the plugin needs `--grant outbox:write` at
install), or nothing. Raise `Err` with a string to fail the delivery.
This one writes the invitation as a plain-text file.
"""

import re
from datetime import datetime, timezone

from componentize_py_types import Err
from kith_plugin import config, reported  # helpers: kith_plugin.py beside this file
from wit_world import exports
from wit_world.exports.delivery import Invite, OutboxFile, Plan, Plan_Outbox
from wit_world.imports import log
from wit_world.imports.types import CallContext


class Delivery(exports.Delivery):
    @reported
    def deliver(self, ctx: CallContext, invite: Invite) -> Plan:
        if "@" not in invite.recipient:
            raise Err(f"cannot deliver to {invite.recipient}: not an e-mail address")
        expires = datetime.fromtimestamp(invite.expires_unix_ms / 1000, timezone.utc)
        text = (
            f"{config(ctx, 'greeting', 'Welcome!')}\n\n"
            f"Set your password here: {invite.recovery_link}\n"
            f"or enter the code {invite.recovery_code}.\n"
            f"The link and the code work until {expires.isoformat()}.\n"
        )
        # A bare file name: no separators, no leading dot.
        name = "invite-" + re.sub(r"[^A-Za-z0-9@._-]", "_", invite.recipient) + ".txt"
        log.log(log.Level.INFO, f"invite for {invite.recipient} written as {name}")
        return Plan_Outbox([OutboxFile(name, "text/plain; charset=utf-8", text.encode())])
