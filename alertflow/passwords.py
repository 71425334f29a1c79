"""Members' passwords: argon2id hashes (argon2-cffi), computed off the event loop.

A hash costs ~150 ms and 64 MiB (RFC 9106's second recommended profile, argon2-cffi's
default), which is what makes a stolen database slow to guess from; so hashes run in a pool
of their own, two threads, and a flood of sign-ins queues there rather than exhausting
memory or taking every thread of asyncio's default pool (which ``to_thread`` shares).
"""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

HASHER = PasswordHasher()
# Hashes running at once: each holds 64 MiB; two keep both cores of a small server busy.
CONCURRENT_HASHES = 2
# NIST SP 800-63B-4 §3.1.1.2: at least 15 characters for a password that is the only factor;
# an upper bound keeps one request's hashing bounded.
MIN_LENGTH = 15
MAX_LENGTH = 1024

_pool = ThreadPoolExecutor(CONCURRENT_HASHES, thread_name_prefix="alertflow-passwords")


def problem(password: str) -> str | None:
    """What is wrong with a new password, or None."""
    if len(password) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters"
    return None


def hash_now(password: str) -> str:
    """The hash, computed in this thread (the CLI's)."""
    return HASHER.hash(password)


@functools.cache
def _stand_in() -> str:
    # Verified against when the email is unknown or has no password yet, so every failed
    # sign-in costs one hash: the time taken tells no one whether the email exists.
    return HASHER.hash("no password matches this stand-in")


def _matches(password_hash: str | None, password: str) -> bool:
    try:
        return HASHER.verify(password_hash or _stand_in(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


async def hash_password(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_pool, hash_now, password)


async def verify(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` is the one hashed; a missing hash costs as much and never matches."""
    return await asyncio.get_running_loop().run_in_executor(_pool, _matches, password_hash, password)
