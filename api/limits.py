"""Limits on what clients may ask: admission control and request sizes for every request, and the
per-client query rate of ``/sparql`` and ``/queries``.

- :class:`RequestLimits` (ASGI middleware, outermost but for CORS): a request line longer than
  ``MAX_URL_BYTES`` is refused with 414, headers beyond ``MAX_HEADER_BYTES`` (one, or all together)
  with 431, a body beyond ``Settings.max_body_bytes`` with 413 (declared or streamed); and at most
  ``Settings.max_inflight`` requests are served at once: the next ones get **503 + Retry-After**
  at once, instead of waiting in an unbounded queue (a query waits at most for the query timeout
  for a worker; under a flood every one of them would). ``/health`` and static files are exempt
  from the bound so that a supervisor still sees the process alive under load.
- :class:`RateLimiter`: a token bucket per client address (queries per minute + a burst). The
  address is the peer's, or ``X-Forwarded-For``'s when the peer is a trusted proxy (uvicorn's
  ``--forwarded-allow-ips``, loopback by default): behind a reverse proxy each end client has
  its own bucket.

>>> bucket = RateLimiter(per_minute=60, burst=2)
>>> [bucket.take("a", now=0.0) for _ in range(3)]
[0.0, 0.0, 1.0]
>>> bucket.take("a", now=1.0), bucket.take("b", now=1.0)
(0.0, 0.0)
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import Request

from kg.config import Settings

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

# SPARQL lexing, enough to find the SERVICE keyword: what to skip (strings, IRIs, comments), the
# keyword itself (not a variable, prefix or local name), and runs of anything else.
_SKIP = (
    r'"""(?:[^"\\]|\\.|"(?!""))*"""'
    r"|'''(?:[^'\\]|\\.|'(?!''))*'''"
    r'|"(?:[^"\\\n]|\\.)*"'
    r"|'(?:[^'\\\n]|\\.)*'"
    r'|<[^<>"{}|^`\\\x00-\x20]*>'
    r"|#[^\n]*"
)
_LEX = re.compile(
    rf"(?P<skip>{_SKIP})|(?P<service>(?<![\w?$:-])SERVICE(?![\w:-]))|[^\"'<#sS]+|.",
    re.IGNORECASE | re.DOTALL,
)
_CODEPOINT = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")
MAX_URL_BYTES = 8192  # path + query string; longer SPARQL queries go by POST
MAX_HEADER_BYTES = 8192  # one header (name + value), and all of them together
EXEMPT = ("/health", "/static/", "/graphql/static/")
OVERLOAD_RETRY_AFTER_S = 1


def _error(
    status: int, kind: str, detail: str, headers: dict[str, str] | None = None
) -> tuple[int, list, bytes]:
    body = json.dumps({"error": kind, "detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    return status, raw, body


def check_request(scope: MutableMapping[str, Any], max_body: int) -> tuple[int, list, bytes] | None:
    """The refusal (status, headers, body) of a request whose line, headers or declared body is too
    big, or None.

    >>> check_request({"path": "/sparql", "query_string": b"q=" + b"x" * 9000, "headers": []}, 10)[0]
    414
    >>> check_request({"path": "/", "query_string": b"", "headers": [(b"x", b"y" * 9000)]}, 10)[0]
    431
    >>> check_request({"path": "/", "query_string": b"", "headers": [(b"content-length", b"11")]}, 10)[0]
    413
    >>> check_request({"path": "/", "query_string": b"", "headers": [(b"content-length", b"10")]}, 10)
    """
    path = scope.get("raw_path") or scope["path"].encode("utf-8", "replace")
    url = len(path) + len(scope.get("query_string", b"")) + 1
    if url > MAX_URL_BYTES:
        return _error(
            414,
            "uri-too-long",
            f"the request line ({url} bytes) is over {MAX_URL_BYTES} bytes: send a long query by POST",
        )
    total = 0
    for name, value in scope.get("headers", []):
        size = len(name) + len(value) + 4
        total += size
        if size > MAX_HEADER_BYTES or total > MAX_HEADER_BYTES:
            return _error(431, "headers-too-large", f"request headers over {MAX_HEADER_BYTES} bytes")
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                return _error(400, "bad-request", "Content-Length is not a number")
            if declared > max_body:
                return _error(
                    413, "body-too-large", f"the request body ({declared} bytes) is over {max_body} bytes"
                )
    return None


def calls_service(query: str) -> bool:
    r"""Whether a SPARQL query has a ``SERVICE`` clause (federated query: the engine would fetch
    another endpoint over HTTP). Codepoint escapes are decoded first, as the SPARQL grammar says
    and the engine does; the keyword in a string, an IRI, a comment or a name does not count.

    >>> calls_service("SELECT * { SERVICE <http://127.0.0.1:9/> { ?s ?p ?o } }")
    True
    >>> calls_service("select * { ?s ?p ?o . \u0053ERVICE silent <http://x/> { ?a ?b ?c } }")
    True
    >>> calls_service("SELECT * { ?s ?p ?o . \\u0053ERVICE silent <http://x/> { ?a ?b ?c } }")
    True
    >>> calls_service('SELECT ?service { ?service ?p "SERVICE <x>" . ex:SERVICE ?p <x#SERVICE> } # SERVICE')
    False
    """
    lowered = query.lower()
    if "service" not in lowered and "\\u" not in lowered:
        return False  # no keyword, written out or escaped: the common case, without lexing
    decoded = _CODEPOINT.sub(lambda m: chr(int(m.group(1) or m.group(2), 16)), query)
    return any(m.lastgroup == "service" for m in _LEX.finditer(decoded))


class RequestLimits:
    """ASGI middleware: refuse oversized requests; bound the requests served at once (503 beyond)."""

    def __init__(self, app: ASGIApp, max_inflight: int, max_body: int) -> None:
        self.app, self.max_inflight, self.max_body = app, max_inflight, max_body
        self.inflight = 0

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = check_request(scope, self.max_body)
        if refusal is None and not any(k == b"content-length" for k, _ in scope["headers"]):
            refusal, receive = await self._buffer_body(receive, scope)
        if refusal is not None:
            await _send(send, *refusal)
            return
        if self.max_inflight <= 0 or scope["path"].startswith(EXEMPT):
            await self.app(scope, receive, send)
            return
        if self.inflight >= self.max_inflight:
            await _send(
                send,
                *_error(
                    503,
                    "overloaded",
                    f"the server is answering {self.inflight} requests, "
                    f"its bound: retry in {OVERLOAD_RETRY_AFTER_S} s",
                    {"Retry-After": str(OVERLOAD_RETRY_AFTER_S)},
                ),
            )
            return
        self.inflight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.inflight -= 1

    async def _buffer_body(
        self, receive: Receive, scope: MutableMapping[str, Any]
    ) -> tuple[tuple[int, list, bytes] | None, Receive]:
        """A body sent without Content-Length (chunked) is read here up to the limit, then replayed."""
        if scope.get("method") in ("GET", "HEAD", "OPTIONS") and not any(
            k == b"transfer-encoding" for k, _ in scope["headers"]
        ):
            return None, receive
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_body:
                return _error(
                    413, "body-too-large", f"the request body is over {self.max_body} bytes"
                ), receive
            if not message.get("more_body"):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        return None, replay


async def _send(send: Send, status: int, headers: list, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


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
