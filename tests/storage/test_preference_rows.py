"""Preference documents: stored per user (the tenant's defaults under their own id), replaced whole."""

from __future__ import annotations

from alertflow.storage import preference_rows
from alertflow.storage.database import Database


async def test_a_document_is_read_back_and_a_second_put_replaces_it(database: Database, tenant_id: str) -> None:
    await database.write(lambda tx: preference_rows.put_document(tx, tenant_id, "ada", '{"channels":{}}', 1.0))
    await database.write(
        lambda tx: preference_rows.put_document(tx, tenant_id, "ada", '{"channels":{"sms":false}}', 2.0)
    )
    assert await preference_rows.document(database, tenant_id, "ada") == '{"channels":{"sms":false}}'
    found = await database.write(lambda tx: preference_rows.document_for_write(tx, tenant_id, "ada"))
    assert found == '{"channels":{"sms":false}}'


async def test_users_documents_are_kept_apart(database: Database, tenant_id: str) -> None:
    await database.write(lambda tx: preference_rows.put_document(tx, tenant_id, "", '{"quiet_hours":null}', 1.0))
    assert await preference_rows.document(database, tenant_id, "ada") is None
    assert await database.write(lambda tx: preference_rows.document_for_write(tx, tenant_id, "ada")) is None
    assert await preference_rows.document(database, tenant_id, "") == '{"quiet_hours":null}'
