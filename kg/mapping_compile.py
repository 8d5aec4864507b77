"""A mapping's CONSTRUCT compiled once into a Python function that writes N-Triples per row.

The mappings (``mappings/*.rq``) stay the one source of truth: this module reads the same query
text and turns its template and its WHERE clause — a sequence of ``BIND(expr AS ?var)`` over the
row's variables — into Python source, compiled once per mapping. Rows then cost a few dozen
Python operations each instead of a SPARQL parse and evaluation by pyoxigraph, with the same
output: the functions below follow pyoxigraph's evaluation (checked by ``tests/test_mapping_compile.py``
on every golden mapping case and on random rows, through both paths).

What is compiled: ``BIND`` over expressions built from variables, IRIs, prefixed names, string
and numeric literals, ``true``/``false``, ``|| && ! = != < > <= >= + - *`` and the functions
``IRI STR CONCAT ENCODE_FOR_URI REPLACE REGEX IF COALESCE BOUND STRLANG STRDT SUBSTR STRLEN
STRSTARTS STRENDS CONTAINS STRBEFORE STRAFTER LCASE UCASE SHA1`` and the casts ``xsd:integer
xsd:decimal xsd:boolean xsd:string``. Anything else (``FILTER``, ``OPTIONAL``, triple patterns,
``/``, ``ROUND``, a regex flag or replacement the translation does not cover...) raises
:class:`Unsupported`, and the mapping runs through SPARQL evaluation instead (see
:class:`kg.mapping.MappingRunner`, which logs the reason).

Values while a row is evaluated: ``str`` a simple literal, :class:`Iri` an IRI, :class:`LangLit`
a language-tagged string, ``bool``/``int``/``Decimal`` booleans, integers and decimals,
:class:`Typed` any other typed literal; ``None`` is unbound (or an expression error, which
leaves a ``BIND`` unbound, as in SPARQL).

>>> from kg.mapping import Mapping
>>> import tempfile
>>> from pathlib import Path
>>> p = Path(tempfile.mkdtemp()) / "m.rq"
>>> _ = p.write_text('CONSTRUCT { ?o pas:code ?code ; pas:sourceRow ?_row } '
...     'WHERE { BIND(IRI(CONCAT(STR(id:), "rome/", ?code)) AS ?o) }')
>>> compiled = compile_mapping(Mapping.load(p), "https://x.org/")
>>> from kg.sources.records import Record
>>> lines, marks = compiled.run([Record(3, {"code": "A1101"}), Record(4, {"code": None})])
>>> lines
['<https://x.org/id/rome/A1101> <https://w3id.org/passerelles/ontology#code> "A1101" .\\n']
>>> marks
[('<https://x.org/id/rome/A1101>', 3)]
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import marshal
import os
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from types import CodeType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from kg.namespaces import PAS, prefixes_for

if TYPE_CHECKING:
    from kg.mapping import Mapping
    from kg.sources.records import Record

XSD = "http://www.w3.org/2001/XMLSchema#"
_SOURCE_ROW = str(PAS.sourceRow)
RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"


class Unsupported(Exception):
    """The mapping uses a construct the compiler does not translate."""


# --------------------------------------------------------------------------- values


class Iri(str):
    """An IRI (its text)."""

    __slots__ = ()


class LangLit:
    """A language-tagged string."""

    __slots__ = ("lang", "text")

    def __init__(self, text: str, lang: str) -> None:
        self.text, self.lang = text, lang

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LangLit) and other.text == self.text and other.lang == self.lang

    def __hash__(self) -> int:
        return hash((self.text, self.lang))


class Typed:
    """A typed literal of a datatype without a Python value here (``xsd:date``...)."""

    __slots__ = ("dt", "lex")

    def __init__(self, lex: str, dt: str) -> None:
        self.lex, self.dt = lex, dt

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Typed) and other.lex == self.lex and other.dt == self.dt

    def __hash__(self) -> int:
        return hash((self.lex, self.dt))


Value = Any  # str | Iri | LangLit | Typed | bool | int | Decimal | None

_I64 = 2**63
_DECIMAL_DIGITS = 18  # pyoxigraph's xsd:decimal: fixed point, 18 fraction digits, 128 bits
_DECIMAL_MAX = Decimal(2**127 - 1) / Decimal(10**_DECIMAL_DIGITS)


def _decimal_text(value: Decimal) -> str:
    """Canonical xsd:decimal lexical form, as pyoxigraph writes it.

    >>> _decimal_text(Decimal("48.50")), _decimal_text(Decimal("-0.0")), _decimal_text(Decimal("7"))
    ('48.5', '0', '7')
    """
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    return text


# N-Triples escapes as pyoxigraph writes them (\t \b \n \r \f \" \\, other controls as \u00XX).
_NT_ESCAPES = {i: f"\\u{i:04X}" for i in [*range(0x20), 0x7F]}
_NT_ESCAPES.update({0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r"})
_NT_ESCAPES.update({ord('"'): '\\"', ord("\\"): "\\\\"})
_NEEDS_ESCAPE = re.compile(r'[\x00-\x1f\x7f"\\]')


def _quoted(text: str) -> str:
    # isprintable() is False for every control character (\x00-\x1f, \x7f): a printable text
    # without quote nor backslash needs no escape, checked without the regular expression.
    if (text.isprintable() and '"' not in text and "\\" not in text) or not _NEEDS_ESCAPE.search(text):
        return '"' + text + '"'
    return '"' + text.translate(_NT_ESCAPES) + '"'


def nt(value: Value) -> str:
    """A value as an N-Triples term, exactly as pyoxigraph serializes it.

    >>> nt("a\\tb"), nt(Iri("x:a")), nt(LangLit("é", "fr")), nt(True), nt(Decimal("1.50"))
    ('"a\\\\tb"', '<x:a>', '"é"@fr', '"true"^^<http://www.w3.org/2001/XMLSchema#boolean>', \
'"1.5"^^<http://www.w3.org/2001/XMLSchema#decimal>')
    """
    kind = type(value)
    if kind is str:
        return _quoted(value)
    if kind is Iri:
        return f"<{value}>"
    if kind is LangLit:
        return f"{_quoted(value.text)}@{value.lang}"
    if kind is bool:
        return f'"{"true" if value else "false"}"^^<{XSD}boolean>'
    if kind is int:
        return f'"{value}"^^<{XSD}integer>'
    if kind is Decimal:
        return f'"{_decimal_text(value)}"^^<{XSD}decimal>'
    if kind is Typed:
        return f"{_quoted(value.lex)}^^<{value.dt}>"
    raise TypeError(f"not an RDF value: {value!r}")


# --------------------------------------------------------------------------- IRI validation

# RFC 3987 IRI-reference as pyoxigraph's IRI() accepts it for absolute IRIs (the mappings build
# IRIs under the configured base: scheme, authority, path, query, fragment).
_UCS = "\u00a0-\ud7ff\uf900-\ufdcf\ufdf0-\uffef\U00010000-\U0001fffd\U00020000-\U0002fffd" + "".join(
    f"{chr(p * 0x10000)}-{chr(p * 0x10000 + 0xFFFD)}" for p in range(3, 15)
)
_IPCHAR = rf"(?:[A-Za-z0-9\-._~{_UCS}!$&'()*+,;=:@]|%[0-9A-Fa-f]{{2}})"
_PRIVATE = "\ue000-\uf8ff\U000f0000-\U000ffffd\U00100000-\U0010fffd"
_IRI = re.compile(
    rf"[A-Za-z][A-Za-z0-9+\-.]*:"
    rf"(?://(?:[A-Za-z0-9\-._~{_UCS}!$&'()*+,;=:@]|%[0-9A-Fa-f]{{2}}|\[[0-9A-Fa-f:.]+\])*)?"  # authority
    rf"(?:/|{_IPCHAR})*"  # path
    rf"(?:\?(?:{_IPCHAR}|[/?{_PRIVATE}])*)?"  # query
    rf"(?:#(?:{_IPCHAR}|[/?])*)?",  # fragment
)


def _iri(value: Value) -> Value:
    kind = type(value)
    if kind is str:
        return Iri(value) if _IRI.fullmatch(value) else None
    if kind is Iri:
        return value
    return None


# --------------------------------------------------------------------------- functions


def _string(value: Value) -> tuple[str, str | None] | None:
    """A string literal's text and language (None: not a string literal)."""
    kind = type(value)
    if kind is str:
        return value, None
    if kind is LangLit:
        return value.text, value.lang
    return None


def _with_lang(text: str, lang: str | None) -> Value:
    return text if lang is None else LangLit(text, lang)


