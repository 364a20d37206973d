"""Rate limits for the endpoints anyone may call (issue #20 E): OAI-PMH today, the reading room next.

Why: the public side needs no token, so one client (a misbehaving harvester, a scraper) could keep the
catalog busy for everyone. Each client address gets a token bucket: ``rate`` requests a second on average,
bursts of ``burst``. Past it the answer is HTTP 503 with ``Retry-After``, which is what OAI-PMH asks of a
busy repository (a harvester waits and retries) — and it comes before any route runs, so no query is made.
Authenticated routes (the JSON API) are not limited here: a token identifies who to talk to.

In-process and per server process: enough for one ``kho serve``; several servers behind a proxy want the
proxy's own limits as well.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

MAX_CLIENTS = 10_000  # buckets kept; the least recently seen are forgotten (a full bucket is the default anyway)


class TokenBuckets:
    """One bucket per key; ``take(key)`` is 0.0 when a request may go on, else the seconds to wait."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.pop(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            wait = 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate
            if not wait:
                tokens -= 1.0
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > MAX_CLIENTS:
                self._buckets.popitem(last=False)
            return wait


class PublicRateLimit:
    """ASGI middleware: requests to ``prefixes`` beyond a client's bucket get 503 + ``Retry-After``."""

    def __init__(self, app: Any, *, prefixes: tuple[str, ...], rate: float, burst: int) -> None:
        self.app = app
        self.prefixes = prefixes
        self.buckets = TokenBuckets(rate, burst)

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Any], send: Callable[[Any], Any]) -> None:
        if scope["type"] != "http" or self.buckets.rate <= 0 or not scope["path"].startswith(self.prefixes):
            await self.app(scope, receive, send)
            return
        client = scope.get("client") or ("unknown", 0)
        wait = self.buckets.take(str(client[0]))
        if not wait:
            await self.app(scope, receive, send)
            return
        body = ("Too many requests: retry after the time given / quá nhiều yêu cầu, vui lòng thử lại sau\n").encode()
        await send({"type": "http.response.start", "status": 503,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                (b"retry-after", str(max(1, math.ceil(wait))).encode()),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
