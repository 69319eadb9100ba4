"""name-phone: a kith trait validator written in Python.

Checks the shape of names and phone numbers in the traits, at the RFC 6901 pointers of its
config (comma-separated; a pointer the traits lack, or that holds no string, is skipped):

* `name_pointers`: a name is refused when it is blank (`name_blank`), longer than
  `max_name_length` characters (`name_too_long`), or holds anything but letters, combining
  marks, spaces and the punctuation names carry (`' - . ,`): `name_invalid_characters`.
* `phone_pointers`: a phone number must be in international (E.164) form once spaces, dashes,
  dots and parentheses are taken out: `+`, then 7 to 15 digits, the first not 0
  (`phone_not_e164`).

Built by scripts/build-plugins with `componentize-py ... componentize --stub-wasi`; the
component imports only kith:plugin/log.
"""

import json
import re
import unicodedata

from componentize_py_types import Err
from kith_plugin import config, config_list, reported  # plugins-py/kith_plugin.py
from wit_world import exports
from wit_world.imports import log
from wit_world.imports.types import CallContext, FieldError

E164 = re.compile(r"\+[1-9][0-9]{6,14}")
# Separators people write inside phone numbers; anything else is not a phone number.
PHONE_SEPARATORS = str.maketrans("", "", " -.()\u00a0")
NAME_PUNCTUATION = set("'\u2019-., ")


def resolve(document, pointer: str):
    """The value at an RFC 6901 pointer, or None when the document has none there."""
    if pointer == "":
        return document
    if not pointer.startswith("/"):
        return None
    for token in pointer[1:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(document, dict):
            document = document.get(token)
        elif isinstance(document, list) and token.isdigit() and int(token) < len(document):
            document = document[int(token)]
        else:
            return None
    return document


def check_name(pointer: str, name: str, max_length: int) -> FieldError | None:
    text = name.strip()
    if not text:
        return FieldError(pointer, "name_blank", "a name cannot be blank")
    if len(text) > max_length:
        return FieldError(
            pointer, "name_too_long", f"a name has at most {max_length} characters, not {len(text)}"
        )
    for char in text:
        if char in NAME_PUNCTUATION or unicodedata.category(char)[0] in "LM":
            continue
        return FieldError(
            pointer,
            "name_invalid_characters",
            f"a name holds letters, spaces and ' - . , only, not {char!r}",
        )
    return None


def check_phone(pointer: str, phone: str) -> FieldError | None:
    digits = phone.strip().translate(PHONE_SEPARATORS)
    if E164.fullmatch(digits):
        return None
    return FieldError(
        pointer,
        "phone_not_e164",
        f"{phone!r} is not a phone number in international form: + and the country code, "
        "then the number (7 to 15 digits in all), e.g. +44 20 7946 0958",
    )


class Validator(exports.Validator):
    @reported
    def validate(self, ctx: CallContext, schema_id: str, traits_json: str) -> None:
        try:
            traits = json.loads(traits_json)
        except ValueError as e:
            raise Err([FieldError("", "traits_not_json", f"traits are not JSON: {e}")])
        try:
            max_length = int(config(ctx, "max_name_length", "100"))
        except ValueError:
            raise Err([FieldError("", "bad_config", "max_name_length is not a whole number")])
        errors = []
        for pointer in config_list(ctx, "name_pointers", "/name,/name/first,/name/last"):
            value = resolve(traits, pointer)
            if isinstance(value, str) and (error := check_name(pointer, value, max_length)):
                errors.append(error)
        for pointer in config_list(ctx, "phone_pointers", "/phone"):
            value = resolve(traits, pointer)
            if isinstance(value, str) and (error := check_phone(pointer, value)):
                errors.append(error)
        log.log(log.Level.DEBUG, f"{schema_id}: {len(errors)} refusal(s)")
        if errors:
            log.log(log.Level.INFO, "refused " + ", ".join(e.pointer for e in errors))
            raise Err(errors)
