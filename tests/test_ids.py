"""Ids sort by creation time and never repeat, whether made one by one or a step's worth at once."""

from __future__ import annotations

import re

import pytest

from alertflow import ids


def made_in_turn() -> list[str]:
    return [ids.new_id("ntf"), *ids.new_ids("ntf", 3000), ids.new_id("ntf"), *ids.new_ids("ntf", 5)]


def test_ids_made_one_by_one_and_together_sort_in_creation_order_and_are_distinct() -> None:
    made = made_in_turn()
    assert made == sorted(made)
    assert len(set(made)) == len(made)


def test_every_id_is_the_prefix_and_26_base32_digits() -> None:
    assert all(re.fullmatch(r"ntf_[0-9a-hjkmnp-tv-z]{26}", i) for i in made_in_turn())


@pytest.fixture
def own_clock(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The generator's memory of the last millisecond, restored afterwards, so a clock moved
    here leaves the rest of the session's ids alone."""
    monkeypatch.setattr(ids, "_last", ids._Last())
    return monkeypatch


def test_ids_stay_in_order_when_the_clock_steps_back(own_clock: pytest.MonkeyPatch) -> None:
    before = ids.new_ids("dlv", 2)
    own_clock.setattr(ids.time, "time", lambda: 1_000_000.0)  # long before now
    after = [*ids.new_ids("dlv", 2), ids.new_id("dlv")]
    assert before + after == sorted(before + after)


def test_a_millisecond_that_fills_up_lends_ids_from_the_next(own_clock: pytest.MonkeyPatch) -> None:
    own_clock.setattr(ids.time, "time", lambda: 4_000_000_000.0)
    first = ids.new_ids("dlv", ids._PER_MS - 1)  # all but one of the millisecond
    more = ids.new_ids("dlv", 10)  # does not fit: goes on in the next millisecond
    together = [first[0], first[-1], *more]
    assert together == sorted(together)
    assert more[0][4:14] != first[0][4:14]
    assert len(set(first) | set(more)) == len(first) + len(more)
