"""Post-load derivations: declarative CONSTRUCT rules over the loaded source graphs.

Some links need another source's data: a VAE relay point's commune comes from its address
(postcode and town) matched against the communes the territory sources loaded. Such a link is
a rule in ``mappings/derive/*.rq``, run after every source graph is loaded and before the
published union is written::

    #+ source: vae-relays
    #+ summary: VAE relay point → commune, from the postcode and the town of its address
    CONSTRUCT { ?relay pas:commune ?commune } WHERE { ... }

``#+ source:`` names the source whose named graph receives the derived triples: they are
appended to that source's spool too, so they are validated, quarantined with their entity and
published like the source's own triples. Rules see the union of the named graphs as their
default graph (a rule may also use ``GRAPH`` patterns) and run in file-name order, each seeing
what the previous ones derived. A rule whose source is not in the build is not run. Derived
triples carry no ``pas:sourceRow`` marker: they do not change the record counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pyoxigraph as ox

from kg.config import PROJECT_ROOT
from kg.errors import SourceError
from kg.namespaces import sparql_prologue

DERIVE_DIR = PROJECT_ROOT / "mappings" / "derive"
_HEADER = re.compile(r"#\+\s*([\w-]+)\s*:\s*(.*)$")


@dataclass(frozen=True)
class Rule:
    """A derivation rule: its file, the source receiving its triples, and its query."""

    path: Path
    source: str
    summary: str
    query: str

    @classmethod
    def load(cls, path: Path) -> Rule:
        """Parse a rule file's ``#+ source:`` and ``#+ summary:`` headers and its query.

        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "r.rq"
        >>> _ = p.write_text("#+ source: vae-relays\\nCONSTRUCT { ?s ?p ?o } WHERE { ?s ?p ?o }")
        >>> Rule.load(p).source
        'vae-relays'
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
        return cls(path, headers["source"], headers.get("summary", ""), query)


def load_rules(directory: Path = DERIVE_DIR) -> list[Rule]:
    """Every rule of ``directory``, in file-name order."""
    return [Rule.load(p) for p in sorted(directory.glob("*.rq"))]


def run_rule(store: ox.Store, rule: Rule, base_iri: str) -> bytes:
    """The N-Triples a rule derives from the union of the store's named graphs.

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
    try:
        result = store.query(sparql_prologue(base_iri) + rule.query, use_default_graph_as_union=True)
    except SyntaxError as exc:
        raise SourceError(rule.path, None, None, f"derivation rule does not parse: {exc}") from None
    assert isinstance(result, ox.QueryTriples)
    return result.serialize(format=ox.RdfFormat.N_TRIPLES) or b""


def derive(
    store: ox.Store,
    base_iri: str,
    targets: dict[str, tuple[ox.NamedNode, Path]],
    rules: list[Rule] | None = None,
) -> dict[str, int]:
    """Run the rules whose source is in ``targets`` (source name → its named graph and its
    N-Triples spool); add each rule's triples to that graph and spool. Returns the number of
    triples each rule derived, by rule file name."""
    counts: dict[str, int] = {}
    for rule in load_rules() if rules is None else rules:
        if rule.source not in targets:
            continue
        graph, spool = targets[rule.source]
        data = run_rule(store, rule, base_iri)
        counts[rule.path.name] = data.count(b"\n")
        if data:
            store.load(data, format=ox.RdfFormat.N_TRIPLES, to_graph=graph)
            with spool.open("ab") as out:
                out.write(data)
    return counts
