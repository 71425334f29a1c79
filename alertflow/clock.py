"""The time source, injectable so tests can move time instead of waiting for it."""

from __future__ import annotations

import time


class Clock:
    def now(self) -> float:
        return time.time()
