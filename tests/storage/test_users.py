"""Users: put replaces all but the creation time, erasure removes the record, pruning
devices keeps the others, and the audience look-up finds the known ones."""

from __future__ import annotations

import dataclasses
import json

import pytest

from alertflow.storage import preference_rows, users
from alertflow.storage.database import Database, Tx

ADA = users.User(
    user_id="ada",
    email="ada@example.com",
    phone="+15550001",
    push_tokens=["tok-1", "tok-2"],
    webpush=[{"endpoint": "https://push.example/1", "keys": {"p256dh": "k", "auth": "a"}}],
    locale="en-GB",
    timezone="Europe/London",
    name="Ada",
    data={"plan": "pro"},
    created_at=10.0,
    updated_at=10.0,
)


async def test_a_user_put_is_read_back_as_it_was_put(database: Database, tenant_id: str) -> None:
    await database.write(lambda tx: users.put(tx, tenant_id, ADA))
    assert await users.get(database, tenant_id, "ada") == ADA
    assert await users.exists(database, tenant_id, "ada")
    assert await database.write(lambda tx: users.exists_for_write(tx, tenant_id, "ada"))


async def test_putting_a_user_again_replaces_everything_but_its_creation_time(
    database: Database, tenant_id: str
) -> None:
    await database.write(lambda tx: users.put(tx, tenant_id, ADA))
    again = users.User(user_id="ada", phone="+15550002", created_at=20.0, updated_at=20.0)
    await database.write(lambda tx: users.put(tx, tenant_id, again))
    assert await users.get(database, tenant_id, "ada") == dataclasses.replace(again, created_at=10.0)


async def test_an_unknown_user_is_none_and_does_not_exist(database: Database, tenant_id: str) -> None:
    assert await users.get(database, tenant_id, "nobody") is None
    assert not await users.exists(database, tenant_id, "nobody")
    assert not await database.write(lambda tx: users.exists_for_write(tx, tenant_id, "nobody"))


async def test_erasing_a_user_leaves_no_contact_data_and_says_whether_there_was_one(
    database: Database, tenant_id: str
) -> None:
    await database.write(lambda tx: users.put(tx, tenant_id, ADA))
    assert await database.write(lambda tx: users.erase(tx, tenant_id, "ada")) is True
    assert await users.get(database, tenant_id, "ada") is None
    assert await database.write(lambda tx: users.erase(tx, tenant_id, "ada")) is False


async def test_removing_devices_keeps_the_others_and_is_false_for_a_missing_user(
    database: Database, tenant_id: str
) -> None:
    await database.write(lambda tx: users.put(tx, tenant_id, ADA))
    gone = await database.write(
        lambda tx: users.remove_devices(tx, tenant_id, "ada", {"tok-1"}, {"https://push.example/1"}, 30.0)
    )
    found = await users.get(database, tenant_id, "ada")
    assert gone and found is not None
    assert (found.push_tokens, found.webpush, found.updated_at) == (["tok-2"], [], 30.0)
    assert not await database.write(lambda tx: users.remove_devices(tx, tenant_id, "nobody", {"tok-2"}, set(), 30.0))


async def test_the_audience_look_up_finds_only_known_users_with_their_preferences(
    database: Database, tenant_id: str
) -> None:
    def store(tx: Tx) -> None:
        users.put(tx, tenant_id, ADA)
        users.put(tx, tenant_id, users.User(user_id="bo", email="bo@example.com"))
        preference_rows.put_document(tx, tenant_id, "ada", '{"channels": {"sms": false}}', 10.0)

    await database.write(store)
    found = await users.known(database, tenant_id, {"ada", "bo", "nobody"})
    assert sorted(found) == ["ada", "bo"]
    assert found["ada"]["email"] == "ada@example.com" and found["ada"]["timezone"] == "Europe/London"
    assert json.loads(found["ada"]["push_tokens"]) == ["tok-1", "tok-2"]
    assert json.loads(found["ada"]["preferences"]) == {"channels": {"sms": False}}
    assert found["bo"]["preferences"] is None
    assert await users.known(database, tenant_id, set()) == {}
    assert await users.known(database, "another-tenant", {"ada"}) == {}


