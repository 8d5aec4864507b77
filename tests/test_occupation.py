"""Occupation prediction: the model on a tiny hand-made graph, and on the real offers when available."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyoxigraph as ox
import pytest

from kg.nlp.occupation import OccupationModel
from kg.nlp.occupation_text import clean_title, stems

from .conftest import ROOT, TEST_BASE

PAS = "https://w3id.org/passerelles/ontology#"
SKOS = "http://www.w3.org/2004/02/skos/core#"
RDF_TYPE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
RDF_VALUE = ox.NamedNode("http://www.w3.org/1999/02/22-rdf-syntax-ns#value")

# code → (fiche title, [(appellation label, v3 label or None, rarely used)], skills, definition)
FICHES: dict[str, tuple[str, list[tuple[str, str | None, bool]], list[str], str]] = {
    "K2204": (
        "Agent / Agente de nettoyage",
        [("Agent / Agente d'entretien de locaux", "Agent / Agente d'entretien", False),
         ("Laveur / Laveuse de vitres", None, False)],
        ["Nettoyer des surfaces", "Utiliser une autolaveuse"],
        "Nettoie et entretient les locaux et les surfaces.",
    ),
    "I1203": (
        "Agent / Agente de maintenance des bâtiments",
        [("Agent / Agente de maintenance des bâtiments", None, False),
         ("Ouvrier / Ouvrière d'entretien des bâtiments", None, False)],
        ["Réparer une installation électrique", "Remplacer une serrure", "Effectuer des travaux de peinture"],
        "Réalise les travaux d'entretien et de petite réparation des bâtiments.",
    ),
    "N1101": (
        "Conducteur / Conductrice de chariot élévateur",
        [("Cariste", None, False), ("Conducteur / Conductrice de chariot élévateur", None, False)],
        ["Conduire un chariot élévateur", "Charger et décharger des marchandises"],
        "Déplace des charges en entrepôt avec un chariot élévateur.",
    ),
    "J1506": (
        "Infirmier / Infirmière en soins généraux",
        [("Infirmier / Infirmière en soins généraux", "Infirmier / Infirmière", False),
         ("Infirmier / Infirmière en santé mentale", None, False)],
        ["Réaliser des soins infirmiers", "Administrer des médicaments"],
        "Réalise des soins infirmiers sur prescription médicale.",
    ),
    "J1502": (
        "Cadre de santé",
        [("Infirmier général / Infirmière générale", None, True), ("Cadre de santé", None, False)],
        ["Encadrer une équipe soignante", "Planifier les soins du service"],
        "Encadre les équipes soignantes d'un service.",
    ),
}


def iri(path: str) -> ox.NamedNode:
    return ox.NamedNode(TEST_BASE + "id/" + path)


def tiny_store() -> ox.Store:
    """A graph shaped like the ROME mappings' output (same classes and properties)."""
    store = ox.Store()
    fr = "fr"

    def add(s: ox.NamedNode, p: str, o: ox.NamedNode | ox.Literal) -> None:
        store.add(ox.Quad(s, ox.NamedNode(p) if p != "a" else RDF_TYPE, o))

    ogr = 100
    for code, (title, apps, skills, definition) in FICHES.items():
        occ = iri(f"rome/{code}")
        add(occ, "a", ox.NamedNode(PAS + "Occupation"))
        add(occ, PAS + "code", ox.Literal(code))
        add(occ, SKOS + "prefLabel", ox.Literal(title, language=fr))
        for label, v3, rare in apps:
            ogr += 1
            app = iri(f"appellation/{ogr}")
            add(app, "a", ox.NamedNode(PAS + "Appellation"))
            add(app, PAS + "appellationOf", occ)
            add(app, SKOS + "prefLabel", ox.Literal(label, language=fr))
            add(app, PAS + "rarelyUsed", ox.Literal(rare))
            if v3:
                add(app, PAS + "labelV3", ox.Literal(v3, language=fr))
        for label in skills:
            ogr += 1
            skill = iri(f"competence/{ogr}")
            add(occ, PAS + "hasSkill", skill)
            add(skill, SKOS + "prefLabel", ox.Literal(label, language=fr))
        segment = ox.NamedNode(f"{occ.value}#definition-1")
        add(occ, PAS + "definitionSentence", segment)
        add(segment, RDF_VALUE.value, ox.Literal(definition, language=fr))
    return store


