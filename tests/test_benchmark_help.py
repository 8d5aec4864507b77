"""The benchmarks' command lines print their help (argparse reads a ``%`` in a help text as a format)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_rerank_skills_prints_its_help() -> None:
    # regression: "--learning-curve"'s help listed its shares as "25%, 50%" and --help raised ValueError
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks/rerank_skills.py"), "--help"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert "--learning-curve" in run.stdout and "25%, 50%" in run.stdout
