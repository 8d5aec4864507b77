"""The ``kg`` command: build, validate, query and serve the graph; fetch the sources.

Every command that reads the graph takes ``--store DIR`` (default: ``PASSERELLES_STORE`` or
``var/store``); expected errors print one line naming the file, record, field and rule, and
exit with status 1; success exits 0.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from kg.config import PROJECT_ROOT, Settings
from kg.errors import BuildError, SourceError

app = typer.Typer(
    help="Passerelles: the open knowledge graph of employment and training in Normandy.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
sources_app = typer.Typer(help="The official source files: list and download them.", no_args_is_help=True)
app.add_typer(sources_app, name="sources")
console = Console(stderr=True)

DEMO_MANIFEST = PROJECT_ROOT / "demo" / "sources.toml"
REAL_MANIFEST = PROJECT_ROOT / "mappings" / "sources.toml"

StoreOpt = Annotated[Path | None, typer.Option("--store", help="Store directory (default: settings).")]


def _settings(store: Path | None) -> Settings:
    settings = Settings.from_env()
    return dataclasses.replace(settings, store=store) if store else settings


def _fail(message: str) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


@app.command()
def build(
    data: Annotated[
        Path | None, typer.Option(help="Folder of the real official files (uses mappings/sources.toml).")
    ] = None,
    manifest: Annotated[Path | None, typer.Option(help="A sources manifest (TOML) naming each file.")] = None,
    store: StoreOpt = None,
    engine: Annotated[
        str, typer.Option(help="SHACL engine: fast (default) or pyshacl (reference).")
    ] = "fast",
) -> None:
    """Build the graph: with no option, from the built-in demo sources."""
    from kg.build import build as run_build
    from kg.manifest import ManifestError, load_manifest

    if data and manifest:
        raise _fail("give --data or --manifest, not both")
    settings = _settings(store)
    try:
        if manifest:
            spec = load_manifest(manifest)
        elif data:
            if not data.is_dir():
                raise _fail(f"{data}: no such folder")
            spec = load_manifest(REAL_MANIFEST, data_dir=data)
        else:
            spec = load_manifest(DEMO_MANIFEST)
        console.print(f"Building {len(spec.sources)} source(s) from {spec.data_dir} into {settings.store}")

        def progress(report: object) -> None:
            from kg.provenance import SourceReport

            assert isinstance(report, SourceReport)
            console.print(
                f"  {report.name:<34} {report.rows_read:>9,} records {report.triples:>10,} triples "
                f"{report.read_s + report.map_s + report.load_s:6.1f} s",
                highlight=False,
                soft_wrap=True,
            )

        result = run_build(spec, settings, on_source=progress, engine=engine)
    except (SourceError, BuildError, ManifestError) as exc:
        raise _fail(str(exc)) from None
    table = Table(title=f"Build {result.build_id}")
    for col in ("source", "version", "read", "loaded", "quarantined", "skipped", "triples", "seconds"):
        table.add_column(col, justify="left" if col in {"source", "version"} else "right")
    for r in result.sources:
        table.add_row(
            r.name,
            r.version,
            f"{r.rows_read:,}",
            f"{r.rows_loaded:,}",
            f"{r.rows_quarantined:,}",
            f"{r.rows_skipped:,}",
            f"{r.triples:,}",
            f"{r.read_s + r.map_s + r.load_s:.1f}",
        )
    Console(width=max(Console().width, 140)).print(table)
    t = result.timings
    console.print(
        f"validation: {result.violations} violation(s), {result.warnings} warning(s); "
        f"times: map+load {t['map_and_load']:.1f} s, validate {t['validate']:.1f} s, "
        f"total {t['total']:.1f} s; store {result.store_dir}",
        highlight=False,
    )


@app.command()
def validate(
    store: StoreOpt = None,
    engine: Annotated[str, typer.Option(help="SHACL engine: fast or pyshacl.")] = "fast",
    examples: Annotated[int, typer.Option(help="Example focus nodes per group.")] = 3,
) -> None:
    """Re-run SHACL validation on the built graph and print a readable report."""
    from kg.store import StoreLayout, open_store
    from kg.validate import format_report, validate_store

    settings = _settings(store)
    try:
        graph_store = open_store(settings.store)
    except FileNotFoundError as exc:
        raise _fail(str(exc)) from None
    results = validate_store(graph_store, StoreLayout(settings.store).builds, engine=engine)
    print(format_report(results, examples=examples))
    if any(r.severity == "Violation" for r in results):
        raise typer.Exit(1)


@app.command()
def query(
    text: Annotated[str | None, typer.Argument(help="A SPARQL query (or use --file).")] = None,
    file: Annotated[Path | None, typer.Option(help="Read the query from a file.")] = None,
    store: StoreOpt = None,
) -> None:
    """Run a read-only SPARQL query on the built graph; prints SPARQL JSON or N-Triples."""
    from api.sparql import run_query
    from kg.namespaces import prefixes_for
    from kg.store import open_store

    settings = _settings(store)
    if (text is None) == (file is None):
        raise _fail("give a query or --file, not both")
    sparql = file.read_text(encoding="utf-8") if file else str(text)
    try:
        _, body = run_query(
            open_store(settings.store), sparql, settings.result_cap, prefixes_for(settings.base_iri)
        )
    except (FileNotFoundError, SyntaxError, OverflowError) as exc:
        raise _fail(str(exc)) from None
    sys.stdout.write(body.decode("utf-8") + "\n")


@app.command()
def serve(
    store: StoreOpt = None,
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
) -> None:
    """Serve the built graph: /health, /sparql."""
    import uvicorn

    from api.app import create_app

    settings = _settings(store)
    try:
        application = create_app(settings)
    except (FileNotFoundError, OSError) as exc:
        raise _fail(str(exc)) from None
    uvicorn.run(application, host=host or settings.host, port=port or settings.port)


@app.command()
def extract(
    offers: Annotated[list[Path], typer.Argument(help="Offer files: JSON array, JSON Lines or API pages.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Results, one JSON object per line.")],
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    store: StoreOpt = None,
) -> None:
    """Extract occupations, ROME skills and emerging skills from job offers (JSON Lines out).

    Bad records (invalid JSON, no description, not French) give an error object in the output;
    the exit status is the number of failed records (capped at 100), 0 when all went through.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from kg.nlp.extract import make_extractor, run
    from kg.store import StoreLayout, open_store

    settings = _settings(store)
    missing = [p for p in offers if not p.is_file()]
    if missing:
        raise _fail(f"{missing[0]}: no such file")
    try:
        graph_store = open_store(settings.store)
    except FileNotFoundError as exc:
        raise _fail(str(exc)) from None
    extractor = make_extractor(graph_store, StoreLayout(settings.store).current(), settings.base_iri)
    total = sum(1 for p in offers for line in p.open(encoding="utf-8-sig") if line.strip())
    with output.open("w", encoding="utf-8") as out, Progress(
        TextColumn("extract"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=console, transient=True, disable=total < 200,
    ) as progress:
        task = progress.add_task("offers", total=total)
        stats = run(
            extractor, offers, out, workers=max(1, workers), on_result=lambda _: progress.advance(task)
        )
    console.print(
        f"{stats.offers} record(s): {stats.offers - stats.failed} extracted ({stats.skills} skill mentions, "
        f"{stats.emerging} emerging phrases, {stats.capped} capped), {stats.failed} failed → {output}",
        highlight=False,
    )
    if stats.failed:
        raise typer.Exit(min(stats.failed, 100))


@sources_app.command("list")
def sources_list(
    manifest: Annotated[Path, typer.Option(help="Sources manifest.")] = REAL_MANIFEST,
) -> None:
    """List the sources of a manifest with their publisher, version and licence."""
    from kg.manifest import ManifestError, load_manifest

    try:
        spec = load_manifest(manifest)
    except ManifestError as exc:
        raise _fail(str(exc)) from None
    table = Table(title=str(manifest))
    for col in ("name", "version", "publisher", "file", "licence"):
        table.add_column(col)
    for s in spec.sources:
        table.add_row(s.name, s.version, s.publisher, s.file, s.licence)
    Console(width=max(Console().width, 140)).print(table)


@sources_app.command("download")
def sources_download(
    manifest: Annotated[Path, typer.Option(help="Sources manifest.")] = REAL_MANIFEST,
    dest: Annotated[Path | None, typer.Option(help="Destination folder (default: the data folder).")] = None,
    only: Annotated[list[str] | None, typer.Option(help="Only these sources (repeatable).")] = None,
    force: Annotated[bool, typer.Option(help="Download even when the lock file says unchanged.")] = False,
) -> None:
    """Download the official files, record sha256 and version, refuse changed formats."""
    from kg.download import download_sources, format_records
    from kg.manifest import ManifestError, load_manifest

    settings = _settings(None)
    try:
        spec = load_manifest(manifest, data_dir=dest or settings.data_dir)
        records = download_sources(
            spec,
            dest or settings.data_dir,
            only=only,
            force=force,
            progress=lambda r: console.print(f"  {r.name:<34} {r.status}", highlight=False),
        )
    except ManifestError as exc:
        raise _fail(str(exc)) from None
    print(format_records(records))
    if any(r.status in {"refused", "failed"} for r in records):
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
