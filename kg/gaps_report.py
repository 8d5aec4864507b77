"""The certifier's gap report rendered as Markdown, CSV, JSON or a self-contained HTML page.

The HTML page has no script and no external asset (it renders offline); every text from the
graph (labels, offer titles, evidence spans) is escaped.

>>> from kg.gaps import TradeGaps, SkillDemand
>>> d = SkillDemand("s", "100", "Lire un <plan>", 0.5, 2, 4, True, score=0.3)
>>> report = TradeGaps("t", "t", "Maçon", None, None, 0.5, 4, [d], [], [])
>>> "Lire un &lt;plan&gt;" in render_html([report])
True
>>> render_csv([report]).splitlines()[1]
't,100,Lire un <plan>,0.5,2,4,true,,,,0.3'
"""

from __future__ import annotations

import csv
import io
import json
from html import escape

from kg.gaps import TradeGaps

CHART_SKILLS = 15
_CSV_HEADER = [
    "trade",
    "skill_code",
    "skill_label",
    "demand",
    "offers",
    "total_offers",
    "gap",
    "best_bloc",
    "best_bloc_label",
    "certification",
    "coverage_score",
]


def _code(iri: str | None) -> str:
    return iri.rsplit("/", 1)[1] if iri else ""


def _where(report: TradeGaps) -> str:
    parts = [f"{report.offers} offres"]
    if report.territory:
        parts.append(f"territoire {_code(report.territory)}")
    if report.since:
        parts.append(f"depuis le {report.since}")
    parts.append(f"seuil de couverture {report.threshold}")
    return ", ".join(parts)


def render_json(reports: list[TradeGaps]) -> str:
    """One JSON document: ``{"trades": [report, ...]}``."""
    return json.dumps({"trades": [r.to_json() for r in reports]}, ensure_ascii=False, indent=2)


# OWASP "CSV injection": a spreadsheet runs a cell starting with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: str) -> str:
    """A text cell a spreadsheet shows as text: one starting like a formula gets a leading ``'``.

    >>> _cell("=1+2"), _cell("@SUM(A1)"), _cell("-2+3"), _cell("Lire un plan"), _cell("")
    ("'=1+2", "'@SUM(A1)", "'-2+3", 'Lire un plan', '')
    """
    return "'" + text if text.startswith(_FORMULA_START) else text


def render_csv(reports: list[TradeGaps]) -> str:
    """One row per demanded skill and trade (gaps and covered skills; ``gap`` says which).

    Text cells (codes, labels) that a spreadsheet would read as a formula are neutralised
    (:func:`_cell`); numbers are written as numbers."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(_CSV_HEADER)
    for report in reports:
        for d in report.demand:
            writer.writerow(
                [
                    _cell(report.code),
                    _cell(d.code),
                    _cell(d.label),
                    d.demand,
                    d.offers,
                    d.total,
                    "true" if d.gap else "false",
                    _cell(_code(d.bloc)),
                    _cell(d.bloc_label or ""),
                    _cell(_code(d.certification)),
                    "" if d.score is None else d.score,
                ]
            )
    return out.getvalue()


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(reports: list[TradeGaps]) -> str:
    """A Markdown report: per trade, the gaps with evidence, emerging skills, uncovered core skills."""
    lines: list[str] = []
    for r in reports:
        lines += [f"## {_md(r.label)} (`{r.code}`)", "", f"{_where(r)}.", ""]
        if not r.offers:
            lines += ["Aucune offre d'emploi pour ce métier dans le graphe : pas de demande mesurée.", ""]
        lines += [
            "### Compétences demandées non couvertes",
            "",
            "| rang | compétence | code | part des offres | offres | bloc le plus proche | score |",
            "|---:|---|---|---:|---:|---|---:|",
        ]
        for rank, g in enumerate(r.gaps, 1):
            bloc = f"{_code(g.bloc)} {_md(g.bloc_label or '')}".strip() if g.bloc else "—"
            score = "—" if g.score is None else f"{g.score:.2f}"
            lines.append(
                f"| {rank} | {_md(g.label)} | {g.code} | {g.demand:.0%} | {g.offers} | {bloc} | {score} |"
            )
        for g in r.gaps:
            if g.evidence:
                lines += ["", f"Preuves pour « {_md(g.label)} » :"]
                for e in g.evidence:
                    span = f" « {_md(e.text)} » [{e.start}–{e.end}]" if e.text else ""
                    lines.append(f"- offre {e.offer_code} ({_md(e.title)}) : {e.source}{span}")
        lines += ["", "### Compétences émergentes (hors ROME)", ""]
        lines += [f"- {_md(e.label)} — {e.offers} offre(s), {e.share:.0%}" for e in r.emerging] or [
            "- aucune"
        ]
        lines += ["", "### Compétences clés des fiches non couvertes par un bloc", ""]
        lines += [f"- {_code(u.occupation)} : {_md(u.label)} ({u.code})" for u in r.uncovered_core] or [
            "- aucune"
        ]
        lines.append("")
    return "\n".join(lines)


def _chart(report: TradeGaps) -> str:
    """An inline SVG: per demanded skill, the share of offers (bar) and the best bloc score (bar)."""
    skills = report.demand[:CHART_SKILLS]
    if not skills:
        return "<p>Aucune compétence demandée.</p>"
    row, label_w, bar_w = 26, 330, 300
    height = row * len(skills) + 30
    parts = [
        f'<svg class="chart" role="img" width="{label_w + bar_w + 110}" height="{height}" '
        f'aria-label="Demande et couverture — {escape(report.label)}">'
    ]
    for i, d in enumerate(skills):
        y = 20 + i * row
        demand_w = round(bar_w * min(d.demand, 1.0))
        cover_w = round(bar_w * min(d.score or 0.0, 1.0))
        cls = "gap" if d.gap else "covered"
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 12}" text-anchor="end">{escape(d.label[:48])}</text>'
            f'<rect class="demand {cls}" x="{label_w}" y="{y}" width="{demand_w}" height="10">'
            f"<title>part des offres {d.demand:.0%}</title></rect>"
            f'<rect class="coverage" x="{label_w}" y="{y + 11}" width="{cover_w}" height="6">'
            f"<title>couverture {0 if d.score is None else d.score:.2f}</title></rect>"
            f'<text class="value" x="{label_w + max(demand_w, cover_w) + 6}" y="{y + 12}">'
            f"{d.demand:.0%} · {'—' if d.score is None else f'{d.score:.2f}'}</text>"
        )
    parts.append(
        '<text x="6" y="12" class="legend">■ part des offres (rouge : non couverte, bleu : couverte) '
        "▬ score du meilleur bloc</text></svg>"
    )
    return "".join(parts)


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem;color:#1d2433}
table{border-collapse:collapse;margin:.5rem 0}
td,th{border:1px solid #ccd;padding:.25rem .5rem;text-align:left}
.chart text{font-size:12px}.demand.gap{fill:#c0392b}.demand.covered{fill:#2e86c1}.coverage{fill:#7d8c9a}
.legend,.value{fill:#555}details{margin:.25rem 0}mark{background:#fde68a}
"""


