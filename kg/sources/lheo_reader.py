"""LHEO reader: the Carif-Oref training-offer XML (LHEO 2.3, and 2.2), streamed.

A document is ``lheo/offres/formation+``; a ``formation`` holds ``action+`` (each with its
``session+`` and ``lieu-de-formation*``) and, after its actions, the
``organisme-formation-responsable``. Since the body comes after the sessions, the reader keeps
one ``formation`` element at a time (``iterparse`` on its end tag), turns it into records, then
clears it and drops it from the tree: memory follows the largest formation, not the file.

Options:

``record``
    What one record is: ``session`` (default; an action without session gives one record of
    its own), ``action`` or ``formation``. The record number is the element's source line.
``validate``
    ``auto`` (default): a 2.3 document is validated against the LHEO 2.3 XSD, formation by
    formation as it is parsed, when the schema file is found (see :func:`schema_path`); other
    documents are not; ``xsd``: the schema is required; ``none``: no validation.
``invalid``
    What a formation that breaks the schema gives: ``quarantine`` (default: one record for the
    whole formation, numbered by its line, holding ``xsd_error`` — line, element and rule — which
    no mapping turns into an entity, so the build quarantines it and the rest loads) or
    ``stop`` (a :class:`~kg.errors.SourceError` naming file, line, element and rule).
    Malformed XML and a wrong encoding always stop: the parser cannot go on.
``xsd``
    Path of the LHEO 2.3 schema (else ``PASSERELLES_LHEO_XSD``, else
    ``{data folder}/training/lheo/lheo-2.3.xsd``).
``explode``
    Columns (space or comma separated) whose ``|``-joined values give one record each (same
    record number); with several columns, each record carries one value of one column and
    leaves the other listed columns empty, so one mapping can link every code of a course.
``keep``
    Column names (space or comma separated): only these columns are filled (the others, and
    the elements and attributes only they come from, are not read). Each record is then the
    full record restricted to these columns, same values and key order (see
    :func:`whole_records` for getting the full records back, e.g. for a quarantine report).
    ``source_line``, ``action_line``, ``session_position``, ``formation_numero`` and
    ``xsd_error`` are always kept. Default: every column.
``explode_mode``
    ``apart`` (default: as above) or ``together``: the first record is the one ``apart`` gives
    first, the next ones carry the remaining values side by side (the k-th value of each listed
    column in the k-th record), so a course with eight codes in four columns gives three or four
    records instead of eight. For a mapping whose triples of each listed column depend on that
    column alone (and on columns not listed), both modes give the same triples and entity marks.

Each record also carries ``source_line``, the line of its element (see :class:`_Numbers`), and
records of actions and sessions ``action_line``, the line of their action, and records of
sessions ``session_position``, the session's rank in its action (``1`` for the first: a
mapping can describe the course once per action rather than once per session).

Column names: the path of local element names from the record's scopes, ``formation_``,
``action_`` and ``session_`` (``formation_domaine_formation_code_FORMACODE``,
``action_lieu_de_formation_coordonnees_adresse_code_INSEE_commune``, ``session_periode_debut``),
made variable-safe (``-`` → ``_``); an attribute adds ``_{name}`` (``formation_numero``); an
``<extra info="X">`` becomes ``{path of its extras}_extra_{X}``. A repeated element's values are
joined with ``|`` in document order (``code-ROME``, ``code-RNCP`` of several ``certification``).
A ``code-ROME`` whose ``ref`` attribute names ROME 4 (``ref="V4"``) goes to the column
``…_code_ROME_V4``; without it (LHEO's habit until 2024) the code is a ROME v3 one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path

from lxml import etree

from kg.errors import SourceError
from kg.sources.records import Record, clean_cell, variable_name

NAMESPACES = {"http://lheo.gouv.fr/2.3": "2.3", "http://www.lheo.org/2.2": "2.2"}
SCHEMA_NAMESPACE = "http://lheo.gouv.fr/2.3"
SCHEMA_FILE = Path("training/lheo/lheo-2.3.xsd")
RECORD_KINDS = ("session", "action", "formation")
# Children that are records (or hold records) of their own, not columns of their parent.
_NESTED = {"formation": "action", "action": "session"}
_ELEMENT = re.compile(r"Element '(?:\{[^}]*\})?([^']+)'")


def schema_path(options: Mapping[str, str]) -> Path:
    """Where the LHEO 2.3 XSD is looked for: option ``xsd``, else ``PASSERELLES_LHEO_XSD``,
    else the schema in the real-data folder.

    >>> schema_path({"xsd": "/x/lheo.xsd"}).as_posix()
    '/x/lheo.xsd'
    """
    if options.get("xsd"):
        return Path(options["xsd"])
    if os.environ.get("PASSERELLES_LHEO_XSD"):
        return Path(os.environ["PASSERELLES_LHEO_XSD"])
    from kg.config import Settings

    return Settings.from_env().data_dir / SCHEMA_FILE


@lru_cache(maxsize=4)
def load_schema(path: Path) -> etree.XMLSchema:
    """The compiled schema (cached: compiling the 210 kB LHEO schema takes a tenth of a second)."""
    try:
        return etree.XMLSchema(etree.parse(str(path)))
    except (etree.XMLSyntaxError, etree.XMLSchemaParseError, OSError) as exc:
        raise SourceError(path, None, None, f"cannot load the LHEO schema: {exc}") from None


_LOCAL: dict[str, str] = {}
_KEYS: dict[tuple[str, str], str] = {}


def _local(tag: object) -> str:
    """The local name of an element tag ("" for comments and processing instructions)."""
    if not isinstance(tag, str):
        return ""
    local = _LOCAL.get(tag)
    if local is None:
        local = _LOCAL[tag] = tag.rpartition("}")[2]
    return local


def _key(prefix: str, name: str) -> str:
    # Column names are few and repeat on every record: made variable-safe once.
    key = _KEYS.get((prefix, name))
    if key is None:
        key = _KEYS[(prefix, name)] = variable_name(f"{prefix}_{name}")
    return key


def _put(out: dict[str, str | None], key: str, value: str | None) -> None:
    if value is None:
        out.setdefault(key, None)
        return
    old = out.get(key)
    out[key] = value if old is None else f"{old}|{value}"


# What a child element becomes, by prefix of its parent then tag: its column key and local
# name. Tags and prefixes are few and repeat on every record; one lookup replaces the local
# name, key and variable-name work per node (flattening is most of the reader's time).
_PLANS: dict[str, dict[object, tuple[str, str]]] = {}


def _plan(plans: dict[object, tuple[str, str]], prefix: str, tag: object) -> tuple[str, str]:
    local = _local(tag)
    plan = plans[tag] = (_key(prefix, local) if local else "", local)
    return plan


def flatten_element(element: etree._Element, prefix: str, out: dict[str, str | None]) -> None:
    """Add the leaves and attributes of ``element`` to ``out`` under ``prefix`` (see the module
    docstring), leaving out the child records (``action`` of a ``formation``...).

    >>> e = etree.fromstring('<action numero="A1"><code-ROME>I1407</code-ROME><code-ROME>I1402'
    ...     '</code-ROME><extras><extra info="financement">CPF</extra></extras><session/></action>')
    >>> out = {}; flatten_element(e, "action", out); out
    {'action_numero': 'A1', 'action_code_ROME': 'I1407|I1402', 'action_extras_extra_financement': 'CPF'}
    """
    _flatten(element, prefix, out, _NESTED.get(_local(element.tag)))


def _flatten(element: etree._Element, prefix: str, out: dict[str, str | None], nested: str | None) -> None:
    for name, value in element.items():
        _put(out, _key(prefix, _local(name)), clean_cell(value))
    plans = _PLANS.get(prefix)
    if plans is None:
        plans = _PLANS[prefix] = {}
    for child in element:
        tag = child.tag
        key, local = plans.get(tag) or _plan(plans, prefix, tag)
        if not local or local == nested:
            continue  # comments, processing instructions, child records
        if len(child):
            _flatten(child, key, out, _NESTED.get(local))
            continue
        attributes = child.items()
        if attributes:
            _leaf_with_attributes(child, prefix, key, local, attributes, out)
            continue
        # The common case, inlined (_put and clean_cell): a leaf without attributes.
        text = child.text
        if text is not None:
            text = text.strip() or None
        if text is None:
            out.setdefault(key, None)
        else:
            old = out.get(key)
            out[key] = text if old is None else f"{old}|{text}"


def _leaf_with_attributes(
    child: etree._Element,
    prefix: str,
    key: str,
    local: str,
    attributes: list[tuple[str, str]],
    out: dict[str, str | None],
) -> None:
    if local == "extra" and child.get("info"):
        _put(out, _key(_key(prefix, "extra"), child.get("info") or ""), clean_cell(child.text))
        return
    if local == "code-ROME" and (child.get("ref") or "").upper().startswith("V4"):
        key += "_V4"  # ROME 4.0 and v3 codes look alike but name different fiches
    for name, value in attributes:
        if name not in ("ref", "tag"):  # code versions and "principal" marks
            _put(out, _key(key, _local(name)), clean_cell(value))
    _put(out, key, clean_cell(child.text))


class _Kept:
    """Which columns a kept-columns read fills (option ``keep``), and what to walk for them.

    Every column an element gives starts with its key (its own cell, ``{key}_{attribute}``,
    ``{key}_V4``, ``{key}_{child}...``, ``{key}_extra_{info}`` of its ``extras``): an element
    whose key is neither a kept column nor the start of one gives no kept column, so neither it
    nor anything under it is read. Keys and verdicts repeat on every record: each is worked out
    once.

    >>> kept = _Kept({"action_numero", "action_lieu_de_formation_ville"})
    >>> kept.wanted("action_lieu_de_formation"), kept.wanted("action_lieux"), kept.wanted("action_modalites")
    (True, False, False)
    """

    FIXED = frozenset({"source_line", "action_line", "session_position", "formation_numero", "xsd_error"})

    def __init__(self, columns: set[str] | frozenset[str]) -> None:
        self.columns = frozenset(columns) | self.FIXED
        self._wanted: dict[str, bool] = {}
        # per parent key, the plan of each child tag: (key, local name, whether the key is a
        # kept column), the local name "" for a child that gives no kept column (skipped as
        # comments are)
        self.plans: dict[str, dict[object, tuple[str, str, bool]]] = {}

    def wanted(self, key: str) -> bool:
        verdict = self._wanted.get(key)
        if verdict is None:
            start = key + "_"
            verdict = key in self.columns or any(c.startswith(start) for c in self.columns)
            self._wanted[key] = verdict
        return verdict

    def plan(
        self, plans: dict[object, tuple[str, str, bool]], prefix: str, tag: object
    ) -> tuple[str, str, bool]:
        local = _local(tag)
        key = _key(prefix, local) if local else ""
        plan = plans[tag] = (key, local if local and self.wanted(key) else "", key in self.columns)
        return plan

    def put(self, out: dict[str, str | None], key: str, value: str | None) -> None:
        if key in self.columns:
            _put(out, key, value)


def _flatten_kept(
    element: etree._Element, prefix: str, out: dict[str, str | None], nested: str | None, kept: _Kept
) -> None:
    """:func:`_flatten` restricted to the kept columns: the same cells for them, in the same
    order, without reading the elements that give none."""
    attributes = element.items()
    if attributes:
        for name, value in attributes:
            kept.put(out, _key(prefix, _local(name)), clean_cell(value))
    plans = kept.plans.get(prefix)
    if plans is None:
        plans = kept.plans[prefix] = {}
    for child in element:
        tag = child.tag
        key, local, own = plans.get(tag) or kept.plan(plans, prefix, tag)
        if not local or local == nested:
            continue  # comments, processing instructions, child records, unkept columns
        if len(child):
            _flatten_kept(child, key, out, _NESTED.get(local), kept)
            continue
        attributes = child.items()
        if attributes:
            flat: dict[str, str | None] = {}
            _leaf_with_attributes(child, prefix, key, local, attributes, flat)
            for name, value in flat.items():
                kept.put(out, name, value)
            continue
        if not own:
            continue  # an element kept for its attributes, here without any
        text = child.text
        if text is not None:
            text = text.strip() or None
        if text is None:
            out.setdefault(key, None)
        else:
            old = out.get(key)
            out[key] = text if old is None else f"{old}|{text}"


class _Numbers:
    """Record numbers: the element's source line, kept unique. A pretty-printed document has one
    record element per line, so the number is the line; a document written on few lines
    (minified) would give several records one line, so a record whose line is not after the
    previous number takes the previous number + 1 (its true line is in ``source_line``)."""

    def __init__(self) -> None:
        self.last = 0

    def next(self, element: etree._Element) -> tuple[int, str]:
        line = element.sourceline or 0
        self.last = line if line > self.last else self.last + 1
        return self.last, str(line)


def _records(
    formation: etree._Element, kind: str, numbers: _Numbers, kept: _Kept | None = None
) -> Iterator[Record]:
    if kept is None:
        flatten = flatten_element
    else:

        def flatten(element: etree._Element, prefix: str, out: dict[str, str | None]) -> None:
            # the prefixes are the records' own tags (formation, action, session)
            _flatten_kept(element, prefix, out, _NESTED.get(prefix), kept)

    base: dict[str, str | None] = {}
    flatten(formation, "formation", base)
    if kind == "formation":
        number, base["source_line"] = numbers.next(formation)
        yield Record(number, base)
        return
    namespace = formation.tag[: -len("formation")]  # "{uri}", the document's namespace
    for action in formation.iterchildren(f"{namespace}action"):
        values = dict(base)
        flatten(action, "action", values)
        values["action_line"] = str(action.sourceline or 0)
        sessions = list(action.iterchildren(f"{namespace}session"))
        if kind == "action" or not sessions:
            number, values["source_line"] = numbers.next(action)
            yield Record(number, values)
            continue
        for position, session in enumerate(sessions, start=1):
            row = dict(values)
            flatten(session, "session", row)
            row["session_position"] = str(position)
            number, row["source_line"] = numbers.next(session)
            yield Record(number, row)


def _error(path: Path, exc: etree.XMLSyntaxError) -> SourceError:
    """One clear line for what the parser reports: malformed XML or a wrong encoding."""
    entry = exc.error_log.last_error if exc.error_log else None
    message = (entry.message if entry is not None else str(exc)).strip()
    line = entry.line if entry is not None and entry.line else exc.lineno
    found = _ELEMENT.search(message)
    element = found[1] if found else None
    if "encoding" in message.lower() or "utf-8" in message.lower():
        rule = f"wrong encoding: {message}"
    else:
        rule = f"malformed XML: {message}"
    return SourceError(path, line, element, rule)


def read_lheo(path: Path, options: Mapping[str, str]) -> Iterator[Record]:
    """Stream the records of an LHEO document (see the module docstring for the options).

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp(), "o.xml")
    >>> _ = p.write_text('<lheo xmlns="http://www.lheo.org/2.2"><offres><formation numero="F1">'
    ...     '<action numero="A1"><session numero="S1"><periode><debut>20260105</debut></periode>'
    ...     '</session></action></formation></offres></lheo>')
    >>> [(r.number, r.values) for r in read_lheo(p, {})]  # doctest: +NORMALIZE_WHITESPACE
    [(1, {'formation_numero': 'F1', 'action_numero': 'A1', 'action_line': '1', 'session_numero': 'S1',
          'session_periode_debut': '20260105', 'session_position': '1', 'source_line': '1'})]
    """
    kind = options.get("record", "session")
    if kind not in RECORD_KINDS:
        raise SourceError(
            path, None, None, f"option record={kind!r}: expected one of {', '.join(RECORD_KINDS)}"
        )
    parse, exploder = split_options(options)
    records = _stream(path, kind, parse)
    return _explode_each(records, exploder) if exploder else records


def _namespace(path: Path) -> str:
    """The root element's namespace, read before the real parse (one start event)."""
    try:
        for _, root in etree.iterparse(str(path), events=("start",)):
            return etree.QName(root).namespace or ""
    except etree.XMLSyntaxError as exc:
        raise _error(path, exc) from None
    raise SourceError(path, 1, None, "malformed XML: empty document")


