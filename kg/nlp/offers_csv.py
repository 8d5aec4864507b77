"""Read France Travail job offers (API v2 shape) from JSON Lines, JSON arrays, API result pages and the
flattened CSV dumps found in the wild, for the evaluation of the extraction.

The CSV dumps flatten the API objects in two ways: dotted column names (``lieuTravail.commune``) or
whole nested objects written as Python literals in one cell (``"{'commune': '07229', …}"``); lists
(``competences``) are Python-literal strings in both. ``csv_row_to_offer`` turns either back into the
API shape, so that every reader yields the same dicts.
"""

from __future__ import annotations

import ast
import csv
import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

_BOOLEANS = {"True": True, "False": False, "true": True, "false": False}
_FLOATS = {"latitude", "longitude"}
_INTS = {"nombrePostes"}


def offer_text(offer: Mapping[str, Any]) -> str:
    """The text the extraction reads and annotation offsets refer to: ``intitule + "\\n" + description``.

    >>> offer_text({"intitule": "Maçon H/F", "description": "Pose de parpaings."})
    'Maçon H/F\\nPose de parpaings.'
    >>> offer_text({"intitule": "Maçon"})
    'Maçon\\n'
    """
    return (offer.get("intitule") or "") + "\n" + (offer.get("description") or "")


def _cell(key: str, value: str) -> Any:
    """One CSV cell back to its API value (empty → None)."""
    if value == "":
        return None
    if value in _BOOLEANS:
        return _BOOLEANS[value]
    if value[0] in "[{":
        try:
            return ast.literal_eval(value)  # literals only: nothing is executed
        except (ValueError, SyntaxError):
            return value
    if key in _FLOATS or key in _INTS:
        try:
            return int(value) if key in _INTS else float(value)
        except ValueError:
            return value
    return value


def csv_row_to_offer(row: Mapping[str, str]) -> dict[str, Any]:
    """A flattened CSV row → an API v2 offer dict (dotted columns nested, literals parsed, empties dropped).

    >>> csv_row_to_offer({"id": "1X", "lieuTravail.commune": "07229", "lieuTravail.latitude": "44.6",
    ...                   "alternance": "False", "permis": "",
    ...                   "competences": "[{'code': '100341', 'libelle': 'Encaissement', 'exigence': 'S'}]"})
    ... # doctest: +NORMALIZE_WHITESPACE
    {'id': '1X', 'lieuTravail': {'commune': '07229', 'latitude': 44.6}, 'alternance': False,
     'competences': [{'code': '100341', 'libelle': 'Encaissement', 'exigence': 'S'}]}
    >>> csv_row_to_offer({"id": "2Y", "entreprise": "{'nom': 'ACME', 'entrepriseAdaptee': False}"})
    {'id': '2Y', 'entreprise': {'nom': 'ACME', 'entrepriseAdaptee': False}}
    """
    offer: dict[str, Any] = {}
    for column, raw in row.items():
        if column is None:
            continue
        *parents, key = column.split(".")
        value = _cell(key, raw if raw is not None else "")
        if value is None:
            continue
        target = offer
        for parent in parents:
            target = target.setdefault(parent, {})
        target[key] = value
    return offer


def _csv_delimiter(path: Path) -> str:
    with open(path, encoding="utf-8", newline="") as f:
        header = f.readline()
    return "|" if header.count("|") > header.count(",") else ","


def read_offers(path: Path) -> Iterator[dict[str, Any]]:
    """Offers of a file: ``.jsonl`` (one per line), ``.json`` (an array or ``{"resultats": [...]}``) or
    ``.csv`` (flattened dump, ``|`` or ``,`` separated — detected from the header).

    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> p = Path(d, "o.csv"); _ = p.write_text('id|intitule|romeCode\\n1|Maçon|F1703\\n', encoding="utf-8")
    >>> list(read_offers(p))
    [{'id': '1', 'intitule': 'Maçon', 'romeCode': 'F1703'}]
    >>> p = Path(d, "o.json"); _ = p.write_text('{"resultats": [{"id": "2"}]}', encoding="utf-8")
    >>> list(read_offers(p))
    [{'id': '2'}]
    """
    suffix = path.suffix.lower()
    if suffix == ".csv":
        # descriptions exceed the csv module's default field limit; the limit is process-wide, so it is put
        # back once the file is read (the graph's CSV readers rely on it to reject oversized fields)
        previous = csv.field_size_limit(sys.maxsize)
        try:
            with open(path, encoding="utf-8", newline="") as f:
                for row in csv.DictReader(f, delimiter=_csv_delimiter(path)):
                    yield csv_row_to_offer(row)
        finally:
            csv.field_size_limit(previous)
    elif suffix == ".jsonl":
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    yield json.loads(line)
    else:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        yield from (data.get("resultats", []) if isinstance(data, dict) else data)
