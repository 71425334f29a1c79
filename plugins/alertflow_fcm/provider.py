"""The ``fcm`` provider: one FCM HTTP v1 send per registration token of the recipient.

pyfcm is synchronous (``requests``), so each send runs in a worker thread. Outcomes per
token: 200 is sent; UNREGISTERED (404) and a 400 that names ``message.token`` mean the app
was uninstalled or the token is garbage, so the token is pruned; 429 is rate limiting with
FCM's Retry-After; 401, 5xx, token-endpoint and transport failures are retried; any other
4xx is permanent. See :func:`alertflow.outcomes.combine_device_outcomes` for the
delivery's outcome.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import requests
from pydantic import Field, model_validator
from pyfcm.errors import InvalidDataError

from alertflow.message import Device, Message
from alertflow.outcomes import (
    DeliveryError,
    PermanentFailure,
    RetryLater,
    Sent,
    combine_device_outcomes,
)
from alertflow.providers import Provider, ProviderContext, ProviderSettings
from alertflow_provider_kit import failure_text, outcome_for_status

from .client import FcmClient, FcmReplyError

DEFAULT_ENDPOINT = "https://fcm.googleapis.com"
REQUEST_TIMEOUT_SECONDS = 10.0
# What google-auth needs to run the service-account (JWT bearer) flow.
SERVICE_ACCOUNT_KEYS = ("client_email", "private_key", "token_uri")
# Android delivery priority / APNs priority by notification priority.
ANDROID_PRIORITY = {"high": "high"}
APNS_PRIORITY = {"high": "10"}
# apns-collapse-id's limit (Apple: "must not exceed 64 bytes").
APNS_COLLAPSE_ID_BYTES = 64


class FcmSettings(ProviderSettings):
    """Settings of the ``fcm`` provider (CONTRACT §3): one of ``service_account_file`` or
    ``service_account_json``; ``project_id`` defaults to the service account's."""

    project_id: str | None = None
    # A file on the server: the operator's alertflow.toml only; a tenant sends the JSON inline.
    service_account_file: Path | None = Field(
        default=None, json_schema_extra={"inline_alternative": "service_account_json"}
    )
    service_account_json: str | None = None
    endpoint: str = DEFAULT_ENDPOINT

    @model_validator(mode="after")
    def _one_readable_service_account(self) -> FcmSettings:
        if (self.service_account_file is None) == (self.service_account_json is None):
            raise ValueError("set exactly one of service_account_file and service_account_json")
        info = self.service_account_info()  # raises ValueError naming the problem
        if not (self.project_id or info.get("project_id")):
            raise ValueError("project_id is not set and the service account names none")
        return self

    def service_account_info(self) -> dict[str, Any]:
        """The service-account key as a dict, checked to be one."""
        try:
            text = (
                self.service_account_file.read_text("utf-8")
                if self.service_account_file is not None
                else self.service_account_json or ""
            )
            info = json.loads(text)
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read the service account key: {exc}") from exc
        if not isinstance(info, dict) or info.get("type") != "service_account":
            raise ValueError('expected a service account key (JSON with "type": "service_account")')
        missing = [k for k in SERVICE_ACCOUNT_KEYS if not info.get(k)]
        if missing:
            raise ValueError(f"the service account key lacks {', '.join(missing)}")
        return info


class FcmProvider(Provider):
    """Firebase Cloud Messaging to the recipient's FCM registration tokens."""

    type_name = "fcm"
    Settings = FcmSettings
    channels = frozenset({"push"})
    device_kinds = frozenset({"fcm"})
    secret_fields = frozenset({"service_account_json"})
    url_fields = frozenset({"endpoint"})
    description = "Push to Android, iOS and web apps through Firebase Cloud Messaging."

    settings: FcmSettings

    def __init__(self, settings: FcmSettings, context: ProviderContext) -> None:
        super().__init__(settings, context)
        info = settings.service_account_info()
        project_id = settings.project_id or str(info["project_id"])
        # One client per provider: it caches the OAuth token and the HTTP connections.
        self._client = FcmClient(info, project_id, settings.endpoint, context.guard)

    @classmethod
    def outbound_hosts(cls, settings: ProviderSettings) -> dict[str, str]:
        """The endpoint, and the token endpoint the service account key names."""
        s = cast(FcmSettings, settings)
        key_field = (
            "service_account_file" if s.service_account_file is not None else "service_account_json"
        )
        token_host = urlsplit(str(s.service_account_info()["token_uri"])).hostname or ""
        return {**super().outbound_hosts(settings), key_field: token_host}

    async def send(self, message: Message) -> Sent:
        devices = [d for d in message.recipient.devices if d.kind == "fcm" and d.token]
        if not devices:
            raise PermanentFailure("no FCM registration token")
        params = _notify_params(message)
        outcomes = await asyncio.gather(*(self._notify(d, params) for d in devices))
        return combine_device_outcomes(outcomes)

    async def close(self) -> None:
        self._client.close()

    async def _notify(self, device: Device, params: dict[str, Any]) -> Sent | DeliveryError:
        try:
            reply = await asyncio.to_thread(
                self._client.notify,
                fcm_token=device.token,
                timeout=REQUEST_TIMEOUT_SECONDS,
                **params,
            )
        except FcmReplyError as exc:
            return _failure(device, exc)
        except InvalidDataError as exc:  # pyfcm wraps a failed OAuth token fetch in this
            return RetryLater(f"fcm: cannot get an access token: {failure_text(exc)}")
        except requests.RequestException as exc:
            return RetryLater(f"fcm: {failure_text(exc)}")
        return Sent(provider_message_id=reply.get("name"))


def _failure(device: Device, exc: FcmReplyError) -> DeliveryError:
    if exc.status == 404 or exc.error_code == "UNREGISTERED":
        return PermanentFailure(f"fcm: token unregistered: {exc.message}", pruned=(device,))
    if exc.status == 400 and "message.token" in exc.bad_fields:
        return PermanentFailure(f"fcm: invalid token: {exc.message}", pruned=(device,))
    return outcome_for_status(exc.status, str(exc), exc.retry_after)


def _notify_params(message: Message) -> dict[str, Any]:
    content = message.content
    data = content.get("data") or {}
    android: dict[str, Any] = {"priority": ANDROID_PRIORITY.get(message.priority, "normal")}
    apns_headers = {"apns-priority": APNS_PRIORITY.get(message.priority, "5")}
    if message.replace_key is not None:
        # A later push with the same key replaces this one on the device instead of stacking.
        android["collapse_key"] = message.replace_key
        apns_headers["apns-collapse-id"] = collapse_id(message.replace_key)
    return {
        "notification_title": content.get("title"),
        "notification_body": content.get("body"),
        # FCM requires every data value to be a string.
        "data_payload": {
            str(k): v if isinstance(v, str) else json.dumps(v) for k, v in data.items()
        },
        "android_config": android,
        "apns_config": {"headers": apns_headers},
    }


def collapse_id(key: str) -> str:
    """APNs takes a collapse id of at most 64 bytes: a longer key is shortened to its hash."""
    if len(key.encode()) <= APNS_COLLAPSE_ID_BYTES:
        return key
    return hashlib.sha256(key.encode()).hexdigest()
