"""A learned second stage for the skill linker: candidates generated liberally, each described by a few
features the linker computes anyway, scored by a small L2-regularised logistic regression.

The first stage (:class:`kg.nlp.linker.Linker`) keeps a candidate item when hand-set scores pass
thresholds chosen by cross-validation. Here a *liberal* linker (looser thresholds, the items of the
first few predicted fiches as prior) proposes more (clause span, item) pairs; each becomes a
:class:`Candidate` with a feature vector (:data:`FEATURES`): the share of the label's weight found, how
rare the shared words are, rapidfuzz ratios of the span and the label, the item's kind, whether and where
the predicted fiches list it, the clause's section and length, the best competing candidate of the
clause, and whether the shipped linker links it. :func:`fit` learns the weights (numpy, Newton steps);
:func:`decide` keeps, per clause, the most probable candidates above a threshold, each claiming its
words as the linker's own competition does.

>>> import numpy
>>> X = numpy.array([[0.0], [1.0], [2.0], [3.0]]); y = numpy.array([0, 0, 1, 1])
>>> model = fit(X, y, ("score",), l2=0.1)
>>> bool(model.probability(X)[3] > 0.5 > model.probability(X)[0])
True
"""

from __future__ import annotations

import bisect
import json
import math
import operator
import os
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from functools import cached_property
from itertools import compress
from pathlib import Path

import numpy
from rapidfuzz import fuzz

from kg.nlp import structure as label_structure
from kg.nlp.forest import Forest
from kg.nlp.gazetteer import Entry, Gazetteer
from kg.nlp.learned_aliases import COLUMNS as ALIAS_FEATURES
from kg.nlp.learned_aliases import Match, Shipped, new_matches
from kg.nlp.linker import Linker, Mention, Prune, Scored, Token, key_places, run_starts, same_places
from kg.nlp.near_copies import group_members, grouped_parts
from kg.nlp.phrase_rates import FEATURES as PHRASE_FEATURES
from kg.nlp.phrase_rates import PhraseTable, phrase_key
from kg.nlp.structure import CORE, Structure, entry_structure
from kg.nlp.text import form_key, normalise_phrase

KINDS = ("savoir-faire", "savoir", "savoir-etre", "macro-competence")
SECTIONS = ("intro", "missions", "profile", "qualities")
# The features of the label's structure (after the base features, before the offer's: the shipped model's
# feature layout, BASE_FEATURES, stays the same)
STRUCTURE_FEATURES: tuple[str, ...] = label_structure.FEATURES
# Those the shipped model reads (benchmarks/rerank_skills.py, variant "structure: verb and head": under
# 5-fold CV on 106 DEV offers P 0.692 R 0.560 against 0.690 / 0.548 without them, same run; with
# mention_side_coverage too, 0.693 / 0.563, but the prefilters can only bound that one, and let twice the
# candidates through: docs/guides/skill-label-structure.md)
SHIPPED_STRUCTURE = ("verb_found", "head_found", "head_and_verb")
FEATURES: tuple[str, ...] = (
    "score",  # the liberal linker's score (coverage × compactness)
    "coverage",  # the idf-weighted share of the label's keys found in the clause
    "compactness",  # matched words / words of the window they span
    "shared_keys",  # label keys found
    "label_keys",  # label keys
    "missing_weight",  # idf of the label's keys not found (÷ 10)
    "rarest_shared",  # idf of the rarest key found (÷ 10)
    "anchor",  # the label's rarest key is found
    "one_key",  # the label has one key
    "fuzzy_word",  # a word was mapped to the key by rapidfuzz
    "exact",  # the span reads as the label (accents and case aside)
    "ratio",  # rapidfuzz ratio of the span and the label's form key (÷ 100)
    "token_set",  # rapidfuzz token-set ratio of the same (÷ 100)
    "fiche1",  # the top predicted fiche lists the item
    "fiche2",  # the second one does
    "fiche3",  # the third one does
    "fiche_score",  # the occupation score of the best predicted fiche listing it, ÷ the top score
    *(f"kind_{k}" for k in KINDS),
    "alias",  # an everyday form (gazetteer.ALIASES) rather than the label
    *(f"section_{s}" for s in SECTIONS),
    "clause_words",  # log(1 + keyed words of the clause)
    "span_words",  # keyed words of the span's window
    "best_other",  # the best score of another item in the clause
    "margin",  # score − best_other
    "rank",  # 1 / (1 + the candidate's rank by score in its clause)
    "fiches_holding",  # log(1 + number of ROME fiches that list the item)
    "linked",  # the shipped linker links this item at an overlapping span
    # the label's structure (kg.nlp.structure): which of its parts the clause has
    *STRUCTURE_FEATURES,
    # the offer around the clause
    "item_clauses",  # log(1 + clauses of the offer where the item is a candidate)
    "linked_elsewhere",  # the shipped linker links the item in another clause of the offer
    "fiche_linked",  # log(1 + the offer's linked items that the item's best predicted fiche lists)
)
# a clause's keyed words and its keys' (place, weight factor) in them (Linker.scored_many)
_Keyed = tuple[list[tuple[int, str, float]], dict[str, list[tuple[int, float]]]]
# a clause's token list, keyed words, keys' (place, weight factor) and best factors (alias_candidate)
_Words = tuple[Sequence[Token], list[tuple[int, str, float]], dict[str, list[tuple[int, float]]],
               dict[str, float]]
MEMO_SIZE = 100_000  # clauses whose liberal candidates the generator keeps (then it starts afresh)
SPAN_VALUES = 65_536  # (label form, span) pairs whose _span_values are kept (then it starts afresh)
PHRASE_PARTS = 65_536  # (item, phrase) pairs whose phrase_part a model's bound keeps (then it starts afresh)
# The Linker fields a clause's candidates depend on (the gazetteer and the synonym and association tables
# come with the instance)
_SETTINGS = tuple(f.name for f in fields(Linker) if f.name not in {"gazetteer", "synonyms", "associations"})
# The features of the offer around a clause (the last ones; Generator._in_offer)
OFFER_FEATURES = FEATURES[FEATURES.index("item_clauses") :]
# The features of the shipped model (kg/nlp/rerank-model.json names its own; these are the first ones)
BASE_FEATURES = FEATURES[: FEATURES.index("linked") + 1]
# The features that read the other candidates of the clause (the liberal linker must score them all)
OTHERS_FEATURES = ("best_other", "margin", "rank")
# The features that read the shipped (first-stage) linker's links (it must run before the second stage)
FIRST_STAGE_FEATURES = ("linked", "linked_elsewhere", "fiche_linked")

# The liberal first stage: every threshold of the shipped linker loosened (benchmarks/rerank_skills.py).
# min_coverage 0.6 → 0.5, min_score 0.5 → 0.4, prior_coverage 0.25 → 0.2 in session 11 ("wide",
# docs/guides/skill-wide-candidates.md): with the label-structure features the model keeps P 0.70 over
# the wider set.
LIBERAL = {
    "min_coverage": 0.5,
    "min_score": 0.4,
    "single_word": 80.0,
    "prior_coverage": 0.2,
    "prior_min_keys": 1,
    "prior_anchor": False,
    "outside_score": 0.0,
    "prior_bonus": 0.0,
    "one_word_savoir_away": (),
    "prior_lone_word": 5.0,
}


@dataclass(frozen=True)
class Candidate:
    """One (clause span, item) pair: the clause's number in the offer, the item, the span's offsets,
    the clause tokens it uses (for the competition of :func:`decide`) and its features; ``alias``: a learned
    alias's candidate's :data:`ALIAS_FEATURES` (:mod:`kg.nlp.learned_aliases`; empty: all 0)."""

    clause: int
    code: str
    start: int
    end: int
    used: frozenset[int]
    features: tuple[float, ...]
    alias: tuple[float, ...] = ()