def _link(iri: str, text: str) -> str:
    """A link to an offer's IRI; an IRI that is not http(s) (``javascript:``...) stays plain text.

    >>> _link("https://w3id.org/passerelles/id/offer/1", "1")
    '<a href="https://w3id.org/passerelles/id/offer/1">1</a>'
    >>> _link("javascript:alert(1)", "<b>")
    '&lt;b&gt;'
    """
    if iri.startswith(("https://", "http://")):
        return f'<a href="{escape(iri)}">{escape(text)}</a>'
    return escape(text)


def render_html(reports: list[TradeGaps]) -> str:
    """A self-contained HTML page: per trade, a chart, the ranked gaps linked to their evidence."""
    body: list[str] = []
    nav = "".join(f'<li><a href="#{escape(r.code)}">{escape(r.label)}</a></li>' for r in reports)
    for r in reports:
        body.append(
            f'<section id="{escape(r.code)}"><h2>{escape(r.label)} <small>({escape(r.code)})</small></h2>'
        )
        body.append(f"<p>{escape(_where(r))}</p>{_chart(r)}")
        body.append(
            "<h3>Compétences demandées non couvertes</h3><table><thead><tr><th>rang</th><th>compétence</th>"
            "<th>part des offres</th><th>offres</th><th>bloc le plus proche</th><th>score</th></tr></thead>"
            "<tbody>"
        )
        for rank, g in enumerate(r.gaps, 1):
            anchor = f"{r.code}-{g.code}"
            bloc = f"{escape(_code(g.bloc))} {escape(g.bloc_label or '')}" if g.bloc else "—"
            score = "—" if g.score is None else f"{g.score:.2f}"
            body.append(
                f'<tr><td>{rank}</td><td><a href="#{escape(anchor)}">{escape(g.label)}</a> '
                f"<small>{escape(g.code)}</small></td><td>{g.demand:.0%}</td><td>{g.offers}</td>"
                f"<td>{bloc}</td><td>{score}</td></tr>"
            )
        body.append("</tbody></table>")
        for g in r.gaps:
            items = "".join(
                f"<li>offre {_link(e.offer, e.offer_code)} — {escape(e.title)} — "
                f"{escape(e.source)}{' : <mark>' + escape(e.text) + '</mark>' if e.text else ''}</li>"
                for e in g.evidence
            )
            body.append(
                f'<details id="{escape(r.code)}-{escape(g.code)}">'
                f"<summary>Preuves : {escape(g.label)}</summary>"
                f"<ul>{items or '<li>—</li>'}</ul></details>"
            )
        emerging = "".join(
            f"<li>{escape(e.label)} — {e.offers} offre(s), {e.share:.0%}</li>" for e in r.emerging
        )
        body.append(f"<h3>Compétences émergentes (hors ROME)</h3><ul>{emerging or '<li>aucune</li>'}</ul>")
        core = "".join(
            f"<li>{escape(_code(u.occupation))} : {escape(u.label)} <small>{escape(u.code)}</small></li>"
            for u in r.uncovered_core
        )
        body.append(f"<h3>Compétences clés des fiches non couvertes</h3><ul>{core or '<li>aucune</li>'}</ul>")
        body.append("</section>")
    return (
        '<!doctype html><html lang="fr"><head><meta charset="utf-8">'
        "<title>Passerelles — compétences non couvertes des métiers cibles</title>"
        f"<style>{_STYLE}</style></head><body>"
        "<h1>Compétences demandées non couvertes par les certifications</h1>"
        f"<nav><ul>{nav}</ul></nav>{''.join(body)}</body></html>"
    )


RENDERERS = {"md": render_markdown, "csv": render_csv, "json": render_json, "html": render_html}