def _stream(path: Path, kind: str, options: Mapping[str, str]) -> Iterator[Record]:
    namespace = _namespace(path)
    if namespace not in NAMESPACES:
        raise SourceError(
            path,
            1,
            "lheo",
            f"not an LHEO 2.2/2.3 document: root namespace {namespace!r} "
            f"(expected {' or '.join(NAMESPACES)})",
        )
    mode = options.get("validate", "auto")
    if mode not in ("auto", "xsd", "none"):
        raise SourceError(path, None, None, f"option validate={mode!r}: expected auto, xsd or none")
    schema = None
    xsd = schema_path(options)
    if mode == "xsd" or (mode == "auto" and namespace == SCHEMA_NAMESPACE and xsd.is_file()):
        if not xsd.is_file():
            raise SourceError(path, None, None, f"validate=xsd but the LHEO schema {xsd} is not found")
        if namespace != SCHEMA_NAMESPACE:
            raise SourceError(
                path, 1, "lheo", f"validate=xsd: the LHEO 2.3 schema cannot validate a {namespace} document"
            )
        schema = load_schema(xsd)
    kept = _kept(options)
    on_invalid = options.get("invalid", "quarantine")
    if on_invalid not in ("quarantine", "stop"):
        raise SourceError(path, None, None, f"option invalid={on_invalid!r}: expected quarantine or stop")
    # Each formation is validated on its own (it is a global element of the schema): errors then
    # carry their line, which libxml2's streaming validation (iterparse(schema=...)) reports as 0,
    # and it measured faster too. Memory stays one formation.
    events = etree.iterparse(
        str(path),
        events=("end",),
        tag=f"{{{namespace}}}formation",
        huge_tree=True,
        remove_comments=True,
        resolve_entities=False,
        no_network=True,
    )
    numbers = _Numbers()
    try:
        for _, formation in events:
            if schema is not None and not schema.validate(formation):
                error = _schema_error(path, schema, xsd.name)
                if on_invalid == "stop":
                    raise error
                # The formation's records are not read: one record stands for it, with the
                # reason; no mapping produces an entity from it, so the build quarantines it.
                number, line = numbers.next(formation)
                yield Record(
                    number,
                    {
                        "formation_numero": clean_cell(formation.get("numero")),
                        "source_line": line,
                        "xsd_error": f"line {error.line}, element {error.field}: {error.rule}",
                    },
                )
            else:
                yield from _records(formation, kind, numbers, kept)
            formation.clear(keep_tail=False)
            parent = formation.getparent()
            if parent is not None:
                while formation.getprevious() is not None:
                    del parent[0]
    except etree.XMLSyntaxError as exc:
        raise _error(path, exc) from None


