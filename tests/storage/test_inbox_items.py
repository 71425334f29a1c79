"""The inbox store: items added, paged, counted, read and archived per user of a tenant.

Deliveries turning ``delivered`` on read and acknowledgement are covered end to end in
tests/test_inbox_api.py (they need a published notification)."""

from __future__ import annotations

from typing import Any

from alertflow.ids import new_id
from alertflow.storage import inbox_items
from alertflow.storage.database import Database

TENANT, OTHER_TENANT = "ten_a", "ten_b"
ALICE, BOB = "alice", "bob"


async def _add(database: Database, tenant_id: str = TENANT, user_id: str = ALICE, **content: Any) -> str:
    item = inbox_items.NewItem(
        id=new_id("inb"),
        tenant_id=tenant_id,
        user_id=user_id,
        delivery_id=content.get("delivery_id", new_id("dlv")),
        notification_id=content.get("notification_id", new_id("ntf")),
        title=content.get("title", "Hello"),
        body=content.get("body"),
        action_url=content.get("action_url"),
        data=content.get("data", {}),
        category="default",
        created_at=content.get("created_at", 1_700_000_000.0),
        replace_key=content.get("replace_key"),
    )
    await database.write(lambda tx: inbox_items.add(tx, item))
    return item.id


async def _ids(database: Database, tenant_id: str = TENANT, user_id: str = ALICE, **kw: Any) -> list[str]:
    found, _ = await inbox_items.page(database, tenant_id, user_id, kw.get("unread", False), 100, None)
    return [i["id"] for i in found]


async def test_an_added_item_comes_back_shaped_for_the_api(database: Database) -> None:
    item_id = await _add(
        database, title="Shipped", body="Your order left", action_url="https://x.test/o/1", data={"order": 1}
    )
    found, cursor = await inbox_items.page(database, TENANT, ALICE, False, 10, None)
    assert found == [
        {
            "id": item_id,
            "title": "Shipped",
            "body": "Your order left",
            "action_url": "https://x.test/o/1",
            "data": {"order": 1},
            "category": "default",
            "created_at": "2023-11-14T22:13:20.000Z",
            "read_at": None,
        }
    ]
    assert cursor is None


async def test_pages_run_newest_first_and_the_cursor_continues_where_the_last_page_ended(database: Database) -> None:
    added = [await _add(database) for _ in range(5)]
    first, cursor = await inbox_items.page(database, TENANT, ALICE, False, 2, None)
    second, cursor2 = await inbox_items.page(database, TENANT, ALICE, False, 2, cursor)
    last, end = await inbox_items.page(database, TENANT, ALICE, False, 2, cursor2)
    assert [i["id"] for i in first + second + last] == added[::-1]
    assert cursor == added[3] and cursor2 == added[1] and end is None


async def test_an_inbox_shows_only_its_own_users_items_within_its_tenant(database: Database) -> None:
    mine = await _add(database)
    await _add(database, user_id=BOB)
    await _add(database, tenant_id=OTHER_TENANT)  # same user id, another tenant
    assert await _ids(database) == [mine]
    assert await inbox_items.unread_counts(database, TENANT, [ALICE, BOB]) == {ALICE: 1, BOB: 1}


async def test_unread_counts_leave_out_users_with_none_and_count_across_many_users(database: Database) -> None:
    users = [f"u{i:04d}" for i in range(inbox_items.IN_LIST_SLICE + 3)]  # more than one slice
    for user_id in (users[0], users[-1], users[-1]):
        await _add(database, user_id=user_id)
    assert await inbox_items.unread_counts(database, TENANT, users) == {users[0]: 1, users[-1]: 2}


async def test_reading_an_item_stamps_it_once_and_takes_it_out_of_the_unread(database: Database) -> None:
    item_id = await _add(database)
    other = await _add(database)
    item, _ = await database.write(lambda tx: inbox_items.read(tx, TENANT, ALICE, item_id, 1_700_000_100.0))
    assert item is not None and item["id"] == item_id and item["read_at"] == "2023-11-14T22:15:00.000Z"
    again, _ = await database.write(lambda tx: inbox_items.read(tx, TENANT, ALICE, item_id, 1_700_000_200.0))
    assert again is not None and again["read_at"] == "2023-11-14T22:15:00.000Z"  # the first read stays
    assert await _ids(database, unread=True) == [other]
    assert await inbox_items.unread_counts(database, TENANT, [ALICE]) == {ALICE: 1}


async def test_reading_another_users_item_finds_nothing_and_changes_nothing(database: Database) -> None:
    item_id = await _add(database)
    assert await database.write(lambda tx: inbox_items.read(tx, TENANT, BOB, item_id, 1.0)) == (None, [])
    assert await database.write(lambda tx: inbox_items.read(tx, OTHER_TENANT, ALICE, item_id, 1.0)) == (None, [])
    assert await _ids(database, unread=True) == [item_id]


async def test_read_all_marks_only_the_users_unread_items_and_says_how_many(database: Database) -> None:
    first, second = await _add(database), await _add(database)
    bobs = await _add(database, user_id=BOB)
    await database.write(lambda tx: inbox_items.read(tx, TENANT, ALICE, first, 1.0))
    marked, _ = await database.write(lambda tx: inbox_items.read_all(tx, TENANT, ALICE, 2.0))
    assert marked == 1
    assert await _ids(database, unread=True) == []
    assert await _ids(database, user_id=BOB, unread=True) == [bobs]
    found, _ = await inbox_items.page(database, TENANT, ALICE, False, 10, None)
    assert {i["id"]: i["read_at"] for i in found} == {
        second: "1970-01-01T00:00:02.000Z",
        first: "1970-01-01T00:00:01.000Z",
    }
    assert await database.write(lambda tx: inbox_items.read_all(tx, TENANT, ALICE, 3.0)) == (0, [])


