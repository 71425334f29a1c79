"""What the nodes sharing a database must agree on, kept as digests: the first node to start
records its own, and every later one compares."""

from __future__ import annotations

from .database import Tx


def agreed(tx: Tx, name: str, digest: str) -> str:
    """The digest recorded under ``name``: ``digest`` if none was (it is recorded now), else
    the first node's (writer function)."""
    tx.execute("INSERT INTO cluster_checks (name, digest) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", (name, digest))
    row = tx.execute("SELECT digest FROM cluster_checks WHERE name = ?", (name,)).fetchone()
    return str(row["digest"])
