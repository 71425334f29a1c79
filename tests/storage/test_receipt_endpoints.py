"""Receipt endpoints' storage contract: a tenant's URL per provider found by its token's hash
(a new one replacing the old), and provider reports recorded as applied once each."""

from __future__ import annotations

from alertflow.storage import receipt_endpoints
from alertflow.storage.database import Database
from alertflow.storage.receipt_endpoints import Endpoint


async def test_an_endpoint_is_found_by_its_token_hash_and_provider_and_a_new_one_replaces_it(
    database: Database, tenant_id: str
) -> None:
    await database.write(lambda tx: receipt_endpoints.put(tx, tenant_id, "sendgrid", "h1", "KEY", 1.0))
    assert await receipt_endpoints.by_token(database, "sendgrid", "h1") == Endpoint(tenant_id, "sendgrid", "KEY", 1.0)
    assert await receipt_endpoints.by_token(database, "ses", "h1") is None
    await database.write(lambda tx: receipt_endpoints.put(tx, tenant_id, "sendgrid", "h2", "KEY2", 2.0))
    assert await receipt_endpoints.by_token(database, "sendgrid", "h1") is None
    assert await receipt_endpoints.by_token(database, "sendgrid", "h2") == Endpoint(tenant_id, "sendgrid", "KEY2", 2.0)


async def test_a_report_is_first_seen_once_per_provider_until_it_leaves_the_window(database: Database) -> None:
    async def seen(provider: str, ids: list[str], now: float, forget_before: float = 0.0) -> list[str]:
        return await database.write(lambda tx: receipt_endpoints.first_seen(tx, provider, ids, now, forget_before))

    assert await seen("ses", ["m1", "m2", "m1"], 10.0) == ["m1", "m2"]
    assert await seen("ses", ["m2", "m3"], 11.0) == ["m3"]
    assert await seen("sendgrid", ["m1"], 11.0) == ["m1"], "ids are the provider's own"
    assert await seen("ses", ["m1"], 20.0, forget_before=10.5) == ["m1"], "forgotten once out of the window"
