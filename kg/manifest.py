"""The sources manifest: which official open-data files the build reads, and where they come from.

A manifest is a TOML file with one ``[[source]]`` table per file (one fragment per module, joined
with a top-level ``include`` list)::

    data_dir = "../shared/data"            # optional; relative to this file
    include = ["sources-rome.toml"]        # optional; fragments merged in order, after this file

    [[source]]
    name = "rome-occupations"
    title = "ROME 4.0 — référentiel des fiches métiers"
    file = "rome/unix_referentiel_code_rome_v460_utf8.csv"   # relative to the data folder
    mappings = ["rome-occupations.rq"]                      # in the mappings folder
    version = "v460"
    publisher = "France Travail"
    dataset_page = "https://www.data.gouv.fr/fr/datasets/..."
    download_url = "https://..."
    licence = "https://www.etalab.gouv.fr/licence-ouverte-open-licence/"
    media_type = "text/csv"
    archive_member = "path/in/zip.csv"     # optional: download_url is a zip holding the file
    root = "project"                       # optional: file is the project's own (relative to the
                                           # project folder, e.g. trades/), not an official download
    [source.options]                       # optional reader options, override the mapping header
    encoding = "cp1252"

Every problem is a :class:`ManifestError` naming the manifest file, the source and the key.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from kg.config import PROJECT_ROOT

DEFAULT_MAPPINGS_DIR = PROJECT_ROOT / "mappings"
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*$")
REQUIRED_KEYS = (
    "name",
    "title",
    "file",
    "mappings",
    "version",
    "publisher",
    "dataset_page",
    "download_url",
    "licence",
    "media_type",
)
OPTIONAL_KEYS = ("options", "archive_member", "root")
ROOTS = ("data", "project")
TOP_LEVEL_KEYS = ("data_dir", "include", "source")
_MEDIA_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+$")


class ManifestError(Exception):
    """A manifest cannot be used; the message names the file, the source and the key.

    >>> str(ManifestError(Path("sources.toml"), "rome", "version", "must not be empty"))
    "sources.toml, source 'rome', key 'version': must not be empty"
    """

    def __init__(self, file: Path | str, source: str | None, key: str | None, rule: str) -> None:
        self.file, self.source, self.key, self.rule = file, source, key, rule
        super().__init__(str(self))

    def __str__(self) -> str:
        where = [str(self.file)]
        if self.source is not None:
            where.append(f"source {self.source!r}")
        if self.key is not None:
            where.append(f"key {self.key!r}")
        return ", ".join(where) + f": {self.rule}"


@dataclass(frozen=True)
class SourceSpec:
    """One ``[[source]]`` entry: an official file, its mappings and its provenance."""

    name: str
    title: str
    file: str
    mappings: tuple[str, ...]
    version: str
    publisher: str
    dataset_page: str
    download_url: str
    licence: str
    media_type: str
    options: dict[str, str] = field(default_factory=dict, hash=False)
    archive_member: str | None = None
    root: str = "data"  # "project": a file the project maintains itself (not downloaded)
    manifest: Path | None = field(default=None, compare=False)  # the fragment it was read from

    def path(self, data_dir: Path) -> Path:
        """Where the file lives under ``data_dir``.

        >>> spec = SourceSpec("a", "A", "rome/a.csv", ("a.rq",), "v1", "P", "https://x/",
        ...                   "https://x/a.csv", "L", "text/csv")
        >>> spec.path(Path("/data")).as_posix()
        '/data/rome/a.csv'
        >>> own = SourceSpec("t", "T", "trades/t.csv", ("t.rq",), "1", "P", "https://x/",
        ...                  "https://x/t.csv", "L", "text/csv", root="project")
        >>> own.path(Path("/data")) == PROJECT_ROOT / "trades/t.csv"
        True
        """
        return (PROJECT_ROOT if self.root == "project" else data_dir) / self.file

    def mapping_paths(self, mappings_dir: Path) -> list[Path]:
        """The mapping files of this source.

        >>> spec = SourceSpec("a", "A", "a.csv", ("a.rq", "b.rq"), "v1", "P", "https://x/",
        ...                   "https://x/a.csv", "L", "text/csv")
        >>> [p.as_posix() for p in spec.mapping_paths(Path("/m"))]
        ['/m/a.rq', '/m/b.rq']
        """
        return [mappings_dir / m for m in self.mappings]


@dataclass
class Manifest:
    """All sources of a manifest (includes merged), with the folders they are resolved against."""

    sources: list[SourceSpec]
    data_dir: Path
    path: Path
    mappings_dir: Path = DEFAULT_MAPPINGS_DIR

    def names(self) -> list[str]:
        """Source names in manifest order."""
        return [s.name for s in self.sources]

    def get(self, name: str) -> SourceSpec:
        """The source called ``name`` (ManifestError when there is none)."""
        return self.select([name])[0]

    def select(self, names: list[str] | None) -> list[SourceSpec]:
        """The sources called ``names``, in the order given (all sources when ``names`` is None).

        >>> spec = SourceSpec("a", "A", "a.csv", ("a.rq",), "v1", "P", "https://x/",
        ...                   "https://x/a.csv", "L", "text/csv")
        >>> m = Manifest([spec], Path("."), Path("sources.toml"))
        >>> [s.name for s in m.select(["a"])]
        ['a']
        >>> m.select(["b"])
        Traceback (most recent call last):
        ...
        kg.manifest.ManifestError: sources.toml: unknown source(s) b (known: a)
        """
        if names is None:
            return list(self.sources)
        by_name = {s.name: s for s in self.sources}
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise ManifestError(
                self.path,
                None,
                None,
                f"unknown source(s) {', '.join(unknown)} (known: {', '.join(by_name) or 'none'})",
            )
        return [by_name[n] for n in dict.fromkeys(names)]


def load_manifest(path: Path, data_dir: Path | None = None, mappings_dir: Path | None = None) -> Manifest:
    """Read and check a manifest and the fragments it includes.

    ``data_dir`` defaults to the manifest's ``data_dir`` key (relative to the manifest), else to
    the manifest's folder; ``mappings_dir`` defaults to the project's ``mappings/`` folder.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp()); _ = (d / "a.rq").write_text("#+ format: csv")
    >>> _ = (d / "sources.toml").write_text('''
    ... data_dir = "data"
    ... [[source]]
    ... name = "a"
    ... title = "A"
    ... file = "a.csv"
    ... mappings = ["a.rq"]
    ... version = "2024"
    ... publisher = "P"
    ... dataset_page = "https://example.org/a"
    ... download_url = "https://example.org/a.csv"
    ... licence = "https://example.org/licence"
    ... media_type = "text/csv"
    ... ''')
    >>> m = load_manifest(d / "sources.toml", mappings_dir=d)
    >>> m.names(), m.data_dir == d / "data", m.sources[0].mappings
    (['a'], True, ('a.rq',))
    """
    path = Path(path).resolve()
    mappings_dir = Path(mappings_dir) if mappings_dir is not None else DEFAULT_MAPPINGS_DIR
    top = _read_toml(path)
    for key in top:
        if key not in TOP_LEVEL_KEYS:
            raise ManifestError(
                path, None, key, f"unknown top-level key (allowed: {', '.join(TOP_LEVEL_KEYS)})"
            )
    if data_dir is None:
        configured = top.get("data_dir")
        if configured is None:
            data_dir = path.parent
        elif isinstance(configured, str) and configured.strip():
            data_dir = (path.parent / configured).resolve()
        else:
            raise ManifestError(path, None, "data_dir", "must be a non-empty folder path")
    sources: list[SourceSpec] = []
    origin: dict[str, Path] = {}
    for file, entry in _entries(path, top, [path]):
        spec = _source(file, entry, mappings_dir)
        if spec.name in origin:
            first = origin[spec.name]
            also = "" if first == file else f" (first defined in {first})"
            raise ManifestError(file, spec.name, "name", f"duplicate source name{also}")
        origin[spec.name] = file
        sources.append(spec)
    return Manifest(sources=sources, data_dir=Path(data_dir), path=path, mappings_dir=mappings_dir)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ManifestError(path, None, None, "manifest file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(path, None, None, f"invalid TOML: {exc}") from None


def _entries(path: Path, doc: dict[str, Any], chain: list[Path]) -> list[tuple[Path, dict[str, Any]]]:
    """(file, table) for each ``[[source]]`` of ``doc`` then of its includes, in order."""
    tables = doc.get("source", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ManifestError(path, None, "source", "write sources as [[source]] tables")
    out = [(path, t) for t in tables]
    includes = doc.get("include", [])
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise ManifestError(path, None, "include", "must be a list of file names")
    for name in includes:
        child = (path.parent / name).resolve()
        if child in chain:
            cycle = " -> ".join(str(p) for p in [*chain, child])
            raise ManifestError(path, None, "include", f"include cycle: {cycle}")
        if not child.is_file():
            raise ManifestError(path, None, "include", f"included file {name!r} not found")
        sub = _read_toml(child)
        for key in sub:
            if key not in ("include", "source"):
                raise ManifestError(
                    child, None, key, "an included fragment may only hold include and [[source]]"
                )
        out.extend(_entries(child, sub, [*chain, child]))
    return out


def _source(file: Path, entry: dict[str, Any], mappings_dir: Path) -> SourceSpec:
    raw_name = entry.get("name")
    name = raw_name if isinstance(raw_name, str) else None

    def fail(key: str, rule: str) -> ManifestError:
        return ManifestError(file, name, key, rule)

    for key in entry:
        if key not in REQUIRED_KEYS and key not in OPTIONAL_KEYS:
            allowed = ", ".join(REQUIRED_KEYS + OPTIONAL_KEYS)
            raise fail(key, f"unknown key (allowed: {allowed})")
    for key in REQUIRED_KEYS:
        if key not in entry:
            raise fail(key, "required key is missing")
    text: dict[str, str] = {}
    for key in REQUIRED_KEYS:
        if key == "mappings":
            continue
        value = entry[key]
        if not isinstance(value, str):
            raise fail(key, f"must be a string, not {type(value).__name__}")
        if not value.strip():
            raise fail(key, "must not be empty")
        text[key] = value.strip()
    if not NAME_PATTERN.match(text["name"]):
        raise fail("name", f"{text['name']!r} must match {NAME_PATTERN.pattern}")
    _check_relative(text["file"], fail, "file")
    for key in ("download_url", "dataset_page", "licence"):
        # The licence becomes an IRI (dct:license) in the catalogue: a URL, nothing after it.
        if not re.fullmatch(r"https?://[^/\s]+\S*", text[key]):
            raise fail(key, f"{text[key]!r} is not an http(s) URL (one URL, no spaces)")
    if not _MEDIA_TYPE.match(text["media_type"]):
        raise fail("media_type", f"{text['media_type']!r} is not a media type like text/csv")

    mappings = entry["mappings"]
    if isinstance(mappings, str):
        mappings = [mappings]
    if (
        not isinstance(mappings, list)
        or not mappings
        or not all(isinstance(m, str) and m.strip() for m in mappings)
    ):
        raise fail("mappings", "must be a non-empty list of mapping file names")
    for mapping in mappings:
        if not (mappings_dir / mapping).is_file():
            raise fail("mappings", f"mapping file {mapping!r} not found in {mappings_dir}")

    options_raw = entry.get("options", {})
    if not isinstance(options_raw, dict):
        raise fail("options", "must be a table ([source.options])")
    options: dict[str, str] = {}
    for key, value in options_raw.items():
        if isinstance(value, bool):
            options[key] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            options[key] = str(value)
        else:
            raise fail(f"options.{key}", f"must be a string or number, not {type(value).__name__}")

    member = entry.get("archive_member")
    if member is not None:
        if not isinstance(member, str) or not member.strip():
            raise fail("archive_member", "must be a non-empty string (a path inside the zip)")
        _check_relative(member, fail, "archive_member")

    root = entry.get("root", "data")
    if root not in ROOTS:
        raise fail("root", f"{root!r} must be one of {', '.join(ROOTS)}")

    return SourceSpec(
        name=text["name"],
        title=text["title"],
        file=text["file"],
        mappings=tuple(mappings),
        version=text["version"],
        publisher=text["publisher"],
        dataset_page=text["dataset_page"],
        download_url=text["download_url"],
        licence=text["licence"],
        media_type=text["media_type"],
        options=options,
        archive_member=member,
        root=root,
        manifest=file,
    )


def _check_relative(value: str, fail: Callable[[str, str], ManifestError], key: str) -> None:
    pure = PurePosixPath(value.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or re.match(r"^[A-Za-z]:", value):
        raise fail(key, f"{value!r} must be a relative path without '..'")
