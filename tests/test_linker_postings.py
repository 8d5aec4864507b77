"""The linker's candidates gathered for all the clauses of an offer from postings (perf only) against the
per-clause set unions they replaced, written out here as they were (``Linker._use_prior`` and
``Linker._prior_part`` before session 18): the same candidates, clause by clause, in the same order, with the
same one-word list items and associated items, on random gazetteers, clauses, priors and settings."""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy
import pytest

from kg.nlp.gazetteer import Gazetteer
from kg.nlp.linker import Linker, Token, key_places, words

WORDS = ("plan", "lecture", "souder", "pièce", "métal", "contrôle", "réception", "meuler", "qualité",
         "produit", "client", "accueil", "vente", "stock", "chariot", "conduire", "nettoyer", "machine",
         "réglage", "outil", "sécurité", "hygiène", "cuisine", "service", "caisse", "commande", "livraison")
KINDS = ("savoir", "savoir-faire", "savoir-etre", "macro-competence")


def _old_part(linker: Linker, code: str) -> tuple[list[int], list[tuple[str, int]], list[tuple[str, int]]]:
    gazetteer = linker.gazetteer
    idf = gazetteer.idf
    numbers: list[int] = []
    keyed: list[tuple[str, int]] = []
    tasked: list[tuple[str, int]] = []
    for number in linker._by_code.get(code, ()):
        numbers.append(number)
        entry = gazetteer.entries[number]
        keys = entry.keys
        if entry.kind == "savoir-faire":
            tasked += [(key, number) for key in keys]
        if linker.prior_anchor:
            keyed.append((max(keys, key=idf.__getitem__), number))
            continue
        total = rest = gazetteer.weights[number][1]
        least = linker.prior_coverage * total
        for key in sorted(keys, key=idf.__getitem__, reverse=True):
            keyed.append((key, number))
            rest -= idf[key]
            if rest < least:
                break
    return numbers, keyed, tasked


def _old_prior(linker: Linker, prior: frozenset[str]) -> tuple[dict[str, list[int]], numpy.ndarray,
                                                                 dict[str, list[int]]]:
    index: dict[str, list[int]] = {}
    tasks: dict[str, list[int]] = {}
    mask = numpy.zeros(len(linker.gazetteer.entries), dtype=bool)
    chosen: list[int] = []
    for code in prior:
        numbers, keyed, tasked = _old_part(linker, code)
        chosen += numbers
        for key, number in tasked:
            tasks.setdefault(key, []).append(number)
        for key, number in keyed:
            index.setdefault(key, []).append(number)
    mask[chosen] = True
    return index, mask, tasks


def _old_candidates(
    linker: Linker, clauses: Sequence[Sequence[Token]], text: str, prior: frozenset[str],
    parts: Sequence[frozenset[str]] | None,
) -> tuple[list[list[int]], list[dict[str, int]], list[dict[str, tuple[int, float]]], list[bool]]:
    """Linker.scored_many's candidates as they were built, clause by clause."""
    prior_indexes: list[dict[str, list[int]]] = []
    prior_tasks: list[dict[str, list[int]]] = []
    if prior:
        pieces = [_old_prior(linker, p) for p in parts if p] if parts is not None else []
        if not pieces:
            pieces = [_old_prior(linker, prior)]
        prior_indexes = [p[0] for p in pieces]
        prior_tasks = [p[2] for p in pieces]
    index = linker.gazetteer.index
    learning = bool(prior and linker.assoc_lift is not None and linker.associations)
    out: list[list[int]] = []
    lone_keys: list[dict[str, int]] = []
    learned_all: list[dict[str, tuple[int, float]]] = []
    lone: list[bool] = []
    for tokens in clauses:
        keyed = linker.keyed(tokens)
        positions = key_places(keyed)
        candidates: set[int] = set()
        for k in positions:
            candidates.update(index.get(k, ()))
        alone: dict[str, int] = {}
        if prior:
            for prior_index in prior_indexes:
                for k in positions.keys() & prior_index.keys():
                    candidates.update(prior_index[k])
            if linker.prior_lone_word is not None:
                least, idf = linker.prior_lone_word, linker.gazetteer.idf
                named = positions.keys() & prior_tasks[0].keys()
                for more in prior_tasks[1:]:
                    named |= positions.keys() & more.keys()
                wanted = {k for k in named if idf[k] >= least}
                if wanted:
                    alone = linker._lone_keys(tokens, keyed, text, wanted)
                    for tasks in prior_tasks:
                        for k in alone:
                            candidates.update(tasks.get(k, ()))
        learned = linker._learned(keyed, prior) if learning else {}
        for code in learned:
            candidates.add(linker._by_code[code][0])
        out.append(sorted(candidates))
        lone_keys.append(alone)
        learned_all.append(learned)
        lone.append(bool(alone or learned))
    return out, lone_keys, learned_all, lone


