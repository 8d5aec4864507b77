"""Outcomes of the fault and fuzz tests, appended to a JSON Lines file for the reliability report.

``scripts/reliability_report.py`` sets ``PASSERELLES_RELIABILITY_LOG`` to a file, runs the tests and
counts what they logged (hypothesis examples per reader and outcome, kills per build stage). Without
the variable nothing is written: the tests behave the same in CI.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

ENV = "PASSERELLES_RELIABILITY_LOG"


def log_outcome(kind: str, **fields: object) -> None:
    """Append one event (``kind`` = ``fuzz`` or ``fault``, and its fields) when logging is on."""
    target = os.environ.get(ENV)
    if not target:
        return
    with Path(target).open("a", encoding="utf-8") as out:
        out.write(json.dumps({"kind": kind, **fields}, ensure_ascii=False) + "\n")