def _str(value: Value) -> Value:
    kind = type(value)
    if kind is str or value is None:
        return value
    if kind is Iri:
        return str.__str__(value)
    if kind is LangLit:
        return value.text
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is Decimal:
        return _decimal_text(value)
    if kind is Typed:
        return value.lex
    return None


def _concat(*values: Value) -> Value:
    if all(type(v) is str for v in values):
        return "".join(values)
    parts = [_string(v) for v in values]
    if any(p is None for p in parts):
        return None
    langs = {p[1] for p in parts if p is not None}
    text = "".join(p[0] for p in parts if p is not None)
    lang = langs.pop() if len(langs) == 1 else None
    return _with_lang(text, lang)


def _encode_for_uri(value: Value) -> Value:
    if type(value) is str:
        return quote(value, safe="")
    found = _string(value)
    return None if found is None else quote(found[0], safe="")


def _compatible(a: Value, b: Value) -> tuple[str, str, str | None] | None:
    """Two string arguments of STRSTARTS, CONTAINS, STRBEFORE... (SPARQL's argument
    compatibility): their texts and the first one's language."""
    x, y = _string(a), _string(b)
    if x is None or y is None or (y[1] is not None and y[1] != x[1]):
        return None
    return x[0], y[0], x[1]


def _strstarts(a: Value, b: Value) -> Value:
    found = _compatible(a, b)
    return None if found is None else found[0].startswith(found[1])


def _strends(a: Value, b: Value) -> Value:
    found = _compatible(a, b)
    return None if found is None else found[0].endswith(found[1])


def _contains(a: Value, b: Value) -> Value:
    found = _compatible(a, b)
    return None if found is None else found[1] in found[0]


def _strbefore(a: Value, b: Value) -> Value:
    found = _compatible(a, b)
    if found is None:
        return None
    text, part, lang = found
    index = text.find(part)
    return "" if index < 0 else _with_lang(text[:index], lang)


def _strafter(a: Value, b: Value) -> Value:
    found = _compatible(a, b)
    if found is None:
        return None
    text, part, lang = found
    index = text.find(part)
    return "" if index < 0 else _with_lang(text[index + len(part) :], lang)


def _strlen(value: Value) -> Value:
    found = _string(value)
    return None if found is None else len(found[0])


def _lcase(value: Value) -> Value:
    found = _string(value)
    return None if found is None else _with_lang(found[0].lower(), found[1])


def _ucase(value: Value) -> Value:
    found = _string(value)
    return None if found is None else _with_lang(found[0].upper(), found[1])


def _sha1(value: Value) -> Value:
    found = _string(value)
    return None if found is None else hashlib.sha1(found[0].encode()).hexdigest()


def _substr(value: Value, start: Value, length: Value = 0, has_length: bool = False) -> Value:
    found = _string(value)
    if found is None or type(start) is not int or (has_length and type(length) is not int):
        return None
    text, lang = found
    begin = max(start, 1) - 1
    end = len(text) if not has_length else max(start + length, 1) - 1
    return _with_lang(text[begin:end] if end > begin else "", lang)


_LANG_TAG = re.compile(r"[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*")


def _strlang(value: Value, lang: Value) -> Value:
    if type(value) is not str or type(lang) is not str or not _LANG_TAG.fullmatch(lang):
        return None
    return LangLit(value, lang.lower())


_DATE = re.compile(r"\d{4}-\d\d-\d\d")


def _strdt(value: Value, datatype: Value) -> Value:
    if type(value) is not str or type(datatype) is not Iri:
        return None
    if datatype == XSD + "string":
        return value
    if datatype == XSD + "date" and _DATE.fullmatch(value):
        return Typed(value, str.__str__(datatype))
    raise RowUnsupported(f"STRDT to {datatype} of {value!r}")


class RowUnsupported(Exception):
    """A value the compiled functions cannot reproduce exactly: the batch is evaluated by SPARQL."""


# ASCII digits only, as pyoxigraph's xsd:integer/xsd:decimal lexical forms (Python's \d would also
# take other scripts' digits, and int() reads them).
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")


def _to_integer(value: Value) -> Value:
    kind = type(value)
    if kind is str:
        if not (value.isascii() and value.isdigit()) and not _INTEGER.fullmatch(value):
            return None
        number = int(value)
        return number if -_I64 <= number < _I64 else None
    if kind is int:
        return value
    if kind is bool:
        return int(value)
    if kind is Decimal:
        return int(value)
    return None


def _to_decimal(value: Value) -> Value:
    kind = type(value)
    if kind is str:
        if not _DECIMAL.fullmatch(value):
            return None
        if "." in value and len(value.partition(".")[2]) > _DECIMAL_DIGITS:
            return None
        try:
            number = Decimal(value)
        except InvalidOperation:
            return None
        return number if abs(number) <= _DECIMAL_MAX else None
    if kind is Decimal:
        return value
    if kind is int or kind is bool:
        return Decimal(int(value))
    return None


_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}  # xsd:boolean's lexical forms


def _to_boolean(value: Value) -> Value:
    kind = type(value)
    if kind is str:
        return _BOOLEANS.get(value)
    if kind is bool:
        return value
    if kind is int or kind is Decimal:
        return value != 0
    return None


def _to_string(value: Value) -> Value:
    return None if type(value) is Iri else _str(value)


def _ebv(value: Value) -> bool | None:
    """Effective boolean value (None: error)."""
    kind = type(value)
    if kind is bool:
        return value
    if kind is str:
        return len(value) > 0
    if kind is int or kind is Decimal:
        return value != 0
    return None


def _or(a: Value, b: Value) -> Value:
    x, y = _ebv(a), _ebv(b)
    if x or y:
        return True
    return None if x is None or y is None else False


def _and(a: Value, b: Value) -> Value:
    x, y = _ebv(a), _ebv(b)
    if x is False or y is False:
        return False
    return None if x is None or y is None else True


def _not(a: Value) -> Value:
    x = _ebv(a)
    return None if x is None else not x


def _numeric(value: Value) -> bool:
    kind = type(value)
    return kind is int or kind is Decimal


def _equal(a: Value, b: Value) -> Value:
    if a is None or b is None:
        return None
    if _numeric(a) and _numeric(b):
        return a == b
    kind = type(a)
    if kind is not type(b):
        return False
    if kind is Typed and a.dt != b.dt:
        raise RowUnsupported("comparison of literals of different datatypes")
    return a == b


def _not_equal(a: Value, b: Value) -> Value:
    found = _equal(a, b)
    return None if found is None else not found


def _ordered(a: Value, b: Value) -> tuple[Any, Any] | None:
    if a is None or b is None:
        return None
    if _numeric(a) and _numeric(b):
        return a, b
    kind = type(a)
    if kind is type(b) and (kind is str or kind is bool):
        return a, b
    if kind is LangLit and type(b) is LangLit and a.lang == b.lang:
        return a.text, b.text
    return None


def _lt(a: Value, b: Value) -> Value:
    pair = _ordered(a, b)
    return None if pair is None else pair[0] < pair[1]


def _gt(a: Value, b: Value) -> Value:
    pair = _ordered(a, b)
    return None if pair is None else pair[0] > pair[1]


def _le(a: Value, b: Value) -> Value:
    pair = _ordered(a, b)
    return None if pair is None else pair[0] <= pair[1]


def _ge(a: Value, b: Value) -> Value:
    pair = _ordered(a, b)
    return None if pair is None else pair[0] >= pair[1]


def _arith(op: str) -> Callable[[Value, Value], Value]:
    def apply(a: Value, b: Value) -> Value:
        if type(a) is int and type(b) is int:
            result = a + b if op == "+" else a - b if op == "-" else a * b
            if not -_I64 <= result < _I64:
                raise RowUnsupported("integer overflow")
            return result
        if a is None or b is None or not (_numeric(a) and _numeric(b)):
            return None
        raise RowUnsupported("decimal arithmetic")

    return apply


def _negate(a: Value) -> Value:
    if type(a) is int:
        return -a
    if a is None or not _numeric(a):
        return None
    raise RowUnsupported("decimal arithmetic")


# --------------------------------------------------------------------------- regular expressions

# pyoxigraph runs SPARQL regular expressions with Rust's regex crate: \s is Unicode White_Space
# (Python's str \s also takes \x1c-\x1f), and $ matches only at the very end (Python's also
# before a final line break).
_WHITE = "\\t\\n\\x0b\\x0c\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"


