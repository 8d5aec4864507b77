"""Faults, black box: ``kg build`` killed (SIGKILL) at random points of each stage, and out of disk.

Each test runs the real command in a subprocess against a store that already serves a graph, and
checks what a user would: the previous graph stays served (``current`` unchanged, the store opens
read-only and answers a query with the same figures), the next build succeeds, and it leaves no
temporary file (``.tmp-*``, ``.current-*``) behind.

The stages are told apart from outside, by the files a build writes in ``builds/``: a spool per
source (``.tmp-<source>-*.nt``) while mapping and loading, the union (``.tmp-union-*.nt``) while
validating, neither while reconciling and publishing. A calibration build measures how long each
stage lasts; the kill times are drawn inside that window from a seeded RNG (the seed is
in the test id, so a failure replays). ``PASSERELLES_FAULT_RUNS`` sets the kills per stage
(default 1 in CI; ``scripts/reliability_report.py`` uses 5).
"""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox
import pytest

from kg.store import StoreLayout, open_store
from tests.conftest import ROOT
from tests.reliability_log import log_outcome

FIXTURE = ROOT / "tests" / "fixtures" / "build"
RUNS = int(os.environ.get("PASSERELLES_FAULT_RUNS", "1"))
STAGES = ("map_load", "validate", "publish")
ROWS = 300  # generated rows: the map stage lasts long enough to be hit (validation's cost is fixed)
POLL_S = 0.002
KG = Path(sys.executable).with_name("kg")
# The data: every named graph but the catalogue, which grows with each build's version history.
COUNT = (
    "SELECT (COUNT(*) AS ?n) WHERE { GRAPH ?g { ?s ?p ?o } "
    'FILTER (!STRSTARTS(STR(?g), "https://w3id.org/passerelles/graph/catalog")) }'
)


def _kg(*args: str) -> list[str]:
    return [str(KG) if KG.exists() else shutil.which("kg") or "kg", *args]


def copy_fixture(folder: Path) -> Path:
    """A copy of the build fixture whose manifest names its mappings by absolute path (``kg build
    --manifest`` resolves mapping names against the project's ``mappings/``); returns the manifest."""
    shutil.copytree(FIXTURE, folder)
    manifest = folder / "sources.toml"
    text = manifest.read_text(encoding="utf-8")
    for mapping in (folder / "mappings").glob("*.rq"):
        text = text.replace(f'"{mapping.name}"', json.dumps(str(mapping)))
    manifest.write_text(text, encoding="utf-8")
    return manifest


