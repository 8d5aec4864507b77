"""The word families of the lemma keys (:func:`kg.nlp.text.word_key`) on the real vocabulary: the
words of the ROME labels (savoir-faire, savoirs, appellations) and of the real JSON offers, grouped
by key, with what went apart and what went together.

    .venv/bin/python benchmarks/word_families.py [--data ../shared/data] [--before /tmp/morph-before]
        [--list]

Printed per keying (``--before``: the ``kg/nlp/text.py`` of another checkout, beside this one):

* *keys*: the distinct keys of the ROME label words, and how many Snowball stems a key gathers
  (one stem = no derivational folding; several = a family);
* *split pairs*: a noun or participle and the verb it derives from, both in the vocabulary, whose keys
  differ (a missed match). The pairs are proposed by suffix substitution (``vérification`` →
  ``vérifier``, ``façonnage`` → ``façonner``, ``négocié`` → ``négocier``, ``diagnostic`` →
  ``diagnostiquer``…), so only pairs whose both words occur are counted;
* with ``--before``: the stems the two keyings group differently (newly merged, newly split), which
  is what a reader checks for false merges; ``--list`` prints the split pairs and every group of
  merged stems too.

No offer text is printed beyond single words of the vocabulary.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import Stemmer  # noqa: E402

from kg.nlp import text as current  # noqa: E402

ROME_FILES = (
    ("unix_referentiel_competence_v460_utf8.csv", ("libelle_competence",)),
    ("unix_referentiel_savoir_v460_utf8.csv", ("libelle_savoir",)),
    ("unix_referentiel_appellation_v460_utf8.csv", ("libelle_appellation_long", "libelle_appellation_court")),
)
_WORD = re.compile(r"[^\W\d_]+")
_STEMMER = Stemmer.Stemmer("french")
Key = Callable[[str], "str | None"]  # a keying: word_key of this checkout or of another
Sides = dict[str, dict[str, list[str]]]

# A derived word's ending → the endings of the verb it may come from (tried in turn; a pair counts
# when the derived word and one of its verbs are both in the vocabulary).
DERIVATIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ification", ("ifier",)),
    ("ication", ("iquer", "ier")),
    ("ution", ("uter", "uer")),
    ("ation", ("er",)),
    ("ition", ("ir",)),
    ("ssion", ("tre", "der", "ter")),
    ("tion", ("ter", "ser")),
    ("ion", ("er",)),
    ("age", ("er",)),
    ("ement", ("er", "ir")),
    ("ment", ("er",)),
    ("ure", ("er", "re", "ir")),
    ("ié", ("ier",)),
    ("iée", ("ier",)),
    ("é", ("er",)),
    ("ée", ("er",)),
    ("ique", ("iquer",)),
    ("ic", ("iquer",)),
    ("aux", ("ail",)),
)


def vocabulary(data: Path) -> tuple[Counter[str], set[str]]:
    """Every lower-case word of the ROME labels and the real JSON offers with its count, and the
    set of the ROME label words."""
    counts: Counter[str] = Counter()
    rome: set[str] = set()
    for name, columns in ROME_FILES:
        with (data / "rome" / name).open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                for column in columns:
                    found = [w.lower() for w in _WORD.findall(row[column])]
                    counts.update(found)
                    rome.update(found)
    for path in sorted((data / "offers").rglob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            offer = json.loads(line)
            text = (offer.get("intitule") or "") + "\n" + (offer.get("description") or "")
            counts.update(w.lower() for w in _WORD.findall(text))
    return counts, rome


def derived_pairs(words: Iterable[str]) -> list[tuple[str, str]]:
    """(derived word, verb) pairs of a vocabulary, by :data:`DERIVATIONS` (plural ``s`` dropped).

    >>> derived_pairs(["vérification", "vérifier", "façonnage", "façonner", "plans"])
    [('façonnage', 'façonner'), ('vérification', 'vérifier')]
    """
    known = set(words)
    pairs = set()
    for word in known:
        base = word[:-1] if word.endswith("s") and len(word) > 4 else word
        for ending, verbs in DERIVATIONS:
            if base.endswith(ending) and len(base) - len(ending) >= 3:
                stem = base[: len(base) - len(ending)]
                for verb in verbs:
                    if stem + verb in known and stem + verb != word:
                        pairs.add((word, stem + verb))
                        break
                break
    return sorted(pairs)


def load_text(checkout: Path) -> ModuleType:
    """The ``kg/nlp/text.py`` of another checkout, as a module of its own."""
    spec = importlib.util.spec_from_file_location("before_text", checkout / "kg" / "nlp" / "text.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def stem_groups(key: Key, words: Iterable[str]) -> dict[str, set[str]]:
    """Key → the Snowball stems of the words it gathers (function words left out)."""
    groups: dict[str, set[str]] = defaultdict(set)
    for word in words:
        k = key(word)
        if k is not None and not k.isupper():
            groups[k].add(_STEMMER.stemWord(current.strip_accents(word)))
    return groups


def report(name: str, key: Key, counts: Counter[str], rome: set[str],
           pairs: list[tuple[str, str]], show: bool) -> None:
    """Print one keying's figures."""
    groups = stem_groups(key, rome)
    per_key = Counter(k for w in rome if (k := key(w)) is not None and not k.isupper())
    merged = {k: v for k, v in groups.items() if len(v) > 1}
    split = [(a, b) for a, b in pairs if key(a) != key(b)]
    split_rome = [(a, b) for a, b in split if a in rome or b in rome]
    print(f"\n== {name}")
    print(f"ROME label words {len(rome)}, keys {len(groups)}, keys gathering 2+ Snowball stems {len(merged)},"
          f" largest {max((len(v) for v in groups.values()), default=0)};"
          f" ROME words per key {len(rome) / max(len(per_key), 1):.3f} (most: {per_key.most_common(1)})")
    print(f"derived/verb pairs in the vocabulary {len(pairs)}: split {len(split)}"
          f" (one of the two in a ROME label: {len(split_rome)})")
    largest = sorted(merged.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:12]
    print("largest groups: " + "; ".join(f"{k}: {' '.join(sorted(v))}" for k, v in largest))
    if show:
        print("split pairs (count of the rarer word):")
        for a, b in sorted(split, key=lambda p: (-min(counts[p[0]], counts[p[1]]), p)):
            print(f"  {a} {key(a)} / {b} {key(b)}  {min(counts[a], counts[b])}")
        print("merged groups:")
        for k, v in sorted(merged.items()):
            print(f"  {k}: {' '.join(sorted(v))}")


