"""CSV reader: any delimiter, encoding (BOM, Windows-1252 named utf8...), multi-line quoted fields.

Options (from the mapping header or the manifest): ``delimiter`` (default ``,``; ``tab`` and
``semicolon`` accepted), ``encoding`` (default ``utf-8-sig``), ``quoting`` (``minimal`` or
``none``), ``skip_lines`` (lines before the header), ``columns`` (required columns, space
separated), ``explode`` and ``sep`` (split a multi-valued column).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Literal

from kg.errors import SourceError
from kg.sources.records import Record, explode, variable_name

_DELIMITERS = {"tab": "\t", "semicolon": ";", "comma": ",", "pipe": "|"}


def read_csv(path: Path, options: Mapping[str, str]) -> Iterator[Record]:
    """Stream the records of a CSV file; the header row names the columns."""
    delimiter = _DELIMITERS.get(options.get("delimiter", ","), options.get("delimiter", ","))
    encoding = options.get("encoding", "utf-8-sig")
    quoting: Literal[0, 1, 2, 3] = csv.QUOTE_NONE if options.get("quoting") == "none" else csv.QUOTE_MINIMAL
    skip = int(options.get("skip_lines", "0"))
    records = _rows(path, delimiter, encoding, quoting, skip, options.get("columns", "").split())
    return explode(records, options.get("explode"), options.get("sep"))


def _rows(
    path: Path, delimiter: str, encoding: str, quoting: Literal[0, 1, 2, 3], skip: int, required: list[str]
) -> Iterator[Record]:
    line = skip
    try:
        with path.open(encoding=encoding, newline="") as handle:
            for _ in range(skip):
                handle.readline()
            reader = csv.reader(handle, delimiter=delimiter, quoting=quoting, strict=True)
            try:
                header = next(reader)
            except StopIteration:
                raise SourceError(path, 1, None, "empty file: no header row") from None
            line = skip + reader.line_num
            # Some exports end the header with the delimiter: a trailing empty name, no column.
            while header and not header[-1].strip():
                header.pop()
            try:
                names = [variable_name(h) for h in header]
            except ValueError as exc:  # a header cell with no letter or digit names no column
                raise SourceError(path, skip + 1, None, f"unusable header: {exc}") from None
            missing = [c for c in required if variable_name(c) not in names]
            if missing:
                raise SourceError(
                    path,
                    skip + 1,
                    missing[0],
                    f"missing column(s) {', '.join(missing)}; header is {header!r}",
                )
            for cells in reader:
                start, line = line + 1, skip + reader.line_num
                if not cells:
                    continue
                if len(cells) == len(names) + 1 and not cells[-1].strip():
                    cells.pop()  # rows that end with the delimiter too
                if len(cells) != len(names):
                    raise SourceError(
                        path,
                        start,
                        None,
                        f"{len(cells)} fields where the header has {len(names)} (delimiter {delimiter!r})",
                    )
                # clean_cell inlined (cells are str here): this runs once per cell of the file
                yield Record(start, dict(zip(names, [c.strip() or None for c in cells], strict=True)))
    except UnicodeDecodeError as exc:
        raise SourceError(
            path, line + 1, None, f"bytes not decodable as {encoding}: {exc.reason} at byte {exc.start}"
        ) from None
    except csv.Error as exc:
        raise SourceError(path, line + 1, None, f"malformed CSV: {exc}") from None
