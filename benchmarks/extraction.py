"""Quality (and speed) of the job-offer extraction of issue #4 on the real offers, with naive baselines
measured side by side.

Usage::

    python benchmarks/extraction.py --store /work/real-store     # baselines (+ kg extract if present)
    python benchmarks/extraction.py --predictions results.jsonl  # score a `kg extract` output file
    python benchmarks/extraction.py --no-run                     # baselines only, never run kg extract

Offers: every file of ``../shared/data/offers`` (JSONL, both CSV dumps) and ``offers/trades``. Skill
precision/recall use the hand annotation ``tests/annotations/offers-skills.jsonl`` (docs/ANNOTATION.md),
DEV and TEST reported apart. Baselines (labels from the graph in ``--store``):

- occupation: rapidfuzz match of the offer title (``intitule``) against every ROME appellation label
  (WRatio; fiches ranked by their best appellation);
- skills: the items of the baseline's top-1 fiche ranked by rapidfuzz ``partial_ratio`` of their label
  against the offer text (lower-cased, accents folded); the first 10 are the prediction (spans from
  ``partial_ratio_alignment``). A reference row ranks the items of the *declared* fiche the same way: it
  uses the declared code, so it is an upper reference for fiche-restricted linking, not a prediction.

The declared ``romeCode`` is the reference for occupations and is never an input of a prediction.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kg.nlp.evaluate import (  # noqa: E402
    AnnotatedOffer,
    PredictedSkill,
    annotation_stats,
    bootstrap_pr,
    load_annotation,
    predictions_from_extraction,
    recall_at_k,
    skill_pr,
    topk_accuracy,
)
from kg.nlp.offers_csv import offer_text, read_offers  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
ANNOTATION = ROOT / "tests" / "annotations" / "offers-skills.jsonl"
PAS = "https://w3id.org/passerelles/ontology#"
SKOS = "http://www.w3.org/2004/02/skos/core#"
TOP_SKILLS = 10


def offer_files(data: pathlib.Path) -> list[pathlib.Path]:
    folder = data / "offers"
    return sorted([*folder.glob("*.jsonl"), *folder.glob("*.csv"), *(folder / "trades").glob("*.jsonl")])


def load_offers(files: Sequence[pathlib.Path]) -> dict[str, tuple[str, dict[str, Any]]]:
    """id → (file name, offer); the first file that holds an id wins."""
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for f in files:
        for o in read_offers(f):
            out.setdefault(str(o["id"]), (f.name, o))
    return out


def norm(s: str) -> str:
    s = unicodedata.normalize("NFKD", s.lower().replace("œ", "oe"))
    s = "".join(c for c in s if not unicodedata.combining(c))
    s = re.sub(r"\(?\b[hf]\s*/\s*[hf](\s*/\s*[a-z]+)?\b\)?", " ", s)  # H/F, F/H, H/F/D
    return re.sub(r"[^a-z0-9]+", " ", s).strip()


class GraphLabels:
    """The graph's labels the baselines need: appellations per fiche and items per fiche."""

    def __init__(self, store_path: pathlib.Path) -> None:
        from kg.store import open_store

        store = open_store(store_path)
        self.appellations: list[tuple[str, str]] = []  # (normalised label, fiche)
        q = f"""PREFIX pas: <{PAS}> PREFIX skos: <{SKOS}>
        SELECT DISTINCT ?fiche ?label WHERE {{ ?a a pas:Appellation ; pas:appellationOf ?o ;
          skos:prefLabel|skos:altLabel|pas:shortLabel ?label . ?o pas:code ?fiche }}"""
        seen = set()
        for row in store.query(q):  # type: ignore[union-attr]
            label, fiche = row["label"].value, row["fiche"].value
            # "Maçon / Maçonne du bâti ancien": both gendered forms are titles an offer may use
            forms = [label, *(p for p in label.split(" / ") if len(p) > 3)]
            for form in forms:
                key = (norm(form), fiche)
                if key[0] and key not in seen:
                    seen.add(key)
                    self.appellations.append(key)
        self.items: dict[str, list[tuple[str, str]]] = defaultdict(list)  # fiche → [(code, label)]
        q = f"""PREFIX pas: <{PAS}> PREFIX skos: <{SKOS}>
        SELECT DISTINCT ?fiche ?item ?label WHERE {{ ?o a pas:Occupation ; pas:code ?fiche ;
          pas:hasSkill|pas:hasCoreSkill|pas:hasEmergingSkillItem ?s .
          ?s pas:code ?item ; skos:prefLabel ?label }}"""
        for row in store.query(q):  # type: ignore[union-attr]
            self.items[row["fiche"].value].append((row["item"].value, row["label"].value))


