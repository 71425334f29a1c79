"""Idempotency keys: a request's first response, found again while the key counts."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from alertflow.errors import ApiError
from alertflow.intake.idempotency import TTL_SECONDS, IdempotencyKey, once
from alertflow.storage import idempotency_keys
from alertflow.storage.database import Database, Tx
from alertflow.storage.idempotency_keys import StoredKey

NOW = 100_000.0


async def test_a_saved_key_is_found_by_readers_and_by_the_writer(database: Database) -> None:
    await database.write(lambda tx: idempotency_keys.save(tx, "ten_1", "k", '{"id": 1}', "fp", NOW))
    assert await idempotency_keys.find(database, "ten_1", "k", NOW - 1) == StoredKey('{"id": 1}', "fp")
    assert await database.write(lambda tx: idempotency_keys.find_in(tx, "ten_1", "k", NOW - 1)) == StoredKey(
        '{"id": 1}', "fp"
    )


async def test_a_key_is_not_found_for_another_tenant_nor_once_older_than_asked(database: Database) -> None:
    await database.write(lambda tx: idempotency_keys.save(tx, "ten_1", "k", "{}", "fp", NOW))
    assert await idempotency_keys.find(database, "ten_2", "k", NOW - 1) is None
    assert await idempotency_keys.find(database, "ten_1", "k", NOW) is None


async def test_saving_a_key_again_replaces_the_expired_one(database: Database) -> None:
    await database.write(lambda tx: idempotency_keys.save(tx, "ten_1", "k", '{"old": 1}', "fp1", NOW))
    later = NOW + TTL_SECONDS + 1
    await database.write(lambda tx: idempotency_keys.save(tx, "ten_1", "k", '{"new": 1}', "fp2", later))
    assert await idempotency_keys.find(database, "ten_1", "k", later - TTL_SECONDS) == StoredKey('{"new": 1}', "fp2")


async def test_requests_sent_together_under_one_key_create_once(database: Database) -> None:
    key, created = IdempotencyKey("k", "fp"), []

    def create(tx: Tx) -> tuple[dict[str, Any], bool]:
        created.append(len(created))
        return {"n": len(created)}, True

    results = await asyncio.gather(*(database.write(lambda tx: once(tx, "ten_1", key, NOW, create)) for _ in range(5)))
    assert created == [0]
    assert results == [({"n": 1}, True)] + [({"n": 1}, False)] * 4


async def test_a_key_used_for_another_request_is_refused_and_creates_nothing(database: Database) -> None:
    created: list[int] = []

    def create(tx: Tx) -> tuple[dict[str, Any], bool]:
        created.append(1)
        return {}, True

    await database.write(lambda tx: once(tx, "ten_1", IdempotencyKey("k", "fp"), NOW, create))
    with pytest.raises(ApiError, match="already used"):
        await database.write(lambda tx: once(tx, "ten_1", IdempotencyKey("k", "other"), NOW, create))
    assert created == [1]


async def test_a_live_key_cannot_be_claimed_again_and_an_expired_one_can(database: Database) -> None:
    assert await database.write(lambda tx: idempotency_keys.claim(tx, "ten_1", "k", "fp", NOW, NOW - TTL_SECONDS))
    await database.write(lambda tx: idempotency_keys.save(tx, "ten_1", "k", '{"id": 1}', "fp", NOW))
    assert not await database.write(
        lambda tx: idempotency_keys.claim(tx, "ten_1", "k", "fp", NOW + 1, NOW + 1 - TTL_SECONDS)
    )
    later = NOW + TTL_SECONDS + 1
    assert await database.write(lambda tx: idempotency_keys.claim(tx, "ten_1", "k", "fp2", later, later - TTL_SECONDS))
    assert await database.write(lambda tx: idempotency_keys.claim(tx, "ten_2", "k", "fp", NOW, NOW - TTL_SECONDS))
