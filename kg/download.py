"""Fetch the manifest's official files, check they still have the format the mappings expect,
and record what was fetched in ``sources.lock.json``.

For each source: GET ``download_url`` (redirects followed, streamed to a temporary file in the
destination folder), take ``archive_member`` out of a zip when set, hash the file (sha256, size),
then check its format against every mapping of the source:

* the bytes decode with the declared encoding (manifest options over the mapping header; the
  reader's default otherwise). The whole file is decoded incrementally, so a bad byte on line
  50 000 is caught; a file declared in a single-byte encoding (cp1252, latin-1...) that turns out
  to be valid UTF-8 with accented text is refused too (the publisher changed its encoding);
* the first records can be read and carry the mapping's required columns (``#+ columns:``);
  only the first :data:`CHECK_RECORDS` records are read (a JSON array is parsed whole: the
  standard library has no streaming JSON parser).

A file that passes replaces the previous one atomically and its lock entry is updated (url,
sha256, size, version from the manifest, retrieved_at, etag, last_modified). A file that fails is
*refused*: the temporary file is deleted, the previous file and lock entry stay as they were.
Network and HTTP problems give a *failed* record with a one-line reason ("cannot reach host
..."), never a traceback. Nothing is printed: callers get :class:`DownloadRecord` objects, and
:func:`format_records` renders them as a table.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

import httpx

from kg.errors import SourceError
from kg.manifest import Manifest, SourceSpec
from kg.mapping import Mapping
from kg.sources.records import read_records, variable_name

LOCK_NAME = "sources.lock.json"
LOCK_FORMAT = 1
CHECK_RECORDS = 50
CHUNK = 1 << 20
USER_AGENT = "passerelles-kg/0.1 (open data knowledge graph; +https://w3id.org/passerelles/)"
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=15.0)
STATUSES = ("downloaded", "unchanged", "refused", "failed")
_DEFAULT_ENCODING = {"csv": "utf-8-sig", "json": "utf-8-sig", "jsonl": "utf-8"}


@dataclass
class DownloadRecord:
    """What happened to one source: ``status`` is downloaded, unchanged, refused or failed."""

    name: str
    url: str
    status: str
    version: str
    path: Path | None = None
    sha256: str | None = None
    size: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    previous_sha256: str | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        """True when the source is usable (downloaded or unchanged)."""
        return self.status in ("downloaded", "unchanged")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields (for ``--json`` output or reports)."""
        data = asdict(self)
        data["path"] = None if self.path is None else str(self.path)
        return data


class FormatError(Exception):
    """A downloaded file does not have the format its mappings expect (message: the rule)."""


class _Failed(Exception):
    """The file could not be fetched (message: the reason)."""


def download_sources(
    manifest: Manifest,
    dest: Path | None = None,
    only: list[str] | None = None,
    client: httpx.Client | None = None,
    *,
    force: bool = False,
    progress: Callable[[DownloadRecord], None] | None = None,
) -> list[DownloadRecord]:
    """Download the manifest's sources (or ``only`` those named) into ``dest``.

    ``dest`` defaults to the manifest's data folder; files go to ``dest / spec.file`` and the
    lock to ``dest / sources.lock.json``. Unless ``force``, a file whose lock entry has an ETag
    or Last-Modified is fetched conditionally (304 → unchanged). ``progress`` is called with
    each record as soon as it is known. Unknown names in ``only`` raise ManifestError before
    anything is fetched. Nothing is printed.

    >>> import tempfile
    >>> from kg.manifest import Manifest, SourceSpec
    >>> spec = SourceSpec("a", "A", "a.csv", ("a.rq",), "v1", "P", "https://x.invalid/",
    ...                   "http://127.0.0.1:9/a.csv", "L", "text/csv")
    >>> d = Path(tempfile.mkdtemp())
    >>> [rec] = download_sources(Manifest([spec], d, d / "sources.toml", d), d)
    >>> rec.status, rec.message.startswith("cannot reach 127.0.0.1:9")
    ('failed', True)
    """
    # Project-maintained files (root = "project") are not downloads.
    specs = [s for s in manifest.select(only) if s.root == "data"]
    dest = Path(dest) if dest is not None else manifest.data_dir
    dest.mkdir(parents=True, exist_ok=True)
    own_client = client is None
    if client is None:
        client = httpx.Client(
            follow_redirects=True, timeout=DEFAULT_TIMEOUT, headers={"User-Agent": USER_AGENT}
        )
    lock_path = dest / LOCK_NAME
    records: list[DownloadRecord] = []
    try:
        for spec in specs:
            lock = read_lock(lock_path)
            record, entry = _download_one(spec, manifest, dest, lock.get(spec.name), client, force)
            if entry is not None:
                lock[spec.name] = entry
                write_lock(lock_path, lock)
            records.append(record)
            if progress is not None:
                progress(record)
    finally:
        if own_client:
            client.close()
    return records


