"""Certification text as occupation evidence, measured by ``benchmarks/occupation.py --certs``.

Each ROME fiche has the certifications that prepare for it (RNCP and RS certifications and Certif Info
entries, ``pas:relatedOccupationV3``: the sources cite ROME v3 codes, which a ROME 4.0 fiche reaches
through ``pas:romeV3Parent``). Their text — certification titles (Certif Info), RNCP bloc labels, the
Formacode training domains they cite — is a vocabulary per fiche written by the trainers of the trade,
independent of ROME's own labels. A certification linked to ``n`` fiches counts ``1/n`` in each.

Per candidate fiche (:func:`cert_rows`, ``CERT_FEATURES``), TF-IDF cosines (sublinear tf, idf over the
ROME v3 fiches that have any certification text; stems of :mod:`kg.nlp.occupation_text`):

- ``cert_title``: the cleaned offer title (stems and bigrams) against the fiche's certification titles;
- ``cert_best``: the title against the best single certification title of the fiche (idf over the
  certification titles): an offer titled "Technicien de maintenance industrielle" names a title;
- ``cert_text``: the description against the fiche's titles and bloc labels;
- ``cert_blocs``: the description against the fiche's bloc labels only;
- ``cert_domain``: the description against the Formacode labels its certifications cite;
- ``cert_cover``: the largest idf share of one certification title's words that the offer title
  holds (diploma words, "BTS", "titre professionnel", weigh little: their idf over titles is low).

This module only measures: the predictor (:mod:`kg.nlp.occupation`) does not read these features.

>>> evidence = CertEvidence(
...     [Certification(("BTS maintenance des systèmes",), ("Réaliser une intervention de maintenance",),
...                    (), frozenset({"I1304"})),
...      Certification(("CAP boulanger",), ("Pétrir la pâte",), (), frozenset({"D1102", "D1104"}))],
...     {"I1304": "I1304", "D1102": "D1102", "I1310": "I1304"})
>>> rows = cert_rows(evidence, "Technicien maintenance (H/F)", "Vous réalisez la maintenance.",
...                  ["I1304", "I1310", "D1102", "A1101"])
>>> [round(float(x), 2) for x in rows[0]]  # cert_title: I1310 reaches I1304's certifications (v3 parent)
[0.45, 0.45, 0.0, 0.0]
>>> [round(float(x), 2) for x in rows[2]]  # cert_text
[0.62, 0.62, 0.0, 0.0]
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from kg.namespaces import prefixes_for
from kg.nlp.occupation import MAX_TEXT
from kg.nlp.occupation_text import PAIR_JOINER, clean_title, pairs, stems

CERT_FEATURES = ("cert_title", "cert_best", "cert_text", "cert_blocs", "cert_domain", "cert_cover")

_Vector = dict[str, float]


@dataclass(frozen=True)
class Certification:
    """The text of one certification (or Certif Info entry) and the ROME v3 fiches it prepares for."""

    titles: tuple[str, ...]
    blocs: tuple[str, ...]
    domains: tuple[str, ...]
    fiches: frozenset[str]


def title_tokens(text: str) -> list[str]:
    """Stems and adjacent-stem bigrams of a title (offer or certification).

    >>> title_tokens("Titre professionnel électricien d'équipement")
    ['titre', 'professionnel', 'electricien', 'equipement', 'titre_professionnel', \
'professionnel_electricien', 'electricien_equipement']
    """
    words = stems(clean_title(text))
    return words + pairs(words)


def _normed(counts: Mapping[str, float], idf: Mapping[str, float]) -> _Vector:
    """Sublinear tf × idf, unit length (tokens without an idf dropped)."""
    weights = {t: math.log1p(c) * idf[t] for t, c in counts.items() if c > 0 and t in idf}
    norm = math.sqrt(sum(w * w for w in weights.values())) or 1.0
    return {t: w / norm for t, w in weights.items()}


def _idf(documents: Iterable[Iterable[str]]) -> dict[str, float]:
    df: Counter[str] = Counter()
    size = 0
    for doc in documents:
        df.update(set(doc))
        size += 1
    return {t: math.log((size + 1) / (n + 1)) + 1.0 for t, n in df.items()}


def _cosine(query: _Vector, doc: _Vector) -> float:
    if len(query) > len(doc):
        query, doc = doc, query
    return sum(w * doc.get(t, 0.0) for t, w in query.items())


class CertEvidence:
    """Per ROME v3 fiche, the weighted token vectors of its certifications' titles, blocs and domains,
    and each certification title's own vector (for ``cert_best``); ``parents``: ROME 4.0 code → its
    ROME v3 fiche (a code absent from it is read as its own v3 fiche); ``max_fiches``: certifications
    linked to more fiches than this are left out (too general to tell neighbours apart)."""

    KINDS = ("titles", "text", "blocs", "domains")

    def __init__(
        self, certs: Sequence[Certification], parents: Mapping[str, str], max_fiches: int | None = None
    ) -> None:
        self.parents = dict(parents)
        bags: dict[str, dict[str, Counter[str]]] = {k: defaultdict(Counter) for k in self.KINDS}
        title_docs: list[tuple[frozenset[str], list[str]]] = []
        for cert in certs:
            if not cert.fiches or (max_fiches is not None and len(cert.fiches) > max_fiches):
                continue
            share = 1.0 / len(cert.fiches)
            titles = [t for title in cert.titles for t in title_tokens(title)]
            blocs = [t for bloc in cert.blocs for t in stems(bloc)]
            domains = [t for d in cert.domains for t in stems(d)]
            for title in dict.fromkeys(cert.titles):
                title_docs.append((cert.fiches, title_tokens(title)))
            for fiche in cert.fiches:
                for kind, tokens in (("titles", titles), ("text", [*stems(" ".join(cert.titles)), *blocs]),
                                     ("blocs", blocs), ("domains", domains)):
                    for t in tokens:
                        bags[kind][fiche][t] += share
        self.vectors: dict[str, dict[str, _Vector]] = {}
        self.idf: dict[str, dict[str, float]] = {}
        for kind, per_fiche in bags.items():
            idf = _idf(per_fiche.values())
            self.idf[kind] = idf
            self.vectors[kind] = {f: _normed(c, idf) for f, c in per_fiche.items()}
        self.title_idf = _idf(tokens for _, tokens in title_docs)
        self.titles_of: dict[str, list[_Vector]] = defaultdict(list)
        self.covers_of: dict[str, list[tuple[dict[str, float], float]]] = defaultdict(list)
        for fiches, tokens in title_docs:
            vector = _normed(Counter(tokens), self.title_idf)
            words = {t: self.title_idf[t] for t in tokens if PAIR_JOINER not in t}
            for fiche in fiches:
                self.titles_of[fiche].append(vector)
                if words:
                    self.covers_of[fiche].append((words, sum(words.values())))

    @classmethod
    def from_store(
        cls, store: object, base: str, entries: bool = True, max_fiches: int | None = None
    ) -> CertEvidence:
        """The certifications of a built graph: RNCP/RS certifications with their titles, bloc labels and
        Formacode labels, and (``entries``) the Certif Info entries' own ROME links and titles."""
        prefixes = prefixes_for(base)

        def select(query: str) -> list[dict[str, str]]:
            rows = store.query(query, prefixes=prefixes)  # type: ignore[attr-defined]
            return [{k: r[k].value for k in ("c", "x")} for r in rows]

        links = select("SELECT ?c ?x WHERE { ?c a pas:Certification ; pas:relatedOccupationV3/pas:code ?x }")
        links += select("SELECT ?c ?x WHERE { ?e a pas:CertifInfoEntry ; pas:describesCertification ?c ;"
                        " pas:relatedOccupationV3/pas:code ?x }") if entries else []
        titles = select("SELECT ?c ?x WHERE { ?c a pas:Certification ; skos:prefLabel ?x }")
        blocs = select("SELECT ?c ?x WHERE { ?c a pas:Certification ; pas:hasBlock/skos:prefLabel ?x }")
        domains = select("SELECT ?c ?x WHERE { ?c a pas:Certification ;"
                         " pas:trainingDomain/skos:prefLabel ?x }")
        if entries:  # entries that describe no certification are units of their own
            alone = "FILTER NOT EXISTS { ?c pas:describesCertification ?any }"
            links += select("SELECT ?c ?x WHERE { ?c a pas:CertifInfoEntry ;"
                            f" pas:relatedOccupationV3/pas:code ?x {alone} }}")
            titles += select(f"SELECT ?c ?x WHERE {{ ?c a pas:CertifInfoEntry ; skos:prefLabel ?x {alone} }}")
        fields: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for name, rows in (("fiches", links), ("titles", titles), ("blocs", blocs), ("domains", domains)):
            for r in rows:
                fields[r["c"]][name].append(r["x"])
        certs = [
            Certification(tuple(dict.fromkeys(f["titles"])), tuple(dict.fromkeys(f["blocs"])),
                          tuple(dict.fromkeys(f["domains"])), frozenset(f["fiches"]))
            for f in fields.values() if f["fiches"]
        ]
        parents = {
            r["c"]: r["x"]
            for r in select("SELECT ?c ?x WHERE { ?o a pas:Occupation ; pas:code ?c ;"
                            " pas:romeV3Parent/pas:code ?x }")
        }
        return cls(certs, parents, max_fiches)

    def query(self, kind: str, tokens: Iterable[str]) -> _Vector:
        """The unit vector of query ``tokens`` under the idf of ``kind``."""
        return _normed(Counter(tokens), self.idf[kind])

    def v3(self, code: str) -> str:
        return self.parents.get(code, code)


