"""Measure the SHACL validators we could use for the full build, and check they agree.

Usage::

    python benchmarks/validators.py                    # 200k and 1M triples
    python benchmarks/validators.py --sizes 200000     # one size
    python benchmarks/validators.py --features         # feature matrix over the fixtures

A synthetic graph resembling ours (classes with a patterned code, a language-tagged
label, an ``sh:class`` link, an ``xsd:boolean``; about 1 % of entities broken) is
generated into a named graph of a pyoxigraph Store. Validated with 4 NodeShapes,
12 property shapes and 2 SHACL-SPARQL constraints (duplicate code, NIR key).
"agrees" compares the normalised result sets (kg.validate_engine) with pySHACL's.
"""

from __future__ import annotations

import argparse
import pathlib
import random
import sys
import time

import pyoxigraph as ox

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from kg import validate_engine as ve

EX = "https://w3id.org/passerelles/ontology#"
ID = "https://example.org/id/"
GRAPH = ox.NamedNode("https://example.org/graph/bench")
XSD = "http://www.w3.org/2001/XMLSchema#"

SHAPES = """
@prefix pas: <https://w3id.org/passerelles/ontology#> .
@prefix sh: <http://www.w3.org/ns/shacl#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
pas: sh:declare
  [ sh:prefix "pas" ; sh:namespace "https://w3id.org/passerelles/ontology#"^^xsd:anyURI ] ,
                [ sh:prefix "xsd" ; sh:namespace "http://www.w3.org/2001/XMLSchema#"^^xsd:anyURI ] .
pas:FormationShape a sh:NodeShape ; sh:targetClass pas:Formation ;
  sh:property [ sh:path pas:code ; sh:minCount 1 ; sh:maxCount 1 ; sh:pattern "^F[0-9]{6}$" ;
                sh:message "Code formation invalide"@fr , "Invalid course code"@en ] ;
  sh:property [ sh:path rdfs:label ; sh:minCount 1 ; sh:languageIn ( "fr" "en" ) ;
                sh:uniqueLang true ] ;
  sh:property [ sh:path pas:organisme ; sh:minCount 1 ; sh:class pas:Organisme ] ;
  sh:property [ sh:path pas:actif ; sh:datatype xsd:boolean ; sh:severity sh:Warning ] ;
  sh:sparql [ sh:message "Code {?value} dupliqué"@fr ; sh:prefixes pas: ;
    sh:select \"\"\"SELECT $this ?value WHERE { $this pas:code ?value .
      ?o pas:code ?value . FILTER (?o != $this) }\"\"\" ] .
pas:OrganismeShape a sh:NodeShape ; sh:targetClass pas:Organisme ;
  sh:property [ sh:path pas:siret ; sh:minCount 1 ; sh:pattern "^[0-9]{14}$" ] ;
  sh:property [ sh:path rdfs:label ; sh:minCount 1 ;
                sh:datatype <http://www.w3.org/1999/02/22-rdf-syntax-ns#langString> ] ;
  sh:property [ sh:path pas:actif ; sh:datatype xsd:boolean ] .
pas:MetierShape a sh:NodeShape ; sh:targetClass pas:Metier ;
  sh:property [ sh:path pas:code ; sh:pattern "^[A-N][0-9]{4}$" ; sh:flags "i" ] ;
  sh:property [ sh:path rdfs:label ; sh:languageIn ( "fr" ) ] ;
  sh:property [ sh:path pas:domaine ; sh:class pas:Domaine ; sh:nodeKind sh:IRI ] .
pas:PersonneShape a sh:NodeShape ; sh:targetClass pas:Personne ;
  sh:property [ sh:path pas:nir ; sh:pattern "^[12][0-9]{14}$" ; sh:maxCount 1 ] ;
  sh:sparql [ sh:message "Clé NIR invalide"@fr , "Invalid NIR key"@en ; sh:prefixes pas: ;
    sh:select \"\"\"SELECT $this ?value WHERE { $this pas:nir ?value .
      BIND (xsd:integer(SUBSTR(STR(?value), 1, 13)) AS ?n)
      BIND (xsd:integer(SUBSTR(STR(?value), 14, 2)) AS ?key)
      FILTER (?key != 97 - (?n - 97 * FLOOR(?n / 97))) }\"\"\" ] .
"""


