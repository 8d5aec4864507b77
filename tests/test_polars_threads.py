"""polars' thread pool in the project's processes (kg.polars_threads): one thread by default,
PASSERELLES_POLARS_THREADS to change it, the user's POLARS_MAX_THREADS left alone.

Each case is a fresh interpreter: polars fixes its pool once per process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _pool(code: str, **settings: str) -> subprocess.CompletedProcess[str]:
    unset = ("POLARS_MAX_THREADS", "PASSERELLES_POLARS_THREADS")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update(settings)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


# What the build imports for its CSV maps: the engine reads blocks with polars.
ENGINE = "import kg.sources.csv_blocks, polars; print(polars.thread_pool_size())"


def _size(code: str = ENGINE, **settings: str) -> int:
    done = _pool(code, **settings)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip().splitlines()[-1])


def test_engine_uses_one_thread_by_default() -> None:
    assert _size() == 1


def test_build_module_uses_the_setting() -> None:
    # kg.build (what `kg build` and benchmarks/supply.py run) imports the engine through kg.mapping.
    code = "import kg.build, polars; print(polars.thread_pool_size())"
    assert _size(code, PASSERELLES_POLARS_THREADS="3") == 3


def test_auto_leaves_the_pool_to_polars() -> None:
    polars_own = _size("import polars; print(polars.thread_pool_size())")
    assert _size(PASSERELLES_POLARS_THREADS="auto") == polars_own


def test_users_polars_max_threads_wins() -> None:
    assert _size(POLARS_MAX_THREADS="4", PASSERELLES_POLARS_THREADS="3") == 4


def test_polars_imported_first_keeps_its_pool() -> None:
    code = "import polars; import kg.sources.csv_blocks, os; print(os.environ.get('POLARS_MAX_THREADS', 0))"
    assert _size(code) == 0


@pytest.mark.parametrize("value", ["0", "many", "-1"])
def test_bad_setting_is_one_clear_error(value: str) -> None:
    done = _pool(ENGINE, PASSERELLES_POLARS_THREADS=value)
    assert done.returncode != 0
    assert f"PASSERELLES_POLARS_THREADS={value!r}: a number of threads (1 or more) or 'auto'" in done.stderr


@pytest.mark.parametrize("how", ["script", "module"])
def test_bad_setting_stops_the_kg_command_with_one_line(how: str) -> None:
    # The setting is read when `kg` is imported, before the command can catch anything: the
    # command (console script or `python -m kg.cli`) still prints one line and no traceback.
    script = Path(sys.executable).parent / "kg"
    if how == "script" and not script.is_file():
        pytest.skip(f"no console script at {script} (package not installed in this interpreter)")
    command = [str(script)] if how == "script" else [sys.executable, "-m", "kg.cli"]
    env = {k: v for k, v in os.environ.items() if k != "POLARS_MAX_THREADS"}
    env["PASSERELLES_POLARS_THREADS"] = "bogus"
    done = subprocess.run(
        [*command, "build"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode in (1, 2)
    assert done.stderr.splitlines() == [
        "error: PASSERELLES_POLARS_THREADS='bogus': a number of threads (1 or more) or 'auto'"
    ]
    assert done.stdout == ""