def cert_rows(evidence: CertEvidence, title: str, text: str, candidates: Sequence[str]) -> np.ndarray:
    """The ``CERT_FEATURES`` of each candidate fiche, a (len(CERT_FEATURES), len(candidates)) array."""
    title_q = title_tokens(title)
    title_set = set(title_q)
    body = stems(text[:MAX_TEXT])
    queries = {
        "titles": evidence.query("titles", title_q),
        "text": evidence.query("text", body),
        "blocs": evidence.query("blocs", body),
        "domains": evidence.query("domains", body),
    }
    best_q = _normed(Counter(title_q), evidence.title_idf)
    rows = np.zeros((len(CERT_FEATURES), len(candidates)))
    for k, code in enumerate(candidates):
        fiche = evidence.v3(code)
        for r, kind in ((0, "titles"), (2, "text"), (3, "blocs"), (4, "domains")):
            doc = evidence.vectors[kind].get(fiche)
            if doc:
                rows[r, k] = _cosine(queries[kind], doc)
        rows[1, k] = max((_cosine(best_q, v) for v in evidence.titles_of.get(fiche, ())), default=0.0)
        rows[5, k] = max(
            (sum(w for t, w in words.items() if t in title_set) / total
             for words, total in evidence.covers_of.get(fiche, ())),
            default=0.0,
        )
    return rows
