"""replace_key: a later notification with the same key replaces the earlier in-app item (the
socket says so, and the earlier one's history says by which), and collapses on devices."""

from __future__ import annotations

from typing import Any

from alertflow_webpush.provider import topic

from tests.conftest import Harness
from tests.fakes.fcm import FakeFcm
from tests.fakes.webpush import FakePushService
from tests.inbox_support import add_user, connect, inapp, token_for
from tests.test_channels import set_channel


async def publish(app: Harness, title: str, replace_key: str | None = "deploy-42", **body: Any) -> str:
    content = body.pop("content", inapp(title))
    out = await app.publish({"to": {"user_id": "ann"}, "content": content, "replace_key": replace_key, **body})
    nid = str(out["notifications"][0]["id"])
    await app.settled(nid)
    return nid


async def inbox_titles(app: Harness) -> list[str]:
    items = (await (await app.call("GET", "/v1/users/ann/inbox")).json())["items"]
    return [i["title"] for i in items]


async def test_a_later_notification_replaces_the_earlier_in_app_item_live_and_in_history(app: Harness) -> None:
    await add_user(app, "ann")
    live = await connect(app, await token_for(app, "ann"))
    first = await publish(app, "Deploy 42 started")
    started = (await live.expect("notification"))["data"]
    assert started["replace_key"] == "deploy-42"
    await live.expect("unread_count")
    second = await publish(app, "Deploy 42 finished")
    replaced = await live.expect("replace")
    assert replaced["replaces"] == started["id"] and replaced["data"]["title"] == "Deploy 42 finished"
    assert (await live.expect("unread_count"))["count"] == 1
    assert await inbox_titles(app) == ["Deploy 42 finished"]
    [earlier] = (await app.notification(first))["deliveries"]
    assert [(a["outcome"], a["error"]) for a in earlier["attempts"]][-1] == ("replaced", f"by {second}")
    # Another key, or none, stacks as before.
    await publish(app, "Deploy 43 started", replace_key="deploy-43")
    await publish(app, "Unrelated", replace_key=None)
    assert sorted(await inbox_titles(app)) == ["Deploy 42 finished", "Deploy 43 started", "Unrelated"]


async def test_replacing_is_per_user(app: Harness) -> None:
    await add_user(app, "ann")
    await add_user(app, "bob")
    await publish(app, "Ann's deploy")
    out = await app.publish({"to": {"user_id": "bob"}, "content": inapp("Bob's deploy"), "replace_key": "deploy-42"})
    await app.settled(out["notifications"][0]["id"])
    assert await inbox_titles(app) == ["Ann's deploy"]


async def test_a_replace_key_collapses_pushes_on_fcm_and_web_push(
    app: Harness, fake_fcm: FakeFcm, fake_push_service: FakePushService
) -> None:
    from alertflow_webpush import generate_vapid_keys

    private, _ = generate_vapid_keys()
    fcm_config = {"service_account_json": fake_fcm.service_account_json(), "endpoint": fake_fcm.url()}
    webpush_config = {"vapid_private_key": private, "vapid_subject": "mailto:ops@alertflow.test"}
    await set_channel(app, "push", {"type": "fcm", "config": fcm_config}, {"type": "webpush", "config": webpush_config})
    browser = fake_push_service.subscribe()
    await app.call("PUT", "/v1/users/ann", "admin", {"push_tokens": ["phone"], "webpush": [browser.info]})
    push = {"push": {"title": "Deploy", "body": "running"}}
    await publish(app, "", content=push)
    await publish(app, "", content=push, replace_key=None)
    first, plain = fake_fcm.messages
    assert first["android"]["collapse_key"] == "deploy-42"
    assert first["apns"]["headers"]["apns-collapse-id"] == "deploy-42"
    assert "collapse_key" not in plain["android"]
    with_key, without = fake_push_service.deliveries
    assert with_key.headers["Topic"] == topic("deploy-42") and len(topic("deploy-42")) == 32
    assert "Topic" not in without.headers


async def test_a_replace_key_must_be_1_to_200_characters(app: Harness) -> None:
    for key in ("", "k" * 201, 42):
        body = {"to": {"user_id": "ann"}, "content": inapp(), "replace_key": key}
        resp = await app.call("POST", "/v1/notifications/publish", body=body)
        assert resp.status == 422
        assert [e["field"] for e in (await resp.json())["errors"]] == ["replace_key"]
