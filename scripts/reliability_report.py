"""Run the fault, fuzz and hostile-input tests and write ``docs/RELIABILITY.md`` from that run and
from the latest load benchmark.

    .venv/bin/python scripts/reliability_report.py                  # CI budget, 5 kills per stage
    .venv/bin/python scripts/reliability_report.py --fault-runs 20 --hypothesis-profile long

The tests log what they tried (``tests/reliability_log.py``): every hypothesis example with the
reader and its outcome, every kill with its stage and delay, every hostile request and fuzzed
HTTP call with its answer. pytest's JUnit XML gives each test's status. The load rows come from
the summary ``benchmarks/load.py`` saved (``benchmarks/results/load.json``: its date, command and
the machine's load average are shown). The page lists, in one table, what was measured and, for
what is not, a row saying so: no figure is written that was not measured. Exit status: pytest's.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = [
    "tests/test_faults.py",
    "tests/test_nothing_lost.py",
    "tests/test_fuzz_readers.py",
    "tests/test_html_escaping.py",
    "tests/test_load_admission.py",
    "tests/test_hostile_input.py",
    "tests/test_fuzz_http.py",
    "tests/test_sparql_limits.py",
    "tests/test_browser.py",
    "tests/test_remote_store.py::test_store_down_gives_503_and_service_resumes_without_restart",
]
LOAD_RESULTS = ROOT / "benchmarks" / "results" / "load.json"
NOT_MEASURED = "not measured yet"
NOTE = """
Reading the table: *SIGKILL* rows count kills of a real `kg build` subprocess, at a delay drawn
from a seeded RNG inside the stage's window (timed by a calibration build); after each kill the
served graph is reopened read-only and queried. A kill in *publish* may land after the atomic
switch of `current`: the new build is then served, complete (same quad count). *Bad input* rows
count the hypothesis examples each reader was given and how each ended: records, or a one-line
`SourceError` (file, line, field, rule); any other exception fails the test. *Load* rows: `kg
serve` on the full real graph on loopback, locust clients over a half-SPARQL half-GraphQL mix (see
`docs/guides/load.md`); an *answer* is a 200 with a result body, *shed* a 503/429 with Retry-After,
an *error* anything else (here: GraphQL answers carrying a TIMEOUT error). Figures are from a
machine of 2 cores shared with other jobs (load average shown): read them as ratios. *Hostile*
and *HTTP fuzz* rows count the requests the tests sent in this run and the answers they got.
"""
PENDING: list[tuple[str, str]] = []  # (area, what) of faults with no test yet: a "not measured" row each


def run_tests(out: Path, fault_runs: int, profile: str | None) -> tuple[int, Path, Path]:
    """Run the reliability tests with logging on; return pytest's status and the two files."""
    out.mkdir(parents=True, exist_ok=True)
    junit, log = out / "junit.xml", out / "outcomes.jsonl"
    log.unlink(missing_ok=True)
    env = {**os.environ, "PASSERELLES_RELIABILITY_LOG": str(log), "PASSERELLES_FAULT_RUNS": str(fault_runs)}
    command = [sys.executable, "-m", "pytest", *TESTS, f"--junitxml={junit}", "-p", "no:cacheprovider"]
    if profile:
        command.append(f"--hypothesis-profile={profile}")
    status = subprocess.run(command, cwd=ROOT, env=env, check=False).returncode
    return status, junit, log


def test_results(junit: Path) -> dict[str, tuple[str, float]]:
    """Per test (file::name[param]): passed, failed or skipped (with the reason), and its time."""
    results: dict[str, tuple[str, float]] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
        status = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                status = "FAILED"
            elif child.tag == "skipped":
                status = f"skipped ({(child.get('message') or '').removeprefix('Skipped: ')})"
        results[name] = (status, float(case.get("time", 0)))
    return results


def _status(results: dict[str, tuple[str, float]], prefix: str, param: str | None = None) -> str:
    """The status of the tests named ``prefix…`` (with ``param`` as their first parameter)."""
    found = [
        s
        for name, (s, _) in results.items()
        if name.startswith(prefix) and (param is None or f"[{param}]" in name or f"[{param} " in name)
    ]
    if not found:
        return "not run"
    if any(s == "FAILED" for s in found):
        return f"**FAILED** ({sum(s == 'FAILED' for s in found)}/{len(found)} tests)"
    if all(s.startswith("skipped") for s in found):
        return found[0]
    return f"passed ({sum(s == 'passed' for s in found)} test(s))"