def read_lock(path: Path) -> dict[str, dict[str, Any]]:
    """The per-source entries of a lock file (empty when it does not exist).

    >>> read_lock(Path("/nonexistent/sources.lock.json"))
    {}
    """
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SourceError(path, None, None, f"lock file unreadable: {exc}") from None
    sources = data.get("sources", {}) if isinstance(data, dict) else {}
    return {k: v for k, v in sources.items() if isinstance(v, dict)}


def write_lock(path: Path, sources: dict[str, dict[str, Any]]) -> None:
    """Write the lock file atomically, sources sorted by name.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "sources.lock.json"
    >>> write_lock(p, {"a": {"sha256": "00"}}); read_lock(p)
    {'a': {'sha256': '00'}}
    """
    text = (
        json.dumps(
            {"lock_format": LOCK_FORMAT, "sources": dict(sorted(sources.items()))},
            ensure_ascii=False,
            indent=2,
        )
        + "\n"
    )
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".sources.lock.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def format_records(records: Iterable[DownloadRecord]) -> str:
    """A plain-text table of download records, one line per source.

    >>> print(format_records([DownloadRecord("rome", "https://x/a.csv", "unchanged", "v460",
    ...       sha256="ab" * 32, size=1234, message="same sha256 as the lock")]))
    source  status     version  size  sha256        message
    rome    unchanged  v460     1234  abababababab  same sha256 as the lock
    """
    header = ("source", "status", "version", "size", "sha256", "message")
    rows = [header] + [
        (
            r.name,
            r.status,
            r.version,
            "" if r.size is None else str(r.size),
            (r.sha256 or "")[:12],
            r.message,
        )
        for r in records
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = []
    for row in rows:
        cells = [c.rjust(widths[i]) if i == 3 else c.ljust(widths[i]) for i, c in enumerate(row[:-1])]
        lines.append(("  ".join(cells) + "  " + row[-1]).rstrip())
    return "\n".join(lines)


# --------------------------------------------------------------------------- one source


def _download_one(
    spec: SourceSpec,
    manifest: Manifest,
    dest: Path,
    previous: dict[str, Any] | None,
    client: httpx.Client,
    force: bool,
) -> tuple[DownloadRecord, dict[str, Any] | None]:
    """(record, new lock entry or None when the lock must not change)."""
    target = spec.path(dest)
    record = DownloadRecord(spec.name, spec.download_url, "failed", spec.version, path=target)
    have_previous = previous is not None and target.is_file()
    if have_previous:
        assert previous is not None
        record.previous_sha256 = previous.get("sha256")
    headers: dict[str, str] = {}
    if (
        have_previous
        and not force
        and previous is not None
        and previous.get("url") == spec.download_url
        and (previous.get("etag") or previous.get("last_modified"))
        and _digest(target) == (previous.get("sha256"), previous.get("size"))  # file as locked
    ):
        if previous.get("etag"):
            headers["If-None-Match"] = previous["etag"]
        if previous.get("last_modified"):
            headers["If-Modified-Since"] = previous["last_modified"]
    temps: list[Path] = []
    try:
        try:
            fetched = _fetch(client, spec.download_url, headers, dest, spec.name, temps)
        except _Failed as exc:
            record.message = str(exc)
            return record, None
        if fetched is None:  # 304 Not Modified
            assert previous is not None
            record.status = "unchanged"
            record.sha256, record.size = previous.get("sha256"), previous.get("size")
            record.etag, record.last_modified = previous.get("etag"), previous.get("last_modified")
            record.message = "not modified since the last download (HTTP 304)"
            return record, {**previous, "version": spec.version, "checked_at": _now()}
        downloaded, record.etag, record.last_modified = fetched
        try:
            candidate = downloaded
            if spec.archive_member:
                candidate = _extract(downloaded, spec.archive_member, dest, spec.name, temps)
            record.sha256, record.size = _digest(candidate)
            entry = {
                "url": spec.download_url,
                "sha256": record.sha256,
                "size": record.size,
                "version": spec.version,
                "retrieved_at": _now(),
                "etag": record.etag,
                "last_modified": record.last_modified,
            }
            if spec.archive_member:
                entry["archive_member"] = spec.archive_member
            if (
                not force
                and have_previous
                and previous is not None
                and previous.get("sha256") == record.sha256
                and _digest(target) == (record.sha256, record.size)
            ):
                record.status = "unchanged"
                record.message = "same sha256 as the lock"
                first = previous.get("retrieved_at") or entry["retrieved_at"]
                return record, {**entry, "retrieved_at": first, "checked_at": _now()}
            check_format(candidate, spec, manifest.mappings_dir, label=spec.file)
        except FormatError as exc:
            record.status = "refused"
            kept = "previous file kept" if target.is_file() else "no previous file, nothing written"
            record.message = f"refused {spec.download_url}: {exc}; {kept}"
            return record, None
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(candidate, target)
        temps.remove(candidate)
        record.status = "downloaded"
        if record.previous_sha256 is None:
            record.message = "new file"
        elif record.previous_sha256 == record.sha256:
            record.message = "downloaded again (same sha256)"
        else:
            record.message = f"changed (previous sha256 {record.previous_sha256[:12]})"
        return record, entry
    except OSError as exc:
        record.status = "failed"
        record.message = f"cannot write under {dest}: {exc}"
        return record, None
    finally:
        for temp in temps:
            with contextlib.suppress(OSError):
                temp.unlink()


def _fetch(
    client: httpx.Client,
    url: str,
    headers: dict[str, str],
    dest: Path,
    name: str,
    temps: list[Path],
) -> tuple[Path, str | None, str | None] | None:
    """Stream ``url`` into a temporary file in ``dest``: (path, etag, last_modified), or None on
    304. Raises _Failed with a one-line reason."""
    try:
        with client.stream("GET", url, headers=headers, follow_redirects=True) as response:
            if response.status_code == 304 and headers:
                return None
            if response.status_code >= 400 or response.status_code in (204, 304):
                status = f"HTTP {response.status_code} {response.reason_phrase or ''}".strip()
                raise _Failed(f"{status} from {response.url}")
            fd, tmp = tempfile.mkstemp(dir=dest, prefix=f".{name}.", suffix=".part")
            path = Path(tmp)
            temps.append(path)
            received = 0
            with os.fdopen(fd, "wb") as handle:
                for chunk in response.iter_bytes(CHUNK):
                    handle.write(chunk)
                    received += len(chunk)
            expected = response.headers.get("Content-Length")
            encoded = response.headers.get("Content-Encoding", "identity") != "identity"
            if expected and expected.isdigit() and not encoded and int(expected) != received:
                raise _Failed(f"truncated download from {url}: {received} bytes of {expected} announced")
            return path, response.headers.get("ETag"), response.headers.get("Last-Modified")
    except httpx.ConnectError as exc:
        raise _Failed(f"cannot reach {_host(exc, url)}: {_reason(exc)}") from None
    except httpx.TimeoutException as exc:
        raise _Failed(f"timed out talking to {_host(exc, url)} ({type(exc).__name__})") from None
    except httpx.TooManyRedirects:
        raise _Failed(f"too many redirects from {url}") from None
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise _Failed(f"invalid download URL {url}: {exc}") from None
    except httpx.HTTPError as exc:
        raise _Failed(f"download of {url} failed ({type(exc).__name__}): {_reason(exc)}") from None


def _host(exc: httpx.HTTPError, url: str) -> str:
    try:
        target = exc.request.url
    except RuntimeError:
        target = httpx.URL(url)
    default = {"http": 80, "https": 443}.get(target.scheme)
    return target.host if target.port in (None, default) else f"{target.host}:{target.port}"


def _reason(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def _extract(archive: Path, member: str, dest: Path, name: str, temps: list[Path]) -> Path:
    """Copy ``member`` out of the zip ``archive`` into a temporary file; FormatError if absent."""
    try:
        with zipfile.ZipFile(archive) as zf:
            names = zf.namelist()
            if member not in names:
                shown = ", ".join(n for n in names[:10] if not n.endswith("/"))
                more = f" and {len(names) - 10} more" if len(names) > 10 else ""
                raise FormatError(f"archive_member {member!r} is not in the zip (it holds {shown}{more})")
            fd, tmp = tempfile.mkstemp(dir=dest, prefix=f".{name}.", suffix=".member")
            path = Path(tmp)
            temps.append(path)
            with os.fdopen(fd, "wb") as out, zf.open(member) as src:
                shutil.copyfileobj(src, out, CHUNK)
            return path
    except zipfile.BadZipFile as exc:
        raise FormatError(f"archive_member is set but the download is not a zip archive ({exc})") from None


def _digest(path: Path) -> tuple[str, int]:
    sha = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            sha.update(chunk)
            size += len(chunk)
    return sha.hexdigest(), size


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


# --------------------------------------------------------------------------- format check


def check_format(path: Path, spec: SourceSpec, mappings_dir: Path, label: str | None = None) -> None:
    """Check ``path`` against every mapping of ``spec``; raise FormatError on the first problem.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "m.rq").write_text("#+ format: csv\\n#+ columns: code\\nCONSTRUCT { } WHERE { }")
    >>> _ = (d / "a.csv").write_text("code\\nA1\\n")
    >>> spec = SourceSpec("a", "A", "a.csv", ("m.rq",), "v1", "P", "https://x/",
    ...                   "https://x/a.csv", "L", "text/csv")
    >>> check_format(d / "a.csv", spec, d)
    >>> _ = (d / "a.csv").write_text("")
    >>> check_format(d / "a.csv", spec, d)
    Traceback (most recent call last):
    ...
    kg.download.FormatError: a.csv, line 1: empty file: no header row (mapping m.rq)
    """
    for mapping_path in spec.mapping_paths(mappings_dir):
        problem = format_problem(path, mapping_path, spec.options, label or path.name)
        if problem is not None:
            raise FormatError(f"{problem} (mapping {mapping_path.name})")


def format_problem(
    path: Path, mapping_path: Path, overrides: dict[str, str] | None = None, label: str = ""
) -> str | None:
    """Why ``path`` does not have the format ``mapping_path`` expects, or None when it does.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "m.rq").write_text("#+ format: csv\\n#+ columns: code label\\n"
    ...                             "CONSTRUCT { } WHERE { }")
    >>> _ = (d / "ok.csv").write_text("code,label\\nA1,x\\n")
    >>> _ = (d / "bad.csv").write_text("code;label\\nA1;x\\n")
    >>> format_problem(d / "ok.csv", d / "m.rq") is None
    True
    >>> print(format_problem(d / "bad.csv", d / "m.rq", label="a.csv"))
    a.csv, line 1, field code: missing column(s) code, label; header is ['code;label']
    """
    label = label or path.name
    try:
        mapping = Mapping.load(mapping_path)
    except (OSError, ValueError) as exc:
        return f"mapping {mapping_path.name} unusable: {exc}"
    options = {**mapping.options, **(overrides or {})}
    fmt = mapping.format
    encoding = options.get("encoding", _DEFAULT_ENCODING.get(fmt, "utf-8"))
    try:
        codecs.lookup(encoding)
    except LookupError:
        return f"unknown encoding {encoding!r} declared"
    head = b""
    if path.is_file():
        with path.open("rb") as handle:
            head = handle.read(512)
    if head.startswith(b"PK\x03\x04"):
        return f"{label}: the file is a zip archive (set archive_member in the manifest)"
    if head.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html")):
        return f"{label}: the server sent an HTML page, not {fmt.upper()} data"
    problem = _encoding_problem(path, encoding, label)
    if problem:
        return problem
    try:
        sample = list(islice(read_records(path, fmt, options), CHECK_RECORDS))
    except SourceError as exc:
        return str(SourceError(label, exc.line, exc.field, exc.rule))
    except (ValueError, OSError) as exc:
        return f"{label}: cannot be read as {fmt}: {exc}"
    if not sample:
        return f"{label}: no records (an official file is never empty)"
    if fmt != "csv":  # the CSV reader checks required columns against the header itself
        required = [variable_name(c) for c in options.get("columns", "").split()]
        present = set().union(*(r.values for r in sample))
        missing = [c for c in required if c not in present]
        if missing:
            return (
                f"{label}, field {missing[0]}: missing column(s) {', '.join(missing)} in the "
                f"first {len(sample)} records; they have {', '.join(sorted(present)) or 'none'}"
            )
    return None


def _encoding_problem(path: Path, encoding: str, label: str) -> str | None:
    """Decode the whole file incrementally; also flag UTF-8 files declared as single-byte."""
    name = codecs.lookup(encoding).name
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    is_utf = name.startswith("utf")
    utf8 = None if is_utf else codecs.getincrementaldecoder("utf-8")(errors="strict")
    non_ascii = False
    offset = 0
    lines = 0
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(CHUNK)
            final = not chunk
            try:
                decoder.decode(chunk, final)
            except UnicodeDecodeError as exc:
                start = min(max(exc.start, 0), len(chunk))
                bad = offset + start
                line = lines + chunk[:start].count(b"\n") + 1
                return f"{label}, line {line}: bytes not decodable as {encoding} ({exc.reason} at byte {bad})"
            if utf8 is not None:
                non_ascii = non_ascii or not chunk.isascii()
                try:
                    utf8.decode(chunk, final)
                except UnicodeDecodeError:
                    utf8 = None
            if final:
                break
            offset += len(chunk)
            lines += chunk.count(b"\n")
    if utf8 is not None and non_ascii:
        return (
            f"{label}: declared {encoding} but the file is UTF-8 (accented letters would be "
            f"garbled); the publisher changed the encoding — update the encoding option"
        )
    return None


__all__ = [
    "STATUSES",
    "DownloadRecord",
    "FormatError",
    "check_format",
    "download_sources",
    "format_problem",
    "format_records",
    "read_lock",
    "write_lock",
]
