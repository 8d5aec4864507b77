"""A CSV file read in blocks by polars (Rust), for the columnar mapping engine — only where the
result is certainly that of :func:`kg.sources.csv_reader.read_csv_cells`.

Python's ``csv`` module is the reference reader (quotes, multi-line fields, its errors and line
numbers). A block of whole lines is read by polars only when simple byte tests (``bytes.count``
and ``in``, C speed) show that both readers must agree: UTF-8, no quote character (with minimal
quoting), no NUL, no blank line, no line break other than ``\\n`` or ``\\r\\n``, and exactly
``width - 1`` delimiters on each line, checked line by line (:func:`_widths_match`: polars reads
only the wanted columns and then refuses neither a line with more fields nor one with fewer). A
record is then one line, so its number is its line number.
The first block that fails a test ends the polars reading: :func:`read_blocks` yields where the
caller must go on with the Python reader (byte offset and line number: the caller passes over the
rows read so far), so that a quoted field, a bad row or a decoding error is read, reported or
refused exactly as before.

Blocks hold a whole number of :data:`kg.mapping.BATCH_ROWS` rows (but the last), so that the
batches of the row engine — its unit of deduplication and of fallback — are the same whichever
reader read them.

>>> import tempfile
>>> p = Path(tempfile.mkdtemp(), "a.csv"); _ = p.write_bytes(b"code;lib\\r\\nA1; x \\r\\nB2;y\\r\\n")
>>> [(b.first, b.rows, b.frame.rows()) for b in read_blocks(p, {"delimiter": "semicolon"}, 2, [1], 2)]
[(2, 2, [(' x ',), ('y',)])]
>>> _ = p.write_bytes(b'code;lib\\nA1;x\\nB2;"y;z"\\n')
>>> list(read_blocks(p, {"delimiter": "semicolon"}, 2, [1], 2))
[Resume(offset=9, line=1)]
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import polars as pl

from kg.sources.csv_reader import delimiter_of

BLOCK_BYTES = 1 << 22
_UTF8 = ("utf-8", "utf-8-sig", "utf8", "utf_8")


@dataclass
class Block:
    """Rows ``first``.. ``first + rows - 1`` (record numbers, = line numbers): their ``data``
    (whole lines) and the wanted columns as polars read them (raw text, not stripped)."""

    first: int
    rows: int
    data: bytes
    frame: pl.DataFrame

    def cells(self, delimiter: str) -> list[list[str]]:
        """Every row's cells, as the ``csv`` module gives them for lines without quotes."""
        lines = self.data.decode("utf-8").split("\n")[: self.rows]
        return [line.removesuffix("\r").split(delimiter) for line in lines]


class Resume(NamedTuple):
    """Where the Python reader takes over: the byte ``offset`` of the next row, after ``line``
    lines."""

    offset: int
    line: int


def readable(options: Mapping[str, str]) -> bool:
    """Whether the file's options allow reading blocks with polars at all (UTF-8, a one-byte
    delimiter).

    >>> readable({"delimiter": "semicolon"}), readable({"encoding": "latin-1"})
    (True, False)
    """
    delimiter = delimiter_of(options)
    return (
        options.get("encoding", "utf-8-sig").lower() in _UTF8
        and len(delimiter.encode()) == 1
        and delimiter not in '\r\n"\x00'
    )