def make_graph(n_triples: int, seed: int = 1) -> ox.Store:
    """A Store whose named graph GRAPH holds about ``n_triples`` triples, ~1 % broken."""
    rnd = random.Random(seed)
    t = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
    label = ox.NamedNode("http://www.w3.org/2000/01/rdf-schema#label")
    p = {k: ox.NamedNode(EX + k) for k in ("code", "organisme", "actif", "siret", "domaine", "nir")}
    c = {k: ox.NamedNode(EX + k) for k in ("Formation", "Organisme", "Metier", "Personne", "Domaine")}
    true = ox.Literal("true", datatype=ox.NamedNode(XSD + "boolean"))
    quads: list[ox.Quad] = []

    def add(s: ox.NamedNode, pred: ox.NamedNode, o: object) -> None:
        quads.append(ox.Quad(s, pred, o, GRAPH))

    n = max(1, n_triples // 20)  # each group of 4 entities is ~20 triples
    for i in range(n):
        bad = rnd.random() < 0.01
        org, fo, me, pe, dom = (ox.NamedNode(f"{ID}{k}/{i}") for k in ("o", "f", "m", "p", "d"))
        add(dom, t, c["Domaine"])
        add(org, t, c["Organisme"])
        add(org, p["siret"], ox.Literal(f"{i:014d}" + ("x" if bad else "")))
        add(org, label, ox.Literal(f"Organisme {i}", language="fr"))
        add(org, p["actif"], true)
        add(fo, t, c["Formation"])
        add(fo, p["code"], ox.Literal(f"F{(i if not bad else i - 1) % 10**6:06d}"))
        add(fo, label, ox.Literal(f"Formation {i}", language="fr"))
        add(fo, label, ox.Literal(f"Course {i}", language="en" if not bad else "fr"))
        add(fo, p["organisme"], org if not bad else dom)
        add(fo, p["actif"], true if not bad else ox.Literal("oui"))
        add(me, t, c["Metier"])
        add(me, p["code"], ox.Literal(f"{'ABCDEFGHIJKLMN'[i % 14]}{i % 10000:04d}"))
        add(me, label, ox.Literal(f"Métier {i}", language="fr" if not bad else "de"))
        add(me, p["domaine"], dom)
        add(pe, t, c["Personne"])
        base = 1_000_000_000_000 + i * 7919
        add(pe, p["nir"], ox.Literal(f"{base}{97 - base % 97 + (1 if bad else 0):02d}"))
        add(pe, label, ox.Literal(f"Personne {i}"))
    store = ox.Store()
    store.bulk_extend(quads)
    return store


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def shacl_rust_results(data_nt: str, shapes_nt: str, index: bool) -> list[ve.ValidationResult]:
    """Run shacl_rust and normalise its dict report (paths re-rendered without spaces)."""
    import shacl_rust

    rep = shacl_rust.validate(
        data_nt, shapes_nt, data_format="nt", shapes_format="nt", experimental_index=index
    )
    return [
        ve.ValidationResult(
            r["focusNode"],
            r.get("resultPath", "").replace(" / ", "/").replace(" | ", "|") or None,
            r.get("value"),
            r["severity"].strip("<>").rsplit("#", 1)[-1],
            r["sourceConstraintComponent"].strip("<>").rsplit("#", 1)[-1],
            r["sourceShape"],
            {},
        )
        for r in rep["results"]
    ]


def keys(results: list[ve.ValidationResult]) -> set[tuple]:
    return {r.key() for r in results}


def core_shapes(shapes_ttl: str) -> str:
    """The shapes without their ``sh:sparql`` constraints (what pySHACL can run at scale)."""
    return ve._nt(ve._strip_sparql(ve._skolemise(shapes_ttl)))


def bench(size: int, pyshacl_max: int, pyshacl_sparql_max: int, slow_max: int) -> list[tuple]:
    """Rows of (name, triples, seconds, results, agrees) for one graph size.

    pySHACL's SHACL-SPARQL is per-focus-node rdflib SPARQL (~70 s on 18k triples here), so
    above ``pyshacl_sparql_max`` the reference is pySHACL on the Core shapes only, and
    "agrees" then means: Core results equal pySHACL's and sh:sparql results equal those
    of shacl_rust (an independent SHACL-SPARQL implementation). Engines whose SHACL-SPARQL
    grows super-linearly (``shacl`` native, shacl_rust default index) are skipped above
    ``slow_max``.
    """
    import shacl

    rows: list[tuple] = []
    store = make_graph(size)
    n = len(store)
    shapes_triples = ve._skolemise(SHAPES)
    shapes_nt = ve._nt(shapes_triples)
    sparql = "SPARQLConstraintComponent"

    data_nt, s = timed(lambda: store.dump(format=ox.RdfFormat.N_TRIPLES, from_graph=GRAPH).decode())
    rows.append(("input: store.dump N-Triples", n, s, None, None))
    quads = store.quads_for_pattern(None, None, None, GRAPH)
    _, s = timed(lambda: ox.serialize((q.triple for q in quads), format=ox.RdfFormat.N_TRIPLES))
    rows.append(("input: quads -> ox.serialize", n, s, None, None))

    ref_core = ref_full = None
    if n <= pyshacl_sparql_max:
        ref_full, s = timed(ve.validate_pyshacl, data_nt, SHAPES)
        rows.append(("pySHACL full (rdflib parse+validate)", n, s, len(ref_full), True))
    if n <= pyshacl_max:
        ref_core, s = timed(ve.validate_pyshacl, data_nt, core_shapes(SHAPES))
        rows.append(("pySHACL Core only (no sh:sparql)", n, s, len(ref_core), True))
    rust, s_rust = timed(shacl_rust_results, data_nt, shapes_nt, True)
    ref_sparql = keys([r for r in (ref_full or rust) if r.component == sparql])

    def agrees(res: list[ve.ValidationResult], core_only: bool = False) -> bool | None:
        if ref_full is not None and not core_only:
            return keys(res) == keys(ref_full)
        if ref_core is None:
            return None
        core_ok = keys([r for r in res if r.component != sparql]) == keys(ref_core)
        return core_ok and (core_only or keys([r for r in res if r.component == sparql]) == ref_sparql)

    fast, s = timed(ve.validate_ntriples, data_nt, SHAPES, "fast")
    rows.append(("FAST: validate_ntriples(engine='fast')", n, s, len(fast), agrees(fast)))
    compiled = shacl.Shapes.from_text(core_shapes(SHAPES), format="ntriples")
    rep, s = timed(compiled.validate_text, data_nt, format="ntriples")
    rows.append(("  part: shacl Core validate_text (raw)", n, s, len(rep), None))
    only, s = timed(ve._sparql_results, store, ve._Graph(shapes_triples), default_graph=GRAPH)
    rows.append(("  part: sh:sparql SELECTs on oxigraph", n, s, len(only), keys(only) == ref_sparql))
    if n <= slow_max:
        res, s = timed(ve.validate_ntriples, data_nt, SHAPES, "shacl")
        rows.append(("shacl native incl. SHACL-SPARQL", n, s, len(res), agrees(res)))
        res, s = timed(shacl_rust_results, data_nt, shapes_nt, False)
        rows.append(("shacl_rust (default index)", n, s, len(res), agrees(res)))
    else:
        rows.append(("shacl native incl. SHACL-SPARQL: skipped", n, None, None, None))
        rows.append(("shacl_rust (default index): skipped", n, None, None, None))
    rows.append(
        (
            "shacl_rust experimental_index",
            n,
            s_rust,
            len(rust),
            agrees(rust, core_only=ref_full is None),
        )
    )
    return rows


def features() -> None:
    """Per-fixture agreement of each engine with pySHACL (the feature matrix)."""
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests"))
    from test_validate_engine import FIXTURES, load_fixture

    print(f"{'fixture':34} {'fast':6} {'shacl':8} {'shacl_rust':10}")
    for path in FIXTURES:
        data_nt, shapes_ttl = load_fixture(path)
        ref = ve.validate_pyshacl(data_nt, shapes_ttl)
        cells = []
        for engine in ("fast", "shacl"):
            try:
                got = ve.validate_ntriples(data_nt, shapes_ttl, engine)
                ok = keys(got) == keys(ref) and [r.messages for r in got] == [r.messages for r in ref]
                cells.append("ok" if ok else "DIFF")
            except Exception as exc:
                cells.append(f"ERR {exc!r:.30}")
        try:
            got = shacl_rust_results(data_nt, ve._nt(ve._skolemise(shapes_ttl)), True)
            cells.append("ok" if keys(got) == keys(ref) else "DIFF")
        except Exception as exc:
            cells.append(f"ERR {exc!r:.40}")
        print(f"{path.stem:34} {cells[0]:6} {cells[1]:8} {cells[2]}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="*", default=[20_000, 200_000, 1_000_000])
    ap.add_argument("--pyshacl-max", type=int, default=1_100_000)
    ap.add_argument("--pyshacl-sparql-max", type=int, default=30_000)
    ap.add_argument("--slow-max", type=int, default=300_000)
    ap.add_argument("--features", action="store_true")
    args = ap.parse_args()
    if args.features:
        features()
        return
    print(
        f"{'validator':40} {'triples':>9} {'seconds':>8} {'triples/s':>10} {'results':>8} agrees-with-pySHACL"
    )
    for size in args.sizes:
        for name, n, s, count, agrees in bench(
            size, args.pyshacl_max, args.pyshacl_sparql_max, args.slow_max
        ):
            sec = "-" if s is None else f"{s:.2f}"
            rate = "-" if not s else f"{n / s:,.0f}"
            cnt = "-" if count is None else str(count)
            agr = "-" if agrees is None else ("yes" if agrees else "NO")
            print(f"{name:40} {n:>9} {sec:>8} {rate:>10} {cnt:>8} {agr}", flush=True)


if __name__ == "__main__":
    main()