def translate_regex(pattern: str, flags: str = "") -> re.Pattern[str]:
    r"""A SPARQL (Rust regex) pattern as a Python pattern with the same matches.

    >>> p = translate_regex(r"^\s+|\s+$")
    >>> bool(p.search("a\n")), bool(p.search(" a")), bool(p.search("a\x1f")), p.pattern.endswith("\\Z")
    (True, True, False, True)
    """
    options = 0
    for flag in flags:
        if flag == "i":
            options |= re.IGNORECASE
        elif flag == "s":
            options |= re.DOTALL
        else:
            raise Unsupported(f"regex flag {flag!r}")
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            if i + 1 >= len(pattern):
                raise Unsupported("regex ending with a backslash")
            escaped = pattern[i + 1]
            if escaped == "s":
                out.append(_WHITE if in_class else f"[{_WHITE}]")
            elif escaped == "S":
                if in_class:
                    raise Unsupported(r"\S in a character class")
                out.append(f"[^{_WHITE}]")
            elif escaped in "dwDWbBntr" or not escaped.isalnum():
                out.append(char + escaped)
            else:
                raise Unsupported(f"regex escape \\{escaped}")
            i += 2
            continue
        if in_class:
            if char == "]":
                in_class = False
            elif char == "[":
                raise Unsupported("nested character class")
            out.append(char)
        elif char == "[":
            in_class = True
            out.append(char)
            if pattern[i + 1 : i + 2] == "^":
                out.append("^")
                i += 1
            if pattern[i + 1 : i + 2] == "]":
                out.append("\\]")
                i += 1
        elif char == "$":
            out.append(r"\Z")
        elif char == "(" and pattern[i + 1 : i + 2] == "?" and pattern[i + 2 : i + 3] != ":":
            raise Unsupported("regex group other than (?:...)")
        else:
            out.append(char)
        i += 1
    try:
        return re.compile("".join(out), options)
    except re.error as exc:
        raise Unsupported(f"regex {pattern!r}: {exc}") from None


_GROUP_REF = re.compile(r"\$(\d+)(?![A-Za-z0-9_])")


def translate_replacement(text: str) -> str:
    r"""A REPLACE replacement (``$1``) as a Python one (``\g<1>``).

    >>> translate_replacement("$1-x")
    '\\g<1>-x'
    """
    if "\\" in text or re.search(r"\$(?!\d+(?![A-Za-z0-9_]))", text):
        raise Unsupported(f"replacement {text!r}")
    parts = _GROUP_REF.split(text)
    return "".join(f"\\g<{part}>" if index % 2 else part for index, part in enumerate(parts))


# REPLACE patterns of the mappings whose result is the text itself under a condition cheaper than
# the regex (str methods in C): (SPARQL pattern, replacement) -> condition on the text ``{t}``.
# str.isprintable() is False for every character of \s but the ASCII space (controls, NBSP and
# the other Unicode spaces and separators), so a printable text holds no white space but spaces.
_UNCHANGED = {
    ("\\s+", " "): "({t}.isprintable() and '  ' not in {t})",
    ("^\\s+|\\s+$|(\\s)\\s+", "$1"): (
        "({t}.isprintable() and '  ' not in {t} and {t}[:1] != ' ' and {t}[-1:] != ' ')"
    ),
    ("^\\s+|\\s+$", ""): "({t}.isprintable() and {t}[:1] != ' ' and {t}[-1:] != ' ')",
    ("^ | $", ""): "({t}[:1] != ' ' and {t}[-1:] != ' ')",
}
_LITERAL_HEAD = re.compile(r"(?:\\([^A-Za-z0-9{}\\])|([^\\^$.|?*+()\[\]{}]))(?![?*{])")


def _unchanged(pattern: str | None, replacement: str) -> str | None:
    r"""A condition (Python source over ``{t}``) under which REPLACE(t, pattern, replacement)
    is ``t`` itself, or None: a known pattern (``_UNCHANGED``), or a pattern whose every match
    starts with one literal character (no alternation): the text then lacks that character.

    >>> _unchanged(r"\|", ", "), _unchanged("<[^>]*>", " "), _unchanged("a|b", ""), _unchanged("x?y", "")
    ("('|' not in {t})", "('<' not in {t})", None, None)
    """
    if pattern is None:
        return None
    known = _UNCHANGED.get((pattern, replacement))
    if known is not None:
        return known
    head = _LITERAL_HEAD.match(pattern)
    if head is None or "\\\\" in pattern or "|" in pattern.replace("\\|", ""):
        return None
    return f"({(head[1] or head[2])!r} not in {{t}})"


def _regex_fn(pattern: re.Pattern[str]) -> Callable[[Value], Value]:
    search = pattern.search

    def regex(value: Value) -> Value:
        if type(value) is str:
            return search(value) is not None
        found = _string(value)
        return None if found is None else search(found[0]) is not None

    return regex


def _replace_fn(pattern: re.Pattern[str], replacement: str) -> Callable[[Value], Value]:
    sub = pattern.sub
    if pattern.search("") is not None:
        raise Unsupported(f"REPLACE pattern {pattern.pattern!r} matches the empty string")

    def replace(value: Value) -> Value:
        if type(value) is str:
            return sub(replacement, value)
        found = _string(value)
        return None if found is None else _with_lang(sub(replacement, found[0]), found[1])

    return replace


