"""Small HTML pages: one layout, every piece of source text escaped (never a template engine's
``safe``): a label holding ``<script>`` stays text.

>>> "<script>" in page("t", p(text("<script>alert(1)</script>")))
False
>>> link("/id/rome/A1101", "A1101 <b>")
'<a href="/id/rome/A1101">A1101 &lt;b&gt;</a>'
"""

from __future__ import annotations

from html import escape

NAV = (
    ("/query", "SPARQL"),
    ("/queries", "Stored queries"),
    ("/ontology", "Ontology"),
    ("/shapes", "Shapes"),
    ("/dataset", "Dataset"),
    ("/dumps/", "Dumps"),
)


class Html(str):
    """Markup already escaped (built by the helpers below)."""


def text(value: object) -> Html:
    """Source text, escaped."""
    return Html(escape(str(value), quote=True))


def join(parts: list[Html] | tuple[Html, ...], sep: str = "") -> Html:
    return Html(sep.join(parts))


def tag(element: str, /, *children: Html | str, **attrs: str | None) -> Html:
    """An element; string children are escaped, :class:`Html` children kept."""
    attributes = "".join(
        f' {k.rstrip("_").replace("_", "-")}="{escape(v, quote=True)}"'
        for k, v in attrs.items()
        if v is not None
    )
    inner = "".join(c if isinstance(c, Html) else escape(c) for c in children)
    return Html(f"<{element}{attributes}>{inner}</{element}>")


def p(*children: Html | str, **attrs: str | None) -> Html:
    return tag("p", *children, **attrs)


def link(href: str, label: str | Html, **attrs: str | None) -> Html:
    return tag("a", label, href=href, **attrs)


def table(head: list[str], rows: list[list[Html | str]], **attrs: str | None) -> Html:
    """A table; cells are escaped unless already :class:`Html`."""
    thead = tag("thead", tag("tr", *[tag("th", h) for h in head]))
    body = tag("tbody", *[tag("tr", *[tag("td", c) for c in row]) for row in rows])
    return tag("table", thead, body, **attrs)


def page(title: str, *body: Html, alternates: dict[str, str] | None = None) -> str:
    """A full page with the site navigation; ``alternates`` maps media types to URLs."""
    alt = "".join(
        f'<link rel="alternate" type="{escape(t)}" href="{escape(u)}">' for t, u in (alternates or {}).items()
    )
    nav = join([link(href, label) for href, label in NAV], " · ")
    return (
        '<!doctype html>\n<html lang="fr"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} — Passerelles</title>"
        f'<link rel="stylesheet" href="/static/style.css">{alt}</head>\n<body>'
        f'<header><a class="home" href="/query">Passerelles</a> <nav>{nav}</nav></header>\n'
        f"<main>{tag('h1', title)}{''.join(body)}</main></body></html>\n"
    )
