"""Post-load derivations: declarative CONSTRUCT rules over the loaded source graphs.

Some links need another source's data: a VAE relay point's commune comes from its address
(postcode and town) matched against the communes the territory sources loaded. Such a link is
a rule in ``mappings/derive/*.rq``, run after every source graph is loaded and before the
published union is written::

    #+ source: vae-relays
    #+ reads: cog-communes laposte-codes-postaux
    #+ summary: VAE relay point → commune, from the postcode and the town of its address
    CONSTRUCT { ?relay pas:commune ?commune } WHERE { ... }

``#+ source:`` names the source (or several, space separated) whose named graph receives the
derived triples: they are appended to that source's spool too, so they are validated,
quarantined with their entity and published like the source's own triples. Rules see the union
of the named graphs as their default graph (a rule may also use ``GRAPH`` patterns; the
variable ``?source_graph`` is bound to the receiving source's graph, so that a rule listing
several sources repairs each one's own entities) and run in file-name order, each seeing what
the previous ones derived. A rule whose sources are not in the build is not run. Derived
triples carry no ``pas:sourceRow`` marker: they do not change the record counts.

``#+ replaces: pas:commune`` (predicates, space separated): for each subject the rule derives
such a predicate for, the subject's other values of it in the source's graph (and spool) are
removed — a repair (a cited former code → the current commune) rather than an addition.

``#+ reads: SOURCE ...`` declares the sources the rule's WHERE reads besides its own: an
update of one of them (``kg build --only``) re-reads the rule's sources so that the rule runs
again (see :mod:`kg.update`). A rule without ``#+ reads:`` is taken to read every source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox

from kg.config import PROJECT_ROOT
from kg.errors import SourceError
from kg.namespaces import prefixes_for, sparql_prologue

DERIVE_DIR = PROJECT_ROOT / "mappings" / "derive"
_HEADER = re.compile(r"#\+\s*([\w-]+)\s*:\s*(.*)$")


@dataclass(frozen=True)
class Rule:
    """A derivation rule: its file, the sources receiving its triples, and its query."""

    path: Path
    sources: tuple[str, ...]
    summary: str
    query: str
    replaces: tuple[str, ...] = ()  # predicates (prefixed names or <IRI>) the rule repairs
    reads: tuple[str, ...] | None = None  # None: every source

    @property
    def source(self) -> str:
        """The first receiving source."""
        return self.sources[0]

    def depends_on(self, name: str) -> bool:
        """Whether an update of source ``name`` calls for this rule to run again.

        >>> Rule(Path("r.rq"), ("a",), "", "", reads=("b",)).depends_on("b")
        True
        >>> Rule(Path("r.rq"), ("a",), "", "", reads=("b",)).depends_on("c")
        False
        >>> Rule(Path("r.rq"), ("a",), "", "").depends_on("c")
        True
        """
        return self.reads is None or name in self.reads or name in self.sources

    @classmethod
    def load(cls, path: Path) -> Rule:
        """Parse a rule file's ``#+ source:``, ``#+ summary:``, ``#+ replaces:`` and ``#+ reads:``
        headers and its query.

        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "r.rq"
        >>> text = "#+ source: vae-relays cfa\\n#+ reads: cog\\nCONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }"
        >>> _ = p.write_text(text)
        >>> rule = Rule.load(p); rule.source, rule.sources, rule.reads
        ('vae-relays', ('vae-relays', 'cfa'), ('cog',))
        """
        headers: dict[str, str] = {}
        body: list[str] = []
        for line in path.read_text(encoding="utf-8").splitlines():
            match = _HEADER.match(line)
            if match:
                headers[match[1]] = match[2].strip()
            else:
                body.append(line)
        if not headers.get("source"):
            raise SourceError(path, None, "source", "a derivation rule needs a '#+ source: NAME' header")
        query = "\n".join(body)
        if not re.search(r"\bCONSTRUCT\b", query, re.IGNORECASE):
            raise SourceError(path, None, None, "a derivation rule is a CONSTRUCT query")
        reads = tuple(headers["reads"].split()) if "reads" in headers else None
        return cls(
            path,
            tuple(headers["source"].split()),
            headers.get("summary", ""),
            query,
            tuple(headers.get("replaces", "").split()),
            reads,
        )


def load_rules(directory: Path = DERIVE_DIR) -> list[Rule]:
    """Every rule of ``directory``, in file-name order."""
    return [Rule.load(p) for p in sorted(directory.glob("*.rq"))]


_WHERE = re.compile(r"\bWHERE\s*\{", re.IGNORECASE)


def run_rule(store: ox.Store, rule: Rule, base_iri: str, graph: ox.NamedNode | None = None) -> bytes:
    """The N-Triples a rule derives from the union of the store's named graphs (``?source_graph``
    bound to ``graph``, the receiving source's graph, when given).

    >>> import tempfile
    >>> store = ox.Store()
    >>> g = ox.NamedNode("https://x.org/graph/a/1")
    >>> store.add(ox.Quad(ox.NamedNode("https://x.org/id/a"), ox.NamedNode("https://x.org/p"),
    ...                   ox.Literal("v"), g))
    >>> p = Path(tempfile.mkdtemp()) / "r.rq"
    >>> _ = p.write_text("#+ source: a\\nCONSTRUCT { ?s rdfs:label ?o } WHERE { ?s <https://x.org/p> ?o }")
    >>> run_rule(store, Rule.load(p), "https://x.org/").decode().strip()
    '<https://x.org/id/a> <http://www.w3.org/2000/01/rdf-schema#label> "v" .'
    """
    query = sparql_prologue(base_iri) + rule.query
    if graph is not None and "?source_graph" in query:
        # Our own graph IRI (not user input), as a one-row VALUES block: pyoxigraph's
        # substitutions do not apply to CONSTRUCT queries.
        # Into the innermost group that uses it (a sub-select does not see outer bindings).
        first = query.index("?source_graph")
        cut = None
        for match in _WHERE.finditer(query, 0, first):
            cut = match
        if cut is not None:
            query = f"{query[: cut.end()]} VALUES ?source_graph {{ <{graph.value}> }} {query[cut.end() :]}"
    try:
        result = store.query(query, use_default_graph_as_union=True)
    except SyntaxError as exc:
        raise SourceError(rule.path, None, None, f"derivation rule does not parse: {exc}") from None
    assert isinstance(result, ox.QueryTriples)
    return result.serialize(format=ox.RdfFormat.N_TRIPLES) or b""


def _predicate(name: str, base_iri: str, path: Path) -> bytes:
    """A ``#+ replaces:`` predicate as N-Triples (``pas:commune`` → ``<...#commune>``)."""
    if name.startswith("<") and name.endswith(">"):
        return name.encode()
    prefix, _, local = name.partition(":")
    prefixes = prefixes_for(base_iri)
    if prefix not in prefixes:
        raise SourceError(path, None, "replaces", f"unknown prefix in {name!r}")
    return f"<{prefixes[prefix]}{local}>".encode()