# --------------------------------------------------------------------------- parser

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+|\#[^\n]*)
  | (?P<iri><[^<>"{}|^`\\\x00-\x20]*>)
  | (?P<string>"(?:[^"\\\n\r]|\\.)*"|'(?:[^'\\\n\r]|\\.)*')
  | (?P<langtag>@[a-zA-Z]+(?:-[a-zA-Z0-9]+)*)
  | (?P<dtmark>\^\^)
  | (?P<var>[?$][A-Za-z_][A-Za-z0-9_]*)
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<pname>(?:[A-Za-z][A-Za-z0-9_-]*)?:(?:[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_-])?)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>&&|\|\||!=|<=|>=|[=<>!(){},;.+*/-])
    """,
    re.VERBOSE,
)
_STRING_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise Unsupported(f"cannot read the query at {text[position : position + 30]!r}")
        kind = match.lastgroup
        assert kind is not None
        if kind != "ws":
            out.append((kind, match.group()))
        position = match.end()
    return out


def _unquote(token: str) -> str:
    body = token[1:-1]
    if "\\" not in body:
        return body

    def escape(match: re.Match[str]) -> str:
        char = match[1]
        if char in _STRING_ESCAPES:
            return _STRING_ESCAPES[char]
        raise Unsupported(f"string escape \\{char}")

    return re.sub(r"\\(.)", escape, body)


# Expressions as trees: ("var", name) | ("const", value) | ("call", name, [args]) | ("op", op, [args])
Node = tuple[Any, ...]

_FUNCTIONS_1 = {
    "IRI": "_iri",
    "URI": "_iri",
    "STR": "_str",
    "ENCODE_FOR_URI": "_encode_for_uri",
    "STRLEN": "_strlen",
    "LCASE": "_lcase",
    "UCASE": "_ucase",
    "SHA1": "_sha1",
}
_FUNCTIONS_2 = {
    "STRSTARTS": "_strstarts",
    "STRENDS": "_strends",
    "CONTAINS": "_contains",
    "STRBEFORE": "_strbefore",
    "STRAFTER": "_strafter",
    "STRLANG": "_strlang",
    "STRDT": "_strdt",
}
_CASTS = {
    XSD + "integer": "_to_integer",
    XSD + "decimal": "_to_decimal",
    XSD + "boolean": "_to_boolean",
    XSD + "string": "_to_string",
}
_BINARY = {
    "||": "_or",
    "&&": "_and",
    "=": "_equal",
    "!=": "_not_equal",
    "<": "_lt",
    ">": "_gt",
    "<=": "_le",
    ">=": "_ge",
    "+": "_add",
    "-": "_sub",
    "*": "_mul",
}


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], prefixes: dict[str, str]) -> None:
        self.tokens, self.position, self.prefixes = tokens, 0, prefixes

    def peek(self, offset: int = 0) -> tuple[str, str]:
        index = self.position + offset
        return self.tokens[index] if index < len(self.tokens) else ("end", "")

    def next(self) -> tuple[str, str]:
        token = self.peek()
        self.position += 1
        return token

    def expect(self, value: str) -> None:
        _, text = self.next()
        if text.upper() != value.upper():
            raise Unsupported(f"expected {value!r}, found {text!r}")

    def at(self, value: str) -> bool:
        return self.peek()[1].upper() == value.upper() and self.peek()[0] in ("op", "name")

    def iri(self, kind: str, text: str) -> str:
        if kind == "iri":
            return text[1:-1]
        prefix, _, local = text.partition(":")
        if prefix not in self.prefixes:
            raise Unsupported(f"unknown prefix {prefix}:")
        if "\\" in local or "%" in local:
            raise Unsupported(f"prefixed name {text}")
        return self.prefixes[prefix] + local

    # the query: PREFIX* CONSTRUCT { template } WHERE { BIND(expr AS ?v)* }
    def query(self) -> tuple[list[tuple[Node, Node, Node]], list[tuple[str, Node]]]:
        while self.at("PREFIX"):
            self.next()
            kind, text = self.next()
            iri_kind, iri = self.next()
            if kind != "pname" or not text.endswith(":") or iri_kind != "iri":
                raise Unsupported("PREFIX declaration")
            self.prefixes[text[:-1]] = iri[1:-1]
        self.expect("CONSTRUCT")
        template = self.template()
        self.expect("WHERE")
        self.expect("{")
        binds: list[tuple[str, Node]] = []
        while not self.at("}"):
            self.expect("BIND")
            self.expect("(")
            expression = self.expression()
            self.expect("AS")
            kind, name = self.next()
            if kind != "var":
                raise Unsupported("BIND ... AS needs a variable")
            self.expect(")")
            if self.at("."):
                self.next()
            binds.append((name[1:], expression))
        self.expect("}")
        if self.peek()[0] != "end":
            raise Unsupported(f"solution modifiers after WHERE ({self.peek()[1]})")
        return template, binds

    def template(self) -> list[tuple[Node, Node, Node]]:
        self.expect("{")
        triples: list[tuple[Node, Node, Node]] = []
        while not self.at("}"):
            subject = self.term()
            while True:
                if self.peek() == ("name", "a"):
                    self.next()
                    predicate: Node = ("const", Iri(RDF_TYPE))
                else:
                    predicate = self.term()
                while True:
                    triples.append((subject, predicate, self.term()))
                    if not self.at(","):
                        break
                    self.next()
                if not self.at(";"):
                    break
                while self.at(";"):
                    self.next()
                if self.at(".") or self.at("}"):
                    break
            if self.at("."):
                self.next()
        self.expect("}")
        return triples

    def term(self) -> Node:
        kind, text = self.next()
        if kind == "var":
            return ("var", text[1:])
        if kind in ("iri", "pname"):
            return ("const", Iri(self.iri(kind, text)))
        if kind == "string":
            return ("const", self.literal(text))
        if kind == "number":
            return ("const", Decimal(text) if "." in text else int(text))
        if kind == "name" and text in ("true", "false"):
            return ("const", text == "true")
        raise Unsupported(f"template or expression term {text!r}")

    def literal(self, token: str) -> Value:
        text = _unquote(token)
        if self.peek()[0] == "langtag":
            return LangLit(text, self.next()[1][1:].lower())
        if self.peek()[0] == "dtmark":
            self.next()
            kind, dt = self.next()
            datatype = self.iri(kind, dt)
            if datatype == XSD + "string":
                return text
            raise Unsupported(f"typed literal ^^{dt}")
        return text

    def expression(self) -> Node:
        node = self.and_()
        while self.at("||"):
            self.next()
            node = ("op", "||", [node, self.and_()])
        return node

    def and_(self) -> Node:
        node = self.relational()
        while self.at("&&"):
            self.next()
            node = ("op", "&&", [node, self.relational()])
        return node

    def relational(self) -> Node:
        node = self.additive()
        for op in ("=", "!=", "<=", ">=", "<", ">"):
            if self.peek() == ("op", op):
                self.next()
                return ("op", op, [node, self.additive()])
        if self.at("IN") or self.at("NOT"):
            raise Unsupported("IN / NOT IN")
        return node

    def additive(self) -> Node:
        node = self.multiplicative()
        while self.peek() in (("op", "+"), ("op", "-")):
            op = self.next()[1]
            node = ("op", op, [node, self.multiplicative()])
        return node

    def multiplicative(self) -> Node:
        node = self.unary()
        while self.peek() in (("op", "*"), ("op", "/")):
            op = self.next()[1]
            if op == "/":
                raise Unsupported("division")
            node = ("op", op, [node, self.unary()])
        return node

    def unary(self) -> Node:
        if self.peek() == ("op", "!"):
            self.next()
            return ("op", "!", [self.unary()])
        if self.peek() == ("op", "-"):
            self.next()
            return ("op", "neg", [self.unary()])
        if self.peek() == ("op", "+"):
            self.next()
        return self.primary()

    def arguments(self) -> list[Node]:
        self.expect("(")
        args: list[Node] = []
        if self.at(")"):
            self.next()
            return args
        while True:
            args.append(self.expression())
            if self.at(")"):
                self.next()
                return args
            self.expect(",")

    def primary(self) -> Node:
        kind, text = self.peek()
        if kind == "op" and text == "(":
            self.next()
            node = self.expression()
            self.expect(")")
            return node
        if kind in ("iri", "pname") and self.peek(1) == ("op", "("):
            self.next()
            function = self.iri(kind, text)
            if function not in _CASTS:
                raise Unsupported(f"function <{function}>")
            args = self.arguments()
            if len(args) != 1:
                raise Unsupported(f"cast to <{function}> with {len(args)} arguments")
            return ("call", _CASTS[function], args)
        if kind == "name" and text not in ("true", "false"):
            self.next()
            name = text.upper()
            args = self.arguments()
            return self.builtin(name, args)
        return self.term()

    def builtin(self, name: str, args: list[Node]) -> Node:
        if name in _FUNCTIONS_1 and len(args) == 1:
            return ("call", _FUNCTIONS_1[name], args)
        if name in _FUNCTIONS_2 and len(args) == 2:
            return ("call", _FUNCTIONS_2[name], args)
        if name == "CONCAT":
            return ("call", "_concat", args)
        if name == "IF" and len(args) == 3:
            return ("if", args)
        if name == "COALESCE" and args:
            return ("coalesce", args)
        if name == "BOUND" and len(args) == 1 and args[0][0] == "var":
            return ("bound", args[0][1])
        if name == "SUBSTR" and len(args) in (2, 3):
            return ("substr", args)
        if name in ("REGEX", "REPLACE"):
            constant = [a[1] for a in args[1:]]
            expected = 1 if name == "REGEX" else 2
            if len(args) not in (expected + 1, expected + 2) or not all(
                a[0] == "const" and type(a[1]) is str for a in args[1:]
            ):
                raise Unsupported(f"{name} with a pattern that is not a constant string")
            flags = constant[expected] if len(constant) > expected else ""
            pattern = translate_regex(constant[0], flags)
            source = constant[0] if not flags else None  # for the fast paths (_unchanged)
            if name == "REGEX":
                return ("regex", pattern, source, args[0])
            return ("replace", pattern, translate_replacement(constant[1]), source, constant[1], args[0])
        raise Unsupported(f"function {name} with {len(args)} arguments")


# --------------------------------------------------------------------------- code generation


@dataclass(frozen=True)
class _Type:
    """What the compiler knows of an expression's value: its kind (``str``, ``iri``, ``lang``,
    ``bool``, ``int``, ``dec``, ``none`` — always unbound — or ``any``), whether it is never
    unbound, and for strings whether it holds only IRI-safe characters (``safe``) or is a
    valid IRI already (``iri_ok``)."""

    kind: str
    nonnull: bool = False
    safe: bool = False
    iri_ok: bool = False
    iri_prefix: int = 0  # length of a constant prefix that is a valid IRI with a path, no ? nor #
    text: str | None = None  # the value, for a constant simple literal


_ANY = _Type("any")
_NONE = _Type("none")
_UNRESERVED = re.compile(r"[A-Za-z0-9\-._~]*")
# What may follow a valid IRI prefix that has a path (and no query nor fragment) and keep it valid.
_PATH_SAFE = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*")
_IRI_TAIL = re.compile(
    rf"(?:/|{_IPCHAR})*"
    rf"(?:\?(?:{_IPCHAR}|[/?{_PRIVATE}])*)?"
    rf"(?:#(?:{_IPCHAR}|[/?])*)?",
)
_IRI_WITH_PATH = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*://[^/?#]*/[^?#]*")


def _efu(value: str | None) -> str | None:
    """ENCODE_FOR_URI of a simple literal (fast path: nothing to encode)."""
    if value is None:
        return None
    return value if _UNRESERVED.fullmatch(value) else quote(value, safe="")


def _iri_str(value: str | None) -> Iri | None:
    return None if value is None or not _IRI.fullmatch(value) else Iri(value)


def _iri_tail(value: str | None, start: int) -> Iri | None:
    """IRI() of a string whose first ``start`` characters are known to be a valid IRI prefix.

    >>> _iri_tail("http://x.org/id/12345", 16), _iri_tail("http://x.org/id/1 2", 16)
    ('http://x.org/id/12345', None)
    """
    if value is None:
        return None
    tail = value[start:]
    # ASCII letters and digits are valid anywhere in a path: most codes, checked without the regex.
    if tail.isascii() and (tail.isalnum() or tail.replace("/", "").replace("-", "").isalnum()):
        return Iri(value)
    if _IRI_TAIL.fullmatch(value, start):
        return Iri(value)
    return None


def _date(value: str | None, datatype: str) -> Typed | None:
    if value is None:
        return None
    if _DATE.fullmatch(value):
        return Typed(value, datatype)
    raise RowUnsupported(f"STRDT to {datatype} of {value!r}")


def _join(a: _Type, b: _Type) -> _Type:
    if a.kind == "none":
        return _Type(b.kind, False, b.safe, b.iri_ok)
    if b.kind == "none":
        return _Type(a.kind, False, a.safe, a.iri_ok)
    kind = a.kind if a.kind == b.kind else "any"
    return _Type(kind, a.nonnull and b.nonnull, a.safe and b.safe, a.iri_ok and b.iri_ok)


_KIND_OF = {str: "str", Iri: "iri", LangLit: "lang", bool: "bool", int: "int", Decimal: "dec"}
_PURE = set(_FUNCTIONS_1.values()) | set(_FUNCTIONS_2.values()) | set(_CASTS.values()) | {"_concat"}


class _Codegen:
    """Python source for expressions, specialised by what is known of their values' kinds."""

    def __init__(self, columns: frozenset[str]) -> None:
        self.constants: dict[str, Any] = {}
        self.temps = 0
        self.columns = columns
        self.types: dict[str, _Type] = {}  # variables bound so far, by BIND

    def constant(self, value: Any) -> str:
        name = f"k{len(self.constants)}"
        self.constants[name] = value
        return name

    def temp(self) -> str:
        self.temps += 1
        return f"t{self.temps}"

    def const(self, value: Any) -> tuple[str, _Type]:
        kind = _KIND_OF.get(type(value), "any")
        safe = type(value) is str and _PATH_SAFE.fullmatch(value) is not None
        code = repr(value) if type(value) is str else self.constant(value)
        return code, _Type(kind, True, safe, False, 0, value if type(value) is str else None)

    def expr(self, node: Node) -> tuple[str, _Type]:
        kind = node[0]
        if kind == "var":
            name = node[1]
            if name in self.columns and not name.startswith("_"):
                # (a column's variable never starts with "_": see kg.sources.records.variable_name)
                return f"v_{name}", _Type("str")
            if name in self.types:
                return f"v_{name}", self.types[name]
            return "None", _NONE  # not bound (yet): unbound here, as in SPARQL
        if kind == "const":
            return self.const(node[1])
        if kind == "call":
            return self.call(node[1], node[2])
        if kind == "op":
            return self.op(node[1], node[2])
        if kind == "if":
            cond, then = self.expr(node[1][0]), self.expr(node[1][1])
            other = self.expr(node[1][2])
            test = self.temp()
            ebv = cond[0] if cond[1].kind == "bool" else f"_ebv({cond[0]})"
            if cond[1].kind == "none":
                return "None", _NONE
            code = f"(None if ({test} := {ebv}) is None else ({then[0]} if {test} else {other[0]}))"
            joined = _join(then[1], other[1])
            return code, _Type(joined.kind, False, joined.safe, joined.iri_ok)
        if kind == "coalesce":
            parts = [self.expr(a) for a in node[1]]
            code, joined = "None", _NONE
            for part_code, part_type in reversed(parts):
                if part_type.kind == "none":
                    continue
                if part_type.nonnull:
                    code, joined = part_code, part_type
                    continue
                temp = self.temp()
                code = f"({temp} if ({temp} := {part_code}) is not None else {code})"
                nonnull = joined.nonnull
                joined = _join(part_type, joined) if joined.kind != "none" else part_type
                joined = _Type(joined.kind, nonnull, joined.safe, joined.iri_ok)
            return code, joined
        if kind == "bound":
            code, _ = self.expr(("var", node[1]))
            return (
                ("False", _Type("bool", True))
                if code == "None"
                else (f"({code} is not None)", _Type("bool", True))
            )
        if kind == "substr":
            args = [self.expr(a) for a in node[1]]
            bounds = [n[1] for n in node[1][1:]]
            if args[0][1].kind == "str" and all(type(b) is int for b in bounds) and bounds[0] >= 1:
                temp = self.temp()
                stop = str(bounds[0] - 1 + bounds[1]) if len(bounds) == 2 and bounds[1] >= 0 else ""
                if len(bounds) == 2 and bounds[1] < 0:
                    stop = str(bounds[0] - 1)
                return (
                    f"(None if ({temp} := {args[0][0]}) is None else {temp}[{bounds[0] - 1}:{stop}])",
                    _Type("str"),
                )
            code = (
                f"_substr({args[0][0]}, {args[1][0]})"
                if len(args) == 2
                else (f"_substr({args[0][0]}, {args[1][0]}, {args[2][0]}, True)")
            )
            return code, _Type(args[0][1].kind if args[0][1].kind in ("str", "lang") else "any")
        if kind in ("regex", "replace"):
            arg_code, arg_type = self.expr(node[-1])
            if kind == "regex":
                if arg_type.kind == "str":
                    search = self.constant(node[1].search)
                    temp = self.temp()
                    return (
                        f"(None if ({temp} := {arg_code}) is None else {search}({temp}) is not None)",
                        _Type("bool"),
                    )
                return f"{self.constant(_regex_fn(node[1]))}({arg_code})", _Type("bool")
            function = _replace_fn(node[1], node[2])
            if arg_type.kind == "str":
                sub, replacement = self.constant(node[1].sub), self.constant(node[2])
                temp = self.temp()
                call = f"{sub}({replacement}, {temp})"
                unchanged = _unchanged(node[3], node[4])
                if unchanged is not None:  # skip the regex when the text surely comes out as it is
                    call = f"({temp} if {unchanged.format(t=temp)} else {call})"
                return f"(None if ({temp} := {arg_code}) is None else {call})", _Type("str")
            return f"{self.constant(function)}({arg_code})", _Type(
                arg_type.kind if arg_type.kind == "lang" else "any"
            )
        raise Unsupported(f"expression {kind}")

    def call(self, name: str, nodes: list[Node]) -> tuple[str, _Type]:
        args = [self.expr(a) for a in nodes]
        if name in _PURE and all(n[0] == "const" for n in nodes):
            try:
                value = _RUNTIME_FUNCTIONS[name](*[n[1] for n in nodes])
            except RowUnsupported:
                value = None
            if value is not None:
                return self.const(value)
        if any(t.kind == "none" for _, t in args) and name != "_concat":
            return "None", _NONE  # every function here errs on an unbound argument
        kinds = [t.kind for _, t in args]
        if name == "_concat":
            if "none" in kinds:
                return "None", _NONE
            if all(k == "str" for k in kinds):
                merged: list[tuple[str, _Type]] = []
                for code, kind_ in args:  # adjacent constants joined at compile time
                    if merged and kind_.text is not None and merged[-1][1].text is not None:
                        text = (merged[-1][1].text or "") + kind_.text
                        merged[-1] = self.const(text)
                    else:
                        merged.append((code, kind_))
                args = merged
                tests, pieces = [], []
                for code, kind_ in args:
                    if kind_.nonnull:
                        pieces.append(code)
                    else:
                        temp = self.temp()
                        tests.append(f"({temp} := {code}) is None")
                        pieces.append(temp)
                joined = " + ".join(pieces) if pieces else "''"
                code = f"(None if {' or '.join(tests)} else {joined})" if tests else f"({joined})"
                head = args[0][1].text if args else None
                prefix = 0
                if head is not None and _IRI_WITH_PATH.fullmatch(head) and _IRI.fullmatch(head):
                    prefix = len(head)
                iri_ok = prefix > 0 and all(t.safe for _, t in args[1:])
                return code, _Type("str", not tests, all(t.safe for _, t in args), iri_ok, prefix)
            return f"_concat({', '.join(c for c, _ in args)})", _ANY
        codes = ", ".join(c for c, _ in args)
        first_code, first = args[0]
        if name == "_str":
            if first.kind in ("str", "iri"):
                temp = self.temp()
                return f"(None if ({temp} := {first_code}) is None else str.__str__({temp}))", _Type("str")
            return f"_str({codes})", _Type("str")
        if name == "_encode_for_uri":
            fn = "_efu" if first.kind == "str" else "_encode_for_uri"
            return _unless_none(self, f"{fn}({{}})", first_code, first), _Type("str", False, True)
        if name == "_iri":
            if first.kind == "iri":
                return first_code, first
            if first.kind == "str" and first.iri_ok:
                temp = self.temp()
                return f"(None if ({temp} := {first_code}) is None else Iri({temp}))", _Type("iri")
            if first.kind == "str" and first.iri_prefix:
                # _iri_tail's first test inlined (a code of letters and digits): no call per row
                value, tail = self.temp(), self.temp()
                start = first.iri_prefix
                return (
                    f"(None if ({value} := {first_code}) is None else (Iri({value}) if "
                    f"({tail} := {value}[{start}:]).isalnum() and {tail}.isascii() "
                    f"else _iri_tail({value}, {start})))",
                    _Type("iri"),
                )
            if first.kind == "str":
                return f"_iri_str({codes})", _Type("iri")
            return f"_iri({codes})", _Type("iri")
        if (
            name == "_strdt"
            and first.kind == "str"
            and nodes[1][0] == "const"
            and nodes[1][1] == XSD + "date"
        ):
            return f"_date({first_code}, {XSD + 'date'!r})", _Type("typed")
        if name == "_strlang" and first.kind == "str" and nodes[1][0] == "const" and type(nodes[1][1]) is str:
            lang = nodes[1][1]
            if _LANG_TAG.fullmatch(lang):
                temp = self.temp()
                return (
                    f"(None if ({temp} := {first_code}) is None else LangLit({temp}, {lang.lower()!r}))",
                    _Type("lang"),
                )
        # Simple literals (kind "str") need none of the language checks of the generic functions.
        if all(t.kind == "str" for _, t in args):
            if name in ("_strstarts", "_strends", "_contains"):
                a, b = self.temp(), self.temp()
                test = {"_strstarts": f"{a}.startswith({b})", "_strends": f"{a}.endswith({b})"}.get(
                    name, f"{b} in {a}"
                )
                return (
                    f"(None if ({a} := {first_code}) is None or ({b} := {args[1][0]}) is None else {test})",
                    _Type("bool"),
                )
            if name in ("_lcase", "_ucase"):
                temp = self.temp()
                method = "lower" if name == "_lcase" else "upper"
                return f"(None if ({temp} := {first_code}) is None else {temp}.{method}())", _Type("str")
            if name == "_to_boolean":  # dict.get(None) is None: unbound stays unbound
                return f"{self.constant(_BOOLEANS)}.get({first_code})", _Type("bool")
        result = {
            "_strlen": "int",
            "_strstarts": "bool",
            "_strends": "bool",
            "_contains": "bool",
            "_sha1": "str",
            "_strlang": "lang",
            "_to_integer": "int",
            "_to_decimal": "dec",
            "_to_boolean": "bool",
            "_to_string": "str",
        }.get(name)
        if result is None and name in ("_lcase", "_ucase") and first.kind in ("str", "lang"):
            result = first.kind
        if result is None and name in ("_strbefore", "_strafter") and first.kind == "str":
            result = "str"
        if len(args) == 1:  # every function here gives unbound for an unbound argument
            return _unless_none(self, f"{name}({{}})", first_code, first), _Type(result or "any")
        return f"{name}({codes})", _Type(result or "any")

    def op(self, op: str, nodes: list[Node]) -> tuple[str, _Type]:
        args = [self.expr(a) for a in nodes]
        codes = ", ".join(c for c, _ in args)
        if all(t.kind == "bool" and t.nonnull for _, t in args) and op in ("!", "||", "&&"):
            # two booleans never unbound: Python's own operators give SPARQL's answer
            if op == "!":
                return f"(not {args[0][0]})", _Type("bool", True)
            python = "or" if op == "||" else "and"
            return f"({args[0][0]} {python} {args[1][0]})", _Type("bool", True)
        if op == "!":
            return f"_not({codes})", _Type("bool")
        if op == "neg":
            return f"_negate({codes})", _ANY
        if op in ("=", "!=") and all(t.kind == "str" for _, t in args):
            a, b = self.temp(), self.temp()
            compare = "==" if op == "=" else "!="
            return (
                f"(None if ({a} := {args[0][0]}) is None or ({b} := {args[1][0]}) is None "
                f"else {a} {compare} {b})",
                _Type("bool"),
            )
        if op in ("+", "-", "*"):
            kind = "int" if all(t.kind == "int" for _, t in args) else "any"
            return f"{_BINARY[op]}({codes})", _Type(kind)
        return f"{_BINARY[op]}({codes})", _Type("bool")


