"""VAPID key pairs in the form browsers and ``vapid_private_key`` expect."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from py_vapid import Vapid


def generate_vapid_keys() -> tuple[str, str]:
    """A new P-256 key pair as ``(private, public)``, both unpadded base64url.

    The private key is the raw 32-byte scalar (the ``vapid_private_key`` setting); the public
    key is the 65-byte uncompressed point browsers take as ``applicationServerKey``.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    return _b64url(key.private_numbers().private_value.to_bytes(32, "big")), _public(key)


def vapid_public_key(private_key: str) -> str:
    """The ``applicationServerKey`` that belongs to a ``vapid_private_key``."""
    return _public(Vapid.from_string(private_key=private_key).private_key)


def _public(key: ec.EllipticCurvePrivateKey) -> str:
    return _b64url(key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