def _manifest(folder: Path) -> Path:
    """The build fixture, with a generated occupation list long enough to kill each stage in."""
    copy_fixture(folder)
    lines = ["code;label;parent"]
    for i in range(ROWS):
        code = f"{'ABCDEFGHIJKLMN'[i % 14]}{1100 + i // 14:04d}"
        lines.append(f"{code};Métier généré {i};{code}")
    (folder / "data" / "occupations.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder / "sources.toml"


def _build(
    manifest: Path, store: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _kg("build", "--force", "--manifest", str(manifest), "--store", str(store)),
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def _stage(builds: Path) -> str:
    """The stage a running build is in, read from its temporary files."""
    try:
        names = [e.name for e in os.scandir(builds)]
    except FileNotFoundError:
        return "start"
    if any(n.startswith(".tmp-union-") for n in names):
        return "validate"
    if any(n.startswith(".tmp-") and n.endswith(".nt") for n in names):
        return "map_load"
    return "start" if any(n.startswith(".tmp-") for n in names) else "other"


@dataclass
class Served:
    """What the served graph answers, to compare before and after a fault."""

    target: Path
    quads: int

    @classmethod
    def read(cls, root: Path) -> Served:
        target = StoreLayout(root).current()
        assert target is not None, f"nothing served in {root}"
        store = open_store(root)  # read-only, as `kg serve` opens it
        result = store.query(COUNT)
        assert isinstance(result, ox.QuerySolutions)
        quads = int(next(iter(result))["n"].value)
        del store
        return cls(target, quads)


@dataclass
class Calibration:
    manifest: Path
    store: Path  # a store serving one build, copied for each test
    stages: dict[str, tuple[float, float]]  # stage -> (start, end) in seconds after launch
    served: Served


@pytest.fixture(scope="module")
def calibration(tmp_path_factory: pytest.TempPathFactory) -> Calibration:
    """The first build, watched to time its stages; it is the graph served before each fault."""
    folder = tmp_path_factory.mktemp("faults")
    manifest = _manifest(folder / "input")
    store = folder / "store"
    seen: dict[str, list[float]] = {}
    started = time.monotonic()
    process = subprocess.Popen(_kg("build", "--force", "--manifest", str(manifest), "--store", str(store)))
    while process.poll() is None:
        seen.setdefault(_stage(store / "builds"), []).append(time.monotonic() - started)
        time.sleep(POLL_S)
    ended = time.monotonic() - started
    assert process.returncode == 0
    assert "map_load" in seen and "validate" in seen, f"stages not observed: {sorted(seen)}"
    stages = {
        # spools live until validation ends: mapping and loading end when the union appears
        "map_load": (seen["map_load"][0], seen["validate"][0]),
        "validate": (seen["validate"][0], seen["validate"][-1]),
        "publish": (seen["validate"][-1], ended),
    }
    return Calibration(manifest, store, stages, Served.read(store))


def _kill_during(stage: str, delay: float, manifest: Path, store: Path) -> str:
    """Start a build, wait for ``stage`` to begin, SIGKILL it ``delay`` seconds later; return the
    stage it was really in when killed (the machine's load moves stage ends), or "finished"."""
    builds = store / "builds"
    process = subprocess.Popen(
        _kg("build", "--force", "--manifest", str(manifest), "--store", str(store)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        entered: float | None = None
        validated = False
        now = "start"
        deadline = time.monotonic() + 120
        while process.poll() is None and time.monotonic() < deadline:
            now = _stage(builds)
            validated = validated or now == "validate"
            if entered is None and (now == stage or (stage == "publish" and validated and now != "validate")):
                entered = time.monotonic()
            if entered is not None and time.monotonic() - entered >= delay:
                break
            time.sleep(POLL_S)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        if process.returncode == 0:
            return "finished"
        # No temporary file names the stages before mapping and after validation; the spools
        # alone (no union) are also seen as validation ends, just before they are removed.
        if validated:
            return "validate" if now in ("map_load", "validate") else "publish"
        return now if now == "map_load" else "setup"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _leftovers(store: Path) -> list[str]:
    return sorted(p.name for p in [*(store / "builds").glob(".tmp-*"), *store.glob(".current-*")])


def _fresh_store(calibration: Calibration, tmp_path: Path) -> Path:
    store = tmp_path / "store"
    shutil.copytree(calibration.store, store, symlinks=True)
    return store


@pytest.mark.parametrize("stage", STAGES)
def test_sigkill_during_build_keeps_previous_graph(
    stage: str, calibration: Calibration, tmp_path: Path
) -> None:
    store = _fresh_store(calibration, tmp_path)
    before = Served.read(store)
    start, end = calibration.stages[stage]
    rng = random.Random(f"{stage}-{RUNS}")
    for run in range(RUNS):
        window = max(end - start, POLL_S) * 0.8
        # Publishing's work (reconcile, flush, rename, switch) comes first in its window, the
        # process's exit last: kills are drawn nearer its start (u² skews a uniform u).
        delay = window * (rng.random() ** 2 if stage == "publish" else rng.random())
        where = _kill_during(stage, delay, calibration.manifest, store)
        after = Served.read(store)
        published = after.target != before.target
        log_outcome(
            "fault",
            fault="SIGKILL",
            stage=stage,
            run=run,
            delay_s=round(delay, 3),
            where=f"killed in {where}" if where != "finished" else "finished before the kill",
            outcome="new build published" if published else "previous graph served",
        )
        if published:
            # Only a build that got past validation (and then its atomic switch) may change what
            # is served, and then in full: the same figures as a complete build.
            assert where in ("publish", "finished"), (
                f"killed in {where}: current moved to an incomplete build"
            )
            assert after.quads == calibration.served.quads
            before = after
        else:
            assert after == before, f"{where} after {delay:.3f} s: the served graph changed"
    result = _build(calibration.manifest, store)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not _leftovers(store), f"temporary files left after the next build: {_leftovers(store)}"
    after = Served.read(store)
    assert after.target != before.target and after.quads == calibration.served.quads
    log_outcome("fault", fault="SIGKILL", stage=stage, run="next build", outcome="succeeded, no leftovers")


# --- out of disk ------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of a few MiB (root only); skip where it cannot be mounted (CI runners, containers)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root: out-of-disk is covered by the injected ENOSPC test")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path, leave: int) -> None:
    """Fill ``disk`` with a ballast file until only ``leave`` bytes are free."""
    stat = os.statvfs(disk)
    free = stat.f_bavail * stat.f_frsize
    with (disk / "ballast").open("wb") as out:
        out.truncate(0)
        chunk = b"\0" * (1 << 20)
        remaining = max(0, free - leave)
        while remaining > 0:
            out.write(chunk[: min(len(chunk), remaining)])
            remaining -= min(len(chunk), remaining)


def test_out_of_disk_on_a_full_tmpfs(calibration: Calibration, small_disk: Path) -> None:
    store = small_disk / "store"
    shutil.copytree(calibration.store, store, symlinks=True)
    before = Served.read(store)
    _fill(small_disk, leave=1 << 20)  # 1 MiB: the spools alone need more
    result = _build(calibration.manifest, store)
    message = (result.stdout + result.stderr).strip().splitlines()
    log_outcome(
        "fault",
        fault="ENOSPC (full tmpfs)",
        stage="map_load",
        outcome=f"exit {result.returncode}",
        message=message[-1] if message else "",
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert message and message[-1].startswith("error:") and "no space left" in message[-1].lower()
    assert Served.read(store) == before
    (small_disk / "ballast").unlink()
    again = _build(calibration.manifest, store)
    assert again.returncode == 0, again.stdout + again.stderr
    assert not _leftovers(store)


def test_out_of_disk_injected_into_the_spool_writer(
    calibration: Calibration, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without root: the spool writer's input raises ENOSPC half-way (as a full disk does); the
    CLI prints one clear line and exits 1, and the previous graph is served unchanged."""
    from typer.testing import CliRunner

    from kg import mapping as mapping_module
    from kg.cli import app

    store = _fresh_store(calibration, tmp_path)
    before = Served.read(store)
    def then_full(real_run):  # type: ignore[no-untyped-def]
        def run_then_full(*args):  # type: ignore[no-untyped-def]
            for chunk in real_run(*args):
                yield chunk  # written to the spool; the next write finds the disk full
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(store / "builds" / ".tmp-spool"))

        return run_then_full

    # every way a source is mapped: records (run_shared), CSV rows as raw cells (run_csv_cells)
    # and CSV blocks as columns (run_csv_columnar)
    monkeypatch.setattr(mapping_module, "run_shared", then_full(mapping_module.run_shared))
    monkeypatch.setattr(mapping_module, "run_csv_cells", then_full(mapping_module.run_csv_cells))
    monkeypatch.setattr(mapping_module, "run_csv_columnar", then_full(mapping_module.run_csv_columnar))
    result = CliRunner().invoke(
        app, ["build", "--force", "--manifest", str(calibration.manifest), "--store", str(store)]
    )
    lines = result.output.strip().splitlines()
    log_outcome(
        "fault",
        fault="ENOSPC (injected)",
        stage="map_load",
        outcome=f"exit {result.exit_code}",
        message=lines[-1] if lines else "",
    )
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert lines[-1].startswith("error:") and "no space left" in lines[-1].lower(), result.output
    assert Served.read(store) == before
    assert not _leftovers(store)
