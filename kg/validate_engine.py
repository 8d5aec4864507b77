"""SHACL validation behind one normalised result type, so engines can be swapped and compared.

Engines
-------
``"fast"`` (the build's engine, chosen by measurement, see ``benchmarks/validators.py``):
SHACL Core by the Rust ``shacl`` package (pwin/SHACL_Engine) on the shapes graph minus
its ``sh:sparql`` triples, plus every ``sh:sparql`` SELECT constraint evaluated by this
module as one SPARQL query per constraint (all focus nodes at once) on a pyoxigraph Store
(see :func:`_sparql_results`). ``"shacl"``: the same Rust engine for everything, its own
SHACL-SPARQL included: equally correct on our fixtures but ~20x slower at 200k triples
(its per-focus-node SPARQL grows super-linearly). ``validate_pyshacl``: the reference.

Normalisation (what makes result sets from two engines comparable)
-----------------------------------------------------------------
* Every blank-node *shape* (object of ``sh:property``/``sh:node``, or typed
  ``sh:NodeShape``/``sh:PropertyShape``) is skolemised before validation into the
  stable IRI ``<{parent}/shape/{path-local-name}-{hash8}>``, a content hash, so
  ``shape`` is the same across engines and runs and is prefixed by its named parent shape.
* ``path`` is rendered in SPARQL property-path syntax: ``<p>``, ``^<p>``, ``<p>/<q>``,
  ``(<p>|<q>)``, ``<p>*``, ``<p>+``, ``<p>?``.
* ``messages`` holds only messages the shape declares (``sh:message`` on the shape or on
  its ``sh:sparql`` constraint, after ``{?var}`` substitution), keyed by language tag
  (``""`` for none); engine-generated default messages are dropped.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyoxigraph as ox

SH = "http://www.w3.org/ns/shacl#"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
RDFS = "http://www.w3.org/2000/01/rdf-schema#"
XSD = "http://www.w3.org/2001/XMLSchema#"
ENGINES = ("fast", "shacl", "pyshacl")
_SPARQL = "SPARQLConstraintComponent"
_PATH_OPS = {
    "inversePath": "^{}",
    "zeroOrMorePath": "{}*",
    "oneOrMorePath": "{}+",
    "zeroOrOnePath": "{}?",
}


@dataclass(frozen=True)
class ValidationResult:
    """One SHACL validation result; every term is in N-Triples syntax."""

    focus_node: str
    path: str | None
    value: str | None
    severity: str
    component: str
    shape: str
    messages: dict[str, str] = field(default_factory=dict, hash=False, compare=False)

    def key(self) -> tuple[str, str | None, str | None, str, str, str]:
        """The comparable part of the result (everything except ``messages``)."""
        return (self.focus_node, self.path, self.value, self.severity, self.component, self.shape)


def _order(r: ValidationResult) -> tuple[str, ...]:
    return tuple(x or "" for x in r.key())


class _Graph:
    """A tiny subject-indexed view over a list of triples, for walking shapes and reports."""

    def __init__(self, triples: list[ox.Triple]) -> None:
        self.sp: dict[tuple[str, str], list] = defaultdict(list)
        self.po: dict[tuple[str, str], list] = defaultdict(list)
        for t in triples:
            self.sp[str(t.subject), t.predicate.value].append(t.object)
            self.po[t.predicate.value, str(t.object)].append(t.subject)

    def objs(self, s: object, p: str) -> list:
        return self.sp.get((str(s), p), [])

    def one(self, s: object, p: str):
        o = self.objs(s, p)
        return o[0] if o else None

    def items(self, head: object) -> list:
        out = []
        while head is not None and str(head) != f"<{RDF}nil>":
            out.append(self.one(head, RDF + "first"))
            head = self.one(head, RDF + "rest")
        return out

    def path(self, node: object) -> str:
        """Render a SHACL path node in SPARQL property-path syntax."""
        if isinstance(node, ox.NamedNode):
            return str(node)
        if self.one(node, RDF + "first") is not None:
            return "/".join(self._wrap(n) for n in self.items(node))
        if (alt := self.one(node, SH + "alternativePath")) is not None:
            return "(" + "|".join(self._wrap(n) for n in self.items(alt)) + ")"
        for op, fmt in _PATH_OPS.items():
            if (inner := self.one(node, SH + op)) is not None:
                return fmt.format(self._wrap(inner))
        return str(node)

    def _wrap(self, node: object) -> str:
        text = self.path(node)
        bare = isinstance(node, ox.NamedNode) or self.one(node, SH + "alternativePath")
        return text if bare else f"({text})"


def _parse(text: str, fmt: ox.RdfFormat) -> list[ox.Triple]:
    return [q.triple for q in ox.parse(text, format=fmt)]


def _nt(triples: list[ox.Triple]) -> str:
    return (ox.serialize(triples, format=ox.RdfFormat.N_TRIPLES) or b"").decode()


@lru_cache(maxsize=4)
def _skolemise(shapes_ttl: str) -> list[ox.Triple]:
    """Parse the shapes graph and give each blank-node shape a stable, content-derived IRI."""
    triples = _parse(shapes_ttl, ox.RdfFormat.TURTLE)
    g = _Graph(triples)
    shapes = set()
    for t in triples:
        if t.predicate.value in (SH + "property", SH + "node"):
            shapes.add(str(t.object))
        elif t.predicate.value == RDF + "type" and str(t.object).startswith(f"<{SH}"):
            shapes.add(str(t.subject))  # sh:NodeShape, sh:PropertyShape
    shapes = {s for s in shapes if s.startswith("_:")}
    names: dict[str, ox.NamedNode] = {}

    def content(node: object, depth: int = 0) -> str:
        if not isinstance(node, ox.BlankNode) or depth > 8:
            return str(node)
        pos = sorted(
            f"{p} {content(o, depth + 1)}" for (s, p), os_ in g.sp.items() if s == str(node) for o in os_
        )
        return "[" + ";".join(pos) + "]"

    def name(bnode: str) -> ox.NamedNode:
        if bnode not in names:
            names[bnode] = ox.NamedNode("urn:passerelles:shape")  # cycle guard
            parents = [
                s
                for (p, o), ss in g.po.items()
                if o == bnode and p in (SH + "property", SH + "node")
                for s in ss
            ]
            base = min(
                (name(str(s)).value if isinstance(s, ox.BlankNode) else s.value for s in parents),
                default="urn:passerelles:shape",
            )
            path = g.one(bnode, SH + "path")
            local = (
                re.split(r"[#/:]", path.value)[-1]
                if isinstance(path, ox.NamedNode)
                else ("path" if path is not None else "node")
            )
            digest = hashlib.sha1(content(ox.BlankNode(bnode[2:])).encode()).hexdigest()[:8]
            names[bnode] = ox.NamedNode(f"{base}/shape/{local}-{digest}")
        return names[bnode]

    def sub(term):
        return name(str(term)) if str(term) in shapes else term

    return [ox.Triple(sub(t.subject), t.predicate, sub(t.object)) for t in triples]


def _declares_message(shapes: _Graph, shape: str) -> bool:
    return bool(shapes.objs(shape, SH + "message")) or any(
        shapes.objs(c, SH + "message") for c in shapes.objs(shape, SH + "sparql")
    )


def _guess_lang(text: str, shapes: _Graph, shape: str) -> str:
    """Language of the declared ``sh:message`` template that renders to ``text``.

    pySHACL drops the language tag of substituted SHACL-SPARQL messages; this restores it.
    """
    declared = shapes.objs(shape, SH + "message") + [
        m for c in shapes.objs(shape, SH + "sparql") for m in shapes.objs(c, SH + "message")
    ]
    for m in declared:
        pattern = ".*".join(re.escape(part) for part in re.split(r"\{[?$]\w+\}", m.value))
        if m.language and re.fullmatch(pattern, text, re.S):
            return m.language
    return ""


def _from_report(report: _Graph, shapes: _Graph) -> list[ValidationResult]:
    """Normalise a SHACL validation-report graph (any engine) into ValidationResults."""
    out = []
    top = [o for (_, p), os_ in report.sp.items() if p == SH + "result" for o in os_]
    for r in top:  # sh:detail (nested) results are deliberately not reported
        shape = str(report.one(r, SH + "sourceShape"))
        path, value = report.one(r, SH + "resultPath"), report.one(r, SH + "value")
        msgs = {}
        if _declares_message(shapes, shape):
            msgs = {
                m.language or _guess_lang(m.value, shapes, shape): m.value
                for m in report.objs(r, SH + "resultMessage")
            }
        focus = str(report.one(r, SH + "focusNode"))
        if value is None and path is None:
            value = focus  # on a node shape the value node is the focus node (SHACL 2.3.2)
        out.append(
            ValidationResult(
                focus_node=focus,
                path=None if path is None else report.path(path),
                value=None if value is None else str(value),
                severity=report.one(r, SH + "resultSeverity").value.rsplit("#", 1)[-1],
                component=report.one(r, SH + "sourceConstraintComponent").value.rsplit("#", 1)[-1],
                shape=shape,
                messages=msgs,
            )
        )
    return sorted(out, key=_order)


def _prologue(shapes: _Graph, constraint: object) -> str:
    decls = {
        (str(shapes.one(d, SH + "prefix").value), shapes.one(d, SH + "namespace").value)
        for p in shapes.objs(constraint, SH + "prefixes")
        for d in shapes.objs(p, SH + "declare")
    }
    return "".join(f"PREFIX {p}: <{ns}>\n" for p, ns in sorted(decls))


def _active(shapes: _Graph, node: object) -> bool:
    return str(shapes.one(node, SH + "deactivated")) != f'"true"^^<{XSD}boolean>'


def _targets(shapes: _Graph, shape: object) -> list[str]:
    """SPARQL patterns binding ``?this`` to the shape's targets (class, node, subjects/objects of)."""
    if not _active(shapes, shape):
        return []
    classes = shapes.objs(shape, SH + "targetClass")
    nodes = " ".join(str(n) for n in shapes.objs(shape, SH + "targetNode"))
    subjects_of = shapes.objs(shape, SH + "targetSubjectsOf")
    objects_of = shapes.objs(shape, SH + "targetObjectsOf")
    return (
        [f"?this <{RDF}type>/<{RDFS}subClassOf>* {c} ." for c in classes]
        + ([f"VALUES ?this {{ {nodes} }}"] if nodes else [])
        + [f"?this {p} [] ." for p in subjects_of]
        + [f"[] {p} ?this ." for p in objects_of]
    )