def _replace(
    store: ox.Store, graph: ox.NamedNode, spool: Path, data: bytes, predicates: set[bytes]
) -> set[bytes]:
    """Remove from ``graph`` and ``spool`` the other values of the repaired (subject, predicate)
    pairs of ``data``; return the N-Triples lines removed."""
    derived = set(data.splitlines())
    pairs: set[tuple[bytes, bytes]] = set()
    for line in derived:
        parts = line.split(b" ", 2)
        if len(parts) == 3 and parts[1] in predicates:
            pairs.add((parts[0], parts[1]))
    if not pairs:
        return set()
    removed: set[bytes] = set()
    for subject, predicate in pairs:
        s = ox.NamedNode(subject[1:-1].decode()) if subject.startswith(b"<") else None
        if s is None:
            continue
        p = ox.NamedNode(predicate[1:-1].decode())
        for quad in list(store.quads_for_pattern(s, p, None, graph)):
            line = f"{quad.subject} {quad.predicate} {quad.object} .".encode()
            if line not in derived:
                store.remove(quad)
                removed.add(line)
    if removed and spool.is_file():
        kept = spool.with_suffix(".kept")
        with spool.open("rb") as source, kept.open("wb") as out:
            for line in source:
                if line.rstrip(b"\n") not in removed:
                    out.write(line)
        kept.replace(spool)
    return removed


def derive(
    store: ox.Store,
    base_iri: str,
    targets: dict[str, tuple[ox.NamedNode, Path]],
    rules: list[Rule] | None = None,
    removed: set[bytes] | None = None,
) -> dict[str, int]:
    """Run the rules for their sources in ``targets`` (source name → its named graph and its
    N-Triples spool); add each rule's triples to that graph and spool (and remove what a
    ``#+ replaces:`` rule repairs, adding those lines to ``removed`` when given). Returns the
    number of triples each rule derived, by rule file name."""
    counts: dict[str, int] = {}
    for rule in load_rules() if rules is None else rules:
        for name in rule.sources:
            if name not in targets:
                continue
            graph, spool = targets[name]
            data = run_rule(store, rule, base_iri, graph)
            counts[rule.path.name] = counts.get(rule.path.name, 0) + data.count(b"\n")
            if not data:
                continue
            if rule.replaces:
                predicates = {_predicate(p, base_iri, rule.path) for p in rule.replaces}
                gone = _replace(store, graph, spool, data, predicates)
                if removed is not None:
                    removed |= gone
            store.load(data, format=ox.RdfFormat.N_TRIPLES, to_graph=graph)
            with spool.open("ab") as out:
                out.write(data)
    return counts
