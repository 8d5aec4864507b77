"""kg.download against a real HTTP server on 127.0.0.1 serving small hand-written fixtures."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import socket
import threading
import zipfile
from collections.abc import Iterator
from collections.abc import Mapping as MappingT
from pathlib import Path

import httpx
import pytest

from kg.download import (
    LOCK_NAME,
    DownloadRecord,
    check_format,
    download_sources,
    format_records,
    read_lock,
)
from kg.manifest import Manifest, ManifestError, load_manifest

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "download"
FILES = FIXTURES / "files"
MAPPINGS = FIXTURES / "mappings"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class Site:
    """A folder served over HTTP; ``publish`` puts a file online with a fresh Last-Modified."""

    def __init__(self, root: Path, base: str) -> None:
        self.root, self.base = root, base
        self._clock = 1_700_000_000

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"

    def publish(self, name: str, data: bytes) -> str:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self._clock += 60  # HTTP dates have one-second resolution: move the mtime on explicitly
        os.utime(path, (self._clock, self._clock))
        return self.url(name)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield Site(root, f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "data"


def fixture(name: str) -> bytes:
    return (FILES / name).read_bytes()


def cp1252(name: str) -> bytes:
    return (FILES / name).read_text(encoding="utf-8").encode("cp1252")


def write_manifest(tmp_path: Path, *entries: MappingT[str, object]) -> Manifest:
    """A manifest file with the given [[source]] entries (defaults filled in), loaded."""
    blocks = []
    for entry in entries:
        fields: dict[str, object] = {
            "title": f"Test source {entry['name']}",
            "version": "2024-01",
            "publisher": "Test publisher",
            "dataset_page": "https://www.data.gouv.fr/fr/datasets/test/",
            "licence": "https://www.etalab.gouv.fr/licence-ouverte-open-licence/",
            "media_type": "text/csv",
            **entry,
        }
        options = fields.pop("options", None)
        lines = ["[[source]]"]
        for key, value in fields.items():
            lines.append(f"{key} = {json.dumps(value)}")
        if isinstance(options, dict):
            lines.append("[source.options]")
            lines += [f"{k} = {json.dumps(v)}" for k, v in options.items()]
        blocks.append("\n".join(lines))
    path = tmp_path / "sources.toml"
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return load_manifest(path, data_dir=tmp_path / "data", mappings_dir=MAPPINGS)


def rome_entry(url: str, **extra: object) -> dict[str, object]:
    return {
        "name": "rome",
        "file": "rome/rome.csv",
        "mappings": ["test-rome.rq"],
        "download_url": url,
        **extra,
    }


def only_record(records: list[DownloadRecord]) -> DownloadRecord:
    assert len(records) == 1, records
    return records[0]


def leftovers(dest: Path) -> list[str]:
    """Temporary files the downloader should have removed."""
    return sorted(p.name for p in dest.rglob(".*") if p.is_file())


# --------------------------------------------------------------------------- downloads


def test_download_writes_file_sha256_and_lock(site: Site, dest: Path, tmp_path: Path) -> None:
    url = site.publish("rome-v1.csv", fixture("rome-v1.csv"))
    manifest = write_manifest(tmp_path, rome_entry(url))

    record = only_record(download_sources(manifest, dest))

    target = dest / "rome" / "rome.csv"
    assert record.status == "downloaded", record.message
    assert record.ok and record.path == target
    assert target.read_bytes() == fixture("rome-v1.csv")
    expected_sha = hashlib.sha256(fixture("rome-v1.csv")).hexdigest()
    assert record.sha256 == expected_sha and record.size == len(fixture("rome-v1.csv"))
    lock = json.loads((dest / LOCK_NAME).read_text(encoding="utf-8"))
    entry = lock["sources"]["rome"]
    assert entry["url"] == url
    assert entry["sha256"] == expected_sha
    assert entry["size"] == len(fixture("rome-v1.csv"))
    assert entry["version"] == "2024-01"
    assert entry["retrieved_at"].endswith("Z")
    assert entry["last_modified"]  # http.server sends Last-Modified
    assert "etag" in entry
    assert leftovers(dest) == []


def test_dest_defaults_to_the_manifest_data_dir(site: Site, tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, rome_entry(site.publish("r.csv", fixture("rome-v1.csv"))))
    with httpx.Client(trust_env=False) as client:  # a caller's own client works too
        record = only_record(download_sources(manifest, client=client))
    assert record.status == "downloaded"
    assert (manifest.data_dir / "rome" / "rome.csv").is_file()
    assert (manifest.data_dir / LOCK_NAME).is_file()


def test_second_run_is_unchanged(site: Site, dest: Path, tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, rome_entry(site.publish("r.csv", fixture("rome-v1.csv"))))
    first = only_record(download_sources(manifest, dest))
    retrieved_at = read_lock(dest / LOCK_NAME)["rome"]["retrieved_at"]

    again = only_record(download_sources(manifest, dest))  # conditional GET → 304
    assert again.status == "unchanged", again.message
    assert "304" in again.message
    assert again.sha256 == first.sha256

    forced = only_record(download_sources(manifest, dest, force=True))  # full GET, same bytes
    assert forced.status == "downloaded"
    assert forced.message == "downloaded again (same sha256)"

    site.publish("r.csv", fixture("rome-v1.csv"))  # republished, new date, same bytes
    same = only_record(download_sources(manifest, dest))
    assert same.status == "unchanged"
    assert "sha256" in same.message
    lock = read_lock(dest / LOCK_NAME)["rome"]
    assert lock["sha256"] == first.sha256
    assert lock["retrieved_at"] >= retrieved_at and "checked_at" in lock


def test_locally_altered_file_is_restored(site: Site, dest: Path, tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, rome_entry(site.publish("r.csv", fixture("rome-v1.csv"))))
    only_record(download_sources(manifest, dest))
    target = dest / "rome" / "rome.csv"
    target.write_bytes(fixture("rome-v1.csv").replace(b"A1101", b"Z9999"))  # same size, edited

    record = only_record(download_sources(manifest, dest))

    assert record.status == "downloaded"
    assert target.read_bytes() == fixture("rome-v1.csv")


def test_changed_file_replaces_the_previous_one(site: Site, dest: Path, tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, rome_entry(site.publish("r.csv", fixture("rome-v1.csv"))))
    first = only_record(download_sources(manifest, dest))
    site.publish("r.csv", fixture("rome-v2.csv"))

    second = only_record(download_sources(manifest, dest))

    assert second.status == "downloaded"
    assert second.previous_sha256 == first.sha256 and second.sha256 != first.sha256
    assert (dest / "rome" / "rome.csv").read_bytes() == fixture("rome-v2.csv")
    assert read_lock(dest / LOCK_NAME)["rome"]["sha256"] == second.sha256


def test_zip_member_is_extracted(site: Site, dest: Path, tmp_path: Path) -> None:
    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("LISEZMOI.txt", "Fichiers de test")
        zf.writestr("export/rome.csv", fixture("rome-v1.csv"))
    url = site.publish("bundle.zip", archive.read_bytes())
    manifest = write_manifest(
        tmp_path, rome_entry(url, archive_member="export/rome.csv", media_type="application/zip")
    )

    record = only_record(download_sources(manifest, dest))

    assert record.status == "downloaded", record.message
    assert (dest / "rome" / "rome.csv").read_bytes() == fixture("rome-v1.csv")
    assert record.sha256 == hashlib.sha256(fixture("rome-v1.csv")).hexdigest()
    assert read_lock(dest / LOCK_NAME)["rome"]["archive_member"] == "export/rome.csv"
    assert leftovers(dest) == []


def test_zip_without_the_member_is_refused(site: Site, dest: Path, tmp_path: Path) -> None:
    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("export/rome_2025.csv", fixture("rome-v1.csv"))
    url = site.publish("bundle.zip", archive.read_bytes())
    manifest = write_manifest(tmp_path, rome_entry(url, archive_member="export/rome.csv"))

    record = only_record(download_sources(manifest, dest))

    assert record.status == "refused"
    assert "'export/rome.csv' is not in the zip" in record.message
    assert "export/rome_2025.csv" in record.message
    assert not (dest / "rome" / "rome.csv").exists()
    assert leftovers(dest) == []


def test_changed_columns_are_refused_and_previous_file_kept(site: Site, dest: Path, tmp_path: Path) -> None:
    url = site.publish("r.csv", fixture("rome-v1.csv"))
    manifest = write_manifest(tmp_path, rome_entry(url))
    first = only_record(download_sources(manifest, dest))
    lock_before = (dest / LOCK_NAME).read_text(encoding="utf-8")
    site.publish("r.csv", fixture("rome-renamed.csv"))

    record = only_record(download_sources(manifest, dest))

    assert record.status == "refused" and not record.ok
    assert record.name == "rome"
    assert url in record.message
    assert "missing column(s) code_rome, libelle_rome" in record.message
    assert "mapping test-rome.rq" in record.message
    assert "previous file kept" in record.message
    assert (dest / "rome" / "rome.csv").read_bytes() == fixture("rome-v1.csv")
    assert (dest / LOCK_NAME).read_text(encoding="utf-8") == lock_before
    assert read_lock(dest / LOCK_NAME)["rome"]["sha256"] == first.sha256
    assert leftovers(dest) == []


def test_wrong_encoding_is_refused(site: Site, dest: Path, tmp_path: Path) -> None:
    # The mapping declares UTF-8; the publisher now sends Windows-1252.
    url = site.publish("r.csv", fixture("rome-v1.csv").decode("utf-8").encode("cp1252"))
    manifest = write_manifest(tmp_path, rome_entry(url))

    record = only_record(download_sources(manifest, dest))

    assert record.status == "refused"
    assert "not decodable as utf-8" in record.message
    assert "line 3" in record.message  # "Études" is on line 3
    assert url in record.message
    assert not (dest / "rome" / "rome.csv").exists()
    assert "rome" not in read_lock(dest / LOCK_NAME)


def test_utf8_file_declared_cp1252_is_refused(site: Site, dest: Path, tmp_path: Path) -> None:
    url = site.publish("nsf.csv", fixture("nsf.csv"))  # UTF-8, mapping says cp1252
    manifest = write_manifest(
        tmp_path, {"name": "nsf", "file": "nsf.csv", "mappings": ["test-latin.rq"], "download_url": url}
    )

    record = only_record(download_sources(manifest, dest))

    assert record.status == "refused"
    assert "declared cp1252 but the file is UTF-8" in record.message


def test_cp1252_file_accepted_and_manifest_options_override(site: Site, dest: Path, tmp_path: Path) -> None:
    latin = site.publish("nsf.csv", cp1252("nsf.csv"))
    rome_latin = site.publish("rome.csv", cp1252("rome-v1.csv"))
    manifest = write_manifest(
        tmp_path,
        {"name": "nsf", "file": "nsf.csv", "mappings": ["test-latin.rq"], "download_url": latin},
        rome_entry(rome_latin, options={"encoding": "cp1252"}),
    )

    records = download_sources(manifest, dest)

    assert [r.status for r in records] == ["downloaded", "downloaded"], format_records(records)
    assert (dest / "nsf.csv").read_bytes() == cp1252("nsf.csv")


def test_json_required_columns(site: Site, dest: Path, tmp_path: Path) -> None:
    url = site.publish("bodies.json", fixture("bodies.json"))
    entry = {
        "name": "bodies",
        "file": "bodies.json",
        "mappings": ["test-json.rq"],
        "download_url": url,
        "media_type": "application/json",
    }
    manifest = write_manifest(tmp_path, entry)
    assert only_record(download_sources(manifest, dest)).status == "downloaded"

    site.publish("bodies.json", fixture("bodies-flat.json"))
    record = only_record(download_sources(manifest, dest))

    assert record.status == "refused"
    assert "missing column(s) adresse_commune" in record.message
    assert (dest / "bodies.json").read_bytes() == fixture("bodies.json")


def test_html_page_instead_of_data_is_refused(site: Site, dest: Path, tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, rome_entry(site.publish("p.html", fixture("portal.html"))))
    record = only_record(download_sources(manifest, dest))
    assert record.status == "refused"
    assert "HTML page" in record.message


def test_not_found_is_failed(site: Site, dest: Path, tmp_path: Path) -> None:
    url = site.url("missing.csv")
    manifest = write_manifest(tmp_path, rome_entry(url))

    record = only_record(download_sources(manifest, dest))

    assert record.status == "failed"
    assert record.message.startswith("HTTP 404")
    assert url in record.message
    assert leftovers(dest) == []


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_host_is_failed_cleanly(site: Site, dest: Path, tmp_path: Path) -> None:
    port = _closed_port()
    manifest = write_manifest(
        tmp_path,
        rome_entry(f"http://127.0.0.1:{port}/rome.csv"),
        {
            "name": "nowhere",
            "file": "x.csv",
            "mappings": ["test-rome.rq"],
            "download_url": "http://passerelles-test.invalid/x.csv",
        },
        {
            "name": "ok",
            "file": "ok.csv",
            "mappings": ["test-rome.rq"],
            "download_url": site.publish("ok.csv", fixture("rome-v1.csv")),
        },
    )
    seen: list[str] = []

    records = download_sources(manifest, dest, progress=lambda r: seen.append(r.name))

    assert [r.status for r in records] == ["failed", "failed", "downloaded"]
    assert records[0].message.startswith(f"cannot reach 127.0.0.1:{port}")
    assert records[1].message.startswith("cannot reach passerelles-test.invalid")
    assert all("Traceback" not in r.message and "\n" not in r.message for r in records)
    assert seen == ["rome", "nowhere", "ok"]
    assert set(read_lock(dest / LOCK_NAME)) == {"ok"}


def test_only_selects_sources_and_rejects_unknown(site: Site, dest: Path, tmp_path: Path) -> None:
    manifest = write_manifest(
        tmp_path,
        rome_entry(site.publish("r.csv", fixture("rome-v1.csv"))),
        {
            "name": "nsf",
            "file": "nsf.csv",
            "mappings": ["test-latin.rq"],
            "download_url": site.publish("nsf.csv", cp1252("nsf.csv")),
        },
    )
    assert [r.name for r in download_sources(manifest, dest, only=["nsf"])] == ["nsf"]
    assert set(read_lock(dest / LOCK_NAME)) == {"nsf"}
    with pytest.raises(ManifestError, match="unknown source"):
        download_sources(manifest, dest, only=["nope"])


def test_check_format_on_a_local_file(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, rome_entry("https://example.org/r.csv"))
    check_format(FILES / "rome-v1.csv", manifest.sources[0], MAPPINGS)
    with pytest.raises(Exception, match="missing column"):
        check_format(FILES / "rome-renamed.csv", manifest.sources[0], MAPPINGS)


def test_format_records_table() -> None:
    table = format_records(
        [
            DownloadRecord(
                "rome", "https://x/a.csv", "downloaded", "v460", sha256="0" * 64, size=10, message="new file"
            ),
            DownloadRecord("rncp", "https://x/b.zip", "failed", "2024", message="cannot reach x"),
        ]
    )
    lines = table.splitlines()
    assert lines[0].split() == ["source", "status", "version", "size", "sha256", "message"]
    assert lines[1].startswith("rome") and "new file" in lines[1]
    assert lines[2].startswith("rncp") and lines[2].endswith("cannot reach x")
