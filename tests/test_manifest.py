"""kg.manifest: loading, includes, data_dir resolution and the errors a contributor can act on."""

from __future__ import annotations

from pathlib import Path

import pytest

from kg.manifest import Manifest, ManifestError, SourceSpec, load_manifest

MAPPINGS = Path(__file__).resolve().parent / "fixtures" / "download" / "mappings"

ROME = """
[[source]]
name = "rome-occupations"
title = "ROME 4.0 — référentiel des fiches métiers"
file = "rome/unix_referentiel_code_rome_v460_utf8.csv"
mappings = ["test-rome.rq"]
version = "v460"
publisher = "France Travail"
dataset_page = "https://www.data.gouv.fr/fr/datasets/rome/"
download_url = "https://example.org/rome.zip"
licence = "https://www.etalab.gouv.fr/licence-ouverte-open-licence/"
media_type = "application/zip"
archive_member = "unix_referentiel_code_rome_v460_utf8.csv"

[source.options]
encoding = "cp1252"
skip_lines = 1
"""

NSF = """
[[source]]
name = "nsf"
title = "Nomenclature des spécialités de formation"
file = "nsf/nsf.csv"
mappings = ["test-latin.rq", "test-rome.rq"]
version = "1994"
publisher = "Insee"
dataset_page = "https://www.data.gouv.fr/fr/datasets/nsf/"
download_url = "https://example.org/nsf.csv"
licence = "https://www.etalab.gouv.fr/licence-ouverte-open-licence/"
media_type = "text/csv"
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def load(path: Path, **kwargs: object) -> Manifest:
    return load_manifest(path, mappings_dir=MAPPINGS, **kwargs)  # type: ignore[arg-type]


def test_load_fields_and_defaults(tmp_path: Path) -> None:
    manifest = load(write(tmp_path / "sources.toml", ROME + NSF))

    assert manifest.names() == ["rome-occupations", "nsf"]
    assert manifest.path == (tmp_path / "sources.toml").resolve()
    assert manifest.data_dir == tmp_path.resolve()  # no data_dir key: the manifest's folder
    assert manifest.mappings_dir == MAPPINGS
    rome = manifest.get("rome-occupations")
    assert rome.title == "ROME 4.0 — référentiel des fiches métiers"
    assert rome.mappings == ("test-rome.rq",)
    assert rome.version == "v460"
    assert rome.options == {"encoding": "cp1252", "skip_lines": "1"}
    assert rome.archive_member == "unix_referentiel_code_rome_v460_utf8.csv"
    assert rome.path(Path("/data")) == Path("/data/rome/unix_referentiel_code_rome_v460_utf8.csv")
    assert rome.mapping_paths(MAPPINGS) == [MAPPINGS / "test-rome.rq"]
    nsf = manifest.get("nsf")
    assert nsf.options == {} and nsf.archive_member is None
    assert nsf.mappings == ("test-latin.rq", "test-rome.rq")


def test_spec_is_frozen_and_hashable(tmp_path: Path) -> None:
    spec = load(write(tmp_path / "sources.toml", NSF)).sources[0]
    with pytest.raises(AttributeError):
        spec.version = "2000"  # type: ignore[misc]
    assert {spec: 1}[spec] == 1


def test_data_dir_key_and_override(tmp_path: Path) -> None:
    path = write(tmp_path / "conf" / "sources.toml", 'data_dir = "../shared/data"\n' + NSF)
    assert load(path).data_dir == (tmp_path / "shared" / "data").resolve()
    assert load(path, data_dir=tmp_path / "elsewhere").data_dir == tmp_path / "elsewhere"


def test_include_merges_fragments_in_order(tmp_path: Path) -> None:
    write(tmp_path / "fragments" / "sources-rome.toml", ROME)
    write(tmp_path / "fragments" / "sources-nsf.toml", NSF)
    main = write(
        tmp_path / "sources.toml",
        'include = ["fragments/sources-nsf.toml", "fragments/sources-rome.toml"]\n',
    )
    manifest = load(main)
    assert manifest.names() == ["nsf", "rome-occupations"]
    assert manifest.get("nsf").manifest == (tmp_path / "fragments" / "sources-nsf.toml").resolve()


def test_select(tmp_path: Path) -> None:
    manifest = load(write(tmp_path / "sources.toml", ROME + NSF))
    assert [s.name for s in manifest.select(["nsf", "rome-occupations", "nsf"])] == [
        "nsf",
        "rome-occupations",
    ]
    assert manifest.select(None) == manifest.sources
    with pytest.raises(ManifestError, match=r"unknown source\(s\) rncp \(known: rome-occupations"):
        manifest.select(["rncp"])


def _error(tmp_path: Path, text: str, name: str = "sources.toml") -> ManifestError:
    with pytest.raises(ManifestError) as info:
        load(write(tmp_path / name, text))
    return info.value


def test_missing_key(tmp_path: Path) -> None:
    err = _error(tmp_path, NSF.replace('version = "1994"\n', ""))
    assert (err.source, err.key) == ("nsf", "version")
    message = str(err)
    assert str(tmp_path / "sources.toml") in message
    assert "source 'nsf'" in message and "key 'version'" in message and "missing" in message


def test_empty_version(tmp_path: Path) -> None:
    err = _error(tmp_path, NSF.replace('version = "1994"', 'version = "  "'))
    assert (err.source, err.key) == ("nsf", "version")
    assert "empty" in str(err)


def test_duplicate_name_across_fragments(tmp_path: Path) -> None:
    write(tmp_path / "sources-a.toml", NSF)
    write(tmp_path / "sources-b.toml", NSF)
    err = _error(tmp_path, 'include = ["sources-a.toml", "sources-b.toml"]\n')
    assert (err.source, err.key) == ("nsf", "name")
    assert str(err.file).endswith("sources-b.toml")
    assert "duplicate" in str(err) and "sources-a.toml" in str(err)


def test_duplicate_name_in_one_file(tmp_path: Path) -> None:
    err = _error(tmp_path, NSF + NSF)
    assert (err.source, err.key) == ("nsf", "name")
    assert "duplicate source name" in str(err)


def test_unknown_mapping_file(tmp_path: Path) -> None:
    err = _error(tmp_path, NSF.replace('"test-rome.rq"', '"nsf-missing.rq"'))
    assert (err.source, err.key) == ("nsf", "mappings")
    assert "'nsf-missing.rq' not found" in str(err)


@pytest.mark.parametrize("bad", ["NSF", "nsf_2024", "-nsf", "nsf v2", "nsf/2024"])
def test_bad_name(tmp_path: Path, bad: str) -> None:
    err = _error(tmp_path, NSF.replace('name = "nsf"', f'name = "{bad}"'))
    assert err.key == "name"
    assert bad in str(err) and "[a-z0-9]" in str(err)


@pytest.mark.parametrize(
    ("old", "new", "key", "words"),
    [
        ('file = "nsf/nsf.csv"', 'file = "../nsf.csv"', "file", "relative path"),
        ('file = "nsf/nsf.csv"', 'file = "/tmp/nsf.csv"', "file", "relative path"),
        (
            'download_url = "https://example.org/nsf.csv"',
            'download_url = "ftp://x/nsf.csv"',
            "download_url",
            "http(s) URL",
        ),
        ('media_type = "text/csv"', 'media_type = "csv"', "media_type", "media type"),
        (  # regression: a licence with words after its URL broke the real build's catalogue
            'licence = "https://www.etalab.gouv.fr/licence-ouverte-open-licence/"',
            'licence = "https://francetravail.io/data/api (conditions)"',
            "licence",
            "no spaces",
        ),
        ('mappings = ["test-latin.rq", "test-rome.rq"]', "mappings = []", "mappings", "non-empty"),
        ('version = "1994"', "version = 1994", "version", "must be a string"),
        ('version = "1994"', 'version = "1994"\nmapping = "x.rq"', "mapping", "unknown key"),
    ],
)
def test_bad_values(tmp_path: Path, old: str, new: str, key: str, words: str) -> None:
    assert old in NSF
    err = _error(tmp_path, NSF.replace(old, new))
    assert (err.source, err.key) == ("nsf", key)
    assert words in str(err)


def test_file_level_errors(tmp_path: Path) -> None:
    assert "not found" in str(_error(tmp_path, 'include = ["nope.toml"]\n'))
    assert "invalid TOML" in str(_error(tmp_path, "[[source]\n"))
    assert _error(tmp_path, 'data = "x"\n' + NSF).key == "data"
    with pytest.raises(ManifestError, match="manifest file not found"):
        load(tmp_path / "absent.toml")


def test_include_cycle(tmp_path: Path) -> None:
    write(tmp_path / "b.toml", 'include = ["sources.toml"]\n')
    err = _error(tmp_path, 'include = ["b.toml"]\n')
    assert err.key == "include" and "cycle" in str(err)


def test_fragment_cannot_set_data_dir(tmp_path: Path) -> None:
    write(tmp_path / "frag.toml", 'data_dir = "x"\n' + NSF)
    err = _error(tmp_path, 'include = ["frag.toml"]\n')
    assert err.key == "data_dir" and str(err.file).endswith("frag.toml")


def test_spec_path_helper() -> None:
    spec = SourceSpec(
        "a", "A", "sub/a.csv", ("a.rq",), "1", "P", "https://x/", "https://x/a.csv", "L", "text/csv"
    )
    assert spec.path(Path("/d")) == Path("/d/sub/a.csv")
