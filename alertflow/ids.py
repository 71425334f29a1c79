"""Identifiers that sort by creation time, so "newest first" is an index scan on the id."""

from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import dataclass

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case
# Two digits per lookup, and the millisecond part encoded once per millisecond: a bulk
# fan-out makes ids by the million, and a digit-by-digit loop was half of planning one.
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
# Ids need to be distinct, not secret: a generator seeded from the OS keeps processes apart
# without a system call per id.
_random = random.Random(os.urandom(16))
_lock = threading.Lock()


@dataclass
class _Last:
    ms: int = 0
    counter: int = 0  # ids made within that millisecond
    digits: str = ""  # the millisecond, encoded


_last = _Last()


def _b32(value: int, length: int) -> str:
    """``value`` as ``length`` (even) base32 digits, most significant first."""
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in range(5 * length - 10, -1, -10)])


def new_id(prefix: str) -> str:
    """``prefix_`` + 10 chars of milliseconds + 16 chars that keep ids monotonic and unique."""
    with _lock:
        ms = int(time.time() * 1000)
        if ms <= _last.ms:
            _last.counter += 1
        else:
            _last.ms, _last.counter, _last.digits = ms, 0, _b32(ms, 10)
        counter, digits = _last.counter, _last.digits
        noise = _random.getrandbits(60)
    # 20 bits of counter keep same-millisecond ids in order; 60 random bits keep processes apart.
    return f"{prefix}_{digits}{_b32((counter << 60) | noise, 16)}"
