"""The disk caches of generated mapping code (``PASSERELLES_CODE_CACHE``): atomic writes that
concurrent writers of one entry cannot mix up; columnar plans kept between processes give the
output of plans compiled in the process (every golden CSV case), spare the compilers, and are
compiled again when their file is damaged or their key (header, base IRI, code) differs."""

from __future__ import annotations

import marshal
import os
import pickle
import threading
import tomllib
from pathlib import Path
from typing import Any

import pytest

import kg.mapping as mapping_module
import kg.mapping_columnar as columnar_module
from kg import mapping_compile
from kg.mapping import Mapping, MappingRunner
from kg.mapping_compile import CODE_CACHE_VARIABLE
from tests.conftest import ROOT, TEST_BASE
from tests.test_mapping_cells import CSV_CASES
from tests.test_mapping_columnar import Runs, _map


def test_two_threads_writing_one_bytecode_entry_use_their_own_scratch_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two map threads of one build compiling the same mapping at once: both write the entry.
    # Each must write its own scratch file (a scratch named by process id only was shared: the
    # second writer truncated the first's file, and the second rename found nothing).
    monkeypatch.setenv(mapping_compile.CODE_CACHE_VARIABLE, str(tmp_path))
    both_written = threading.Barrier(2, timeout=10)
    renamed: list[str] = []
    real_replace = os.replace

    def replace(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
        both_written.wait()  # each thread has written its scratch file: rename only now
        renamed.append(os.fspath(source))
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", replace)
    source = "def mapped(records, lines, mark):\n    lines.append('x')\n"
    errors: list[BaseException] = []

    def compile_once() -> None:
        try:
            mapping_compile._bytecode(source)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=compile_once) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(renamed) == 2 and len(set(renamed)) == 2, renamed
    entries = list(tmp_path.iterdir())
    assert len(entries) == 1 and not entries[0].name.startswith("."), entries  # no scratch left
    assert marshal.loads(entries[0].read_bytes()) == compile(source, "<mapping>", "exec")


