"""Rule-driven consistency audit of the DEV split of the skill annotation (docs/ANNOTATION.md).

Two checks over **all** DEV offers (the TEST split is never read nor changed):

1. *Same phrase, same items*: the mentions whose text is the same (accents, case and punctuation
   aside) in different offers must carry the same code and alternatives. Reported only (a difference
   would need a reading of both offers).
2. *Fixed choices*: "Choosing the item", rule 5 of docs/ANNOTATION.md, fixes the alternatives of the
   frequent quality items (organisation → 300483 with 497464 and 497465, autonomy → 300460 with 492404,
   …). A DEV mention whose code is one of them and which lacks one of the listed alternatives gets it.
   With ``--write`` the annotation file is rewritten (one JSON object per line, as before).

    .venv/bin/python scripts/audit_annotation.py [--write]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kg.nlp.offers_csv import offer_text, read_offers  # noqa: E402
from kg.nlp.text import form_key  # noqa: E402

ANNOTATION = ROOT / "tests" / "annotations" / "offers-skills.jsonl"
# docs/ANNOTATION.md, "Choosing the item", rule 5: the fixed choices that list alternatives
FIXED_ALTERNATIVES: dict[str, tuple[str, ...]] = {
    "300460": ("492404",),  # autonomie
    "300465": ("477056",),  # travail en équipe / esprit d'équipe
    "300483": ("497464", "497465"),  # organisation, sens de l'organisation
    "300479": ("477053",),  # adaptabilité
    "300478": ("476920",),  # maîtrise de soi, gestion du stress
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotation", type=Path, default=ANNOTATION)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--write", action="store_true", help="rewrite the annotation with the fixes")
    args = parser.parse_args()
    records = [json.loads(line) for line in args.annotation.read_text(encoding="utf-8").splitlines() if line]
    dev = [r for r in records if r["split"] == "dev"]

    texts: dict[str, str] = {}
    for source in sorted({r["source"] for r in dev}):
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
    touched = set()
    for record in dev:
        for m in record["mentions"]:
            missing = [a for a in FIXED_ALTERNATIVES.get(m["code"] or "", ()) if a not in m["alternatives"]]
            if missing:
                m["alternatives"] = m["alternatives"] + missing
                fixed += 1
                touched.add(record["id"])
    total = sum(1 for r in dev for m in r["mentions"] if m["code"] in FIXED_ALTERNATIVES)
    print(f"check 2: {total} DEV mentions with a fixed-choice code, {fixed} lacked a listed alternative "
          f"({len(touched)} offers)")
    if args.write and fixed:
        args.annotation.write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
        )
        print(f"written {args.annotation}")


if __name__ == "__main__":
    main()