def rows(results: dict[str, tuple[str, float]], events: list[dict[str, object]]) -> list[tuple[str, ...]]:
    """The table: area, what was tried, how much, outcome, test status."""
    table: list[tuple[str, ...]] = []
    faults = [e for e in events if e["kind"] == "fault"]
    for stage in ("map_load", "validate", "publish"):
        kills = [
            e
            for e in faults
            if e["fault"] == "SIGKILL" and e.get("stage") == stage and e["run"] != "next build"
        ]
        nexts = [
            e
            for e in faults
            if e["fault"] == "SIGKILL" and e.get("stage") == stage and e["run"] == "next build"
        ]
        where = Counter(str(e["where"]) for e in kills)
        kept = Counter(str(e["outcome"]) for e in kills)
        delays = [float(str(e["delay_s"])) for e in kills]
        tried = (
            f"{len(kills)} kill(s), {min(delays):.3f}–{max(delays):.3f} s into the stage" if delays else "—"
        )
        outcome = "; ".join(f"{n}× {w}" for w, n in where.items())
        outcome += " → " + ", ".join(f"{n}× {o}" for o, n in kept.items()) if kept else ""
        if nexts:
            outcome += f"; next build: {nexts[-1]['outcome']}"
        test = f"test_faults::test_sigkill_during_build_keeps_previous_graph[{stage}]"
        table.append(
            (
                "Faults",
                f"SIGKILL `kg build` during {stage.replace('_', '/')}",
                tried,
                outcome,
                _status(results, test),
            )
        )
    for fault, test in (
        ("ENOSPC (full tmpfs)", "test_faults::test_out_of_disk_on_a_full_tmpfs"),
        ("ENOSPC (injected)", "test_faults::test_out_of_disk_injected_into_the_spool_writer"),
    ):
        seen = [e for e in faults if e["fault"] == fault]
        message = (
            re.sub(r"/tmp/pytest-of-[^/]+/pytest-\d+/[^/]+/", "…/", str(seen[-1]["message"])) if seen else ""
        )
        outcome = f"{seen[-1]['outcome']}: `{message}`; previous graph served" if seen else "—"
        label = (
            "Out of disk: store on a full 48 MiB tmpfs"
            if "tmpfs" in fault
            else ("Out of disk: ENOSPC raised while writing the spool")
        )
        table.append(("Faults", label, "1 build" if seen else "—", outcome, _status(results, test)))
    down = [e for e in faults if e["fault"] == "remote store stopped"]
    back = [e for e in faults if e["fault"] == "remote store restarted"]
    table.append(
        (
            "Faults",
            "Remote store (`oxigraph serve`) killed while the API serves, then started again",
            f"{len(down)} requests while down: " + ", ".join(str(e["what"]) for e in down) if down else "—",
            (
                _outcomes(Counter(str(e["outcome"]) for e in down))
                + (f"; back: {back[-1]['outcome']}" if back else "")
            )
            if down
            else "—",
            _status(results, "test_remote_store::test_store_down_gives_503"),
        )
    )
    fuzz: dict[str, Counter[str]] = defaultdict(Counter)
    strategies: dict[str, Counter[str]] = defaultdict(Counter)
    for e in events:
        if e["kind"] == "fuzz":
            fuzz[str(e["reader"])][str(e["outcome"])] += 1
            strategies[str(e["reader"])][str(e["strategy"])] += 1
    for reader in sorted(fuzz):
        total = sum(fuzz[reader].values())
        tried = f"{total} examples: " + ", ".join(f"{s} {n}" for s, n in sorted(strategies[reader].items()))
        outcome = ", ".join(f"{o} {n}" for o, n in sorted(fuzz[reader].items()))
        unexpected = total - sum(
            n for o, n in fuzz[reader].items() if o in ("records", "SourceError", "inert")
        )
        outcome += f"; other exceptions {unexpected}"
        test = "test_html_escaping::" if reader.startswith("html") else "test_fuzz_readers::"
        area = "Bad input (HTML)" if reader.startswith("html") else "Bad input (readers)"
        param = None if reader.startswith("html") else reader
        table.append((area, f"`{reader}`", tried, outcome, _status(results, test, param)))
    table.append(
        (
            "Bad input (readers)",
            "CSV-injection strings through a mapping",
            "12 payloads + 50 examples",
            "each a plain literal, verbatim; no IRI from cell text",
            _status(results, "test_fuzz_readers::test_injection_string_stays"),
        )
    )
    table.append(
        (
            "Nothing lost",
            "Mapping drops a record without skip rule",
            "1 build",
            "record quarantined with its cells and reason; every source reconciles",
            _status(results, "test_nothing_lost::test_dropped_record"),
        )
    )
    table.append(
        (
            "Nothing lost",
            "Quarantined entities queryable with the rule they broke",
            "1 build",
            "sh:ValidationResult with shape, component, message in the quarantine graph",
            _status(results, "test_nothing_lost::test_quarantined_entities"),
        )
    )
    table.append(
        (
            "Nothing lost",
            "File malformed at row 3,000",
            "1 build",
            "exit 1 with file and line; nothing loaded; previous graph served",
            _status(results, "test_nothing_lost::test_file_broken_half_way"),
        )
    )
    table += load_rows(results)
    table += api_rows(results, events)
    for area, what in PENDING:
        table.append((area, what, NOT_MEASURED, NOT_MEASURED, "no test in this run"))
    return table


