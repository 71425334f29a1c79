"""API keys over the API and the command line: the role rules, a revoke that stops the key at
once, and a last use kept in memory and written about once a minute, never per request."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from alertflow import keys
from tests.conftest import WAIT_SECONDS, FakeClock, Harness, StartApp
from tests.process import Server, cli


def prefix_of(api_key: str) -> str:
    return "_".join(api_key.split("_", 2)[:2])


async def listed(app: Harness, role: str = "owner") -> dict[str, dict[str, Any]]:
    resp = await app.call("GET", "/v1/keys", role)
    assert resp.status == 200, await resp.text()
    return {k["prefix"]: k for k in (await resp.json())["items"]}


async def status_with(app: Harness, api_key: str) -> int:
    resp = await app.client.get("/v1/notifications", headers={"Authorization": f"Bearer {api_key}"})
    return resp.status


async def test_a_created_key_is_shown_once_then_listed_by_prefix_without_its_secret(app: Harness) -> None:
    resp = await app.call("POST", "/v1/keys", "admin", {"name": "ci", "role": "member"})
    assert resp.status == 201, await resp.text()
    issued = await resp.json()
    assert issued["role"] == "member" and issued["name"] == "ci"
    assert issued["prefix"] == prefix_of(issued["api_key"])
    assert await status_with(app, issued["api_key"]) == 200
    found = await listed(app)
    assert set(found) == {prefix_of(k) for k in app.keys.values()} | {issued["prefix"]}
    mine = found[issued["prefix"]]
    assert set(mine) == {"prefix", "name", "role", "created_at", "last_used_at"}
    assert issued["api_key"] not in json.dumps(found), "a listing never shows a secret"


@pytest.mark.parametrize(
    ("caller", "wanted", "status"),
    [("admin", "owner", 403), ("admin", "admin", 201), ("member", "member", 403), ("owner", "owner", 201)],
)
async def test_a_key_cannot_create_a_key_above_its_own_role(
    app: Harness, caller: str, wanted: str, status: int
) -> None:
    resp = await app.call("POST", "/v1/keys", caller, {"name": "x", "role": wanted})
    assert resp.status == status, await resp.text()
    if status == 403:
        assert resp.content_type == "application/problem+json"


async def test_members_may_not_list_keys_and_a_bad_role_names_the_field(app: Harness) -> None:
    assert (await app.call("GET", "/v1/keys", "member")).status == 403
    resp = await app.call("POST", "/v1/keys", "owner", {"name": "x", "role": "root"})
    assert resp.status == 422
    assert [e["field"] for e in (await resp.json())["errors"]] == ["role"]


async def test_a_revoked_key_is_refused_on_the_very_next_request(app: Harness) -> None:
    issued = await (await app.call("POST", "/v1/keys", "admin", {"role": "member"})).json()
    assert await status_with(app, issued["api_key"]) == 200  # now in the authentication cache
    resp = await app.call("DELETE", f"/v1/keys/{issued['prefix']}", "admin")
    assert resp.status == 204, await resp.text()
    assert await status_with(app, issued["api_key"]) == 401
    assert issued["prefix"] not in await listed(app)
    again = await app.call("DELETE", f"/v1/keys/{issued['prefix']}", "admin")
    assert again.status == 404


async def test_an_admin_cannot_revoke_an_owner_key_nor_anyone_the_last_owner_key(app: Harness) -> None:
    owner_prefix = prefix_of(app.keys["owner"])
    assert (await app.call("DELETE", f"/v1/keys/{owner_prefix}", "admin")).status == 403
    last = await app.call("DELETE", f"/v1/keys/{owner_prefix}", "owner")
    assert last.status == 409 and "last owner key" in (await last.json())["detail"]
    assert await status_with(app, app.keys["owner"]) == 200, "a refused revoke changes nothing"
    second = await (await app.call("POST", "/v1/keys", "owner", {"role": "owner"})).json()
    assert (await app.call("DELETE", f"/v1/keys/{owner_prefix}", "owner")).status == 204
    assert await status_with(app, app.keys["owner"]) == 401
    assert await status_with(app, second["api_key"]) == 200


async def test_another_tenants_key_or_a_made_up_prefix_is_not_found(start_app: StartApp) -> None:
    from tests.conftest import add_tenant

    app = await start_app()
    _, other_keys = await add_tenant(app.svc, "globex")
    for prefix in (prefix_of(other_keys["member"]), "af_zzzz", "af_00000000"):
        assert (await app.call("DELETE", f"/v1/keys/{prefix}", "owner")).status == 404, prefix
    assert await status_with(app, other_keys["member"]) == 200


async def test_last_use_is_kept_in_memory_and_written_by_the_flush_not_per_request(start_app: StartApp) -> None:
    clock = FakeClock(1_800_000_000.0)
    app = await start_app(clock=clock)
    prefix = prefix_of(app.keys["member"])
    assert (await listed(app))[prefix]["last_used_at"] is None
    assert await status_with(app, app.keys["member"]) == 200
    assert (await listed(app))[prefix]["last_used_at"] == "2027-01-15T08:00:00.000Z", "shown before it is written"
    stored = await app.rows("SELECT last_used_at FROM api_keys WHERE prefix = ?", (prefix,))
    assert stored[0]["last_used_at"] is None, "a request writes nothing"
    clock.t += 30
    await app.svc.key_usage.flush(app.svc.database)
    stored = await app.rows("SELECT last_used_at FROM api_keys WHERE prefix = ?", (prefix,))
    assert stored[0]["last_used_at"] == 1_800_000_000.0


async def test_the_running_server_flushes_last_use_on_its_own(start_app: StartApp) -> None:
    app = await start_app()
    usage = app.svc.key_usage
    usage.flushed.clear()
    async with asyncio.timeout(WAIT_SECONDS):
        gen = usage.running(app.svc.database, interval=0.01)
        await gen.__anext__()
        assert await status_with(app, app.keys["admin"]) == 200
        await usage.flushed.wait()
        await gen.aclose()
    rows = await app.rows("SELECT last_used_at FROM api_keys WHERE prefix = ?", (prefix_of(app.keys["admin"]),))
    assert rows[0]["last_used_at"] is not None


async def test_last_use_is_written_on_shutdown(start_app: StartApp) -> None:
    app = await start_app()
    assert await status_with(app, app.keys["member"]) == 200
    again = await start_app(restart=app)  # the first server stopped: its flush ran on the way out
    assert (await listed(again))[prefix_of(app.keys["member"])]["last_used_at"] is not None
    assert keys.FLUSH_SECONDS == 60.0, "the README promises about a minute"


def test_keys_list_and_revoke_from_the_command_line_beside_a_running_server(tmp_path: Path) -> None:
    server = Server(tmp_path / "srv").start()
    try:
        issued = server.request("POST", "/v1/keys", {"name": "deploy", "role": "admin"}).json()
        listed = json.loads(cli("keys", "list", "--tenant", "default", "--json", cwd=server.workdir).stdout)
        by_prefix = {k["prefix"]: k for k in listed}
        assert by_prefix[issued["prefix"]]["name"] == "deploy" and by_prefix[issued["prefix"]]["role"] == "admin"
        assert json.loads(cli("keys", "list", "--json", cwd=server.workdir).stdout) == listed
        text = cli("keys", "list", cwd=server.workdir).stdout
        assert issued["prefix"] in text and "deploy" in text

        def status_with_issued() -> int:
            headers = {"Authorization": f"Bearer {issued['api_key']}"}
            return server.request("GET", "/v1/keys", headers=headers).status_code

        assert status_with_issued() == 200  # the server now holds it in its key cache
        cli("keys", "revoke", issued["prefix"], cwd=server.workdir)
        # Another process revoked it: the server's cache forgets it within its TTL (10 s).
        assert server.wait_for(lambda: status_with_issued() == 401)
        again = cli("keys", "revoke", issued["prefix"], cwd=server.workdir, check=False)
        assert again.returncode == 1 and "no unrevoked key" in again.stderr
        unknown = cli("keys", "list", "--tenant", "nobody", cwd=server.workdir, check=False)
        assert unknown.returncode == 1 and "nobody" in unknown.stderr
    finally:
        server.stop()