def _new_candidates(
    linker: Linker, clauses: Sequence[Sequence[Token]], text: str, prior: frozenset[str],
    parts: Sequence[frozenset[str]] | None,
) -> tuple[list[list[int]], list[dict[str, int]], list[dict[str, tuple[int, float]]], list[bool]]:
    """The same from Linker._candidates, given what Linker.scored_many gives it."""
    pieces: list[frozenset[str]] = []
    if prior:
        pieces = [p for p in parts if p] if parts is not None else []
        if not pieces:
            pieces = [prior]
    found = []
    ids: list[int] = []
    counts: list[int] = []
    for tokens in clauses:
        keyed = linker.keyed(tokens)
        positions = key_places(keyed)
        ids += [linker._key_id[k] for k in positions]
        counts.append(len(positions))
        found.append((keyed, positions))
    id_rows = numpy.repeat(numpy.arange(len(clauses)), counts)
    numbers, rows, lone_keys, learned_all, lone = linker._candidates(
        clauses, text, found, numpy.array(ids, dtype=numpy.int64), id_rows, prior, pieces)
    assert (numpy.diff(rows) >= 0).all()
    out = [numbers[rows == n].tolist() for n in range(len(clauses))]
    return out, lone_keys, learned_all, lone.tolist()


def random_clauses(rng: random.Random, vocabulary: Sequence[str]) -> tuple[str, list[list[Token]]]:
    """One to twelve clauses of up to nine words drawn from ``vocabulary``, joined by " ; " (the text), each
    as its tokens at their places in that text (also tests/test_linker_scoring.py's)."""
    pieces = [" ".join(rng.choice(vocabulary) for _ in range(rng.randint(0, 9)))
              for _ in range(rng.randint(1, 12))]
    clauses: list[list[Token]] = []
    start = 0
    for piece in pieces:
        clauses.append([(a + start, b + start, w) for a, b, w in words(piece)])
        start += len(piece) + 3
    return " ; ".join(pieces), clauses


def _random_case(rng: random.Random) -> tuple[Gazetteer, list[str]]:
    rows = []
    for number in range(rng.randint(5, 60)):
        label = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 5)))
        rows.append((str(100 + number % 45), label, rng.choice(KINDS)))  # some items with several forms
    codes = sorted({code for code, _, _ in rows})
    fiches = [(f"F{n}", code) for n in range(6) for code in rng.sample(codes, rng.randint(0, len(codes)))]
    return Gazetteer.from_rows(rows, (), fiches), codes


@pytest.mark.parametrize("seed", range(60))
def test_candidates_from_postings_are_those_of_the_per_clause_sets(seed: int) -> None:
    rng = random.Random(seed)
    gazetteer, codes = _random_case(rng)
    settings = {
        "prior_anchor": rng.random() < 0.5,
        # (0.5: the rest of a label of two equally rare keys meets the least exactly)
        "prior_coverage": rng.choice((0.0, 0.2, 0.25, 0.4, 0.5, 0.5, 0.85, 1.0)),
        # (a key's idf: a word weighing exactly the least)
        "prior_lone_word": rng.choice((None, 0.5, 2.0, 3.0, *sorted(gazetteer.idf.values())[:3])),
    }
    if rng.random() < 0.3:  # associated words (no shipped linker reads them)
        settings["assoc_lift"] = 1.0
        settings["associations"] = {
            word[:4]: tuple((rng.choice(codes), rng.uniform(0.5, 3.0), rng.randint(1, 4)) for _ in range(3))
            for word in rng.sample(WORDS, 8)
        }
    linker = Linker(gazetteer, **settings)  # type: ignore[arg-type]
    text, clauses = random_clauses(rng, (*WORDS, ",", "et", "ou", "de", "les"))
    fiches = sorted(gazetteer.fiche_items)
    for _ in range(4):
        chosen = rng.sample(fiches, rng.randint(0, min(3, len(fiches))))
        parts = [gazetteer.fiche_items[f] for f in chosen]
        prior = frozenset().union(*parts) if parts else frozenset()
        for given in (None, parts):
            assert _new_candidates(linker, clauses, text, prior, given) == \
                _old_candidates(linker, clauses, text, prior, given)


