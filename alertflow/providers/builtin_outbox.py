"""The built-in ``outbox`` provider: captures rendered messages for ``GET /v1/outbox``.

It is the default for email, sms and push until real providers are configured, so a new
install shows every delivery end to end without credentials.
"""

from __future__ import annotations

import dataclasses
import json
import time

from ..message import Message
from ..outcomes import Sent
from ..storage import outbox_messages
from .interface import Provider


class OutboxProvider(Provider):
    channels = frozenset({"email", "sms", "push"})
    device_kinds = frozenset({"fcm", "webpush"})
    description = "Captures messages instead of sending them (GET /v1/outbox)."

    async def send(self, message: Message) -> Sent:
        # Only the devices nest: dataclasses.asdict's deep copy of it all was a tenth of a send.
        recipient = json.dumps(
            {**vars(message.recipient), "devices": list(map(dataclasses.asdict, message.recipient.devices))}
        )
        content = json.dumps({**message.content, **({"headers": message.headers} if message.headers else {})})
        captured = outbox_messages.Captured(
            message.tenant_id,
            message.delivery_id,
            message.notification_id,
            message.channel,
            recipient,
            content,
            time.time(),
        )
        outbox_id = await self.context.database.write(lambda tx: outbox_messages.add(tx, captured))
        return Sent(provider_message_id=f"outbox-{outbox_id}")
