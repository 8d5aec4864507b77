"""Segmentation that knows the layout of France Travail offers.

An offer text (``intitule + "\\n" + description``) is cut into segments: the title, then one
segment per line, bullet item ("-", "•", "*", "✓", "➢"...) or sentence. Headings ("Vos
missions", "Profil recherché", "Qualités personnelles", "Les avantages", "Qui sommes-nous ?"),
alone on their line or glued after a sentence ("… via ARMADO. Profil recherché"), open a
section; ``Lieu :``, ``Contrat :``, ``Salaire :`` label only their own line. Each segment says
whether it is on the *requirement side* — tasks, profile, qualities, and the untitled opening
that usually describes the job — or not (title, company, benefits, pay, schedule).

>>> text = "Maçon H/F\\nVos missions :\\n- Monter des murs en parpaings\\nLes avantages\\n- Mutuelle"
>>> [(s.text(text), s.section, s.requirement) for s in segment(text)]  # doctest: +NORMALIZE_WHITESPACE
[('Maçon H/F', 'title', False), ('Vos missions :', 'missions', False),
 ('Monter des murs en parpaings', 'missions', True), ('Les avantages', 'benefits', False),
 ('Mutuelle', 'benefits', False)]
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kg.nlp.text import GLUE, strip_accents

REQUIREMENT_SECTIONS = frozenset({"intro", "missions", "profile", "qualities"})

# Heading phrases (accent-free, lower case) by section. Order matters: first match wins.
_HEADINGS: list[tuple[str, str]] = [
    (
        "qualities",
        r"(vos |les )?qualites?( personnelles| professionnelles| requises| humaines)?|savoir[- ]etre"
        r"|soft skills?|aptitudes?( requises)?|vos atouts|qualites attendues"
        r"|personnalite( attendue| recherchee)?|savoir[- ]etre attendus",
    ),
    (
        "profile",
        r"(le |votre )?profil( recherche| souhaite| attendu| du candidat)?|competences?"
        r"( techniques| requises| attendues| recherchees| et qualites)?|pre[- ]?requis|exigences"
        r"|formation( requise| souhaitee)?|diplomes?( requis)?|savoir[- ]faire"
        r"|experience( requise| souhaitee)?"
        r"|ce que nous recherchons|qui etes[- ]vous|vous etes|vous avez|connaissances( requises)?",
    ),
    (
        "missions",
        r"(vos |les |principales |votre )?(missions?|taches|activites|responsabilites|fonctions)"
        r"( principales| du poste| confiees)?"
        r"|(descriptif|description|presentation|detail) (du|de l.) ?(poste|offre|mission)"
        r"|le poste|poste propose|au quotidien|ce que vous ferez|votre role|role",
    ),
    (
        "company",
        r"qui sommes[- ]nous|(l.|notre |votre |a propos de l.)(entreprise|societe|structure|agence|client"
        r"|etablissement|association|groupe)|presentation de (l.entreprise|la societe|notre societe)|a propos"
        r"|nous sommes|notre client|l.employeur",
    ),
    (
        "benefits",
        r"nos atouts|(les |nos |vos )?avantages( de la mission| du poste| sociaux)?"
        r"|nous vous offrons|nous offrons"
        r"|ce que nous (vous )?(offrons|proposons)|remuneration|salaire|pourquoi nous rejoindre|les plus"
        r"|informations? (complementaires|pratiques)|conditions( de travail| du poste| proposees)?|package"
        r"|nous proposons|infos? pratiques|processus de recrutement|modalites",
    ),
    (
        "conditions",
        r"lieu( de travail)?|contrat|type de contrat|horaires?|duree|date de debut|demarrage"
        r"|temps de travail|secteur|poste base a|localisation|prise de poste|statut",
    ),
]
_FOR_THE_JOB = r"(?:\s+(?:pour|du|de ce|sur) (?:ce |le )?(?:poste|mission|emploi))?"
# One pattern per kind of line, each section a named alternative: the regex engine tries them in
# order, so the first section whose pattern matches the line is the one matched.
_HEADING_RE = re.compile(
    "|".join(rf"^(?P<{name}>{pattern}){_FOR_THE_JOB}\s*[:!?.]*$" for name, pattern in _HEADINGS)
)
_LABELLED_RE = re.compile("|".join(rf"^(?P<{name}>{pattern})\s*:\s*\S" for name, pattern in _HEADINGS))
_BULLET = re.compile(r"^[\s\-–—•·*✓✔➢➤►▶→▪■□◆◇○●☑✅🔹🔸👉✨⚡️]+")
# (Each branch starts with a character class, which the regex engine tests before entering it: a
# sentence end after a full stop, a space before a bullet, a run of two or more asterisks.)
_SENTENCE_END = re.compile(
    r"\s(?<=[.!?;]\s)\s*(?=[A-ZÀ-ÖØ-Þ•\-–✓➢])|\s\s*(?=[•✓✔➢➤►▪■])|\s\s*\*{2,}\s*|\*{2,}\s*"
)
# Sentences about pay, benefits, contact or the hiring process, wherever they stand. (Each branch starts
# with a letter or a class, which the regex engine tests before entering it: "h/f" is "h" not after a
# word character, as \bh.)
_NOT_REQUIREMENT = re.compile(
    r"remuner|salaire|\d\s*(?:€|euros?\b|k€)|mutuelle|prime|ticket|tickets? resto|conges|rtt\b|smic"
    r"|interesse|postuler|candidature|contactez|envoyez|rejoignez|n.hesitez|cv\b"
    r"|entretien (?:d.embauche|eventuel)"
    r"|h(?<!\wh)\s*/\s*f\b|f(?<!\wf)\s*/\s*h\b|poste (?:a pourvoir|base)|prevoyance|participation aux frais"
    r"|vehicule de service"
)


@dataclass(frozen=True)
class Segment:
    """A span of the offer text: ``start``/``end`` offsets (end exclusive), its section, and
    whether requirements stated in it count."""

    start: int
    end: int
    section: str
    requirement: bool
    heading: bool = False

    def text(self, full: str) -> str:
        return full[self.start : self.end]


def heading_section(line: str) -> str | None:
    """The section a heading line opens, or None when the line is not a heading.

    >>> heading_section("Profil recherché :"), heading_section("Qualités personnelles")
    ('profile', 'qualities')
    >>> heading_section("Préparer et régler les machines") is None
    True
    """
    return _heading(_line_key(line))


def _line_key(line: str) -> str:
    return strip_accents(_BULLET.sub("", line).strip().lower()).replace("’", "'")


def _heading(key: str) -> str | None:
    if not key or len(key) > 60:
        return None
    match = _HEADING_RE.match(key)
    return None if match is None else _section(match)


def _labelled(key: str) -> str | None:
    match = _LABELLED_RE.match(key)
    return None if match is None else _section(match)


def _section(match: re.Match[str]) -> str:
    """The name of the alternative that matched (the inner groups of a section are unnamed)."""
    return next(name for name, value in match.groupdict().items() if value is not None)


def _pieces(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentences of one line, stripped of bullets and white space (offsets into ``text``)."""
    out = []
    cut = start
    # sentence ends, and bullet items glued by a lost line break ("…efficacitéRigueur…")
    ends = [m.span() for m in _SENTENCE_END.finditer(text, start, end)]
    ends += [(m.end(), m.end()) for m in GLUE.finditer(text, start, end)]
    for a, b in sorted(ends):
        if a < cut:
            continue
        out.append((cut, a))
        cut = b
    out.append((cut, end))
    trimmed = []
    for a, b in out:
        piece = text[a:b]
        bullet = _BULLET.match(piece)
        if bullet:
            a += bullet.end()
        while b > a and text[b - 1].isspace():
            b -= 1
        while a < b and text[a].isspace():
            a += 1
        if b > a:
            trimmed.append((a, b))
    return trimmed


