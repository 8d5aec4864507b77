"""The linker's scoring of a clause's candidates (``Linker._scored``, perf only since session 19: each found
key listed once per candidate, each key's idf × best factor once per clause, the thresholds once per call, the
candidates' order from a per-entry table) against the code it replaced, written out here as it was
(``_scored`` and ``_score`` of 6d7ca9f): the same candidates, scores, windows and order, on random gazetteers,
clauses (repeated and misspelt words), priors, sections and settings (the shipped and the liberal linker's,
synonyms, associations, one-word list items)."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest
from rapidfuzz import fuzz

from kg.nlp.gazetteer import Entry, Gazetteer
from kg.nlp.linker import Linker, Scored, Token, key_places, words
from kg.nlp.rerank import LIBERAL
from kg.nlp.text import form_key, inclusive_base
from tests.test_linker_postings import random_clauses

WORDS = ("plan", "lecture", "souder", "pièce", "métal", "contrôle", "réception", "meuler", "qualité",
         "produit", "client", "accueil", "vente", "stock", "chariot", "conduire", "nettoyer", "machine",
         "réglage", "outil", "sécurité", "hygiène", "cuisine", "service", "caisse", "commande", "livraison")
# misspelt words: keyed to their nearest key at a weight factor under 1
TYPOS = ("securiite", "livraisonn", "commandee", "receptionn", "nettoyerr", "machinne")
KINDS = ("savoir", "savoir-faire", "savoir-etre", "macro-competence")


class _Before(Linker):
    """The linker with ``_scored`` and ``_score`` as they were before session 19."""

    def _scored(
        self,
        tokens: Sequence[Token],
        prior_codes: frozenset[str],
        keyed: list[tuple[int, str, float]],
        positions: dict[str, list[tuple[int, float]]],
        kept: list[tuple[int, float]],
        away: bool = False,
        alone: dict[str, int] | None = None,
        learned: dict[str, tuple[int, float]] | None = None,
    ) -> list[Scored]:
        if not kept:
            return []
        self._tokens, self._keyed = tokens, keyed
        scored = []
        entries, weights = self.gazetteer.entries, self.gazetteer.weights
        idf = self.gazetteer.idf
        present_keys = positions.keys()
        outside = self.outside_score if prior_codes else 0.0
        strength: dict[str, float] = {}
        single: dict[str, int] | None = {}
        for k, v in positions.items():
            if len(v) == 1:
                strength[k] = v[0][1]
                if single is not None:
                    single[k] = v[0][0]
            else:
                strength[k] = max(f for _, f in v)
                single = None
        for number, reach in kept:
            entry = entries[number]
            favoured = entry.code in prior_codes
            if (
                not favoured
                and (away or (prior_codes and not self.one_word_savoir_outside))
                and entry.kind == "savoir"
                and len(entry.keys) == 1
            ):
                continue
            need = min(self.prior_coverage, self.min_coverage) if favoured else self.min_coverage
            found: tuple[float, int, int, list[int]] | None = None
            if favoured and reach < self.min_coverage * weights[number][1] - 1e-9:
                shared = present_keys & entry.keyset
                least = self.prior_min_keys
                if self.prior_macro_keys is not None and entry.kind == "macro-competence":
                    least = self.prior_macro_keys
                if len(shared) >= min(least, len(entry.keys)) and (
                    not self.prior_anchor or max(entry.keys, key=idf.__getitem__) in shared
                ):
                    found = self._old_score(entry, positions, need, strength, single, weights[number][1])
            else:
                found = self._old_score(entry, positions, need, strength, single, weights[number][1])
            if found is None and favoured and alone and entry.kind == "savoir-faire":
                found = self._lone(entry, alone, weights[number][1])
            if found is None and favoured and learned and entry.code in learned:
                order = learned[entry.code][0]
                found = self.assoc_score, order, order, [order]
            if found is None or (not favoured and found[0] < outside):
                continue
            scored.append(Scored(number, entry, found[0], found[1], found[2], tuple(found[3]), favoured))
        bonus = self.prior_bonus
        scored.sort(
            key=lambda s: (-round(s.score + bonus * s.favoured, 6), not s.favoured,
                           s.entry.kind != "savoir-etre", -len(s.entry.keys), s.entry.code)
        )
        return scored

    def _old_score(
        self, entry: Entry, positions: dict[str, list[tuple[int, float]]], need: float,
        strength: dict[str, float], single: dict[str, int] | None, total: float,
    ) -> tuple[float, int, int, list[int]] | None:
        weights = self.gazetteer.idf
        present = [k for k in entry.keys if k in positions]
        coverage = sum([weights[k] * strength[k] for k in present]) / total
        if coverage < need:
            return None
        if single is not None:
            used = sorted([single[k] for k in present])
            first, last = used[0], used[-1]
        else:
            best: tuple[int, int, list[int]] | None = None
            for anchor, _ in positions[present[0]]:
                chosen = [anchor]
                for key in present[1:]:
                    chosen.append(min((p for p, _ in positions[key]), key=lambda p: abs(p - anchor)))
                first, last = min(chosen), max(chosen)
                if best is None or last - first < best[1] - best[0]:
                    best = (first, last, sorted(set(chosen)))
            assert best is not None
            first, last, used = best
        width = last - first + 1
        if width > len(present) + self.max_gap * len(present):
            return None
        if len(entry.keys) == 1:
            if len(entry.keys[0]) < 2:
                return None
            tokens, keyed = self._tokens, self._keyed
            word = form_key(" ".join(inclusive_base(tokens[keyed[u][0]][2]) for u in used))
            if max(fuzz.ratio(word, form) for form in entry.contents or (entry.content,)) < self.single_word:
                return None
        compactness = len(used) / width
        score = coverage * (0.75 + 0.25 * compactness)
        if score < self.min_score * min(1.0, need / self.min_coverage):
            return None
        return score, first, last, used


def _random_case(rng: random.Random) -> tuple[Gazetteer, list[str]]:
    rows = []
    for number in range(rng.randint(5, 60)):
        label = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 5)))
        rows.append((str(100 + number % 45), label, rng.choice(KINDS)))  # some items with several forms
    rows.append(("999", "C", "savoir"))  # a lone capital
    codes = sorted({code for code, _, _ in rows})
    fiches = [(f"F{n}", code) for n in range(6) for code in rng.sample(codes, rng.randint(0, len(codes)))]
    return Gazetteer.from_rows(rows, (), fiches), codes


def _summary(found: list[tuple[list[tuple[int, str, float]], list[Scored]]]) -> list[object]:
    return [(keyed, [tuple(s) for s in scored]) for keyed, scored in found]


def _compare(seed: int) -> tuple[int, int, int]:
    """One random case: the old and new scoring compared; how many candidates were scored, in clauses
    where a key repeats, and with a misspelt word."""
    rng = random.Random(seed)
    gazetteer, codes = _random_case(rng)
    settings: dict[str, object] = dict(LIBERAL) if rng.random() < 0.5 else {}
    settings.update({
        "prior_anchor": rng.random() < 0.5,
        "prior_coverage": rng.choice((0.0, 0.2, 0.25, 0.4, 0.5, 0.85, 1.0)),
        "prior_lone_word": rng.choice((None, 0.5, 2.0, 5.0)),
        "prior_macro_keys": rng.choice((None, 1, 2)),
        "prior_min_keys": rng.choice((1, 2, 3)),
        "one_word_savoir_outside": rng.random() < 0.5,
        "one_word_savoir_away": rng.choice(((), ("intro",))),
        "prior_bonus": rng.choice((0.0, 0.1)),
        "max_gap": rng.choice((0, 1, 2)),
    })
    if rng.random() < 0.25:  # associated words
        settings["assoc_lift"] = 1.0
        settings["associations"] = {
            word[:4]: tuple((rng.choice(codes), rng.uniform(0.5, 3.0), rng.randint(1, 4)) for _ in range(3))
            for word in rng.sample(WORDS, 8)
        }
    if rng.random() < 0.25:  # synonyms, one of them a key no label has
        keys = sorted(gazetteer.idf)
        settings["synonym_weight"] = 0.8
        settings["synonyms"] = {rng.choice(keys): ((rng.choice(keys), 0.9), ("nolabelkey", 0.9))
                                for _ in range(4)}
    new = Linker(gazetteer, **settings)  # type: ignore[arg-type]
    old = _Before(gazetteer, **settings)  # type: ignore[arg-type]
    text, clauses = random_clauses(rng, (*WORDS, *TYPOS, ",", "et", "ou", "de", "les", "C"))
    sections = [rng.choice(("intro", "missions", "profile")) for _ in clauses]
    fiches = sorted(gazetteer.fiche_items)
    scored = repeated = fuzzy = 0
    for _ in range(4):
        chosen = rng.sample(fiches, rng.randint(0, min(3, len(fiches))))
        parts = [gazetteer.fiche_items[f] for f in chosen]
        prior = frozenset().union(*parts) if parts else None
        for given in (None, sections):
            found = new.scored_many(clauses, text, prior, given)
            assert _summary(found) == _summary(old.scored_many(clauses, text, prior, given))
            assert new.link_many(clauses, text, prior, given) == old.link_many(clauses, text, prior, given)
            for keyed, candidates in found:
                scored += len(candidates)
                if len({key for _, key, _ in keyed}) < len(keyed):
                    repeated += len(candidates)
                fuzzy += sum(1 for c in candidates if any(keyed[u][2] < 1.0 for u in c.used))
    return scored, repeated, fuzzy


@pytest.mark.parametrize("seed", range(80))
def test_the_scoring_gives_the_candidates_of_the_code_it_replaced(seed: int) -> None:
    _compare(seed)


def test_the_random_cases_score_candidates_with_repeated_and_misspelt_words() -> None:
    totals = [sum(counts) for counts in zip(*(_compare(seed) for seed in range(20)), strict=True)]
    assert totals[0] >= 200 and totals[1] >= 20 and totals[2] >= 5, totals


def score(
    linker: Linker, entry: Entry, positions: dict[str, list[tuple[int, float]]], need: float,
    strength: dict[str, float], single: dict[str, int] | None, total: float,
) -> tuple[float, int, int, list[int]] | None:
    """``Linker._score_found`` called as ``_scored`` calls it, from each key's best weight factor
    (``strength``), the result in the old ``_score``'s form (the places as a list)."""
    present = [k for k in entry.keys if k in positions]
    weighed = {k: linker.gazetteer.idf[k] * strength[k] for k in present}
    found = linker._score_found(entry, present, positions, need, weighed, single, total,
                                linker.min_score * min(1.0, need / linker.min_coverage))
    return None if found is None else (found[0], found[1], found[2], list(found[3]))


def test_score_found_gives_the_old_scores() -> None:
    """``Linker._score_found`` (read by tests/test_nlp_speed.py through :func:`score`) gives what the old
    ``_score`` gave, with and without single places, a key repeated in the clause."""
    gazetteer = Gazetteer.from_rows([("1", "Lecture de plan", "savoir"), ("2", "Plan", "savoir"),
                                     ("3", "Contrôle qualité des pièces", "savoir-faire")])
    text = "lecture de plan, contrôle des pièces et plan qualité, pièces"
    tokens = words(text)
    for linker_class in (Linker, _Before):
        linker = linker_class(gazetteer)
        keyed = linker.keyed(tokens)
        positions = key_places(keyed)
        strength = {k: max(f for _, f in v) for k, v in positions.items()}
        linker._tokens, linker._keyed = tokens, keyed
        for number, entry in enumerate(gazetteer.entries):
            total = gazetteer.weights[number][1]
            expected = _Before._old_score(linker, entry, positions, 0.25, strength, None, total)  # type: ignore[arg-type]
            assert score(linker, entry, positions, 0.25, strength, None, total) == expected
            assert expected is not None