def _count(events: list[dict[str, object]], kind: str, what: str) -> Counter[str]:
    return Counter(str(e["outcome"]) for e in events if e["kind"] == kind and e.get("what") == what)


def _outcomes(counts: Counter[str]) -> str:
    return ", ".join(f"{o} ×{n}" for o, n in counts.most_common()) if counts else "—"


def _when(run: dict[str, object]) -> str:
    load = run.get("load_average_at_start") or ["?"]
    return f"run {run['date']}, load average {load[0]}"  # type: ignore[index]


def load_rows(results: dict[str, tuple[str, float]]) -> list[tuple[str, ...]]:
    """The load benchmark's figures, from its saved summary."""
    if not LOAD_RESULTS.is_file():
        return [("Load", "benchmarks/load.py", NOT_MEASURED, NOT_MEASURED, "no saved run")]
    data = json.loads(LOAD_RESULTS.read_text(encoding="utf-8"))
    table: list[tuple[str, ...]] = []
    if steps := data.get("steps"):
        run = data["steps_run"]
        seconds = run["command"].split("--seconds ")[-1].split()[0] if "--seconds" in run["command"] else "25"
        for s in steps:
            outcome = (
                f"{s['throughput_rps']} answers/s, p50/p95/p99 {s['p50_ms']:.0f}/{s['p95_ms']:.0f}/"
                f"{s['p99_ms']:.0f} ms, errors {s['errors']} ({100 * s['error_rate']:.1f} %), "
                f"shed {s['shed']} (without Retry-After {s['shed_without_retry_after']}), "
                f"server RSS {s['rss']['total_mib']:.0f} MiB, "
                f"{'/health ok after' if s['healthy_after'] else '**DOWN after**'}"
            )
            table.append(("Load", f"GraphQL + SPARQL mix, {s['users']} client(s) on the real graph",
                          f"{seconds} s, {s['requests']} requests", outcome, _when(run)))  # fmt: skip
        sat = data["saturation"]
        table.append(("Load", "Saturation point (first step at 90 % of the best throughput)",
                      f"{len(steps)} steps", f"{sat['users']} clients, {sat['throughput_rps']} answers/s",
                      _when(run)))  # fmt: skip
    if soak := data.get("soak"):
        run = soak["run"]
        if soak.get("paced", True):
            what = f"Soak: {soak['users']} clients paced to the saturation rate ({soak['target_rps']}/s)"
        else:
            what = f"Soak: the saturation step's {soak['users']} clients, closed loop"
        how = f"{soak['seconds']:.0f} s, {soak['requests']} requests, {soak['rss_samples']} RSS samples"
        outcome = (
            f"{soak['throughput_rps']} answers/s"
            + (
                f" ({soak['ratio_to_saturation']}× the {soak['saturation_rps']}/s of the saturation step)"
                if soak.get("ratio_to_saturation")
                else ""
            )
            + f", p95 {soak['p95_ms']:.0f} ms, errors {soak['errors']}, "
            f"shed {soak['shed']}; RSS {soak['rss_start_mib']:.0f} → {soak['rss_end_mib']:.0f} MiB, slope "
            f"{soak['rss_slope_mib_per_min']} MiB/min ({soak['rss_slope_second_half_mib_per_min']} in the "
            f"second half); {'held' if soak['held'] else '**not held**'} (0 errors and < 1 MiB/min)"
        )
        table.append(("Load", what, how, outcome, _when(run)))
    if over := data.get("overload"):
        outcome = (
            f"statuses {', '.join(f'{k} ×{v}' for k, v in over['statuses'].items())}; refusals without "
            f"Retry-After {over['shed_without_retry_after']}; "
            f"{'healthy after' if over['healthy_after'] else 'DOWN'}"
        )
        table.append(("Load", f"Overload: {over['users']} clients, {over['settings']}",
                      f"{over['seconds']:.0f} s, {over['requests']} requests", outcome,
                      f"run {data['steps_run']['date']}"))  # fmt: skip
    return table