def segment(text: str) -> list[Segment]:
    """The segments of ``intitule + "\\n" + description`` (the first line is the title)."""
    segments: list[Segment] = []
    section = "intro"
    offset = 0
    for number, line in enumerate(text.split("\n")):
        start, end = offset, offset + len(line)
        offset = end + 1
        if number == 0:
            if line.strip():
                segments.append(Segment(start, end, "title", False))
            continue
        if not line:  # no piece (perf only)
            continue
        for a, b in _pieces(text, start, end):
            # A piece starts and ends with neither a bullet nor a space (_pieces): its key is its folded
            # form, which _NOT_REQUIREMENT also reads (perf only: folded once).
            folded = strip_accents(text[a:b].lower())
            key = folded.replace("’", "'")
            opened = _heading(key)
            if opened is not None:
                if opened != "conditions":
                    section = opened
                segments.append(Segment(a, b, opened, False, heading=True))
                continue
            labelled = _labelled(key)
            if labelled is not None and labelled in {"conditions", "benefits", "company"}:
                segments.append(Segment(a, b, labelled, False))
                continue
            if labelled is not None:  # "Profil : autonome et rigoureux" opens the section too
                section = labelled
            requirement = section in REQUIREMENT_SECTIONS and not _NOT_REQUIREMENT.search(folded)
            segments.append(Segment(a, b, section, requirement))
    return segments
