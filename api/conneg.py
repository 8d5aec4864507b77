"""Content negotiation: pick the best offered media type for an ``Accept`` header (RFC 9110).

>>> best("text/csv;q=0.5, application/sparql-results+xml", ["application/sparql-results+json",
...      "application/sparql-results+xml", "text/csv"])
'application/sparql-results+xml'
>>> best("text/*;q=0.9, */*;q=0.1", ["application/json", "text/turtle"])
'text/turtle'
>>> best("", ["application/json", "text/turtle"])
'application/json'
>>> best("image/png", ["application/json"]) is None
True
>>> best("application/json;q=0", ["application/json"]) is None
True
"""

from __future__ import annotations


def parse_accept(header: str) -> list[tuple[str, float, int]]:
    """``(media range, q, specificity)`` for each element of an Accept header."""
    out = []
    for element in header.split(","):
        parts = [p.strip() for p in element.split(";")]
        media = parts[0].lower()
        if not media:
            continue
        if "/" not in media:
            media = "*/*" if media == "*" else media + "/*"  # lenient: some clients send "*"
        q = 1.0
        for param in parts[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = max(0.0, min(1.0, float(value)))
                except ValueError:
                    q = 0.0
        kind, _, sub = media.partition("/")
        specificity = 0 if kind == "*" else 1 if sub == "*" else 2
        out.append((media, q, specificity))
    return out


def _quality(ranges: list[tuple[str, float, int]], offer: str) -> float:
    kind = offer.split("/")[0]
    best_spec, q = -1, 0.0
    for media, mq, spec in ranges:
        matches = media == offer or media == "*/*" or (media.endswith("/*") and media[:-2] == kind)
        if matches and spec > best_spec:
            best_spec, q = spec, mq
    return q


def best(accept: str | None, offers: list[str]) -> str | None:
    """The offer the client prefers (ties: the server's order); the first offer when no Accept;
    None when nothing is acceptable (→ 406)."""
    if not accept or not accept.strip():
        return offers[0]
    ranges = parse_accept(accept)
    if not ranges:
        return offers[0]
    scored = [(_quality(ranges, offer), -i, offer) for i, offer in enumerate(offers)]
    q, _, offer = max(scored)
    return offer if q > 0 else None
