"""``scripted``: a provider whose behaviour a test changes while the server runs.

Its settings name a JSON script file, re-read on every send, so a test can make a running
server's provider slow, flaky or down, then recover it:

    {"delay": 0.2,            # seconds each send takes
     "fail": "retry",         # "retry", "permanent", "rate_limited" or null
     "fail_first": 2,         # fail only each delivery's first N attempts
     "retry_after": 1.5}      # with "rate_limited"

and appends one JSON line per send to ``log_file``: {delivery_id, attempt, at, outcome}.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from alertflow.message import Message
from alertflow.outcomes import PermanentFailure, RateLimited, RetryLater, Sent
from alertflow.providers import Provider, ProviderSettings


class ScriptedSettings(ProviderSettings):
    script_file: str
    log_file: str


class ScriptedProvider(Provider):
    channels = frozenset({"email", "sms", "push", "inapp", "webhook"})
    device_kinds = frozenset({"fcm", "webpush"})
    Settings = ScriptedSettings
    description = "Test double: behaves as its script file says."

    def _script(self) -> dict[str, Any]:
        path = Path(self.settings.script_file)  # type: ignore[attr-defined]
        return json.loads(path.read_text()) if path.exists() else {}

    def _log(self, message: Message, outcome: str) -> None:
        entry = {
            "delivery_id": message.delivery_id,
            "notification_id": message.notification_id,
            "attempt": message.attempt,
            "at": time.time(),
            "outcome": outcome,
            "priority": message.priority,
            "content": message.content,
        }
        with open(self.settings.log_file, "a") as f:  # type: ignore[attr-defined]
            f.write(json.dumps(entry) + "\n")

    async def send(self, message: Message) -> Sent:
        script = self._script()
        if script.get("delay"):
            await asyncio.sleep(script["delay"])
        failing = script.get("fail") and message.attempt <= script.get("fail_first", 10**9)
        outcome = script["fail"] if failing else "sent"
        self._log(message, outcome)
        if outcome == "retry":
            raise RetryLater("scripted transient failure")
        if outcome == "permanent":
            raise PermanentFailure("scripted permanent failure")
        if outcome == "rate_limited":
            raise RateLimited("scripted rate limit", after=script.get("retry_after"))
        return Sent(provider_message_id=f"scripted-{message.delivery_id}")