_STRING_OR_VAR = re.compile(
    r'"""[\s\S]*?"""' + r"|'''[\s\S]*?'''" + r'|"(?:[^"\\]|\\.)*"' + r"|'(?:[^'\\]|\\.)*'" + r"|\$(\w+)"
)


def _dollar_to_question(query: str) -> str:
    """``$this`` → ``?this`` outside string literals (a regex may hold ``$``).

    >>> _dollar_to_question('SELECT $this WHERE { $this ?p ?v FILTER(REGEX(?v, "^a$")) }')
    'SELECT ?this WHERE { ?this ?p ?v FILTER(REGEX(?v, "^a$")) }'
    """
    return _STRING_OR_VAR.sub(lambda m: f"?{m[1]}" if m[1] else m[0], query)


def _sparql_results(store: ox.Store, shapes: _Graph, **query_options: object) -> list[ValidationResult]:
    """Evaluate every active ``sh:sparql`` SELECT constraint directly on ``store``.

    For each shape with ``sh:targetClass C`` / ``sh:targetNode n`` (or a property shape
    of such a shape; any other placement raises ValueError), the target pattern
    ``?this rdf:type/rdfs:subClassOf* C`` (or ``VALUES ?this {n}``), as a
    ``{ SELECT DISTINCT ?this WHERE { t1 UNION t2 } }`` sub-query, is inserted as the first
    element of the query's outermost ``{ }`` group after ``SELECT``, so one query covers all
    focus nodes: a join standing in for pre-binding ``$this``. ``$this`` must therefore not
    be used inside sub-SELECTs. ``$PATH`` is replaced by the property shape's path. Each
    solution becomes a result: value = ``?value`` (else the focus node for a node shape),
    path = the shape's path (else ``?path``), messages with ``{?var}``/``{$var}`` filled in.
    ``query_options`` go to ``Store.query`` (e.g. ``default_graph=`` a named graph).
    """
    out = []
    for (shape, p), constraints in list(shapes.sp.items()):
        if p != SH + "sparql" or not _active(shapes, shape):
            continue
        targets = _targets(shapes, shape)
        if not targets:  # a property shape: its focus nodes are its parent's (one level)
            parents = shapes.po.get((SH + "property", shape), [])
            targets = [t for p_ in parents for t in _targets(shapes, p_)]
        if not targets:
            raise ValueError(f"sh:sparql on untargeted shape {shape}: use engine='shacl'")
        union = " UNION ".join(f"{{ {t} }}" for t in targets)
        if all(t.startswith(("?this <", "[] ")) and "subClassOf" not in t for t in targets):
            # Broad targets (subjects/objects of a property): filter the body's matches rather
            # than enumerate every focus node first (the NIR guard: 8 s instead of 13 s).
            focus = f"FILTER EXISTS {{ {union} }}"
        else:
            focus = f"{{ SELECT DISTINCT ?this WHERE {{ {union} }} }}"
        spath = shapes.one(shape, SH + "path")
        path_text = None if spath is None else shapes.path(spath)
        severity = shapes.one(shape, SH + "severity")
        for c in constraints:
            select = shapes.one(c, SH + "select")
            if select is None or not _active(shapes, c):
                continue
            query = select.value.replace("$PATH", path_text or "$PATH")
            query = _dollar_to_question(query)
            select_kw = re.search(r"\bSELECT\b", query, re.I)
            if select_kw is None:
                raise ValueError(f"sh:select of {shape} has no SELECT")
            brace = query.index("{", select_kw.end())
            q = _prologue(shapes, c) + query[: brace + 1] + focus + query[brace + 1 :]
            solutions = store.query(q, **query_options)  # type: ignore[arg-type]
            assert isinstance(solutions, ox.QuerySolutions)
            for sol in solutions:
                b = {k: _get(sol, k) for k in ("this", "value", "path")}
                b = {k: v for k, v in b.items() if v is not None}
                msgs = {
                    m.language or "": re.sub(
                        r"\{[?$](\w+)\}",
                        lambda mm, s=sol: str(getattr(_get(s, mm.group(1)), "value", "")),  # type: ignore[misc]
                        m.value,
                    )
                    for m in shapes.objs(c, SH + "message")
                }
                value = b.get("value", b["this"] if path_text is None else None)
                rpath = path_text or (str(b["path"]) if "path" in b else None)
                sev = severity.value.rsplit("#", 1)[-1] if severity else "Violation"
                val = None if value is None else str(value)
                out.append(ValidationResult(str(b["this"]), rpath, val, sev, _SPARQL, shape, msgs))
    return out