def _unless_none(gen: _Codegen, call: str, code: str, type_: _Type) -> str:
    """``call`` (a format with one ``{}``) of the value of ``code``, or None without a call when
    the value is unbound (rows leave many cells empty: LHEO's exploded codes, most of them).
    A plain variable needs no temporary."""
    if type_.nonnull:
        return call.format(code)
    if code.isidentifier():
        return f"(None if {code} is None else {call.format(code)})"
    temp = gen.temp()
    return f"(None if ({temp} := {code}) is None else {call.format(temp)})"


_RUNTIME_FUNCTIONS = {name: globals()[name] for name in _PURE}
_RUNTIME = {
    name: value
    for name, value in globals().items()
    if name.startswith("_")
    and callable(value)
    and name not in ("_tokens", "_unquote", "_arith", "_regex_fn", "_replace_fn", "_compile_cached")
}


@dataclass
class CompiledMapping:
    """A mapping compiled to Python: :meth:`run` gives the N-Triples lines of a batch of rows
    (deduplicated, as a SPARQL CONSTRUCT result) and the (entity, record) marks."""

    source: str  # the generated Python, for reading and debugging
    function: Callable[..., None]
    columns: frozenset[str]  # the row variables the query reads
    body: list[str] = field(default_factory=list)  # the code after the row's variables are read
    namespace: dict[str, Any] = field(default_factory=dict)
    setup: list[str] = field(default_factory=list)  # the code before the loop over the rows
    _by_header: dict[tuple[str, ...], Callable[..., None]] = field(default_factory=dict)

    def run(self, records: Sequence[Record]) -> tuple[list[str], list[tuple[str, int]]]:
        """N-Triples lines (each ending with a line break) and (entity, record number) marks;
        raises :class:`RowUnsupported` when a row needs the SPARQL evaluation."""
        lines: list[str] = []
        marks: list[tuple[str, int]] = []
        self.function(records, lines, marks.append)
        return list(dict.fromkeys(lines)), marks  # deduplicated in order, as CONSTRUCT

    def run_cells(
        self, names: Sequence[str], rows: Sequence[tuple[int, list[str]]]
    ) -> tuple[list[str], list[tuple[str, int]]]:
        """As :meth:`run`, for CSV rows given as (record number, raw cells) under the header
        ``names`` (see :func:`kg.sources.csv_reader.read_csv_cells`): only the cells the query
        reads are stripped, by position; the output is that of :meth:`run` on the records
        :func:`kg.sources.csv_reader.read_csv` gives for the same rows.

        >>> from kg.mapping import Mapping
        >>> import tempfile
        >>> from pathlib import Path
        >>> p = Path(tempfile.mkdtemp()) / "m.rq"
        >>> _ = p.write_text('CONSTRUCT { ?o pas:code ?code } '
        ...     'WHERE { BIND(IRI(CONCAT(STR(id:), "rome/", ?code)) AS ?o) }')
        >>> compiled = compile_mapping(Mapping.load(p), "https://x.org/")
        >>> compiled.run_cells(["lib", "code"], [(2, ["x", " A1101 "]), (3, ["y", ""])])[0]
        ['<https://x.org/id/rome/A1101> <https://w3id.org/passerelles/ontology#code> "A1101" .\\n']
        """
        key = tuple(names)
        function = self._by_header.get(key)
        if function is None:
            index = {name: position for position, name in enumerate(names)}  # the last one wins
            head = [
                "def mapped(rows, lines, mark):",
                "    add = lines.append",
                *self.setup,
                "    for number, cells in rows:",
            ]
            head.append("     try:")
            for name in sorted(self.columns):
                cell = f"cells[{index[name]}].strip() or None" if name in index else "None"
                head.append(f"      v_{name} = {cell}")
            function = self._by_header[key] = _define(
                "\n".join(head + self.body) + "\n", dict(self.namespace)
            )
        lines: list[str] = []
        marks: list[tuple[str, int]] = []
        function(rows, lines, marks.append)
        return list(dict.fromkeys(lines)), marks


