"""The built-in ``inbox`` provider: writes in-app messages as items of the user's inbox (inbox/items.py reads them)."""

from __future__ import annotations

import json
import time

from ..ids import new_id
from ..message import Message
from ..outcomes import PermanentFailure, Sent
from .interface import Provider


class InboxProvider(Provider):
    channels = frozenset({"inapp"})
    description = "Stores in-app notifications in the user's inbox."

    async def send(self, message: Message) -> Sent:
        user_id = message.recipient.user_id
        if not user_id:
            raise PermanentFailure("no_contact:user_id: in-app messages need a user_id")
        c = message.content
        item_id = new_id("inb")
        row = (
            item_id,
            message.tenant_id,
            user_id,
            message.delivery_id,
            message.notification_id,
            c.get("title"),
            c.get("body"),
            c.get("action_url"),
            json.dumps(c.get("data") or {}),
            message.category,
            time.time(),
        )
        await self.context.database.write(
            lambda conn: conn.execute(
                "INSERT INTO inbox (id, tenant_id, user_id, delivery_id, notification_id, title, body,"
                " action_url, data, category, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                row,
            )
        )
        return Sent(provider_message_id=item_id)
