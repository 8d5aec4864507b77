"""The per-client rate limit: a token bucket per client address (queries per minute + a burst).

>>> bucket = RateLimiter(per_minute=60, burst=2)
>>> [bucket.take("a", now=0.0) for _ in range(3)]
[0.0, 0.0, 1.0]
>>> bucket.take("a", now=1.0), bucket.take("b", now=1.0)
(0.0, 0.0)
"""

from __future__ import annotations

import math
import time

from fastapi import Request

from kg.config import Settings


class RateLimiter:
    """Token buckets keyed by client; ``take`` returns 0 when allowed, else seconds to wait."""

    def __init__(self, per_minute: float, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = max(1, burst)
        self._buckets: dict[str, tuple[float, float]] = {}  # client → (tokens, last refill)

    def take(self, client: str, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.get(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._buckets[client] = (tokens - 1.0, now)
            return 0.0
        self._buckets[client] = (tokens, now)
        if len(self._buckets) > 100_000:  # forget idle clients rather than grow without bound
            self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 3600}
        return (1.0 - tokens) / self.rate


def check_rate(request: Request, settings: Settings) -> None:
    """Raise the protocol's 429 error (with ``Retry-After``) when the client is over its rate."""
    from api.sparql import ProtocolError

    if settings.rate_limit <= 0:
        return
    limiter = getattr(request.app.state, "rate_limiter", None)
    if limiter is None:
        limiter = request.app.state.rate_limiter = RateLimiter(settings.rate_limit, settings.rate_burst)
    client = request.client.host if request.client else "unknown"
    wait = limiter.take(client)
    if wait > 0:
        raise ProtocolError(
            429,
            "rate-limit",
            f"more than {settings.rate_limit:g} queries per minute (burst {settings.rate_burst}) from "
            f"this client: retry in {math.ceil(wait)} s",
            {"Retry-After": str(math.ceil(wait))},
        )
