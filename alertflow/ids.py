"""Identifiers that sort by creation time, so "newest first" is an index scan on the id."""

from __future__ import annotations

import os
import random
import threading
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case
# Two digits per lookup, and the millisecond part encoded once per millisecond: a bulk
# fan-out makes ids by the million, and a digit-by-digit loop was half of planning one.
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
# Ids need to be distinct, not secret: a generator seeded from the OS keeps processes apart
# without a system call per id.
_random = random.Random(os.urandom(16))
_lock = threading.Lock()
_last = [0, 0, ""]  # last millisecond, counter within it, the millisecond's digits


def _b32(value: int, length: int) -> str:
    """``value`` as ``length`` (even) base32 digits, most significant first."""
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in range(5 * length - 10, -1, -10)])


def new_id(prefix: str) -> str:
    """``prefix_`` + 10 chars of milliseconds + 16 chars that keep ids monotonic and unique."""
    with _lock:
        ms = int(time.time() * 1000)
        if ms <= _last[0]:
            _last[1] += 1
        else:
            _last[0], _last[1], _last[2] = ms, 0, _b32(ms, 10)
        counter, ms_digits = _last[1], _last[2]
        noise = _random.getrandbits(60)
    # 20 bits of counter keep same-millisecond ids in order; 60 random bits keep processes apart.
    return f"{prefix}_{ms_digits}{_b32((counter << 60) | noise, 16)}"
