"""A tenant's suppression list: addresses it no longer sends to on a channel, and why.

Addresses arrive here normalised (recipients/suppression_list.py); this module compares
them as given."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .database import Database, Row, Tx


@dataclass(frozen=True)
class Suppression:
    id: int
    channel: str
    address: str
    reason: str  # bounce | complaint | manual
    detail: str | None
    created_at: float


_COLUMNS = "SELECT id, channel, address, reason, detail, created_at FROM suppressions"
# Characters LIKE gives a meaning to, escaped so a search matches them literally.
_LIKE_ESCAPES = str.maketrans({"\\": "\\\\", "%": "\\%", "_": "\\_"})


def _row(r: Row) -> Suppression:
    return Suppression(r["id"], r["channel"], r["address"], r["reason"], r["detail"], r["created_at"])


def put(tx: Tx, tenant_id: str, channel: str, address: str, reason: str, detail: str | None, now: float) -> None:
    """Suppress the address, or restate why: the latest reason wins, the first time stays."""
    tx.execute(
        "INSERT INTO suppressions (tenant_id, channel, address, reason, detail, created_at) VALUES (?,?,?,?,?,?)"
        " ON CONFLICT (tenant_id, address, channel) DO UPDATE SET reason = excluded.reason, detail = excluded.detail",
        (tenant_id, channel, address, reason, detail, now),
    )


def delete(tx: Tx, tenant_id: str, channel: str, address: str) -> bool:
    """Send to the address again; False when it was not suppressed."""
    deleted = tx.execute(
        "DELETE FROM suppressions WHERE tenant_id = ? AND channel = ? AND address = ?", (tenant_id, channel, address)
    )
    return deleted.rowcount > 0


async def get(db: Database, tenant_id: str, channel: str, address: str) -> Suppression | None:
    row = await db.fetchone(
        f"{_COLUMNS} WHERE tenant_id = ? AND channel = ? AND address = ?", (tenant_id, channel, address)
    )
    return None if row is None else _row(row)


async def any_for(db: Database, tenant_id: str) -> bool:
    """Whether the tenant suppresses anything: most do not, and their publishes skip the look-up."""
    return await db.fetchone("SELECT 1 FROM suppressions WHERE tenant_id = ? LIMIT 1", (tenant_id,)) is not None


async def reasons(db: Database, tenant_id: str, wanted: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """The reason of each (channel, address) of ``wanted`` that is suppressed: one query."""
    pairs = list(dict.fromkeys(wanted))
    if not pairs:
        return {}
    addresses = list(dict.fromkeys(a for _, a in pairs))
    rows = await db.fetchall(
        f"SELECT channel, address, reason FROM suppressions WHERE tenant_id = ? AND address IN"
        f" ({','.join('?' * len(addresses))})",
        (tenant_id, *addresses),
    )
    wanted_set = set(pairs)
    return {(r[0], r[1]): r[2] for r in rows if (r[0], r[1]) in wanted_set}


async def page(
    db: Database, tenant_id: str, channel: str | None, search: str | None, limit: int, before: int | None
) -> list[Suppression]:
    """Up to ``limit`` entries, newest first, with ids below ``before``; ``search`` is a part
    of the address."""
    where, params = ["tenant_id = ?"], list[object]([tenant_id])
    if channel:
        where.append("channel = ?")
        params.append(channel)
    if search:
        where.append("address LIKE ? ESCAPE '\\'")
        params.append(f"%{search.translate(_LIKE_ESCAPES)}%")
    if before is not None:
        where.append("id < ?")
        params.append(before)
    rows = await db.fetchall(f"{_COLUMNS} WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?", (*params, limit))
    return [_row(r) for r in rows]
