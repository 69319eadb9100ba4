"""{{name}}: a kith import mapper written in Python.

`kith import identities --mapper` hands it each record of a foreign export, and it answers
with a Kratos createIdentityBody as JSON, or raises `Err` with field errors (pointers into the
record), which make that record's error, never the run's. This one maps
`{"email": ..., "name": ...}` records.
"""

import json

from componentize_py_types import Err
from kith_plugin import config, reported  # helpers: kith_plugin.py beside this file
from wit_world import exports
from wit_world.imports import log
from wit_world.imports.types import CallContext, FieldError


class Mapper(exports.Mapper):
    @reported
    def map_record(self, ctx: CallContext, record_json: str) -> str:
        record = json.loads(record_json)
        email = record.get("email")
        email = email.strip() if isinstance(email, str) else ""
        if "@" not in email:
            raise Err([FieldError("/email", "missing_email", "the record has no e-mail address")])
        traits = {"email": email}
        if isinstance(record.get("name"), str):
            log.log(log.Level.DEBUG, f"{email} is named {record['name']}")
        name_trait = config(ctx, "name_trait", "")
        if name_trait and "name" in record:
            traits[name_trait] = record["name"]
        body = {
            "schema_id": config(ctx, "schema_id", "preset://email"),
            "traits": traits,
            "state": "active",
        }
        return json.dumps(body, separators=(",", ":"))