def test_the_postings_follow_a_change_of_the_prior_setting_and_ties_of_idf() -> None:
    # "plan" and "lecture" are as rare as each other: the first in the label's order is the anchor
    rows = [("1", "Lecture de plan", "savoir-faire"), ("2", "Souder", "savoir"),
            ("3", "Souder des pièces", "savoir-faire")]
    gazetteer = Gazetteer.from_rows(rows, (), [("F", "1"), ("F", "3")])
    linker = Linker(gazetteer, prior_anchor=True, prior_lone_word=None)
    clauses = [words("plan"), words("lecture"), words("pièces")]
    prior = gazetteer.fiche_items["F"]
    for anchor, coverage in ((True, 0.4), (False, 0.4), (False, 0.0), (True, 0.0)):
        linker.prior_anchor, linker.prior_coverage = anchor, coverage
        text = "plan lecture pièces"
        assert _new_candidates(linker, clauses, text, prior, None) == \
            _old_candidates(linker, clauses, text, prior, None)
    assert len(linker._prior_found) == 4  # the prior's postings per (prior_anchor, prior_coverage)


def test_the_fuzzy_lookup_reading_the_reachable_lengths_histograms_at_once_matches_a_full_scan() -> None:
    from rapidfuzz import fuzz, process

    rng = random.Random(7)
    letters = "abcdeéèfghijklmnopqrstuvwxyzç"
    stems = ["".join(rng.choice(letters) for _ in range(rng.randint(3, 14))) for _ in range(600)]
    pairs = zip(stems[::2], stems[1::2], strict=True)
    rows = [(str(n), f"{a} {b}", "savoir") for n, (a, b) in enumerate(pairs)]
    linker = Linker(Gazetteer.from_rows(rows))
    queries = []
    for key in rng.sample(linker._vocabulary, 200):
        chars = list(key)
        for _ in range(rng.randint(0, 3)):  # typos: a letter changed, dropped or added
            place = rng.randrange(len(chars) + 1)
            step = rng.choice(("change", "drop", "add"))
            if step == "add" or not chars:
                chars.insert(place, rng.choice(letters + "0"))
            elif place < len(chars):
                chars[place] = rng.choice(letters) if step == "change" else ""
        queries.append("".join(chars))
    # each length's first and last keys (the ends of its run of histograms), the last letter doubled
    queries += [run[0] + run[0][-1] for run in linker._by_length.values()]
    queries += [run[-1] + run[-1][-1] for run in linker._by_length.values()]
    for cutoff in (88.0, 80.0, 70.0):
        linker.fuzzy_word = cutoff
        matched = 0
        for query in queries:
            found = process.extractOne(query, linker._vocabulary, scorer=fuzz.ratio, score_cutoff=cutoff)
            expected = None if len(query) < 6 or found is None else found[0]
            assert linker._closest_key(query) == expected, (query, cutoff)
            matched += expected is not None and expected != query
        assert matched >= 20  # typos found, not only exact keys or misses


def test_distinct_is_numpy_unique_with_its_inverse() -> None:
    from kg.nlp.rerank import distinct

    rng = numpy.random.default_rng(3)
    for size in (0, 1, 2, 5, 40, 300):
        for values in (numpy.sort(rng.integers(0, 12, size)), rng.integers(0, 12, size)):
            used, inverse = distinct(values)
            expected = numpy.unique(values, return_inverse=True)
            assert used.tolist() == expected[0].tolist() and inverse.tolist() == expected[1].tolist()
            assert inverse.dtype == expected[1].dtype
