"""{{name}}: a kith trait validator written in Python.

kith calls `validate` after JSON-Schema validation whenever an identity is created, updated
or imported, and refuses the write when it raises field errors. This one refuses the
usernames its `reserved` config lists.

Returning is `ok`; raising `Err` with a list of `FieldError(pointer, code, message)` (an
RFC 6901 pointer into the traits, a stable code, a sentence for people) is `err`.
"""

import json

from componentize_py_types import Err
from kith_plugin import config_list, reported  # helpers: kith_plugin.py beside this file
from wit_world import exports
from wit_world.imports import log
from wit_world.imports.types import CallContext, FieldError


class Validator(exports.Validator):
    @reported
    def validate(self, ctx: CallContext, schema_id: str, traits_json: str) -> None:
        log.log(log.Level.DEBUG, f"checking an identity of schema {schema_id}")
        username = json.loads(traits_json).get("username")
        if not isinstance(username, str):
            return
        reserved = {name.lower() for name in config_list(ctx, "reserved")}
        if username.strip().lower() in reserved:
            raise Err([FieldError("/username", "reserved", f"the username {username} is reserved")])