@dataclass
class Generator:
    """Proposes and describes the candidates of an offer's clauses.

    ``fiches``: how many predicted fiches give the liberal linker's prior; ``titles``: normalised job
    titles, a span reading as one is no skill (as in :class:`kg.nlp.pipeline.SkillLinker`)."""

    gazetteer: Gazetteer
    fiches: int = 3
    settings: Mapping[str, object] = field(default_factory=lambda: dict(LIBERAL))
    titles: frozenset[str] = frozenset()
    # perf only: leave out the hopeless candidates before the liberal linker scores them when the model
    # allows it (_Prefilter.early); False: after (the same candidates; tests compare the two)
    early: bool = True

    def __post_init__(self) -> None:
        self.linker = Linker(self.gazetteer, **self.settings)  # type: ignore[arg-type]
        holding: dict[str, int] = {}
        for items in self.gazetteer.fiche_items.values():
            for code in items:
                holding[code] = holding.get(code, 0) + 1
        self._holding = holding
        self._by_code: dict[str, list[int]] = {}
        for number, entry in enumerate(self.gazetteer.entries):
            self._by_code.setdefault(entry.code, []).append(number)
        self._code_ids = {code: number for number, code in enumerate(self._by_code)}
        # perf only: an entry's own features, once looked up (_entry_features); per offer, an item's fiche
        # features; a section's
        self._static: dict[int, tuple[float, str, float, tuple[float, ...], float]] = {}
        self._fiches: dict[str, tuple[float, ...]] = {}
        self._sections: dict[str, tuple[float, ...]] = {}
        self._prefilters: dict[int, tuple[Model, _Prefilter]] = {}
        self._structures: dict[int, Structure] = {}  # an entry's label structure, once analysed
        # a clause's text, predicted fiches and section → its tokens, start, keyed words and candidates
        self._memo: dict[tuple[object, ...], tuple[list[Token], int, tuple[list[tuple[int, str, float]],
                                                                       list[Scored]]]] = {}
        self._setting_ids: dict[tuple[object, ...], int] = {}

    def forget(self) -> None:
        """Drop the liberal linker's results kept per clause."""
        self._memo.clear()
        self._setting_ids.clear()

    def _scored_all(
        self, clauses: Sequence[tuple[int, int, list[Token], str]], text: str, prior: frozenset[str],
        lists: Sequence[frozenset[str]], top: tuple[str, ...], early: _Prefilter | None = None,
        protected: Sequence[frozenset[str]] = (),
    ) -> list[tuple[list[tuple[int, str, float]], list[Scored]]]:
        """The liberal linker's keyed words and candidates of each clause (:meth:`Linker.scored_many`);
        with ``early``, but the candidates it finds hopeless before their window (:meth:`_Prefilter.early`;
        ``protected``: per clause, the items the shipped linker links there, never left out).

        Perf only: a clause met before (8 % of the 10,742 clauses of the 610 real offers: an employer's
        boilerplate under the same three fiches) with the same words at the same places, the same
        predicted fiches and section has the same ones, relative to its words (its keyed words' places
        among its tokens, the candidates' places among its keyed words); the others are scored
        together."""
        keys: list[tuple[object, ...]] = []
        out: list[tuple[list[tuple[int, str, float]], list[Scored]] | None] = []
        # the linker's settings (a benchmark may change them on the instance), as a small number
        linker = self.linker
        state = (id(linker), *(getattr(linker, name) for name in _SETTINGS))
        settings = self._setting_ids.setdefault(state, len(self._setting_ids))
        for number, (start, end, tokens, section) in enumerate(clauses):
            stop = max(end, tokens[-1][1]) if tokens else end
            key: tuple[object, ...] = (text[start:stop], top, section, settings)
            if early is not None:  # what it leaves out depends on the model and the clause's links
                key += (id(early), protected[number])
            keys.append(key)
            known = self._memo.get(key)
            out.append(known[2] if known is not None and same_places(known[0], known[1], tokens, start)
                       else None)
        new = [n for n, found in enumerate(out) if found is None]
        if new:
            sections = [clauses[n][3] for n in new]
            prune: Prune | None = None
            if early is not None:
                kept = [protected[n] for n in new]

                def prune(found: Sequence[_Keyed], numbers: numpy.ndarray, rows: numpy.ndarray,
                          reach: numpy.ndarray) -> numpy.ndarray:
                    assert early is not None
                    return early.early(found, numbers, rows, reach, sections, lists, kept)

            scored = self.linker.scored_many([clauses[n][2] for n in new], text, prior or None, sections,
                                             lists, prune)
            if len(self._memo) + len(new) > MEMO_SIZE:
                self._memo.clear()
            for n, found in zip(new, scored, strict=True):
                out[n] = found
                self._memo[keys[n]] = (clauses[n][2], clauses[n][0], found)
        return [found for found in out if found is not None]

    @staticmethod
    def bounded(model: Model) -> bool:
        """Whether :meth:`candidates` can bound ``model``'s logit: it reads no feature of the offer around a
        clause (those come last)."""
        return set(model.features) <= {*BASE_FEATURES, *STRUCTURE_FEATURES, *RATE_FEATURES, *PHRASE_FEATURES,
                                        *ALIAS_FEATURES}

    def _early(self, model: Model | None, scores: Sequence[float]) -> _Prefilter | None:
        """The prefilter that leaves out candidates before the liberal linker scores them, when it can
        (:meth:`_Prefilter.early`): the model reads no other candidate's score, the linker has no synonym
        nor association table, and the predicted fiches' scores put ``fiche_score`` in [0, 1] (the top one
        positive, none above it nor negative)."""
        if not self.early or model is None:
            return None
        prefilter = self._prefilter(model)
        linker = self.linker
        if not prefilter.early_ok or (linker.synonyms and linker.synonym_weight > 0) or (
            linker.associations and linker.assoc_lift is not None
        ):
            return None
        if scores and not (scores[0] > 0 and all(0 <= s <= scores[0] for s in scores)):
            return None
        return prefilter

    def _prefilter(self, model: Model | None) -> _Prefilter:
        """The prefilter of ``model`` (built once per model: its per-entry part covers the gazetteer)."""
        assert model is not None
        known = self._prefilters.get(id(model))
        if known is None or known[0] is not model:
            known = self._prefilters[id(model)] = (model, _Prefilter(self, model))
        return known[1]

    def candidates(
        self,
        clauses: Sequence[tuple[int, int, list[Token], str]],
        text: str,
        predicted: Sequence[tuple[str, float]],
        linked: Iterable[Mention] = (),
        model: Model | None = None,
    ) -> list[Candidate]:
        """The candidates of an offer: ``clauses`` as :meth:`kg.nlp.pipeline.SkillLinker.clauses_of` gives
        them, ``predicted`` the occupation's (fiche, score) candidates, ``linked`` the shipped linker's
        mentions (a feature, and candidates of their own when the liberal linker missed them).

        ``model`` (perf only): leave out the candidates it cannot keep — those whose logit, with the
        features that need rapidfuzz (``exact``, ``ratio``, ``token_set``) at their most favourable value,
        is under its threshold (with trees: the logistic's probability under the gate) — before computing
        those features, then, knowing them, those still under it (:meth:`_Prefilter.keep`) before the
        others; and the features of the offer around a clause when it does not read them. A left-out
        candidate is below the threshold (with trees: gets 0, under a threshold above 0) whatever those
        features are, so :func:`decide` would neither keep it nor let it claim words: the kept ones are
        the same."""
        bound = model.bound if model is not None and self.bounded(model) else None
        self._fiches = {}  # they depend on the offer's predicted fiches
        top = [code for code, _ in predicted[: self.fiches]]
        lists = [self.gazetteer.fiche_items.get(code, frozenset()) for code in top]
        scores = [score for _, score in predicted[: self.fiches]]
        prior = frozenset().union(*lists) if lists else frozenset()
        linked_by_clause: dict[int, list[Mention]] = {}
        for mention in linked:
            for number, (start, end, _, _) in enumerate(clauses):
                if start <= mention.start < end:
                    linked_by_clause.setdefault(number, []).append(mention)
                    break
        early = self._early(model, scores) if bound is not None else None
        protected = [frozenset(m.code for m in linked_by_clause.get(n, ())) for n in range(len(clauses))]
        # the learned aliases' matches: their items are protected from the early bound, so that the rule
        # "no candidate of the item on overlapping words" (new_matches) reads the same liberal candidates as
        # without it (as the CV read them: benchmarks/skill_aliases.py)
        aliases = model.aliases.matches(clauses) if model is not None else []
        if aliases:
            items: dict[int, set[str]] = {}
            for m in aliases:
                items.setdefault(m.clause, set()).add(m.code)
            protected = [p | items[n] if n in items else p for n, p in enumerate(protected)]
        scored_all = self._scored_all(clauses, text, prior, lists, tuple(top), early, protected)
        out: list[Candidate] = []
        # each candidate (one per item and clause, best score first) before its features: its clause, the
        # place of the clause's keyed words and key strengths in per_clause, its entry, score, keyed words
        # first, last and used, its span, the best other item's score, its rank, whether it is linked
        rows: list[_Row] = []
        per_clause: list[tuple[list[tuple[int, str, float]], dict[str, float]]] = []
        # perf only: the label's structure features when the model reads them (0 otherwise)
        structured = model is None or not set(model.features).isdisjoint(STRUCTURE_FEATURES)
        # perf only: verb_found, head_found, head_and_verb alone when the model reads no other (the others 0)
        core_only = structured and model is not None and (
            set(model.features) & set(STRUCTURE_FEATURES) <= set(CORE))
        sides: list[list[int]] = []  # per clause of per_clause: each keyed word's stretch between punctuation
        entries = self.gazetteer.entries
        for number, ((_, _, tokens, _), (keyed, scored)) in enumerate(
            zip(clauses, scored_all, strict=True)
        ):
            links = linked_by_clause.get(number, ())
            if not scored and not links:  # perf only: no candidate (most clauses once the early bound ran)
                continue
            positions = key_places(keyed)
            pairs = list(map(_PAIR, scored))  # (number, score, first, last, used) of each
            known = {s[1].code for s in scored}  # (the entries' codes: Scored.code is a property, perf only)
            for mention in links:
                if mention.code not in known:  # a link the liberal linker does not propose
                    extra = self._window(mention.code, keyed, positions, tokens, mention)
                    if extra is not None:
                        pairs.append(extra)
                        known.add(mention.code)
            if not pairs:
                continue
            best: dict[str, float] = {}
            for entry_number, score, *_ in pairs:
                code = entries[entry_number].code
                best[code] = max(best.get(code, 0.0), score)
            ranked = sorted(best.items(), key=lambda item: -item[1])
            rank_of: dict[float, int] = {}  # a score's rank: how many items score more
            for place, (_, value) in enumerate(ranked):
                rank_of.setdefault(value, place)
            strength = _strength(positions)
            per_clause.append((keyed, strength))
            if structured and not core_only:
                sides.append(_stretches(keyed, tokens))
            seen: set[str] = set()
            place = len(per_clause) - 1
            top_code, top_score = ranked[0]
            second = ranked[1][1] if len(ranked) > 1 else 0.0
            for entry_number, score, first, last, used in sorted(pairs, key=lambda p: -p[1]):
                code = entries[entry_number].code
                if code in seen:  # one candidate per item and clause: its best form
                    continue
                seen.add(code)
                start, end = tokens[keyed[first][0]][0], tokens[keyed[last][0]][1]
                # the best score of another item: the top one's, or the second's when this is the top item
                other = top_score if top_code != code else second
                is_linked = bool(links) and any(
                    m.code == code and m.start < end and start < m.end for m in links
                )
                rows.append((number, place, entry_number, score, first, last, used, start, end,
                             other, rank_of[best[code]], is_linked))
        # perf only: most candidates are hopeless under the model; the prefilter tells most of them apart
        # for the whole offer at once, before their features are computed one by one (with their span's
        # features, computed once: most of those under the gate are told apart by them)
        spans: dict[int, tuple[float, float, float]] = {}

        def span_of(row: int) -> tuple[float, float, float]:
            start, end = rows[row][7], rows[row][8]
            found = spans[row] = _span_values(entries[rows[row][2]], text[start:end])
            return found

        if aliases:  # the liberal candidates of the aliases' items, before any bound, job titles out
            wanted = {(m.clause, m.code) for m in aliases}
            spans_of = [(r[0], entries[r[2]].code, r[7], r[8]) for r in rows]
            aliases = new_matches(aliases, [s for s in spans_of if s[:2] in wanted
                                            and normalise_phrase(text[s[2] : s[3]]) not in self.titles])

        def phrase_of(row: int) -> str:  # the row's phrase, as Model.rows reads it (kept per span)
            return phrase_key(text[rows[row][7] : rows[row][8]])

        keep = None if bound is None else self._prefilter(model).keep(rows, per_clause, clauses, lists,
                                                                      scores, prior, span_of, phrase_of)
        # the prefilter read the span features: the bound that knows them replaces the one that does not
        exactly = bound is not None and self._prefilter(model).spans
        # (the rows kept, in order: compress skips the others in C, perf only)
        for row, (number, place, entry_number, score, first, last, used, start, end, other, rank,
                  linked_here) in (enumerate(rows) if keep is None else compress(enumerate(rows), keep)):
            keyed, strength = per_clause[place]
            entry = self.gazetteer.entries[entry_number]
            values = self._features(
                entry_number, score, first, last, used, keyed, strength, clauses[number][3], lists, scores,
                other, rank, linked_here,
            )
            if core_only:
                values += self._core_features(entry_number, strength)
            else:
                values += self._structure_features(entry_number, strength, keyed, sides[place], first, last) \
                    if structured else _NO_STRUCTURE
            if bound is not None and not exactly and bound.hopeless(values, entry.code):
                continue
            span = text[start:end]
            if normalise_phrase(span) in self.titles:
                continue
            features = self._span_features(values, entry, span, spans.get(row))
            if exactly and bound is not None and bound.hopeless_exactly(features, entry.code):
                continue
            out.append(
                Candidate(number, entry.code, start, end, frozenset(keyed[u][0] for u in used), features)
            )
        if bound is None:  # the model may read the offer's features
            out = self._in_offer(out, linked_by_clause, lists)
        if aliases:  # (a few per offer: past every bound)
            assert model is not None
            width = len(FEATURES) if bound is None else len(FEATURES) - len(OFFER_FEATURES)
            clause_words: dict[int, _Words] = {}  # (perf only: ~2.4 matches per clause that has one)
            for m in aliases:
                found = self.alias_candidate(clauses[m.clause], m, text, lists, scores, width,
                                             model.aliases.columns(m), clause_words)
                if found is not None:
                    out.append(found)
        return out

    def alias_candidate(
        self, clause: tuple[int, int, list[Token], str], match: Match, text: str,
        lists: Sequence[frozenset[str]], scores: Sequence[float], width: int = 0,
        columns: tuple[float, ...] = (),
        words: dict[int, _Words] | None = None,
    ) -> Candidate | None:
        """A learned alias's match (:mod:`kg.nlp.learned_aliases`) as a candidate: the features the liberal
        generator gives a candidate (:meth:`_features`, the verb and head of the label's structure, the
        span's rapidfuzz ratios) with the liberal score 0 and no competitor, over the item's form that
        shares the most keys with the clause, the others 0 up to ``width`` features; ``columns``: its
        :data:`ALIAS_FEATURES`. None when the gazetteer has no such item, or when no word of the window is
        in its vocabulary (no feature to read). ``lists``, ``scores``: the predicted fiches' items and
        scores (the generator's fiche features are those of the offer being read). ``words`` (perf only):
        a clause's keyed words, key places and strengths, kept by its token list's id for the next match of
        the same clause."""
        entries = self._by_code.get(match.code)
        if not entries:
            return None
        _, _, tokens, section = clause
        known = words.get(id(tokens)) if words is not None else None
        if known is not None and known[0] is tokens:
            _, keyed, positions, strength = known
        else:
            keyed = self.linker.keyed(tokens)
            positions = key_places(keyed)
            strength = _strength(positions)
            if words is not None:
                words[id(tokens)] = (tokens, keyed, positions, strength)
        entry_number = max(entries, key=lambda n: len(self.gazetteer.entries[n].keyset & positions.keys()))
        inside = [o for o, (t, _, _) in enumerate(keyed) if t in match.used]
        if not inside:  # (words the gazetteer does not key: its keyed words in the window, if any)
            inside = [o for o, (t, _, _) in enumerate(keyed)
                      if tokens[t][0] >= match.start and tokens[t][1] <= match.end]
        if not inside:
            return None
        values = self._features(entry_number, 0.0, inside[0], inside[-1], inside, keyed, strength, section,
                                lists, scores, 0.0, len(positions), False)
        values += self._core_features(entry_number, strength)
        features = self._span_features(values, self.gazetteer.entries[entry_number],
                                       text[match.start : match.end])
        features += (0.0,) * (width - len(features))
        return Candidate(match.clause, match.code, match.start, match.end, match.used, features, columns)

    def _in_offer(
        self, found: list[Candidate], linked: dict[int, list[Mention]], lists: Sequence[frozenset[str]]
    ) -> list[Candidate]:
        """The candidates with the features of the offer around their clause appended."""
        clauses_of: dict[str, set[int]] = {}
        for c in found:
            clauses_of.setdefault(c.code, set()).add(c.clause)
        linked_in: dict[str, set[int]] = {}
        for number, mentions in linked.items():
            for m in mentions:
                linked_in.setdefault(m.code, set()).add(number)
        per_fiche = [math.log1p(len(items & linked_in.keys())) for items in lists]
        out = []
        for c in found:
            fiche = next((n for n, items in enumerate(lists) if c.code in items), None)
            extra = (
                math.log1p(len(clauses_of[c.code])),
                1.0 if linked_in.get(c.code, set()) - {c.clause} else 0.0,
                per_fiche[fiche] if fiche is not None else 0.0,
            )
            out.append(Candidate(c.clause, c.code, c.start, c.end, c.used, c.features + extra))
        return out

    def _window(
        self, code: str, keyed: list[tuple[int, str, float]], positions: dict[str, list[tuple[int, float]]],
        tokens: Sequence[Token], mention: Mention,
    ) -> tuple[int, float, int, int, tuple[int, ...]] | None:
        """A shipped link as a candidate tuple: the item's form with the most keys in the clause, the
        keyed words inside the mention's span."""
        inside = [o for o, (t, _, _) in enumerate(keyed) if mention.start <= tokens[t][0] < mention.end]
        if not inside:
            return None
        numbers = self._by_code.get(code, [])
        if not numbers:
            return None
        number = max(numbers, key=lambda n: len(self.gazetteer.entries[n].keyset & positions.keys()))
        return number, mention.score, inside[0], inside[-1], tuple(inside)

    def _features(
        self, number: int, score: float, first: int, last: int, used: Sequence[int],
        keyed: list[tuple[int, str, float]], factor: dict[str, float],
        section: str, lists: Sequence[frozenset[str]], scores: Sequence[float], best_other: float, rank: int,
        linked: bool,
    ) -> list[float]:
        """The base features but those of the span's text (:data:`_SPAN_FEATURES`, 0 here: see
        :meth:`_span_features`)."""
        entry = self.gazetteer.entries[number]
        idf = self.gazetteer.idf
        static = self._static.get(number)
        if static is None:
            static = self._static[number] = self._entry_features(number)
        total, rarest, label, kind, holding = static
        # (filter and map, perf only: no comprehension's frame; the same products summed in the same order)
        present = list(filter(factor.__contains__, entry.keys))
        found = list(map(idf.__getitem__, present))
        covered = sum(map(operator.mul, found, map(factor.__getitem__, present)))
        # perf only: the fiche features of an item, the section's and the clause's, once per offer
        fiches = self._fiches.get(entry.code)
        if fiches is None:
            fiche = [1.0 if entry.code in items else 0.0 for items in lists]
            fiche += [0.0] * (3 - len(fiche))
            top = scores[0] if scores and scores[0] > 0 else 1.0
            fiche_score = max(
                (s / top for s, items in zip(scores, lists, strict=False) if entry.code in items), default=0.0
            )
            fiches = self._fiches[entry.code] = (*fiche[:3], fiche_score)
        places = self._sections.get(section)
        if places is None:
            places = self._sections[section] = tuple(1.0 if section == s else 0.0 for s in SECTIONS)
        values = [
            score,
            covered / total,
            len(used) / max(1, last - first + 1),
            float(len(present)),
            label,
            (total - sum(found)) / 10.0,
            max(found, default=0.0) / 10.0,
            1.0 if rarest in factor else 0.0,
            1.0 if label == 1.0 else 0.0,
            1.0 if any(keyed[u][2] < 1.0 for u in used) else 0.0,
            0.0,  # exact
            0.0,  # ratio
            0.0,  # token_set
            *fiches,  # fiche1-3, fiche_score
            *kind,  # and alias
            *places,
            math.log1p(len(keyed)),
            float(last - first + 1),
            best_other,
            score - best_other,
            1.0 / (1 + rank),
            holding,
            1.0 if linked else 0.0,
        ]
        return values

    def _structure_of(self, number: int) -> Structure:
        """Entry ``number``'s label structure (analysed once)."""
        structure = self._structures.get(number)
        if structure is None:
            entry = self.gazetteer.entries[number]
            structure = self._structures[number] = entry_structure(entry.label, entry.form, entry.kind)
        return structure

    def _core_features(self, number: int, found: dict[str, float]) -> tuple[float, ...]:
        """:data:`STRUCTURE_FEATURES` with only the :data:`kg.nlp.structure.CORE` ones computed."""
        return (*label_structure.core(self._structure_of(number), found), 0.0, 0.0, 0.0)

    def _structure_features(
        self, number: int, found: dict[str, float], keyed: list[tuple[int, str, float]], stretch: list[int],
        first: int, last: int,
    ) -> tuple[float, ...]:
        """:data:`STRUCTURE_FEATURES` of entry ``number``'s candidate over keyed words ``first`` to ``last``
        of a clause (``found``: its keys' best factors; ``stretch``: each keyed word's stretch between
        punctuation, :func:`_stretches`)."""
        structure = self._structure_of(number)
        entry = self.gazetteer.entries[number]
        low = bisect.bisect_left(stretch, stretch[first])
        high = bisect.bisect_right(stretch, stretch[last])
        side = [keyed[o][1] for o in range(low, high)]
        total = self.gazetteer.weights[number][1] or 1.0
        return label_structure.features(structure, self.gazetteer.idf, total, found, side, entry.keyset)

    def _entry_features(self, number: int) -> tuple[float, str, float, tuple[float, ...], float]:
        """What the features read of an entry alone: its total weight, rarest key, number of keys, kind
        (and alias) and the fiches holding its item."""
        entry = self.gazetteer.entries[number]
        idf = self.gazetteer.idf
        kind = (*(1.0 if entry.kind == k else 0.0 for k in KINDS), 1.0 if entry.alias else 0.0)
        return (self.gazetteer.weights[number][1] or 1.0, max(entry.keys, key=idf.__getitem__),
                float(len(entry.keys)), kind, math.log1p(self._holding.get(entry.code, 0)))

    @staticmethod
    def _span_features(
        values: list[float], entry: Entry, span: str, known: tuple[float, float, float] | None = None
    ) -> tuple[float, ...]:
        """The features with those of the span's text filled in (rapidfuzz, the costly ones; ``known``:
        :func:`_span_values` already computed)."""
        values[_EXACT : _EXACT + 3] = _span_values(entry, span) if known is None else known
        return tuple(values)