async def test_an_archived_item_is_hidden_from_every_read_and_archives_once(database: Database) -> None:
    kept, gone = await _add(database), await _add(database)
    assert await database.write(lambda tx: inbox_items.archive(tx, TENANT, ALICE, gone, 1.0)) is True
    assert await database.write(lambda tx: inbox_items.archive(tx, TENANT, ALICE, gone, 2.0)) is False
    assert await _ids(database) == [kept]
    assert [i["id"] for i in await inbox_items.recent(database, TENANT, ALICE, None, 10)] == [kept]
    assert [o.item["id"] for o in await inbox_items.by_ids(database, [kept, gone])] == [kept]
    assert await inbox_items.unread_counts(database, TENANT, [ALICE]) == {ALICE: 1}
    assert await database.write(lambda tx: inbox_items.read(tx, TENANT, ALICE, gone, 3.0)) == (None, [])


async def test_archiving_is_refused_for_another_users_item(database: Database) -> None:
    item_id = await _add(database)
    assert await database.write(lambda tx: inbox_items.archive(tx, TENANT, BOB, item_id, 1.0)) is False
    assert await _ids(database) == [item_id]


async def test_recent_replays_the_newest_items_oldest_first(database: Database) -> None:
    added = [await _add(database) for _ in range(4)]
    await _add(database, user_id=BOB)
    assert [i["id"] for i in await inbox_items.recent(database, TENANT, ALICE, None, 3)] == added[1:]


async def test_recent_since_an_item_replays_only_the_ones_after_it(database: Database) -> None:
    added = [await _add(database) for _ in range(4)]
    assert [i["id"] for i in await inbox_items.recent(database, TENANT, ALICE, added[1], 10)] == added[2:]
    assert await inbox_items.recent(database, TENANT, ALICE, added[-1], 10) == []


async def test_by_ids_finds_items_of_any_inbox_with_their_owner_in_id_order(database: Database) -> None:
    alices = await _add(database)
    bobs = await _add(database, tenant_id=OTHER_TENANT, user_id=BOB)
    found = await inbox_items.by_ids(database, [bobs, new_id("inb"), alices])
    assert [(o.tenant_id, o.user_id, o.item["id"]) for o in found] == [
        (TENANT, ALICE, alices),
        (OTHER_TENANT, BOB, bobs),
    ]


async def test_by_ids_reads_more_ids_than_one_statement_takes(database: Database) -> None:
    added = [await _add(database) for _ in range(3)]
    asked = [new_id("inb") for _ in range(inbox_items.IN_LIST_SLICE)] + added
    assert [o.item["id"] for o in await inbox_items.by_ids(database, asked)] == added


async def test_an_item_with_a_replace_key_hides_the_users_earlier_items_of_that_key(database: Database) -> None:
    first = await _add(database, title="Deploy started", replace_key="deploy-42")
    other_key = await _add(database, title="Other", replace_key="deploy-43")
    bobs = await _add(database, user_id=BOB, title="Bob's", replace_key="deploy-42")
    second = await _add(database, title="Deploy finished", replace_key="deploy-42")
    assert sorted(await _ids(database)) == sorted([other_key, second])
    assert await _ids(database, user_id=BOB) == [bobs]
    [found] = await inbox_items.by_ids(database, [second])
    assert found.replaces == first and found.item["replace_key"] == "deploy-42"
    [plain] = await inbox_items.by_ids(database, [other_key])
    assert plain.replaces is None


async def test_read_at_tells_when_a_notifications_item_was_read(database: Database) -> None:
    nid = new_id("ntf")
    item_id = await _add(database, notification_id=nid)
    assert await inbox_items.read_at(database, TENANT, ALICE, nid) is None
    await database.write(lambda tx: inbox_items.read(tx, TENANT, ALICE, item_id, 1_700_000_100.0))
    assert await inbox_items.read_at(database, TENANT, ALICE, nid) == 1_700_000_100.0
    assert await inbox_items.read_at(database, TENANT, BOB, nid) is None


async def test_a_deliverys_item_is_read_back_as_what_was_sent_archived_or_not_and_only_for_its_tenant(
    database: Database,
) -> None:
    await _add(database, delivery_id="dlv_kept", title="Build failed", body="main is red", data={"run": 7})
    archived = await _add(database, delivery_id="dlv_archived", title="Old news")
    await _add(database, OTHER_TENANT, delivery_id="dlv_theirs")
    assert await database.write(lambda tx: inbox_items.archive(tx, TENANT, ALICE, archived, 2_000_000_000.0))
    found = await inbox_items.of_deliveries(database, TENANT, ["dlv_kept", "dlv_archived", "dlv_theirs", "dlv_none"])
    assert found == {
        "dlv_kept": {"title": "Build failed", "body": "main is red", "action_url": None, "data": {"run": 7}},
        "dlv_archived": {"title": "Old news", "body": None, "action_url": None, "data": {}},
    }