def _schema_error(path: Path, schema: etree.XMLSchema, name: str) -> SourceError:
    entry = schema.error_log[0]
    found = _ELEMENT.search(entry.message)
    rule = _ELEMENT.sub("", entry.message, count=1).lstrip(": ").strip()
    return SourceError(
        path, entry.line or None, found[1] if found else None, f"XSD violation ({name}): {rule}"
    )


def _explode_each(records: Iterator[Record], exploder: Exploder) -> Iterator[Record]:
    """The records ``exploder`` makes of each record (see :class:`Exploder`)."""
    for record in records:
        yield from exploder(record)


class Exploder:
    """The ``explode`` option as a step applied record by record (so that one read of a file
    can feed several mappings, each with its own explode; see :func:`split_options`): one
    record per value of each listed column (the other listed columns left empty); a record of
    the same action as the previous one (``action_line``) with the same listed cells gives one
    record with them empty.

    >>> rows = [Record(3, {"a": "1|2", "b": "x", "c": "k", "action_line": "2"}),
    ...         Record(4, {"a": "1|2", "b": "x", "c": "l", "action_line": "2"})]
    >>> exploder = Exploder(["a", "b"])
    >>> [(r.number, r.values) for row in rows for r in exploder(row)]  # doctest: +NORMALIZE_WHITESPACE
    [(3, {'a': '1', 'b': None, 'c': 'k', 'action_line': '2'}),
     (3, {'a': '2', 'b': None, 'c': 'k', 'action_line': '2'}),
     (3, {'a': None, 'b': 'x', 'c': 'k', 'action_line': '2'}),
     (4, {'a': None, 'b': None, 'c': 'l', 'action_line': '2'})]
    >>> [r.values for r in Exploder(["a", "b"], together=True)(Record(5, {"a": "1|2|3", "b": "x|y"}))]
    ...  # doctest: +NORMALIZE_WHITESPACE
    [{'a': '1', 'b': None}, {'a': '2', 'b': 'x'}, {'a': '3', 'b': 'y'}]
    """

    def __init__(self, columns: list[str], together: bool = False) -> None:
        self.columns = columns
        self.together = together
        self.blank: dict[str, str | None] = {c: None for c in columns}
        self.previous: tuple[str | None, ...] | None = None

    def __call__(self, record: Record) -> list[Record]:
        columns, blank = self.columns, self.blank
        get = record.values.get
        cells = (get("action_line"), *map(get, columns))
        # The record with the listed columns empty; each value's record is a copy of it with one
        # cell set (a dict copy is far cheaper than merging the record's sixty-odd cells again).
        base = {**record.values, **blank}
        if cells == self.previous and cells[0] is not None:
            # The next session of the same action: its codes were just given, and would give
            # the same triples again; one record still stands for it.
            return [Record(record.number, base)]
        self.previous = cells
        if self.together:
            return self._together(record.number, base, cells[1:])
        out: list[Record] = []
        for column in columns:
            cell = record.values.get(column)
            if cell is None:
                continue
            for part in cell.split("|"):
                value = clean_cell(part)
                if value is not None:
                    values = base.copy()
                    values[column] = value
                    out.append(Record(record.number, values))
        return out or [Record(record.number, base)]

    def _together(
        self, number: int, base: dict[str, str | None], cells: tuple[str | None, ...]
    ) -> list[Record]:
        # The first record is the one the per-code explode gives first (the first value of the
        # first listed column that has one, the others empty): a record that no mapping turns
        # into an entity is quarantined as that one, whichever way it was exploded. The next
        # records carry the remaining values side by side, the k-th of each column.
        lists: list[tuple[str, list[str]]] = []
        for column, cell in zip(self.columns, cells, strict=True):
            if cell is not None:
                # clean_cell of each part, inlined: cells are strings
                parts = [v for v in (p.strip() for p in cell.split("|")) if v]
                if parts:
                    lists.append((column, parts))
        if not lists:
            return [Record(number, base)]
        first_column, first_values = lists[0]
        first = base.copy()
        first[first_column] = first_values.pop(0)
        out = [Record(number, first)]
        for rank in range(max(len(parts) for _, parts in lists)):
            row = base.copy()
            for column, parts in lists:
                if rank < len(parts):
                    row[column] = parts[rank]
            out.append(Record(number, row))
        return out