def _span_values(entry: Entry, span: str) -> tuple[float, float, float]:
    """The features of a span's text (:data:`_SPAN_FEATURES`) for an entry: whether it reads as the label,
    rapidfuzz's ratio and token-set ratio of the two (÷ 100).

    >>> from kg.nlp.gazetteer import Gazetteer
    >>> entry = Gazetteer.from_rows([("1", "Gestion des stocks", "savoir")]).entries[0]
    >>> _span_values(entry, "gestion des stocks"), _span_values(entry, "stocks")[0]
    ((1.0, 1.0, 1.0), 0.0)
    """
    # (kept per (label form, span), perf only: a cold pass over the 610 real offers reads 9,969 pairs 21,426
    # times — the forms of an item, reposts and boilerplate)
    known = _SPAN_VALUES.get((entry.form, span))
    if known is not None:
        return known
    form = form_key(span)
    found = (1.0 if form == entry.form else 0.0, fuzz.ratio(form, entry.form) / 100.0,
             fuzz.token_set_ratio(form, entry.form) / 100.0)
    if len(_SPAN_VALUES) >= SPAN_VALUES:
        _SPAN_VALUES.clear()
    _SPAN_VALUES[entry.form, span] = found
    return found


_SPAN_VALUES: dict[tuple[str, str], tuple[float, float, float]] = {}


def _stretches(keyed: Sequence[tuple[int, str, float]], tokens: Sequence[Token]) -> list[int]:
    """Each keyed word's stretch of its clause: how many cuts — punctuation tokens (no letter nor digit),
    "et", "ou" — come before it.

    >>> tokens = [(0, 4, "gérer"), (5, 8, "les"), (9, 15, "stocks"), (15, 16, ","), (17, 20, "caisse"),
    ...           (21, 23, "et"), (24, 28, "quai")]
    >>> _stretches([(0, "ger", 1.0), (2, "stock", 1.0), (4, "caiss", 1.0), (6, "quai", 1.0)], tokens)
    [0, 0, 1, 2]
    """
    out = []
    count = 0
    place = 0
    for token, _, _ in keyed:
        while place < token:
            word = tokens[place][2]
            if word in _CUTS or not any(ch.isalnum() for ch in word):
                count += 1
            place += 1
        out.append(count)
    return out


_NO_STRUCTURE = (0.0,) * len(STRUCTURE_FEATURES)
NO_ALIASES = Shipped()  # a model that reads no learned alias
_CUTS = frozenset({"et", "ou", "Et", "Ou", "ET", "OU"})


def distinct(values: numpy.ndarray) -> tuple[numpy.ndarray, numpy.ndarray]:
    """``numpy.unique(values, return_inverse=True)``; for values in ascending order (the candidates' clauses
    as :meth:`kg.nlp.linker.Linker.scored_many` gives them) from one pass over their neighbours (perf only:
    numpy.unique sorts them again and costs ~2x more at a few hundred values).

    >>> [a.tolist() for a in distinct(numpy.array([2, 2, 5, 7, 7]))]
    [[2, 5, 7], [0, 0, 1, 2, 2]]
    >>> [a.tolist() for a in distinct(numpy.array([7, 2, 7]))]
    [[2, 7], [1, 0, 1]]
    """
    if len(values) > 1 and bool((values[1:] >= values[:-1]).all()):
        starts = run_starts(values)
        return values[starts], numpy.cumsum(starts) - 1
    used, inverse = numpy.unique(values, return_inverse=True)
    return used, inverse


def _strength(positions: Mapping[str, Sequence[tuple[int, float]]]) -> dict[str, float]:
    """Each key's best weight factor among its places in a clause.

    >>> _strength({"a": [(0, 1.0)], "b": [(1, 0.85), (3, 1.0)]})
    {'a': 1.0, 'b': 1.0}
    """
    return {k: v[0][1] if len(v) == 1 else max([f for _, f in v]) for k, v in positions.items()}


# A Scored's (number, score, first, last, used): Generator.candidates's pair of a liberal candidate
_PAIR = operator.itemgetter(0, 2, 3, 4, 5)
assert Scored._fields[:6] == ("number", "entry", "score", "first", "last", "used")


# The features of the span's text, computed last (Generator._span_features): each is in [0, 1].
_SPAN_FEATURES = ("exact", "ratio", "token_set")
_EXACT = FEATURES.index("exact")
assert FEATURES[_EXACT : _EXACT + 3] == _SPAN_FEATURES