def read_blocks(
    path: Path, options: Mapping[str, str], width: int, wanted: Sequence[int], batch_rows: int
) -> Iterator[Block | Resume]:
    """The data rows of a CSV file whose header (of ``width`` columns, checked by
    :func:`~kg.sources.csv_reader.read_csv_cells`) is on one line: :class:`Block` s of the
    ``wanted`` columns (by position: ``p{position}``), then possibly one :class:`Resume` for the
    Python reader."""
    wanted = sorted(set(wanted))
    delimiter = delimiter_of(options)
    sep = delimiter.encode()
    quoted = options.get("quoting") != "none"
    skip = int(options.get("skip_lines", "0"))
    with path.open("rb") as handle:
        offset, line = 0, 0
        for _ in range(skip + 1):  # the skipped lines and the header
            text = handle.readline()
            if b"\r" in text.rstrip(b"\r\n") or text.endswith(b"\r") or (quoted and b'"' in text):
                yield Resume(0, 0)  # lines the Python reader splits otherwise: all of it is its
                return
            offset, line = offset + len(text), line + 1
        carry = b""
        while True:
            chunk = handle.read(BLOCK_BYTES)
            data = carry + chunk
            if not data:
                return
            lines = data.count(b"\n")
            if chunk:
                # whole batches of rows; the rest waits for the next chunk (or the end)
                keep = lines - lines % batch_rows
                if keep == 0:
                    carry = data
                    continue
                cut = len(data)
                for _ in range(lines - keep + 1):
                    cut = data.rfind(b"\n", 0, cut)
                block, carry, rows = data[: cut + 1], data[cut + 1 :], keep
            else:
                block, carry = data, b""
                rows = lines + (0 if data.endswith(b"\n") else 1)
            frame = _frame(block, rows, sep, quoted, width, wanted)
            if frame is None:
                yield Resume(offset, line)
                return
            yield Block(line + 1, rows, block, frame)
            offset, line = offset + len(block), line + rows
            if not chunk:
                return


def _frame(
    block: bytes, rows: int, sep: bytes, quoted: bool, width: int, wanted: Sequence[int]
) -> pl.DataFrame | None:
    """The wanted columns of a block, or None when polars might read it otherwise than the
    ``csv`` module."""
    if (
        (quoted and b'"' in block)
        or b"\x00" in block
        or block.endswith(b"\r")
        or not _widths_match(block, rows, sep, width)
    ):
        return None
    try:
        # Blank lines and lone CRs, from each line as one text (NUL, absent, as the delimiter):
        # polars gives a blank line (\n or \r\n alone) as null, drops the \r of a \r\n and keeps
        # any other \r — one polars read of the lines costs less than the byte searches for
        # "\n\n", "\n\r\n" and the counts of "\r" and "\r\n" (two-byte patterns: ~1 ns a byte).
        lines = pl.read_csv(
            block, has_header=False, separator="\x00", quote_char=None, infer_schema=False,
            raise_if_empty=False,
        ).to_series()
        if lines.len() != rows or lines.null_count() or lines.str.contains("\r", literal=True).any():
            return None
        frame = pl.read_csv(
            block,
            has_header=False,
            separator=sep.decode(),
            quote_char=None,
            infer_schema=False,
            empty_string_is_null=True,  # an empty cell is unbound; a short line is ruled out above
            columns=list(wanted) if wanted else [0],
            raise_if_empty=False,
        )
    except Exception:  # polars' own errors (invalid UTF-8, a ragged line): the Python reader's turn
        return None
    if frame.height != rows:
        return None
    return frame.rename(dict(zip(frame.columns, [f"p{i}" for i in (wanted or [0])], strict=True)))


def _widths_match(block: bytes, rows: int, sep: bytes, width: int) -> bool:
    """Whether each of the block's ``rows`` lines holds exactly ``width - 1`` delimiters (``sep``,
    one byte; the block has no quote): what the ``csv`` module requires of an unquoted line.

    Vectorised over the block (numpy, ~1.4 ns a byte): the positions of the delimiters and of the
    line ends; with ``k = width - 1``, line ``i`` holds exactly ``k`` delimiters when the
    ``k(i+1)``-th delimiter comes before its end and the next one after it (so that ``k(i+1)``
    delimiters precede the end of each line). Where polars reads only some columns, a line with a
    field too many and one with a field too few keep the block's total, so the total alone is not
    enough.

    >>> _widths_match(b"a;b;c\\nd;e;f", 2, b";", 3), _widths_match(b"a;b;c;x\\nd;e\\n", 2, b";", 3)
    (True, False)
    >>> _widths_match(b"a\\nb\\n", 2, b";", 1), _widths_match(b"a\\nb;\\n", 2, b";", 1)
    (True, False)
    """
    data = np.frombuffer(block, dtype=np.uint8)
    ends = np.flatnonzero(data == 10)
    if not block.endswith(b"\n"):
        ends = np.append(ends, len(block))  # the last line, without a line break
    if len(ends) != rows:
        return False
    k = width - 1
    if k == 0:
        return sep not in block
    seps = np.flatnonzero(data == sep[0])
    if len(seps) != rows * k:
        return False
    return bool((seps[k - 1 :: k] < ends).all() and (seps[k::k] > ends[:-1]).all())
