"""The built-in ``inbox`` provider: writes in-app messages as items of the user's inbox (inbox/items.py reads them)."""

from __future__ import annotations

import time

from ..ids import new_id
from ..message import Message
from ..outcomes import PermanentFailure, Sent
from ..storage import inbox_items
from .interface import Provider


class InboxProvider(Provider):
    channels = frozenset({"inapp"})
    description = "Stores in-app notifications in the user's inbox."

    async def send(self, message: Message) -> Sent:
        user_id = message.recipient.user_id
        if not user_id:
            raise PermanentFailure("no_contact:user_id: in-app messages need a user_id")
        c = message.content
        item = inbox_items.NewItem(
            id=new_id("inb"),
            tenant_id=message.tenant_id,
            user_id=user_id,
            delivery_id=message.delivery_id,
            notification_id=message.notification_id,
            title=c.get("title"),
            body=c.get("body"),
            action_url=c.get("action_url"),
            data=c.get("data") or {},
            category=message.category,
            created_at=time.time(),
            replace_key=message.replace_key,
        )
        await self.context.database.write(lambda tx: inbox_items.add(tx, item))
        return Sent(provider_message_id=item.id)