def sides(key: Key, other: Key, counts: Counter[str]) -> Sides:
    """Key → the other keying's keys of its words → those words (most frequent first), for the keys
    whose words the other keying spreads over several keys."""
    out: Sides = defaultdict(lambda: defaultdict(list))
    for word in sorted(counts, key=lambda w: (-counts[w], w)):
        k, o = key(word), other(word)
        if k is not None and o is not None:
            out[k][o].append(word)
    return {k: v for k, v in out.items() if len(v) > 1}


def compare(old: Key, new: Key, counts: Counter[str]) -> None:
    """Print the words of the vocabulary the new keying puts together that were apart (by the
    keys they had), and those it puts apart: the three most frequent words of each side."""

    def side(other_key: str, words: list[str]) -> str:
        return f"{other_key}: {' '.join(words[:3])} ({sum(counts[w] for w in words)})"

    def show(groups: Sides) -> str:
        lines = (f"  {k}: " + " | ".join(side(o, w) for o, w in v.items()) for k, v in sorted(groups.items()))
        return "\n".join(lines)

    joined, parted = sides(new, old, counts), sides(old, new, counts)
    print(f"\n== before → after: {len(joined)} keys join words that had different keys,"
          f" {len(parted)} keys split (key: former or later key: its most frequent words (their count))")
    print("joined:\n" + show(joined))
    print("parted:\n" + show(parted))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--before", type=Path, help="a checkout whose kg/nlp/text.py is compared")
    parser.add_argument("--list", action="store_true", help="print the split pairs and merged groups")
    args = parser.parse_args()
    counts, rome = vocabulary(args.data)
    pairs = derived_pairs(w for w in counts if counts[w] >= 1)
    print(f"vocabulary: {len(counts)} words ({len(rome)} in ROME labels)")
    if args.before is not None:
        old = load_text(args.before).word_key
        report(f"before ({args.before})", old, counts, rome, pairs, args.list)
    report("this checkout", current.word_key, counts, rome, pairs, args.list)
    if args.before is not None:
        compare(old, current.word_key, counts)


if __name__ == "__main__":
    main()