def api_rows(results: dict[str, tuple[str, float]], events: list[dict[str, object]]) -> list[tuple[str, ...]]:
    """Overload, hostile input and HTTP fuzzing in this run's tests."""
    table: list[tuple[str, ...]] = []
    flood = _count(events, "overload", "flood")
    table.append(("Load (CI)", "Overload: 24 clients at once against a bound of 4 in flight; 4 slow clients "
                  "holding the bound; rate limit per forwarded client",
                  f"{sum(flood.values())} flood requests",
                  _outcomes(flood) + "; past the bound 503 + Retry-After in < 1 s, /health exempt",
                  _status(results, "test_load_admission::test_")))  # fmt: skip
    for what, label, name in (
        (
            "graphql past its execution places",
            "GraphQL past its execution places (1 place, a request holding it): shed before any work",
            "test_load_admission::test_graphql_past_its_execution_places",
        ),
        (
            "search while the index builds",
            "GraphQL search on a fresh server whose search index is still being built",
            "test_load_admission::test_search_while_its_index_builds",
        ),
    ):
        seen = _count(events, "overload", what)
        outcome = _outcomes(seen) + ", not a TIMEOUT"
        tried = f"{sum(seen.values())} request(s)"
        table.append(("Load (CI)", label, tried, outcome, _status(results, name)))
    table.append(("Faults", "Never-ending query and a result past the row cap",
                  "1 endless query, 1 big answer",
                  "endless: 503 timeout, its worker killed, others answered meanwhile; big: 413 result-cap",
                  _status(results, "test_sparql_limits::")))  # fmt: skip
    for what, label in (
        ("stored-query injection", "SPARQL injection through every parameter of every stored query"),
        (
            "graphql injection",
            "SPARQL injection through GraphQL lookups and list filters (strings, IDs, cursors)",
        ),
        ("update/LOAD", "SPARQL Update and LOAD on /sparql (GET, form, direct, update= forms)"),
        ("SERVICE", "SERVICE (plain, SILENT, nested, escaped, variable, prefixed) on /sparql, GET and POST"),
        ("listener IRI named", "A loopback listener's IRI in FROM, GRAPH, DESCRIBE, dataset parameters"),
        ("path traversal", "Path traversal on /dumps, /id, /doc, /graph, /static, /queries (sent raw)"),
        ("oversized", "Oversized URL (9 KiB), header (9 KiB), headers (10 KiB), body (declared, chunked)"),
    ):
        counts = _count(events, "hostile", what)
        targets = {str(e.get("target")) for e in events if e["kind"] == "hostile" and e.get("what") == what}
        tried = f"{sum(counts.values())} requests" + (
            f" over {len(targets)} targets" if len(targets) > 1 else ""
        )
        test = {
            "oversized": "test_load_admission::test_oversized",
            "path traversal": "test_hostile_input::test_path",
        }
        table.append(("Bad input (HTTP)", label, tried if counts else NOT_MEASURED, _outcomes(counts),
                      _status(results, test.get(what, "test_hostile_input::test_"))))  # fmt: skip
    hits = [e for e in events if e["kind"] == "hostile" and e.get("what") == "listener"]
    table.append(("Bad input (HTTP)", "Requests leaving the machine (the listener's hits)",
                  f"{len(hits)} checks", f"{sum(int(str(e['hits'])) for e in hits)} hits" if hits else "—",
                  _status(results, "test_hostile_input::test_update")))  # fmt: skip
    for what, label in (
        ("openapi", "HTTP API fuzzed from its OpenAPI description + the portal routes (schemathesis)"),
        ("graphql valid", "GraphQL: valid queries generated from the schema (hypothesis-graphql)"),
        ("graphql invalid", "GraphQL: invalid queries (wrong types, unknown fields)"),
        ("graphql broken syntax", "GraphQL: valid queries with a piece replaced by noise"),
        ("graphql any JSON body", "GraphQL: arbitrary JSON bodies"),
    ):
        counts = _count(events, "fuzz-http", what)
        operations = {
            str(e.get("target")) for e in events if e["kind"] == "fuzz-http" and e.get("what") == what
        }
        tried = f"{sum(counts.values())} requests" + (
            f", {len(operations)} operations" if what == "openapi" else ""
        )
        table.append(("Bad input (HTTP fuzz)", label, tried if counts else NOT_MEASURED,
                      _outcomes(counts) + ("; no 5xx" if counts else ""),
                      _status(results, "test_fuzz_http::")))  # fmt: skip
    table.append(("Bad input (HTML)", "Source text with <script> in the portal's HTML pages, in Chromium",
                  "the tests of tests/test_browser.py",
                  "shown as text, never run (window.hacked stays undefined)",
                  _status(results, "test_browser::")))  # fmt: skip
    return table


