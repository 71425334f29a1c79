"""Members, their one-time links and their sessions: found by email, hash and tenant; a link
is used once and only before it expires; ending sessions ends exactly the member's."""

from __future__ import annotations

import pytest

from alertflow.storage import member_rows
from alertflow.storage.database import Database, Tx


async def add(database: Database, tenant_id: str | None, member_id: str = "mbr_1", email: str = "ann@x.io") -> None:
    role = "admin" if tenant_id else None
    await database.write(
        lambda tx: member_rows.add_member(tx, member_id, email, tenant_id, role, tenant_id is None, 5.0)
    )


async def test_a_member_is_found_by_id_and_email_with_a_tenant_or_as_operator(
    database: Database, tenant_id: str
) -> None:
    await add(database, tenant_id)
    await add(database, None, "mbr_op", "op@x.io")
    ann = await member_rows.find_by_email(database, "ann@x.io")
    assert ann == member_rows.MemberRow("mbr_1", "ann@x.io", tenant_id, "admin", False, None, 5.0)
    assert await database.write(lambda tx: member_rows.member(tx, "mbr_op")) == member_rows.MemberRow(
        "mbr_op", "op@x.io", None, None, True, None, 5.0
    )
    assert await database.write(lambda tx: member_rows.email_taken(tx, "op@x.io")) is True
    assert await member_rows.find_by_email(database, "nobody@x.io") is None
    assert [m.member_id for m in await member_rows.tenant_members(database, tenant_id)] == ["mbr_1"]


async def test_an_email_is_one_member(database: Database, tenant_id: str) -> None:
    await add(database, tenant_id)
    with pytest.raises(Exception, match=r"(?i)unique"):
        await add(database, tenant_id, "mbr_2")


async def test_roles_and_passwords_change_and_owners_are_counted(database: Database, tenant_id: str) -> None:
    await add(database, tenant_id)

    def promote(tx: Tx) -> tuple[int, int]:
        before = member_rows.count_owners(tx, tenant_id)
        member_rows.set_role(tx, "mbr_1", "owner")
        member_rows.set_password(tx, "mbr_1", "$argon2id$…")
        return before, member_rows.count_owners(tx, tenant_id)

    assert await database.write(promote) == (0, 1)
    found = await member_rows.find_by_email(database, "ann@x.io")
    assert found and found.role == "owner" and found.password_hash == "$argon2id$…"


async def test_a_link_is_used_once_and_only_before_it_expires(database: Database, tenant_id: str) -> None:
    await add(database, tenant_id)
    await database.write(lambda tx: member_rows.replace_link(tx, "old", "mbr_1", 10.0, 100.0))
    await database.write(lambda tx: member_rows.replace_link(tx, "new", "mbr_1", 20.0, 100.0))
    assert await member_rows.link_holder(database, "old", 30.0) is None, "a new link replaces the old"
    holder = await member_rows.link_holder(database, "new", 30.0)
    assert holder and holder.member_id == "mbr_1"
    assert await member_rows.link_holder(database, "new", 100.0) is None, "expired"
    assert await database.write(lambda tx: member_rows.use_link(tx, "new", 100.0)) is None
    assert await database.write(lambda tx: member_rows.use_link(tx, "new", 99.0)) == "mbr_1"
    assert await database.write(lambda tx: member_rows.use_link(tx, "new", 99.0)) is None, "used up"


async def test_sessions_carry_the_member_and_end_alone_or_all_together(database: Database, tenant_id: str) -> None:
    await add(database, tenant_id)
    await add(database, None, "mbr_op", "op@x.io")

    def open_three(tx: Tx) -> None:
        member_rows.add_session(tx, "s1", "mbr_1", None, "csrf1", 10.0)
        member_rows.add_session(tx, "s2", "mbr_1", None, "csrf2", 10.0)
        member_rows.add_session(tx, "s3", "mbr_op", tenant_id, "csrf3", 10.0)

    await database.write(open_three)
    s1 = await member_rows.session(database, "s1")
    assert s1 and s1.member.email == "ann@x.io" and (s1.csrf_token, s1.created_at, s1.last_seen_at) == ("csrf1", 10, 10)
    await database.write(lambda tx: member_rows.touch_session(tx, "s1", 50.0))
    touched = await member_rows.session(database, "s1")
    assert touched and touched.last_seen_at == 50.0
    await database.write(lambda tx: member_rows.set_session_tenant(tx, "s3", tenant_id))
    s3 = await member_rows.session(database, "s3")
    assert s3 and s3.tenant_id == tenant_id and s3.member.operator
    await database.write(lambda tx: member_rows.end_sessions(tx, "mbr_1", keep="s1"))
    assert await member_rows.session(database, "s2") is None and await member_rows.session(database, "s1")
    await database.write(lambda tx: member_rows.add_session(tx, "s2", "mbr_1", None, "csrf2", 10.0))
    await database.write(lambda tx: member_rows.end_session(tx, "s2"))
    assert await member_rows.session(database, "s2") is None
    await database.write(lambda tx: member_rows.end_sessions(tx, "mbr_1"))
    assert await member_rows.session(database, "s1") is None and await member_rows.session(database, "s3")


async def test_stale_sessions_of_a_member_are_swept(database: Database, tenant_id: str) -> None:
    await add(database, tenant_id)

    def open_sessions(tx: Tx) -> None:
        member_rows.add_session(tx, "idle", "mbr_1", None, "c", 10.0)
        member_rows.add_session(tx, "old", "mbr_1", None, "c", 5.0)
        member_rows.add_session(tx, "live", "mbr_1", None, "c", 10.0)
        member_rows.touch_session(tx, "old", 90.0)
        member_rows.touch_session(tx, "live", 90.0)

    await database.write(open_sessions)
    await database.write(lambda tx: member_rows.end_stale_sessions(tx, "mbr_1", idle_before=50.0, created_before=8.0))
    assert [await member_rows.session(database, t) is not None for t in ("idle", "old", "live")] == [False, False, True]


async def test_removing_a_member_takes_their_links_and_sessions(database: Database, tenant_id: str) -> None:
    await add(database, tenant_id)

    def fill_and_remove(tx: Tx) -> None:
        member_rows.replace_link(tx, "link", "mbr_1", 1.0, 100.0)
        member_rows.add_session(tx, "s", "mbr_1", None, "c", 1.0)
        member_rows.remove_member(tx, "mbr_1")

    await database.write(fill_and_remove)
    assert await member_rows.find_by_email(database, "ann@x.io") is None
    assert await member_rows.session(database, "s") is None
    assert await member_rows.link_holder(database, "link", 2.0) is None