EXPLODE_MODES = ("apart", "together")


def split_options(options: Mapping[str, str]) -> tuple[dict[str, str], Exploder | None]:
    """The options that decide the parse, and the ``explode`` step applied to each record
    after it: mappings of one file whose parse options agree can share one read.

    >>> split_options({"record": "session", "explode": "a, b", "columns": "a"})[0]
    {'record': 'session'}
    >>> split_options({"explode": "a b"})[1].columns
    ['a', 'b']
    """
    columns = [variable_name(c) for c in re.split(r"[\s,]+", options.get("explode", "")) if c]
    mode = options.get("explode_mode", "apart")
    if mode not in EXPLODE_MODES:
        raise SourceError("(mapping options)", None, "explode_mode", f"{mode!r}: expected apart or together")
    # ``columns`` (the columns a mapping requires, checked by ``kg download``) does not change
    # the parse either.
    parse = {k: v for k, v in options.items() if k not in ("explode", "explode_mode", "columns")}
    return parse, Exploder(columns, together=mode == "together") if columns else None


def kept_columns(options: Mapping[str, str]) -> frozenset[str] | None:
    """The columns a read with ``options`` fills, or None for every column (no ``keep``).

    >>> sorted(kept_columns({"keep": "a b"}) - _Kept.FIXED), kept_columns({})
    (['a', 'b'], None)
    """
    kept = _kept(options)
    return None if kept is None else kept.columns


