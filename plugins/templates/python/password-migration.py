"""{{name}}: a kith password-migration plugin written in Python.

For an identity imported with `use_password_migration_hook: true`, kith asks `verify` whether
a password matches the legacy hash it kept: return `Verdict.PASSWORD_MATCH` (kith then stores
its own hash and never asks again) or `Verdict.NO_MATCH` (a wrong password); raising `Err`
with a string is a fault (kith keeps the flag and records it).

This one knows Dovecot's `{PLAIN}` and `{CLEARTEXT}` schemes (the password itself, in clear)
and `{SHA256.HEX}` (an unsalted SHA-256 digest). Add the schemes of your legacy system in
`verify_scheme`: Python's hashlib and hmac are there.
"""

import hashlib
import hmac
import re

from componentize_py_types import Err
from kith_plugin import reported  # helpers: kith_plugin.py beside this file
from wit_world import exports
from wit_world.exports.migration import Attempt, Verdict
from wit_world.imports import log
from wit_world.imports.types import CallContext


def verify_scheme(legacy_hash: str, password: str) -> bool:
    """Whether `password` matches `legacy_hash`; raises `Err` when it cannot be checked."""
    scheme = re.match(r"\{([^}]*)\}", legacy_hash)
    if scheme is None:
        raise Err("the legacy hash has no {SCHEME} prefix")
    rest = legacy_hash[scheme.end():]
    if scheme[1] in ("PLAIN", "CLEARTEXT"):
        return hmac.compare_digest(rest.encode(), password.encode())
    if scheme[1] == "SHA256.HEX":
        return hmac.compare_digest(rest.lower(), hashlib.sha256(password.encode()).hexdigest())
    raise Err(f"the legacy hash scheme {{{scheme[1]}}} is not one this plugin knows")


class Migration(exports.Migration):
    @reported
    def verify(self, ctx: CallContext, attempt: Attempt) -> Verdict:
        matched = verify_scheme(attempt.legacy_hash, attempt.password)
        log.log(log.Level.DEBUG, f"{attempt.identifier}: {'match' if matched else 'no match'}")
        return Verdict.PASSWORD_MATCH if matched else Verdict.NO_MATCH
