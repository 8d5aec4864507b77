"""Guidance paths rendered as plain text, JSON or a self-contained HTML page (no script, no
external asset; every text from the graph escaped).

>>> from kg.paths import Guidance
>>> g = Guidance("I1321", [], None, 50.0, "2026-01-01", [], [], [], [])
>>> render_text(g).splitlines()[0]
'Vers I1321 — 0 compétence(s) manquante(s) sur 0'
"""

from __future__ import annotations

import json
from html import escape

from kg.paths import Guidance


def render_json(g: Guidance) -> str:
    """The whole answer as JSON."""
    return json.dumps(g.to_json(), ensure_ascii=False, indent=2)


def render_text(g: Guidance) -> str:
    """An adviser's summary: missing skills, ranked paths with their explanation, VAE."""
    targets = ", ".join(f"{t['code']} {t['label']}".strip() for t in g.targets)
    lines = [f"Vers {g.to} — {len(g.missing)} compétence(s) manquante(s) sur {len(g.needed)}"]
    if targets:
        lines.append(f"Fiches : {targets}")
    lines += [f"  - {s.code} {s.label}" for s in g.missing]
    lines += [f"Note : {n}" for n in g.notes]
    lines.append("")
    if not g.paths:
        lines.append("Aucune session ne correspond (rayon, date, accessibilité).")
    for p in g.paths:
        lines.append(
            f"{p.rank}. {p.course_label or p.course} — {p.certification_code} {p.certification_label}"
        )
        lines.append(f"   {p.explanation_fr}")
        lines.append(f"   {p.explanation_en}")
        if p.body_label:
            lines.append(f"   organisme : {p.body_label}")
        if p.referent:
            contact = ", ".join(v for k, v in p.referent.items() if k != "iri")
            lines.append(f"   référent handicap : {contact}")
    if g.vae is not None:
        lines += ["", f"VAE ({'possible' if g.vae.eligible else 'à vérifier'} : {g.vae.reason})"]
        lines += [f"  - {c.get('code', '')} {c.get('label', '')}" for c in g.vae.certifications]
        lines += [f"  - point relais : {r.get('label', '')} ({r.get('network', '')})" for r in g.vae.relays]
    return "\n".join(lines)


def render_html(g: Guidance) -> str:
    """A self-contained page for the adviser."""
    rows = "".join(
        f"<li><strong>{p.rank}. {escape(p.course_label or p.course)}</strong> — "
        f"{escape(p.certification_code)} {escape(p.certification_label)}<br>"
        f'<span lang="fr">{escape(p.explanation_fr)}</span><br>'
        f'<span lang="en">{escape(p.explanation_en)}</span>'
        f"{'<br>organisme : ' + escape(p.body_label) if p.body_label else ''}</li>"
        for p in g.paths
    )
    missing = "".join(f"<li>{escape(s.code)} {escape(s.label)}</li>" for s in g.missing)
    vae = ""
    if g.vae is not None:
        items = "".join(
            f"<li>{escape(c.get('code', ''))} {escape(c.get('label', ''))}</li>" for c in g.vae.certifications
        ) + "".join(f"<li>point relais : {escape(r.get('label', ''))}</li>" for r in g.vae.relays)
        vae = f"<h2>VAE</h2><p>{escape(g.vae.reason)}</p><ul>{items}</ul>"
    return (
        '<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Passerelles — parcours</title>'
        "<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem}li{margin:.5rem 0}</style>"
        f"</head><body><h1>Parcours vers {escape(g.to)}</h1><h2>Compétences manquantes</h2><ul>{missing}</ul>"
        f"<h2>Parcours</h2><ol>{rows or '<li>aucun</li>'}</ol>{vae}</body></html>"
    )


RENDERERS = {"text": render_text, "json": render_json, "html": render_html}