def _get(sol: ox.QuerySolution, var: str):
    try:
        return sol[var]
    except (KeyError, IndexError):
        return None


def _strip_sparql(triples: list[ox.Triple]) -> list[ox.Triple]:
    return [t for t in triples if t.predicate.value != SH + "sparql"]


def validate_ntriples(data_nt: str, shapes_ttl: str, engine: str = "fast") -> list[ValidationResult]:
    """Validate an N-Triples data graph against a Turtle shapes graph.

    ``engine`` is ``"fast"`` (Rust ``shacl`` for Core, ``sh:sparql`` run on pyoxigraph)
    or ``"shacl"`` (Rust ``shacl`` for everything; slow on SHACL-SPARQL at scale) or
    ``"pyshacl"`` (the reference, :func:`validate_pyshacl`; slow).
    Targets match ``rdf:type`` plus the data graph's own ``rdfs:subClassOf`` triples only.

    >>> shapes = ('@prefix sh: <http://www.w3.org/ns/shacl#> . @prefix ex: <http://ex/> . '
    ...           'ex:S a sh:NodeShape ; sh:targetClass ex:C ; '
    ...           'sh:property [ sh:path ex:p ; sh:minCount 1 ] .')
    >>> [r] = validate_ntriples('<http://ex/a> <http://www.w3.org/1999/02/22-rdf-syntax-ns#type> '
    ...                         '<http://ex/C> .', shapes)
    >>> r.focus_node, r.path, r.component, r.severity
    ('<http://ex/a>', '<http://ex/p>', 'MinCountConstraintComponent', 'Violation')
    >>> r.shape.startswith('<http://ex/S/shape/p-')
    True
    """
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.nt"
        path.write_text(data_nt, encoding="utf-8")
        return validate_file(path, shapes_ttl, engine)


