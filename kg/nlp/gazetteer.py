"""The gazetteer: the graph's own ROME labels, keyed for matching.

Built from a store with the queries of ``queries/nlp/`` (savoir-faire, savoirs, savoir-être,
macro-skills; appellations), each label reduced to its lemma keys (:mod:`kg.nlp.text`) and
indexed by its rarest keys. Building it costs a few seconds on the real graph, so it is cached
per store build (a pickle under ``var/cache/nlp``, named after the build directory).

>>> g = Gazetteer.from_rows(
...     [("100", "Lire un plan", "savoir-faire"), ("200", "Lecture de plan", "savoir")],
...     [("10", "Maçon / Maçonne", "F1703")])
>>> [e.code for e in g.candidates({"lir", "plan", "lect"})]
['100', '200']
>>> g.entries[1].keys
('lect', 'plan')
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pyoxigraph as ox

from kg.config import PROJECT_ROOT
from kg.namespaces import sparql_prologue
from kg.nlp.build_cache import per_build
from kg.nlp.text import content_form, form_key, phrase_keys

QUERIES_DIR = PROJECT_ROOT / "queries" / "nlp"
CACHE_DIR = PROJECT_ROOT / "var" / "cache" / "nlp"
CACHE_VERSION = 19  # bump when the entry layout or the keying changes
ANCHOR_COVERAGE = 0.8  # the lowest coverage a linker may ask for (see Linker.min_coverage)
_PARENS = re.compile(r"\s*\([^)]*\)")


@dataclass(frozen=True)
class Entry:
    """One matchable form of a ROME item: its code, label, kind, lemma keys and form key."""

    code: str
    label: str
    kind: str
    keys: tuple[str, ...]
    form: str
    content: str  # the content words' form keys: what a one-word match is compared with
    alias: bool = False  # an everyday form (ALIASES), not the ROME label: never an "exact" match
    keyset: frozenset[str] = frozenset()  # the keys as a set, for the linker's quick bound
    # every form with these keys ("réactivité", "réactif", "réactive"): a one-word match is
    # compared with the closest (one stem is a weak clue, the word must read like one of them)
    contents: tuple[str, ...] = ()


@dataclass(frozen=True)
class Appellation:
    """A ROME job title with its fiche."""

    code: str
    label: str
    rome: str
    form: str


@dataclass
class Gazetteer:
    """Entries, their inverted index by anchor key, and the inverse document frequency of keys."""

    entries: list[Entry]
    appellations: list[Appellation]
    idf: dict[str, float]
    index: dict[str, list[int]] = field(default_factory=dict)
    title_keys: frozenset[str] = frozenset()
    weights: list[tuple[tuple[float, ...], float]] = field(default_factory=list)  # per entry, and total
    fiche_items: dict[str, frozenset[str]] = field(default_factory=dict)  # ROME fiche → its item codes

    @classmethod
    def from_rows(
        cls,
        skills: Iterable[tuple[str, str, str]],
        appellations: Iterable[tuple[str, str, str]] = (),
        fiche_items: Iterable[tuple[str, str]] = (),
    ) -> Gazetteer:
        """Build from ``(code, label, kind)`` skill rows, ``(code, label, rome)`` appellations and
        ``(rome, item code)`` rows of the items each fiche lists."""
        skills = list(skills)
        # An acronym that several items write ("CACES", also as the head of "CACES R 390") names
        # none of them alone.
        named: dict[str, set[str]] = defaultdict(set)
        for code, label, _ in skills:
            for acronym in _ACRONYM.findall(label):
                named[acronym].add(code)
            for head in _PAREN_HEAD.findall(label):
                named[head].add(code)
        shared = {a for a, codes in named.items() if len(codes) > 1}
        # One entry per item and key set; the other forms with the same keys are kept as its contents.
        found: dict[tuple[str, tuple[str, ...]], tuple[str, str, str, str, bool, list[str]]] = {}
        for code, label, kind in skills:
            variants = [(v, False) for v in _variants(label, kind) if v not in shared] + [
                (a, True) for a in ALIASES.get(code, ())
            ]
            for variant, alias in variants:
                keys = tuple(dict.fromkeys(phrase_keys(variant)))
                if not keys:
                    continue
                content = content_form(variant)
                if (code, keys) in found:
                    if content not in found[code, keys][5]:
                        found[code, keys][5].append(content)
                    continue
                found[code, keys] = (label, kind, form_key(variant), content, alias, [content])
        entries = [
            Entry(code, label, kind, keys, form, content, alias, frozenset(keys), tuple(contents))
            for (code, keys), (label, kind, form, content, alias, contents) in found.items()
        ]
        df = Counter(k for e in entries for k in set(e.keys))
        n = max(len(entries), 1)
        idf = {k: math.log(1 + n / c) for k, c in df.items()}
        index: dict[str, list[int]] = defaultdict(list)
        for number, entry in enumerate(entries):
            # A match needs ANCHOR_COVERAGE of the entry's weight, hence at least one key of the
            # heaviest keys whose complement weighs less than that: index the entry by those.
            ranked = sorted(entry.keys, key=lambda k: -idf[k])
            total = sum(idf[k] for k in ranked)
            rest = total
            for key in ranked:
                index[key].append(number)
                rest -= idf[key]
                if rest < ANCHOR_COVERAGE * total:
                    break
        apps = [
            Appellation(c, label, rome, form_key(_PARENS.sub("", label))) for c, label, rome in appellations
        ]
        title_keys = frozenset(k for a in apps for k in phrase_keys(a.label))
        weights = []
        for entry in entries:
            ws = tuple(idf[k] for k in entry.keys)
            weights.append((ws, sum(ws)))
        items: dict[str, set[str]] = defaultdict(set)
        for rome, code in fiche_items:
            items[rome].add(code)
        return cls(
            entries, apps, idf, dict(index), title_keys, weights, {k: frozenset(v) for k, v in items.items()}
        )

    @classmethod
    def from_store(cls, store: ox.Store, base_iri: str = "https://w3id.org/passerelles/") -> Gazetteer:
        """Read the labels from a store with ``queries/nlp/gazetteer-*.rq``."""
        skills = [(r[0], r[1], r[2]) for r in select(store, "gazetteer-skills.rq", base_iri)]
        apps = [(r[0], r[1], r[2]) for r in select(store, "gazetteer-appellations.rq", base_iri)]
        items = [(r[0], r[1]) for r in select(store, "gazetteer-fiche-items.rq", base_iri)]
        return cls.from_rows(sorted(skills), sorted(apps), items)

    @classmethod
    def cached(
        cls, store: ox.Store, store_dir: Path | None, base_iri: str = "https://w3id.org/passerelles/"
    ) -> Gazetteer:
        """The gazetteer of a store build, from the cache when this build was seen before."""
        if store_dir is None:
            return cls.from_store(store, base_iri)
        key = f"{CACHE_VERSION}|{base_iri}"
        return per_build(CACHE_DIR, "gazetteer", key, store_dir, lambda: cls.from_store(store, base_iri), cls)

    def candidates(self, keys: Iterable[str]) -> list[Entry]:
        """Entries one of whose anchor keys is in ``keys`` (in entry order, no duplicates)."""
        return [self.entries[n] for n in self.candidate_numbers(keys)]

    def candidate_numbers(self, keys: Iterable[str]) -> list[int]:
        """The numbers of the entries :meth:`candidates` returns."""
        numbers: set[int] = set()
        for key in keys:
            numbers.update(self.index.get(key, ()))
        return sorted(numbers)

    def prior(self, fiches: Iterable[str]) -> frozenset[str]:
        """The item codes the given ROME fiches list (the linker's prior for an offer).

        >>> g = Gazetteer.from_rows([("1", "Lire un plan", "savoir-faire")], (), [("F1703", "1")])
        >>> sorted(g.prior(["F1703", "Z9999"]))
        ['1']
        """
        out: set[str] = set()
        for fiche in fiches:
            out |= self.fiche_items.get(fiche, frozenset())
        return frozenset(out)

    def weight(self, key: str) -> float:
        """The inverse document frequency of a key (rare keys weigh more; unknown ones most)."""
        return self.idf.get(key, math.log(1 + len(self.entries)))


# Everyday forms of the 16 ROME savoir-être items and of a few licences, which offers write as
# adjectives or short nouns ("rigoureux", "organisé", "permis B"); keyed by ROME code. These are
# forms of the language, written from the labels (not learned from annotated offers).
ALIASES: dict[str, tuple[str, ...]] = {
    "300490": ("rigueur", "rigoureux", "rigoureuse", "précision", "précis", "minutieux", "minutieuse"),
    "300460": ("autonomie", "autonome"),
    "300465": ("esprit d'équipe", "travail en équipe", "travailler en équipe", "sens du travail en équipe"),
    "300461": ("sens des responsabilités",),  # not "responsable": mostly a job title in offers
    "300473": ("réactivité", "réactif", "réactive"),
    "300483": (
        "organisation",
        "sens de l'organisation",
        "organisé",
        "organisée",
        "bien organisé",
        "capacité d'organisation",
    ),
    "300412": (
        "écoute",
        "à l'écoute",
        "empathie",
        "empathique",
        "bienveillance",
        "bienveillant",
        "bienveillante",
    ),
    "300479": ("adaptabilité", "capacité d'adaptation", "flexible", "flexibilité", "s'adapter"),
    "300493": ("curiosité", "curieux", "curieuse", "ouverture d'esprit"),
    "300497": ("créativité", "créatif", "créative", "inventivité"),
    "399999": ("sens du service", "sens du client", "sens du service client", "orientation client"),
    "300478": ("maîtrise de soi", "gestion du stress", "sang-froid", "calme"),
    "300467": ("force de proposition",),
    "300485": ("persévérance", "persévérant", "persévérante", "ténacité", "tenace"),
    "300489": ("leadership", "meneur", "meneuse"),
    "123456": ("permis B", "permis de conduire B", "permis VL"),
}


def _variants(label: str, kind: str) -> list[str]:
    """The forms a label is matched by: without its parenthetical examples; an acronym in
    parentheses on its own ("… (FIMO)", "… (CACES R 390)"); a savoir-être label also by each
    of its comma-separated halves ("Etre à l'écoute, faire preuve d'empathie").

    >>> _variants("Formation Initiale Minimum Obligatoire (FIMO)", "savoir")
    ['Formation Initiale Minimum Obligatoire', 'FIMO']

    (An acronym several items write is dropped by :meth:`Gazetteer.from_rows`.)
    """
    bare = _PARENS.sub("", label).strip() or label
    out = [bare]
    out += [a for a in _ACRONYM.findall(label) if sum(c.isupper() for c in a) >= 2]
    if kind == "savoir-etre" and "," in bare:
        out += [p.strip() for p in bare.split(",") if p.strip()]
    return out


_PAREN_HEAD = re.compile(r"\(([A-Z][A-Z0-9]{1,7})\b")  # "(CACES R 372-1)" → CACES
_ACRONYM = re.compile(r"\(([A-Z][A-Z0-9]{1,7}(?: [A-Z]?[0-9]{2,3})?)\)")


def select(store: ox.Store, name: str, base_iri: str, **bindings: ox.Literal) -> list[list[str]]:
    """Rows (as strings) of a SELECT query of ``queries/nlp``.

    >>> s = ox.Store()
    >>> select(s, "blocks.rq", "https://w3id.org/passerelles/")
    []
    """
    query = sparql_prologue(base_iri) + "\n".join(
        line
        for line in (QUERIES_DIR / name).read_text(encoding="utf-8").splitlines()
        if not line.startswith("#+")
    )
    solutions = store.query(query, substitutions={ox.Variable(k): v for k, v in bindings.items()})
    assert isinstance(solutions, ox.QuerySolutions)
    names = [v.value for v in solutions.variables]
    return [[s[n].value if s[n] is not None else "" for n in names] for s in solutions]
