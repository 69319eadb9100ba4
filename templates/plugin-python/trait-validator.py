"""{{name}}: a kith trait validator written in Python.

kith calls `validate` after JSON-Schema validation, on create, update and import, for the
schemas plugin.toml lists. Return to accept the traits; raise `Err` with a list of field
errors (`pointer` into the traits, a stable `code`, a `message` for people) to refuse them.
This one refuses the usernames of its `reserved` config (comma-separated).
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
        reserved = {name.lower() for name in config_list(ctx, "reserved")}
        traits = json.loads(traits_json)
        log.log(log.Level.DEBUG, f"checking a {schema_id} identity")
        username = traits.get("username")
        if isinstance(username, str) and username.lower() in reserved:
            raise Err([FieldError("/username", "reserved", f"{username} is reserved")])
