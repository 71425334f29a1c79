"""Per-tenant publish rate: a token bucket, and 429 with Retry-After over it."""

from __future__ import annotations

from alertflow.api.rate_limits import PublishLimiter
from alertflow.config import LimitsConfig
from alertflow.coordination import InProcessCoordinator
from alertflow.providers.resilience import TokenBucket
from tests.conftest import EMAIL, FakeClock, StartApp, add_tenant

ONE = {"to": {"email": "a@example.com"}, "content": EMAIL}


def test_a_bucket_refills_at_its_rate_up_to_its_burst_and_a_refusal_costs_nothing() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=2.0, burst=3.0, clock=lambda: now[0])
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.reserve() == 0.5  # half a second to the next token at 2/s
    bucket.cancel()  # refused: the token goes back
    now[0] = 0.5
    assert bucket.reserve() == 0.0
    now[0] = 100.0
    assert bucket.reserve() == 0.0 and bucket.tokens == 2.0  # refilled, but only to the burst
    now[0] = 50.0  # the wall clock stepped back
    assert bucket.reserve() == 0.0 and bucket.tokens == 1.0


async def test_no_rate_means_no_limit() -> None:
    limiter = PublishLimiter(LimitsConfig(), InProcessCoordinator(clock=lambda: 0.0))
    for _ in range(10_000):
        await limiter.check("t1")


async def test_over_the_rate_a_tenant_gets_429_with_retry_after_and_others_do_not(start_app: StartApp) -> None:
    clock = FakeClock(1_000_000.0)
    app = await start_app(clock=clock, limits={"publish_per_second": 0.5, "publish_burst": 2})
    for _ in range(2):
        await app.publish(ONE)
    refused = await app.call("POST", "/v1/notifications/publish", body=ONE)
    assert refused.status == 429
    assert refused.headers["Retry-After"] == "2"  # one token at 0.5/s
    assert refused.content_type == "application/problem+json"
    assert (await refused.json())["type"] == "/docs#problem-rate-limited"

    _, other_keys = await add_tenant(app.svc, "other")
    other = await app.client.post(
        "/v1/notifications/publish", json=ONE, headers={"Authorization": f"Bearer {other_keys['member']}"}
    )
    assert other.status == 202, "one tenant's limit is not another's"

    clock.t += 1.0
    assert (await app.call("POST", "/v1/notifications/publish", body=ONE)).status == 429
    clock.t += 1.0
    await app.publish(ONE)


async def test_a_bulk_request_counts_as_one_request_whatever_its_size(start_app: StartApp) -> None:
    app = await start_app(clock=FakeClock(1_000_000.0), limits={"publish_per_second": 1, "publish_burst": 2})
    big = {"to": [{"email": f"u{i}@example.com"} for i in range(500)], "content": EMAIL}
    assert (await app.call("POST", "/v1/notifications/bulk", body=big)).status == 202
    await app.publish(ONE)
    refused = await app.call("POST", "/v1/notifications/bulk", body=big)
    assert refused.status == 429 and refused.headers["Retry-After"] == "1"
