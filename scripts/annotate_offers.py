"""Tooling for the hand annotation of skills in job offers (see docs/ANNOTATION.md).

Subcommands (run with the project's virtualenv, from the worktree root):

    python scripts/annotate_offers.py select            # the seeded selection, with its DEV/TEST split
    python scripts/annotate_offers.py show N            # offer number N of the selection, with offsets
    python scripts/annotate_offers.py lookup "query"... # candidate ROME items for each query
    python scripts/annotate_offers.py compile DIR OUT   # scratch notes -> offsets-only annotation JSONL
    python scripts/annotate_offers.py agree NEW.jsonl   # a second annotator's blind records vs the reference
    python scripts/annotate_offers.py precedents "phrase"...  # the reference's decisions on like phrases

Scratch notes (one file per offer, ``DIR/NN.txt``, kept OUTSIDE the repository or in the git-ignored
``var/``) quote the annotated phrase so that the annotator can work from the text; ``compile`` turns each
quoted phrase into character offsets and writes only ids, hashes, offsets, kinds and codes — no text
from the offers enters the project.  A scratch line reads::

    "phrase"[@k] KIND CODE|null [ALT,ALT...]

``@k`` selects the k-th occurrence (1-based) of the phrase after the previous mention's start when the
phrase repeats; by default the first occurrence at or after the previous mention's start is used, so
mentions are written in text order.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import random
import re
import sys
import unicodedata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# the near-copy rule's threshold and normal form, and the annotated text, are the project's own: the skill CV
# groups offers by the same rule (kg.nlp.near_copies), and the offsets refer to the text the extraction reads
from kg.nlp.near_copies import near_copy, same_text
from kg.nlp.offers_csv import offer_text, read_offers

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
AIN = "offers/ft_offres_dep01_ain_2025-08.jsonl"
MASONRY = "offers/trades/ft_offres_maconnerie_france_2024-02-22.jsonl"
# The Ardèche files (CSV dumps of the same API, CDI offers of March and May 2025): no draw before the eighth.
ARDECHE_03 = "offers/ft_offres_dep07_ardeche_cdi_2025-03.csv"
ARDECHE_05 = "offers/ft_offres_dep07_ardeche_cdi_2025-05.csv"
SEED = 20261128
N_AIN, N_MASONRY = 50, 10
TEST_AIN, TEST_MASONRY = 12, 3  # the last ones of each sample are TEST
# Second draw (session 9): offers not yet annotated and whose text is no copy of an annotated or an
# earlier drawn one, so that DEV and TEST never share a text.
SEED2 = 20261129
N2_AIN, N2_MASONRY = 20, 4
TEST2_AIN, TEST2_MASONRY = 5, 1
# Third draw (session 10), by the same rule after the first two; the fourth (session 10 too) larger.
SEED3 = 20261130
SEED4, N4_AIN, N4_MASONRY, TEST4_AIN, TEST4_MASONRY = 20261131, 26, 6, 6, 2
# Fifth draw (session 12): the fourth's sizes, the same rules.
SEED5 = 20261132
# Sixth draw (session 13): twice the fourth's sizes (session 12's learning curve still rose), same rules.
SEED6, N6_AIN, N6_MASONRY, TEST6_AIN, TEST6_MASONRY = 20261133, 52, 12, 12, 4
# Seventh draw (session 16): a fresh held-out set, all TEST (the near-copy rule still sends a copy of a DEV
# ad to DEV): the first TEST split was read after each of sessions 12-15's choices, this one is read once.
SEED7, N7_AIN, N7_MASONRY = 20261134, 32, 8
# Eighth draw (session 17): the Ardèche offers, another département and month than every earlier draw; 40 of
# each file, the last 16 of each TEST (a second fresh held-out set, read once), the rest DEV.
SEED8, N8, TEST8 = 20261135, 40, 16
# Ninth draw (session 17): training offers only (the eighth draw's DEV offers lifted every TEST part), all
# DEV; an offer that nearly copies a TEST offer is skipped: TEST keeps its offers, no copy of one trains.
SEED9 = 20261136
PLAN9 = ((AIN, 32, 0), (MASONRY, 8, 0), (ARDECHE_03, 20, 0), (ARDECHE_05, 20, 0))
# Tenth draw (session 17): the same rules, 80 more training offers asked (the ninth's refit still gained on
# TEST); 27 Ain offers are left that no TEST offer nearly copies, so 77 are drawn.
SEED10 = 20261137
PLAN10 = ((AIN, 30, 0), (MASONRY, 10, 0), (ARDECHE_03, 20, 0), (ARDECHE_05, 20, 0))
# Eleventh draw (session 18): every offer left that is no copy of an annotated one and no near copy of a TEST
# offer (12 masonry, 23 + 19 Ardèche), all DEV: the tenth's refit still gained recall on TEST.
SEED11 = 20261138
PLAN11 = ((MASONRY, 14, 0), (ARDECHE_03, 27, 0), (ARDECHE_05, 24, 0))
# The first number of each draw in the selection (docs/ANNOTATION.md): draw d holds numbers
# DRAW_STARTS[d - 1] up to the next start.
DRAW_STARTS = (0, 60, 84, 108, 140, 172, 236, 276, 356, 436, 513)
KINDS = {"task", "tool", "knowledge", "quality", "licence", "diploma"}


def draw_of(number: int) -> int:
    """The draw (1-11) of the offer with this number of the selection.

    >>> [draw_of(n) for n in (0, 59, 60, 235, 236, 276, 356, 436, 513)]
    [1, 1, 2, 6, 7, 8, 9, 10, 11]
    """
    return sum(number >= start for start in DRAW_STARTS)


@functools.cache
def load(path: str) -> list[dict]:
    """The offers of a file, JSON Lines or CSV dump (read once per process: the draws, ``offers_by_id`` and
    the near-copy rule all read the same files; callers do not change the records)."""
    return list(read_offers(DATA / path))


def _split(name: str, ids: list[str], n_test: int) -> list[tuple[str, str, str]]:
    return [(Path(name).name, oid, "test" if i >= len(ids) - n_test else "dev") for i, oid in enumerate(ids)]


def _later_draw(
    earlier: list[tuple[str, str, str]], seed: int,
    sizes: tuple[int, int, int, int] = (N2_AIN, N2_MASONRY, TEST2_AIN, TEST2_MASONRY),
) -> list[tuple[str, str, str]]:
    """``sizes`` = (Ain, masonry, of which TEST) offers drawn with ``seed`` among those not in ``earlier``,
    no text twice."""
    n_ain, n_masonry, test_ain, test_masonry = sizes
    return _draw_files(earlier, seed, ((AIN, n_ain, test_ain), (MASONRY, n_masonry, test_masonry)))


def _draw_files(
    earlier: list[tuple[str, str, str]], seed: int, plan: tuple[tuple[str, int, int], ...],
    skip_test_copies: bool = False,
) -> list[tuple[str, str, str]]:
    """For each (file, n, of which TEST) of ``plan`` in turn, n offers drawn with one ``seed`` among those
    not in ``earlier``, no text twice (the exact-text rule; near copies are ``_near_copies_in_dev``'s).
    With ``skip_test_copies`` an offer whose text nearly copies an earlier TEST offer's is not drawn."""

    rng = random.Random(seed)
    by_id = offers_by_id()
    taken = {oid for _, oid, _ in earlier}
    texts = {same_text(offer_text(by_id[oid])) for oid in taken}
    tests = [same_text(offer_text(by_id[oid])) for _, oid, split in earlier
             if split == "test"] if skip_test_copies else []
    out = []
    for name, n, n_test in plan:
        fresh = sorted(o["id"] for o in load(name) if o["id"] not in taken)
        drawn: list[str] = []
        for oid in rng.sample(fresh, len(fresh)):
            key = same_text(offer_text(by_id[oid]))
            if any(near_copy(key, t) for t in tests):
                continue
            if key not in texts:
                texts.add(key)
                drawn.append(oid)
            if len(drawn) == n:
                break
        out += _split(name, drawn, n_test)
    return out


def selection() -> list[tuple[str, str, str]]:
    """(source file name, offer id, split) in annotation order: numbers 0-59 the first draw, 60-83 the
    second, 84-107 the third, 108-139 the fourth, 140-171 the fifth, 172-235 the sixth, 236-275 the
    seventh, 276-355 the eighth, 356-435 the ninth, 436-512 the tenth (77: the Ain offers ran out), 513-566
    the eleventh (54: every offer left)."""
    rng = random.Random(SEED)
    ain = rng.sample(sorted(o["id"] for o in load(AIN)), N_AIN)
    mas = rng.sample(sorted(o["id"] for o in load(MASONRY)), N_MASONRY)
    first = _split(AIN, ain, TEST_AIN) + _split(MASONRY, mas, TEST_MASONRY)
    second = first + _later_draw(first, SEED2)
    third = second + _later_draw(second, SEED3)
    sizes = (N4_AIN, N4_MASONRY, TEST4_AIN, TEST4_MASONRY)
    fourth = third + _later_draw(third, SEED4, sizes)
    fifth = fourth + _later_draw(fourth, SEED5, sizes)
    sixth = fifth + _later_draw(fifth, SEED6, (N6_AIN, N6_MASONRY, TEST6_AIN, TEST6_MASONRY))
    seventh = sixth + _later_draw(sixth, SEED7, (N7_AIN, N7_MASONRY, N7_AIN, N7_MASONRY))
    eighth = seventh + _draw_files(seventh, SEED8, ((ARDECHE_03, N8, TEST8), (ARDECHE_05, N8, TEST8)))
    # the eighth draw's TEST offers are final before the ninth is drawn around them
    eighth = _near_copies_in_dev(eighth)
    ninth = eighth + _draw_files(eighth, SEED9, PLAN9, skip_test_copies=True)
    tenth = ninth + _draw_files(ninth, SEED10, PLAN10, skip_test_copies=True)
    eleventh = tenth + _draw_files(tenth, SEED11, PLAN11, skip_test_copies=True)
    return _near_copies_in_dev(eleventh)


def _near_copies_in_dev(drawn: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """A TEST offer whose text nearly copies a DEV offer's (the same ad reposted with a line changed, which
    the exact-text rule of the draws lets through) is put in DEV: TEST must hold texts no fitting saw. On
    the 140 drawn offers this moves one offer of the fourth draw (number 130, ratio 96.6); no TEST offer of
    the earlier draws is above 80."""

    by_id = offers_by_id()
    text = {oid: same_text(offer_text(by_id[oid])) for _, oid, _ in drawn}
    dev = [oid for _, oid, split in drawn if split == "dev"]
    return [(name, oid, "dev" if split == "test" and any(near_copy(text[oid], text[d]) for d in dev)
             else split) for name, oid, split in drawn]


def agree(path: Path, reference: Path) -> None:
    """Item-level agreement of a second annotator's records with the reference annotation of the same
    offers, read as P / R with the reference as gold (kg.nlp.evaluate.offer_item_pr: the second
    annotator's codes, alternatives not counted as predictions), and the reverse."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from kg.nlp.evaluate import PR, load_annotation, offer_item_pr

    ref = {a.id: a for a in load_annotation(reference)}
    new = load_annotation(path)
    fwd = back = PR(0, 0, 0, 0)
    for a in new:
        r = ref[a.id]
        mine = [m.code for m in a.mentions if m.code and m.kind != "diploma"]
        theirs = [m.code for m in r.mentions if m.code and m.kind != "diploma"]
        f, b = offer_item_pr(r, mine), offer_item_pr(a, theirs)
        fwd, back = fwd + f, back + b
        print(f"{a.id}: mentions {len(a.mentions)} vs {len(r.mentions)}; new vs reference: "
              f"{f.correct}/{f.predicted} codes right, {f.found}/{f.gold} units found; reference vs new: "
              f"{b.correct}/{b.predicted} right, {b.found}/{b.gold} found")
    print(f"all {len(new)} offers: new vs reference P {fwd.precision:.3f} R {fwd.recall:.3f} "
          f"({fwd.found}/{fwd.gold} units); reference vs new P {back.precision:.3f} R {back.recall:.3f} "
          f"({back.found}/{back.gold})")


def offers_by_id() -> dict[str, dict]:
    return {o["id"]: o for path in (AIN, MASONRY, ARDECHE_03, ARDECHE_05) for o in load(path)}


def norm(s: str) -> str:
    s = unicodedata.normalize("NFKD", s.lower())
    return "".join(c for c in s if not unicodedata.combining(c)).replace("’", "'")


def items(data: Path = DATA) -> list[tuple[str, str, str]]:
    """(code, kind, label) of every ROME v460 item an annotation may name: kind SF (savoir-faire), SE
    (savoir-être), MC (macro-compétence) from the competence file, SA (savoir) from the savoir file, read
    from the open-data folder ``data``."""
    out = []
    with open(data / "rome/unix_referentiel_competence_v460_utf8.csv", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            kind = "SE" if r["cat_comp"] == "Savoir-être professionnel" else (
                "MC" if r["nature"] != "Compétence" else "SF")
            out.append((r["code_ogr"], kind, r["libelle_competence"]))
    with open(data / "rome/unix_referentiel_savoir_v460_utf8.csv", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            out.append((r["code_ogr_savoir"], "SA", r["libelle_savoir"]))
    return out


def lookup(queries: list[str], n: int = 4) -> None:
    from rapidfuzz import fuzz, process

    its = items()
    labels = [norm(lab) for _, _, lab in its]
    for q in queries:
        qn = norm(q)
        print(f"== {q}")
        hits = process.extract(qn, labels, scorer=fuzz.token_set_ratio, limit=n)
        sub = [i for i, lab in enumerate(labels) if all(w in lab for w in qn.split())][:3]
        seen = set()
        for _, score, i in hits:
            seen.add(i)
            print(f"  {its[i][0]} {its[i][1]} {score:5.1f} {its[i][2]}")
        for i in sub:
            if i not in seen:
                print(f"  {its[i][0]} {its[i][1]}   sub {its[i][2]}")


def precedents(queries: list[str], n: int = 6) -> None:
    """The annotated mentions whose phrase is nearest each query (rapidfuzz token-set ratio, accents and
    case aside), with kind, code and alternatives: the precedents a new annotator follows so that the same
    phrase gets the same decision (code, or null with the near item as an alternative)."""
    from rapidfuzz import fuzz, process

    reference = Path(__file__).resolve().parent.parent / "tests/annotations/offers-skills.jsonl"
    offers = offers_by_id()
    labels = {c: lab for c, _, lab in items()}
    rows = []
    with open(reference, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            text = offer_text(offers[r["id"]])
            rows += [(text[m["start"]:m["end"]], m) for m in r["mentions"]]
    phrases = [norm(p) for p, _ in rows]
    for q in queries:
        print(f"== {q}")
        for _, score, i in process.extract(norm(q), phrases, scorer=fuzz.token_set_ratio, limit=n):
            phrase, m = rows[i]
            code = m["code"] or "null"
            alts = ",".join(m["alternatives"])
            print(f"  {score:5.1f} {phrase!r} {m['kind']} {code} {labels.get(m['code'], '')!r} [{alts}]")


LINE = re.compile(
    r'^"(?P<p>[^"]+)"(?:@(?P<k>\d+))?\s+(?P<kind>\w+)\s+(?P<code>\d+|null)(?:\s+(?P<alts>[\d,]+))?\s*$'
)


def mid_word(text: str, i: int) -> bool:
    """True when offset i cuts a word (a lower→upper case change counts as a boundary: glued bullets)."""
    if i <= 0 or i >= len(text) or not (text[i - 1].isalnum() and text[i].isalnum()):
        return False
    return not (text[i - 1].islower() and text[i].isupper())


def phrase_pattern(phrase: str) -> str:
    """A regex for a quoted phrase: any run of white space (no-break spaces too), either apostrophe."""
    out = []
    for c in phrase:
        out.append(r"\s+" if c.isspace() else "['’]" if c in "'’" else re.escape(c))
    return "".join(out).replace(r"\s+\s+", r"\s+")


def compile_notes(notes: Path, out: Path) -> None:
    offers = offers_by_id()
    codes = {c for c, _, _ in items()}
    records = []
    for n, (src, oid, split) in enumerate(selection()):
        f = notes / f"{n:02d}.txt"
        if not f.exists():
            continue
        text = offer_text(offers[oid])
        mentions = []
        pos = 0
        for ln, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            m = LINE.match(line)
            if not m:
                sys.exit(f"{f}:{ln}: cannot parse {line!r}")
            phrase, k = m["p"], int(m["k"] or 1)
            pattern = re.compile(phrase_pattern(phrase))
            spans = [mt.span() for mt in pattern.finditer(text, pos)
                     if not mid_word(text, mt.start()) and not mid_word(text, mt.end())]
            if len(spans) < k:
                sys.exit(f"{f}:{ln}: phrase not found (as whole words) after offset {pos}: {phrase!r}")
            start, end = spans[k - 1]
            kind, code = m["kind"], (None if m["code"] == "null" else m["code"])
            alts = [a for a in (m["alts"] or "").split(",") if a]
            if kind not in KINDS:
                sys.exit(f"{f}:{ln}: unknown kind {kind}")
            for c in [code, *alts]:
                if c is not None and c not in codes:
                    sys.exit(f"{f}:{ln}: unknown ROME code {c}")
            mentions.append({"start": start, "end": end, "kind": kind, "code": code, "alternatives": alts})
            pos = start
        records.append({
            "id": oid,
            "source": src,
            "split": split,
            "draw": draw_of(n),
            "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
            "mentions": sorted(mentions, key=lambda m: (m["start"], m["end"])),
        })
    with open(out, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"{len(records)} offers, {sum(len(r['mentions']) for r in records)} mentions -> {out}")


def main(argv: list[str]) -> None:
    cmd = argv[0]
    if cmd == "select":
        for n, (src, oid, split) in enumerate(selection()):
            print(n, src, oid, split)
    elif cmd == "show":
        offers = offers_by_id()
        for n in argv[1:]:
            src, oid, split = selection()[int(n)]
            o = offers[oid]
            print(f"##### {n} {oid} {split} rome={o.get('romeCode')} {o.get('appellationlibelle')}")
            print(offer_text(o))
    elif cmd == "lookup":
        lookup(argv[1:])
    elif cmd == "fiche":
        labels = {c: (k, lab) for c, k, lab in items()}
        with open(DATA / "rome/unix_liens_rome_referentiels_v460_utf8.csv", encoding="utf-8") as f:
            for r in csv.DictReader(f):
                if r["code_rome"] in argv[1:] and r["code_ogr"] in labels:
                    print(r["code_rome"], r["code_ogr"], *labels[r["code_ogr"]])
    elif cmd == "precedents":
        precedents(argv[1:])
    elif cmd == "compile":
        compile_notes(Path(argv[1]), Path(argv[2]))
    elif cmd == "agree":
        agree(Path(argv[1]), Path(__file__).resolve().parent.parent / "tests/annotations/offers-skills.jsonl")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