@pytest.fixture(scope="module")
def model() -> OccupationModel:
    return OccupationModel.from_store(tiny_store(), TEST_BASE)


def top(model: OccupationModel, title: str, text: str = "") -> list[str]:
    return [code for code, _ in model.predict(title, text, k=3)]


def test_reads_every_fiche_from_the_graph(model: OccupationModel) -> None:
    assert sorted(model.codes) == sorted(FICHES)


@pytest.mark.parametrize(
    ("title", "text", "expected"),
    [
        # an exact appellation, with offer noise around it
        ("CARISTE H/F - CDI - Urgent", "", "N1101"),
        # the feminine form and an inclusive suffix
        ("Conductrice de chariot élévateur (H/F)", "", "N1101"),
        # a v3-only label
        ("Agent d'entretien (H/F)", "Entretien des bureaux.", "K2204"),
        # a title naming another trade than the fiche's title, settled by the appellation
        ("Ouvrier d'entretien des bâtiments", "", "I1203"),
        # the common reading beats a rarely used appellation with the same head word
        ("Infirmier (H/F)", "", "J1506"),
        # a title no label names: the description decides
        ("Agent polyvalent", "Travaux de peinture, installation électrique, serrures.", "I1203"),
    ],
)
def test_ranks_the_expected_fiche_first(
    model: OccupationModel, title: str, text: str, expected: str
) -> None:
    assert top(model, title, text)[0] == expected


def test_scores_are_sorted_and_bounded(model: OccupationModel) -> None:
    ranked = model.predict("Cariste", "Conduite de chariot en entrepôt", k=5)
    scores = [s for _, s in ranked]
    assert len(ranked) == 5
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores[0] > scores[1]


def test_empty_offer_gives_zero_scores(model: OccupationModel) -> None:
    assert all(score == 0.0 for _, score in model.predict("", "", k=3))


def test_normaliser_removes_offer_noise() -> None:
    assert clean_title("Aide-Ménager(ère) F/H-Temps partiel") == "aide menager"
    assert stems("Vendeuses en boulangerie") == ["vendeur", "boulangerie"]


def real_store() -> Path:
    """A store built from the real data by this code: $PASSERELLES_STORE or var/store (a store built
    by an older version answers the newer model's queries wrongly, so no fixed machine path)."""
    from kg.store import open_store

    for candidate in (os.environ.get("PASSERELLES_STORE"), ROOT / "var" / "store"):
        if candidate and (Path(candidate) / "current").exists():
            # var/store is also where `kg build` puts the demo graph (a few fiches): not real data
            count = "SELECT (COUNT(*) AS ?n) { ?o a <https://w3id.org/passerelles/ontology#Occupation> }"
            solution = next(iter(open_store(Path(candidate)).query(count)))
            if int(solution["n"].value) > 1000:
                return Path(candidate)
    pytest.skip(
        "no store built from the real data (set PASSERELLES_STORE or run `kg build --data ../shared/data`)"
    )


@pytest.mark.realdata
def test_real_offers_top3_well_above_baseline(shared_data: Path) -> None:
    """On the Ain offers, the model's top-3 beats the naive baseline's 0.58 by a clear margin."""
    from kg.store import open_store

    model = OccupationModel.from_store(open_store(real_store()))
    path = shared_data / "offers" / "ft_offres_dep01_ain_2025-08.jsonl"
    offers = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    found = sum(
        o["romeCode"] in [c for c, _ in model.predict(o["intitule"], o["description"], 3)] for o in offers
    )
    assert found / len(offers) >= 0.80


