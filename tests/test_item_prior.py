"""The item prior of benchmarks/item_prior.py on hand-made offers (no real data): what is left out of
the pool (the leak rules), the smoothed tick rates, the association lift and the candidates' columns."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from item_prior import COLUMNS, GROUPS, PLAIN, ItemPrior, PoolOffer, columns, pool, read_pool, same_text

from kg.nlp.rerank import FEATURES, Candidate

FICHES = {"F1": frozenset({"A", "B", "C"}), "F2": frozenset({"C", "D"})}


def offer(oid: str, description: str, ticked: list[str], fiche: str = "F1", title: str = "Maçon") -> dict:
    return {"id": oid, "intitule": title, "description": description, "romeCode": fiche,
            "competences": [{"code": c, "libelle": "x", "exigence": "S"} for c in ticked]}


def test_leak_rules() -> None:
    annotated = offer("9", "Pose de parpaings, port de charges.", ["D"])
    offers = [
        annotated,  # the annotated offer itself
        offer("10", "  Pose de parpaings,\nport   de charges. ", ["D"]),  # a copy under another id
        offer("11", "Pose de parpaings, port de charges lourdes.", ["A"]),  # another text: kept
        offer("12", "Pose de briques.", ["A", "B"]),
        offer("12", "Autre texte, même id.", ["C"]),  # a repeated id
        offer("13", "Pose de briques.", ["B"]),  # a repeated text
        offer("14", "Rien de coché.", []),
    ]
    texts = {same_text(annotated["intitule"] + "\n" + annotated["description"])}
    kept, why = pool(offers, {"9"}, texts, FICHES)
    assert [o.id for o in kept] == ["11", "12"]
    assert dict(why) == {"annotated id": 1, "annotated text": 1, "repeated": 2, "no ticked item": 1}
    # the ticks of the left-out offers are nowhere in the statistics
    prior = ItemPrior.learn(kept, strength=0.0)
    assert prior.ticks["D"] == 0 and prior.available["D"] == 0
    assert prior.ticks["C"] == 0 and prior.ticks["B"] == 1
    # and a text excluded by its words only, whatever its id
    kept, why = pool([offer("77", "Pose de parpaings, port de charges.", ["D"])], set(), texts, FICHES)
    assert kept == [] and why["annotated text"] == 1


def test_read_pool_reads_jsonl_and_csv(tmp_path: Path) -> None:
    (tmp_path / "offers" / "trades").mkdir(parents=True)
    lines = [json.dumps(offer("1", "Coffrage et ferraillage.", ["A"])), json.dumps(offer("2", "x", ["B"]))]
    (tmp_path / "offers" / "trades" / "a.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "offers" / "b.csv").write_text(
        "id|intitule|description|romeCode|competences\n"
        "3|Peintre|Peinture des murs.|F2|[{'code': 'D', 'libelle': 'y', 'exigence': 'E'}]\n"
        "2|Copie|de l'offre 2|F1|[{'code': 'C', 'libelle': 'z', 'exigence': 'E'}]\n", encoding="utf-8")
    kept, why = read_pool(tmp_path, {"1"}, set(), FICHES)
    # b.csv is read first (names in order); its offer 2 leaves the JSONL's offer 2 out as a repeat
    assert [(o.id, sorted(o.ticked), o.fiche) for o in kept] == [("3", ["D"], "F2"), ("2", ["C"], "F1")]
    assert kept[0].available == FICHES["F2"] and "mur" in kept[0].keys
    assert dict(why) == {"annotated id": 1, "repeated": 1}


def test_rates_are_smoothed_towards_the_mean() -> None:
    pool_offers = [
        PoolOffer("1", frozenset({"coffrag"}), frozenset({"A"}), "F1", FICHES["F1"]),
        PoolOffer("2", frozenset({"coffrag"}), frozenset({"A", "B"}), "F1", FICHES["F1"]),
        PoolOffer("3", frozenset({"peintur"}), frozenset({"C"}), "F2", FICHES["F2"]),
        PoolOffer("4", frozenset({"peintur"}), frozenset({"C"}), "F2", FICHES["F2"]),
    ]
    raw = ItemPrior.learn(pool_offers, strength=0.0)
    # A: ticked in 2 of the 2 offers of a fiche listing it; C: in 2 of 4 (F1 and F2 list it)
    assert raw.item_rate("A") == 1.0 and raw.item_rate("C") == 0.5 and raw.item_rate("D") == 0.0
    assert raw.fiche_rate("F2", "C") == 1.0 and raw.fiche_rate("F1", "C") == 0.0
    assert raw.mean == 5 / 10  # 5 ticks, 10 (offer, available item) pairs
    smooth = ItemPrior.learn(pool_offers, strength=2.0)
    assert smooth.item_rate("A") == pytest.approx((2 + 2 * 0.5) / (2 + 2))
    assert smooth.item_rate("Z") == pytest.approx(0.5)  # never available: the mean
    assert smooth.fiche_rate("F1", "C") == pytest.approx((0 + 2 * smooth.item_rate("C")) / (2 + 2))
    # the lift: "coffrag" is written by both offers that ticked A, and A is ticked wherever it can be
    assert raw.lift({"coffrag", "peintur"}, "A") == (1.0, 2)
    assert raw.lift({"peintur"}, "A") == (0.0, 0)  # support 2 needed: none
    # C is ticked in the two "peintur" offers, half of the offers where it could be: lift 2
    assert raw.lift({"peintur"}, "C") == (2.0, 2)


def test_columns() -> None:
    pool_offers = [
        PoolOffer("1", frozenset({"lev"}), frozenset({"A"}), "F1", FICHES["F1"]),
        PoolOffer("2", frozenset({"lev"}), frozenset({"A", "C"}), "F1", FICHES["F1"]),
        PoolOffer("3", frozenset({"x"}), frozenset({"D"}), "F2", FICHES["F2"]),
    ]
    prior = ItemPrior.learn(pool_offers, strength=0.0)
    a = Candidate(0, "A", 0, 10, frozenset({1, 2}), ())
    b = Candidate(0, "B", 0, 5, frozenset({1}), ())  # shares a word with A
    c = Candidate(0, "C", 20, 25, frozenset({4}), ())  # same clause, no shared word
    d = Candidate(1, "D", 30, 35, frozenset({1}), ())  # word 1 of another clause
    keys = [frozenset({"lev", "charg"}), frozenset({"lev"})]
    fiches = [("F1", FICHES["F1"])]  # D is in no predicted fiche
    X = columns(prior, [a, b, c, d], keys, fiches)
    got = {code: dict(zip(PLAIN, row, strict=True)) for code, row in zip("ABCD", X.tolist(), strict=True)}
    assert got["A"]["tick_rate"] == 1.0 and got["A"]["tick_fiche_rate"] == 1.0
    assert got["B"]["tick_rate"] == 0.0 and got["B"]["tick_seen"] == pytest.approx(math.log(3))
    assert got["D"]["tick_rate"] == 1.0 and got["D"]["tick_fiche_rate"] == 0.0  # no predicted fiche
    # the rank among the candidates on shared words of the clause: A over B; C and D alone
    assert (got["A"]["tick_rank"], got["A"]["tick_gap"]) == (1.0, 1.0)
    assert (got["B"]["tick_rank"], got["B"]["tick_gap"]) == (0.5, -1.0)
    assert (got["C"]["tick_rank"], got["C"]["tick_gap"]) == (1.0, 0.0)
    assert (got["D"]["tick_rank"], got["D"]["tick_gap"]) == (1.0, 0.0)
    # "lev" with A: lift 1, support 2; D is associated with no key of its clause
    assert got["A"]["assoc_lift"] == 0.0 and got["A"]["assoc_support"] == pytest.approx(math.log(3))
    assert got["D"]["assoc_support"] == 0.0
    # a group's columns alone, in their order
    assert columns(prior, [a, b], keys, fiches, GROUPS["rank"]).tolist() == [[1.0, 1.0], [0.5, -1.0]]
    assert columns(prior, [], keys, fiches).shape == (0, len(PLAIN))
    # the rate by kind: a savoir's rate in its own column only
    savoir = Candidate(0, "A", 0, 4, frozenset({1}),
                       tuple(1.0 if f == "kind_savoir" else 0.0 for f in FEATURES))
    quality = Candidate(0, "A", 0, 4, frozenset({1}),
                        tuple(1.0 if f == "kind_savoir-etre" else 0.0 for f in FEATURES))
    assert columns(prior, [savoir, quality], keys, fiches, GROUPS["kind"]).tolist() == [
        [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]
    assert len(columns(prior, [savoir], keys, fiches, COLUMNS)[0]) == len(COLUMNS)
