"""A tenant cannot make the server read its files: provider settings that name a path on the
server are the operator's (alertflow.toml); a tenant sends the content inline."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
from alertflow_fcm.provider import FcmSettings
from alertflow_smtp.provider import SmtpSettings
from alertflow_webhook.provider import WebhookSettings
from pydantic import FilePath

from alertflow.providers import Provider, ProviderConfigError, ProviderContext, ProviderRegistry, ProviderSettings
from alertflow.providers.channel_setup import ChannelProviders, path_settings
from alertflow.providers.sealing import Sealer
from tests.conftest import Harness, StartApp, make_config
from tests.fakes.fcm import FakeFcm
from tests.fakes.smtp import FakeSmtpServer
from tests.fakes.tls import TlsCert

FROM = "alerts@alertflow.test"
MAIL = {"to": {"email": "ann@example.com"}, "content": {"email": {"subject": "Disk", "text": "95%"}}}
PUSH = {"to": {"user_id": "u1"}, "content": {"push": {"title": "Disk", "body": "95%"}}}


async def set_channel(app: Harness, channel: str, provider: dict[str, Any]) -> Any:
    return await app.call("PUT", f"/v1/channels/{channel}", body={"providers": [provider]})


def smtp(server: FakeSmtpServer, **config: Any) -> dict[str, Any]:
    base = {"host": server.host, "port": server.port, "security": "starttls", "from_address": FROM}
    return {"type": "smtp", **base, **config}


def fcm(fake: FakeFcm, **config: Any) -> dict[str, Any]:
    return {"type": "fcm", "endpoint": fake.url(), **config}


def as_tenant(entry: dict[str, Any]) -> dict[str, Any]:
    """The API's form of an alertflow.toml entry: settings under ``config``."""
    return {"type": entry["type"], "config": {k: v for k, v in entry.items() if k != "type"}}


def files(tmp_path: Path, fake_fcm: FakeFcm, tls_cert: TlsCert) -> dict[str, Path]:
    """Paths a tenant might name: each a file the setting would accept, and one that is absent."""
    key_file = tmp_path / "service-account.json"
    key_file.write_text(fake_fcm.service_account_json())
    return {"key": key_file, "ca": tls_cert.cert_file, "absent": tmp_path / "absent.pem"}


async def test_a_tenant_naming_a_server_file_is_refused_naming_the_field_and_the_inline_setting(
    app: Harness, fake_fcm: FakeFcm, fake_smtp: FakeSmtpServer, tls_cert: TlsCert, tmp_path: Path
) -> None:
    paths = files(tmp_path, fake_fcm, tls_cert)
    # A valid file (validation would accept it), an absent one, another, a directory: the
    # same answer for each, so a tenant learns nothing about the server's files either.
    fcm_files = [paths["key"], paths["absent"], "/etc/passwd"]
    smtp_files = [paths["ca"], paths["absent"], "/etc/ssl/certs"]
    cases = [
        *[
            ("push", fcm(fake_fcm, service_account_file=str(f)), "service_account_file", "service_account_json")
            for f in fcm_files
        ],
        *[("email", smtp(fake_smtp, ca_file=str(f)), "ca_file", "ca_pem") for f in smtp_files],
    ]
    for channel, entry, field, inline in cases:
        resp = await set_channel(app, channel, as_tenant(entry))
        body = await resp.json()
        assert resp.status == 422, (entry, body)
        [error] = body["errors"]
        assert error == {
            "field": f"providers.0.config.{field}",
            "message": f"a tenant's set-up cannot name a file on the server; send the content inline in {inline}",
        }
    assert await app.rows("SELECT * FROM channel_providers") == []


async def test_the_inline_alternatives_are_taken_from_a_tenant(
    start_app: StartApp, fake_fcm: FakeFcm, start_fake_smtp: Any, tls_cert: TlsCert
) -> None:
    app = await start_app()
    server = await start_fake_smtp(security="starttls", cert=tls_cert)
    pem = tls_cert.cert_file.read_text()
    assert (await set_channel(app, "email", as_tenant(smtp(server, ca_pem=pem)))).status == 200
    key = fake_fcm.service_account_json()
    assert (await set_channel(app, "push", as_tenant(fcm(fake_fcm, service_account_json=key)))).status == 200
    await an_email_and_a_push_are_sent(app, server, fake_fcm)


@pytest.mark.parametrize(
    ("pem", "why"),
    [
        ("not a certificate", "expected PEM certificates"),
        ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "expected PEM certificates"),
        ("", "expected PEM certificates"),
        ("-----BEGIN CERTIFICATE-----\nü\n-----END CERTIFICATE-----\n", "expected PEM certificates"),
    ],
)
async def test_a_ca_pem_that_holds_no_certificate_is_refused_naming_it(
    app: Harness, fake_smtp: FakeSmtpServer, pem: str, why: str
) -> None:
    resp = await set_channel(app, "email", as_tenant(smtp(fake_smtp, ca_pem=pem)))
    assert resp.status == 422
    [error] = (await resp.json())["errors"]
    assert error["field"] == "providers.0.config.ca_pem" and why in error["message"]


