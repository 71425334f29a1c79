"""The ``twilio`` provider: SMS through the official Twilio SDK.

The SDK's synchronous client runs in a worker thread (``asyncio.to_thread``). Its async
client was the alternative, but it ignores its ``timeout`` (a hung request would hold a
worker forever) and opens an aiohttp session of its own; the sync client honours the timeout
and pools connections through ``requests``.

Outcomes: HTTP 429 is rate limiting (with Twilio's Retry-After), 401 and 5xx and transport
errors are transient, any other 4xx (21211 "invalid To", 21610 "unsubscribed", ...) is
permanent. Delivery receipts arrive as signed status callbacks (:meth:`parse_receipt`).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, cast

import requests
from pydantic import Field, model_validator
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from alertflow.message import Message
from alertflow.outcomes import (
    InvalidReceipt,
    PermanentFailure,
    RateLimited,
    Receipt,
    RetryLater,
    Sent,
)
from alertflow.providers import Provider, ProviderContext, ProviderSettings
from alertflow.providers.netguard import OutboundGuard
from alertflow_provider_kit import (
    failure_text,
    guarded_session,
    outcome_for_status,
    retry_after_seconds,
)

if TYPE_CHECKING:
    from aiohttp import web

DEFAULT_API_BASE_URL = "https://api.twilio.com"
# Seconds per API request; Twilio answers in well under a second when healthy.
REQUEST_TIMEOUT_SECONDS = 15.0
# Receipt statuses that carry Twilio's ErrorCode (the reason the message did not arrive).
FAILED_STATUSES = frozenset({"undelivered", "failed"})


class TwilioSettings(ProviderSettings):
    """Settings of the ``twilio`` provider (CONTRACT §3): one of ``from_number`` or
    ``messaging_service_sid`` names the sender."""

    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$")
    auth_token: str = Field(min_length=1)
    from_number: str | None = None
    messaging_service_sid: str | None = Field(default=None, pattern=r"^MG[0-9a-fA-F]{32}$")
    api_base_url: str = DEFAULT_API_BASE_URL

    @model_validator(mode="after")
    def _exactly_one_sender(self) -> TwilioSettings:
        if (self.from_number is None) == (self.messaging_service_sid is None):
            raise ValueError("set exactly one of from_number and messaging_service_sid")
        return self


class TwilioProvider(Provider):
    """SMS through Twilio; receipts through Twilio's status callbacks."""

    type_name = "twilio"
    Settings = TwilioSettings
    channels = frozenset({"sms"})
    secret_fields = frozenset({"auth_token"})
    url_fields = frozenset({"api_base_url"})
    description = "SMS through Twilio (status callbacks give delivery receipts)."

    settings: TwilioSettings

    def __init__(self, settings: TwilioSettings, context: ProviderContext) -> None:
        super().__init__(settings, context)
        self._http = _HttpClient(context.guard)
        # environment={}: TWILIO_REGION / TWILIO_EDGE in the server's environment must not
        # silently reroute a tenant's traffic.
        self._client = Client(
            settings.account_sid, settings.auth_token, environment={}, http_client=self._http
        )
        self._client.api.base_url = settings.api_base_url.rstrip("/")

    async def send(self, message: Message) -> Sent:
        phone = message.recipient.phone
        if not phone:
            raise PermanentFailure("no phone number")
        params = self._create_params(message, phone)
        try:
            created = await asyncio.to_thread(self._client.messages.create, **params)
        except (TwilioRestException, TwilioServiceException) as exc:
            raise outcome_for_status(int(exc.status), _describe(exc)) from exc
        except requests.RequestException as exc:
            raise RetryLater(f"twilio: {failure_text(exc)}") from exc
        return Sent(provider_message_id=created.sid)

    async def close(self) -> None:
        if self._http.session is not None:
            self._http.session.close()

    def _create_params(self, message: Message, phone: str) -> dict[str, Any]:
        s = self.settings
        params: dict[str, Any] = {"to": phone, "body": str(message.content.get("body") or "")}
        if s.messaging_service_sid:
            params["messaging_service_sid"] = s.messaging_service_sid
        else:
            params["from_"] = s.from_number
        callback = self.receipt_url(message)
        if callback:
            params["status_callback"] = callback
        return params

    @classmethod
    async def parse_receipt(cls, request: web.Request, settings: ProviderSettings) -> Receipt:
        """Verify Twilio's ``X-Twilio-Signature`` and read the message status.

        The signature covers the URL Twilio posted to: behind a reverse proxy the core must
        hand over a request whose ``url`` is the public one (``request.clone(scheme=, host=)``).
        """
        form = await request.post()
        validator = RequestValidator(cast(TwilioSettings, settings).auth_token)
        signature = request.headers.get("X-Twilio-Signature", "")
        if not validator.validate(str(request.url), form, signature):
            raise InvalidReceipt("X-Twilio-Signature does not match")
        sid = str(form.get("MessageSid") or "")
        if not sid:
            raise InvalidReceipt("no MessageSid")  # the core checks it is this delivery's message
        status = str(form.get("MessageStatus", ""))
        error = (str(form.get("ErrorCode") or "") or None) if status in FAILED_STATUSES else None
        return Receipt(status, error=error, provider_message_id=sid)


class _HttpClient(TwilioHttpClient):
    """Twilio's HTTP client, connecting only where the guard allows, and raising on 429 while
    the reply's Retry-After is still at hand (the SDK's exceptions drop the response headers)."""

    def __init__(self, guard: OutboundGuard) -> None:
        super().__init__(timeout=REQUEST_TIMEOUT_SECONDS)
        self.session = guarded_session(guard)

    def request(self, *args: Any, **kwargs: Any) -> Response:
        response = super().request(*args, **kwargs)
        if response.status_code == 429:
            raise RateLimited(
                f"twilio 429: {response.text}",
                after=retry_after_seconds(response.headers.get("Retry-After")),
            )
        return response


def _describe(exc: TwilioRestException | TwilioServiceException) -> str:
    if isinstance(exc, TwilioServiceException):
        return f"twilio {exc.status} ({exc.code}): {exc.title} {exc.detail or ''}".rstrip()
    return f"twilio {exc.status} ({exc.code}): {exc.msg}"
