"""Per-request context: the query runner, the DataLoaders that batch store reads, the settings.

The two loaders turn every field read on one GraphQL level into one store query: all the
(resource, property) pairs asked in the same event-loop tick go out as one ``values.rq`` query (its
``VALUES ?s`` and ``VALUES ?p`` hold the whole batch); inverse links likewise through
``inverse.rq``. A request for 100 occupations' skills thus makes one query for the skills, not 100.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import pyoxigraph as ox
from strawberry.dataloader import DataLoader

from api.graphql.queries import QueryRunner, Term
from kg.config import Settings

ValueKey = tuple[str, str]  # (subject IRI, property IRI)
InverseKey = tuple[str, str, str]  # (object IRI, property IRI, class IRI of the subjects)


def _values_loader(
    runner: QueryRunner, cache: dict[ValueKey, list[Term]]
) -> DataLoader[ValueKey, list[Term]]:
    async def load(keys: Sequence[ValueKey]) -> list[list[Term]]:
        subjects = sorted({s for s, _ in keys})
        props = sorted({p for _, p in keys})
        rows = await runner.select(
            "values",
            values={"s": [ox.NamedNode(s) for s in subjects], "p": [ox.NamedNode(p) for p in props]},
        )
        found: dict[ValueKey, list[Term]] = defaultdict(list)
        for row in rows:
            found[(row["s"].value, row["p"].value)].append(row["o"])
        answers = [found.get(key, []) for key in keys]
        cache.update(zip(keys, answers, strict=True))
        return answers

    return DataLoader(load_fn=load)


def _inverse_loader(runner: QueryRunner) -> DataLoader[InverseKey, list[str]]:
    async def load(keys: Sequence[InverseKey]) -> list[list[str]]:
        objects = sorted({o for o, _, _ in keys})
        props = sorted({p for _, p, _ in keys})
        classes = sorted({c for _, _, c in keys})
        rows = await runner.select(
            "inverse",
            values={
                "o": [ox.NamedNode(o) for o in objects],
                "p": [ox.NamedNode(p) for p in props],
                "class": [ox.NamedNode(c) for c in classes],
            },
        )
        found: dict[InverseKey, set[str]] = defaultdict(set)
        for row in rows:
            found[(row["o"].value, row["p"].value, row["class"].value)].add(row["s"].value)
        return [sorted(found.get(key, ())) for key in keys]

    return DataLoader(load_fn=load)


@dataclass
class Context:
    """What resolvers see as ``info.context``."""

    runner: QueryRunner
    settings: Settings
    build_key: object = None
    values: DataLoader[ValueKey, list[Term]] = field(init=False)
    inverse: DataLoader[InverseKey, list[str]] = field(init=False)
    # Values already read in this request: scalar fields found here resolve without a task.
    known: dict[ValueKey, list[Term]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.values = _values_loader(self.runner, self.known)
        self.inverse = _inverse_loader(self.runner)

    @property
    def id_base(self) -> str:
        return self.settings.id_base
