"""Identifiers that sort by creation time, so "newest first" is an index scan on the id."""

from __future__ import annotations

import os
import threading
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case
# Two base32 digits per lookup: a bulk fan-out makes ids by the million, and a digit-by-digit
# loop was 40% of planning a delivery.
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
_lock = threading.Lock()
_last = [0, 0]  # last millisecond, counter within it


def _b32(value: int, length: int) -> str:
    """``value`` as ``length`` (even) base32 digits, most significant first."""
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in range(5 * length - 10, -1, -10)])


def new_id(prefix: str) -> str:
    """``prefix_`` + 10 chars of milliseconds + 16 chars that keep ids monotonic and unique."""
    with _lock:
        ms = int(time.time() * 1000)
        if ms <= _last[0]:
            ms = _last[0]
            _last[1] += 1
        else:
            _last[0], _last[1] = ms, 0
        counter = _last[1]
    # 20 bits of counter keep same-millisecond ids in order; 60 random bits keep processes apart.
    tail = (counter << 60) | int.from_bytes(os.urandom(8), "big") >> 4
    return f"{prefix}_{_b32(ms, 10)}{_b32(tail, 16)}"