@dataclass
class _Memo:
    """A template subject whose lines are written once per batch for each distinct value of the
    subject and of the row columns its lines' other terms are computed from (``key``)."""

    key: list[str]
    moved: set[str]  # BINDs that only those terms read: computed only when the lines are written


MEMO_MIN_LINES = 2


def memo_groups(
    template: list[tuple[Node, Node, Node]],
    bind_names: list[str],
    reads: dict[str, set[str]],
    columns: frozenset[str],
) -> dict[str, _Memo]:
    """The subjects whose template lines can be skipped on a row that would repeat them.

    A line is a function of its terms' values, and a term of the row columns it is computed from
    (every function compiled here is deterministic and ``?_row`` is not allowed in expressions);
    so a row whose subject and those columns equal an earlier row's of the same batch writes
    again exactly the lines that row wrote, which the batch's deduplication (the CONSTRUCT's
    set semantics, :meth:`CompiledMapping.run`) drops. Skipping them gives the same lines in the
    same order (the first occurrence is kept). LHEO describes the training place of an action on
    each of its sessions: the place's nine lines and the BINDs only they read (coordinates,
    commune IRI, name) are then worked out once per place and batch. A subject qualifies when
    another subject's line cites it (an entity many rows link to: a place, a body), and its lines
    (marks aside) are contiguous in the template and at least ``MEMO_MIN_LINES``.

    >>> tpl, binds = _Parser(_tokens('CONSTRUCT { ?p a <x:P> ; <x:n> ?n ; <x:s> ?s . ?s <x:at> ?p } '
    ...     'WHERE { BIND(IRI(CONCAT("x:p/", ?code)) AS ?p) BIND(UCASE(?name) AS ?n) '
    ...     'BIND(IRI(CONCAT("x:s/", ?sess)) AS ?s) }'), {}).query()
    >>> memos = memo_groups(tpl, ["p", "n", "s"], {"p": {"code"}, "n": {"name"}, "s": {"sess"}},
    ...                     frozenset({"code", "name", "sess"}))
    >>> memos["p"].key, memos["p"].moved, "s" in memos
    (['name', 'sess'], {'n'}, False)
    """
    runs: dict[str | None, int] = {}
    count: dict[str | None, int] = {}
    users: dict[str, set[str]] = {}  # variable -> what reads it: "bind:B", "group:S" or ""
    previous: object = object()
    for name in bind_names:
        for read in reads.get(name, ()):
            users.setdefault(read, set()).add(f"bind:{name}")
    lines = []
    for subject, predicate, obj in template:
        owner = subject[1] if subject[0] == "var" else None
        if owner is not None:
            users.setdefault(owner, set()).add("")  # a subject is computed on every row
        if predicate == ("const", Iri(_SOURCE_ROW)) and obj == ("var", "_row"):
            continue
        lines.append((owner, predicate, obj))
        if owner != previous:
            runs[owner] = runs.get(owner, 0) + 1
        previous = owner
        count[owner] = count.get(owner, 0) + 1
    # Only a subject that another subject's line cites (a place, a course, a body: an entity that
    # many rows link to) is likely to repeat; a key for the row's own entity would be pure cost.
    cited = {obj[1] for owner, _, obj in lines if obj[0] == "var" and obj[1] != owner}
    chosen = {
        name
        for name, number in runs.items()
        if name is not None
        and number == 1
        and count[name] >= MEMO_MIN_LINES
        and name not in columns
        and name in cited
    }
    for owner, predicate, obj in lines:
        for node in (predicate, obj):
            if node[0] == "var":
                users.setdefault(node[1], set()).add(f"group:{owner}" if owner in chosen else "")
    memos: dict[str, _Memo] = {}
    for name in sorted(chosen):
        terms = {n[1] for o, p, ob in lines if o == name for n in (p, ob) if n[0] == "var"}
        reached: set[str] = set()
        stack = list(terms)
        while stack:
            variable = stack.pop()
            if variable not in reached:
                reached.add(variable)
                stack.extend(reads.get(variable, ()))
        moved: set[str] = set()
        allowed = {f"group:{name}"}
        for bind in reversed(bind_names):  # a BIND's readers come after it
            if bind != name and users.get(bind) and users[bind] <= allowed:
                moved.add(bind)
                allowed.add(f"bind:{bind}")
        memos[name] = _Memo(sorted(reached & columns), moved)
    return memos


