"""{{name}}: a kith import mapper written in Python.

`kith import identities FILE --mapper {{name}}` hands it each record of the file (an object of
a JSON array or of NDJSON lines; a CSV row as an object of strings) and imports what it
returns: a Kratos createIdentityBody, as JSON. Raise `Err` with a list of field errors
(pointers into the record) to refuse a record; the import reports it and goes on.
This one maps `{"mail": ..., "full_name": ..., "password_sha512_crypt": ...}` records.
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
        email = record.get("mail")
        email = email.strip() if isinstance(email, str) else ""
        if "@" not in email:
            raise Err([FieldError("/mail", "missing_email", "the record has no e-mail address")])
        body = {
            "schema_id": config(ctx, "schema_id", "preset://email"),
            "traits": {"email": email},
            "verifiable_addresses": [
                {"value": email, "via": "email", "verified": True, "status": "completed"}
            ],
        }
        if record.get("full_name"):
            body["metadata_public"] = {"full_name": record["full_name"]}
        # Kratos takes crypt(3) SHA-512 hashes as `$sha512-crypt$...`; kith converts `$6$` itself.
        if isinstance(record.get("password_sha512_crypt"), str):
            body["credentials"] = {
                "password": {"config": {"hashed_password": record["password_sha512_crypt"]}}
            }
        log.log(log.Level.DEBUG, f"mapped {email}")
        return json.dumps(body)