def test_v3_child_feature_carries_the_split_fiche_to_its_v3_code() -> None:
    """An offer coded with the ROME v3 code (reused by ROME 4.0 for another fiche) is reachable:
    the v3 fiche gets the plain score of the ROME 4.0 fiches split out of it, nothing else."""
    from kg.nlp.occupation import BASE_FEATURES, FEATURES

    labels = {
        "fiches": {
            "K1301": "Aide médico-psychologique",
            "K1306": "Accompagnant / Accompagnante éducatif et social",
            "N1101": "Cariste",
        },
        "appellations": [("K1306", "AES"), ("N1101", "Conducteur / Conductrice de chariot")],
        "vocabulary": {"K1306": ["Aider une personne dans les actes de la vie quotidienne"]},
    }
    model = OccupationModel.from_labels(**labels, parents={"K1306": "K1301", "N1101": "N1101"})  # type: ignore[arg-type]
    features = model.features("Accompagnant éducatif et social (H/F)", "Aide aux actes de la vie quotidienne")
    v3 = features[FEATURES.index("v3_child")]
    k1301, k1306, n1101 = (model.codes.index(c) for c in ("K1301", "K1306", "N1101"))
    assert v3[k1301] == pytest.approx(features[:BASE_FEATURES, k1306].mean())
    assert v3[k1306] == 0.0 and v3[n1101] == 0.0  # a fiche is not its own v3 child
    only_v3 = [1.0 if name == "v3_child" else 0.0 for name in FEATURES]
    weighted = OccupationModel.from_labels(**labels, parents={"K1306": "K1301"}, weights=only_v3)  # type: ignore[arg-type]
    assert weighted.predict("Accompagnant éducatif et social", "", k=1)[0][0] == "K1301"
    unlinked = OccupationModel.from_labels(**labels)  # type: ignore[arg-type]
    assert not unlinked.features("Accompagnant éducatif et social", "")[BASE_FEATURES:].any()


def test_v3_title_feature_reads_the_appellation_v3_fiche() -> None:
    """An appellation whose ROME v3 fiche is not its ROME 4.0 fiche lends its label to the v3 code."""
    from kg.nlp.occupation import FEATURES

    model = OccupationModel.from_labels(
        fiches={"J1301": "Agent / Agente de service hospitalier", "K1306": "Accompagnant éducatif et social"},
        appellations=[("K1306", "Accompagnant éducatif et social (AES)")],
        vocabulary={},
        v3_appellations=[("J1301", "Accompagnant éducatif et social (AES)")],
    )
    row = model.features("ACCOMPAGNANT EDUCATIF ET SOCIAL (AES) - CDI", "")[FEATURES.index("v3_title")]
    assert row[model.codes.index("J1301")] > 0.9
    assert row[model.codes.index("K1306")] == 0.0


def test_the_v3_fiche_of_a_named_appellation_joins_the_candidates() -> None:
    """An offer still coded in ROME v3 declares the v3 fiche of its appellation; the plain score (ROME
    4.0 features) leaves that fiche out of the 30 candidates when 30 fiches share the title's words,
    so the re-ranker could never propose it: the v3 fiches of best v3_title replace the last ones."""
    from kg.nlp.occupation import CANDIDATES

    fiches = {f"K{2100 + i}": f"Conseiller / Conseillère en gestion {i}" for i in range(CANDIDATES + 5)}
    fiches["K1225"] = "Conseiller en économie sociale et familiale"
    fiches["K1201"] = "Intervention en milieu ouvert"
    model = OccupationModel.from_labels(
        fiches=fiches,
        appellations=[("K1225", "Conseiller / Conseillère en économie sociale et familiale (CESF)")],
        vocabulary={},
        v3_appellations=[("K1201", "Conseiller / Conseillère en économie sociale et familiale (CESF)")],
    ).with_offers([("Comptable", "Tenue des comptes", "K2100")])
    title = "Conseillère en économie sociale et familiale (H/F)"
    features = model.rerank_features(title, "")
    k1201 = model.codes.index("K1201")
    assert k1201 not in model.candidates(features, v3=0).tolist()
    top = model.candidates(features).tolist()
    assert k1201 in top and len(top) == CANDIDATES and len(set(top)) == CANDIDATES
    assert "K1201" in [code for code, _ in model.predict(title, "", k=CANDIDATES)]