def compile_query(query: str, base_iri: str) -> CompiledMapping:
    """Compile a mapping query (without its header comments) under ``base_iri``."""
    parser = _Parser(_tokens(query), dict(prefixes_for(base_iri)))
    template, binds = parser.query()
    targets = {name for name, _ in binds}
    used: set[str] = set()
    reads: dict[str, set[str]] = {}  # the variables each BIND reads

    def collect(node: Node, into: set[str]) -> None:
        if node[0] == "var" or node[0] == "bound":
            into.add(node[1])
        for part in node[1:]:
            if isinstance(part, tuple):
                collect(part, into)
            elif isinstance(part, list):
                for item in part:
                    collect(item, into)

    for name, expression in binds:
        collect(expression, used)
        collect(expression, reads.setdefault(name, set()))
    if "_row" in used or "_row" in targets:
        raise Unsupported("?_row used in an expression")
    for triple in template:
        for position_term in triple:
            collect(position_term, used)
    columns = frozenset(n for n in used - targets if not n.startswith("_"))
    memos = memo_groups(template, [name for name, _ in binds], reads, columns)
    gen = _Codegen(columns)
    setup = [f"    seen_{subject} = set()" for subject in memos]
    head = ["def mapped(records, lines, mark):", "    add = lines.append", *setup]
    head.append("    for record in records:")
    head.append("     try:")
    head.append("      number = record.number")
    head.append("      get = record.values.get")
    for name in sorted(columns):
        head.append(f"      v_{name} = get({name!r})")
    body: list[str] = []  # after the row's variables: the same for records and for CSV cells
    moved: dict[str, list[str]] = {subject: [] for subject in memos}  # BINDs computed in a group
    owner_of = {name: subject for subject, memo in memos.items() for name in memo.moved}
    for name, expression in binds:
        if name in columns:
            raise Unsupported(f"BIND to ?{name}, also a row variable")
        if name in gen.types:
            raise Unsupported(f"?{name} bound twice")
        code, type_ = gen.expr(expression)
        owner = owner_of.get(name)
        if owner is None:
            body.append(f"      v_{name} = {code}")
        else:
            moved[owner].append(f"       v_{name} = {code}")
        gen.types[name] = type_
    # Template terms: N-Triples text computed once per row and per variable and position.
    done: set[str] = set()
    indent = "      "  # deeper inside a memoised group's block

    def term(name: str, position: str) -> tuple[str, str | None]:
        """The local holding a variable's N-Triples text (None when it cannot stand there)."""
        code, type_ = gen.expr(("var", name))
        local = f"{position}_{name}"
        if code == "None":
            return "None", None
        if local not in done:
            done.add(local)
            kind = type_.kind
            if position == "s":  # subject or predicate: an IRI
                text = f"'<' + {code} + '>'"
                test = f"{code} is None" if kind == "iri" else f"type({code}) is not Iri"
            else:
                test = f"{code} is None"
                text = {
                    "iri": f"'<' + {code} + '>'",
                    "str": f"_quoted({code})",
                    "lang": f"_quoted({code}.text) + '@' + {code}.lang",
                    "int": f"'\"' + str({code}) + '\"^^<{XSD}integer>'",
                    "bool": f"({nt(True)!r} if {code} else {nt(False)!r})",
                    "typed": f"_quoted({code}.lex) + '^^<' + {code}.dt + '>'",
                }.get(kind, f"nt({code})")
            body.append(f"{indent}{local} = None if {test} else {text}")
        return local, f"{local} is not None"

    def mark(name: str) -> None:
        local, check = term(name, "s")
        if check is not None:
            body.append(f"      if {check}: mark(({local}, number))")

    body.append("      # template")
    opened: str | None = None  # the memoised group whose block is open
    outside: set[str] = set()  # the terms defined before that block
    pending: list[str] = []  # the subjects of marks met in that block, written after it
    for subject, predicate, obj in template:
        if predicate == ("const", Iri(_SOURCE_ROW)) and obj == ("var", "_row"):
            if subject[0] != "var":
                raise Unsupported("a constant subject for pas:sourceRow")
            if opened is not None:
                pending.append(subject[1])  # a mark is made on every row, not in the block
            else:
                mark(subject[1])
            continue
        group = subject[1] if subject[0] == "var" and subject[1] in memos else None
        if group != opened:
            if opened is not None:  # close the block: its terms are not set on a row it skips
                done.intersection_update(outside)
                indent, opened = "      ", None
                for name in pending:
                    mark(name)
                pending.clear()
            if group is not None:
                local, check = term(group, "s")
                key = ", ".join([local, *(f"v_{c}" for c in memos[group].key)])
                # "the key is new": the set grew when it was added (one hash of the key tuple)
                test = f"len(seen_{group}) < (seen_{group}.add(({key},)) or len(seen_{group}))"
                body.append(f"      if {check} and {test}:" if check is not None else f"      if {test}:")
                body.extend(moved[group])
                outside = set(done)
                indent, opened = "       ", group
        checks: list[str] = []
        parts: list[str] = []
        for position, node in enumerate((subject, predicate, obj)):
            if node[0] == "const":
                value = node[1]
                if position < 2 and type(value) is not Iri:
                    raise Unsupported("a literal as subject or predicate")
                parts.append(repr(nt(value)))
                continue
            if node[1] == "_row":
                raise Unsupported("?_row outside pas:sourceRow")
            local, check = term(node[1], "s" if position < 2 else "o")
            if check is None:
                break
            checks.append(check)
            parts.append(local)
        else:
            # One f-string per line (one allocation, where "a + b + c" makes one per "+"):
            # constant parts are our own repr()s, the others locals holding N-Triples text.
            pieces = [*parts[:1], *[x for p in parts[1:] for x in ("' '", p)], "' .\\n'"]
            text = "".join(
                f"{{{part}}}" if part.isidentifier() else eval(part).replace("{", "{{").replace("}", "}}")
                for part in pieces
            )
            line = "f" + repr(text)
            if checks:
                body.append(f"{indent}if {' and '.join(dict.fromkeys(checks))}: add({line})")
            else:
                body.append(f"{indent}add({line})")
    for name in pending:
        mark(name)
    body.append("     except RowUnsupported as exc:")
    body.append("      raise RowUnsupported(str(exc)) from None")
    source = "\n".join(head + body) + "\n"
    namespace: dict[str, Any] = {
        **_RUNTIME,
        "_add": _arith("+"),
        "_sub": _arith("-"),
        "_mul": _arith("*"),
        "Iri": Iri,
        "LangLit": LangLit,
        "nt": nt,
        "RowUnsupported": RowUnsupported,
        **gen.constants,
    }
    return CompiledMapping(source, _define(source, namespace), columns, body, namespace, setup=setup)


