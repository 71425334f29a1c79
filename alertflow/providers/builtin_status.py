"""The built-in ``status_webhooks`` provider: sends status events (delivery/status_events.py)
to tenants' webhook endpoints, signed per Standard Webhooks (delivery/status_sending.py).

It serves the internal ``status`` channel, so each event is a queued delivery like any
message and the worker pool, leases, retries, backoff and dead-letter queue apply as they are.
Endpoints are tenant data: it connects through the guarded session (``recipient_endpoints``).
"""

from __future__ import annotations

from ..delivery import status_sending
from ..message import STATUS_CHANNEL, Message
from ..outcomes import DeliveryError, PermanentFailure, Sent
from ..storage import webhook_endpoints
from .interface import Provider


class StatusWebhookProvider(Provider):
    channels = frozenset({STATUS_CHANNEL})
    recipient_endpoints = True
    # Each event goes to its own tenant's endpoint: one failing receiver says nothing of the
    # others, so its failures must not open a circuit that holds back everyone's events.
    shared_health = False
    description = "Status webhooks (POST /v1/webhooks), signed per the Standard Webhooks specification."

    async def send(self, message: Message) -> Sent:
        content = message.content
        database = self.context.database
        endpoint = await webhook_endpoints.get(database, message.tenant_id, content["endpoint_id"])
        if endpoint is None:
            raise PermanentFailure("the webhook endpoint was deleted")
        if endpoint.disabled_at is not None:
            raise PermanentFailure(f"the webhook endpoint is disabled: {endpoint.disabled_reason}")
        sending: status_sending.Sending = self.context.extras[status_sending.EXTRAS_KEY]
        if self.context.http is None:
            raise RuntimeError("no HTTP session: the server has not started its providers")
        result = await status_sending.send(
            self.context.http, database, sending, endpoint, content["event_id"], content["event"]
        )
        if isinstance(result.outcome, DeliveryError):
            raise result.outcome
        return result.outcome
