"""The disk caches of generated mapping code (``PASSERELLES_CODE_CACHE``): atomic writes that
concurrent writers of one entry cannot mix up."""

from __future__ import annotations

import marshal
import os
import threading
from pathlib import Path

import pytest

from kg import mapping_compile


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
