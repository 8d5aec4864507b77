"""The extraction's measuring instrument (kg.nlp.evaluate) and offer readers (kg.nlp.offers_csv) on tiny
hand-made inputs; no real data needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kg.nlp.evaluate import (
    PR,
    AnnotatedOffer,
    GoldMention,
    PredictedSkill,
    annotation_stats,
    bootstrap_pr,
    load_annotation,
    offer_item_pr,
    offer_span_pr,
    predictions_from_extraction,
    recall_at_k,
    skill_pr,
    topk_accuracy,
)
from kg.nlp.offers_csv import offer_text, read_offers

ANNOTATION = Path(__file__).parent / "annotations" / "offers-skills.jsonl"


def gold(*mentions: GoldMention, oid: str = "o1") -> AnnotatedOffer:
    return AnnotatedOffer(oid, "f.jsonl", "dev", "", tuple(mentions))


def test_topk_accuracy() -> None:
    pairs = [(["F1703", "F1704", "F1202"], "F1704"), (["N1103"], "N1103"), (["K1302"], "K1304")]
    assert topk_accuracy(pairs, 1) == pytest.approx(1 / 3)
    assert topk_accuracy(pairs, 3) == pytest.approx(2 / 3)
    assert topk_accuracy([], 1) == 0.0


def test_item_pr_alternative_counts_as_found() -> None:
    g = gold(GoldMention(0, 4, "task", "400433", ("121956",)))
    assert offer_item_pr(g, ["121956"]) == PR(found=1, gold=1, correct=1, predicted=1)


def test_item_pr_repeated_code_is_one_unit_and_one_prediction() -> None:
    g = gold(GoldMention(0, 4, "quality", "300490"), GoldMention(10, 14, "quality", "300490"))
    assert offer_item_pr(g, ["300490", "300490"]) == PR(found=1, gold=1, correct=1, predicted=1)


def test_item_pr_wrong_and_missing() -> None:
    g = gold(GoldMention(0, 4, "quality", "300490"), GoldMention(10, 14, "licence", "123456"))
    r = offer_item_pr(g, ["300465"])
    assert (r.found, r.gold, r.correct, r.predicted) == (0, 2, 0, 1)
    assert r.precision == 0.0 and r.recall == 0.0 and r.f1 == 0.0


def test_item_pr_null_mention_not_in_recall_but_its_alternative_is_not_an_error() -> None:
    g = gold(GoldMention(0, 4, "task", None, ("107740",)), GoldMention(5, 9, "task", None))
    assert offer_item_pr(g, ["107740"]) == PR(found=0, gold=0, correct=1, predicted=1)


def test_item_pr_diploma_left_out() -> None:
    g = gold(GoldMention(0, 4, "diploma", "491040"))
    assert offer_item_pr(g, ["491040"]) == PR(0, 0, 0, 0)


def test_span_pr_needs_overlap_and_code() -> None:
    g = gold(GoldMention(10, 20, "task", "106670"), GoldMention(30, 40, "quality", "300490"))
    preds = [
        PredictedSkill("106670", 15, 25),  # overlaps, right code
        PredictedSkill("106670", 50, 60),  # right code elsewhere: an error in the span variant
        PredictedSkill("300465", 30, 40),  # right place, wrong code
    ]
    r = offer_span_pr(g, preds)
    assert r == PR(found=1, gold=2, correct=1, predicted=3)
    # the same predictions per offer: 106670 found, 300465 wrong
    assert offer_item_pr(g, [p.code for p in preds]) == PR(found=1, gold=2, correct=1, predicted=2)


def test_span_pr_ignores_predictions_without_offsets() -> None:
    g = gold(GoldMention(0, 5, "quality", "300490"))
    assert offer_span_pr(g, [PredictedSkill("300490")]) == PR(0, 1, 0, 0)


def test_skill_pr_micro_average_and_missing_offers() -> None:
    g = [gold(GoldMention(0, 5, "task", "1"), oid="a"), gold(GoldMention(0, 5, "task", "2"), GoldMention(6, 9,
         "task", "3"), oid="b")]
    r = skill_pr(g, {"a": [PredictedSkill("1")], "zzz": [PredictedSkill("2")]})
    assert r == PR(found=1, gold=3, correct=1, predicted=1)
    assert r.precision == 1.0 and r.recall == pytest.approx(1 / 3)


def _half_found(n: int) -> tuple[list[AnnotatedOffer], dict[str, list[PredictedSkill]]]:
    """n offers of two units each; the odd ones get both found, the even ones one and a wrong code."""
    two = (GoldMention(0, 5, "task", "1"), GoldMention(6, 9, "task", "2"))
    offers = [gold(*two, oid=str(i)) for i in range(n)]
    preds = {str(i): [PredictedSkill("1"), PredictedSkill("2" if i % 2 else "9")] for i in range(n)}
    return offers, preds


def test_bootstrap_pr_brackets_the_figure_and_narrows_with_more_offers() -> None:
    offers, preds = _half_found(40)
    point = skill_pr(offers, preds)
    assert (point.precision, point.recall) == (0.75, 0.75)
    small = bootstrap_pr(offers, preds, draws=1000)
    assert small.pooled == point
    assert small.precision[0] < 0.75 < small.precision[1] and small.recall[0] < 0.75 < small.recall[1]
    many, many_preds = _half_found(400)
    large = bootstrap_pr(many, many_preds, draws=1000)
    assert large.recall[1] - large.recall[0] < (small.recall[1] - small.recall[0]) / 2
    # the same seed draws the same offers; the level widens the interval
    assert bootstrap_pr(offers, preds, draws=1000) == small
    wide = bootstrap_pr(offers, preds, draws=1000, level=0.99)
    assert wide.recall[0] <= small.recall[0] and wide.recall[1] >= small.recall[1]


def test_bootstrap_pr_without_offers_or_predictions() -> None:
    assert bootstrap_pr([], {}).recall == (0.0, 0.0)
    offers, _ = _half_found(10)
    nothing = bootstrap_pr(offers, {}, draws=100)
    assert nothing.recall == (0.0, 0.0) and nothing.precision == (0.0, 0.0)


def test_recall_at_k() -> None:
    assert recall_at_k([(["a", "b", "c"], ["c"])], k=2) == (0.0, 0, 1)
    assert recall_at_k([(["a", "b", "c"], ["c"])], k=3) == (1.0, 1, 1)
    assert recall_at_k([], k=10) == (0.0, 0, 0)


def test_predictions_from_extraction_and_stats(tmp_path: Path) -> None:
    recs = [{"id": 12, "skills": [{"code": "300490", "start": 0, "end": 3}, {"code": None}]}, {"error": "x"}]
    assert predictions_from_extraction(recs) == {"12": [PredictedSkill("300490", 0, 3)]}
    path = tmp_path / "a.jsonl"
    path.write_text(json.dumps({"id": "1", "source": "s", "split": "test", "sha256": "h", "mentions": [
        {"start": 0, "end": 3, "kind": "licence", "code": "123456", "alternatives": []},
        {"start": 4, "end": 9, "kind": "diploma", "code": None, "alternatives": []}]}) + "\n",
        encoding="utf-8")
    offers = load_annotation(path)
    assert offers[0].split == "test" and offers[0].mentions[1].kind == "diploma"
    stats = annotation_stats(offers)
    assert stats["mentions"] == 2 and stats["no_referential"] == 1 and stats["splits"] == {"test": 1}


def test_project_annotation_loads() -> None:
    offers = load_annotation(ANNOTATION)
    assert offers and {o.split for o in offers} <= {"dev", "test"}
    # an offer that states no requirement has an empty record (two of the eighth draw's, docs/ANNOTATION.md);
    # many would mean notes lost between the annotators and `compile`
    empty = [o.id for o in offers if not o.mentions]
    assert len(empty) <= len(offers) // 50, empty


def test_read_offers_pipe_csv_with_dotted_columns(tmp_path: Path) -> None:
    path = tmp_path / "pipe.csv"
    path.write_text(
        'id|intitule|description|romeCode|lieuTravail.commune|lieuTravail.latitude|competences|alternance\n'
        '9Z|Maçon H/F|"Monter des murs.\nPermis B"|F1703|07229|44.6|'
        '"[{\'code\': \'123456\', \'libelle\': \'Permis B\', \'exigence\': \'E\'}]"|False\n',
        encoding="utf-8",
    )
    [offer] = list(read_offers(path))
    assert offer["lieuTravail"] == {"commune": "07229", "latitude": 44.6}
    assert offer["competences"][0]["code"] == "123456" and offer["alternance"] is False
    assert offer_text(offer) == "Maçon H/F\nMonter des murs.\nPermis B"


def test_read_offers_puts_the_csv_field_limit_back(tmp_path: Path) -> None:
    # Regression (session 17): read_offers raised the csv module's process-wide field limit for good, so once
    # tests/test_annotations.py read the Ardèche CSV dumps, the graph readers' oversized-field check
    # (tests/test_fuzz_readers.py) no longer fired in the same pytest process.
    import csv

    path = tmp_path / "long.csv"
    path.write_text("id|description\n1|" + "x" * 200_000 + "\n", encoding="utf-8")
    before = csv.field_size_limit()
    [offer] = list(read_offers(path))
    assert len(offer["description"]) == 200_000
    assert csv.field_size_limit() == before


def test_read_offers_comma_csv_with_literal_objects(tmp_path: Path) -> None:
    path = tmp_path / "comma.csv"
    path.write_text(
        'id,intitule,lieuTravail,romeCode,qualitesProfessionnelles\n'
        '8Y,Cariste,"{\'libelle\': \'07 - X\', \'commune\': \'07010\'}",N1101,\n',
        encoding="utf-8",
    )
    [offer] = list(read_offers(path))
    assert offer == {"id": "8Y", "intitule": "Cariste", "romeCode": "N1101",
                     "lieuTravail": {"libelle": "07 - X", "commune": "07010"}}


def test_read_offers_jsonl_and_array(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"id": "1"}\n\n{"id": "2"}\n', encoding="utf-8")
    (tmp_path / "b.json").write_text('[{"id": "3"}]', encoding="utf-8")
    assert [o["id"] for o in read_offers(tmp_path / "a.jsonl")] == ["1", "2"]
    assert [o["id"] for o in read_offers(tmp_path / "b.json")] == ["3"]


def test_annotation_scored_against_itself_is_perfect() -> None:
    # Predicting exactly the annotated codes at the annotated spans must give P = R = 1 at both levels.
    gold_offers = load_annotation(ANNOTATION)
    preds = {
        o.id: [PredictedSkill(m.code, m.start, m.end) for m in o.mentions if m.code and m.kind != "diploma"]
        for o in gold_offers
    }
    for spans in (False, True):
        r = skill_pr(gold_offers, preds, spans=spans)
        assert r.precision == 1.0 and r.recall == 1.0, (spans, r)
