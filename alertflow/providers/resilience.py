"""Protecting providers and ourselves: a circuit breaker and a send-rate token bucket."""

from __future__ import annotations

import time
from collections.abc import Callable

# Consecutive transient failures that open a provider's circuit, and how long it stays open
# before one trial send is let through: long enough for a restarting relay to come back,
# short enough that a recovered provider is used again within a minute.
CIRCUIT_FAILURES = 5
CIRCUIT_COOLDOWN_SECONDS = 30.0
# While the one trial send is out, the sends held back look again this soon: when it
# succeeds they follow within a second, instead of a whole cooldown later.
TRIAL_RECHECK_SECONDS = 1.0


class CircuitBreaker:
    """Skips a provider that keeps failing, so fail-over happens without waiting on it.

    Closed: every send goes. Open: none does, for the cooldown. Half-open: one trial send
    goes at a time; its result closes the circuit or opens it for another cooldown. A trial
    that never reports back (cancelled at shutdown) is given up after a cooldown.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.failures = 0
        self.opened_at: float | None = None
        self.trial_at: float | None = None

    def allow(self) -> bool:
        if self.opened_at is None:
            return True
        now = self.clock()
        if now - self.opened_at < CIRCUIT_COOLDOWN_SECONDS or self._trial_out(now):
            return False
        self.trial_at = now
        return True

    def wait(self) -> float:
        """Seconds until :meth:`allow` may say yes again (0 when it would now)."""
        if self.opened_at is None:
            return 0.0
        now = self.clock()
        if self._trial_out(now):
            assert self.trial_at is not None
            return min(TRIAL_RECHECK_SECONDS, self.trial_at + CIRCUIT_COOLDOWN_SECONDS - now)
        return max(0.0, self.opened_at + CIRCUIT_COOLDOWN_SECONDS - now)

    def succeeded(self) -> None:
        self.failures, self.opened_at, self.trial_at = 0, None, None

    def failed(self) -> None:
        self.failures += 1
        self.trial_at = None
        if self.failures >= CIRCUIT_FAILURES:
            self.opened_at = self.clock()

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half-open" if self.clock() - self.opened_at >= CIRCUIT_COOLDOWN_SECONDS else "open"

    def _trial_out(self, now: float) -> bool:
        return self.trial_at is not None and now - self.trial_at < CIRCUIT_COOLDOWN_SECONDS


class NoCircuit(CircuitBreaker):
    """For a provider whose sends go to many independent peers (status webhooks, an endpoint
    per tenant): one peer's failures say nothing of the others, so it never opens."""

    def failed(self) -> None:
        self.trial_at = None


class TokenBucket:
    """``rate`` tokens a second, up to ``burst``; ``reserve`` says how long to wait for one."""

    def __init__(self, rate: float, burst: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self.clock = clock
        self.tokens = self.burst
        self.updated = clock()

    def reserve(self) -> float:
        """Take a token (possibly going into debt); returns the seconds until it is really ours."""
        now = self.clock()
        # A wall clock stepped back must not take tokens away.
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.updated) * self.rate)
        self.updated = now
        self.tokens -= 1
        return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    def cancel(self) -> None:
        """Give back a reserved token that was not used."""
        self.tokens = min(self.burst, self.tokens + 1)
