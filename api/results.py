r"""Running one read-only query on a pyoxigraph store and writing its results in a chosen format.

Everything here is a plain function of its arguments so that it runs the same in a worker
process (:mod:`api.executor`) and in the calling thread. A query produces an :class:`Answer`
(media type + bytes) or an error :class:`Refusal` naming the limit or the fault.

>>> s = ox.Store()
>>> s.add(ox.Quad(ox.NamedNode("http://a"), ox.NamedNode("http://p"), ox.Literal("x,y")))
>>> job = Job("SELECT ?o WHERE { ?s ?p ?o }", select_format="csv", cap=10)
>>> execute(s, job).body
b'o\r\n"x,y"\r\n'
>>> execute(s, Job("ASK { ?s ?p 'nope' }", select_format="tsv", cap=10)).body
b'?_askResult\nfalse\n'
>>> execute(s, Job("SELECT * WHERE { ?s ?p ?o }", cap=0)).kind
'result-cap'
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import pyoxigraph as ox

XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"

# Result formats: short name (the ``format`` parameter) → media type.
SELECT_FORMATS: dict[str, str] = {
    "json": "application/sparql-results+json",
    "xml": "application/sparql-results+xml",
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
}
GRAPH_FORMATS: dict[str, str] = {
    "ttl": "text/turtle",
    "nt": "application/n-triples",
    "jsonld": "application/ld+json",
    "rdfxml": "application/rdf+xml",
}
RESULTS_FORMAT: dict[str, ox.QueryResultsFormat] = {
    "json": ox.QueryResultsFormat.JSON,
    "xml": ox.QueryResultsFormat.XML,
    "csv": ox.QueryResultsFormat.CSV,
    "tsv": ox.QueryResultsFormat.TSV,
}
RDF_FORMAT: dict[str, ox.RdfFormat] = {
    "ttl": ox.RdfFormat.TURTLE,
    "nt": ox.RdfFormat.N_TRIPLES,
    "jsonld": ox.RdfFormat.JSON_LD,
    "rdfxml": ox.RdfFormat.RDF_XML,
}


@dataclass(frozen=True)
class Job:
    """One query to run, with the result formats the client accepts for each query form."""

    query: str
    select_format: str = "json"  # for SELECT and ASK
    graph_format: str = "ttl"  # for CONSTRUCT and DESCRIBE
    cap: int = 10_000
    prefixes: dict[str, str] | None = None
    default_graph: tuple[str, ...] | None = None  # protocol ``default-graph-uri``
    named_graphs: tuple[str, ...] | None = None  # protocol ``named-graph-uri``
    substitutions: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # var → (kind, value, extra)


@dataclass(frozen=True)
class Answer:
    """A result document."""

    media_type: str
    body: bytes
    rows: int


@dataclass(frozen=True)
class Refusal:
    """The query did not give a result: ``kind`` is ``syntax``, ``result-cap`` or ``error``."""

    kind: str
    detail: str


def term_from(kind: str, value: str, extra: str) -> ox.NamedNode | ox.Literal:
    """An RDF term from a picklable triple: ``("iri", iri, "")`` or ``("literal", text, datatype)``."""
    if kind == "iri":
        return ox.NamedNode(value)
    return ox.Literal(value, datatype=ox.NamedNode(extra)) if extra else ox.Literal(value)


def _json_term(term: Any) -> dict[str, str]:
    if isinstance(term, ox.NamedNode):
        return {"type": "uri", "value": term.value}
    if isinstance(term, ox.BlankNode):
        return {"type": "bnode", "value": term.value}
    if isinstance(term, ox.Literal):
        out = {"type": "literal", "value": term.value}
        if term.language:
            out["xml:lang"] = term.language
        elif term.datatype.value != XSD_STRING:
            out["datatype"] = term.datatype.value
        return out
    return {"type": "triple", "value": str(term)}


def _xml_term(term: Any) -> str:
    if isinstance(term, ox.NamedNode):
        return f"<uri>{escape(term.value)}</uri>"
    if isinstance(term, ox.BlankNode):
        return f"<bnode>{escape(term.value)}</bnode>"
    if isinstance(term, ox.Literal):
        if term.language:
            return f"<literal xml:lang={quoteattr(term.language)}>{escape(term.value)}</literal>"
        if term.datatype.value != XSD_STRING:
            return f"<literal datatype={quoteattr(term.datatype.value)}>{escape(term.value)}</literal>"
        return f"<literal>{escape(term.value)}</literal>"
    return f"<literal>{escape(str(term))}</literal>"


def _csv_cell(term: Any) -> str:
    if term is None:
        return ""
    text = term.value if isinstance(term, ox.NamedNode | ox.Literal) else str(term)
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def _tsv_cell(term: Any) -> str:
    if term is None:
        return ""
    # N-Triples form (str of a pyoxigraph term) escapes tabs and newlines inside literals.
    return str(term)


def write_select(variables: list[str], rows: list[list[Any]], fmt: str) -> bytes:
    """SELECT results (each row a list of terms or None, in ``variables`` order) in ``fmt``."""
    if fmt == "json":
        bindings = [
            {v: _json_term(t) for v, t in zip(variables, row, strict=True) if t is not None} for row in rows
        ]
        body = {"head": {"vars": variables}, "results": {"bindings": bindings}}
        return json.dumps(body, ensure_ascii=False).encode()
    if fmt == "xml":
        out = ['<?xml version="1.0"?>\n<sparql xmlns="http://www.w3.org/2005/sparql-results#">\n<head>']
        out += [f"<variable name={quoteattr(v)}/>" for v in variables]
        out.append("</head>\n<results>")
        for row in rows:
            out.append("<result>")
            out += [
                f"<binding name={quoteattr(v)}>{_xml_term(t)}</binding>"
                for v, t in zip(variables, row, strict=True)
                if t is not None
            ]
            out.append("</result>")
        out.append("</results>\n</sparql>\n")
        return "\n".join(out).encode()
    if fmt == "csv":
        lines = [",".join(variables)] + [",".join(_csv_cell(t) for t in row) for row in rows]
        return ("\r\n".join(lines) + "\r\n").encode()
    if fmt == "tsv":
        lines = ["\t".join("?" + v for v in variables)] + [
            "\t".join(_tsv_cell(t) for t in row) for row in rows
        ]
        return ("\n".join(lines) + "\n").encode()
    raise ValueError(f"unknown SELECT result format {fmt!r}")


def write_ask(value: bool, fmt: str) -> bytes:
    """An ASK result in ``fmt``."""
    text = "true" if value else "false"
    if fmt == "json":
        return json.dumps({"head": {}, "boolean": value}).encode()
    if fmt == "xml":
        return (
            '<?xml version="1.0"?>\n<sparql xmlns="http://www.w3.org/2005/sparql-results#">\n'
            f"<head/>\n<boolean>{text}</boolean>\n</sparql>\n"
        ).encode()
    if fmt == "csv":
        return f"_askResult\r\n{text}\r\n".encode()
    return f"?_askResult\n{text}\n".encode()


# A query's prologue (comments, PREFIX and BASE declarations), and the prefixes it declares.
_PROLOGUE = re.compile(r"(?:\s*(?:#[^\n]*\n|PREFIX\s+[\w.-]*:\s*<[^>]*>|BASE\s*<[^>]*>))*", re.IGNORECASE)
_DECLARED = re.compile(r"#[^\n]*\n|PREFIX\s+([\w.-]*):", re.IGNORECASE)


def query_prefixes(query: str, prefixes: dict[str, str] | None) -> dict[str, str] | None:
    r"""The predeclared ``prefixes`` the query can use: those its own prologue does not declare and
    whose ``name:`` appears after it. pyoxigraph reads and checks every prefix given on every query
    (~45 µs for the project's 16, more than parsing ``ASK {}``); a query written out with its
    prologue, or using two of them, needs none or two.

    >>> sorted(query_prefixes("PREFIX pas: <http://x#>\nSELECT * { ?s pas:a ?o ; skos:b ?c }",
    ...                       {"pas": "http://p#", "skos": "http://s#", "xsd": "http://x#"}))
    ['skos']

    A codepoint escape could spell a name: then all are given.
    """
    if not prefixes or "\\u" in query or "\\U" in query:
        return prefixes
    end = _PROLOGUE.match(query)
    split = end.end() if end else 0
    declared = {name for name in _DECLARED.findall(query, 0, split) if name}
    rest = query[split:]
    return {name: iri for name, iri in prefixes.items() if name not in declared and name + ":" in rest}


def execute(store: ox.Store, job: Job) -> Answer | Refusal:
    """Run ``job`` on ``store``; never raises for a bad query (a :class:`Refusal` says why).

    pyoxigraph results must be dropped on the thread that made them: they are consumed here
    and only plain bytes leave.
    """
    kwargs: dict[str, Any] = {"prefixes": query_prefixes(job.query, job.prefixes)}
    if job.default_graph is not None:
        kwargs["default_graph"] = [ox.NamedNode(g) for g in job.default_graph]
    if job.named_graphs is not None:
        kwargs["named_graphs"] = [ox.NamedNode(g) for g in job.named_graphs]
    if job.substitutions:
        kwargs["substitutions"] = {ox.Variable(k): term_from(*v) for k, v in job.substitutions.items()}
    try:
        result = store.query(job.query, **kwargs)
    except SyntaxError as exc:
        return Refusal("syntax", str(exc))
    except Exception as exc:  # a worker must survive any query: the error goes back to the client
        return Refusal("error", f"{type(exc).__name__}: {exc}")
    try:
        return _consume(result, job)
    except Exception as exc:  # evaluation errors surface while iterating
        return Refusal("error", f"{type(exc).__name__}: {exc}")


def consume(result: Any, job: Job) -> Answer | Refusal:
    """Write a query result (pyoxigraph solutions, boolean or triples, from the store or parsed
    from a remote endpoint's answer) in the job's format, within its row cap."""
    return _consume(result, job)


def _consume(result: Any, job: Job) -> Answer | Refusal:
    select = isinstance(result, ox.QueryBoolean | ox.QuerySolutions)
    if (select and not job.select_format) or (not select and not job.graph_format):
        offered = SELECT_FORMATS if select else GRAPH_FORMATS
        return Refusal(
            "not-acceptable",
            f"no acceptable format for this query form: it can answer {', '.join(offered.values())}",
        )
    if isinstance(result, ox.QueryBoolean):
        return Answer(SELECT_FORMATS[job.select_format], write_ask(bool(result), job.select_format), 1)
    if isinstance(result, ox.QuerySolutions):
        # pyoxigraph writes the rows (no Python object per row or term): first as TSV, one line
        # per row (N-Triples escaping keeps line breaks out of terms), counted as they are written
        # so that the row cap stops the work; then, losslessly, in the format asked for.
        tsv = _capped(result, ox.QueryResultsFormat.TSV, job.cap + 1)
        if tsv is None:
            return _over(job.cap)
        rows = tsv.count(b"\n") - 1
        if job.select_format != "tsv":
            parsed = ox.parse_query_results(tsv, format=ox.QueryResultsFormat.TSV)
            tsv = parsed.serialize(format=RESULTS_FORMAT[job.select_format]) or b""
        return Answer(SELECT_FORMATS[job.select_format], tsv, rows)
    prefixes = job.prefixes if job.graph_format in ("ttl", "rdfxml") else None
    if isinstance(result, ox.QueryTriples):
        nt = _capped(result, ox.RdfFormat.N_TRIPLES, job.cap)  # one triple per line
        if nt is None:
            return _over(job.cap)
        count = nt.count(b"\n")
        if job.graph_format != "nt":
            quads = ox.parse(nt, format=ox.RdfFormat.N_TRIPLES)
            nt = ox.serialize(quads, format=RDF_FORMAT[job.graph_format], prefixes=prefixes) or b""
        return Answer(GRAPH_FORMATS[job.graph_format], nt, count)
    triples: list[ox.Triple] = []  # triples parsed from a remote endpoint's answer
    for triple in result:
        if len(triples) >= job.cap:
            return _over(job.cap)
        triples.append(triple)
    body = ox.serialize(triples, format=RDF_FORMAT[job.graph_format], prefixes=prefixes) or b""
    return Answer(GRAPH_FORMATS[job.graph_format], body, len(triples))


class _OverCap(Exception):
    """Raised by :class:`_LineSink` past its line budget: it stops pyoxigraph's serialiser."""


class _LineSink:
    """A binary write target that keeps what pyoxigraph writes and counts its lines."""

    def __init__(self, max_lines: int) -> None:
        self.parts: list[bytes] = []
        self.lines = 0
        self.max_lines = max_lines

    def write(self, chunk: bytes) -> int:
        self.lines += chunk.count(b"\n")
        if self.lines > self.max_lines:
            raise _OverCap
        self.parts.append(bytes(chunk))
        return len(chunk)

    def flush(self) -> None:
        pass


def _capped(result: Any, fmt: Any, max_lines: int) -> bytes | None:
    """``result`` serialised in a line-per-item format, or None past ``max_lines`` lines."""
    sink = _LineSink(max_lines)
    try:
        result.serialize(sink, format=fmt)
    except (_OverCap, OSError):
        if sink.lines > sink.max_lines:
            return None
        raise
    return b"".join(sink.parts)


def _over(cap: int) -> Refusal:
    return Refusal(
        "result-cap",
        f"the result has more than {cap} rows (the result-row cap): add a LIMIT or narrow the query",
    )
