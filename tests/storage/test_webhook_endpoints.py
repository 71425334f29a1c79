"""Status-webhook endpoints and their attempts: stored, changed, rotated, disabled after a
failure streak, and removed with their attempts."""

from __future__ import annotations

from alertflow.storage import webhook_endpoints
from alertflow.storage.database import Database
from alertflow.storage.webhook_endpoints import AttemptRow, Endpoint

HOUR = 3600.0


def endpoint(tenant_id: str, endpoint_id: str = "whk_1", events: tuple[str, ...] = ("delivery.sent",)) -> Endpoint:
    return Endpoint(
        endpoint_id,
        tenant_id,
        "https://hooks.example/a",
        events,
        "ops",
        "sealed:1",
        None,
        None,
        None,
        None,
        None,
        1.0,
        1.0,
    )


def attempt(tenant_id: str, at: float, error: str | None, endpoint_id: str = "whk_1") -> AttemptRow:
    return AttemptRow(endpoint_id, tenant_id, "msg_1", "delivery.sent", at, 500 if error else 200, 12.5, error)


async def test_an_endpoint_is_stored_read_and_listed_only_for_its_tenant(database: Database, tenant_id: str) -> None:
    stored = endpoint(tenant_id, events=("delivery.sent", "inbox.read"))
    await database.write(lambda tx: webhook_endpoints.add(tx, stored))
    assert await webhook_endpoints.get(database, tenant_id, "whk_1") == stored
    assert await webhook_endpoints.all_for(database, tenant_id) == [stored]
    assert await webhook_endpoints.get(database, "ten_other", "whk_1") is None
    assert await webhook_endpoints.all_for(database, "ten_other") == []
    subscribed = await database.write(lambda tx: webhook_endpoints.subscribed(tx, tenant_id))
    assert subscribed == {"whk_1": ("delivery.sent", "inbox.read")}


async def test_an_update_changes_only_what_is_given(database: Database, tenant_id: str) -> None:
    await database.write(lambda tx: webhook_endpoints.add(tx, endpoint(tenant_id)))
    updated = await database.write(
        lambda tx: webhook_endpoints.update(tx, tenant_id, "whk_1", 5.0, events=("batch.completed",))
    )
    assert updated is not None
    assert (updated.url, updated.events, updated.description, updated.updated_at) == (
        "https://hooks.example/a",
        ("batch.completed",),
        "ops",
        5.0,
    )
    assert await database.write(lambda tx: webhook_endpoints.update(tx, "ten_other", "whk_1", 6.0, url="x")) is None


async def test_a_failure_streak_disables_once_it_lasts_long_enough_and_a_success_ends_it(
    database: Database, tenant_id: str
) -> None:
    await database.write(lambda tx: webhook_endpoints.add(tx, endpoint(tenant_id)))

    async def record(at: float, error: str | None) -> bool:
        row = attempt(tenant_id, at, error)
        return await database.write(lambda tx: webhook_endpoints.record_attempt(tx, row, HOUR, "failing"))

    assert await record(10.0, "HTTP 500") is False
    assert await record(10.0 + HOUR / 2, "HTTP 500") is False
    assert await record(10.0 + HOUR / 2 + 1, None) is False  # a success ends the streak
    ended = await webhook_endpoints.get(database, tenant_id, "whk_1")
    assert ended is not None and ended.failing_since is None
    assert await record(20.0 + HOUR, "HTTP 500") is False  # a new streak starts here
    assert await record(20.0 + 2 * HOUR, "HTTP 503") is True
    found = await webhook_endpoints.get(database, tenant_id, "whk_1")
    assert found is not None and (found.disabled_at, found.disabled_reason) == (20.0 + 2 * HOUR, "failing")
    assert await database.write(lambda tx: webhook_endpoints.subscribed(tx, tenant_id)) == {}
    assert await record(20.0 + 3 * HOUR, "HTTP 503") is False, "disabled once"

    enabled = await database.write(lambda tx: webhook_endpoints.update(tx, tenant_id, "whk_1", 99.0, enabled=True))
    assert enabled is not None and (enabled.disabled_at, enabled.failing_since) == (None, None)


async def test_disabling_by_request_keeps_the_first_reason(database: Database, tenant_id: str) -> None:
    await database.write(lambda tx: webhook_endpoints.add(tx, endpoint(tenant_id)))
    off = await database.write(lambda tx: webhook_endpoints.update(tx, tenant_id, "whk_1", 3.0, enabled=False))
    assert off is not None and (off.disabled_at, off.disabled_reason) == (3.0, webhook_endpoints.DISABLED_BY_REQUEST)
    again = await database.write(lambda tx: webhook_endpoints.update(tx, tenant_id, "whk_1", 4.0, enabled=False))
    assert again is not None and again.disabled_at == 3.0


async def test_without_a_limit_a_streak_never_disables(database: Database, tenant_id: str) -> None:
    await database.write(lambda tx: webhook_endpoints.add(tx, endpoint(tenant_id)))
    for at in (1.0, 1e6, 1e9):
        row = attempt(tenant_id, at, "HTTP 500")
        assert await database.write(lambda tx, r=row: webhook_endpoints.record_attempt(tx, r, None, "x")) is False
    found = await webhook_endpoints.get(database, tenant_id, "whk_1")
    assert found is not None and found.disabled_at is None and found.failing_since == 1.0


async def test_rotating_keeps_the_old_secret_until_the_rollover_ends(database: Database, tenant_id: str) -> None:
    await database.write(lambda tx: webhook_endpoints.add(tx, endpoint(tenant_id)))
    assert await database.write(lambda tx: webhook_endpoints.rotate(tx, tenant_id, "whk_1", "sealed:2", 50.0, 2.0))
    found = await webhook_endpoints.get(database, tenant_id, "whk_1")
    assert found is not None
    assert (found.secret, found.previous_secret, found.previous_until) == ("sealed:2", "sealed:1", 50.0)
    assert not await database.write(lambda tx: webhook_endpoints.rotate(tx, "ten_other", "whk_1", "s", 1.0, 1.0))


async def test_attempts_page_newest_first_and_go_with_their_endpoint(database: Database, tenant_id: str) -> None:
    await database.write(lambda tx: webhook_endpoints.add(tx, endpoint(tenant_id)))
    for at in (1.0, 2.0, 3.0):
        row = attempt(tenant_id, at, None)
        await database.write(lambda tx, r=row: webhook_endpoints.record_attempt(tx, r, None, "x"))
    first = await webhook_endpoints.attempts(database, "whk_1", 2, None)
    assert [a.at for _, a in first] == [3.0, 2.0]
    rest = await webhook_endpoints.attempts(database, "whk_1", 2, first[-1][0])
    assert [a for _, a in rest] == [attempt(tenant_id, 1.0, None)]

    assert await database.write(lambda tx: webhook_endpoints.delete(tx, tenant_id, "whk_1")) is True
    assert await webhook_endpoints.attempts(database, "whk_1", 10, None) == []
    assert await database.write(lambda tx: webhook_endpoints.delete(tx, tenant_id, "whk_1")) is False
