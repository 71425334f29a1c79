"""Bounces, complaints and deliveries reported by Amazon SES (through SNS) and SendGrid's Event
Webhook: signature-verified at a tenant's secret URL, matched to deliveries by the id the SMTP
server gave in its reply, and turned into suppressions and delivery statuses.

Real parts throughout: the app over HTTP, the smtp provider against the SMTP sink (which
answers "queued as <id>"), an SNS stand-in signing with its own certificate (listed in
[receipts] sns_certificate_urls as the operator would for a test double), and SendGrid posts
signed with a P-256 key made here.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import EMAIL, Harness, StartApp
from tests.fakes.sendgrid import SendgridSigner, event
from tests.fakes.smtp import FakeSmtpServer
from tests.fakes.sns import FakeSns, ses_bounce, ses_complaint, ses_delivery
from tests.test_status_webhooks import Receiver, receiver, subscribe  # noqa: F401 - receiver is a fixture

SNS_CONTENT_TYPE = "text/plain; charset=UTF-8"  # what SNS sends its JSON as
HOUR = 3600.0


@pytest.fixture
async def sns() -> AsyncIterator[FakeSns]:
    async with FakeSns() as peer:
        yield peer


@pytest.fixture
async def smtp() -> AsyncIterator[FakeSmtpServer]:
    async with FakeSmtpServer(queue_ids=True) as server:
        yield server


@pytest.fixture
async def app(start_app: StartApp, sns: FakeSns, smtp: FakeSmtpServer) -> Harness:
    provider = {"type": "smtp", "host": smtp.host, "port": smtp.port, "security": "none", "from_address": "a@x.test"}
    return await start_app(receipts={"sns_certificate_urls": [sns.cert_url]}, providers={"email": provider})


async def receipt_path(app: Harness, provider: str, body: Any = None) -> str:
    resp = await app.call("POST", f"/v1/receipts/{provider}", "admin", body)
    assert resp.status == 201, await resp.text()
    made = await resp.json()
    assert made["provider"] == provider and made["url"].startswith("http")
    return urlsplit(made["url"]).path


async def post_sns(app: Harness, path: str, message: dict[str, Any]) -> Any:
    return await app.client.post(path, data=json.dumps(message), headers={"Content-Type": SNS_CONTENT_TYPE})


async def sent_mail(app: Harness, smtp: FakeSmtpServer, address: str) -> dict[str, Any]:
    """Publish one email to ``address`` and wait until the SMTP server took it."""
    nid = (await app.publish({"to": {"email": address}, "content": EMAIL}))["notifications"][0]["id"]
    [delivery] = (await app.settled(nid))["deliveries"]
    assert delivery["status"] == "sent", delivery
    return {**delivery, "notification_id": nid}


async def delivery_now(app: Harness, delivery: dict[str, Any]) -> dict[str, Any]:
    """The delivery as the API shows it now."""
    [found] = (await app.notification(delivery["notification_id"]))["deliveries"]
    return found  # type: ignore[no-any-return]


async def status_of_next_publish(app: Harness, address: str) -> tuple[str, str | None]:
    nid = (await app.publish({"to": {"email": address}, "content": EMAIL}))["notifications"][0]["id"]
    [delivery] = (await app.settled(nid))["deliveries"]
    return delivery["status"], delivery["reason"]


# --- the provider's id, recorded from the SMTP reply ---------------------------------------------


async def test_the_id_in_the_smtp_servers_queued_as_reply_is_recorded_on_the_delivery(
    app: Harness, smtp: FakeSmtpServer
) -> None:
    delivery = await sent_mail(app, smtp, "ann@example.com")
    [mail] = smtp.messages
    assert mail.queue_id and delivery["provider_message_id"] == mail.queue_id


# --- SES through SNS ----------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"], ids=["SignatureVersion 1 (SHA1)", "SignatureVersion 2 (SHA256)"])
async def test_a_hard_bounce_fails_the_delivery_and_the_next_publish_to_the_address_is_suppressed_as_bounce(
    app: Harness, smtp: FakeSmtpServer, sns: FakeSns, version: str
) -> None:
    path = await receipt_path(app, "ses")
    delivery = await sent_mail(app, smtp, "gone@example.com")
    bounce = sns.notification(ses_bounce(delivery["provider_message_id"], "Gone@Example.COM"), version=version)
    resp = await post_sns(app, path, bounce)
    assert resp.status == 204, await resp.text()
    after = await delivery_now(app, delivery)
    assert after["status"] == "failed" and after["reason"].startswith("bounce: ")
    assert after["attempts"][-1]["outcome"] == "receipt:bounce"
    assert await status_of_next_publish(app, "gone@example.com") == ("suppressed", "suppression:bounce")
    assert len(smtp.messages) == 1, "nothing more was sent to the address"
    listed = await (await app.call("GET", "/v1/suppressions", "admin")).json()
    assert [(s["channel"], s["address"], s["reason"]) for s in listed["items"]] == [
        ("email", "gone@example.com", "bounce")
    ]


async def test_a_soft_bounce_fails_the_delivery_but_the_address_stays_sendable(
    app: Harness, smtp: FakeSmtpServer, sns: FakeSns
) -> None:
    path = await receipt_path(app, "ses")
    delivery = await sent_mail(app, smtp, "full@example.com")
    resp = await post_sns(
        app, path, sns.notification(ses_bounce(delivery["provider_message_id"], "full@example.com", False))
    )
    assert resp.status == 204, await resp.text()
    after = await delivery_now(app, delivery)
    assert after["status"] == "failed" and after["reason"].startswith("soft_bounce: ")
    assert (await status_of_next_publish(app, "full@example.com"))[0] == "sent"


async def test_a_complaint_suppresses_the_address_as_complaint(
    app: Harness, smtp: FakeSmtpServer, sns: FakeSns
) -> None:
    path = await receipt_path(app, "ses")
    delivery = await sent_mail(app, smtp, "angry@example.com")
    resp = await post_sns(
        app, path, sns.notification(ses_complaint(delivery["provider_message_id"], "angry@example.com"))
    )
    assert resp.status == 204, await resp.text()
    assert (await delivery_now(app, delivery))["attempts"][-1]["outcome"] == "receipt:complaint"
    assert await status_of_next_publish(app, "angry@example.com") == ("suppressed", "suppression:complaint")


async def test_a_delivery_notification_marks_the_delivery_delivered(
    app: Harness, smtp: FakeSmtpServer, sns: FakeSns
) -> None:
    path = await receipt_path(app, "ses")
    delivery = await sent_mail(app, smtp, "ann@example.com")
    resp = await post_sns(app, path, sns.notification(ses_delivery(delivery["provider_message_id"], "ann@example.com")))
    assert resp.status == 204, await resp.text()
    after = await delivery_now(app, delivery)
    assert after["status"] == "delivered" and after["delivered_at"]


async def test_a_configuration_sets_event_publishing_shape_is_read_too(
    app: Harness, smtp: FakeSmtpServer, sns: FakeSns
) -> None:
    path = await receipt_path(app, "ses")
    delivery = await sent_mail(app, smtp, "gone@example.com")
    note = ses_bounce(delivery["provider_message_id"], "gone@example.com")
    note["eventType"] = note.pop("notificationType")  # SES event destinations name the type so
    assert (await post_sns(app, path, sns.notification(note))).status == 204
    assert await status_of_next_publish(app, "gone@example.com") == ("suppressed", "suppression:bounce")


async def test_a_tampered_sns_message_is_refused_and_changes_nothing(
    app: Harness, smtp: FakeSmtpServer, sns: FakeSns
) -> None:
    path = await receipt_path(app, "ses")
    delivery = await sent_mail(app, smtp, "ann@example.com")
    signed = sns.notification(ses_delivery(delivery["provider_message_id"], "ann@example.com"))
    bounce = json.dumps(ses_bounce(delivery["provider_message_id"], "ann@example.com"))
    resp = await post_sns(app, path, {**signed, "Message": bounce})
    assert resp.status == 403 and "does not verify" in (await resp.json())["detail"]
    assert (await delivery_now(app, delivery))["status"] == "sent"
    assert (await status_of_next_publish(app, "ann@example.com"))[0] == "sent"


async def test_a_replayed_sns_message_is_applied_once(app: Harness, smtp: FakeSmtpServer, sns: FakeSns) -> None:
    path = await receipt_path(app, "ses")
    delivery = await sent_mail(app, smtp, "angry@example.com")
    complaint = sns.notification(ses_complaint(delivery["provider_message_id"], "angry@example.com"))
    for _ in range(2):
        resp = await post_sns(app, path, complaint)
        assert resp.status == 204, await resp.text()
    outcomes = [a["outcome"] for a in (await delivery_now(app, delivery))["attempts"]]
    assert outcomes.count("receipt:complaint") == 1


async def test_an_sns_message_older_than_the_replay_window_is_refused(
    app: Harness, smtp: FakeSmtpServer, sns: FakeSns
) -> None:
    path = await receipt_path(app, "ses")
    delivery = await sent_mail(app, smtp, "gone@example.com")
    old = sns.notification(ses_bounce(delivery["provider_message_id"], "gone@example.com"), at=time.time() - 2 * HOUR)
    resp = await post_sns(app, path, old)
    assert resp.status == 403 and "too old" in (await resp.json())["detail"]
    assert (await status_of_next_publish(app, "gone@example.com"))[0] == "sent"


async def test_a_certificate_url_that_is_not_an_sns_host_is_refused_without_fetching_it(
    app: Harness, smtp: FakeSmtpServer
) -> None:
    path = await receipt_path(app, "ses")
    delivery = await sent_mail(app, smtp, "ann@example.com")
    async with FakeSns() as impostor:  # signs validly, with a certificate nobody listed
        forged = impostor.notification(ses_bounce(delivery["provider_message_id"], "ann@example.com"))
        resp = await post_sns(app, path, forged)
        assert resp.status == 403 and "SNS host" in (await resp.json())["detail"]
        assert impostor.certificate_fetches() == 0
    lookalike = {**forged, "SigningCertURL": "https://sns.eu-west-1.amazonaws.com.evil.test/cert.pem"}
    assert (await post_sns(app, path, lookalike)).status == 403
    assert (await delivery_now(app, delivery))["status"] == "sent"


async def test_a_listed_certificate_that_has_expired_is_refused(start_app: StartApp, smtp: FakeSmtpServer) -> None:
    async with FakeSns(expired_certificate=True) as stale:
        app = await start_app(receipts={"sns_certificate_urls": [stale.cert_url]})
        path = await receipt_path(app, "ses")
        resp = await post_sns(app, path, stale.subscription_confirmation())
        assert resp.status == 403 and "not valid now" in (await resp.json())["detail"]
        assert stale.confirmed == []


async def test_a_notification_with_a_subject_verifies_with_the_subject_signed(
    app: Harness, smtp: FakeSmtpServer, sns: FakeSns
) -> None:
    path = await receipt_path(app, "ses")
    delivery = await sent_mail(app, smtp, "ann@example.com")
    note = ses_delivery(delivery["provider_message_id"], "ann@example.com")
    signed = sns.notification(note, subject="Amazon SES Email Event Notification", version="2")
    assert (await post_sns(app, path, {**signed, "Subject": "Something else"})).status == 403
    assert (await post_sns(app, path, signed)).status == 204
    assert (await delivery_now(app, delivery))["status"] == "delivered"


async def test_the_signing_certificate_is_fetched_once_for_many_messages(
    app: Harness, smtp: FakeSmtpServer, sns: FakeSns
) -> None:
    path = await receipt_path(app, "ses")
    delivery = await sent_mail(app, smtp, "ann@example.com")
    for _ in range(3):
        message = sns.notification(ses_delivery(delivery["provider_message_id"], "ann@example.com"))
        assert (await post_sns(app, path, message)).status == 204
    assert sns.certificate_fetches() == 1


async def test_a_subscription_confirmation_visits_its_subscribe_url(app: Harness, sns: FakeSns) -> None:
    path = await receipt_path(app, "ses")
    resp = await post_sns(app, path, sns.subscription_confirmation("tok-42"))
    assert resp.status == 204, await resp.text()
    assert sns.confirmed == ["tok-42"]


async def test_a_subscribe_url_off_the_sns_hosts_is_not_visited(app: Harness, sns: FakeSns) -> None:
    path = await receipt_path(app, "ses")
    async with FakeSns() as elsewhere:
        message = sns.subscription_confirmation("tok-1")
        message["SubscribeURL"] = elsewhere.url("/confirm?Token=tok-1")
        resp = await post_sns(app, path, sns.sign(message))
        assert resp.status == 403 and "SubscribeURL" in (await resp.json())["detail"]
        assert elsewhere.requests == [] and sns.confirmed == []


async def test_an_unknown_or_replaced_receipt_url_is_a_404(app: Harness, sns: FakeSns) -> None:
    first = await receipt_path(app, "ses")
    second = await receipt_path(app, "ses")
    assert first != second
    message = sns.subscription_confirmation()
    assert (await post_sns(app, first, message)).status == 404, "a new URL replaces the old one"
    assert (await post_sns(app, first.replace("/ses/", "/sendgrid/"), message)).status == 404
    assert (await post_sns(app, second, message)).status == 204


async def test_a_body_that_is_not_an_sns_message_is_a_400(app: Harness) -> None:
    path = await receipt_path(app, "ses")
    resp = await app.client.post(path, data="not json", headers={"Content-Type": SNS_CONTENT_TYPE})
    assert resp.status == 400
    resp = await app.client.post(path, data="[1]", headers={"Content-Type": SNS_CONTENT_TYPE})
    assert resp.status == 400


@pytest.mark.parametrize("provider,body", [("ses", None), ("sendgrid", {"public_key": SendgridSigner().public_key})])
async def test_only_admins_and_up_make_receipt_urls(app: Harness, provider: str, body: Any) -> None:
    resp = await app.call("POST", f"/v1/receipts/{provider}", "member", body)
    assert resp.status == 403
    assert (await app.call("POST", f"/v1/receipts/{provider}", "owner", body)).status == 201


# --- SendGrid's Event Webhook -------------------------------------------------------------------


@pytest.fixture
def signer() -> SendgridSigner:
    return SendgridSigner()


async def post_events(app: Harness, path: str, signer: SendgridSigner, *events: dict[str, Any], **kw: Any) -> Any:
    body, headers = signer.post(list(events), **kw)
    return await app.client.post(path, data=body, headers=headers)


async def test_a_sendgrid_bounce_suppresses_the_address_matched_by_sg_message_id(
    app: Harness, smtp: FakeSmtpServer, signer: SendgridSigner
) -> None:
    path = await receipt_path(app, "sendgrid", {"public_key": signer.public_key})
    delivery = await sent_mail(app, smtp, "gone@example.com")
    bounce = event("bounce", delivery["provider_message_id"], "gone@example.com", type="bounce", reason="550 unknown")
    resp = await post_events(app, path, signer, bounce, event("open", "x", "gone@example.com"))
    assert resp.status == 204, await resp.text()
    after = await delivery_now(app, delivery)
    assert after["status"] == "failed" and after["reason"] == "bounce: 550 unknown"
    assert await status_of_next_publish(app, "gone@example.com") == ("suppressed", "suppression:bounce")


@pytest.mark.parametrize(
    "name,fields,status,reason,suppressed",
    [
        ("bounce", {"type": "blocked", "reason": "421 try later"}, "failed", "soft_bounce: 421 try later", None),
        ("dropped", {"reason": "Invalid"}, "failed", "dropped: Invalid", None),
        ("spamreport", {}, "sent", None, "suppression:complaint"),
        ("delivered", {"response": "250 OK"}, "delivered", None, None),
    ],
)
async def test_sendgrid_events_move_the_delivery_and_list_complaints(
    app: Harness,
    smtp: FakeSmtpServer,
    signer: SendgridSigner,
    name: str,
    fields: dict[str, Any],
    status: str,
    reason: str | None,
    suppressed: str | None,
) -> None:
    path = await receipt_path(app, "sendgrid", {"public_key": signer.public_key})
    delivery = await sent_mail(app, smtp, "ann@example.com")
    resp = await post_events(
        app, path, signer, event(name, delivery["provider_message_id"], "ann@example.com", **fields)
    )
    assert resp.status == 204, await resp.text()
    after = await delivery_now(app, delivery)
    assert (after["status"], after["reason"]) == (status, reason)
    next_status, next_reason = await status_of_next_publish(app, "ann@example.com")
    assert next_reason == suppressed and next_status == ("suppressed" if suppressed else "sent")


async def test_a_tampered_sendgrid_post_is_refused_and_changes_nothing(
    app: Harness, smtp: FakeSmtpServer, signer: SendgridSigner
) -> None:
    path = await receipt_path(app, "sendgrid", {"public_key": signer.public_key})
    delivery = await sent_mail(app, smtp, "ann@example.com")
    body, headers = signer.post([event("delivered", delivery["provider_message_id"], "ann@example.com")])
    tampered = body.replace(b'"delivered"', b'"spamreport"')
    resp = await app.client.post(path, data=tampered, headers=headers)
    assert resp.status == 403 and "does not verify" in (await resp.json())["detail"]
    other_key = SendgridSigner()
    resp = await app.client.post(path, data=body, headers=other_key.post([], at=None)[1])
    assert resp.status == 403
    unsigned = {"Content-Type": "application/json"}
    assert (await app.client.post(path, data=body, headers=unsigned)).status == 403
    assert (await delivery_now(app, delivery))["status"] == "sent"
    assert (await status_of_next_publish(app, "ann@example.com"))[0] == "sent"


async def test_a_replayed_sendgrid_post_is_applied_once_and_an_old_one_refused(
    app: Harness, smtp: FakeSmtpServer, signer: SendgridSigner
) -> None:
    path = await receipt_path(app, "sendgrid", {"public_key": signer.public_key})
    delivery = await sent_mail(app, smtp, "angry@example.com")
    body, headers = signer.post([event("spamreport", delivery["provider_message_id"], "angry@example.com")])
    for _ in range(2):
        resp = await app.client.post(path, data=body, headers=headers)
        assert resp.status == 204, await resp.text()
    outcomes = [a["outcome"] for a in (await delivery_now(app, delivery))["attempts"]]
    assert outcomes.count("receipt:complaint") == 1
    old = event("delivered", delivery["provider_message_id"], "angry@example.com")
    resp = await post_events(app, path, signer, old, at=time.time() - 2 * HOUR)
    assert resp.status == 403 and "too old" in (await resp.json())["detail"]
    assert (await delivery_now(app, delivery))["status"] == "sent"


@pytest.mark.parametrize("key", ["not base64!", "AAAA", SendgridSigner().public_key[:-8]])
async def test_a_sendgrid_key_that_is_not_a_p256_public_key_is_a_422_naming_it(app: Harness, key: str) -> None:
    resp = await app.call("POST", "/v1/receipts/sendgrid", "admin", {"public_key": key})
    assert resp.status == 422, await resp.text()
    assert [e["field"] for e in (await resp.json())["errors"]] == ["public_key"]


# --- what receipts tell the tenant's status webhooks ---------------------------------------------


async def test_receipts_that_move_a_delivery_send_its_status_webhook(
    app: Harness,
    smtp: FakeSmtpServer,
    sns: FakeSns,
    receiver: Receiver,  # noqa: F811 - the fixture imported
) -> None:
    await subscribe(app, receiver, ["delivery.delivered", "delivery.failed"])
    path = await receipt_path(app, "ses")
    kept = await sent_mail(app, smtp, "ann@example.com")
    gone = await sent_mail(app, smtp, "gone@example.com")

    delivered = sns.notification(ses_delivery(kept["provider_message_id"], "ann@example.com"))
    bounced = sns.notification(ses_bounce(gone["provider_message_id"], "gone@example.com"))
    assert (await post_sns(app, path, delivered)).status == 204
    assert (await post_sns(app, path, bounced)).status == 204

    await receiver.wait(lambda: len(receiver.events()) >= 2)
    moved = {(e["type"], e["data"]["id"], e["data"]["status"]) for e in receiver.events()}
    assert moved == {("delivery.delivered", kept["id"], "delivered"), ("delivery.failed", gone["id"], "failed")}