CODE_CACHE_VARIABLE = "PASSERELLES_CODE_CACHE"


def code_cache() -> Path | None:
    """Where the bytecode of generated mapping code is kept between processes: the folder named
    by ``PASSERELLES_CODE_CACHE`` (``off``: nowhere), else ``var/cache/mapping-code`` of the
    project (git-ignored, like the store).

    >>> saved = os.environ.pop(CODE_CACHE_VARIABLE, None)
    >>> code_cache().parts[-2:]
    ('cache', 'mapping-code')
    >>> os.environ[CODE_CACHE_VARIABLE] = "off"; code_cache() is None
    True
    >>> _ = os.environ.pop(CODE_CACHE_VARIABLE)
    >>> os.environ.update({CODE_CACHE_VARIABLE: saved} if saved else {})
    """
    setting = os.environ.get(CODE_CACHE_VARIABLE, "")
    if setting == "off":
        return None
    if setting:
        return Path(setting)
    from kg.config import PROJECT_ROOT

    return PROJECT_ROOT / "var" / "cache" / "mapping-code"


def _bytecode(source: str) -> CodeType:
    """``compile()`` of generated ``source``, kept on disk as ``__pycache__`` keeps a module's:
    by the source's sha256 and the interpreter's bytecode magic number, so that a file holds the
    compilation of exactly that text by exactly that bytecode version. Parsing the long generated
    functions of a mapping costs tens of milliseconds per build (the LHEO mappings' ~45 M
    instructions, 2 % of mapping 2,000 sessions); loading them back, well under one. A cache that
    cannot be read or written is passed over (the source is compiled)."""
    folder = code_cache()
    path = None
    if folder is not None:
        digest = hashlib.sha256(source.encode()).hexdigest()
        path = folder / f"{digest}-{importlib.util.MAGIC_NUMBER.hex()}.bin"
        try:
            code = marshal.loads(path.read_bytes())
        except (OSError, ValueError, EOFError, TypeError):
            pass
        else:
            if isinstance(code, CodeType):
                return code
    try:
        code = compile(source, "<mapping>", "exec")
    except SyntaxError as exc:  # a very deep expression
        raise Unsupported(f"generated code does not compile: {exc}") from None
    if path is not None:
        keep_cached(path, marshal.dumps(code))
    return code


# The cache is never emptied by hand: each edit of a mapping (or of the code that compiles
# mappings) adds entries and leaves the old ones, so it keeps at most this many, the oldest
# written going first; an entry dropped while still in use is compiled and written again.
CACHE_ENTRIES = 2048
_CACHE_FILE = re.compile(r"[0-9a-f]{64}-[0-9a-f]+\.bin|plan-[0-9a-f]{64}\.pickle")
_SCRATCH_FILE = re.compile(r"\.(?:[0-9a-f]{64}-[0-9a-f]+\.bin|plan-[0-9a-f]{64}\.pickle)\..+")
_SCRATCH_AGE = 3600.0  # seconds: a scratch file this old belongs to a process that died writing it


def prune_cache(folder: Path, limit: int | None = None) -> int:
    """Bound a cache folder to ``limit`` entries (default :data:`CACHE_ENTRIES`): when it holds
    more, the oldest written (file modification time) are removed down to three quarters of
    ``limit``, with the scratch files of writers that died more than an hour ago. Only the
    cache's own file names are touched (the folder may be one a user named with
    ``PASSERELLES_CODE_CACHE``). Returns how many files went.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> for n in range(6):
    ...     entry = folder / f"{n:064x}-a70d0d0a.bin"
    ...     _ = entry.write_bytes(b"")
    ...     os.utime(entry, (1000 + n, 1000 + n))
    >>> (folder / "notes.txt").write_text("mine")
    4
    >>> prune_cache(folder, limit=4)
    3
    >>> sorted(p.name[-14:] for p in folder.iterdir())  # the three newest and the foreign file
    ['3-a70d0d0a.bin', '4-a70d0d0a.bin', '5-a70d0d0a.bin', 'notes.txt']
    """
    limit = CACHE_ENTRIES if limit is None else limit
    try:
        names = os.listdir(folder)
    except OSError:
        return 0
    entries: list[tuple[float, Path]] = []
    stale: list[Path] = []
    now = time.time()
    for name in names:
        if _CACHE_FILE.fullmatch(name) or _SCRATCH_FILE.fullmatch(name):
            path = folder / name
            try:
                written = path.stat().st_mtime
            except OSError:  # removed by another process meanwhile
                continue
            if name.startswith("."):
                if now - written > _SCRATCH_AGE:
                    stale.append(path)
            else:
                entries.append((written, path))
    if len(entries) > limit:
        entries.sort()
        stale += [path for _, path in entries[: len(entries) - limit * 3 // 4]]
    removed = 0
    for path in stale:
        with contextlib.suppress(OSError):
            path.unlink()
            removed += 1
    return removed


def keep_cached(path: Path, data: bytes) -> bool:
    """Write a cache file atomically: into a scratch file of its own in the same folder
    (``tempfile``: unique per process and thread, so two map threads of one build writing the
    same entry at once never share one), then renamed over ``path`` — a reader sees a whole
    file or none. A cache that cannot be written is passed over (False). Writing a new entry
    keeps the folder within :data:`CACHE_ENTRIES` (:func:`prune_cache`).

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> keep_cached(folder / "a" / "x.bin", b"code"), (folder / "a" / "x.bin").read_bytes()
    (True, b'code')
    >>> sorted(p.name for p in (folder / "a").iterdir())  # no scratch file left
    ['x.bin']
    """
    scratch = None
    new = not path.exists()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, scratch = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(scratch, path)
    except OSError:
        if scratch is not None:
            with contextlib.suppress(OSError):
                os.unlink(scratch)
        return False
    if new:  # a rewrite (a plan's new row text) adds no entry
        prune_cache(path.parent)
    return True


def _define(source: str, namespace: dict[str, Any]) -> Callable[..., None]:
    """The function ``mapped`` of generated ``source``, defined in ``namespace``."""
    exec(_bytecode(source), namespace)  # source generated from the parsed query (compile_query)
    function: Callable[..., None] = namespace["mapped"]
    return function


@lru_cache(maxsize=256)
def _compile_cached(query: str, base_iri: str) -> CompiledMapping:
    return compile_query(query, base_iri)


def compile_mapping(mapping: Mapping, base_iri: str) -> CompiledMapping:
    """The compiled form of a mapping (cached by query text); raises :class:`Unsupported`."""
    return _compile_cached(mapping.query, base_iri)
