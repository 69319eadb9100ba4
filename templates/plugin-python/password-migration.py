"""{{name}}: a kith password-migration plugin written in Python.

For identities imported with `use_password_migration_hook: true`, `kith verify password` (and
every sign-in) asks `verify` whether the password matches the legacy hash kept from the
import. Return `Verdict.PASSWORD_MATCH` (kith then stores its own hash and never asks again)
or `Verdict.NO_MATCH`; raise `Err` with a string for a fault (an unknown hash format): the
flag stays. This one knows `sha256$SALT$HEX` (SHA-256 of salt + password, as many in-house
systems stored passwords) and LDAP's `{CLEARTEXT}` values; put your legacy system's check in
their place.
"""

import hashlib
import hmac

from componentize_py_types import Err
from kith_plugin import reported  # helpers: kith_plugin.py beside this file
from wit_world import exports
from wit_world.exports.migration import Attempt, Verdict
from wit_world.imports import log
from wit_world.imports.types import CallContext


class Migration(exports.Migration):
    @reported
    def verify(self, ctx: CallContext, attempt: Attempt) -> Verdict:
        scheme, _, rest = attempt.legacy_hash.partition("$")
        if scheme == "sha256" and rest.count("$") == 1:
            salt, expected = rest.split("$")
            actual = hashlib.sha256((salt + attempt.password).encode()).hexdigest()
            return self.verdict(attempt, hmac.compare_digest(actual, expected.lower()))
        if attempt.legacy_hash.startswith("{CLEARTEXT}"):
            expected = attempt.legacy_hash.removeprefix("{CLEARTEXT}")
            return self.verdict(attempt, hmac.compare_digest(expected.encode(), attempt.password.encode()))
        raise Err(f"unknown legacy hash format for {attempt.identifier}: {attempt.legacy_hash[:12]}...")

    @staticmethod
    def verdict(attempt: Attempt, matches: bool) -> Verdict:
        verdict = Verdict.PASSWORD_MATCH if matches else Verdict.NO_MATCH
        log.log(log.Level.DEBUG, f"{attempt.identifier}: {verdict.name}")
        return verdict