def test_an_unwritable_cache_is_passed_over(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    assert mapping_compile.keep_cached(blocker / "sub" / "x.bin", b"data") is False
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_the_cache_stays_bounded_and_keeps_what_is_not_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every edit of a mapping left its entries behind: the folder only grew (543 files after a
    # few weeks of development). Writing a new entry now drops the oldest beyond the bound.
    monkeypatch.setenv(mapping_compile.CODE_CACHE_VARIABLE, str(tmp_path))
    monkeypatch.setattr(mapping_compile, "CACHE_ENTRIES", 8)
    for n in range(8):
        old = tmp_path / f"plan-{n:064x}.pickle"
        old.write_bytes(b"old")
        os.utime(old, (1_000 + n, 1_000 + n))
    dead_writer = tmp_path / f".plan-{0:064x}.pickle.k2j4x9"
    dead_writer.write_bytes(b"half")
    os.utime(dead_writer, (1_000, 1_000))
    (tmp_path / "README").write_text("a user's own file in the folder they named")
    mapping_compile._bytecode("def mapped(records, lines, mark):\n    pass\n")  # a new entry: 9 > 8
    names = sorted(p.name for p in tmp_path.iterdir())
    assert "README" in names and dead_writer.name not in names
    kept = [n for n in names if n.startswith("plan-")]
    assert kept == [f"plan-{n:064x}.pickle" for n in range(3, 8)], kept  # 6 = 3/4 of 8, with the new
    assert sum(n.endswith(".bin") for n in names) == 1
    before = sorted(p.name for p in tmp_path.iterdir())
    mapping_compile.keep_cached(tmp_path / kept[0], b"again")  # a rewrite adds nothing: no pruning
    assert sorted(p.name for p in tmp_path.iterdir()) == before


# The columnar plans kept on disk (kg.mapping_columnar.stored_plan).


class Compiles:
    """How often this process compiled a columnar plan and a mapping to Python."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.plans = 0
        self.rows = 0
        real_plan, real_rows = MappingRunner._plan, mapping_compile._compile_cached

        def plan(runner: MappingRunner, names: list[str]) -> object:
            self.plans += 1
            return real_plan(runner, names)

        def rows(query: str, base_iri: str) -> object:
            self.rows += 1
            return real_rows.__wrapped__(query, base_iri)

        self.handovers = 0  # the csv module's reading of the rest of a file (a quote...)
        real_cells = mapping_module.run_csv_cells

        def cells(*args: Any) -> Any:
            self.handovers += 1
            return real_cells(*args)

        monkeypatch.setattr(MappingRunner, "_plan", plan)
        monkeypatch.setattr(mapping_compile, "_compile_cached", rows)
        monkeypatch.setattr(mapping_module, "run_csv_cells", cells)


def _another_process() -> None:
    """Forget what this process compiled, as a new process would (the disk cache stays)."""
    columnar_module._PLANS.clear()
    columnar_module._compile_cached.cache_clear()


@pytest.mark.parametrize("case", CSV_CASES, ids=[c.name for c in CSV_CASES])
def test_a_plan_from_disk_maps_every_golden_case_as_a_compiled_one(
    case: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tomllib.loads((case / "case.toml").read_text(encoding="utf-8"))
    mapping = Mapping.load(ROOT / "mappings" / spec["mapping"])
    path, options = case / spec["input"], spec.get("options", {})
    monkeypatch.setenv(CODE_CACHE_VARIABLE, "off")
    _another_process()
    reference = _map([mapping], path, options, "columnar", monkeypatch)
    monkeypatch.setenv(CODE_CACHE_VARIABLE, str(tmp_path))
    _another_process()
    assert _map([mapping], path, options, "columnar", monkeypatch) == reference  # compiled, kept
    kept = sorted(p.name for p in tmp_path.glob("plan-*.pickle"))
    _another_process()
    compiles, runs = Compiles(monkeypatch), Runs(monkeypatch)
    assert _map([mapping], path, options, "columnar", monkeypatch) == reference  # from disk
    if kept:  # a mapping with a columnar plan for this header
        assert compiles.plans == 0
        if runs.refused == 0 and compiles.handovers == 0:
            assert compiles.rows == 0  # only a refused batch or the csv module's rows need it
    assert sorted(p.name for p in tmp_path.glob("plan-*.pickle")) == kept
    if spec["mapping"].startswith(("sirene", "dgefp")):
        assert kept and runs.frames > 0


def _dgefp(tmp_path: Path, rows: list[str]) -> tuple[Mapping, Path]:
    header = (
        "numeroDeclarationActivite;denomination;siretEtablissementDeclarant;"
        "certifications.actionsDeFormation;informationsDeclarees.nbStagiaires"
    )
    path = tmp_path / "dgefp.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return Mapping.load(ROOT / "mappings" / "dgefp-training-bodies.rq"), path


def test_a_refused_batch_compiles_the_row_engine_then(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv(CODE_CACHE_VARIABLE, str(cache))
    mapping, path = _dgefp(tmp_path, ["11755555555;ORG A;81234567800012;true;12"])
    _another_process()
    _map([mapping], path, {}, "columnar", monkeypatch)
    # Another process, another file with the same header: a SIRET with a space is no safe IRI
    # text, so the guard sends its batch to the row engine, compiled only now.
    path.write_text(path.read_text().replace("81234567800012", "812345678 00012"), encoding="utf-8")
    _another_process()
    compiles, runs = Compiles(monkeypatch), Runs(monkeypatch)
    got = _map([mapping], path, {}, "columnar", monkeypatch)
    assert (compiles.plans, compiles.rows, runs.refused) == (0, 1, 1)
    monkeypatch.setenv(CODE_CACHE_VARIABLE, "off")
    _another_process()
    assert got == _map([mapping], path, {}, "columnar", monkeypatch)


def test_a_damaged_or_foreign_plan_file_is_compiled_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    monkeypatch.setenv(CODE_CACHE_VARIABLE, str(cache))
    mapping, path = _dgefp(tmp_path, ["11755555555;ORG A;81234567800012;TRUE;12", "11;B;81234567800013;0;x"])
    _another_process()
    reference = _map([mapping], path, {}, "columnar", monkeypatch)
    (kept,) = cache.glob("plan-*.pickle")
    for damaged in (kept.read_bytes()[:100], pickle.dumps({"not": "a plan"}), b""):
        kept.write_bytes(damaged)
        _another_process()
        compiles = Compiles(monkeypatch)
        assert _map([mapping], path, {}, "columnar", monkeypatch) == reference
        assert compiles.plans == 1
        monkeypatch.undo()
        monkeypatch.setenv(CODE_CACHE_VARIABLE, str(cache))
        assert pickle.loads(kept.read_bytes()).present  # written again, whole


def test_the_plan_key_follows_the_header_the_base_and_the_code(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(CODE_CACHE_VARIABLE, str(tmp_path))
    _another_process()
    query = 'CONSTRUCT { ?o <x:p> ?code } WHERE { BIND(IRI(CONCAT("https://x.org/", ?code)) AS ?o) }'

    def plan_for(header: list[str], base: str = TEST_BASE) -> object:
        return columnar_module.stored_plan(
            query,
            base,
            header,
            lambda: columnar_module.compile_columnar(query, base, frozenset(header) & {"code"}),
        )

    plan_for(["code", "a"])
    plan_for(["a", "code", "a"])  # the same header as a set: the same entry
    plan_for(["code"])
    plan_for(["code"], "https://other.org/")
    assert len(list(tmp_path.glob("plan-*.pickle"))) == 3
    monkeypatch.setattr(columnar_module, "code_version", lambda: "another version of the code")
    _another_process()
    plan_for(["code"])
    assert len(list(tmp_path.glob("plan-*.pickle"))) == 4
