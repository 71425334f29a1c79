"""Topic members: added once each, removed by id, cleared at once, counted inside the write,
and paged for a fan-out with their known users."""

from __future__ import annotations

from alertflow.storage import topic_members, users
from alertflow.storage.database import Database, Tx


async def test_members_are_added_once_each_and_listed_in_order(database: Database, tenant_id: str) -> None:
    def add_twice(tx: Tx) -> int:
        topic_members.add(tx, tenant_id, "news", ["bo", "al"])
        topic_members.add(tx, tenant_id, "news", ["al", "cy"])
        return topic_members.size_for_write(tx, tenant_id, "news")

    assert await database.write(add_twice) == 3
    assert await topic_members.members(database, tenant_id, "news") == ["al", "bo", "cy"]


async def test_removing_members_keeps_the_others_and_other_topics(database: Database, tenant_id: str) -> None:
    def fill_and_remove(tx: Tx) -> int:
        topic_members.add(tx, tenant_id, "news", ["al", "bo"])
        topic_members.add(tx, tenant_id, "deals", ["al"])
        topic_members.remove(tx, tenant_id, "news", ["al", "zed"])
        return topic_members.size_for_write(tx, tenant_id, "news")

    assert await database.write(fill_and_remove) == 1
    assert await topic_members.members(database, tenant_id, "news") == ["bo"]
    assert await topic_members.members(database, tenant_id, "deals") == ["al"]


async def test_clearing_a_topic_says_how_many_it_had(database: Database, tenant_id: str) -> None:
    await database.write(lambda tx: topic_members.add(tx, tenant_id, "news", ["al", "bo"]))
    assert await database.write(lambda tx: topic_members.clear(tx, tenant_id, "news")) == 2
    assert await topic_members.members(database, tenant_id, "news") == []
    assert await database.write(lambda tx: topic_members.clear(tx, tenant_id, "news")) == 0


async def test_a_topic_is_paged_in_user_id_order_with_its_known_users(database: Database, tenant_id: str) -> None:
    def fill(tx: Tx) -> None:
        topic_members.add(tx, tenant_id, "news", ["dee", "al", "cy", "bo"])
        users.put(tx, tenant_id, users.User(user_id="bo", email="bo@example.com"))
        users.put(tx, tenant_id, users.User(user_id="dee", phone="+15550001"))

    await database.write(fill)
    assert await topic_members.size(database, tenant_id, "news") == 4
    first, known = await topic_members.page(database, tenant_id, "news", "", 2)
    assert first == ["al", "bo"] and sorted(known) == ["bo"] and known["bo"]["email"] == "bo@example.com"
    rest, known = await topic_members.page(database, tenant_id, "news", "bo", 2)
    assert rest == ["cy", "dee"] and sorted(known) == ["dee"]
    assert await topic_members.page(database, tenant_id, "news", "dee", 2) == ([], {})


async def test_an_unknown_topic_has_no_members_to_page(database: Database, tenant_id: str) -> None:
    assert await topic_members.size(database, tenant_id, "nothing") == 0
    assert await topic_members.page(database, tenant_id, "nothing", "", 10) == ([], {})


async def test_topics_are_listed_in_order_with_their_sizes_a_page_at_a_time(database: Database, tenant_id: str) -> None:
    def fill(tx: Tx) -> None:
        topic_members.add(tx, tenant_id, "news", ["al", "bo"])
        topic_members.add(tx, tenant_id, "deals", ["al"])
        topic_members.add(tx, tenant_id, "ops", ["al", "bo", "cy"])

    await database.write(fill)
    assert await topic_members.topics(database, tenant_id, "", 10) == [("deals", 1), ("news", 2), ("ops", 3)]
    assert await topic_members.topics(database, tenant_id, "", 2) == [("deals", 1), ("news", 2)]
    assert await topic_members.topics(database, tenant_id, "news", 2) == [("ops", 3)]
    assert await topic_members.topics(database, "ten_other", "", 10) == []
