"""What a build read, as digests: the test that says a rebuild would change nothing.

A build records, in its report (``build-report.json``, key ``inputs``), one digest for what
every source shares and one per source:

- shared (``global``): the base IRI, the version of ``kg``, every shape module and every
  ontology module (a shape or a term changes what validation keeps, for all sources);
- per source: the SHA-256 of its file, of each of its mapping files (``mappings/*.rq``), and
  its manifest entry (version, reader options, title, publisher, licence...; not the file's
  folder, so the same bytes elsewhere are the same input).

A later build whose digests are all equal would produce the same graphs: ``kg build`` then
does nothing (``--force`` rebuilds anyway). Changes of the Python code itself (readers,
mapping engine) are covered only through ``kg``'s version number.

>>> a = InputDigests("g1", {"rome": "s1"})
>>> a.unchanged(InputDigests("g1", {"rome": "s1"}), ["rome"]), a.unchanged(InputDigests("g1", {}), ["rome"])
(True, False)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kg import __version__, validate
from kg.manifest import SourceSpec


def sha256_of(path: Path) -> str:
    """The SHA-256 digest of a file, read in chunks into one reused buffer (``hashlib.file_digest``:
    a new 1 MiB ``bytes`` per chunk cost a fresh memory mapping, hence page faults, each time).

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp(), "a"); _ = p.write_bytes(b"abc")
    >>> sha256_of(p) == hashlib.sha256(b"abc").hexdigest()
    True
    """
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def global_digest(base_iri: str, shapes_dir: Path | None = None, ontology_dir: Path | None = None) -> str:
    """The digest of what all sources share: base IRI, ``kg`` version, shapes, ontology."""
    folder = ontology_dir or validate.ONTOLOGY_DIR  # looked up now: tests point them elsewhere
    ontology = {p.name: sha256_of(p) for p in sorted(folder.glob("*.ttl"))}
    shapes = hashlib.sha256(validate.shapes_text(shapes_dir or validate.SHAPES_DIR).encode()).hexdigest()
    return _digest({"base": base_iri, "kg": __version__, "shapes": shapes, "ontology": ontology})


def source_digest(spec: SourceSpec, file_sha256: str, mappings_dir: Path) -> str:
    """The digest of one source's inputs: its file's digest, its mappings, its manifest entry.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "a.rq").write_text("CONSTRUCT {} WHERE {}")
    >>> spec = SourceSpec("a", "A", "a.csv", ("a.rq",), "v1", "P", "https://x/", "https://x/a.csv",
    ...                   "L", "text/csv")
    >>> first = source_digest(spec, "f" * 64, d)
    >>> first == source_digest(spec, "f" * 64, d), first == source_digest(spec, "0" * 64, d)
    (True, False)
    >>> _ = (d / "a.rq").write_text("CONSTRUCT { ?s ?p ?o } WHERE {}")
    >>> first == source_digest(spec, "f" * 64, d)
    False
    """
    entry = {k: v for k, v in asdict(spec).items() if k not in {"manifest", "file"}}
    # A stage computed by code (the NLP extraction names "kg/nlp") has no mapping file: the kg
    # version in the shared digest stands for it.
    mappings = {p.name: sha256_of(p) if p.is_file() else "code" for p in spec.mapping_paths(mappings_dir)}
    return _digest({"file": file_sha256, "name": Path(spec.file).name, "entry": entry, "mappings": mappings})


@dataclass
class InputDigests:
    """The digests a build recorded (see the module docstring)."""

    shared: str
    sources: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {"global": self.shared, "sources": dict(self.sources)}

    @classmethod
    def from_json(cls, data: object) -> InputDigests:
        """Read them back from a build report (empty digests when an older report has none)."""
        if not isinstance(data, dict):
            return cls("", {})
        sources = data.get("sources")
        return cls(str(data.get("global", "")), dict(sources) if isinstance(sources, dict) else {})

    def unchanged(self, other: InputDigests, names: list[str]) -> bool:
        """Whether ``other`` has the same shared digest and the same digests for ``names``."""
        return (
            bool(self.shared)
            and self.shared == other.shared
            and all(name in self.sources and self.sources[name] == other.sources.get(name) for name in names)
        )