def baseline_occupation(title: str, labels: GraphLabels, n: int = 3) -> list[str]:
    """Fiches ranked by the best rapidfuzz WRatio of the title against their appellation labels."""
    from rapidfuzz import fuzz, process

    choices = [a for a, _ in labels.appellations]
    hits = process.extract(norm(title), choices, scorer=fuzz.WRatio, limit=200)
    ranked: list[str] = []
    for _, _, i in hits:
        fiche = labels.appellations[i][1]
        if fiche not in ranked:
            ranked.append(fiche)
            if len(ranked) == n:
                break
    return ranked


def fold(s: str) -> str:
    """Lower-case without accents, one output character per input character (offsets stay valid)."""
    out = []
    for c in s.lower():
        base = "".join(x for x in unicodedata.normalize("NFKD", c) if not unicodedata.combining(x))
        out.append(base[:1] or c)
    return "".join(out)


def baseline_skills(
    text: str, fiche: str | None, labels: GraphLabels, k: int = TOP_SKILLS
) -> list[PredictedSkill]:
    """The top-k items of the fiche ranked by rapidfuzz ``partial_ratio`` (best-matching substring of the
    text) of their label, with the aligned span."""
    from rapidfuzz import fuzz

    if fiche is None:
        return []
    folded = fold(text)
    scored = sorted(((fuzz.partial_ratio(fold(label), folded), code, label)
                     for code, label in labels.items.get(fiche, ())), key=lambda t: -t[0])
    out = []
    for _, code, label in scored[:k]:
        al = fuzz.partial_ratio_alignment(fold(label), folded)
        out.append(PredictedSkill(code, al.dest_start, al.dest_end) if al else PredictedSkill(code))
    return out


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(h) for h in header]]
    cells += [[f"{c:.3f}" if isinstance(c, float) else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    print(f"\n## {title}\n")
    for j, r in enumerate(cells):
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")
        if j == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


# TEST by when it was first scored (docs/ANNOTATION.md): draws 1-6 after each of sessions 12-15's choices,
# the seventh draw (session 16) a fresh held-out set, the eighth (session 17, Ardèche) another.
TEST_PARTS = (("test, draws 1-6", range(1, 7)), ("test, draw 7", range(7, 8)), ("test, draw 8", range(8, 9)))


def skill_rows(
    name: str, gold: Sequence[AnnotatedOffer], preds: Mapping[str, Sequence[PredictedSkill]]
) -> list[list[Any]]:
    """One row per split, then TEST apart by draws (:data:`TEST_PARTS`) when it holds more than one part."""
    parts = [(split, [g for g in gold if g.split == split]) for split in ("dev", "test")]
    by_draw = [(label, [g for g in gold if g.split == "test" and g.draw in draws])
               for label, draws in TEST_PARTS]
    if sum(bool(part) for _, part in by_draw) > 1:
        parts += by_draw
    rows = []
    for split, part in parts:
        if not part:
            continue
        item = skill_pr(part, preds)
        span = skill_pr(part, preds, spans=True)
        rows.append([name, split, len(part), item.precision, item.recall, item.f1,
                     span.precision, span.recall, f"{item.found}/{item.gold}"])
    return rows


BOOTSTRAP_DRAWS = 2000


def scored_parts(gold: Sequence[AnnotatedOffer]) -> list[tuple[str, list[AnnotatedOffer]]]:
    """DEV, TEST, TEST by draw (:data:`TEST_PARTS`) and TEST by offers file, the empty parts left out.

    >>> g = [AnnotatedOffer("1", "a.jsonl", "test", "", draw=7),
    ...      AnnotatedOffer("2", "b.csv", "test", "", draw=8)]
    >>> [(name, len(part)) for name, part in scored_parts(g)]
    [('test', 2), ('test, draw 7', 1), ('test, draw 8', 1), ('test, a.jsonl', 1), ('test, b.csv', 1)]
    """
    test = [g for g in gold if g.split == "test"]
    dev = [g for g in gold if g.split == "dev"]
    parts = [("dev (in-sample: the model learned from it)", dev), ("test", test)]
    parts += [(label, [g for g in test if g.draw in draws]) for label, draws in TEST_PARTS]
    parts += [(f"test, {source}", [g for g in test if g.source == source])
              for source in sorted({g.source for g in test})]
    return [(name, part) for name, part in parts if part]


def interval_rows(gold: Sequence[AnnotatedOffer], preds: Mapping[str, Sequence[PredictedSkill]]
                  ) -> list[list[Any]]:
    """One row per :func:`scored_parts` part: P and R with their bootstrap intervals."""
    rows: list[list[Any]] = []
    for name, part in scored_parts(gold):
        iv = bootstrap_pr(part, preds, draws=BOOTSTRAP_DRAWS)
        pr = iv.pooled
        rows.append([name, len(part), pr.precision, f"{iv.precision[0]:.3f}–{iv.precision[1]:.3f}",
                     pr.recall, f"{iv.recall[0]:.3f}–{iv.recall[1]:.3f}", f"{pr.found}/{pr.gold}"])
    return rows


def extract_available() -> bool:
    kg = shutil.which("kg", path=str(ROOT / ".venv" / "bin")) or shutil.which("kg")
    if kg is None:
        return False
    out = subprocess.run([kg, "--help"], capture_output=True, text=True, check=False)
    return bool(re.search(r"^\W*extract\b", out.stdout, re.M))


def extract_command(kg: str, files: Sequence[pathlib.Path], workers: int, output: pathlib.Path,
                    store: pathlib.Path) -> list[str]:
    """The ``kg extract`` command line of the benchmark's own run, on the benchmark's ``--store`` (without
    it kg extract read the configured store, ``var/store``, whatever graph that holds).

    >>> extract_command("kg", [pathlib.Path("o.jsonl")], 1, pathlib.Path("w1.jsonl"), pathlib.Path("S"))
    ['kg', 'extract', 'o.jsonl', '--output', 'w1.jsonl', '--workers', '1', '--store', 'S']
    """
    return [kg, "extract", *map(str, files), "--output", str(output), "--workers", str(workers),
            "--store", str(store)]


def run_extract(files: Sequence[pathlib.Path], workers: int, output: pathlib.Path,
                store: pathlib.Path) -> float:
    kg = shutil.which("kg", path=str(ROOT / ".venv" / "bin")) or "kg"
    t0 = time.perf_counter()
    cmd = extract_command(kg, files, workers, output, store)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - t0
    if not output.exists():
        sys.exit(f"kg extract wrote no output (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
    return elapsed


def bare_spacy_seconds(texts: Sequence[str], tokenizer_only: bool = False) -> tuple[float, float] | None:
    """(wall, CPU) seconds of the bare fr_core_news_sm pipeline (all components, or its tokenizer only)
    on ``texts``, model loaded beforehand."""
    try:
        import spacy

        nlp = spacy.load("fr_core_news_sm")
    except (ImportError, OSError):
        return None
    t0, c0 = time.perf_counter(), time.process_time()
    if tokenizer_only:
        for text in texts:
            nlp.make_doc(text)
    else:
        for _ in nlp.pipe(texts, batch_size=32):
            pass
    return time.perf_counter() - t0, time.process_time() - c0


def offer_tokenizer_seconds(texts: Sequence[str]) -> tuple[float, float] | None:
    """(wall, CPU) seconds of the extraction's own tokenizer on ``texts`` (a fresh vocabulary), when the
    checkout has it."""
    try:
        import spacy

        from kg.nlp.offer_tokenizer import OfferTokenizer
    except ImportError:
        return None
    tokenizer = OfferTokenizer(spacy.blank("fr").vocab)
    t0, c0 = time.perf_counter(), time.process_time()
    for text in texts:
        tokenizer(text)
    return time.perf_counter() - t0, time.process_time() - c0


def in_process_speed(store_path: pathlib.Path, merged: pathlib.Path, tmp: str) -> list[list[Any]]:
    """The extraction of ``kg extract`` (same code: make_extractor + run) timed in this process, model
    loading apart: CPU seconds for one worker (fair on a shared machine; a cold then a warm pass),
    wall-clock for two."""
    from kg.config import DEFAULT_BASE_IRI
    from kg.nlp.extract import make_extractor, run
    from kg.store import StoreLayout, open_store

    t0 = time.perf_counter()
    extractor = make_extractor(open_store(store_path), StoreLayout(store_path).current(), DEFAULT_BASE_IRI)
    load = time.perf_counter() - t0
    rows = []
    # 1 worker twice: the first pass starts with empty word caches (cold), the second reads them (warm,
    # what a long run converges to); then 2 forked workers, which inherit the warm word caches.
    # The linker component's clause memo is dropped before each pass: a pass over the same offers
    # would replay every clause; within a pass it answers the clauses met before (reposts).
    for name, workers in (("cold", 1), ("warm", 1), ("", 2)):
        # (the occupation model's per-title rows likewise; absent before them)
        for owner in (extractor.nlp.get_pipe("pas_skill_linker"), extractor.occupation):
            forget = getattr(owner, "forget", None)  # absent before the memo
            if forget is not None:
                forget()
        out = pathlib.Path(tmp, f"speed{workers}{name}.jsonl")
        with open(out, "w", encoding="utf-8") as f:
            w0, c0 = time.perf_counter(), time.process_time()
            stats = run(extractor, [merged], f, workers=workers)
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        n = stats.offers
        if workers == 1:
            rows.append([f"extraction, 1 worker, {name} pass (models loaded in {load:.1f} s, cached)",
                         n, wall, cpu, n / cpu])
        else:
            rows.append(["extraction, 2 workers (wall-clock; CPU of the workers not counted)", n, wall, "",
                         n / wall])
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=pathlib.Path, default=DATA)
    ap.add_argument("--store", type=pathlib.Path, default=ROOT / "var" / "store",
                    help="graph built by `kg build --data ../shared/data` (labels for the baselines)")
    ap.add_argument("--predictions", type=pathlib.Path, help="a `kg extract` output file to score")
    ap.add_argument("--no-run", action="store_true", help="do not run `kg extract` even when it exists")
    ap.add_argument("--speed-only", action="store_true",
                    help="only the speed table (extraction in-process beside bare spaCy), no quality")
    ap.add_argument("--profile", type=int, metavar="N", default=0,
                    help="only profile one cold pass of the extraction (cProfile) and print its N costliest "
                         "functions by own time, then by cumulative time")
    args = ap.parse_args()
    if args.profile:
        profile(args.data, args.store, args.profile)
        return
    if args.speed_only:
        speed_only(args.data, args.store)
        return
    if not (args.data / "offers").is_dir():
        sys.exit(f"real data folder {args.data} is absent: nothing to measure")

    files = offer_files(args.data)
    offers = load_offers(files)
    gold = load_annotation(ANNOTATION)
    stats = annotation_stats(gold)
    print(f"# Extraction benchmark — {len(offers)} real offers from {len(files)} files; "
          f"annotation: {stats['offers']} offers {stats['splits']}, {stats['mentions']} mentions, "
          f"{stats['no_referential_share']:.1%} in no referential")

    t0 = time.perf_counter()
    labels = GraphLabels(args.store)
    print(f"graph labels: {len(labels.appellations)} appellation forms, {len(labels.items)} fiches "
          f"({time.perf_counter() - t0:.1f} s)")

    # --- baselines
    t0 = time.perf_counter()
    cache: dict[str, list[str]] = {}
    base_occ = {}
    for oid, (_, o) in offers.items():
        title = norm(o.get("intitule") or "")
        if title not in cache:
            cache[title] = baseline_occupation(title, labels)
        base_occ[oid] = cache[title]
    base_occ_s = time.perf_counter() - t0
    base_skills = {oid: baseline_skills(offer_text(o), (base_occ[oid] or [None])[0], labels)
                   for oid, (_, o) in offers.items()}
    oracle_skills = {}
    for g in gold:
        if g.id in offers:
            o = offers[g.id][1]
            oracle_skills[g.id] = baseline_skills(offer_text(o), o.get("romeCode"), labels)

    # --- system
    system: dict[str, dict[str, Any]] | None = None
    system_name = f"system ({args.predictions.name})" if args.predictions else "system (kg extract)"
    speed_rows: list[list[Any]] = []
    if args.predictions:
        with open(args.predictions, encoding="utf-8") as f:
            system = {str(r["id"]): r for r in map(json.loads, filter(str.strip, f)) if "id" in r}
    elif not args.no_run and extract_available():
        with tempfile.TemporaryDirectory() as tmp:
            merged = write_merged(offers, tmp)
            out1 = pathlib.Path(tmp, "w1.jsonl")
            s1 = run_extract([merged], 1, out1, args.store)
            with open(out1, encoding="utf-8") as f:
                system = {str(r["id"]): r for r in map(json.loads, filter(str.strip, f)) if "id" in r}
            speed_rows = speed_table(args.store, offers, merged, tmp, command_seconds=s1)

    # --- occupation
    rows = []
    by_file: dict[str, list[str]] = defaultdict(list)
    for oid, (fname, _) in offers.items():
        by_file[fname].append(oid)
    issue_set = [i for i, (fname, _) in offers.items() if not fname.startswith("ft_offres_maconnerie")]
    groups = [*sorted(by_file.items()), ("offers/ without trades/ (the issue's figures)", issue_set),
              ("all", list(offers))]
    for fname, ids in groups:
        pairs = [(base_occ[i], offers[i][1].get("romeCode", "")) for i in ids]
        row: list[Any] = [fname, len(ids), topk_accuracy(pairs, 1), topk_accuracy(pairs, 3)]
        if system is not None:
            sp = [(_candidates(system.get(i)), offers[i][1].get("romeCode", "")) for i in ids]
            row += [topk_accuracy(sp, 1), topk_accuracy(sp, 3)]
        rows.append(row)
    header = ["offers file", "n", "baseline top-1", "baseline top-3"]
    if system is not None:
        header += ["system top-1", "system top-3"]
    print_table("Occupation from the text (reference: declared romeCode; goal top-1 ≥ 0.80, top-3 ≥ 0.92)",
                header, rows)
    print(f"\nbaseline occupation: {len(offers) / base_occ_s:.0f} offers/s")

    # --- skills
    annotated = [g for g in gold if g.id in offers]
    rows = skill_rows("baseline (fiche items, fuzzy top-10)", annotated, base_skills)
    rows += skill_rows("reference: declared fiche's items, fuzzy top-10", annotated, oracle_skills)
    system_skills = predictions_from_extraction(system.values()) if system is not None else None
    if system_skills is not None:
        rows += skill_rows(system_name, annotated, system_skills)
    print_table("Skills stated in the text vs the hand annotation (item level per offer = primary; "
                "goal P ≥ 0.70, R ≥ 0.65)",
                ["method", "split", "offers", "P", "R", "F1", "span P", "span R", "units found"], rows)
    if system_skills is not None:
        print_table("The system's skill figures with 95 % bootstrap intervals (offers resampled, "
                    f"{BOOTSTRAP_DRAWS} draws): TEST as a whole, by draw and by offers file",
                    ["split", "offers", "P", "P 95 %", "R", "R 95 %", "units found"],
                    interval_rows(annotated, system_skills))

    # --- recruiter competences
    ref = {oid: [c["code"] for c in o.get("competences") or () if c.get("code")]
           for oid, (_, o) in offers.items()}
    rows = []
    base_ranked = ((_dedup(s.code for s in base_skills[i]), ref[i]) for i in offers)
    r, found, total = recall_at_k(base_ranked, TOP_SKILLS)
    n_with = sum(1 for v in ref.values() if v)
    rows.append(["baseline (fiche items, fuzzy top-10)", n_with, f"{found}/{total}", r])
    if system is not None:
        r, found, total = recall_at_k(((_ranked_skills(system.get(i)), ref[i]) for i in offers), TOP_SKILLS)
        rows.append([system_name, n_with, f"{found}/{total}", r])
    print_table("Recruiter-chosen competences: recall@10 (reported, not a goal)",
                ["method", "offers with competences", "found", "recall@10"], rows)

    # --- speed
    if speed_rows:
        print_table("Speed (same texts; offers/s per CPU-second on one core, per wall-second for 2 workers)",
                    ["run", "offers", "wall s", "CPU s", "offers/s", "extraction 1 worker cold ÷ this"],
                    speed_rows)
    elif system is None:
        print("\n## Speed / system\n\n`kg extract` is not available in this checkout (the extractor of "
              "issue #4 is built on another branch): only the baselines were measured. Re-run this "
              "benchmark once `kg extract` exists, or pass --predictions FILE.")
    else:
        print("\n## Speed\n\nnot measured: the predictions were read from a file (--predictions).")


def write_merged(offers: Mapping[str, tuple[str, dict[str, Any]]], tmp: str) -> pathlib.Path:
    """``offers`` as one JSON Lines file in ``tmp``: the CSV dumps converted, since kg extract reads the
    API v2 JSON shape."""
    merged = pathlib.Path(tmp, "offers.jsonl")
    with open(merged, "w", encoding="utf-8") as f:
        for _, o in offers.values():
            f.write(json.dumps(o, ensure_ascii=False) + "\n")
    return merged


def speed_table(store: pathlib.Path, offers: Mapping[str, tuple[str, dict[str, Any]]], merged: pathlib.Path,
                tmp: str, command_seconds: float | None = None) -> list[list[Any]]:
    """Rows of the speed table: the extraction in-process (1 and 2 workers) of ``merged`` (the ``offers``
    written by :func:`write_merged`), the `kg extract` command when it was timed, and the bare spaCy
    pipeline and its tokenizer on the same texts."""
    texts = [offer_text(o) for _, o in offers.values()]
    rows = in_process_speed(store, merged, tmp)
    n = len(texts)
    if command_seconds is not None:
        rows.insert(0, ["`kg extract` command, 1 worker (start-up and model loading included)", n,
                        command_seconds, "", n / command_seconds])
    for label, only in (("bare fr_core_news_sm, all components", False),
                        ("bare fr_core_news_sm, tokenizer only", True)):
        bare = bare_spacy_seconds(texts, tokenizer_only=only)
        if bare is not None:
            rows.append([label, n, bare[0], bare[1], n / bare[1]])
    seconds = offer_tokenizer_seconds(texts)
    if seconds is not None:
        rows.append(["the extraction's tokenizer alone (pas_offer_tokenizer, first pass)", n, seconds[0],
                     seconds[1], n / seconds[1]])
    ours = next(r[4] for r in rows if str(r[0]).startswith("extraction, 1 worker, cold"))
    for row in rows:
        row.append(f"{ours / row[4]:.2f}" if row[4] else "")
    return rows


def profile(data: pathlib.Path, store: pathlib.Path, top: int) -> None:
    """cProfile of one cold pass of the extraction (models loaded beforehand) over the real offers."""
    import cProfile
    import pstats

    from kg.config import DEFAULT_BASE_IRI
    from kg.nlp.extract import make_extractor
    from kg.nlp.offers import read_offers as read_api_offers
    from kg.store import StoreLayout, open_store

    offers = load_offers(offer_files(data))
    extractor = make_extractor(open_store(store), StoreLayout(store).current(), DEFAULT_BASE_IRI)
    with tempfile.TemporaryDirectory() as tmp:
        merged = pathlib.Path(tmp, "offers.jsonl")
        merged.write_text("".join(json.dumps(o, ensure_ascii=False) + "\n" for _, o in offers.values()),
                          encoding="utf-8")
        items = list(read_api_offers(merged))
    profiler = cProfile.Profile()
    profiler.enable()
    results = list(extractor.extract(items))
    profiler.disable()
    print(f"# cProfile of one cold pass over {len(results)} real offers")
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


def speed_only(data: pathlib.Path, store: pathlib.Path) -> None:
    offers = load_offers(offer_files(data))
    print(f"# Extraction speed — {len(offers)} real offers")
    with tempfile.TemporaryDirectory() as tmp:
        rows = speed_table(store, offers, write_merged(offers, tmp), tmp)
    print_table("Speed (same texts; offers/s per CPU-second on one core, per wall-second for 2 workers)",
                ["run", "offers", "wall s", "CPU s", "offers/s", "extraction 1 worker cold ÷ this"], rows)


def _dedup(codes: Any) -> list[str]:
    out: list[str] = []
    for c in codes:
        if c not in out:
            out.append(c)
    return out


def _candidates(record: Mapping[str, Any] | None) -> list[str]:
    if not record or record.get("error"):
        return []
    occ = record.get("occupation") or {}
    cands = [c["code"] for c in occ.get("candidates") or () if c.get("code")]
    return cands or ([occ["code"]] if occ.get("code") else [])


def _ranked_skills(record: Mapping[str, Any] | None) -> list[str]:
    if not record or record.get("error"):
        return []
    skills = sorted(record.get("skills") or (), key=lambda s: -(s.get("score") or 0.0))
    return _dedup(s["code"] for s in skills if s.get("code"))


if __name__ == "__main__":
    main()
