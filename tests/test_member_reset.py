"""``POST /v1/members/{id}/reset``: a new one-time link for a member who lost theirs, from the
API as `alertflow members reset-password` prints one, within the same role rules."""

from __future__ import annotations

from tests.conftest import StartApp, add_tenant
from tests.signin_support import browsers
from tests.test_members import link_path, problem, set_password


async def test_a_reset_link_replaces_the_invite_and_sets_the_password(start_app: StartApp) -> None:
    app = await start_app(server={"public_url": "https://alerts.example.com/"})
    invited = await (
        await app.call("POST", "/v1/members", "admin", {"email": "b@example.com", "role": "member"})
    ).json()
    resp = await app.call("POST", f"/v1/members/{invited['member_id']}/reset", "admin")
    assert resp.status == 200, await resp.text()
    url = (await resp.json())["invite_url"]
    assert url.startswith("https://alerts.example.com/invite/") and url != invited["invite_url"]
    async with browsers(app) as new:
        browser = new()
        assert (await browser.session.get(browser.url(link_path(invited["invite_url"])))).status == 404, (
            "the earlier link stops working"
        )
        assert (await set_password(browser, url)).status == 303
        assert (await browser.sign_in("b@example.com")).status == 303
    audit = await (await app.call("GET", "/v1/audit?action=member.reset", "owner")).json()
    assert [e["resource"]["id"] for e in audit["items"]] == [invited["member_id"]]


async def test_only_those_who_manage_a_member_may_reset_their_link(start_app: StartApp) -> None:
    app = await start_app()
    owner = (await (await app.call("POST", "/v1/members", "owner", {"email": "o@x.io", "role": "owner"})).json())[
        "member_id"
    ]
    member = (await (await app.call("POST", "/v1/members", "owner", {"email": "m@x.io", "role": "member"})).json())[
        "member_id"
    ]
    assert "owners" in await problem(await app.call("POST", f"/v1/members/{owner}/reset", "admin"), 403)
    await problem(await app.call("POST", f"/v1/members/{member}/reset", "member"), 403)
    assert (await app.call("POST", f"/v1/members/{owner}/reset", "owner")).status == 200
    _, other_keys = await add_tenant(app.svc, "globex")
    as_globex = {"Authorization": f"Bearer {other_keys['owner']}"}
    theirs = await app.client.post(f"/v1/members/{member}/reset", headers=as_globex)
    await problem(theirs, 404)
