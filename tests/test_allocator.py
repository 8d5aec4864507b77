"""How the project's processes keep freed memory (kg.allocator): polars' jemalloc with one arena,
glibc malloc serving large blocks from its heap, PASSERELLES_ALLOCATOR=off for the defaults, the
user's own allocator variables left alone.

Each case is a fresh interpreter: both allocators read their settings once per process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VARIABLES = ("PASSERELLES_ALLOCATOR", "_RJEM_MALLOC_CONF", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


def _run(code: str, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    env.update(settings)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


# jemalloc prints its options at exit with stats_print (appended after kg has set its value, as
# another entry of the same variable that polars reads when imported).
ARENAS = (
    "import os, kg\n"
    "conf = os.environ.get('_RJEM_MALLOC_CONF')\n"
    "os.environ['_RJEM_MALLOC_CONF'] = f'{conf},stats_print:true' if conf else 'stats_print:true'\n"
    "import polars; polars.DataFrame({'a': [1]})\n"
)


def _arenas(**settings: str) -> int:
    done = _run(ARENAS, **settings)
    assert done.returncode == 0, done.stderr
    found = re.search(r"opt\.narenas: (\d+)", done.stderr)
    if found is None:
        pytest.skip("this polars' allocator prints no options (not jemalloc)")
    return int(found.group(1))


def test_polars_allocator_has_one_arena_by_default() -> None:
    assert _arenas() == 1


def test_build_module_imports_polars_with_the_setting() -> None:
    # kg.build (what `kg build` and benchmarks/supply.py run) imports polars through kg.mapping:
    # polars has appended kg's value to its own defaults (what its jemalloc reads).
    done = _run("import os, kg.build, polars; print(os.environ['_RJEM_MALLOC_CONF'])")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith(",narenas:1")


def test_off_keeps_polars_allocator_default() -> None:
    # jemalloc's default: four arenas per core
    assert _arenas(PASSERELLES_ALLOCATOR="off") > 1


def test_users_jemalloc_setting_wins() -> None:
    assert _arenas(_RJEM_MALLOC_CONF="narenas:3") == 3


# Blocks of growing sizes (1 to 16 MiB), each freed before the next: served from the heap, they
# reuse the pages touched before (~16 MiB of first touches); with glibc's defaults each one is
# mapped afresh (~136 MiB).
GROWING = (
    "import resource, kg\n"
    "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
    "for mib in range(1, 17):\n"
    "    block = b'x' * (mib << 20); del block\n"
    "print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)\n"
)


def _faults(**settings: str) -> int:
    if not sys.platform.startswith("linux"):
        pytest.skip("glibc's mallopt: Linux only")
    done = _run(GROWING, **settings)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip().splitlines()[-1])


def test_large_blocks_reuse_freed_memory() -> None:
    reused, default = _faults(), _faults(PASSERELLES_ALLOCATOR="off")
    if default < 20_000:
        pytest.skip(f"this C library maps no fresh memory for these blocks ({default} faults)")
    assert reused < 10_000 < 20_000 < default


def test_users_glibc_setting_wins() -> None:
    # the user's variable, read by glibc at start: kg sets nothing, glibc's sliding threshold stays
    assert _faults(MALLOC_TRIM_THRESHOLD_="131072") > 20_000


@pytest.mark.parametrize("value", ["fast", "0", ""])
def test_bad_setting_is_one_clear_error(value: str) -> None:
    done = _run("import kg", PASSERELLES_ALLOCATOR=value)
    assert done.returncode != 0
    assert f"PASSERELLES_ALLOCATOR={value.strip().lower()!r}: 'reuse' (the default) or 'off'" in done.stderr


def test_bad_setting_stops_the_kg_command_with_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    env["PASSERELLES_ALLOCATOR"] = "bogus"
    done = subprocess.run(
        [sys.executable, "-m", "kg.cli", "build"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == "error: PASSERELLES_ALLOCATOR='bogus': 'reuse' (the default) or 'off'\n"
