"""A provider URL's credentials are masked inside it (user info, query values); a set-up read
back and saved unchanged, as the dashboard's form does, keeps the stored URL, not the mask."""

from __future__ import annotations

from typing import Any

from tests.conftest import Harness
from tests.fakes.webhook import PATH, WebhookReceiver
from tests.test_channels import set_channel
from tests.test_outbound_guard import HOOK, renamed, webhook


async def stored_url(app: Harness) -> Any:
    [entry] = await app.svc.channels.tenant_entries(app.svc.database, app.tenant_id, "webhook") or []
    return entry.settings.model_dump(mode="json")["url"]


async def test_a_url_read_back_with_its_credentials_masked_keeps_them(
    app: Harness, webhook_receiver: WebhookReceiver
) -> None:
    url = renamed(webhook_receiver.url(PATH), "hook-user:pw-51ad@127.0.0.1") + "?api_key=key-0e9b"
    assert (await set_channel(app, "webhook", webhook(url))).status == 200
    shown = await (await app.call("GET", "/v1/channels/webhook")).json()
    masked = shown["providers"][0]["config"]["url"]
    assert "pw-51ad" not in masked and "key-0e9b" not in masked
    again = await app.call("PUT", "/v1/channels/webhook", body=shown)
    assert again.status == 200, await again.text()
    assert await stored_url(app) == url, "the mask did not replace the credentials"
    await app.call("PUT", "/v1/users/u1", body={})
    nid = (await app.publish(HOOK))["notifications"][0]["id"]
    assert (await app.settled(nid))["deliveries"][0]["status"] == "sent"
    assert webhook_receiver.requests[-1].query_string == "api_key=key-0e9b"


async def test_a_url_edited_around_its_masks_is_refused_and_a_new_one_taken(
    app: Harness, webhook_receiver: WebhookReceiver
) -> None:
    url = webhook_receiver.url(PATH) + "?api_key=key-0e9b"
    assert (await set_channel(app, "webhook", webhook(url))).status == 200
    shown = await (await app.call("GET", "/v1/channels/webhook")).json()
    config = shown["providers"][0]["config"]
    config["url"] = config["url"].replace(PATH, "/elsewhere")
    edited = await app.call("PUT", "/v1/channels/webhook", body=shown)
    assert edited.status == 422, await edited.text()
    assert (await edited.json())["errors"][0]["field"] == "providers.0.config.url"
    assert await stored_url(app) == url, "nothing changed"
    config["url"] = moved = webhook_receiver.url("/elsewhere") + "?api_key=key-new"
    assert (await app.call("PUT", "/v1/channels/webhook", body=shown)).status == 200
    assert await stored_url(app) == moved
