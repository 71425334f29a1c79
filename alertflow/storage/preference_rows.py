"""Preferences: each user's document, and the tenant's defaults (stored under the user id
the caller names for them), as the JSON text the recipients' model reads and writes."""

from __future__ import annotations

from .database import Database, Tx

_DOCUMENT = "SELECT document FROM preferences WHERE tenant_id = ? AND user_id = ?"


async def document(db: Database, tenant_id: str, user_id: str) -> str | None:
    row = await db.fetchone(_DOCUMENT, (tenant_id, user_id))
    return str(row["document"]) if row else None


def document_for_write(tx: Tx, tenant_id: str, user_id: str) -> str | None:
    """The document as the writer sees it, for a change made from it."""
    row = tx.execute(_DOCUMENT, (tenant_id, user_id)).fetchone()
    return str(row["document"]) if row else None


def put_document(tx: Tx, tenant_id: str, user_id: str, document: str, now: float) -> None:
    tx.execute(
        "INSERT INTO preferences (tenant_id, user_id, document, updated_at) VALUES (?,?,?,?)"
        " ON CONFLICT (tenant_id, user_id) DO UPDATE SET document = excluded.document,"
        " updated_at = excluded.updated_at",
        (tenant_id, user_id, document, now),
    )
