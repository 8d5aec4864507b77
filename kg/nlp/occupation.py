"""Predict the ROME 4.0 fiche of a French job offer from its title and description alone.

Everything the model knows comes from the graph's own labels (``queries/nlp/occupation-*.rq``):
the appellations of each fiche (ROME 4.0 long and short labels, ROME v3 labels of the same OGR
code), the fiche titles, and each fiche's vocabulary (skills, work contexts, definition and access
texts). Three TF-IDF cosines are combined per fiche:

- ``title``: the cleaned offer title against every appellation (both genders, v3 labels), best
  appellation per fiche; unigrams plus bigrams of stems, so that "agent d'entretien" and
  "agent de maintenance" stay apart;
- ``title_doc``: the title against the fiche's whole vocabulary (catches titles no appellation
  words, e.g. "Technicien fibre optique");
- ``text_doc``: the description against the fiche's vocabulary;
- ``v3_child``: for a fiche that is the ROME v3 fiche of other ROME 4.0 fiches (``code_rome_parent``),
  the best plain (unweighted) score of those fiches: offers are still coded in ROME v3, whose codes
  ROME 4.0 reuses for one of the fiches split out of the old one (an "AES" offer coded K1301);
- ``v3_title``: the title against the appellations whose ROME v3 fiche is this code while their
  ROME 4.0 fiche is another (the same, one appellation at a time).

When the graph holds labelled job offers (``queries/nlp/occupation-offers.rq``), a re-ranker
orders 30 candidates — the 27 best fiches of the plain (unweighted) score and the 3 best others by
``v3_title`` (the ROME v3 fiches of the appellations the title names, which offers still coded in
ROME v3 declare: :meth:`OccupationModel.candidates`) — with a softmax over those candidates of the
twelve features above, three appellation-level title matches (``TITLE_FEATURES``: the title holds a
whole label of the fiche, or is one) and four nearest-offer features
(:mod:`kg.nlp.occupation_memory`: the best title and description cosines with the offers declared
with each fiche, whether it has any and how many, the offer itself and its reposts left out). Its
weights (``RERANK_WEIGHTS``) are fitted on the real offers by
``benchmarks/occupation.py --fit``, which measures the same predictor by grouped cross-validation.
Without labelled offers, the weighted sum of the twelve features (``DEFAULT_WEIGHTS``) ranks.

>>> model = OccupationModel.from_labels(
...     fiches={"N1101": "Conduite d'engins de déplacement des charges", "D1102": "Boulangerie"},
...     appellations=[("N1101", "Cariste"), ("D1102", "Boulanger / Boulangère")],
...     vocabulary={"N1101": ["Conduire un chariot élévateur"], "D1102": ["Pétrir la pâte"]},
... )
>>> [code for code, _ in model.predict("Boulangère (H/F)", "Vous pétrissez la pâte.")]
['D1102', 'N1101']
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pyoxigraph as ox

from kg.namespaces import prefixes_for
from kg.nlp.build_cache import per_build
from kg.nlp.occupation_index import SharedVocabulary, TfIdfIndex
from kg.nlp.occupation_memory import OfferMemory
from kg.nlp.occupation_text import (
    PAIR_JOINER,
    STOPWORDS,
    clean_title,
    gender_variants,
    normalise,
    pairs,
    stem,
    stems,
)

QUERIES = Path(__file__).resolve().parents[2] / "queries" / "nlp"
DEFAULT_BASE = "https://w3id.org/passerelles/"
# Descriptions beyond this many characters add noise (company boilerplate) and cost time.
MAX_TEXT = 4000


FEATURES = (
    "title_cos", "title_qcov", "title_dcov", "title_support", "title_doc", "text_doc", "text_app",
    "head_cos", "head_qcov", "lead_cos", "v3_child", "v3_title",
)
# The features the v3_child feature propagates (the first ten, unweighted: nothing tuned).
BASE_FEATURES = len(FEATURES) - 2
V3_TITLE = FEATURES.index("v3_title")
# Weights of FEATURES, chosen by coordinate ascent on top-1 + top-3/2 over the 528 real offers of
# ../shared/data/offers; benchmarks/occupation.py re-chooses them fold by fold (5-fold CV, duplicate
# offers kept in one fold) and reports what such a choice scores on offers it never saw.
DEFAULT_WEIGHTS = (0.061, 0.061, 0.041, 0.082, 0.041, 0.408, 0.082, 0.034, 0.034, 0.041, 0.082, 0.034)
# The re-ranker: FEATURES, the appellation-level title matches (TITLE_FEATURES) and the nearest-offer
# features (OfferMemory.FEATURES), softmax over the CANDIDATES of OccupationModel.candidates; weights fitted
# on the 528 real offers (benchmarks/occupation.py --fit).
TITLE_FEATURES = ("title_full", "title_exact", "lead_full")
RERANK_FEATURES = (*FEATURES, *TITLE_FEATURES, *OfferMemory.FEATURES)
RERANK_WEIGHTS = (
    1.84, 1.845, 0.516, -0.058, 4.615, 26.698, 1.238, -0.573, 0.25, 1.66, 0.571, 2.265,
    0.934, 0.377, -8.359, 3.374, 4.957, -0.884, 0.283,
)
CANDIDATES = 30
# Of the CANDIDATES, this many are the fiches of best v3_title outside the plain score's first ones:
# offers still coded in ROME v3 declare the v3 fiche of their appellation (the CESF offers coded
# K1201, ROME 4.0 K1225), which the plain score of ROME 4.0 features often leaves out of the list.
V3_CANDIDATES = 3
CACHE_DIR = Path(__file__).resolve().parents[2] / "var" / "cache" / "nlp"
CACHE_VERSION = 13  # bump when the model's fields or features change
# A label whose tokens the title holds (nearly) all of is "contained" in the title.
CONTAINED = 0.999
# Past this many labels with a value, a per-fiche maximum reduces over all labels rather than those.
SPARSE = 3000
# The first characters of a description often restate the job ("Nous recherchons un cariste...").
LEAD = 300
PREFIX = 6
# A rarely used appellation ("Infirmier général", on the fiche of health managers) should not beat
# the common reading of the same words.
RARE_FACTOR = 0.9
_Known = tuple[np.ndarray, np.ndarray]  # distinct token ids (ascending) and their counts
WORD_IDS = 500_000  # description words whose stem's id the model keeps (then it starts afresh)
TITLE_MEMO = 256  # cleaned titles whose rows (~130 kB each) the model keeps, least recently used dropped


def title_features(text: str) -> list[str]:
    """Stems and adjacent-stem bigrams of a label or a cleaned title.

    >>> title_features("Agent d'entretien")
    ['agent', 'entretien', 'agent_entretien', 'entret~']
    """
    words = stems(text)
    return words + pairs(words) + prefixes(words)


def once(words: list[str]) -> list[str]:
    """``words`` without a word that repeats the one before it (a title's "Masc / Fem" pair, stemmed).

    >>> once(["moniteur", "educateur", "moniteur", "educateur"]), once(["aide", "macon", "aide", "macon"])
    (['moniteur', 'educateur', 'moniteur', 'educateur'], ['aide', 'macon', 'aide', 'macon'])
    >>> once(["menuisier", "menuisier", "agencement"])
    ['menuisier', 'agencement']
    """
    return [w for k, w in enumerate(words) if k == 0 or words[k - 1] != w]


def prefixes(words: list[str]) -> list[str]:
    """Word beginnings, so that "électromécanique" meets "électromécanicien" and "soins" "soignant".

    >>> prefixes(["technicien", "usinage", "bois"])
    ['techni~', 'usinag~']
    """
    return [w[:PREFIX] + "~" for w in words if len(w) > PREFIX]


SKIPPED = -1  # a description word that stems() leaves out (a stop word, one letter)


class _WordIds(dict[str, int]):
    """A normalised description word → the :meth:`SharedVocabulary.sequence_id` of its stem, or ``SKIPPED``
    for a word :func:`stems` leaves out; filled on first use."""

    def __init__(self, shared: SharedVocabulary) -> None:
        super().__init__()
        self.shared = shared

    def __missing__(self, word: str) -> int:
        if len(self) >= WORD_IDS:
            self.clear()
        value = SKIPPED if word in STOPWORDS or len(word) <= 1 else self.shared.sequence_id(stem(word))
        self[word] = value
        return value


def _select(store: ox.Store, name: str, base: str) -> list[list[str]]:
    query = (QUERIES / name).read_text(encoding="utf-8")
    result = store.query(query, prefixes=prefixes_for(base))
    assert isinstance(result, ox.QuerySolutions)
    names = [v.value for v in result.variables]
    rows = []
    for solution in result:
        rows.append([solution[n].value if solution[n] is not None else "" for n in names])
    return rows


class OccupationModel:
    """Ranks ROME 4.0 fiches for an offer; build it with :meth:`from_store` or :meth:`from_labels`."""

    def __init__(
        self,
        codes: Sequence[str],
        title_docs: Sequence[tuple[int, list[str], float, bool]],
        fiche_docs: Sequence[list[str]],
        weights: Sequence[float] = DEFAULT_WEIGHTS,
        parents: Mapping[str, str] | None = None,
        v3_titles: Sequence[tuple[int, list[str]]] = (),
    ) -> None:
        self.codes = list(codes)
        self.titles: dict[str, str] = {}
        self.weights = np.asarray(weights, dtype=np.float64)
        if len(self.weights) != len(FEATURES):
            raise ValueError(f"{len(FEATURES)} weights expected, got {len(self.weights)}")
        position = {c: i for i, c in enumerate(self.codes)}
        # (v3 fiche, ROME 4.0 fiche) pairs grouped by v3 fiche, for np.maximum.reduceat.
        links = sorted(
            (position[p], position[c]) for c, p in (parents or {}).items() if c in position and p in position
        )
        self._v3_parent = np.asarray([p for p, _ in links], dtype=np.int64)
        self._v3_child = np.asarray([c for _, c in links], dtype=np.int64)
        self._v3_starts = np.flatnonzero(np.r_[True, np.diff(self._v3_parent) != 0]) if links else None
        self._v3_targets = self._v3_parent[self._v3_starts] if links else None
        order = sorted(range(len(title_docs)), key=lambda k: title_docs[k][0])
        ordered = [title_docs[k] for k in order]
        fiche_of = np.asarray([d[0] for d in ordered], dtype=np.int64)
        if set(fiche_of.tolist()) != set(range(len(self.codes))):
            raise ValueError("every fiche needs at least one label")
        # Start of each fiche's run of labels, for np.maximum.reduceat.
        self._starts = np.searchsorted(fiche_of, np.arange(len(self.codes)))
        # The fiche of each label: the title matches reduce only over the labels the query holds whole.
        self._label_fiche = fiche_of
        self._label_factor = np.asarray([d[2] for d in ordered], dtype=np.float64)
        # The fiche's own title (its "head" reading) among its labels.
        self._is_head = np.asarray([d[3] for d in ordered], dtype=np.float64)
        # The head labels alone, with each fiche's run start, when every fiche has one (its title).
        heads = np.flatnonzero(self._is_head)
        every = len(set(fiche_of[heads].tolist())) == len(self.codes)
        self._heads = heads if every else None
        self._head_starts = np.searchsorted(fiche_of[heads], np.arange(len(self.codes))) if every else None
        self._title_index = TfIdfIndex([d[1] for d in ordered])
        # Appellation labels grouped by their ROME v3 fiche (when it is not their own fiche).
        v3_sorted = sorted(v3_titles, key=lambda d: d[0])
        self._v3_title_index = TfIdfIndex([d[1] for d in v3_sorted]) if v3_sorted else None
        v3_of = np.asarray([d[0] for d in v3_sorted], dtype=np.int64)
        self._v3_title_starts = np.flatnonzero(np.r_[True, np.diff(v3_of) != 0]) if v3_sorted else None
        self._v3_title_targets = v3_of[self._v3_title_starts] if v3_sorted else None
        self._doc_index = TfIdfIndex(fiche_docs)
        self.memory: OfferMemory | None = None
        self.rerank_weights = np.asarray(RERANK_WEIGHTS, dtype=np.float64)
        self._share()

    def _share(self) -> None:
        """One token lookup per offer for all the indexes (:class:`SharedVocabulary`), in this order:
        appellations, fiche vocabularies, v3 appellations, then the labelled offers' titles and texts."""
        indexes = [self._title_index, self._doc_index, self._v3_title_index or TfIdfIndex([])]
        if self.memory is not None:
            indexes += self.memory.indexes
        self._shared = SharedVocabulary(indexes, joiner=PAIR_JOINER)
        self._word_ids = _WordIds(self._shared)
        self._title_memo: OrderedDict[str, np.ndarray] = OrderedDict()
        self._shared_memory = self.memory

    def with_offers(
        self, examples: Iterable[tuple[str, str, str]], weights: Sequence[float] = RERANK_WEIGHTS
    ) -> OccupationModel:
        """This model with labelled offers (title, description, declared code) and the re-ranker's
        weights; no examples (or none of a known fiche) leaves the weighted sum in charge."""
        memory = OfferMemory(examples, self.codes)
        self.memory = memory if memory.count else None
        self._share()
        self.rerank_weights = np.asarray(weights, dtype=np.float64)
        if len(self.rerank_weights) != len(RERANK_FEATURES):
            raise ValueError(f"{len(RERANK_FEATURES)} re-ranker weights expected")
        return self

    @classmethod
    def from_labels(
        cls,
        fiches: dict[str, str],
        appellations: Iterable[tuple[str, str] | tuple[str, str, bool]],
        vocabulary: dict[str, list[str]],
        weights: Sequence[float] = DEFAULT_WEIGHTS,
        parents: Mapping[str, str] | None = None,
        v3_appellations: Iterable[tuple[str, str]] = (),
    ) -> OccupationModel:
        """A model from plain labels: fiche titles, (fiche code, appellation label[, rarely used])
        tuples, fiche texts, the ROME v3 fiche (``parents``) of ROME 4.0 fiches split from it,
        and (ROME v3 fiche, appellation label) pairs of appellations whose v3 fiche is not their fiche.

        An appellation label may be written "Masc / Fem ..." (both genders are indexed); one whose
        fiche is not in ``fiches`` is ignored.
        """
        codes = sorted(fiches)
        position = {c: i for i, c in enumerate(codes)}
        title_docs: dict[tuple[int, str], tuple[int, list[str], float, bool]] = {}
        words: dict[int, list[str]] = defaultdict(list)
        labelled = [(c, label, False, True) for c, label in fiches.items()]
        labelled += [(a[0], a[1], bool(a[2]) if len(a) > 2 else False, False) for a in appellations]
        for code, label, rare, head in labelled:
            if code not in position or not label:
                continue
            i = position[code]
            label_words = stems(label)
            words[i].extend(label_words + pairs(label_words))
            factor = RARE_FACTOR if rare else 1.0
            for variant in gender_variants(label):
                features = title_features(variant)
                key = (i, " ".join(features))
                if key not in title_docs:
                    title_docs[key] = (i, features, factor, head)
                else:
                    _, _, old_factor, old_head = title_docs[key]
                    title_docs[key] = (i, features, max(factor, old_factor), head or old_head)
        # Skill labels repeat across fiches (100k links, 15k distinct labels): tokenise each once.
        tokens: dict[str, list[str]] = {}
        for code, texts in vocabulary.items():
            if code in position:
                for text in texts:
                    if text not in tokens:
                        text_words = stems(text)
                        tokens[text] = text_words + pairs(text_words)
                    words[position[code]].extend(tokens[text])
        fiche_docs = [words[i] for i in range(len(codes))]
        v3_titles = {
            (position[v3], " ".join(f)): (position[v3], f)
            for v3, label in v3_appellations
            if v3 in position and label
            for f in (title_features(variant) for variant in gender_variants(label))
        }
        model = cls(codes, list(title_docs.values()), fiche_docs, weights, parents, list(v3_titles.values()))
        model.titles = dict(fiches)
        return model

    @classmethod
    def from_store(
        cls, store: ox.Store, base: str = DEFAULT_BASE, weights: Sequence[float] = DEFAULT_WEIGHTS
    ) -> OccupationModel:
        """A model from the labels of a built graph (ROME 4.0 fiches, appellations, v3 labels, texts)."""
        fiches = dict(_select(store, "occupation-fiches.rq", base))
        appellations: list[tuple[str, str, bool]] = []
        v3_appellations: list[tuple[str, str]] = []
        for code, label, short, v3label, _main, rare, v3code in _select(
            store, "occupation-appellations.rq", base
        ):
            appellations.extend((code, x, rare == "true") for x in {label, short, v3label} if x)
            if v3code and v3code != code:
                v3_appellations.extend((v3code, x) for x in {label, short, v3label} if x)
        vocabulary: dict[str, list[str]] = defaultdict(list)
        for code, label in _select(store, "occupation-skills.rq", base):
            vocabulary[code].append(label)
        for code, _kind, text in _select(store, "occupation-texts.rq", base):
            vocabulary[code].append(text)
        parents = dict(_select(store, "occupation-parents.rq", base))
        model = cls.from_labels(fiches, appellations, vocabulary, weights, parents, v3_appellations)
        offers = [(title, text, code) for code, title, text in _select(store, "occupation-offers.rq", base)]
        return model.with_offers(offers)

    @classmethod
    def cached(cls, store: ox.Store, store_dir: Path | None, base: str = DEFAULT_BASE) -> OccupationModel:
        """The model of a store build, from ``var/cache/nlp`` when this build was seen before (building
        it from the graph costs ~20 s of CPU, loading it well under one)."""
        if store_dir is None:
            return cls.from_store(store, base)
        key = f"{CACHE_VERSION}|{base}|{DEFAULT_WEIGHTS}|{RERANK_WEIGHTS}"
        return per_build(CACHE_DIR, "occupation", key, store_dir, lambda: cls.from_store(store, base), cls)

    def fiche_title(self, code: str) -> str:
        """The title of fiche ``code`` ("" when unknown)."""
        return self.titles.get(code, "")

    def _best(self, per_label: np.ndarray) -> np.ndarray:
        """Per fiche, the largest value of its labels; ``per_label`` non-negative."""
        # A title touches few of the ~17k labels: the maximum over those (the others are zeros) is the
        # same and cheaper; a reduction over all labels is cheaper past a few thousand.
        touched = (per_label > 0).nonzero()[0]
        if len(touched) > SPARSE:
            return np.maximum.reduceat(per_label, self._starts)
        best = np.zeros(len(self.codes), dtype=np.float64)
        np.maximum.at(best, self._label_fiche[touched], per_label[touched])
        return best

    def _best_head(self, per_label: np.ndarray) -> np.ndarray:
        """:meth:`_best` of the fiches' head labels (the others count as 0); ``per_label`` non-negative."""
        if self._heads is None or self._head_starts is None:
            return self._best(per_label * self._is_head)
        return np.maximum.reduceat(per_label[self._heads], self._head_starts)

    @staticmethod
    def tokens(title: str, text: str) -> tuple[list[str], list[str]]:
        """The title's and the description's query tokens (computed once per offer, read by
        :meth:`features` and by the labelled offers' features)."""
        body = stems(text[:MAX_TEXT])
        return title_features(clean_title(title)), body + pairs(body)

    def features(
        self, title: str, text: str, tokens: tuple[list[str], list[str]] | None = None
    ) -> np.ndarray:
        """The per-fiche features named in FEATURES, a (len(FEATURES), len(codes)) array
        (``tokens``: :meth:`tokens` of the same offer, when already computed)."""
        if tokens is not None:
            return self._features(title, text, *self._known(tokens))
        return self._features(title, text, *self._known_offer(title, text), memo=True)

    def _known(self, tokens: tuple[list[str], list[str]]) -> tuple[_Known, _Known]:
        """The title's and the description's query tokens as shared ids and counts (one lookup each)."""
        return self._shared.known(tokens[0]), self._shared.known(tokens[1])

    def _known_offer(self, title: str, text: str) -> tuple[_Known, _Known]:
        """:meth:`_known` of :meth:`tokens`: the same ids and counts, the description's found from the ids
        of its words' stems (perf only: its ~250 stems and bigrams are neither built nor looked up as
        strings, see :meth:`SharedVocabulary.known_with_pairs`)."""
        words = self._word_ids
        body = [i for w in normalise(text[:MAX_TEXT]).split() if (i := words[w]) != SKIPPED]
        return self._shared.known(title_features(clean_title(title))), self._shared.known_with_pairs(body)

    def _features(
        self, title: str, text: str, query: _Known, body_query: _Known, matches: bool = False,
        memo: bool = False,
    ) -> np.ndarray:
        """FEATURES, then the TITLE_FEATURES when ``matches`` (from the same title and lead coverages:
        the title index is queried once for both). ``memo``: ``query`` is the title's own (:meth:`tokens`),
        so the rows that depend on the title alone may be read from the last titles' (:meth:`_title_rows`)."""
        shared = self._shared
        rows = self._title_rows(title, query, matches, memo)
        text_app = self._title_index.contained_share_known(shared.restrict(body_query, 0)[0])
        lead_query = self._title_index._known(title_features(clean_title(text[:LEAD])))
        # The lead's coverages serve lead_full only: its postings gathered once for both when needed.
        if matches:
            lead_cos, *lead_cover = self._title_index.query_coverage_known(*lead_query)
        else:
            lead_cos = self._title_index.query_known(*lead_query)
        base = np.stack([
            rows[0],
            rows[1],
            rows[2],
            rows[3],
            rows[4],
            self._doc_index.query_known(*shared.restrict(body_query, 1)),
            self._best(text_app),
            rows[5],
            rows[6],
            self._best(lead_cos),
        ])
        v3 = np.zeros(len(self.codes), dtype=np.float64)
        if self._v3_starts is not None:
            plain = base.mean(axis=0)
            v3[self._v3_targets] = np.maximum.reduceat(plain[self._v3_child], self._v3_starts)
        if not matches:
            return np.vstack([base, v3, rows[7]])
        lead_contained, _ = self._contained(lead_cover[0], lead_cover[1])
        return np.vstack([base, v3, rows[7], rows[8], rows[9], lead_contained])

    def _title_rows(self, title: str, query: _Known, matches: bool, memo: bool) -> np.ndarray:
        """The per-fiche rows that depend on the title alone: the best title cosine, query and label
        coverages, the support, the title against the fiche vocabularies, the head cosine and coverage,
        ``v3_title``, then (``matches``) ``title_full`` and ``title_exact``. Perf only: with ``memo``, the
        rows of the last ``TITLE_MEMO`` cleaned titles are kept (16 % of the distinct real offers repeat
        one), the same arrays as computed afresh."""
        cleaned = clean_title(title)
        found = self._title_memo.get(cleaned) if memo else None
        if found is not None and len(found) >= 8 + 2 * matches:
            self._title_memo.move_to_end(cleaned)
            return found
        shared = self._shared
        # One gather of the title's postings for its cosine and its coverages (the same values).
        cos, *cover = self._title_index.query_coverage_known(*shared.restrict(query, 0))
        title_cover = (cover[0], cover[1])
        cos = cos * self._label_factor
        qcov = title_cover[0] * self._label_factor
        near = self._label_fiche[(cos > 0.5).nonzero()[0]]
        support = np.log1p(np.bincount(near, minlength=len(self.codes)).astype(np.float64)) / 3.0
        v3_title = np.zeros(len(self.codes), dtype=np.float64)
        if self._v3_title_index is not None and self._v3_title_starts is not None:
            v3_cos = self._v3_title_index.query_known(*shared.restrict(query, 2))
            v3_title[self._v3_title_targets] = np.maximum.reduceat(v3_cos, self._v3_title_starts)
        rows = [
            self._best(cos),
            self._best(qcov),
            self._best(title_cover[1]),
            np.minimum(support, 1.0),
            # the title's stems and bigrams (its prefixes are no token of the fiche vocabularies)
            self._doc_index.query_known(*shared.restrict(query, 1)),
            self._best_head(cos),
            self._best_head(qcov),
            v3_title,
        ]
        if matches:
            title_words = stems(cleaned)
            once_words = once(title_words)
            if once_words != title_words:  # a repeated stem: the coverage of the title read once
                title_cover = self._title_index.coverage_known(
                    self._title_index._known(once_words + pairs(once_words) + prefixes(once_words))[0]
                )
            rows.extend(self._contained(*title_cover))
        stacked = np.stack(rows)
        if memo:
            if len(self._title_memo) >= TITLE_MEMO:
                self._title_memo.popitem(last=False)
            self._title_memo[cleaned] = stacked
        return stacked

    def forget(self) -> None:
        """Drop the rows kept per title (benchmarks: a second pass over the same offers would read them)."""
        self._title_memo.clear()

    def scores(self, title: str, text: str) -> np.ndarray:
        """The combined score of every fiche, in [0, 1] (weights are normalised to sum to 1)."""
        w = self.weights / (self.weights.sum() or 1.0)
        return np.asarray(w @ self.features(title, text))

    def title_matches(self, title: str, text: str) -> np.ndarray:
        """The TITLE_FEATURES, a (3, len(codes)) array: per fiche, the largest share of the title that
        one of its labels covers when the title holds that whole label (``title_full``: the most
        specific label named wins, "Infirmier en pratique avancée" over "Infirmier"); whether the
        title is exactly one of its labels (``title_exact``); ``title_full`` of the description's
        first 300 characters (``lead_full``). A stem that repeats the one before it is read once (a
        "Masc / Fem" pair written out: "Menuisier / Menuisière d'agencement")."""
        if self._shared_memory is not self.memory:
            self._share()
        known = self._known_offer(title, text)
        return self._features(title, text, *known, matches=True, memo=True)[len(FEATURES):]

    def _contained(self, qcov: np.ndarray, dcov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``title_full`` and ``title_exact`` from a query's coverages of every label."""
        # Only the labels held whole count: the per-fiche maxima over those few (the others would add
        # zeros to a maximum of non-negative values) equal a reduction over all ~17k labels.
        full = np.flatnonzero(dcov >= CONTAINED)
        contained = np.zeros(len(self.codes), dtype=np.float64)
        exact = np.zeros(len(self.codes), dtype=np.float64)
        if len(full):
            fiche = self._label_fiche[full]
            np.maximum.at(contained, fiche, qcov[full] * self._label_factor[full])
            exact[fiche[qcov[full] >= CONTAINED]] = 1.0
        return contained, exact

    def rerank_features(
        self, title: str, text: str, exclude: Iterable[int] | None = None
    ) -> np.ndarray:
        """The per-fiche features named in RERANK_FEATURES, a (len(RERANK_FEATURES), len(codes))
        array: FEATURES, TITLE_FEATURES, then the nearest-offer features (zeros without labelled
        offers). ``exclude``: the examples to leave out (default: the offer's own copies)."""
        if self._shared_memory is not self.memory:  # examples set without with_offers
            self._share()
        query, body_query = self._known_offer(title, text)
        matched = self._features(title, text, query, body_query, matches=True, memo=True)
        if self.memory is None:
            return np.vstack([matched, np.zeros((len(OfferMemory.FEATURES), len(self.codes)))])
        known = (self._shared.restrict(query, 3), self._shared.restrict(body_query, 4))
        return np.vstack([matched, *self.memory.features(title, text, exclude, known=known)])

    def candidates(self, features: np.ndarray, v3: int = V3_CANDIDATES) -> np.ndarray:
        """The positions of the ``CANDIDATES`` fiches the re-ranker orders: the best of the plain
        (unweighted) score, the last ``v3`` of them replaced by the fiches of best ``v3_title`` (the
        ROME v3 fiche of an appellation the title names, when ROME 4.0 moved it) not already among them.

        >>> fiches = {f"F{i:02d}": f"Métier {i}" for i in range(32)}
        >>> model = OccupationModel.from_labels(fiches, [], {})
        >>> features = np.zeros((len(FEATURES), 32))
        >>> features[0] = np.linspace(1.0, 0.1, 32)  # the plain score ranks F00 first, F31 last
        >>> features[V3_TITLE, 31] = 0.4  # F31 is the v3 fiche of an appellation the title names
        >>> model.candidates(features, v3=0)[-3:].tolist(), model.candidates(features, v3=2)[-3:].tolist()
        ([27, 28, 29], [27, 31, 28])
        """
        plain = features[:BASE_FEATURES].mean(axis=0)
        k = min(CANDIDATES, len(self.codes))
        top = np.argpartition(-plain, k - 1)[:k]
        top = top[np.argsort(-plain[top], kind="stable")]
        v3 = min(v3, k)
        if v3 <= 0:
            return top
        kept = top[: k - v3]
        v3_title = features[V3_TITLE].copy()
        v3_title[kept] = 0.0
        best = np.argpartition(-v3_title, v3 - 1)[:v3]
        added = best[np.argsort(-v3_title[best], kind="stable")]
        added = added[v3_title[added] > 0]
        # Three values each: plain lists cost less than np.isin.
        taken = added.tolist()
        rest = [t for t in top[k - v3 :].tolist() if t not in taken][: v3 - len(taken)]
        return np.concatenate([kept, added, np.asarray(rest, dtype=top.dtype)])

    def rerank(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The candidates of :meth:`candidates` and their softmax probabilities under the re-ranker."""
        top = self.candidates(features)
        logits = self.rerank_weights @ features[:, top]
        logits -= logits.max()
        p = np.exp(logits)
        return top, p / p.sum()

    def predict(self, title: str, text: str, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` most likely ROME 4.0 codes, best first, with scores in [0, 1] (the re-ranker's
        probabilities when the model has labelled offers, else the weighted sum of the features)."""
        if self.memory is not None:
            top, p = self.rerank(self.rerank_features(title, text))
            order = np.argsort(-p, kind="stable")[: min(k, len(top))]
            return [(self.codes[top[i]], round(float(p[i]), 4)) for i in order]
        combined = self.scores(title, text)
        k = min(k, len(self.codes))
        top = np.argpartition(-combined, k - 1)[:k]
        top = top[np.argsort(-combined[top], kind="stable")]
        return [(self.codes[i], round(float(combined[i]), 4)) for i in top]
