"""What every backend's database does, whatever the area stored in it."""

from __future__ import annotations

import asyncio

import pytest

from alertflow.storage.database import Database, Tx


async def test_a_write_returns_its_functions_result_once_committed(database: Database) -> None:
    def answer(tx: Tx) -> int:
        return 42

    assert await database.write(answer) == 42


async def test_a_failing_write_raises_to_its_caller_and_others_in_its_group_still_commit(
    database: Database,
) -> None:
    def fail(tx: Tx) -> None:
        raise ValueError("refused")

    def fine(tx: Tx) -> str:
        return "kept"

    results = await asyncio.gather(database.write(fail), database.write(fine), return_exceptions=True)
    assert isinstance(results[0], ValueError) and results[1] == "kept"
    with pytest.raises(ValueError, match="refused"):
        await database.write(fail)