def test_model_is_cached_per_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import kg.nlp.occupation as occupation

    monkeypatch.setattr(occupation, "CACHE_DIR", tmp_path / "cache")
    build = tmp_path / "build-1"
    build.mkdir()
    first = OccupationModel.cached(tiny_store(), build, TEST_BASE)
    assert len(list((tmp_path / "cache").glob("occupation-*.pickle"))) == 1
    # A second call reads the pickle, not the (here empty) store.
    again = OccupationModel.cached(ox.Store(), build, TEST_BASE)
    assert again.codes == first.codes
    assert again.predict("Cariste", "", k=1) == first.predict("Cariste", "", k=1)
    # Another build is another model.
    other = tmp_path / "build-2"
    other.mkdir()
    assert OccupationModel.cached(ox.Store(), other, TEST_BASE).codes == []


SURFACE_TEXT = "Nettoyage des bureaux et des sanitaires le soir."


def offer_store() -> ox.Store:
    """The tiny graph plus two labelled job offers shaped like the offers mapping's output."""
    store = tiny_store()
    dct = "http://purl.org/dc/terms/"
    offers = [
        ("1000001", "Technicien de surface (H/F)", SURFACE_TEXT, "K2204"),
        ("1000002", "Agent polyvalent (H/F)", "Petites réparations, serrures et peinture.", "I1203"),
    ]
    for code, title, text, rome in offers:
        offer = iri(f"offer/{code}")
        store.add(ox.Quad(offer, RDF_TYPE, ox.NamedNode(PAS + "JobOffer")))
        store.add(ox.Quad(offer, ox.NamedNode(SKOS + "prefLabel"), ox.Literal(title, language="fr")))
        store.add(ox.Quad(offer, ox.NamedNode(dct + "description"), ox.Literal(text, language="fr")))
        store.add(ox.Quad(offer, ox.NamedNode(PAS + "declaredOccupation"), iri(f"rome/{rome}")))
    return store


def test_reranker_reads_the_labelled_offers_of_the_graph() -> None:
    """A title no label names is settled by the labelled offer with the same title; scores are the
    re-ranker's probabilities (sorted, in [0, 1]); an offer never sees its own copy."""
    from kg.nlp.occupation import RERANK_FEATURES

    model = OccupationModel.from_store(offer_store(), TEST_BASE)
    assert model.memory is not None and model.memory.count == 2
    ranked = model.predict("Technicien de surface", "Entretien des locaux d'une école.", k=3)
    assert ranked[0][0] == "K2204"
    scores = [s for _, s in ranked]
    assert scores == sorted(scores, reverse=True) and all(0.0 <= s <= 1.0 for s in scores)
    features = model.rerank_features("Technicien de surface", "Entretien des locaux d'une école.")
    offer_title = features[RERANK_FEATURES.index("offer_title")]
    assert offer_title[model.codes.index("K2204")] == pytest.approx(1.0)
    assert offer_title[model.codes.index("I1203")] == 0.0
    # the labelled offer itself (same text): its own example is left out
    itself = model.rerank_features("Technicien de surface (H/F)", SURFACE_TEXT)
    assert not itself[RERANK_FEATURES.index("offer_title")].any()