def _commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    dirty = (
        " (with uncommitted changes)"
        if git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!docs/RELIABILITY.md")
        else ""
    )
    return git("rev-parse", "--short", "HEAD") + dirty


def _load_commands() -> list[str]:
    """The commands of the load runs the table quotes."""
    if not LOAD_RESULTS.is_file():
        return []
    data = json.loads(LOAD_RESULTS.read_text(encoding="utf-8"))
    runs = {r["command"] for r in (data.get("steps_run"), (data.get("soak") or {}).get("run")) if r}
    return [f"- load (`{LOAD_RESULTS.relative_to(ROOT)}`): " + "; ".join(f"`{c}`" for c in sorted(runs))]


def render(
    table: list[tuple[str, ...]], results: dict[str, tuple[str, float]], args: argparse.Namespace
) -> str:
    statuses = Counter(s.split(" ")[0] for s, _ in results.values())
    seconds = sum(t for _, t in results.values())
    lines = [
        "# Reliability: load held, faults survived, bad input refused, nothing lost",
        "",
        "Generated by `scripts/reliability_report.py` from its latest run — do not edit by hand.",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; commit: `{_commit()}`",
        f"- command: `.venv/bin/python scripts/reliability_report.py --fault-runs {args.fault_runs}"
        + (f" --hypothesis-profile {args.hypothesis_profile}`" if args.hypothesis_profile else "`"),
        f"- tests: {', '.join(f'{n} {s}' for s, n in sorted(statuses.items()))} in {seconds:.0f} s "
        f"({', '.join(f'`{t}`' for t in TESTS)})",
        *_load_commands(),
        "",
        "| area | tried | how much | outcome | test or run |",
        "|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in table]
    lines += [
        "",
        " ".join(NOTE.split()),
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--fault-runs", type=int, default=5, help="SIGKILLs per build stage (default 5)")
    parser.add_argument("--hypothesis-profile", default=None, help="ci (default) or long")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "RELIABILITY.md")
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="do not run the tests: render the last run's results (var/reliability) with the latest "
        "load figures (benchmarks/results/load.json), e.g. after a new load benchmark",
    )
    args = parser.parse_args()
    out = ROOT / "var" / "reliability"
    if args.render_only:
        status, junit, log = 0, out / "junit.xml", out / "outcomes.jsonl"
        if not junit.is_file():
            parser.error(f"no previous run in {out}: run without --render-only first")
    else:
        status, junit, log = run_tests(out, args.fault_runs, args.hypothesis_profile)
    results = test_results(junit) if junit.is_file() else {}
    events = (
        [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()] if log.is_file() else []
    )
    args.out.write_text(render(rows(results, events), results, args), encoding="utf-8")
    print(f"wrote {args.out} (pytest exit status {status})")
    return status


if __name__ == "__main__":
    sys.exit(main())
