"""JSON readers: a JSON array (or an object holding one under ``records``), and JSON Lines.

Nested objects are flattened (``lieuTravail.commune`` → variable ``lieuTravail_commune``); a
list named by ``explode`` gives one record per element (objects flattened under the list's
name); other lists of scalars are joined with ``|``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from kg.errors import SourceError
from kg.sources.records import Record, clean_cell, variable_name

# A UTF-16 surrogate escape: JSON allows a lone one (``"\ud800"``), which is no Unicode text and
# cannot be written as UTF-8 further on; checked only when the raw text holds such an escape.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _check_text(raw: str, data: Any, path: Path, line: int | None) -> None:
    r"""Raise a SourceError when ``data`` (parsed from ``raw``) holds a lone surrogate.

    >>> _check_text('["\\ud83d\\ude00"]', ["\U0001F600"], Path("a.json"), 1)
    >>> _check_text('["\\ud800"]', ["\ud800"], Path("a.json"), 1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    kg.errors.SourceError: a.json, line 1: invalid JSON: a \u escape of half a surrogate pair ...
    """
    if _SURROGATE_ESCAPE.search(raw) is None:
        return
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        rule = "invalid JSON: a \\u escape of half a surrogate pair (not Unicode text)"
        raise SourceError(path, line, None, rule) from None


def flatten(obj: Mapping[str, Any], prefix: str = "") -> dict[str, str | None]:
    """Flatten nested objects into variable-safe names.

    >>> flatten({"a": {"b": 1}, "c": ["x", "y"], "d": None})
    {'a_b': '1', 'c': 'x|y', 'd': None}
    """
    out: dict[str, str | None] = {}
    for key, value in obj.items():
        name = variable_name(f"{prefix}{key}")
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        elif isinstance(value, list):
            if all(not isinstance(v, dict | list) for v in value):
                out[name] = clean_cell("|".join(str(v) for v in value if v is not None))
            else:
                out[name] = json.dumps(value, ensure_ascii=False)
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        else:
            out[name] = clean_cell(value)
    return out


def _expand(number: int, obj: Any, path: Path, options: Mapping[str, str]) -> Iterator[Record]:
    if not isinstance(obj, dict):
        raise SourceError(path, number, None, f"record is a {type(obj).__name__}, not an object")
    try:
        yield from _flat_records(number, obj, options)
    except ValueError as exc:  # a key with no letter or digit names no column
        raise SourceError(path, number, None, f"unusable key: {exc}") from None
    except RecursionError:
        raise SourceError(path, number, None, "objects nested too deeply to flatten") from None


def _flat_records(number: int, obj: dict[str, Any], options: Mapping[str, str]) -> Iterator[Record]:
    column = options.get("explode")
    if not column:
        yield Record(number, flatten(obj))
        return
    items = obj.get(column) or [None]
    base = flatten({k: v for k, v in obj.items() if k != column})
    for item in items if isinstance(items, list) else [items]:
        if isinstance(item, dict):
            yield Record(number, {**base, **flatten(item, f"{column}.")})
        else:
            yield Record(number, {**base, variable_name(column): clean_cell(item)})


def read_json(path: Path, options: Mapping[str, str]) -> Iterator[Record]:
    """Records of a JSON document: the array itself, or the array under ``records`` (dotted)."""
    encoding = options.get("encoding", "utf-8-sig")
    try:
        raw = path.read_text(encoding=encoding)
        data = json.loads(raw)
    except UnicodeDecodeError as exc:
        raise SourceError(path, None, None, f"bytes not decodable as {encoding}: {exc.reason}") from None
    except json.JSONDecodeError as exc:
        raise SourceError(path, exc.lineno, None, f"invalid JSON: {exc.msg} (column {exc.colno})") from None
    except ValueError as exc:  # an integer beyond Python's 4300-digit conversion limit
        raise SourceError(path, None, None, f"invalid JSON: {exc}") from None
    except RecursionError:
        raise SourceError(path, None, None, "invalid JSON: arrays or objects nested too deeply") from None
    _check_text(raw, data, path, None)
    for key in filter(None, options.get("records", "").split(".")):
        if not isinstance(data, dict) or key not in data:
            raise SourceError(path, None, key, f"no {key!r} member holding the records")
        data = data[key]
    if not isinstance(data, list):
        raise SourceError(path, None, None, "expected a JSON array of records")
    for index, obj in enumerate(data, start=1):
        yield from _expand(index, obj, path, options)


def read_json_lines(path: Path, options: Mapping[str, str]) -> Iterator[Record]:
    """Records of a JSON Lines file, numbered by line; blank lines are ignored."""
    encoding = options.get("encoding", "utf-8")
    with path.open(encoding=encoding) as handle:
        try:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise SourceError(path, number, None, f"invalid JSON: {exc.msg}") from None
                except ValueError as exc:  # an integer beyond the 4300-digit conversion limit
                    raise SourceError(path, number, None, f"invalid JSON: {exc}") from None
                except RecursionError:
                    raise SourceError(path, number, None, "invalid JSON: nested too deeply") from None
                _check_text(line, obj, path, number)
                yield from _expand(number, obj, path, options)
        except UnicodeDecodeError as exc:
            raise SourceError(path, None, None, f"bytes not decodable as {encoding}: {exc.reason}") from None
