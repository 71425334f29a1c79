"""Failed authentications are counted per client address: past [limits] auth_failures the
address gets 429 with Retry-After for every credential, one warning is logged, and other
addresses carry on. X-Forwarded-For counts only from a [server] trusted_proxies peer."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from alertflow.api.middleware import forwarded_client
from alertflow.api.rate_limits import AuthFailureLimiter
from alertflow.config import LimitsConfig
from alertflow.errors import ApiError
from tests.conftest import FakeClock, Harness, StartApp
from tests.inbox_support import add_user, token_for

FAILURES, BLOCK = 5, 30
LIMITS = {"auth_failures": FAILURES, "auth_block_seconds": BLOCK}
METRICS_TOKEN = "scrape-me-7f3a"
ATTACKER, NEIGHBOUR = "198.51.100.7", "198.51.100.8"
WRONG_KEY = "af_0badc0de_wrongwrongwrongwrongwrongwrongwrong"

# --- the limiter itself, on a clock the test moves ------------------------------------------


def limiter(clock: FakeClock, capacity: int = 10_000, **limits: Any) -> AuthFailureLimiter:
    return AuthFailureLimiter(LimitsConfig(**{**LIMITS, **limits}), clock.now, capacity)


def blocked_for(limits: AuthFailureLimiter, address: str) -> int | None:
    """Retry-After while ``address`` is blocked, else None."""
    try:
        limits.check(address)
    except ApiError as exc:
        assert exc.status == 429
        return int(exc.headers["Retry-After"])
    return None


def test_an_address_is_blocked_at_its_failures_and_starts_afresh_after_the_block() -> None:
    clock = FakeClock(1_000.0)
    limits = limiter(clock)
    for _ in range(FAILURES - 1):
        limits.failed(ATTACKER, WRONG_KEY)
    assert blocked_for(limits, ATTACKER) is None
    limits.failed(ATTACKER, WRONG_KEY)
    assert blocked_for(limits, ATTACKER) == BLOCK
    assert blocked_for(limits, NEIGHBOUR) is None
    clock.t += BLOCK - 0.5
    assert blocked_for(limits, ATTACKER) == 1, "Retry-After rounds up: never an early retry"
    clock.t += 0.5
    assert blocked_for(limits, ATTACKER) is None
    for _ in range(FAILURES - 1):
        limits.failed(ATTACKER, WRONG_KEY)
    assert blocked_for(limits, ATTACKER) is None, "after a block the count starts from zero"


def test_failures_slower_than_the_limit_never_block() -> None:
    clock = FakeClock(1_000.0)
    limits = limiter(clock, auth_failure_window_seconds=60)
    for _ in range(200):  # one mistyped key every 12 s: exactly the rate that refills
        limits.failed(ATTACKER, WRONG_KEY)
        assert blocked_for(limits, ATTACKER) is None
        clock.t += 60 / FAILURES


def test_zero_failures_turns_the_limit_off_but_failures_are_still_counted() -> None:
    limits = limiter(FakeClock(1_000.0), auth_failures=0)
    for _ in range(1_000):
        limits.failed(ATTACKER, WRONG_KEY)
    assert blocked_for(limits, ATTACKER) is None and limits.failed_total == 1_000


def test_memory_is_bounded_by_forgetting_the_least_recently_failing_address() -> None:
    limits = limiter(FakeClock(1_000.0), capacity=3)
    for _ in range(FAILURES):
        limits.failed("192.0.2.1", WRONG_KEY)
    for i in (2, 3):
        limits.failed(f"192.0.2.{i}", WRONG_KEY)
    assert blocked_for(limits, "192.0.2.1") == BLOCK
    for i in range(4, 10_000):  # a spray from thousands of addresses
        limits.failed(str(ipaddress.ip_address("10.0.0.0") + i), WRONG_KEY)
    assert len(limits._tracked) == 3
    assert blocked_for(limits, "192.0.2.1") is None, "forgotten, not kept at the cost of memory"


def test_the_addresses_of_one_ipv6_host_count_together_and_other_hosts_do_not() -> None:
    limits = limiter(FakeClock(1_000.0))
    for i in range(FAILURES):  # a fresh address of the same /64 for every guess
        limits.failed(f"2001:db8:1:2::{i + 1:x}", WRONG_KEY)
    assert blocked_for(limits, "2001:db8:1:2:ffff::1") == BLOCK
    assert blocked_for(limits, "2001:db8:1:3::1") is None


# --- the client address ------------------------------------------------------------------------

PROXY = [ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("10.0.0.0/8")]


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "client"),
    [
        ("203.0.113.5", ["198.51.100.7"], "203.0.113.5"),  # not a proxy: its header is its own word
        ("127.0.0.1", [], "127.0.0.1"),  # a proxy that forwarded nothing
        ("127.0.0.1", ["198.51.100.7"], "198.51.100.7"),
        ("127.0.0.1", ["6.6.6.6, 198.51.100.7"], "198.51.100.7"),  # the client wrote 6.6.6.6 itself
        ("127.0.0.1", ["6.6.6.6", "198.51.100.7, 10.1.1.1"], "198.51.100.7"),  # two proxies, two headers
        ("127.0.0.1", ["10.2.2.2, 10.1.1.1"], "10.2.2.2"),  # proxies all the way
        ("127.0.0.1", ["nonsense, 10.1.1.1"], "10.1.1.1"),  # garbage: the last proxy is all we know
        ("127.0.0.1", [" 2001:db8::7 "], "2001:db8::7"),
        ("::ffff:127.0.0.1", ["198.51.100.7"], "198.51.100.7"),  # IPv4 on a dual-stack socket
        ("::ffff:203.0.113.5", [], "203.0.113.5"),
    ],
)
def test_x_forwarded_for_is_believed_only_from_trusted_proxies_and_read_from_the_right(
    peer: str, forwarded_for: list[str], client: str
) -> None:
    assert forwarded_client(peer, forwarded_for, PROXY) == client


def test_without_trusted_proxies_x_forwarded_for_is_ignored() -> None:
    assert forwarded_client("127.0.0.1", ["198.51.100.7"], []) == "127.0.0.1"


# --- over HTTP: every kind of credential ---------------------------------------------------------

Attempt = Callable[[str, str | None], Awaitable[tuple[int, dict[str, str]]]]


def as_from(address: str | None, headers: dict[str, str] | None = None) -> dict[str, str]:
    return {**(headers or {}), **({"X-Forwarded-For": address} if address else {})}


async def answer(resp: aiohttp.ClientResponse) -> tuple[int, dict[str, str]]:
    async with resp:
        if resp.status >= 400:
            assert resp.content_type == "application/problem+json"
        return resp.status, dict(resp.headers)


def by_header(app: Harness, path: str) -> Attempt:
    async def attempt(credential: str, address: str | None) -> tuple[int, dict[str, str]]:
        headers = as_from(address, {"Authorization": f"Bearer {credential}"})
        return await answer(await app.client.get(path, headers=headers))

    return attempt


def by_socket(app: Harness) -> Attempt:
    async def attempt(token: str, address: str | None) -> tuple[int, dict[str, str]]:
        try:
            ws = await app.client.ws_connect(f"/v1/inbox/ws?token={token}", headers=as_from(address))
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status, dict(exc.headers or {})
        await ws.close()
        return 101, {}

    return attempt


async def credentials(app: Harness, kind: str) -> tuple[Attempt, str, str]:
    """How to authenticate as ``kind``, a valid credential and a wrong one."""
    if kind == "api key":
        return by_header(app, "/v1/notifications"), app.keys["member"], WRONG_KEY
    if kind == "metrics token":
        return by_header(app, "/metrics"), METRICS_TOKEN, "scrape-me-0000"
    await add_user(app, "u1")
    wrong = (await token_for(app, "u1"))[:-4] + "AAAA"
    if kind == "inbox token":
        return by_header(app, "/v1/users/u1/inbox"), await token_for(app, "u1"), wrong
    return by_socket(app), await token_for(app, "u1"), wrong


KINDS = ["api key", "inbox token", "inbox socket token", "metrics token"]


async def forwarded_app(start_app: StartApp, clock: FakeClock, **limits: Any) -> Harness:
    return await start_app(
        clock=clock,
        server={"trusted_proxies": ["127.0.0.1"], "metrics_token": METRICS_TOKEN},
        limits={**LIMITS, **limits},
    )


@pytest.mark.parametrize("kind", KINDS)
async def test_past_the_threshold_an_address_gets_429_for_any_credential_and_other_addresses_do_not(
    start_app: StartApp, kind: str
) -> None:
    clock = FakeClock(1_000_000.0)
    app = await forwarded_app(start_app, clock)
    attempt, valid, wrong = await credentials(app, kind)
    ok = 101 if kind == "inbox socket token" else 200

    assert [(await attempt(wrong, ATTACKER))[0] for _ in range(FAILURES)] == [401] * FAILURES
    for credential in (wrong, valid):  # a right guess would show as 200: it must not
        status, headers = await attempt(credential, ATTACKER)
        assert status == 429 and headers["Retry-After"] == str(BLOCK)
    assert (await attempt(valid, NEIGHBOUR))[0] == ok, "another address is not affected"

    clock.t += BLOCK
    assert (await attempt(valid, ATTACKER))[0] == ok


async def test_three_hundred_wrong_keys_at_full_speed_meet_429_after_the_default_twenty_and_leave_nothing(
    start_app: StartApp,
) -> None:
    app = await start_app(clock=FakeClock(1_000_000.0))
    statuses = [
        (await answer(await app.client.get("/v1/notifications", headers={"Authorization": f"Bearer af_{i:08x}_x"})))[0]
        for i in range(300)
    ]
    assert statuses == [401] * 20 + [429] * 280
    assert len(app.svc.auth_cache) == 0, "made-up keys are not remembered"


async def test_without_trusted_proxies_a_forged_x_forwarded_for_does_not_escape_the_count(
    start_app: StartApp,
) -> None:
    app = await start_app(clock=FakeClock(1_000_000.0), limits=LIMITS)
    attempt = by_header(app, "/v1/notifications")
    for i in range(FAILURES):
        assert (await attempt(WRONG_KEY, f"203.0.113.{i}"))[0] == 401
    assert (await attempt(app.keys["member"], "203.0.113.200"))[0] == 429


async def test_behind_a_proxy_what_the_client_prepends_to_x_forwarded_for_does_not_escape_the_count(
    start_app: StartApp,
) -> None:
    app = await forwarded_app(start_app, FakeClock(1_000_000.0))
    attempt = by_header(app, "/v1/notifications")
    for i in range(FAILURES):
        assert (await attempt(WRONG_KEY, f"203.0.113.{i}, {ATTACKER}"))[0] == 401
    assert (await attempt(app.keys["member"], f"203.0.113.200, {ATTACKER}"))[0] == 429
    assert (await attempt(app.keys["member"], f"{ATTACKER}, {NEIGHBOUR}"))[0] == 200


async def test_a_valid_key_between_guesses_does_not_reset_the_count(start_app: StartApp) -> None:
    app = await forwarded_app(start_app, FakeClock(1_000_000.0))
    attempt = by_header(app, "/v1/notifications")
    for i in range(1, FAILURES + 1):  # a tenant with a key of its own, guessing another's
        assert (await attempt(WRONG_KEY, ATTACKER))[0] == 401
        assert (await attempt(app.keys["member"], ATTACKER))[0] == (200 if i < FAILURES else 429)


async def test_missing_credentials_and_expired_inbox_tokens_are_not_counted(start_app: StartApp) -> None:
    clock = FakeClock(1_000_000.0)
    app = await forwarded_app(start_app, clock)
    await add_user(app, "u1")
    expired = await token_for(app, "u1")
    clock.t += app.svc.config.inbox.token_ttl_seconds + 1
    for _ in range(3 * FAILURES):
        assert (await answer(await app.client.get("/v1/notifications", headers=as_from(ATTACKER))))[0] == 401
        assert (await by_header(app, "/v1/users/u1/inbox")(expired, ATTACKER))[0] == 401
        assert (await answer(await app.client.get("/metrics", headers=as_from(ATTACKER))))[0] == 401
    assert (await by_header(app, "/v1/notifications")(app.keys["member"], ATTACKER))[0] == 200


async def test_each_block_logs_one_warning_with_the_address_and_the_key_prefix_never_the_key(
    start_app: StartApp, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(1_000_000.0)
    app = await forwarded_app(start_app, clock)
    attempt = by_header(app, "/v1/notifications")
    caplog.set_level(logging.INFO)
    for _ in range(FAILURES + 50):
        await attempt(WRONG_KEY, ATTACKER)
    [warning] = [r for r in caplog.records if r.name == "alertflow.auth"]
    assert warning.levelno == logging.WARNING
    assert warning.__dict__["client_address"] == ATTACKER and warning.__dict__["key_prefix"] == "af_0badc0de"
    assert ATTACKER in warning.getMessage() and "af_0badc0de" in warning.getMessage()
    assert not any("wrongwrong" in r.getMessage() or "wrongwrong" in str(r.__dict__) for r in caplog.records)

    clock.t += BLOCK
    for _ in range(FAILURES + 50):
        await attempt('<"script>\tforged', ATTACKER)
    second = [r for r in caplog.records if r.name == "alertflow.auth"][1:]
    assert [r.__dict__["key_prefix"] for r in second] == ["??sc"], "one more block, one more line"


async def test_metrics_count_failed_authentications_and_blocks(start_app: StartApp) -> None:
    app = await forwarded_app(start_app, FakeClock(1_000_000.0))
    for _ in range(FAILURES + 3):
        await by_header(app, "/v1/notifications")(WRONG_KEY, ATTACKER)
    status, _ = await by_header(app, "/metrics")(METRICS_TOKEN, NEIGHBOUR)
    text = await (await app.client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})).text()
    assert status == 200
    assert f"alertflow_auth_failures_total {FAILURES}" in text, "blocked attempts are refused unchecked"
    assert "alertflow_auth_blocks_total 1" in text
