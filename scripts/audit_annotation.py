"""Rule-driven consistency audit of the DEV split of the skill annotation (docs/ANNOTATION.md).

1. *Same phrase, same items* (DEV): the mentions whose text is the same (accents, case and punctuation
   aside) in different DEV offers must carry the same code and alternatives. Reported only (a difference
   would need a reading of both offers).
2. *Fixed choices* (both splits since session 16; DEV only before): "Choosing the item", rule 5 of
   docs/ANNOTATION.md, fixes the alternatives of the frequent quality items (organisation → 300483 with
   497464 and 497465, autonomy → 300460 with 492404, …). A mention whose code is one of them and which
   lacks one of the listed alternatives gets it. With ``--write`` the annotation file is rewritten (one
   JSON object per line, as before).

Two more rules over **both** splits, mechanical (they read the ROME labels and the mentions' own words,
never a system output), closing the annotation under what rule 2-3 of "Choosing the item" already say:

3. *The label is the mention*: an item whose label has the mention's words (same :func:`signature`) means
   the same thing. It is accepted (an alternative); a mention in no referential gets it as its code (of
   several such items: savoir-faire, then savoir-être, savoir, macro-compétence, as rule 2 orders them).
4. *ROME's duplicates*: two items whose labels have the same signature are the same requirement ("Respect
   des délais de livraison" / "Respecter les délais de livraison"); a mention accepting one accepts both.

The signature of a phrase is the sequence of the Snowball stems of its words, function words and the
light verbs of :data:`kg.nlp.text.STOP_WORDS` left out, and of its upper-case and digit tokens verbatim
(so that "catégorie CE" and "catégorie DE", or "catégorie 3" and "catégorie 5", stay apart). Word order
counts ("Techniques de présentation des produits" is not "Présentation de produits techniques"). It uses
no derivational folding of the linker's keys, so a change of those keys does not move the annotation.

    .venv/bin/python scripts/audit_annotation.py [--write]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

import Stemmer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from annotate_offers import items as rome_items  # noqa: E402  (scripts/, beside this one)

from kg.nlp.offers_csv import offer_text, read_offers  # noqa: E402
from kg.nlp.text import STOP_WORDS, form_key, strip_accents, words  # noqa: E402

ANNOTATION = ROOT / "tests" / "annotations" / "offers-skills.jsonl"
# docs/ANNOTATION.md, "Choosing the item", rule 5: the fixed choices that list alternatives
FIXED_ALTERNATIVES: dict[str, tuple[str, ...]] = {
    "300460": ("492404",),  # autonomie
    "300465": ("477056",),  # travail en équipe / esprit d'équipe
    "300483": ("497464", "497465"),  # organisation, sens de l'organisation
    "300479": ("477053",),  # adaptabilité
    "300478": ("476920",),  # maîtrise de soi, gestion du stress
}

_STEMMER = Stemmer.Stemmer("french")
_STOP_FORMS = frozenset(strip_accents(w) for w in STOP_WORDS)
# Rule 3 reads words, not senses: the mentions where an item's label has the mention's words but means
# something else in the offer (a homonym), as (offer id, mention start, item) with the reason; the rule
# neither codes nor accepts the item there. Fifth draw's adjudication (docs/ANNOTATION.md).
HOMONYMS: dict[tuple[str, int, str], str] = {
    ("196SHRT", 1247, "124945"): "automation 'recettes' (parameter sets of a program), not cooking recipes",
    ("196SSMS", 862, "300269"): "deliveries handled administratively (office job), not making a delivery",
    # sixth draw
    ("1242095", 860, "107539"): "'soutien ... psychologique' gives support, not the knowledge of psychology",
    ("1237764", 212, "104699"): "a store department's 'production' figures, not productique",
    ("1237764", 1444, "477056"): "organising the team's work (a manager's task), not the teamwork quality",
    # seventh draw: the signature drops a word that carries the meaning here
    ("1236733", 326, "106774"): "'Traitement du son' is sound processing; the signature reads 'son' as 'his'",
    ("196SYRT", 725, "479810"): "managing networks, not 'Gestion de la capacité réseau' (drops 'capacité')",
    # eighth draw
    ("189LTZK", 625, "106774"): "'sous-traitants' (subcontractors), not 'Traitement du son' (sound work)",
    ("189PHRL", 1926, "104699"): "experience in food 'production', not productique (the same stem)",
    ("189SNHY", 731, "514759"): "an aesthetic sense (a finisher's eye), not 'Esthétique' (beauty care)",
    ("189DSLT", 2449, "107539"): "'une certaine dose de psychologie' is tact with people, not the discipline",
    ("189YWTF", 730, "107539"): "'soutien ... psychologique' gives support, as the sixth draw's 1242095",
    # ninth draw
    ("191YQPH", 3175, "107021"): "'tolérance' (a quality) is not 'Tôlerie' (sheet-metal work; the same stem)",
    # tenth draw
    ("190BCZD", 3201, "107021"): "'tolérance', as the ninth draw's 191YQPH (a near copy)",
    ("196SWJM", 216, "492419"): "laboratory 'analyses' (a task), not 'Capacité d'analyse' (a quality)",
    ("192MZXV", 139, "492419"): "analysing contracts (a task), not 'Capacité d'analyse' (a quality)",
    ("169WTYD", 545, "125903"): "the 'C' of 'permis EB et C' (a truck licence), not the C language",
    # eleventh draw
    ("190FMHN", 763, "104699"): "a packing line's 'production' step, not productique (as 189PHRL)",
}
# "Choosing the item", rule 2: of equivalent items, the savoir-faire, else the savoir; the savoir-être
# items are savoir-faire-like labels of qualities; the macro-compétence last
KIND_ORDER = ("SF", "SE", "SA", "MC")


def fix_choice(mention: dict) -> bool:
    """Give a mention coded with a fixed choice of rule 5 the alternatives that rule lists; True if any
    was missing.

    >>> m = {"code": "300460", "alternatives": []}
    >>> fix_choice(m), m["alternatives"], fix_choice(m)
    (True, ['492404'], False)
    """
    listed = FIXED_ALTERNATIVES.get(mention["code"] or "", ())
    missing = [a for a in listed if a not in mention["alternatives"]]
    if missing:
        mention["alternatives"] = mention["alternatives"] + missing
    return bool(missing)


def signature(phrase: str) -> tuple[str, ...]:
    """The words of ``phrase`` that say what it means, in order: Snowball stems of the content words, the
    upper-case tokens of up to 3 letters and the tokens with a digit verbatim (licence categories).

    >>> signature("Respecter les délais de livraison") == signature("Respect des délais de livraison")
    True
    >>> signature("Assurer les règles de sécurité") == signature("règles de sécurité")
    True
    >>> signature("Permis de conduire catégorie CE") == signature("Permis de conduire catégorie DE")
    False
    >>> signature("Techniques de présentation des produits"), signature("Présentation de produits techniques")
    (('techniqu', 'present', 'produit'), ('present', 'produit', 'techniqu'))
    >>> signature("respect des normes d'hygiène")
    ('respect', 'norm', 'hygien')
    """
    out = []
    for _, _, word in words(phrase):
        if any(c.isdigit() for c in word) or (word.isupper() and len(word) <= 3):
            out.append(word)
            continue
        form = re.split(r"['’]", strip_accents(word.lower()).strip("'’-"))[-1]
        if len(form) >= 2 and form not in _STOP_FORMS:
            out.append(str(_STEMMER.stemWord(form)))
    return tuple(out)


def close_under_labels(
    records: Iterable[dict], texts: Mapping[str, str], items: Iterable[tuple[str, str, str]]
) -> list[tuple[str, int, int, str, str]]:
    """Apply rules 3 and 4 (module doc) to ``records`` in place; return the changes as (offer id, start,
    end, "code"|"alternative", item code). Diploma mentions are left alone (tagged apart, not scored).

    >>> items = [("1", "SF", "Gérer les stocks"), ("2", "MC", "Gérer des stocks"), ("3", "SA", "Stocks")]
    >>> recs = [{"id": "o", "mentions": [{"start": 0, "end": 16, "kind": "task", "code": None,
    ...                                   "alternatives": []}]}]
    >>> close_under_labels(recs, {"o": "gérer les stocks"}, items)
    [('o', 0, 16, 'code', '1'), ('o', 0, 16, 'alternative', '2')]
    >>> close_under_labels(recs, {"o": "gérer les stocks"}, items)  # closed: nothing more
    []
    >>> HOMONYMS[("h", 0, "3")] = "a test"
    >>> close_under_labels([{"id": "h", "mentions": [{"start": 0, "end": 6, "kind": "task", "code": None,
    ...                      "alternatives": []}]}], {"h": "stocks"}, items)  # a homonym: no change
    []
    >>> del HOMONYMS[("h", 0, "3")]
    """
    rank = {kind: n for n, kind in enumerate(KIND_ORDER)}
    groups: dict[tuple[str, ...], list[tuple[str, str]]] = defaultdict(list)
    signature_of: dict[str, tuple[str, ...]] = {}
    for code, kind, label in items:
        signature_of[code] = sig = signature(label)
        if sig:
            groups[sig].append((code, kind))
    changes = []
    for record in records:
        text = texts[record["id"]]
        for m in record["mentions"]:
            if m["kind"] == "diploma":
                continue
            same = [c for c, _ in sorted(groups.get(signature(text[m["start"] : m["end"]]), []),
                                         key=lambda item: rank[item[1]])
                    if (record["id"], m["start"], c) not in HOMONYMS]
            if m["code"] is None and same:
                m["code"] = same[0]
                m["alternatives"] = [a for a in m["alternatives"] if a != same[0]]
                changes.append((record["id"], m["start"], m["end"], "code", same[0]))
            accepted = ([m["code"]] if m["code"] else []) + m["alternatives"]
            duplicates = [c for a in accepted for c, _ in groups.get(signature_of.get(a, ()), [])]
            missing = [c for c in dict.fromkeys(same + duplicates) if c not in accepted]
            m["alternatives"] = m["alternatives"] + missing
            changes += [(record["id"], m["start"], m["end"], "alternative", c) for c in missing]
    return changes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotation", type=Path, default=ANNOTATION)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--write", action="store_true", help="rewrite the annotation with the fixes")
    parser.add_argument("--verbose", action="store_true", help="print every change of checks 3-4")
    args = parser.parse_args()
    records = [json.loads(line) for line in args.annotation.read_text(encoding="utf-8").splitlines() if line]
    dev = [r for r in records if r["split"] == "dev"]

    texts: dict[str, str] = {}
    for source in sorted({r["source"] for r in records}):
        path = next(p for p in (args.data / "offers" / source, args.data / "offers" / "trades" / source)
                    if p.exists())
        texts |= {offer["id"]: offer_text(offer) for offer in read_offers(path)}
    phrases: dict[str, set[tuple[str | None, tuple[str, ...]]]] = defaultdict(set)
    offers_of: dict[str, set[str]] = defaultdict(set)
    for record in dev:
        text = texts[record["id"]]
        for m in record["mentions"]:
            phrase = form_key(text[m["start"] : m["end"]])
            phrases[phrase].add((m["code"], tuple(sorted(m["alternatives"]))))
            offers_of[phrase].add(record["id"])
    repeated = [p for p in phrases if len(offers_of[p]) > 1]
    differing = [p for p in repeated if len(phrases[p]) > 1]
    print(f"check 1: {len(phrases)} distinct DEV phrases, {len(repeated)} in several offers, "
          f"{len(differing)} of these annotated differently")

    fixed = 0
    for split in ("dev", "test"):
        part = [r for r in records if r["split"] == split]
        done = [r["id"] for r in part for m in r["mentions"] if fix_choice(m)]
        fixed += len(done)
        total = sum(1 for r in part for m in r["mentions"] if m["code"] in FIXED_ALTERNATIVES)
        print(f"check 2, {split.upper()}: {total} mentions with a fixed-choice code, {len(done)} lacked a"
              f" listed alternative ({len(set(done))} offers)")
    changes = close_under_labels(records, texts, rome_items(args.data))
    for split in ("dev", "test"):
        ids = {r["id"] for r in records if r["split"] == split}
        mine = [c for c in changes if c[0] in ids]
        coded = sum(c[3] == "code" for c in mine)
        added = sum(c[3] == "alternative" for c in mine)
        print(f"checks 3-4, {split.upper()}: {coded} mentions in no referential get the item whose label"
              f" they are, {added} alternatives added"
              f" ({len({c[:3] for c in mine})} mentions, {len({c[0] for c in mine})} offers)")
    if args.verbose:
        for offer, start, end, what, code in changes:
            print(f"  {offer} {start}-{end} {texts[offer][start:end]!r}: {what} {code}")
    if args.write and (fixed or changes):
        args.annotation.write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
        )
        print(f"written {args.annotation}")


if __name__ == "__main__":
    main()
