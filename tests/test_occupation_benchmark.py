"""The occupation benchmark's scorer-only helpers: the ROME v3 / 4.0 crosswalk of the recruiter's
appellation (crosswalk-aware top-k) and the category each missed offer is put in."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from kg.nlp.occupation import RERANK_FEATURES

ROOT = Path(__file__).resolve().parent.parent


def _load(file: str, name: str):
    """A benchmark script imported as a module (benchmarks/ is no package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return _load("occupation.py", "occupation_benchmark")


ROWS = [
    # label, ROME 4.0 fiche, ROME v3 fiche
    ("Accompagnant / Accompagnante éducatif et social", "K1306", "K1301"),
    ("Conseiller / Conseillère en économie sociale et familiale", "K1225", "K1201"),
    ("Maçon / Maçonne", "F1703", "F1703"),
    ("Technicien / Technicienne de maintenance industrielle", "I1304", ""),
]


def test_crosswalk_reads_the_offers_way_of_writing_an_appellation(bench):
    walk = bench.Crosswalk(ROWS)
    assert walk.fiches("Accompagnant(e) éducatif et social") == ({"K1306"}, {"K1301"})
    assert walk.fiches("Conseillère en économie sociale et familiale") == ({"K1225"}, {"K1201"})
    assert walk.fiches("Technicien(ne) de maintenance industrielle") == ({"I1304"}, set())
    # a near spelling (one letter off) still finds its label; an unrelated one finds nothing
    assert walk.fiches("Technicien de maintenance industrielles")[0] == {"I1304"}
    assert walk.fiches("Boulanger") == (set(), set())
    assert walk.fiches("") == (set(), set())


def test_crosswalk_accepts_the_other_version_only(bench):
    walk = bench.Crosswalk(ROWS)
    v3_coded = bench.Offer("f", "1", "AES", "", "K1301", "Accompagnant éducatif et social")
    v4_coded = bench.Offer("f", "2", "AES", "", "K1306", "Accompagnant éducatif et social")
    assert walk.accepts(v3_coded, "K1301") and walk.accepts(v3_coded, "K1306")
    assert walk.accepts(v4_coded, "K1306") and walk.accepts(v4_coded, "K1301")
    assert not walk.accepts(v4_coded, "K1225")
    # no appellation, or a declared code that holds it under neither version: the declared code only
    bare = bench.Offer("f", "3", "AES", "", "K1306")
    odd = bench.Offer("f", "4", "AES", "", "J1301", "Accompagnant éducatif et social")
    assert walk.accepts(bare, "K1306") and not walk.accepts(bare, "K1301")
    assert walk.accepts(odd, "J1301") and not walk.accepts(odd, "K1306")


def _features(codes, **values):
    """Static re-ranker features of one offer (FEATURES then TITLE_FEATURES) with some values set."""
    n = RERANK_FEATURES.index("lead_full") + 1
    features = np.zeros((n, len(codes)))
    for name, per_code in values.items():
        for code, value in per_code.items():
            features[RERANK_FEATURES.index(name), codes.index(code)] = value
    return features


def test_each_miss_falls_in_the_first_category_that_applies(bench):
    walk = bench.Crosswalk(ROWS)
    codes = ["F1703", "F1704", "I1304", "K1225", "K1201", "K1301", "K1306"]
    none = _features(codes)

    def category(rome, predicted, appellation="", outside=False, features=none):
        offer = bench.Offer("f", "1", "t", "d", rome, appellation)
        return bench.miss_category(offer, predicted, outside, walk, features, codes)

    cesf = "Conseiller en économie sociale et familiale"
    assert category("K1201", ["K1225"], cesf) == "A"  # declared the v3 fiche
    assert category("K1225", ["K1201"], cesf) == "B"  # predicted the v3 fiche
    assert category("I1304", ["K1225"], cesf) == "C"  # the appellation is not on the declared fiche
    assert category("F1704", ["F1703"], outside=True) == "D"
    # the title holds a whole label of the prediction and none of the declared fiche
    named = _features(codes, title_full={"F1703": 1.0}, text_doc={"F1703": 0.3, "F1704": 0.2})
    assert category("F1704", ["F1703"], features=named) == "E"
    described = _features(codes, title_full={"F1703": 1.0}, text_doc={"F1703": 0.1, "F1704": 0.2})
    assert category("F1704", ["F1703"], features=described) == "G"
    both = _features(codes, title_full={"F1703": 0.6, "F1704": 0.8})
    assert category("F1704", ["F1703"], features=both) == "F"
    assert category("F1704", ["F1703"], features=none) == "H"  # no label held whole
    partly = _features(codes, title_full={"I1304": 0.6})
    assert category("F1704", ["F1703"], features=partly) == "I"
    assert set(bench.MISS_CATEGORIES) == set("ABCDEFGHI")


@pytest.fixture(scope="module")
def skills():
    return _load("occupation_skills.py", "occupation_skills_benchmark")


def test_skill_rows_favour_the_fiche_listing_the_rare_items(skills):
    # "soft" is listed by every fiche (idf 0: no evidence), "brick" by the mason only, "plan" by two.
    evidence = skills.SkillEvidence(
        {"MASON": {"soft", "brick", "plan"}, "DRAFT": {"soft", "plan"}, "COOK": {"soft"}},
        {"MASON": {"brick"}, "DRAFT": {"plan"}},
    )
    rows = skills.skill_rows(evidence, {"soft", "brick", "plan", "unknown"}, ["COOK", "DRAFT", "MASON"])
    share, core, only, gap, contrast = rows
    assert share[2] == pytest.approx(1.0) and share[0] == 0.0 and 0 < share[1] < share[2]
    assert core[1] == pytest.approx(share[1]) and 0 < core[2] < share[2]  # the mason's "plan" is not core
    assert only.tolist() == [0.0, 0.0, pytest.approx(np.log(2))]  # "brick": the mason alone
    assert gap.max() == 0.0 and gap[0] == pytest.approx(-1.0)
    assert contrast[0] == 0.0 and contrast[2] == pytest.approx(1.0)
    # no listed item matched: no evidence for any candidate
    assert not skills.skill_rows(evidence, {"unknown"}, ["COOK", "MASON"]).any()


def test_extra_rows_are_appended_after_the_reranker_features(bench):
    from kg.nlp.occupation import OccupationModel

    fiches = {f"F{i:02d}": f"Métier {i}" for i in range(40)}
    model = OccupationModel.from_labels(fiches, [], {})
    offers = [bench.Offer("f", "1", "Métier 3", "Texte", "F03")]
    base = bench.static_features(model, offers)
    seen = []

    def extra(offer, codes):
        seen.append((offer.id, list(codes)))
        return np.vstack([np.arange(len(codes), dtype=float), np.ones(len(codes))])

    tops, rows = bench.reranker_rows(model, base, offers, offers, lambda i: [0], 0, extra)
    plain_tops, plain = bench.reranker_rows(model, base, offers, offers, lambda i: [0], 0)
    assert rows.shape == (1, 30, len(RERANK_FEATURES) + 2)
    assert (tops == plain_tops).all() and (rows[..., : len(RERANK_FEATURES)] == plain).all()
    assert seen == [("1", [model.codes[c] for c in tops[0]])] and rows[0, :, -2].tolist() == list(range(30))


@pytest.fixture(scope="module")
def certs():
    return _load("occupation_certs.py", "occupation_certs_benchmark")


TOY_CERTS = """
@prefix pas: <https://w3id.org/passerelles/ontology#> .
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@base <https://w3id.org/passerelles/id/> .
<rome-v3/I1304> pas:code "I1304" .
<rome-v3/H2502> pas:code "H2502" .
<rome-v3/D1102> pas:code "D1102" .
<rome/I1304> a pas:Occupation ; pas:code "I1304" ; pas:romeV3Parent <rome-v3/I1304> .
<rome/I1350> a pas:Occupation ; pas:code "I1350" ; pas:romeV3Parent <rome-v3/I1304> .
<rome/H2502> a pas:Occupation ; pas:code "H2502" ; pas:romeV3Parent <rome-v3/H2502> .
<rome/D1102> a pas:Occupation ; pas:code "D1102" ; pas:romeV3Parent <rome-v3/D1102> .
<rncp/RNCP1> a pas:Certification ; skos:prefLabel "Technicien de maintenance industrielle"@fr ;
    pas:relatedOccupationV3 <rome-v3/I1304> ; pas:hasBlock <bloc/RNCP1BC01> .
<bloc/RNCP1BC01> skos:prefLabel "Diagnostiquer une panne sur un équipement automatisé"@fr .
<rncp/RNCP2> a pas:Certification ; skos:prefLabel "Technicien de maintenance et de production"@fr ;
    pas:relatedOccupationV3 <rome-v3/I1304> , <rome-v3/H2502> .
<rncp/RNCP3> a pas:Certification ; skos:prefLabel "CAP boulanger"@fr ;
    pas:relatedOccupationV3 <rome-v3/D1102> .
<certifinfo/9> a pas:CertifInfoEntry ; skos:prefLabel "CAP boulanger"@fr ;
    pas:describesCertification <rncp/RNCP3> .
<certifinfo/10> a pas:CertifInfoEntry ; skos:prefLabel "Mention complémentaire boulangerie"@fr ;
    pas:relatedOccupationV3 <rome-v3/D1102> .
"""


def test_cert_evidence_reads_the_graph_and_reaches_rome4_fiches_through_their_v3_parent(certs):
    import pyoxigraph as ox

    from kg.nlp.occupation import DEFAULT_BASE

    store = ox.Store()
    store.load(TOY_CERTS.encode(), ox.RdfFormat.TURTLE)
    evidence = certs.CertEvidence.from_store(store, DEFAULT_BASE)
    assert evidence.v3("I1350") == "I1304" and set(evidence.vectors["text"]) == {"I1304", "H2502", "D1102"}
    # entry 9 describes RNCP3 (whose title the graph holds); entry 10 describes none: a unit of its own
    assert len(evidence.titles_of["D1102"]) == 2
    rows = certs.cert_rows(evidence, "Technicien de maintenance industrielle H/F",
                           "Vous diagnostiquez les pannes des équipements automatisés.",
                           ["I1304", "I1350", "H2502", "D1102"])
    title, best, text, blocs, domain, cover = rows
    assert title[0] == title[1] > title[2] > 0 == title[3]  # RNCP2 counts half in each of its two fiches
    assert best[0] == pytest.approx(1.0) and best[2] < 1.0 and best[3] == 0.0
    assert blocs[0] > 0 and blocs[2] == 0.0 and not domain.any()
    assert text[0] > text[2] >= 0.0
    assert cover[0] == pytest.approx(1.0) and 0 < cover[2] < 1.0 and cover[3] == 0.0
    without = certs.CertEvidence.from_store(store, DEFAULT_BASE, entries=False)
    assert len(without.titles_of["D1102"]) == 1


def test_cert_extra_keeps_the_named_rows_and_remembers_each_offer_and_fiche(bench, certs, monkeypatch):
    import pyoxigraph as ox

    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # as when the benchmark runs as a script
    from kg.nlp.occupation import DEFAULT_BASE

    store = ox.Store()
    store.load(TOY_CERTS.encode(), ox.RdfFormat.TURTLE)
    evidence = certs.CertEvidence.from_store(store, DEFAULT_BASE)
    extra = bench.cert_extra(store, DEFAULT_BASE, ["cert_text", "cert_title"])
    offer = bench.Offer("f", "1", "Technicien de maintenance", "Diagnostiquer les pannes", "I1304")
    for codes in (["I1304", "D1102"], ["H2502", "I1304", "I1350"]):  # the second list reuses I1304
        expected = certs.cert_rows(evidence, offer.title, offer.text, codes)[[2, 0]]
        assert np.allclose(extra(offer, codes), expected)