class _Bound:
    """The most a candidate's logit under ``model`` can be before its span features are known: the
    linear part of the others, plus the most each span feature (in [0, 1]) can add."""

    def __init__(self, model: Model) -> None:
        scaled = [w / s for w, s in zip(model.weights, model.scale, strict=True)]
        self.terms = [(FEATURES.index(f), a) for f, a in zip(model.features, scaled, strict=True)
                      if f not in _SPAN_FEATURES and f not in RATE_FEATURES and f not in PHRASE_FEATURES
                      and f not in ALIAS_FEATURES]
        # the learned item rates (known from the item alone): their part of the logit per item
        rated = [(RATE_FEATURES.index(f), a) for f, a in zip(model.features, scaled, strict=True)
                 if f in RATE_FEATURES]
        self.model = model
        self.rated = rated
        # perf only: the terms' values picked in C and multiplied by map, summed in the same order
        picked = [i for i, _ in self.terms]
        self._coefficients = tuple(a for _, a in self.terms)
        self._pick: Callable[[Sequence[float]], Iterable[float]] = (
            operator.itemgetter(*picked) if len(picked) > 1 else lambda values: [values[i] for i in picked]
        )
        # (the learned aliases' columns are out of the terms: 0 for every candidate the bounds judge, their
        # part in the constant; an alias's own candidate comes past every bound, Generator.candidates)
        constant = model.bias - sum(a * m for a, m in zip(scaled, model.mean, strict=True))
        best = sum(max(a, 0.0) for f, a in zip(model.features, scaled, strict=True) if f in _SPAN_FEATURES)
        # the phrase rates (kg.nlp.phrase_rates: known from the span's keys, which neither bound reads):
        # their most favourable part of the logit for the candidate's item, whatever its phrase (pair_part)
        self.phrased = [(f, a) for f, a in zip(model.features, scaled, strict=True) if f in PHRASE_FEATURES]
        self._pair_parts: dict[str, float] = {}
        # the same once the phrase is known (phrase_part): each coefficient, its place in the table's values
        self._phrase_places = [(PHRASE_FEATURES.index(f), a) for f, a in self.phrased]
        self._phrase_parts: dict[tuple[str, str], float] = {}  # (item, phrase) → phrase_part, once computed
        # with trees (the cascade, Model.gate): a candidate whose logistic probability is under the gate gets
        # 0 whatever the trees say, so the gate is what the logistic's bound must reach; the trees' own
        # bound (each tree's largest leaf, 5-34 logits) would let nearly every candidate through
        t = model.gate if model.trees is not None else model.threshold
        # hopeless: logit + best < the threshold's logit, with room for rounding (1e-6 in the logit)
        self.below = (math.log(t / (1 - t)) if 0 < t < 1 else (-math.inf if t <= 0 else math.inf))
        # the same with the span features known (_Prefilter.keep): their part of the logit, each feature's
        # coefficient (0 when the model reads none)
        self.exactly = self.below - (constant + 1e-6)
        self.span = tuple(sum(a for f, a in zip(model.features, scaled, strict=True) if f == name)
                          for name in _SPAN_FEATURES)
        # a candidate left out under the gate would get 0, which decide keeps only at a threshold <= 0
        self.spans_decide = model.trees is None or model.threshold > 0
        self.below -= constant + best + 1e-6

    def _terms(self, values: Sequence[float], code: str) -> float:
        """The logit's part from the bounded terms and the item's learned rates (what both tests read)."""
        logit = sum(map(operator.mul, self._coefficients, self._pick(values)))
        if self.rated:
            rates = self.model.rate(code)
            logit += sum([a * rates[i] for i, a in self.rated])
        if self.phrased:
            logit += self.pair_part(code)
        return logit

    def pair_part(self, code: str) -> float:
        """The most the phrase rates can add to the logit of a candidate of item ``code`` (each at the end
        of its range, :meth:`kg.nlp.phrase_rates.PhraseTable.ranges`, its coefficient's sign asks)."""
        part = self._pair_parts.get(code)
        if part is None:
            ranges = (self.model.phrases or PhraseTable()).ranges(code, self.model.rate(code)[0])
            part = sum(max(a * ranges[f][0], a * ranges[f][1]) for f, a in self.phrased)
            self._pair_parts[code] = part
        return part

    def phrase_part(self, code: str, phrase: str) -> float:
        """What the phrase rates add to the logit of a candidate of item ``code`` on ``phrase`` (its span's
        :func:`kg.nlp.phrase_rates.phrase_key`): the values :meth:`Model.rows` gives it, so never more than
        :meth:`pair_part`.

        >>> table = PhraseTable((("p", "A", 3.0, 3.0),), (), 0.5, 1.0)
        >>> model = Model(("pair_rate",), (0.0,), (1.0,), (2.0,), 0.0, phrases=table, default_rate=0.2)
        >>> model.bound.phrase_part("A", "p"), model.bound.phrase_part("A", "q"), model.bound.pair_part("A")
        (1.6, 0.4, 1.6)
        """
        if not self.phrased:
            return 0.0
        part = self._phrase_parts.get((code, phrase))
        if part is None:  # (kept, perf only: 42,289 reads of 10,361 pairs in a cold pass over 610 offers)
            values = (self.model.phrases or PhraseTable()).values(code, phrase, self.model.rate(code)[0])
            part = sum([a * values[i] for i, a in self._phrase_places])
            if len(self._phrase_parts) >= PHRASE_PARTS:
                self._phrase_parts.clear()
            self._phrase_parts[code, phrase] = part
        return part

    def hopeless(self, values: Sequence[float], code: str = "") -> bool:
        """Whether the candidate's probability is under the threshold (with trees: the logistic's under the
        gate) whatever its span features."""
        return self._terms(values, code) < self.below

    def hopeless_exactly(self, features: Sequence[float], code: str = "") -> bool:
        """Whether the candidate's probability is under the threshold (with trees: the logistic's under the
        gate) given all its features, its span's too — what :meth:`_Prefilter.keep` leaves out once it
        knows them, when it may (:attr:`spans_decide`)."""
        logit = self._terms(features, code) + sum(map(operator.mul, self.span, features[_EXACT : _EXACT + 3]))
        return self.spans_decide and logit < self.exactly




# A candidate of Generator.candidates before its features: its clause, the place of the clause's keyed
# words in per_clause, its entry, score, first, last and used keyed words, span, the best other item's
# score, its rank, whether the shipped linker links it
_Row = tuple[int, int, int, float, int, int, tuple[int, ...], int, int, float, int, bool]


_Part = numpy.ndarray | float  # a part of the candidates' logits: one value each, or the same for all


