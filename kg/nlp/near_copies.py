"""Copies and near-copies among offers: the same ad reposted, or one template reused with a line changed.

A cross-validation that puts an offer in the held-out fold and its copy (with the same annotation) in the
training folds scores memory, not generalisation; learned evidence that leaves out only an offer's own
rows lets its copy's identical labels vouch for it. :func:`copy_groups` gives each offer a group (the
smallest index of its group) so that folds and leave-out can work by group:

- the exact rule of the occupation benchmark (:func:`kg.nlp.occupation_memory.group_keys`: the same
  normalised text, or the same first 300 normalised characters of the description);
- the annotation's near-copy rule (``scripts/annotate_offers.py`` reads :data:`NEAR_COPY` and
  :func:`same_text` from here): rapidfuzz ``fuzz.ratio`` of the whitespace-normalised
  ``title + "\\n" + description`` at least :data:`NEAR_COPY`.

Both are transitive (union-find).

>>> copy_groups([("Maçon", "Poser des parpaings."), ("Maçon H/F", "Poser  des parpaings !"),
...              ("Cariste", "Conduire un chariot.")])
[0, 0, 2]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy
from rapidfuzz import fuzz, process

from kg.nlp.occupation_memory import group_keys

NEAR_COPY = 90.0  # the ratio from which two texts are one ad (also the annotation draws' rule)


def same_text(text: str) -> str:
    """``text`` with every run of white space made one space (the near-copy rule's normal form).

    >>> same_text(" Aide\\n  maçon\\t")
    'Aide maçon'
    """
    return " ".join(text.split())


def near_copy(text: str, other: str, near: float = NEAR_COPY) -> bool:
    """Whether two texts in :func:`same_text` form are one ad by the near-copy rule: a rapidfuzz
    ``fuzz.ratio`` at least ``near`` (the annotation draws' test, one text against another).

    >>> near_copy("Maçon H/F Poser des parpaings.", "Maçon Poser des parpaings.")
    True
    >>> near_copy("Maçon", "Cariste")
    False
    """
    return fuzz.ratio(text, other) >= near


def copy_groups(offers: Sequence[tuple[str, str]], near: float | None = NEAR_COPY) -> list[int]:
    """A group per offer given as (title, description): the smallest index of the offers it is one ad
    with, by the exact keys of :func:`group_keys` or (unless ``near`` is None) a rapidfuzz ratio of
    the whitespace-normalised ``title + "\\n" + description`` at least ``near``; transitive.

    >>> copy_groups([("A", "Texte un"), ("B", "Autre chose"), ("A", "Texte  un")], near=None)
    [0, 1, 0]
    >>> copy_groups([("Aide", "x" * 50 + "y"), ("Aide", "x" * 50 + "z"), ("Aide", "w" * 51)])
    [0, 0, 2]
    """
    parent = list(range(len(offers)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        a, b = find(i), find(j)
        parent[max(a, b)] = min(a, b)  # the smallest index stays the root: groups do not depend on order

    seen: dict[str, int] = {}
    for i, (title, text) in enumerate(offers):
        for key in group_keys(title, text):
            if key in seen:
                union(i, seen[key])
            else:
                seen[key] = i
    if near is not None and len(offers) > 1:
        texts = [same_text(f"{title}\n{text}") for title, text in offers]
        ratios = process.cdist(texts, texts, scorer=fuzz.ratio, score_cutoff=near, workers=1)
        for i, j in numpy.argwhere(ratios >= near).tolist():
            if i < j:
                union(i, j)
    return [find(i) for i in range(len(offers))]


def grouped_parts(offers: Sequence[int], parts: int, groups: Sequence[int] | None = None) -> list[list[int]]:
    """``offers`` dealt into ``parts`` parts, every ``parts``-th one a part (``offers[i::parts]``), except
    that an offer whose group (``groups[offer]``; None: each offer its own) already has a member in a
    part joins that part: copies are never on both sides of a split, and offers without copies keep
    the part of the plain stride.

    >>> grouped_parts([5, 1, 2, 3, 4], 2)
    [[5, 2, 4], [1, 3]]
    >>> grouped_parts([5, 1, 2, 3, 4], 2, groups=[0, 1, 2, 3, 4, 1])  # 5 and 1 one ad: 1 follows 5
    [[5, 1, 2, 4], [3]]
    """
    out: list[list[int]] = [[] for _ in range(parts)]
    part_of: dict[int, int] = {}
    for i, o in enumerate(offers):
        part = part_of.setdefault(o if groups is None else groups[o], i % parts)
        out[part].append(o)
    return out


def group_members(offers: Sequence[int], groups: Sequence[int] | None = None) -> dict[int, list[int]]:
    """``offers`` by group (``groups[offer]``; None: each offer its own).

    >>> group_members([0, 2, 3], [0, 1, 0, 3])
    {0: [0, 2], 3: [3]}
    """
    out: dict[int, list[int]] = {}
    for o in offers:
        out.setdefault(o if groups is None else groups[o], []).append(o)
    return out
