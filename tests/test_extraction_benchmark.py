"""benchmarks/extraction.py's skill table: TEST split by draws (docs/ANNOTATION.md, the seventh draw)."""

from __future__ import annotations

import sys
from pathlib import Path

from kg.nlp.evaluate import AnnotatedOffer, GoldMention, PredictedSkill

# appended, as in tests/test_skill_aliases.py: benchmarks/graphql.py would shadow the graphql package
sys.path.append(str(Path(__file__).resolve().parent.parent / "benchmarks"))

from extraction import extract_command, interval_rows, skill_rows


def _offer(oid: str, split: str, draw: int, code: str) -> AnnotatedOffer:
    return AnnotatedOffer(oid, "f.jsonl", split, "", (GoldMention(0, 5, "task", code),), draw)


def test_test_rows_by_draw_when_the_fresh_draw_is_there() -> None:
    gold = [_offer("d", "dev", 3, "1"), _offer("t", "test", 2, "2"), _offer("f", "test", 7, "3")]
    preds = {oid: [PredictedSkill(code, 0, 5)] for oid, code in (("d", "1"), ("t", "9"), ("f", "3"))}
    rows = {row[1]: row for row in skill_rows("system", gold, preds)}
    assert list(rows) == ["dev", "test", "test, draws 1-6", "test, draw 7"]
    assert [rows[k][8] for k in rows] == ["1/1", "1/2", "0/1", "1/1"]
    assert rows["test, draws 1-6"][3] == 0.0 and rows["test, draw 7"][3] == 1.0


def test_each_fresh_draw_has_its_row() -> None:
    # the eighth draw (Ardèche, session 17) is a second fresh set, read apart from the seventh
    gold = [_offer("t", "test", 7, "1"), _offer("a", "test", 8, "2"), _offer("b", "test", 8, "3")]
    preds = {"t": [PredictedSkill("1", 0, 5)], "a": [PredictedSkill("2", 0, 5)]}
    rows = {row[1]: row for row in skill_rows("system", gold, preds)}
    assert list(rows) == ["test", "test, draw 7", "test, draw 8"]  # no DEV offer, no empty part
    assert rows["test, draw 8"][2] == 2 and rows["test, draw 8"][8] == "1/2"


def test_no_draw_rows_for_one_part() -> None:
    gold = [_offer("d", "dev", 0, "1"), _offer("t", "test", 0, "2")]
    rows = skill_rows("system", gold, {"t": [PredictedSkill("2", 0, 5)]})
    assert [row[1] for row in rows] == ["dev", "test"]


def test_the_benchmarks_own_run_reads_its_store() -> None:
    # regression: the command had no --store, so kg extract read var/store (the demo graph on a dev
    # machine: TEST recall 0.144 instead of 0.645 with --store on the real graph)
    cmd = extract_command("kg", [Path("offers.jsonl")], 1, Path("w1.jsonl"), Path("/stores/real"))
    assert cmd[cmd.index("--store") + 1] == "/stores/real"


def test_interval_rows_give_the_pooled_figures_and_by_file() -> None:
    gold = [_offer("t", "test", 7, "1"), _offer("a", "test", 8, "2")]
    gold[1] = AnnotatedOffer("a", "g.csv", "test", "", gold[1].mentions, 8)
    rows = {row[0]: row for row in interval_rows(gold, {"t": [PredictedSkill("1")]})}
    assert list(rows) == ["test", "test, draw 7", "test, draw 8", "test, f.jsonl", "test, g.csv"]
    assert rows["test"][6] == "1/2" and rows["test, g.csv"][4] == 0.0 and rows["test, f.jsonl"][4] == 1.0