async def test_the_operators_providers_may_still_name_server_files(
    start_app: StartApp, fake_fcm: FakeFcm, start_fake_smtp: Any, tls_cert: TlsCert, tmp_path: Path
) -> None:
    server = await start_fake_smtp(security="starttls", cert=tls_cert)
    paths = files(tmp_path, fake_fcm, tls_cert)
    providers = {
        "email": smtp(server, ca_file=str(paths["ca"])),
        "push": fcm(fake_fcm, service_account_file=str(paths["key"])),
    }
    app = await start_app(providers=providers)
    await an_email_and_a_push_are_sent(app, server, fake_fcm)


# -- any provider's path setting, found by its type


class FileSettings(ProviderSettings):
    key_file: FilePath | None = None
    spool: Path | None = None
    dirs: list[Path] = []
    name: str = "x"
    port: int = 1


class FileProvider(Provider):
    """A third-party provider that declares nothing about its path settings."""

    Settings = FileSettings
    channels = frozenset({"sms"})


def test_path_settings_are_found_by_type_with_their_inline_alternative() -> None:
    assert path_settings(FileSettings) == {"key_file": None, "spool": None, "dirs": None}
    assert path_settings(FcmSettings) == {"service_account_file": "service_account_json"}
    assert path_settings(SmtpSettings) == {"ca_file": "ca_pem"}
    assert path_settings(WebhookSettings) == {}


def channel_providers(tmp_path: Path) -> ChannelProviders:
    registry = ProviderRegistry({"files": FileProvider})
    context = ProviderContext(database=cast(Any, None))  # parse touches no database
    return ChannelProviders(make_config(tmp_path), registry, context, Sealer("test-secret"))


@pytest.mark.parametrize("setting", [{"spool": "/var/spool"}, {"dirs": ["/etc"]}, {"key_file": "/etc/hosts"}])
def test_a_third_party_providers_path_setting_is_refused_to_tenants_only(
    tmp_path: Path, setting: dict[str, Any]
) -> None:
    channels = channel_providers(tmp_path)
    [(name, _)] = setting.items()
    with pytest.raises(ProviderConfigError) as refused:
        channels.parse("sms", [{"type": "files", **setting}], "providers")
    assert refused.value.path == f"providers.0.{name}"
    assert refused.value.message == "a tenant's set-up cannot name a file on the server"
    [entry] = channels.parse("sms", [{"type": "files", **setting}], "providers.sms", trusted=True)
    assert entry.type_name == "files"
    [plain] = channels.parse("sms", [{"type": "files", "name": "y", "port": 2}], "providers")
    assert plain.settings.model_dump()["name"] == "y", "settings that name no path pass"


async def test_a_set_up_stored_before_the_rule_sends_nothing_until_set_again(
    start_app: StartApp, fake_smtp: FakeSmtpServer, tls_cert: TlsCert
) -> None:
    app = await start_app(queue={"max_attempts": 2, "backoff_base_seconds": 0.01, "backoff_max_seconds": 0.02})
    legacy = {"type": "smtp", "host": fake_smtp.host, "port": fake_smtp.port, "security": "none", "from_address": FROM}
    entries = app.svc.channels.parse("email", [{**legacy, "ca_file": str(tls_cert.cert_file)}], "old", trusted=True)
    stored = app.svc.channels.sealed(app.tenant_id, "email", entries)
    await app.svc.database.write(
        lambda conn: conn.execute(
            "INSERT INTO channel_providers (tenant_id, channel, providers, updated_at) VALUES (?, ?, ?, 0)",
            (app.tenant_id, "email", stored),
        )
    )
    nid = (await app.publish(MAIL))["notifications"][0]["id"]
    [delivery] = (await app.settled(nid))["deliveries"]
    assert delivery["status"] == "dead" and fake_smtp.messages == []
    assert "providers.0.ca_file: a tenant's set-up cannot name a file on the server" in delivery["reason"]
    shown = await app.call("GET", "/v1/channels/email")
    assert shown.status == 200, "the tenant can still see what it set"
    fixed = as_tenant({**legacy, "ca_pem": tls_cert.cert_file.read_text()})
    assert (await set_channel(app, "email", fixed)).status == 200
    nid = (await app.publish(MAIL))["notifications"][0]["id"]
    assert (await app.settled(nid))["deliveries"][0]["status"] == "sent" and len(fake_smtp.messages) == 1


async def an_email_and_a_push_are_sent(app: Harness, server: FakeSmtpServer, fake_fcm: FakeFcm) -> None:
    await app.call("PUT", "/v1/users/u1", "admin", {"push_tokens": ["phone"]})
    for body in (MAIL, PUSH):
        nid = (await app.publish(body))["notifications"][0]["id"]
        [delivery] = (await app.settled(nid))["deliveries"]
        assert delivery["status"] == "sent", delivery
    assert len(server.messages) == 1 and len(fake_fcm.messages) == 1