class _Prefilter:
    """:meth:`_Bound.hopeless` for all the candidates of an offer at once (perf only), before their
    features are computed one by one: the same linear bound, each feature the same value computed from
    arrays (the sums in another order, hence the margin), but ``fuzzy_word`` (a per-word test) at its most
    favourable value; and the phrase rates at their item's most favourable value, then (:meth:`keep`) at
    the candidate's own once its span's phrase is read. A candidate it leaves out could not reach the
    threshold (with trees: the gate); the others are checked one by one as before
    (:meth:`Generator.candidates`), so the candidates kept are the same."""

    MARGIN = 1e-7  # far above the rounding of a sum of ~35 terms, far below the bound's own 1e-6

    def __init__(self, generator: Generator, model: Model) -> None:
        bound = model.bound
        coef = [0.0] * len(FEATURES)
        for i, a in bound.terms:
            coef[i] += a
        self.coef = dict(zip(FEATURES, coef, strict=True))
        # (perf only: keep reads them per item and clause) fiche1-3's coefficients, each section's
        self.fiche_coefs = (self.coef["fiche1"], self.coef["fiche2"], self.coef["fiche3"])
        self.section_coefs = tuple((s, self.coef[f"section_{s}"]) for s in SECTIONS)
        gazetteer = generator.gazetteer
        self.linker = generator.linker
        idf = gazetteer.idf
        key_id = self.linker._key_id
        c = self.coef
        static, totals, rarest, pair_parts = [], [], [], []
        self.structured = structured = any(c[f] for f in STRUCTURE_FEATURES)
        # the key ids of each entry's head and verbs (the table's last id, never present, when there is none),
        # whether it has no verb: _coverage reads verb_found, head_found, head_and_verb from the clause's keys
        heads: list[int] = []
        verbs: list[tuple[int, ...]] = []
        verbless: list[bool] = []
        for number, entry in enumerate(gazetteer.entries):
            total, rarest_key, label, kind, holding = generator._entry_features(number)
            value = c["label_keys"] * label + c["one_key"] * (1.0 if label == 1.0 else 0.0)
            if structured:
                part, head, verb_ids, none = self._structure_bound(generator, number, total)
                value += part
                heads.append(head)
                verbs.append(verb_ids)
                verbless.append(none)
            value += sum(c[f"kind_{k}"] * v for k, v in zip(KINDS, kind, strict=False))
            value += c["alias"] * kind[-1]
            value += c["fiches_holding"] * holding
            if bound.rated:
                rates = model.rate(entry.code)
                value += sum(a * rates[i] for i, a in bound.rated)
            if bound.phrased:
                pair_parts.append(bound.pair_part(entry.code))
                value += pair_parts[-1]
            static.append(value)
            totals.append(total)
            rarest.append(key_id[rarest_key] if rarest_key in idf else len(key_id))
        self.static = numpy.array(static, dtype=numpy.float64)
        width = max((len(v) for v in verbs), default=0) or 1
        self.heads = numpy.array(heads, dtype=numpy.int64)
        self.verbs = numpy.array([v + (len(key_id),) * (width - len(v)) for v in verbs], dtype=numpy.int64)
        self.verbless = numpy.array(verbless, dtype=numpy.float64)
        self.totals = numpy.array(totals, dtype=numpy.float64)
        self.rarest = numpy.array(rarest, dtype=numpy.int64)
        # fuzzy_word is 0 or 1; every other feature is computed
        self.limit = bound.below - max(c["fuzzy_word"], 0.0) - self.MARGIN
        # the same with the span features known (keep), when the model reads them and may leave out
        # candidates under it
        self.exactly = bound.exactly - max(c["fuzzy_word"], 0.0) - self.MARGIN
        self.span = numpy.array(bound.span, dtype=numpy.float64)
        self.spans = bound.spans_decide and any(bound.span)
        # the phrase rates' part in static, at its largest for the entry's item (pair_part): keep replaces it
        # by the candidate's own once its span's phrase is known, when the rows left out would not be kept
        self.pair_parts = numpy.array(pair_parts, dtype=numpy.float64)
        self.phrased = bound.spans_decide and bool(bound.phrased)
        self.bound = bound
        self._rows = numpy.zeros((3, 1, len(key_id) + 1), dtype=numpy.float64)
        # the bound before the window (early): only when no feature reads the other candidates' scores, and
        # each entry's keys are distinct (a window then uses one word per key found)
        self.early_ok = not set(model.features) & set(OTHERS_FEATURES) and all(
            len(set(e.keys)) == len(e.keys) for e in gazetteer.entries)
        self.task = numpy.array([e.kind == "savoir-faire" for e in gazetteer.entries], dtype=bool)
        self.generator_codes = generator._code_ids
        codes = self.generator_codes
        self.code_of = numpy.array([codes[e.code] for e in gazetteer.entries], dtype=numpy.int64)
        # the entries of an item with several forms (entries)
        self.forms = numpy.array([len(generator._by_code[e.code]) > 1 for e in gazetteer.entries], dtype=bool)

    def _structure_bound(
        self, generator: Generator, number: int, total: float
    ) -> tuple[float, int, tuple[int, ...], bool]:
        """The most :data:`STRUCTURE_FEATURES` but ``verb_found``, ``head_found`` and ``head_and_verb`` can
        add to entry ``number``'s logit (each at its largest or smallest value for the label, as its
        coefficient's sign asks), and what :meth:`_coverage` reads those three with: the key ids of the
        label's head and verbs, whether it has no verb. (A head or verb key the linker does not know —
        none is known to happen — puts those three in the bound too, at their largest.)"""
        structure = generator._structure_of(number)
        idf = generator.gazetteer.idf
        key_id = self.linker._key_id
        never = len(key_id)  # a key id never present in a clause (the table's last column)
        known = all(k in key_id for k in (*structure.verbs, structure.head) if k is not None)
        head = 1.0 if structure.head is not None else 0.0
        largest = {
            "verb_found": 0.0 if known else 1.0 if structure.verbs else 0.0,
            "head_found": 0.0 if known else head,
            "head_and_verb": 0.0 if known else head,
            "complement_missing": sum(idf.get(k, 0.0) for k in structure.complements) / total,
            "conjunct_coverage": 1.0,
            "mention_side_coverage": 1.0,
        }
        assert tuple(largest) == STRUCTURE_FEATURES and len(STRUCTURE_FEATURES) == len(CORE) + 3
        # every feature is 0 at its smallest
        part = sum(max(self.coef[f] * value, 0.0) for f, value in largest.items())
        if not known:
            return part, never, (), False
        head_id = key_id[structure.head] if structure.head is not None else never
        return part, head_id, tuple(key_id[k] for k in structure.verbs), not structure.verbs

    def _coverage(
        self, per_clause: Iterable[dict[str, float]], count: int, places: numpy.ndarray,
        entry_ids: numpy.ndarray,
    ) -> tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray, numpy.ndarray, numpy.ndarray, _Part]:
        """For candidate ``i`` (entry ``entry_ids[i]`` in clause ``places[i]`` of ``per_clause``, each
        clause's key → best weight factor): the idf of its label's keys found in the clause, summed and
        the largest; the idf × best factor of those found (covered); how many are found; whether its
        rarest key is found (anchor); the part of its logit of ``verb_found``, ``head_found`` and
        ``head_and_verb`` (0 when the model reads none). Both bounds (:meth:`early`, :meth:`keep`) read
        these."""
        key_id, idf = self.linker._key_id, self.linker._idf
        if count > self._rows.shape[1]:
            self._rows = numpy.zeros((3, count, len(key_id) + 1), dtype=numpy.float64)
        # per clause, for its keys: idf (found), idf × best factor (covered), 1 (present), 0 elsewhere
        weights = self._rows
        width = weights.shape[2]
        ids: list[int] = []
        factors: list[float] = []
        counts: list[int] = []
        for strength in per_clause:  # (perf only: the lists extended by the clause, not by the key)
            ids += map(key_id.__getitem__, strength)
            factors += strength.values()
            counts.append(len(strength))
        # one flat index array per layer, not two index arrays (perf only)
        id_array = numpy.array(ids, dtype=numpy.int64)
        bases = numpy.arange(0, len(counts) * width, width, dtype=numpy.int64)
        written = id_array + numpy.repeat(bases, counts)
        idf_of = idf.take(id_array)
        weights[0].ravel()[written] = idf_of
        weights[1].ravel()[written] = idf_of * numpy.array(factors, dtype=numpy.float64)
        weights[2].ravel()[written] = 1.0
        taken = self.linker.cells(places, entry_ids, width)
        found = weights[0].ravel().take(taken)
        covered = weights[1].ravel().take(taken).sum(axis=1)
        shared = weights[2].ravel().take(taken).sum(axis=1)
        anchor = weights[2][places, self.rarest[entry_ids]]
        structure: _Part = 0.0
        if self.structured:  # verb_found, head_found, head_and_verb: the clause has the key
            c = self.coef
            head = weights[2][places, self.heads[entry_ids]]
            verb = weights[2][places[:, None], self.verbs[entry_ids]].max(axis=1)
            both = head * numpy.maximum(verb, self.verbless[entry_ids])
            structure = c["verb_found"] * verb + c["head_found"] * head + c["head_and_verb"] * both
        weights.reshape(3, -1)[:, written] = 0.0  # the table is all 0 again for the next call
        return found.sum(axis=1), found.max(axis=1), covered, shared, anchor, structure

    def early(
        self, found: Sequence[_Keyed], numbers: numpy.ndarray, rows: numpy.ndarray, reach: numpy.ndarray,
        sections: Sequence[str],
        lists: Sequence[frozenset[str]], protected: Sequence[Collection[str]],
    ) -> numpy.ndarray:
        """``reach`` (the liberal linker's coverage bounds of its candidates, -1: not a candidate) with -1
        for those surely hopeless whatever their window — before the linker computes it (perf only: then
        only the others are scored): the features the window decides (``score``, ``compactness``,
        ``span_words``) at their most favourable values jointly, the others as :meth:`keep` has them but
        ``fiche_score`` (in [0, 1] below the top fiche, 1 for its items: the caller checks the scores allow
        it) and ``linked`` (0: an item the shipped linker links in the clause, ``protected``, is never left
        out). An item is left out of a clause only with all its forms there (its best form is its candidate:
        another form must not stand in for a left-out one). Needs :attr:`early_ok`."""
        valid = numpy.flatnonzero(reach >= 0)
        if not len(valid):
            return reach
        c = self.coef
        linker = self.linker
        entry_ids = numbers[valid]
        # the clauses with candidates within reach, each given a row (perf only: the others are not read)
        used, clause_ids = distinct(rows[valid])
        chosen = used.tolist()
        found_sum, rarest, covered, shared, anchor, structure = self._coverage(
            [_strength(found[n][1]) for n in chosen], len(chosen), clause_ids, entry_ids)
        found = [found[n] for n in chosen]
        sections = [sections[n] for n in chosen]
        total = self.totals[entry_ids]
        coverage = covered / total
        masks = [linker._prior_mask(items)[entry_ids] if items else numpy.zeros(len(valid), dtype=bool)
                 for items in lists[:3]]
        masks += [numpy.zeros(len(valid), dtype=bool)] * (3 - len(masks))
        favoured = masks[0] | masks[1] | masks[2]
        fs = c["fiche_score"]
        fiche = (c["fiche1"] * masks[0] + c["fiche2"] * masks[1] + c["fiche3"] * masks[2]
                 + numpy.where(masks[0], fs, numpy.where(favoured, max(fs, 0.0), 0.0)))
        words, places = c["clause_words"], {n: c[f"section_{n}"] for n in SECTIONS}
        clause_part = numpy.array([words * math.log1p(len(keyed)) + places.get(section, 0.0)
                                   for (keyed, _), section in zip(found, sections, strict=True)])
        # the window: width w from the keys found n (one word each) to (1 + max_gap) n; compactness n / w,
        # score = coverage × (0.75 + 0.25 n / w): A / w + B w + constant, its maximum at an end of the
        # interval or at its stationary point
        cs, cc, cw = c["score"], c["compactness"], c["span_words"]
        n = numpy.maximum(shared, 1.0)
        low, high = n, (1.0 + linker.max_gap) * n
        a = n * (0.25 * cs * coverage + cc)
        star = numpy.clip(numpy.sqrt(numpy.maximum(a / cw, 0.0)), low, high) if cw else low
        window = numpy.maximum.reduce([a / w + cw * w for w in (low, high, star)]) + 0.75 * cs * coverage
        if linker.prior_lone_word is not None:  # a one-word list item: that word alone, its idf ÷ the total
            alone = cs * (rarest / total if cs > 0 else 0.0) + cc + cw
            window = numpy.where(favoured & self.task[entry_ids], numpy.maximum(window, alone), window)
        logit = (
            self.static[entry_ids] + fiche + clause_part[clause_ids] + window
            + c["coverage"] * coverage + c["shared_keys"] * shared
            + c["missing_weight"] * ((total - found_sum) / 10.0) + c["rarest_shared"] * (rarest / 10.0)
            + c["anchor"] * anchor + structure
        )
        hopeless = logit < self.limit
        if not hopeless.any():
            return reach
        count = len(self.code_of) + 1
        item = clause_ids * count + self.code_of[entry_ids]  # (clause, item) of each candidate
        code_ids = self.generator_codes
        # (clause, item) pairs not to leave out: linked there, or another form of the item is not hopeless
        # (perf: a set, numpy.isin costs more at ~100 candidates; most items have one form)
        alive = {row * count + code_ids[code] for row, n in enumerate(chosen) for code in protected[n]
                 if code in code_ids}
        alive.update(item[~hopeless & self.forms[entry_ids]].tolist())
        out = reach.copy()
        # (the places set in one assignment: perf only)
        out[[place for place, pair in zip(valid[hopeless].tolist(), item[hopeless].tolist(), strict=True)
             if pair not in alive]] = -1.0
        return out

    def keep(
        self, rows: Sequence[_Row],
        per_clause: Sequence[tuple[list[tuple[int, str, float]], dict[str, float]]],
        clauses: Sequence[tuple[int, int, list[Token], str]], lists: Sequence[frozenset[str]],
        scores: Sequence[float], prior: frozenset[str],
        spans: Callable[[int], tuple[float, float, float]] | None = None,
        phrases: Callable[[int], str] | None = None,
    ) -> list[bool]:
        """Per row of :meth:`Generator.candidates`: False when the candidate is surely hopeless (``prior``:
        the union of ``lists``). ``spans``: a row's span features (:func:`_span_values`); with them, also
        False for the rows that are hopeless once those are known (:meth:`_Bound.hopeless_exactly`), when
        the model reads them and the rows left out would not be kept (:attr:`_Bound.spans_decide`).
        ``phrases``: a row's phrase (the :func:`kg.nlp.phrase_rates.phrase_key` of its span); with them (and
        ``spans``), the phrase rates' part is the row's own (:meth:`_Bound.phrase_part`) rather than its
        item's largest, for the rows still kept.

        (Perf only: under a gate most candidates are told apart by their span's features alone, and
        those cost less than all the others, computed one by one; the phrase's part is known exactly for
        the cost of its keys, which :meth:`Model.rows` reads again for the rows kept.)"""
        if not rows:
            return []
        c = self.coef
        linker = self.linker
        clause_part: list[float] = []
        # the rows' columns (zip transposes them in C)
        (number_of, place_of, entry_of, score_of, first_of, last_of, used_of, _, _, other_of, rank_of,
         linked_of) = zip(*rows, strict=True)
        fiche_part: dict[str, float] = {}
        fiche_of: list[float] = []
        entries = linker.gazetteer.entries
        top = scores[0] if scores and scores[0] > 0 else 1.0
        for entry_number in entry_of:
            code = entries[entry_number].code
            if code not in prior:
                fiche_of.append(0.0)
                continue
            part = fiche_part.get(code)
            if part is None:
                holds = [code in items for items in lists]
                part = sum(a for a, held in zip(self.fiche_coefs, holds[:3], strict=False) if held)
                best = max((s / top for s, held in zip(scores, holds, strict=False) if held), default=0.0)
                part += c["fiche_score"] * best
                fiche_part[code] = part
            fiche_of.append(part)
        for keyed, _ in per_clause:
            clause_part.append(c["clause_words"] * math.log1p(len(keyed)))
        section_part = [sum(a for s, a in self.section_coefs if clause[3] == s) for clause in clauses]
        entry_ids = numpy.array(entry_of, dtype=numpy.int64)
        place_ids = numpy.array(place_of, dtype=numpy.int64)
        found_sum, rarest, covered, shared, anchor, structure = self._coverage(
            (strength for _, strength in per_clause), len(per_clause), place_ids, entry_ids)
        total = self.totals[entry_ids]
        score = numpy.array(score_of)
        width = numpy.array(last_of, dtype=numpy.float64) - numpy.array(first_of, dtype=numpy.float64) + 1.0
        other = numpy.array(other_of)
        logit = (
            self.static[entry_ids] + numpy.array(fiche_of) + numpy.array(clause_part)[place_ids]
            + numpy.array(section_part)[numpy.array(number_of, dtype=numpy.int64)]
            + c["score"] * score + c["coverage"] * (covered / total)
            + c["compactness"] * (numpy.array([len(u) for u in used_of], dtype=numpy.float64)
                                  / numpy.maximum(width, 1.0))
            + c["shared_keys"] * shared + c["missing_weight"] * ((total - found_sum) / 10.0)
            + c["rarest_shared"] * (rarest / 10.0) + c["anchor"] * anchor
            + c["span_words"] * width + c["best_other"] * other + c["margin"] * (score - other)
            + c["rank"] * (1.0 / (1.0 + numpy.array(rank_of, dtype=numpy.float64)))
            + c["linked"] * numpy.array(linked_of, dtype=numpy.float64) + structure
        )
        kept = logit >= self.limit
        phrased = phrases is not None and self.phrased
        if spans is None or not (self.spans or phrased):
            return kept.tolist()
        rows_kept = numpy.flatnonzero(kept)
        if phrased and len(rows_kept):  # (first: a phrase costs less than a span's features, 3 µs to 5)
            assert phrases is not None
            phrase_part = self.bound.phrase_part
            own = numpy.array([phrase_part(entries[entry_of[row]].code, phrases(row))
                               for row in rows_kept.tolist()], dtype=numpy.float64)
            logit[rows_kept] += own - self.pair_parts[entry_ids[rows_kept]]
            kept[rows_kept] = sure = logit[rows_kept] >= self.limit
            rows_kept = rows_kept[sure]
        if self.spans and len(rows_kept):
            values = numpy.array([spans(row) for row in rows_kept.tolist()], dtype=numpy.float64)
            kept[rows_kept] = logit[rows_kept] + values @ self.span >= self.exactly
        return kept.tolist()


