"""The one rule for identifiers a client chooses: user ids, topic, template and category keys.

Each of them travels in a URL path (``/v1/users/{user_id}``) and must come back out of one
unchanged, so none may hold ``/ ? # %``, spaces or control characters, and none may be ``.``
or ``..``, which clients and proxies fold away. Letters, digits and a few separators cover
UUIDs, e-mail addresses and ids such as Auth0's ``auth0|5f7c...``.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema

# The longest id that was valid before the rule (user ids and topics took 200 characters).
MAX_LENGTH = 200
PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9_.@:+|=-]{{0,{MAX_LENGTH - 1}}}$"
RULE = f"1 to {MAX_LENGTH} characters: letters, digits and _ . - @ : + | =, starting with a letter or digit"
# fullmatch, not the pattern's $: in Python $ also matches before a trailing newline.
_ID = re.compile(PATTERN.removeprefix("^").removesuffix("$"))


def is_valid(value: str) -> bool:
    return _ID.fullmatch(value) is not None


def check(value: str) -> str:
    """``value`` when it follows the rule; raises ValueError saying the rule otherwise."""
    if not is_valid(value):
        raise ValueError(RULE)
    return value


JSON_SCHEMA = {"type": "string", "pattern": PATTERN, "maxLength": MAX_LENGTH, "description": RULE}
# A field holding a client-chosen id: refused with the rule as its message.
ClientId = Annotated[str, AfterValidator(check), WithJsonSchema(JSON_SCHEMA)]

# Template versions count up from 1: this is far beyond any real count and well inside
# SQLite's 64-bit INTEGER, which a bigger number overflowed with a 500.
MAX_VERSION = 2**31 - 1
