"""A complete third-party AlertFlow provider: each SMS becomes a JSON line in a file."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from alertflow.message import Message
from alertflow.outcomes import PermanentFailure, Sent
from alertflow.providers import Provider, ProviderSettings


class SampleSettings(ProviderSettings):
    path: Path


class SampleProvider(Provider):
    """Appends ``{"delivery_id", "to", "body"}`` to ``path`` for every message."""

    Settings = SampleSettings
    channels = frozenset({"sms"})
    description = "Writes each SMS as a JSON line to a file (a plugin example)."

    settings: SampleSettings

    async def send(self, message: Message) -> Sent:
        if not message.recipient.phone:
            raise PermanentFailure("no phone number")
        line = json.dumps(
            {
                "delivery_id": message.delivery_id,
                "to": message.recipient.phone,
                "body": message.content.get("body"),
            }
        )
        # File I/O blocks: keep it off the event loop the other deliveries share.
        await asyncio.to_thread(_append_line, self.settings.path, line)
        return Sent(provider_message_id=message.delivery_id)


def _append_line(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as file:
        file.write(line + "\n")
