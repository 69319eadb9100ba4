"""{{name}}: a kith invite-delivery plugin written in Python.

kith calls `deliver` for each invite and carries out the plan it returns. This one plans one
text file for kith's outbox folder (the capability `outbox:write`, granted at install),
holding the link and the code. Raising `Err` with a string is a failed delivery: kith
records it and the invite can be resent.
"""

import re

from componentize_py_types import Err
from kith_plugin import config, reported  # helpers: kith_plugin.py beside this file
from wit_world import exports
from wit_world.exports.delivery import Invite, OutboxFile, Plan, Plan_Outbox
from wit_world.imports import log
from wit_world.imports.types import CallContext


class Delivery(exports.Delivery):
    @reported
    def deliver(self, ctx: CallContext, invite: Invite) -> Plan:
        if not invite.recipient.strip():
            raise Err("the invite has no recipient")
        greeting = config(ctx, "greeting", "Hello")
        body = (
            f"To: {invite.recipient}\n\n{greeting},\n\nopen {invite.recovery_link} to set your "
            f"password, or enter the code {invite.recovery_code}.\n"
        )
        # A bare file name: no separators, no leading dot (kith refuses anything else).
        safe = re.sub(r"[^A-Za-z0-9@._-]", "_", invite.recipient)
        name = f"invite-{ctx.now_unix_ms}-{safe}.txt"
        log.log(log.Level.INFO, f"planned {name} for {invite.recipient}")
        return Plan_Outbox([OutboxFile(name, "text/plain; charset=utf-8", body.encode())])
