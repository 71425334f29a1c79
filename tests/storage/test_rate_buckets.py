"""Shared rate-limit buckets: whole tokens taken in chunks, refilled at the rate up to the burst."""

from __future__ import annotations

import pytest

from alertflow.storage import rate_buckets
from alertflow.storage.database import Database
from alertflow.storage.rate_buckets import Taken

NOW = 1_000.0


async def take(database: Database, want: int, now: float, key: str = "ten_1") -> Taken:
    return await database.write(lambda tx: rate_buckets.take(tx, "publish", key, 10.0, 4.0, want, now))


async def test_a_new_bucket_starts_full_and_grants_up_to_what_is_asked(database: Database) -> None:
    assert await take(database, 3, NOW) == Taken(3, 0.0)
    assert await take(database, 3, NOW) == Taken(1, 0.0), "only whole tokens, what is left"


async def test_an_empty_bucket_refuses_saying_when_and_the_refusal_takes_nothing(database: Database) -> None:
    assert (await take(database, 4, NOW)).granted == 4
    refused = await take(database, 1, NOW + 0.05)
    assert refused.granted == 0 and refused.wait == pytest.approx(0.05)
    assert await take(database, 1, NOW + 0.1) == Taken(1, 0.0), "refilled at 10/s, nothing lost to the refusal"


async def test_a_bucket_refills_no_higher_than_its_burst(database: Database) -> None:
    assert (await take(database, 4, NOW)).granted == 4
    assert await take(database, 100, NOW + 3600) == Taken(4, 0.0)


async def test_a_clock_behind_the_last_taker_adds_nothing(database: Database) -> None:
    assert (await take(database, 4, NOW)).granted == 4
    assert (await take(database, 1, NOW - 10)).granted == 0
    assert (await take(database, 1, NOW + 0.1)).granted == 1, "nor moved the bucket's time back"


async def test_buckets_are_per_key(database: Database) -> None:
    assert (await take(database, 4, NOW)).granted == 4
    assert (await take(database, 4, NOW, key="ten_2")).granted == 4