@dataclass(frozen=True)
class Model:
    """A fitted logistic regression over :data:`FEATURES` (or a subset, ``features``), with the
    standardisation it was fitted with and the decision threshold; optionally boosted trees on its residual
    (a cascade: ``trees`` add to the logit of the rows whose logistic probability is at least ``gate``, the
    others get 0).

    >>> from kg.nlp.forest import Forest
    >>> stump = Forest(((0, 0, 0),), ((0.5, numpy.inf, numpy.inf),), ((1, 1, 2),), ((2, 1, 2),),
    ...                ((0.0, -1.0, 2.0),))
    >>> m = Model(("score",), (0.0,), (1.0,), (1.0,), 0.0, 0.5, trees=stump, gate=0.4)
    >>> [round(p, 3) for p in m.probability(numpy.array([[-1.0], [0.2], [0.9]])).tolist()]
    [0.0, 0.31, 0.948]
    """

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float = 0.5
    # the learned item rates (RATE_FEATURES) when the model reads them: (item, rate, log(1 + seen)) and
    # the rate of an item never seen (with_item_rates)
    rates: tuple[tuple[str, float, float], ...] = ()
    default_rate: float = 0.0
    # the residual trees over the rows of ``features`` (kg.nlp.forest; fitted by benchmarks/rerank_skills.py)
    # and the logistic probability under which a row gets 0 (the prefilter's bound then reads the gate)
    trees: Forest | None = None
    gate: float = 0.0
    # the learned phrase rates (kg.nlp.phrase_rates.FEATURES) when the model reads them
    phrases: PhraseTable | None = None
    # the learned aliases (ALIAS_FEATURES) when the model reads them: their candidates come past every bound
    # (their columns are 0 for the others, which the bound's constant counts)
    aliases: Shipped = NO_ALIASES

    def rate(self, code: str) -> tuple[float, float]:
        """The item's learned (rate, log(1 + times a candidate)); an unseen item's: (default rate, 0)."""
        return self._rates.get(code, (self.default_rate, 0.0))

    @cached_property
    def bound(self) -> _Bound:
        """What :meth:`Generator.candidates` bounds the logit with (perf only; once per model: hashing a
        model with thousands of item rates per offer would cost more)."""
        return _Bound(self)

    @cached_property
    def _rates(self) -> dict[str, tuple[float, float]]:
        return {code: (rate, seen) for code, rate, seen in self.rates}

    @cached_property
    def _columns(self) -> tuple[numpy.ndarray, numpy.ndarray, list[tuple[int, int]], list[tuple[int, int]]]:
        """Where :meth:`rows` reads each feature: the model's columns of :data:`FEATURES` and their places
        in ``FEATURES``; (column, place in :data:`RATE_FEATURES`) of the item rates; (column, place in
        :data:`ALIAS_FEATURES`) of the alias columns (the phrase rates: :meth:`rows`)."""
        places = [n for n, name in enumerate(self.features)
                  if name not in RATE_FEATURES and name not in PHRASE_FEATURES and name not in ALIAS_FEATURES]
        return (numpy.array(places, dtype=numpy.int64),
                numpy.array([FEATURES.index(self.features[n]) for n in places], dtype=numpy.int64),
                [(n, RATE_FEATURES.index(name)) for n, name in enumerate(self.features)
                 if name in RATE_FEATURES],
                [(n, ALIAS_FEATURES.index(name)) for n, name in enumerate(self.features)
                 if name in ALIAS_FEATURES])

    @cached_property
    def _phrase_columns(self) -> list[tuple[int, int]]:
        """(column, place in :data:`kg.nlp.phrase_rates.FEATURES`) of the phrase rates :meth:`rows` fills."""
        return [(n, PHRASE_FEATURES.index(name)) for n, name in enumerate(self.features)
                if name in PHRASE_FEATURES]

    @cached_property
    def _arrays(self) -> tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
        return numpy.array(self.mean), numpy.array(self.scale), numpy.array(self.weights)

    def rows(self, candidates: Sequence[Candidate], text: str = "") -> numpy.ndarray:
        """The candidates' rows of the features the model reads (the item rates looked up; the phrase
        rates of their spans in ``text``, the offer's; the alias columns 0 but for the aliases'
        candidates).

        (Perf only: the columns copied with one index, not stacked one by one; the same values.)"""
        values = numpy.array([c.features for c in candidates], dtype=numpy.float64)
        places, read, rated, aliased = self._columns
        out = numpy.empty((len(candidates), len(self.features)), dtype=numpy.float64)
        out[:, places] = values[:, read]
        for column, i in rated:
            out[:, column] = [self.rate(c.code)[i] for c in candidates]
        phrased = self._phrase_columns
        if phrased and len(candidates):
            table = self.phrases or PhraseTable()
            found = numpy.array([table.values(c.code, phrase_key(text[c.start : c.end]), self.rate(c.code)[0])
                                 for c in candidates], dtype=numpy.float64)
            for column, i in phrased:
                out[:, column] = found[:, i]
        for column, i in aliased:
            out[:, column] = [c.alias[i] if c.alias else 0.0 for c in candidates]
        return out

    def logit(self, X: numpy.ndarray) -> numpy.ndarray:
        """The logistic part's log-odds for rows of features (in ``self.features`` order): what the
        probability squashes, and what residual trees are fitted on top of (benchmarks/skill_trees.py).

        >>> Model(("score",), (0.0,), (1.0,), (2.0,), -1.0).logit(numpy.array([[1.0]])).tolist()
        [1.0]
        """
        mean, scale, weights = self._arrays
        return ((X - mean) / scale) @ weights + self.bias

    def probability(self, X: numpy.ndarray) -> numpy.ndarray:
        """P(candidate is right) for rows of features (in ``self.features`` order)."""
        logit = self.logit(X)
        p = 1.0 / (1.0 + numpy.exp(-logit))
        if self.trees is None or not len(X):
            return p
        passed = numpy.flatnonzero(p >= self.gate)
        out = numpy.zeros(len(X))
        if len(passed):  # the trees walk only the rows the gate lets through (the others stay 0)
            out[passed] = 1.0 / (1.0 + numpy.exp(-(logit[passed] + self.trees.raw(X[passed]))))
        return out

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "features": list(self.features), "mean": list(self.mean), "scale": list(self.scale),
            "weights": list(self.weights), "bias": self.bias, "threshold": self.threshold}
        if self.trees is not None:
            out["gate"] = self.gate
            out["trees"] = self.trees.to_json()
        if self.rates:
            out["default_rate"] = self.default_rate
            out["rates"] = [list(r) for r in self.rates]
        if self.phrases is not None:
            out["phrases"] = self.phrases.to_json()
        if self.aliases.entries:
            out["aliases"] = self.aliases.to_json()
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Model:
        """The model :meth:`to_json` wrote.

        >>> m = Model(("score",), (0.0,), (1.0,), (2.0,), -1.0, 0.4)
        >>> Model.from_json(json.loads(json.dumps(m.to_json()))) == m
        True
        >>> r = Model(("item_rate",), (0.0,), (1.0,), (2.0,), -1.0, 0.4, (("A", 0.5, 1.1),), 0.2)
        >>> Model.from_json(json.loads(json.dumps(r.to_json()))) == r, r.rate("A"), r.rate("B")
        (True, (0.5, 1.1), (0.2, 0.0))
        >>> from kg.nlp.forest import Forest
        >>> stump = Forest(((0, 0, 0),), ((0.5, numpy.inf, numpy.inf),), ((1, 1, 2),), ((2, 1, 2),),
        ...                ((0.0, -1.0, 2.0),))
        >>> t = Model(("score",), (0.0,), (1.0,), (2.0,), -1.0, 0.4, trees=stump, gate=0.1)
        >>> Model.from_json(json.loads(json.dumps(t.to_json()))) == t
        True
        >>> table = Shipped(((("port",), "1", 2, 3, 2),))
        >>> a = Model(("learned_alias",), (0.0,), (1.0,), (2.0,), -1.0, aliases=table)
        >>> Model.from_json(json.loads(json.dumps(a.to_json()))) == a
        True
        """
        def floats(name: str) -> tuple[float, ...]:
            value = data[name]
            assert isinstance(value, list)
            return tuple(float(v) for v in value)

        features = data["features"]
        assert isinstance(features, list)
        rates = data.get("rates", [])
        assert isinstance(rates, list)
        return cls(tuple(str(f) for f in features), floats("mean"), floats("scale"), floats("weights"),
                   float(data["bias"]), float(data.get("threshold", 0.5)),  # type: ignore[arg-type]
                   tuple((str(c), float(r), float(n)) for c, r, n in rates),
                   float(data.get("default_rate", 0.0)),  # type: ignore[arg-type]
                   Forest.from_json(trees) if isinstance(trees := data.get("trees"), list) else None,
                   float(data.get("gate", 0.0)),  # type: ignore[arg-type]
                   PhraseTable.from_json(table) if isinstance(table := data.get("phrases"), dict) else None,
                   Shipped.from_json(aliases) if isinstance(aliases := data.get("aliases"), list)
                   else NO_ALIASES)

    def save(self, path: Path) -> None:
        data = self.to_json()
        rates = data.pop("rates", None)
        trees = data.pop("trees", None)
        phrases = data.pop("phrases", None)
        aliases = data.pop("aliases", None)
        text = json.dumps(data, indent=1)
        if isinstance(phrases, dict):  # its scalars, then its tables one entry a line: thousands of phrases
            tables = {name: phrases.pop(name) for name in ("pairs", "phrases")}
            body = "".join(", " + _one_a_line(name, rows) for name, rows in tables.items())
            text = text[: -len("\n}")] + ',\n "phrases": ' + json.dumps(phrases)[:-1] + body + "}\n}"
        # one tree a line, one item a line, one alias a line: hundreds of trees, thousands of items
        for name, rows in (("trees", trees), ("rates", rates), ("aliases", aliases)):
            if isinstance(rows, list):
                compact = (",", ":") if name == "trees" else None
                text = text[: -len("\n}")] + ",\n " + _one_a_line(name, rows, compact) + "\n}"
        path.write_text(text + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Model:
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))



def _one_a_line(name: str, rows: Iterable[object], separators: tuple[str, str] | None = None) -> str:
    """A model file's long list as a JSON member, one entry a line (so that a refit's diff reads entry by
    entry).

    >>> print(_one_a_line("rates", [["A", 0.5], ["B", 1.0]]))
    "rates": [
      ["A", 0.5],
      ["B", 1.0]
     ]
    """
    return f'"{name}": [\n' + ",\n".join(
        "  " + json.dumps(r, ensure_ascii=False, separators=separators) for r in rows) + "\n ]"