def test_without_labelled_offers_the_weighted_sum_ranks(model: OccupationModel) -> None:
    assert model.memory is None
    scores = model.scores("Cariste", "")
    assert model.predict("Cariste", "", k=1) == [
        (model.codes[int(scores.argmax())], pytest.approx(scores.max(), abs=1e-4))
    ]
    with pytest.raises(ValueError):
        OccupationModel.from_store(tiny_store(), TEST_BASE).with_offers([], weights=(1.0,))


def test_extractor_gives_the_predictor_title_and_description_apart() -> None:
    """The occupation model reads (title, description) as the benchmark evaluates it: with the title
    glued to the description, an offer would not recognise its own copy among the labelled offers."""
    from kg.nlp.gazetteer import Gazetteer
    from kg.nlp.offers import Offer
    from kg.nlp.pipeline import Extractor, load_pipeline

    seen: list[tuple[str, str]] = []

    class Recorder:
        def predict(self, title: str, text: str, k: int = 5) -> list[tuple[str, float]]:
            seen.append((title, text))
            return [("K2204", 1.0)]

    gazetteer = Gazetteer.from_rows([("100001", "Nettoyer des surfaces", "savoir-faire")], [], [])
    extractor = Extractor(load_pipeline(gazetteer), Recorder())
    data = {"id": "1000001", "intitule": "Technicien  de surface", "description": SURFACE_TEXT}
    offer = Offer("f", 1, data)
    [result] = extractor.extract([offer])
    assert seen == [("Technicien de surface", SURFACE_TEXT)]
    assert result["occupation"]["code"] == "K2204"


def test_examples_assigned_directly_are_read_with_their_own_vocabulary() -> None:
    from kg.nlp.occupation import OccupationModel
    from kg.nlp.occupation_memory import OfferMemory

    model = OccupationModel.from_labels(
        fiches={"N1101": "Conduite d'engins de déplacement des charges", "D1102": "Boulangerie"},
        appellations=[("N1101", "Cariste"), ("D1102", "Boulanger / Boulangère")],
        vocabulary={"N1101": ["Conduire un chariot"], "D1102": ["Pétrir la pâte"]},
    ).with_offers([("Agent polyvalent", "Pâtisserie fine", "D1102")])
    direct = OccupationModel.from_labels(
        fiches={"N1101": "Conduite d'engins de déplacement des charges", "D1102": "Boulangerie"},
        appellations=[("N1101", "Cariste"), ("D1102", "Boulanger / Boulangère")],
        vocabulary={"N1101": ["Conduire un chariot"], "D1102": ["Pétrir la pâte"]},
    ).with_offers([("Magasinier", "Gestion de stock", "N1101")])
    direct.memory = OfferMemory([("Agent polyvalent", "Pâtisserie fine", "D1102")], direct.codes)
    offer = ("Agent polyvalent (H/F)", "Pâtisserie fine et viennoiserie")
    assert direct.rerank_features(*offer).tolist() == model.rerank_features(*offer).tolist()
    assert model.predict(*offer)[0][0] == "D1102"


def test_a_label_the_title_holds_whole_beats_a_shorter_one() -> None:
    """title_full: the most specific label the title contains wins ("Infirmier en pratique avancée"
    over "Infirmier"); title_exact only for the label the title is; a repeated "Masc / Fem" stem is
    read once."""
    from kg.nlp.occupation import TITLE_FEATURES

    model = OccupationModel.from_labels(
        fiches={"J1506": "Infirmier / Infirmière", "J1508": "Infirmier / Infirmière en pratique avancée",
                "H2206": "Menuisier / Menuisière", "F1140": "Concepteur / Conceptrice agencement"},
        appellations=[("F1140", "Menuisier / Menuisière d'agencement")],
        vocabulary={},
    )
    full, exact, lead = (model.title_matches("Infirmier en pratique avancée en EHPAD (H/F)", "")[
        TITLE_FEATURES.index(name)] for name in TITLE_FEATURES)
    j1506, j1508 = model.codes.index("J1506"), model.codes.index("J1508")
    assert full[j1508] > full[j1506] > 0
    assert exact[j1506] == 0.0 and not lead.any()
    full, exact, _ = model.title_matches("Menuisier / Menuisière d'agencement (H/F)", "")
    f1140, h2206 = model.codes.index("F1140"), model.codes.index("H2206")
    assert exact[f1140] == 1.0 and exact[h2206] == 0.0  # the repeated stem read once
    assert full[f1140] > full[h2206]
    _, _, lead = model.title_matches("Offre", "Nous recherchons un infirmier en pratique avancée.")
    assert lead[j1508] > lead[j1506]


