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
# Ids one millisecond can hold: the counter has 20 bits (4 digits).
_PER_MS = 1 << 20


@dataclass
class _Last:
    ms: int = 0
    counter: int = 0  # ids made within that millisecond
    digits: str = ""  # the millisecond, encoded
    noise: str = ""  # the random part of its ids


_last = _Last()


def _b32(value: int, length: int) -> str:
    """``value`` as ``length`` (even) base32 digits, most significant first."""
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in range(5 * length - 10, -1, -10)])


def new_id(prefix: str) -> str:
    """``prefix_`` + 10 chars of milliseconds + 16 chars that keep ids monotonic and unique."""
    return new_ids(prefix, 1)[0]


def new_ids(prefix: str, count: int) -> list[str]:
    """``count`` ids in creation order, as ``new_id`` makes them one by one.

    Each is ``prefix_`` + the millisecond (10 digits) + a counter within it (4 digits) + 12
    random digits. The millisecond and counter keep one process's ids in order and apart; the
    random part, drawn once per millisecond, keeps processes apart. Drawing it that seldom is
    what lets a fan-out step name 2,000 rows, or a publish its few, for a few string joins.
    """
    with _lock:
        ms = int(time.time() * 1000)
        if ms <= _last.ms and _last.counter + count < _PER_MS:
            first = _last.counter + 1
        else:  # a new millisecond, or this one is full: borrow the next (ids stay ordered)
            ms = max(ms, _last.ms + 1)
            _last.ms, first, _last.digits = ms, 0, _b32(ms, 10)
            _last.noise = _b32(_random.getrandbits(60), 12)
        _last.counter = first + count - 1
        head, noise = f"{prefix}_{_last.digits}", _last.noise
    return [f"{head}{_PAIRS[c >> 10]}{_PAIRS[c & 1023]}{noise}" for c in range(first, first + count)]