def fit(
    X: numpy.ndarray, y: numpy.ndarray, features: Sequence[str], l2: float = 1.0, iterations: int = 30,
    threshold: float = 0.5,
) -> Model:
    """A logistic regression fitted by Newton's method on standardised features, the weights (not the
    bias) penalised by ``l2`` × their squared norm. Deterministic: the same data gives the same model."""
    mean = X.mean(axis=0) if len(X) else numpy.zeros(X.shape[1])
    scale = X.std(axis=0) if len(X) else numpy.ones(X.shape[1])
    scale = numpy.where(scale > 1e-9, scale, 1.0)
    Z = numpy.hstack([(X - mean) / scale, numpy.ones((len(X), 1))])
    w = numpy.zeros(Z.shape[1])
    penalty = numpy.full(Z.shape[1], float(l2))
    penalty[-1] = 0.0
    target = y.astype(numpy.float64)
    for _ in range(iterations):
        p = 1.0 / (1.0 + numpy.exp(-(Z @ w)))
        gradient = Z.T @ (p - target) + penalty * w
        hessian = (Z * (p * (1 - p))[:, None]).T @ Z + numpy.diag(penalty + 1e-9)
        step = numpy.linalg.solve(hessian, gradient)
        w -= step
        if float(numpy.abs(step).max()) < 1e-8:
            break
    return Model(tuple(features), tuple(mean.tolist()), tuple(scale.tolist()), tuple(w[:-1].tolist()),
                 float(w[-1]), threshold)


def matrix(candidates: Sequence[Candidate], features: Sequence[str] = FEATURES) -> numpy.ndarray:
    """The candidates' features (the columns named ``features``) as a matrix."""
    columns = [FEATURES.index(f) for f in features]
    if not candidates:
        return numpy.zeros((0, len(columns)))
    return numpy.array([c.features for c in candidates], dtype=numpy.float64)[:, columns]


def half_claimed(candidate: Candidate, taken: set[int], kept_in_clause: Sequence[Candidate]) -> bool:
    """The linker's own competition for words: a candidate loses when at least half of its words are
    already claimed (``taken``) by kept candidates of its clause (``kept_in_clause``, unused here; other
    rules of :func:`decide` may read them).

    >>> half_claimed(Candidate(0, "B", 0, 5, frozenset({1, 2}), ()), {1}, []), half_claimed(
    ...     Candidate(0, "B", 0, 5, frozenset({1, 2, 3}), ()), {1}, [])
    (True, False)
    """
    return bool(candidate.used) and len(candidate.used - taken) * 2 <= len(candidate.used)


def decide(
    candidates: Sequence[Candidate],
    probabilities: Sequence[float],
    threshold: float | Sequence[float],
    compete: bool = True,
    loses: Callable[[Candidate, set[int], Sequence[Candidate]], bool] = half_claimed,
) -> list[Candidate]:
    """The candidates kept: per clause, most probable first, those at or above ``threshold`` that do not
    lose the clause's words to the ones kept before them (``loses``; default :func:`half_claimed`, the
    linker's own rule; ``benchmarks/skill_errors.py`` measures others). ``threshold``: one for all, or one
    per candidate (``benchmarks/group_thresholds.py``: a threshold per group); the order of the competition
    is the probabilities' either way.

    >>> a = Candidate(0, "A", 0, 5, frozenset({0, 1}), ())
    >>> b = Candidate(0, "B", 0, 5, frozenset({1}), ())
    >>> c = Candidate(1, "C", 9, 12, frozenset({4}), ())
    >>> [k.code for k in decide([a, b, c], [0.9, 0.8, 0.3], 0.5)]
    ['A']
    >>> [k.code for k in decide([a, b, c], [0.7, 0.8, 0.3], 0.25)]  # A's words are half B's
    ['B', 'C']
    >>> [k.code for k in decide([a, b, c], [0.7, 0.8, 0.3], 0.25, compete=False)]  # all above the threshold
    ['B', 'A', 'C']
    >>> [k.code for k in decide([a, b, c], [0.7, 0.8, 0.3], [0.5, 0.9, 0.3])]  # B under its own threshold
    ['A', 'C']
    """
    order = sorted(range(len(candidates)), key=lambda i: (candidates[i].clause, -probabilities[i], i))
    # those at or above their threshold, in that order (one comprehension per case: perf)
    if isinstance(threshold, (int, float)):
        order = [i for i in order if probabilities[i] >= threshold]
    else:
        order = [i for i in order if probabilities[i] >= threshold[i]]
    claimed: dict[int, set[int]] = {}
    in_clause: dict[int, list[Candidate]] = {}
    kept: list[Candidate] = []
    for i in order:
        candidate = candidates[i]
        taken = claimed.setdefault(candidate.clause, set())
        mine = in_clause.setdefault(candidate.clause, [])
        if compete and loses(candidate, taken, mine):
            continue
        taken.update(candidate.used)
        mine.append(candidate)
        kept.append(candidate)
    return kept


MODEL_FILE = Path(__file__).with_name("rerank-model.json")  # written by benchmarks/rerank_skills.py --write
SETTING = "PASSERELLES_NLP_RERANK"  # the second stage decides the links unless it is "0" (on by default)


