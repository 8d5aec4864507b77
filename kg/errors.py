"""Errors a user can act on: which file, which line or record, which field, which rule."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class SourceError(Exception):
    """A source file cannot be read as its declared format; the build stops.

    >>> str(SourceError(Path("a.csv"), 3, "code_rome", "missing column"))
    'a.csv, line 3, field code_rome: missing column'
    """

    file: Path | str
    line: int | None
    field: str | None
    rule: str

    def __str__(self) -> str:
        parts = [str(self.file)]
        if self.line is not None:
            parts.append(f"line {self.line}")
        if self.field:
            parts.append(f"field {self.field}")
        return ", ".join(parts) + f": {self.rule}"


class BuildError(Exception):
    """The build cannot complete (reconciliation failed, store cannot be written...)."""
