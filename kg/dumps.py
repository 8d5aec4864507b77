"""Downloadable dumps of a build: the whole dataset as gzipped N-Quads (every named graph) and the
published default graph as gzipped Turtle, each with a ``.sha256`` file (``sha256sum`` format).

They are written at the end of ``kg build`` into ``{build}/dumps/`` and served at ``/dumps/``.

>>> import tempfile
>>> store = ox.Store()
>>> store.add(ox.Quad(ox.NamedNode("http://a"), ox.NamedNode("http://p"), ox.Literal("x")))
>>> folder = Path(tempfile.mkdtemp())
>>> [d.name for d in write_dumps(store, folder)]
['passerelles.nq.gz', 'passerelles.ttl.gz']
>>> (folder / "passerelles.nq.gz.sha256").read_text().endswith("  passerelles.nq.gz\\n")
True
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, cast

import pyoxigraph as ox

DUMPS_DIR = "dumps"
INDEX = "dumps.json"


@dataclass(frozen=True)
class Dump:
    """One dump file: its name, media type, what it holds, size and digest."""

    name: str
    media_type: str
    content: str
    bytes: int
    sha256: str


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_dumps(store: ox.Store, folder: Path, prefixes: dict[str, str] | None = None) -> list[Dump]:
    """Write the dumps of ``store`` into ``folder`` (each file written aside, then renamed)."""
    folder.mkdir(parents=True, exist_ok=True)
    plan = [
        (
            "passerelles.nq.gz",
            "application/n-quads",
            "every named graph (sources, quarantine, catalogue)",
            ox.RdfFormat.N_QUADS,
            None,
        ),
        (
            "passerelles.ttl.gz",
            "text/turtle",
            "the published default graph (union of the sources, ontology, catalogue)",
            ox.RdfFormat.TURTLE,
            ox.DefaultGraph(),
        ),
    ]
    dumps = []
    for name, media, content, fmt, graph in plan:
        target = folder / name
        tmp = folder / f".tmp-{name}"
        with gzip.open(tmp, "wb", compresslevel=5) as out:
            if graph is None:
                store.dump(cast(IO[bytes], out), format=fmt)
            else:
                store.dump(cast(IO[bytes], out), format=fmt, from_graph=graph, prefixes=prefixes)
        os.replace(tmp, target)
        sha = _digest(target)
        (folder / f"{name}.sha256").write_text(f"{sha}  {name}\n", encoding="utf-8")
        dumps.append(Dump(name, media, content, target.stat().st_size, sha))
    (folder / INDEX).write_text(json.dumps([asdict(d) for d in dumps], indent=1), encoding="utf-8")
    return dumps


def read_index(build_dir: Path) -> list[Dump]:
    """The dumps of a build (empty when it has none, e.g. built before dumps existed)."""
    index = build_dir / DUMPS_DIR / INDEX
    if not index.is_file():
        return []
    return [Dump(**entry) for entry in json.loads(index.read_text(encoding="utf-8"))]