def wanted(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the second stage decides the links: yes unless ``PASSERELLES_NLP_RERANK=0`` (on by default
    since session 10, when it became cheap enough: docs/guides/skill-second-stage-default.md).

    >>> wanted({}), wanted({"PASSERELLES_NLP_RERANK": "1"}), wanted({"PASSERELLES_NLP_RERANK": "0"})
    (True, True, False)
    """
    return environ.get(SETTING, "1").strip() != "0"


class ModelFileMissing(FileNotFoundError):
    """The second stage is on and its model file is missing: a set-up error, not an I/O one."""


def require_model(path: Path | None = None) -> Path:
    """The second stage's model file (:data:`MODEL_FILE`, or ``path``), or :class:`ModelFileMissing`
    saying what to do: the second stage was asked for, and staying silently on the first stage would
    give other links than asked.

    >>> require_model(Path("/no/m.json"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    kg.nlp.rerank.ModelFileMissing: the skill linker's second stage is on but .../no/m.json is missing: ...
    """
    path = MODEL_FILE if path is None else path
    if not path.is_file():
        raise ModelFileMissing(
            f"the skill linker's second stage is on but its model file {path} is missing: reinstall "
            "the package (it ships kg/nlp/rerank-model.json), write it with "
            f"benchmarks/rerank_skills.py --write, or set {SETTING}=0 (the first stage alone)"
        )
    return path


@dataclass
class Reranker:
    """The second stage as the extraction runs it: an offer's candidates (:class:`Generator`), their
    probability under ``model``, the ones :func:`decide` keeps at the model's threshold, as mentions."""

    generator: Generator
    model: Model

    def __post_init__(self) -> None:
        # perf only: the prefilter's per-entry part (the whole gazetteer) is built with the pipeline, not at
        # the first offer
        if self.generator.bounded(self.model):
            self.generator._prefilter(self.model)

    @classmethod
    def shipped(cls, gazetteer: Gazetteer, titles: frozenset[str] = frozenset(), path: Path | None = None
                ) -> Reranker:
        """The reranker of the model file fitted on the DEV annotation (:data:`MODEL_FILE`, or ``path``).

        Raises :class:`ModelFileMissing` (a FileNotFoundError) when the file is missing
        (:func:`require_model`).

        >>> Reranker.shipped(Gazetteer.from_rows([]), path=Path("/no/m.json"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        kg.nlp.rerank.ModelFileMissing: the skill linker's second stage is on ... /no/m.json is missing: ...
        """
        return cls(Generator(gazetteer, titles=titles), Model.load(require_model(path)))

    def mentions(
        self,
        clauses: Sequence[tuple[int, int, list[Token], str]],
        text: str,
        predicted: Sequence[tuple[str, float]],
        linked: Sequence[Mention],
    ) -> list[Mention]:
        """The kept candidates of an offer as mentions (score: the model's probability), in text order."""
        found = self.generator.candidates(clauses, text, predicted, linked, self.model)
        if not found:
            return []
        probabilities = self.model.probability(self.model.rows(found, text)).tolist()
        kept = decide(found, probabilities, self.model.threshold)
        chance = {id(c): p for c, p in zip(found, probabilities, strict=True)}
        entries = self.generator.gazetteer.entries
        first = self.generator._by_code
        exact, alias, score = FEATURES.index("exact"), FEATURES.index("alias"), FEATURES.index("score")
        out = []
        for c in kept:
            entry = entries[first[c.code][0]]
            if c.alias and c.alias[0]:  # a learned alias's candidate (kg.nlp.learned_aliases)
                method = "alias"
            elif c.features[exact] and not c.features[alias]:
                method = "exact"
            else:
                method = "lemma" if c.features[score] >= 0.999 else "fuzzy"
            out.append(Mention(c.code, entry.label, entry.kind, chance[id(c)], method, c.start, c.end,
                               text[c.start : c.end]))
        out.sort(key=lambda m: (m.start, m.end, m.code))
        return out


_fit = fit

# Cross-validation over offers (benchmarks/rerank_skills.py): the model is fitted on some offers'
# candidates and judged on others'; every function here reads only the offers it is given.
L2S = (0.3, 1.0, 3.0, 10.0)
THRESHOLDS = tuple(round(0.05 + 0.025 * i, 3) for i in range(31))  # 0.05 … 0.8
# probabilities of each judged offer's candidates, a threshold, the offers judged → F1 (higher is better)
Judge = Callable[[Mapping[int, numpy.ndarray], float, Sequence[int]], float]


def fit_offers(
    X: Sequence[numpy.ndarray], y: Sequence[numpy.ndarray], offers: Sequence[int], features: Sequence[str],
    l2: float, threshold: float = 0.5, fitter: Callable[..., Model] | None = None,
) -> Model:
    """The model fitted on the candidates of ``offers`` only (``X[o]``, ``y[o]``: offer ``o``'s feature
    rows and labels); ``fitter``: another learner with :func:`fit`'s signature (default :func:`fit`)."""
    fit = _fit if fitter is None else fitter
    rows = [X[o] for o in offers if len(X[o])]
    if not rows:
        return fit(numpy.zeros((0, len(features))), numpy.zeros(0), features, l2, threshold=threshold)
    return fit(numpy.vstack(rows), numpy.concatenate([y[o] for o in offers if len(X[o])]), features, l2,
               threshold=threshold)


def choose(
    X: Sequence[numpy.ndarray], y: Sequence[numpy.ndarray], offers: Sequence[int], features: Sequence[str],
    judge: Judge, parts: int = 4, build: Callable[[Sequence[int]], Sequence[numpy.ndarray]] | None = None,
    fitter: Callable[..., Model] | None = None, groups: Sequence[int] | None = None,
) -> tuple[float, float]:
    """The L2 weight and threshold whose out-of-fold decisions over ``offers`` (``parts``-fold inner CV)
    ``judge`` scores best; ties go to the first (smaller L2, lower threshold).

    ``build``: the feature rows when some are learned from the training offers (:func:`with_item_rates`):
    ``build(training offers)`` gives every offer's rows, so each inner part is judged with features learned
    without it (``X`` is then unused). ``groups``: each offer's group of copies
    (:func:`kg.nlp.near_copies.copy_groups`; None: each offer its own), kept in one inner part
    (:func:`kg.nlp.near_copies.grouped_parts`)."""
    inner = grouped_parts(offers, parts, groups)
    best = (-1.0, L2S[0], 0.5)
    rows = {}
    for part in inner:
        rest = [o for o in offers if o not in part]
        rows[id(part)] = (rest, X if build is None else build(rest))
    for l2 in L2S:
        probabilities: dict[int, numpy.ndarray] = {}
        for part in inner:
            rest, Xp = rows[id(part)]
            model = fit_offers(Xp, y, rest, features, l2, fitter=fitter)
            for o in part:
                probabilities[o] = model.probability(Xp[o]) if len(Xp[o]) else numpy.zeros(0)
        for threshold in THRESHOLDS:
            score = judge(probabilities, threshold, offers)
            if score > best[0] + 1e-9:
                best = (score, l2, threshold)
    return best[1], best[2]


def held_out(
    X: Sequence[numpy.ndarray], y: Sequence[numpy.ndarray], folds: Sequence[Sequence[int]],
    features: Sequence[str], judge: Judge,
) -> tuple[dict[int, numpy.ndarray], list[Model]]:
    """Cross-validated probabilities: per fold, L2 and threshold chosen (:func:`choose`) and the model fitted
    on the other folds' offers, then applied to the fold's. Returns each offer's probabilities and the
    fold models (their ``threshold`` is the one to decide the fold's offers with)."""
    probabilities: dict[int, numpy.ndarray] = {}
    models = []
    for fold in folds:
        rest = [o for other in folds if other is not fold for o in other]
        l2, threshold = choose(X, y, rest, features, judge)
        model = fit_offers(X, y, rest, features, l2, threshold)
        models.append(model)
        for o in fold:
            probabilities[o] = model.probability(X[o]) if len(X[o]) else numpy.zeros(0)
    return probabilities, models


# Item-level evidence learned from the training offers (benchmarks/rerank_skills.py, variant "item rates")
RATE_FEATURES = ("item_rate", "item_seen")


def with_item_rates(
    X: Sequence[numpy.ndarray], codes: Sequence[Sequence[str]], y: Sequence[numpy.ndarray],
    train: Sequence[int], smoothing: float = 3.0, groups: Sequence[int] | None = None,
) -> list[numpy.ndarray]:
    """Every offer's rows with two columns appended, learned from the ``train`` offers' labels only: how
    often the candidate's item is right when it is a candidate (smoothed towards the overall rate by
    ``smoothing`` pseudo-candidates) and log(1 + how often it is a candidate). Every offer's group
    (``groups``, :func:`kg.nlp.near_copies.copy_groups`; None: each offer its own) is left out of its
    rates: a training offer's own candidates and its copies' (its rows must look like a new offer's, and
    a copy's identical labels would vouch for it); an offer outside ``train`` reads the rates of all of
    ``train`` but its copies — never its own labels.

    >>> X = [numpy.zeros((1, 0)), numpy.zeros((1, 0)), numpy.zeros((1, 0))]
    >>> y = [numpy.array([1.0]), numpy.array([0.0]), numpy.array([1.0])]
    >>> rows = with_item_rates(X, [["A"], ["A"], ["A"]], y, train=[0, 1], smoothing=0.0)
    >>> [r[0].round(3).tolist() for r in rows]  # offer 2 reads 0 and 1; 0 reads 1, 1 reads 0
    [[0.0, 0.693], [1.0, 0.693], [0.5, 1.099]]
    >>> rows = with_item_rates(X, [["A"], ["A"], ["A"]], y, train=[0, 1, 2], smoothing=0.0, groups=[0, 1, 0])
    >>> [r[0].round(3).tolist() for r in rows]  # 0 and 2 one ad: each reads 1 alone, 1 reads both
    [[0.0, 0.693], [1.0, 1.099], [0.0, 0.693]]
    """
    positives, seen = _item_counts(codes, y, train)
    total_pos = sum(positives.values())
    total = sum(seen.values())
    members = group_members(train, groups)
    out = []
    for o, rows in enumerate(X):
        # leave the offer's group (in train: itself and its copies) out
        own_pos, own = _item_counts(codes, y, members.get(o if groups is None else groups[o], []))
        base_n = total - sum(own.values())
        base = (total_pos - sum(own_pos.values())) / base_n if base_n > 0 else 0.0
        extra = numpy.zeros((len(rows), 2))
        for i, code in enumerate(codes[o]):
            n = seen.get(code, 0.0) - own.get(code, 0.0)
            p = positives.get(code, 0.0) - own_pos.get(code, 0.0)
            extra[i, 0] = (p + smoothing * base) / (n + smoothing) if n + smoothing > 0 else base
            extra[i, 1] = math.log1p(n)
        out.append(numpy.hstack([rows, extra]))
    return out


def _item_counts(
    codes: Sequence[Sequence[str]], y: Sequence[numpy.ndarray], offers: Iterable[int]
) -> tuple[dict[str, float], dict[str, float]]:
    """Per item, over the candidates of ``offers``: how many were right, and how many there were.

    >>> _item_counts([["A", "B", "A"]], [numpy.array([1.0, 0.0, 0.0])], [0])
    ({'A': 1.0, 'B': 0.0}, {'A': 2.0, 'B': 1.0})
    """
    positives: dict[str, float] = {}
    seen: dict[str, float] = {}
    for o in offers:
        for code, label in zip(codes[o], y[o].tolist(), strict=True):
            positives[code] = positives.get(code, 0.0) + label
            seen[code] = seen.get(code, 0.0) + 1.0
    return positives, seen


def item_table(
    codes: Sequence[Sequence[str]], y: Sequence[numpy.ndarray], offers: Sequence[int], smoothing: float = 3.0,
) -> tuple[tuple[tuple[str, float, float], ...], float]:
    """The item rates :func:`with_item_rates` gives a new offer, learned from ``offers``: (item, rate,
    log(1 + seen)) sorted by item, and the rate of an unseen item (what :class:`Model` stores).

    >>> item_table([["A", "B"], ["A"]], [numpy.array([1.0, 0.0]), numpy.array([1.0])], [0, 1], 0.0)
    ... # doctest: +ELLIPSIS
    ((('A', 1.0, 1.098...), ('B', 0.0, 0.693...)), 0.666...)
    """
    positives, seen = _item_counts(codes, y, offers)
    total = sum(seen.values())
    base = sum(positives.values()) / total if total else 0.0
    table = tuple((code, (positives[code] + smoothing * base) / (n + smoothing), math.log1p(n))
                  for code, n in sorted(seen.items()))
    return table, base


# A few steps of the score-like features (variant "bins"): the linear model's answer cannot bend otherwise
BINS: dict[str, tuple[float, ...]] = {
    "score": (0.7, 0.8, 0.9, 0.999),
    "coverage": (0.5, 0.7, 0.9, 0.999),
    "fiche_score": (0.3, 0.6, 0.9),
    "token_set": (0.6, 0.8, 0.95),
}
BIN_FEATURES = tuple(f"{name}>={edge}" for name, edges in BINS.items() for edge in edges)


def with_bins(X: numpy.ndarray, features: Sequence[str]) -> numpy.ndarray:
    """The rows with one 0/1 column per step of :data:`BINS` (value at or above the edge) appended.

    >>> names = ("score", "coverage", "fiche_score", "token_set")
    >>> row = with_bins(numpy.array([[0.85, 0.0, 0.0, 1.0]]), names)
    >>> row[0, 4:].astype(int).tolist()  # score ≥ 0.7, 0.8; coverage and fiche_score none; token_set all
    [1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1]
    """
    columns = [X[:, features.index(name)] >= edge for name, edges in BINS.items() for edge in edges]
    if not len(X):
        return numpy.zeros((0, X.shape[1] + len(columns)))
    return numpy.hstack([X, numpy.column_stack(columns).astype(numpy.float64)])


# The word competition as features (variant "overlap") instead of only the hard rule of decide
OVERLAP_FEATURES = ("claimed_share", "overlapping")


def with_overlap(candidates: Sequence[Candidate], X: numpy.ndarray) -> numpy.ndarray:
    """The rows with two columns appended: the share of the candidate's words that a candidate of the same
    clause with a higher liberal score also uses, and log(1 + how many such candidates overlap it).

    >>> a = Candidate(0, "A", 0, 5, frozenset({0, 1}), (0.9,))
    >>> b = Candidate(0, "B", 0, 5, frozenset({1}), (0.8,))
    >>> with_overlap([a, b], numpy.zeros((2, 0))).round(3).tolist()
    [[0.0, 0.0], [1.0, 0.693]]
    """
    score = FEATURES.index("score")
    extra = numpy.zeros((len(candidates), 2))
    by_clause: dict[int, list[int]] = {}
    for i, c in enumerate(candidates):
        by_clause.setdefault(c.clause, []).append(i)
    for members in by_clause.values():
        for i in members:
            c = candidates[i]
            above = [candidates[j] for j in members if j != i
                     and (candidates[j].features[score], -j) > (c.features[score], -i)
                     and candidates[j].used & c.used]
            if c.used and above:
                extra[i, 0] = len(c.used & frozenset().union(*(a.used for a in above))) / len(c.used)
                extra[i, 1] = math.log1p(len(above))
    return numpy.hstack([X, extra]) if len(X) else numpy.zeros((0, X.shape[1] + 2))


def shift_by_kind(
    candidates: Sequence[Candidate], probabilities: numpy.ndarray, offsets: Mapping[str, float]
) -> numpy.ndarray:
    """The probabilities lowered by their item kind's offset: deciding them at a threshold ``t`` is deciding
    the originals at ``t`` + the kind's offset (a threshold per kind, variant "per-kind threshold").

    >>> k = FEATURES.index("kind_savoir")
    >>> row = tuple(1.0 if i == k else 0.0 for i in range(len(FEATURES)))
    >>> c = Candidate(0, "A", 0, 1, frozenset(), row)
    >>> shift_by_kind([c], numpy.array([0.5]), {"savoir": 0.1}).round(3).tolist()
    [0.4]
    """
    columns = [(kind, FEATURES.index(f"kind_{kind}")) for kind in KINDS]
    out = probabilities.copy()
    for i, c in enumerate(candidates):
        for kind, column in columns:
            if c.features[column]:
                out[i] -= offsets.get(kind, 0.0)
    return out


@dataclass(frozen=True)
class TinyNet:
    """A two-layer network (``hidden`` tanh units, a logistic output) on standardised features: the variant
    "tiny 2-layer model" of the CV, measured, not shipped. ``probability`` as :class:`Model`'s."""

    mean: numpy.ndarray
    scale: numpy.ndarray
    W1: numpy.ndarray
    b1: numpy.ndarray
    w2: numpy.ndarray
    b2: float
    threshold: float = 0.5

    def probability(self, X: numpy.ndarray) -> numpy.ndarray:
        h = numpy.tanh(((X - self.mean) / self.scale) @ self.W1 + self.b1)
        return 1.0 / (1.0 + numpy.exp(-(h @ self.w2 + self.b2)))


def fit_tiny(
    X: numpy.ndarray, y: numpy.ndarray, features: Sequence[str], l2: float = 1.0, threshold: float = 0.5,
    hidden: int = 6, steps: int = 400, seed: int = 0,
) -> TinyNet:
    """:class:`TinyNet` fitted by full-batch Adam on the mean log loss plus ``l2`` ÷ rows × the squared
    weights (the scale of :func:`fit`'s penalty); deterministic (fixed ``seed``).

    >>> X = numpy.array([[0.0], [1.0], [2.0], [3.0]]); y = numpy.array([0, 0, 1, 1])
    >>> net = fit_tiny(X, y, ("score",), l2=0.1)
    >>> bool(net.probability(X)[3] > 0.5 > net.probability(X)[0])
    True
    """
    mean = X.mean(axis=0) if len(X) else numpy.zeros(X.shape[1])
    scale = X.std(axis=0) if len(X) else numpy.ones(X.shape[1])
    scale = numpy.where(scale > 1e-9, scale, 1.0)
    Z = (X - mean) / scale
    rng = numpy.random.default_rng(seed)
    params = [rng.normal(scale=0.3, size=(Z.shape[1], hidden)), numpy.zeros(hidden),
              rng.normal(scale=0.3, size=hidden), numpy.zeros(1)]
    moments = [numpy.zeros_like(p) for p in params]
    squares = [numpy.zeros_like(p) for p in params]
    n = max(1, len(Z))
    decay = float(l2) / n
    target = y.astype(numpy.float64)
    for step in range(1, steps + 1 if len(Z) else 1):
        W1, b1, w2, b2 = params
        h = numpy.tanh(Z @ W1 + b1)
        p = 1.0 / (1.0 + numpy.exp(-(h @ w2 + b2[0])))
        d = (p - target) / n
        dh = numpy.outer(d, w2) * (1 - h * h)
        grads = [Z.T @ dh + 2 * decay * W1, dh.sum(axis=0), h.T @ d + 2 * decay * w2, numpy.array([d.sum()])]
        for i, g in enumerate(grads):
            moments[i] = 0.9 * moments[i] + 0.1 * g
            squares[i] = 0.999 * squares[i] + 0.001 * g * g
            corrected = moments[i] / (1 - 0.9**step)
            params[i] = params[i] - 0.05 * corrected / (numpy.sqrt(squares[i] / (1 - 0.999**step)) + 1e-8)
    W1, b1, w2, b2 = params
    return TinyNet(mean, scale, W1, b1, w2, float(b2[0]), threshold)
