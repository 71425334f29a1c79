"""Provider credentials sealed at rest with AES-GCM, under a key derived from server.secret_key.

Rotating ``server.secret_key`` makes sealed credentials unreadable: re-enter them with
``PUT /v1/channels/{channel}`` after the change (README, "Rotating the secret key").
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "sealed:v1:"
# HKDF's info binds the derived key to this one use of the secret key.
PURPOSE = b"alertflow provider credentials v1"


class Unsealable(ValueError):
    """Sealed under another secret key (it was rotated) or tampered with."""


class Sealer:
    def __init__(self, secret_key: str) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=PURPOSE).derive(secret_key.encode())
        self._aead = AESGCM(key)

    def seal(self, value: Any, context: str) -> str:
        """``context`` (tenant, channel) is authenticated: a sealed value cannot be moved elsewhere."""
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, json.dumps(value).encode(), context.encode())
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def unseal(self, token: str, context: str) -> Any:
        raw = base64.urlsafe_b64decode(token.removeprefix(PREFIX))
        try:
            return json.loads(self._aead.decrypt(raw[:12], raw[12:], context.encode()))
        except InvalidTag:
            raise Unsealable("credentials were sealed under another secret key; set them again") from None
