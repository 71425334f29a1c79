"""Cluster checks: the first digest recorded under a name is the one every later node is told."""

from __future__ import annotations

from alertflow.storage import cluster_checks
from alertflow.storage.database import Database


async def test_the_first_digest_is_kept_and_told_to_every_later_node(database: Database) -> None:
    assert await database.write(lambda tx: cluster_checks.agreed(tx, "secret_key", "aaa")) == "aaa"
    assert await database.write(lambda tx: cluster_checks.agreed(tx, "secret_key", "bbb")) == "aaa"
    assert await database.write(lambda tx: cluster_checks.agreed(tx, "other", "bbb")) == "bbb"