def validate_file(
    path: Path, shapes_ttl: str, engine: str = "fast", sparql_store: ox.Store | None = None
) -> list[ValidationResult]:
    """:func:`validate_ntriples` on an N-Triples file: the data never becomes a Python string
    (the build validates a few hundred MB this way). With ``sparql_store`` (whose default
    graph holds the same triples), the SHACL-SPARQL constraints query it in place instead of
    a fresh in-memory copy of the file."""
    results = validate_core_file(path, shapes_ttl, engine)
    if engine != "fast":
        return results
    if sparql_store is not None:
        return sorted(results + validate_sparql_store(sparql_store, shapes_ttl), key=_order)
    store = ox.Store()
    store.bulk_load(path=path, format=ox.RdfFormat.N_TRIPLES)
    results = sorted(results + validate_sparql_store(store, shapes_ttl), key=_order)
    del store
    return results


def validate_core_file(path: Path, shapes_ttl: str, engine: str = "fast") -> list[ValidationResult]:
    """The part of :func:`validate_file` that reads the file: SHACL Core for ``fast`` (the Rust
    validator releases the GIL, so it can run in a thread beside other work), everything
    for the other engines."""
    import shacl

    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; expected one of {ENGINES}")
    if engine == "pyshacl":
        return validate_pyshacl(path.read_text(encoding="utf-8"), shapes_ttl)
    triples = _skolemise(shapes_ttl)
    core = _strip_sparql(triples) if engine == "fast" else triples
    report = shacl.Shapes.from_text(_nt(core), format="ntriples").validate_file(str(path))
    return _from_report(_Graph(_parse(report.serialize("ntriples"), ox.RdfFormat.N_TRIPLES)), _Graph(triples))


