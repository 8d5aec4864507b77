"""Outputs that carry source text escape it: the HTML pages of ``kg gaps`` and ``kg paths`` given
hostile text in every field (labels, evidence spans, offer titles, explanations, IRIs) stay inert —
no element, attribute, event handler or ``javascript:`` link comes from the data, and the text is
still shown, verbatim. (String level; the browser test comes with the HTTP API's pages.)
"""

from __future__ import annotations

from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st

from kg.gaps import EmergingDemand, Evidence, SkillDemand, TradeGaps, UncoveredCoreSkill
from kg.gaps_report import render_html as gaps_html
from kg.paths import BlocStep, Guidance, PathResult, Skill, VaeOption
from kg.paths_report import render_html as paths_html
from tests.reliability_log import log_outcome

PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(1)>",
    "</title><script>alert(1)</script>",
    "</style><script>alert(1)</script>",
    "<!--",
    "]]><script>alert(1)</script>",
    "&lt;script&gt;",
    "javascript:alert(1)",
    "=cmd|' /C calc'!A0",
]
# The elements the templates write themselves; anything else came from the data.
TEMPLATE_TAGS = {
    "html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "nav", "ul", "ol", "li", "a",
    "section", "small", "p", "svg", "text", "rect", "table", "thead", "tbody", "tr", "th", "td",
    "details", "summary", "mark", "strong", "br", "span",
}  # fmt: skip
TEMPLATE_ATTRIBUTES = {
    "lang", "charset", "href", "id", "class", "role", "width", "height", "aria-label", "x", "y",
    "text-anchor",
}  # fmt: skip


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += attrs

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _check_inert(page: str, shown: list[str]) -> None:
    parsed = _Page()
    parsed.feed(page)
    parsed.close()
    assert set(parsed.tags) <= TEMPLATE_TAGS, set(parsed.tags) - TEMPLATE_TAGS
    assert {name for name, _ in parsed.attributes} <= TEMPLATE_ATTRIBUTES
    for name, value in parsed.attributes:
        if name == "href":
            assert value and value.startswith(("#", "https://", "http://")), value
    text = "".join(parsed.text)
    for value in shown:  # escaped, not dropped
        assert value.strip() in text, value


def _gaps_report(t: list[str]) -> TradeGaps:
    evidence = Evidence(offer=t[0], offer_code=t[1], title=t[2], source=t[3], text=t[4], start=0, end=3)
    gap = SkillDemand(
        skill="https://w3id.org/passerelles/id/skill/1", code=t[5], label=t[6], demand=0.5, offers=2,
        total=4, gap=True, bloc="https://w3id.org/passerelles/id/bloc/RNCP1BC01", bloc_label=t[7],
        certification=None, score=0.2, evidence=[evidence],
    )  # fmt: skip
    return TradeGaps(
        scope="https://w3id.org/passerelles/id/trade/x", code=t[8], label=t[9],
        territory="https://w3id.org/passerelles/id/commune/" + t[10], since=None, threshold=0.5,
        offers=4, demand=[gap],
        emerging=[EmergingDemand(emerging="e", code=t[11], label=t[12], offers=1, share=0.25,
                                 example=t[13], example_offer=t[0])],
        uncovered_core=[UncoveredCoreSkill(occupation="https://w3id.org/passerelles/id/rome/F1703",
                                           skill="s", code=t[14], label=t[15], best_score=None)],
    )  # fmt: skip


def _guidance(t: list[str]) -> Guidance:
    path = PathResult(
        rank=1, certification="c", certification_code=t[0], certification_label=t[1], level=None,
        partial=False, blocs=[BlocStep("b", t[2], t[3], [])], covered=[], missing=0, course="course",
        course_label=t[4], hours=None, session="s", start="2026-01-05", end=None, place="p",
        commune=None, commune_label=t[5], distance_km=None, body=None, body_label=t[6],
        referent={"role": t[7]}, explanation_fr=t[8], explanation_en=t[9],
    )  # fmt: skip
    skill = Skill("https://w3id.org/passerelles/id/skill/1", t[10], t[11])
    vae = VaeOption([{"code": t[12], "label": t[13]}], [{"label": t[14]}], eligible=False, reason=t[15])
    return Guidance(t[0], [], None, 50.0, "2026-01-01", [], [skill], [skill], [path], vae=vae)


hostile = st.one_of(st.sampled_from(PAYLOADS), st.text(alphabet="<>\"'&=/ ;:abcrsipt-!", min_size=1))


@settings(max_examples=50)
@given(texts=st.lists(hostile, min_size=16, max_size=16))
def test_gaps_html_is_inert(texts: list[str]) -> None:
    page = gaps_html([_gaps_report(texts)])
    # The offer IRI (texts[0]) is an href, not shown; the chart cuts labels at 48 characters.
    _check_inert(page, [texts[i] for i in (1, 2, 3, 4, 6, 9, 12, 15)])
    log_outcome("fuzz", reader="html gaps report", strategy="hostile text", outcome="inert")


@settings(max_examples=50)
@given(texts=st.lists(hostile, min_size=16, max_size=16))
def test_paths_html_is_inert(texts: list[str]) -> None:
    page = paths_html(_guidance(texts))
    _check_inert(page, [texts[i] for i in (1, 4, 6, 8, 9, 11, 13, 14, 15)])
    log_outcome("fuzz", reader="html paths report", strategy="hostile text", outcome="inert")


def test_each_payload_in_an_evidence_span_is_shown_inert() -> None:
    offer = "https://w3id.org/passerelles/id/offer/1"
    for payload in PAYLOADS:
        page = gaps_html([_gaps_report([offer] + [payload] * 15)])
        assert "<script>" not in page
        _check_inert(page, [payload])