async def test_users_added_by_email_alone_read_back_with_nothing_else(database: Database, tenant_id: str) -> None:
    emails = [("al", "al@example.com"), ("bo", "bo@example.com")]
    await database.write(lambda tx: users.add_by_email(tx, tenant_id, iter(emails), 5.0))
    assert await users.get(database, tenant_id, "bo") == users.User(
        user_id="bo", email="bo@example.com", created_at=5.0, updated_at=5.0
    )
    assert sorted(await users.known(database, tenant_id, {"al", "bo"})) == ["al", "bo"]


async def test_adding_by_email_a_user_id_already_taken_adds_none_of_the_load(
    database: Database, tenant_id: str
) -> None:
    await database.write(lambda tx: users.put(tx, tenant_id, ADA))
    with pytest.raises(Exception, match=r"(?i)unique"):
        await database.write(lambda tx: users.add_by_email(tx, tenant_id, [("bo", "b@x"), ("ada", "a@x")], 5.0))
    assert await users.get(database, tenant_id, "bo") is None
    assert await users.get(database, tenant_id, "ada") == ADA


async def test_prepared_users_are_stored_in_one_write_and_replace_as_put_does(
    database: Database, tenant_id: str
) -> None:
    await database.write(lambda tx: users.put(tx, tenant_id, ADA))
    again = users.User(user_id="ada", phone="+15550002", created_at=20.0, updated_at=20.0)
    bob = users.User(user_id="bob", email="bob@example.com", created_at=20.0, updated_at=20.0)
    first, second = users.prepare(tenant_id, [again]), users.prepare(tenant_id, [bob])
    assert len(first) == 1
    await database.write(lambda tx: users.put_many(tx, first, second))
    assert await users.get(database, tenant_id, "ada") == dataclasses.replace(again, created_at=10.0)
    assert await users.get(database, tenant_id, "bob") == bob


async def add_people(database: Database, tenant_id: str) -> None:
    people = [
        users.User(user_id="u1", email="Ann.Lee@Example.com", name="Ann Lee"),
        users.User(user_id="u2", phone="+15550100", name="Bob"),
        users.User(user_id="u3_x", email="carl%@example.org"),
        users.User(user_id="u4", name="Dana 100%"),
    ]
    await database.write(lambda tx: users.put_many(tx, users.prepare(tenant_id, people)))


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("ann", ["u1"]),  # a name, any case
        ("EXAMPLE.COM", ["u1"]),  # part of an email
        ("5550100", ["u2"]),  # part of a phone
        ("u3", ["u3_x"]),  # part of an id
        ("example", ["u1", "u3_x"]),
        ("%", ["u3_x", "u4"]),  # wildcards are literal
        ("_", ["u3_x"]),
        ("\\", []),
        ("nobody", []),
        (None, ["u1", "u2", "u3_x", "u4"]),
    ],
)
async def test_search_finds_users_by_part_of_id_email_phone_or_name(
    database: Database, tenant_id: str, query: str | None, found: list[str]
) -> None:
    await add_people(database, tenant_id)
    assert [u.user_id for u in await users.search(database, tenant_id, query, "", 10)] == found


async def test_search_pages_by_user_id_after_the_cursor_and_sees_no_other_tenant(
    database: Database, tenant_id: str
) -> None:
    await add_people(database, tenant_id)
    first = await users.search(database, tenant_id, None, "", 2)
    assert [u.user_id for u in first] == ["u1", "u2"]
    rest = await users.search(database, tenant_id, None, first[-1].user_id, 10)
    assert [u.user_id for u in rest] == ["u3_x", "u4"]
    assert await users.search(database, "ten_other", None, "", 10) == []
