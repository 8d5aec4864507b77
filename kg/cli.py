"""The ``kg`` command: build, validate, query and serve the graph; fetch the sources.

Every command that reads the graph takes ``--store DIR`` (default: ``PASSERELLES_STORE`` or
``var/store``); expected errors print one line naming the file, record, field and rule, and
exit with status 1; success exits 0.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer
from rich.console import Console
from rich.table import Table

from kg.config import PROJECT_ROOT, Settings
from kg.errors import BuildError, SourceError

if TYPE_CHECKING:
    import pyoxigraph as ox

    from kg.manifest import SourceSpec

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


def reader(settings: Settings) -> ox.Store:
    """The served graph for a read-only command: the embedded store, or the remote store
    (``PASSERELLES_STORE_ENDPOINT``) — it answers the same ``query`` / ``quads_for_pattern``."""
    from kg.store import open_graph

    return cast("ox.Store", open_graph(settings))


def _settings(store: Path | None) -> Settings:
    settings = Settings.from_env()
    return dataclasses.replace(settings, store=store) if store else settings


def _fail(message: str) -> typer.Exit:
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(1)


def _with_region(sources: list[SourceSpec], region: str) -> list[SourceSpec]:
    """Every source with the ``region`` option (mappings with a ``#+ region:`` column use it)."""
    from kg.regions import region_pattern

    try:
        region_pattern(region)
    except ValueError as exc:
        raise _fail(f"--region: {exc}") from None
    return [dataclasses.replace(s, options={**s.options, "region": region}) for s in sources]


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
    region: Annotated[
        str | None,
        typer.Option(help="Keep one region (INSEE code, 28 = Normandy) of national files (SIRENE...)."),
    ] = None,
    only: Annotated[
        list[str] | None,
        typer.Option(help="Replace only this source's graph in the served store (repeatable)."),
    ] = None,
    file: Annotated[
        Path | None, typer.Option(help="With one --only: read this file instead of the manifest's.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Rebuild even when the inputs are unchanged.")] = False,
) -> None:
    """Build the graph: with no option, from the built-in demo sources.

    With --only SOURCE, replace just that source's graph in a copy of the served store and
    publish it atomically. When the inputs (file digests, mappings, manifest entries, shapes,
    ontology, base IRI) are those of the served build, nothing is done unless --force.
    """
    from kg.manifest import ManifestError, load_manifest
    from kg.nlp import rerank
    from kg.update import NoOp
    from kg.update import run as run_build

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
        if region:
            spec.sources = _with_region(spec.sources, region)
        what = f"Updating {', '.join(only)}" if only else f"Building {len(spec.sources)} source(s)"
        console.print(f"{what} from {file or spec.data_dir} into {settings.store}", highlight=False)

        def progress(report: object) -> None:
            from kg.provenance import SourceReport

            assert isinstance(report, SourceReport)
            console.print(
                f"  {report.name:<34} {report.rows_read:>9,} records {report.triples:>10,} triples "
                f"{report.read_s + report.map_s + report.load_s:6.1f} s",
                highlight=False,
                soft_wrap=True,
            )

        if rerank.wanted():  # said before any source is read, not at the NLP stage
            rerank.require_model()
        result = run_build(spec, settings, only, file, force, on_source=progress, engine=engine)
    except (SourceError, BuildError, ManifestError, rerank.ModelFileMissing) as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:  # a full disk, a read-only store...: one line, not a traceback
        reason = f"{exc.strerror}: {exc.filename}" if exc.strerror and exc.filename else str(exc)
        raise _fail(
            f"cannot write the new build in {settings.store}: {' '.join(reason.split())} "
            "(the previous graph is still served)"
        ) from None
    if isinstance(result, NoOp):
        names = ", ".join(result.sources) if only else f"all {len(result.sources)} sources"
        console.print(
            f"nothing to do: the inputs of {names} are those of the served build "
            f"{result.build_id} (same file digests, mappings, manifest entries, shapes, ontology and base "
            "IRI); use --force to rebuild",
            highlight=False,
            soft_wrap=True,
        )
        return
    table = Table(
        title=f"Build {result.build_id}" + (f" (update of {result.previous_build})" if only else "")
    )
    for col in ("source", "version", "read", "loaded", "quarantined", "skipped", "triples", "seconds"):
        table.add_column(col, justify="left" if col in {"source", "version"} else "right")
    for r in (
        result.sources if not result.updated else [s for s in result.sources if s.name in result.updated]
    ):
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
    for name, change in result.changes.items():
        console.print(
            f"  {name}: entities +{change.entities_added} added, -{change.entities_removed} removed, "
            f"~{change.entities_changed} changed; triples +{change.triples_added} -{change.triples_removed}",
            highlight=False,
            soft_wrap=True,
        )
    t = result.timings
    copy = f"copy {t['copy']:.1f} s, " if "copy" in t else ""
    console.print(
        f"validation: {result.violations} violation(s), {result.warnings} warning(s); "
        f"times: {copy}map+load {t['map_and_load']:.1f} s, validate {t['validate']:.1f} s, "
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

    settings = _settings(store)
    if (text is None) == (file is None):
        raise _fail("give a query or --file, not both")
    sparql = file.read_text(encoding="utf-8") if file else str(text)
    try:
        _, body = run_query(
            reader(settings), sparql, settings.result_cap, prefixes_for(settings.base_iri)
        )
    except (OSError, SyntaxError, OverflowError, RuntimeError) as exc:
        raise _fail(str(exc)) from None
    sys.stdout.write(body.decode("utf-8") + "\n")


@app.command()
def gaps(
    trade: Annotated[
        str | None, typer.Option(help="A target trade's identifier (see trades/target-trades.csv).")
    ] = None,
    occupation: Annotated[str | None, typer.Option(help="Or a ROME 4.0 code, e.g. F1703.")] = None,
    all_trades: Annotated[
        bool, typer.Option("--all", help="Every target trade, in the pact's order.")
    ] = False,
    territory: Annotated[
        str | None, typer.Option(help="Only offers located in: 28 (région), departement:76, 76540, 2805…")
    ] = None,
    since: Annotated[str | None, typer.Option(help="Only offers created on or after YYYY-MM-DD.")] = None,
    threshold: Annotated[float, typer.Option(help="Coverage score from which a bloc covers a skill.")] = 0.5,
    min_share: Annotated[
        float, typer.Option(help="Leave out skills asked by a smaller share of offers.")
    ] = 0.0,
    first: Annotated[int | None, typer.Option(help="Keep the N most demanded gaps per trade.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="md, csv, html or json.")] = "md",
    output: Annotated[
        Path | None, typer.Option(help="Write the report to this file (default: stdout).")
    ] = None,
    store: StoreOpt = None,
) -> None:
    """The certifier's report: skills job offers demand that no certification bloc covers."""
    from datetime import date

    from kg.gaps import ScopeError, resolve_scope, resolve_territory, target_trades, trade_gaps
    from kg.gaps_report import RENDERERS
    from kg.queries import ParameterError

    settings = _settings(store)
    if fmt not in RENDERERS:
        raise _fail(f"--format {fmt!r}: expected one of {', '.join(RENDERERS)}")
    try:
        day = date.fromisoformat(since) if since else None
    except ValueError:
        raise _fail(f"--since {since!r}: expected a date YYYY-MM-DD") from None
    try:
        graph = reader(settings)
        base = settings.base_iri
        if all_trades:
            if trade or occupation:
                raise ScopeError("--all reports every trade: leave out --trade and --occupation")
            scopes = [iri for iri, _, _ in target_trades(graph)]
            if not scopes:
                raise ScopeError("the graph holds no target trade (source target-trades)")
        else:
            scopes = [resolve_scope(trade, occupation, base)]
        where = resolve_territory(territory, base)
        reports = [
            trade_gaps(graph, s, base, where, day, threshold, min_share=min_share, first=first)
            for s in scopes
        ]
    except (OSError, ScopeError, ParameterError) as exc:  # OSError: no store, or the remote one down
        raise _fail(str(exc)) from None
    text = RENDERERS[fmt](reports)
    if output:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {output} ({len(reports)} trade(s), {sum(len(r.gaps) for r in reports)} gaps)")
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


@app.command()
def paths(
    to: Annotated[str, typer.Option(help="Target: ROME 4.0 or 3 code (I1321) or appellation code.")],
    near: Annotated[str | None, typer.Option(help="The person's commune (INSEE code, e.g. 76351).")] = None,
    radius: Annotated[float, typer.Option(help="Distance in km from the commune.")] = 50.0,
    from_: Annotated[str | None, typer.Option("--from", help="The person's current ROME code.")] = None,
    skill: Annotated[
        list[str] | None, typer.Option(help="A ROME skill code the person has (repeatable).")
    ] = None,
    starts_after: Annotated[
        str | None, typer.Option(help="Sessions starting on or after YYYY-MM-DD.")
    ] = None,
    accessibility: Annotated[bool, typer.Option(help="Only bodies with a disability referent.")] = False,
    vae: Annotated[bool, typer.Option(help="Also the VAE alternative.")] = False,
    first: Annotated[int, typer.Option(help="How many paths (1–100).")] = 10,
    fmt: Annotated[str, typer.Option("--format", help="text, json or html.")] = "text",
    store: StoreOpt = None,
) -> None:
    """Guidance: ranked paths to an occupation — skills, blocs, certifications, sessions near a person."""
    from datetime import date

    from kg.paths import GuidanceError, guidance
    from kg.paths_report import RENDERERS as PATH_RENDERERS
    from kg.queries import ParameterError

    settings = _settings(store)
    if fmt not in PATH_RENDERERS:
        raise _fail(f"--format {fmt!r}: expected one of {', '.join(PATH_RENDERERS)}")
    try:
        day = date.fromisoformat(starts_after) if starts_after else None
    except ValueError:
        raise _fail(f"--starts-after {starts_after!r}: expected a date YYYY-MM-DD") from None
    try:
        answer = guidance(
            reader(settings),
            settings.base_iri,
            to,
            near=near,
            radius_km=radius,
            from_=from_,
            skills=skill or [],
            starts_after=day,
            accessibility=accessibility,
            vae=vae,
            first=first,
        )
    except (OSError, GuidanceError, ParameterError) as exc:  # OSError: no store, or the remote one down
        raise _fail(str(exc)) from None
    sys.stdout.write(PATH_RENDERERS[fmt](answer) + "\n")


@app.command()
def serve(
    store: StoreOpt = None,
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    access_log: Annotated[
        bool,
        typer.Option(
            help="Log every request (uvicorn's access log). Off by default: it cost ~0.3 ms of CPU per "
            "request (benchmarks/sparql.py); the reverse proxy in front usually keeps that log."
        ),
    ] = False,
) -> None:
    """Serve the built graph: /sparql, /graphql, Linked Data /id, /dataset, /dumps, /queries, /query."""
    import uvicorn

    from api.app import create_app

    settings = _settings(store)
    try:
        application = create_app(settings)
    except (FileNotFoundError, OSError) as exc:
        raise _fail(str(exc)) from None
    # uvicorn picks uvloop and httptools (dependencies) for its event loop and HTTP parser
    uvicorn.run(application, host=host or settings.host, port=port or settings.port, access_log=access_log)


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
        # FileNotFoundError too when the second stage is on (the default) and its model file is missing
        extractor = make_extractor(graph_store, StoreLayout(settings.store).current(), settings.base_iri)
    except FileNotFoundError as exc:
        raise _fail(str(exc)) from None
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
