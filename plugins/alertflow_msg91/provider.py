"""The ``msg91`` provider: SMS through MSG91's Flow API.

Wire format: ``POST {api_base_url}/api/v5/flow/`` with header ``authkey`` and a JSON body
``{"template_id": <flow_id>, "sender": <sender_id>, "recipients": [{"mobiles": "<digits>",
"<body_variable>": "<text>"}]}``. MSG91 replies ``{"type": "success", "message": "<request
id>"}`` or ``{"type": "error", "message": "..."}`` - often with HTTP 200 for errors too.

In India every SMS must match a DLT-registered template; MSG91 binds the DLT template and
entity ids to the flow in its panel, so the rendered text travels as one flow variable
(``##body##`` by default) and no DLT id is needed here.

Outcomes: HTTP 429 is rate limiting, 401, 5xx and transport errors are transient, an error
reply (invalid number, unknown flow, no balance) is permanent.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from alertflow.message import Message
from alertflow.outcomes import PermanentFailure, Sent
from alertflow.providers import Provider, ProviderContext, ProviderSettings
from alertflow_provider_kit import OwnedSession, json_object, outcome_for_status, post

DEFAULT_API_BASE_URL = "https://control.msg91.com"
FLOW_PATH = "/api/v5/flow/"
# Seconds per request; MSG91 acknowledges (queues) a flow request quickly.
REQUEST_TIMEOUT_SECONDS = 15.0


class Msg91Settings(ProviderSettings):
    """Settings of the ``msg91`` provider (CONTRACT §3)."""

    auth_key: str = Field(min_length=1)
    sender_id: str = Field(min_length=1)
    flow_id: str = Field(min_length=1, description="the MSG91 flow (template) id")
    api_base_url: str = DEFAULT_API_BASE_URL
    body_variable: str = Field(
        default="body", min_length=1, description="the flow variable that receives the text"
    )
    # India's DLT rules: a template registered on the DLT portal. MSG91 can hold it on the
    # flow; set it here when the account sends through flows without one (sent as DLT_TE_ID).
    dlt_template_id: str | None = Field(default=None, pattern=r"^\d{10,25}$")


class Msg91Provider(Provider):
    """SMS through MSG91 flows."""

    type_name = "msg91"
    Settings = Msg91Settings
    channels = frozenset({"sms"})
    secret_fields = frozenset({"auth_key"})
    url_fields = frozenset({"api_base_url"})
    description = "SMS through MSG91 flows (DLT-registered templates for India)."

    settings: Msg91Settings

    def __init__(self, settings: Msg91Settings, context: ProviderContext) -> None:
        super().__init__(settings, context)
        self._session = OwnedSession(context)
        self._url = settings.api_base_url.rstrip("/") + FLOW_PATH

    async def send(self, message: Message) -> Sent:
        # MSG91 wants the international number as digits only: "+91 98765-43210" -> "919876543210".
        mobiles = "".join(ch for ch in message.recipient.phone or "" if ch.isdigit())
        if not mobiles:
            raise PermanentFailure("no phone number")
        reply = await post(
            self._session.get(),
            self._url,
            what="msg91",
            timeout=REQUEST_TIMEOUT_SECONDS,
            json=self._body(message, mobiles),
            headers={"authkey": self.settings.auth_key, "accept": "application/json"},
        )
        answer = json_object(reply.text)
        detail = answer.get("message") or reply.text[:200]
        if not reply.ok:
            raise outcome_for_status(
                reply.status, f"msg91 {reply.status}: {detail}", reply.retry_after
            )
        if answer.get("type") != "success":
            raise PermanentFailure(f"msg91: {detail}")
        return Sent(provider_message_id=str(answer.get("message") or "") or None)

    async def close(self) -> None:
        await self._session.close()

    def _body(self, message: Message, mobiles: str) -> dict[str, Any]:
        recipient = {
            "mobiles": mobiles,
            self.settings.body_variable: str(message.content.get("body") or ""),
        }
        body: dict[str, Any] = {
            "template_id": self.settings.flow_id,
            "sender": self.settings.sender_id,
            "recipients": [recipient],
        }
        if self.settings.dlt_template_id:
            body["DLT_TE_ID"] = self.settings.dlt_template_id
        return body
