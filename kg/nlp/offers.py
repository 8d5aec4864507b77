"""Reading France Travail offers (API "Offres d'emploi v2" JSON) for the extraction.

Three shapes are accepted, told apart by their content: a JSON array of offers, JSON Lines
(one offer per line) and an API result page ``{"resultats": [...]}``. JSON Lines are read line
by line; a line that is not valid JSON gives a :class:`RecordError` naming the file and the
line, and reading goes on.

>>> import tempfile
>>> p = Path(tempfile.mkdtemp()) / "o.jsonl"
>>> _ = p.write_text('{"id": "1", "intitule": "Maçon", "description": "Monter des murs."}\\n{oops\\n')
>>> [type(r).__name__ for r in read_offers(p)]
['Offer', 'RecordError']
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kg.nlp.text import fold_text

_LETTERS = re.compile(r"[a-z]+")
MAX_CHARS = 20_000  # longer descriptions are capped (the longest real one has ~6,000)
_FRENCH = frozenset(
    """le la les de des du un une et en pour avec dans sur vous nous est au aux votre vos notre nos ou
    par qui que ce cette poste""".split()  # noqa: SIM905
)
_ENGLISH = frozenset(
    """the and of to for with in you we our your is are a an on as be will this""".split()  # noqa: SIM905
)


@dataclass
class Offer:
    """One offer as read: where it comes from, and the API object."""

    file: str
    line: int
    data: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.data.get("id") or "").strip()

    @property
    def title(self) -> str:
        return " ".join(str(self.data.get("intitule") or "").split())

    @property
    def description(self) -> str:
        return str(self.data.get("description") or "")

    @property
    def commune(self) -> str | None:
        place = self.data.get("lieuTravail")
        value = place.get("commune") if isinstance(place, dict) else None
        return str(value) if value else None

    @property
    def declared(self) -> str | None:
        value = self.data.get("romeCode")
        return str(value) if value else None


@dataclass
class RecordError:
    """A record that could not be read or used, and why."""

    file: str
    line: int
    error: str
    id: str | None = None

    def to_json(self) -> dict[str, object]:
        return {"id": self.id, "error": self.error, "file": self.file, "line": self.line}


@dataclass
class PreparedText:
    """The text the extraction reads (``intitule + "\\n" + description``), capped."""

    text: str
    warnings: list[str] = field(default_factory=list)


def read_offers(path: Path) -> Iterator[Offer | RecordError]:
    """Offers of a file in any of the three shapes, in file order."""
    name = str(path)
    try:
        handle = path.open(encoding="utf-8-sig")
    except OSError as exc:
        yield RecordError(name, 0, f"cannot read the file: {exc.strerror}")
        return
    with handle:
        head = handle.read(1)
        while head and head.isspace():
            head = handle.read(1)
        handle.seek(0)
        if head == "[":
            yield from _whole(name, handle.read())
            return
        first = handle.readline()
        try:
            obj = json.loads(first)
        except json.JSONDecodeError:
            rest = handle.read()
            whole = first + rest
            try:  # a pretty-printed page or array
                json.loads(whole)
            except json.JSONDecodeError:
                yield from _lines(name, whole.split("\n"), 1)
                return
            yield from _whole(name, whole)
            return
        if isinstance(obj, dict) and isinstance(obj.get("resultats"), list):
            yield from _whole(name, first + handle.read())
            return
        yield from _lines(name, [first.rstrip("\n")], 1)
        yield from _lines(name, (line.rstrip("\n") for line in handle), 2)


def _lines(name: str, lines: Any, first_number: int) -> Iterator[Offer | RecordError]:
    for number, line in enumerate(lines, start=first_number):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield RecordError(name, number, f"invalid JSON on line {number}: {exc.msg} (column {exc.colno})")
            continue
        yield _offer(name, number, obj)


def _whole(name: str, text: str) -> Iterator[Offer | RecordError]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        yield RecordError(
            name, exc.lineno, f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        )
        return
    if isinstance(data, dict):
        data = data.get("resultats")
    if not isinstance(data, list):
        yield RecordError(name, 1, 'expected a JSON array, JSON Lines or an API page {"resultats": [...]}')
        return
    for number, obj in enumerate(data, start=1):
        yield _offer(name, number, obj)


def _offer(name: str, number: int, obj: object) -> Offer | RecordError:
    if not isinstance(obj, dict):
        return RecordError(name, number, f"record is a {type(obj).__name__}, not an offer object")
    return Offer(name, number, obj)


def prepare(offer: Offer) -> PreparedText | RecordError:
    """The offer's text, or why it cannot be used (no id, no description, not French).

    >>> prepare(Offer("f", 1, {"id": "1", "intitule": "Maçon", "description": " "})).error
    'no description'
    >>> english = "We are looking for a developer to join our team and you will work on the platform"
    >>> prepare(Offer("f", 1, {"id": "2", "intitule": "Dev", "description": english})).error
    'the text is not in French'
    >>> long = "Monter les murs. " * 2000
    >>> t = prepare(Offer("f", 1, {"id": "3", "intitule": "Maçon", "description": long}))
    >>> len(t.text), t.warnings[0][:30]
    (20000, 'text capped at 20000 character')
    """
    if not offer.id:
        return RecordError(offer.file, offer.line, "no id")
    description = offer.description
    if not description.strip():
        return RecordError(offer.file, offer.line, "no description", offer.id)
    text = offer.title + "\n" + description
    if not is_french(description):
        return RecordError(offer.file, offer.line, "the text is not in French", offer.id)
    warnings = []
    if len(text) > MAX_CHARS:
        warnings.append(f"text capped at {MAX_CHARS} characters (it has {len(text)})")
        text = text[:MAX_CHARS]
    return PreparedText(text, warnings)


def is_french(text: str) -> bool:
    """Whether a text reads as French: its common French words outnumber the English ones
    (texts of fewer than 8 words pass).

    >>> is_french("Nous recherchons un maçon pour notre chantier"), is_french("We need a mason for the site")
    (True, False)
    """
    tokens = _LETTERS.findall(fold_text(text.lower()))
    french = sum(map(_FRENCH.__contains__, tokens))
    english = sum(map(_ENGLISH.__contains__, tokens))
    if len(tokens) < 8:
        return not english > french
    return french >= english and french >= 0.03 * len(tokens)