def _kept(options: Mapping[str, str]) -> _Kept | None:
    """The kept columns of option ``keep``, or None (no ``keep``: every column)."""
    keep = [variable_name(c) for c in re.split(r"[\s,]+", options.get("keep", "")) if c]
    return _Kept(set(keep)) if keep else None


def whole_records(
    path: Path,
    options: Mapping[str, str],
    steps: list[Exploder | None],
    found: Mapping[int, dict[str, str | None]],
) -> dict[int, dict[str, str | None]]:
    """The records of a kept-columns read (``options`` with ``keep``) in full: for each record
    number in ``found``, the record of the full read (each step applied, as after the kept read)
    that, restricted to the kept columns, is ``found``'s (same cells, same order). A build keeps
    the records no mapping used whole in its quarantine report: they are rare, so they are read
    again rather than every record being read whole. Numbers without such a record are left out.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp(), "o.xml")
    >>> _ = p.write_text('<lheo xmlns="http://www.lheo.org/2.2"><offres><formation numero="F1">'
    ...     '<intitule-formation>X</intitule-formation><action><session/></action>'
    ...     '</formation></offres></lheo>')
    >>> [found] = [r.values for r in read_lheo(p, {"keep": "action_numero"})]
    >>> found
    {'formation_numero': 'F1', 'action_line': '1', 'session_position': '1', 'source_line': '1'}
    >>> whole_records(p, {"keep": "action_numero"}, [None], {1: found})[1]  # doctest: +NORMALIZE_WHITESPACE
    {'formation_numero': 'F1', 'formation_intitule_formation': 'X', 'action_line': '1',
     'session_position': '1', 'source_line': '1'}
    """
    columns = kept_columns(options)
    if columns is None or not found:
        return {number: values for number, values in found.items()}
    full = {k: v for k, v in options.items() if k != "keep"}
    kind = full.get("record", "session")
    # Fresh steps, fed every record: an explode step's output depends on the record before.
    fresh = [Exploder(step.columns, step.together) if step is not None else None for step in steps]
    out: dict[int, dict[str, str | None]] = {}
    for record in _stream(path, kind, full):
        wanted = found.get(record.number)
        for step in fresh:
            items = step(record) if step is not None else (record,)
            if wanted is None or record.number in out:
                continue
            for item in items:
                if [(k, v) for k, v in item.values.items() if k in columns] == list(wanted.items()):
                    out[record.number] = item.values
                    break
        if len(out) == len(found):
            break
    return out