def test_rerank_features_hold_one_row_per_name_in_order() -> None:
    """rerank_features: one row per RERANK_FEATURES name (as many as RERANK_WEIGHTS), the title matches
    in their rows, the nearest-offer rows zero without labelled offers."""
    from kg.nlp.occupation import RERANK_FEATURES, RERANK_WEIGHTS, TITLE_FEATURES
    from kg.nlp.occupation_memory import OfferMemory

    model = OccupationModel.from_labels(
        fiches={"F1603": "Plombier / Plombière", "M1203": "Comptable"},
        appellations=[("F1603", "Chauffagiste"), ("M1203", "Gestionnaire comptable")],
        vocabulary={},
    )
    features = model.rerank_features("Chauffagiste H/F", "")
    assert features.shape == (len(RERANK_FEATURES), 2) and len(RERANK_WEIGHTS) == len(RERANK_FEATURES)
    first = RERANK_FEATURES.index(TITLE_FEATURES[0])
    matches = model.title_matches("Chauffagiste H/F", "")
    assert np.array_equal(features[first:first + len(TITLE_FEATURES)], matches)
    assert matches[TITLE_FEATURES.index("title_exact"), model.codes.index("F1603")] == 1.0
    assert not features[RERANK_FEATURES.index(OfferMemory.FEATURES[0]):].any()


def test_memory_tells_a_fiche_without_examples_from_one_with_unlike_examples() -> None:
    from kg.nlp.occupation_memory import OfferMemory

    memory = OfferMemory(
        [("Cariste", "Chariot", "N1101"), ("Cariste confirmé", "Chariot élévateur", "N1101"),
         ("Boulanger", "Pain", "D1102")],
        ["D1102", "K2204", "N1101"],
    )
    title, _, seen, count = memory.features("Boulanger (H/F)", "Pétrissage")
    assert seen.tolist() == [1.0, 0.0, 1.0] and count[2] == pytest.approx(np.log(3))
    assert title[0] == pytest.approx(1.0) and title[1] == title[2] == 0.0
    # the offer's own copy is not counted among the examples
    _, _, seen, count = memory.features("Boulanger", "Pain")
    assert seen.tolist() == [0.0, 0.0, 1.0]


def test_sparse_reductions_equal_the_dense_ones(
    model: OccupationModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The per-fiche maxima over the labels a query touches (and over the head labels, and over the
    labels held whole) are the reductions over every label they stand for, value for value."""
    import kg.nlp.occupation as occupation

    rng = np.random.default_rng(0)
    size, starts = len(model._label_factor), model._starts
    for _ in range(20):
        values = rng.random(size) * (rng.random(size) < 0.3)
        values[rng.random(size) < 0.1] = 1.0  # labels held whole (coverage 1)
        dcov = np.where(rng.random(size) < 0.5, 1.0, values)
        for sparse in (0, size):
            monkeypatch.setattr(occupation, "SPARSE", sparse)
            assert np.array_equal(model._best(values), np.maximum.reduceat(values, starts))
        assert np.array_equal(model._best_head(values), np.maximum.reduceat(values * model._is_head, starts))
        full = dcov >= occupation.CONTAINED
        contained, exact = model._contained(values, dcov)
        assert np.array_equal(contained, np.maximum.reduceat(values * model._label_factor * full, starts))
        assert np.array_equal(exact, np.maximum.reduceat((full & (values >= 0.999)).astype(float), starts))