def validate_sparql_store(store: ox.Store, shapes_ttl: str) -> list[ValidationResult]:
    """The SHACL-SPARQL constraints of the ``fast`` engine, evaluated on ``store``'s default graph."""
    return _sparql_results(store, _Graph(_skolemise(shapes_ttl)))


@lru_cache(maxsize=4)
def _rdflib_shapes(shapes_ttl: str) -> Any:
    from rdflib import Graph

    return Graph().parse(data=_nt(_skolemise(shapes_ttl)), format="nt")


def validate_pyshacl(data_nt: str, shapes_ttl: str) -> list[ValidationResult]:
    """Validate with pySHACL (the reference), normalised exactly like :func:`validate_ntriples`.

    No inference (``inference="none"``), SHACL-SPARQL enabled (``advanced=True``).
    """
    import pyshacl
    from rdflib import Graph

    triples = _skolemise(shapes_ttl)
    data = Graph().parse(data=data_nt, format="nt")
    shapes_graph = _rdflib_shapes(shapes_ttl)
    _, report, _ = pyshacl.validate(
        data, shacl_graph=shapes_graph, inference="none", advanced=True, allow_warnings=True
    )
    return _from_report(
        _Graph(_parse(report.serialize(format="nt"), ox.RdfFormat.N_TRIPLES)), _Graph(triples)
    )
