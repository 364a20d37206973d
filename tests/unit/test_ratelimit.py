"""The public endpoints' rate limit (issue #20 E): a token bucket per client, 503 + Retry-After past it."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from preservation.api import create_app
from preservation.api.ratelimit import TokenBuckets
from preservation.config import load_settings


def test_buckets_refill_at_the_rate_and_hold_a_burst() -> None:
    now = [100.0]
    buckets = TokenBuckets(rate=2.0, burst=3, clock=lambda: now[0])
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == 0.5  # empty: one token comes back in 1/rate seconds
    assert buckets.take("b") == 0.0  # another client has its own bucket
    now[0] += 0.5
    assert buckets.take("a") == 0.0
    now[0] += 100
    assert [buckets.take("a") for _ in range(4)] == [0.0, 0.0, 0.0, 0.5]  # refilled to the burst, no more


def test_oai_past_the_burst_is_503_with_retry_after_and_the_token_api_is_not_limited(tmp_path: Path) -> None:
    settings = load_settings({"KHO_HOME": str(tmp_path / "home"), "KHO_PUBLIC_RATE_PER_SECOND": "0.5",
                              "KHO_PUBLIC_RATE_BURST": "3"})
    with TestClient(create_app(settings, tokens={})) as client:
        answers = [client.get("/oai", params={"verb": "Identify"}) for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 503]
        assert answers[-1].headers["retry-after"] == "2" and "thử lại" in answers[-1].text
        assert client.get("/health").status_code == 200  # not a public OAI path: never held back here
