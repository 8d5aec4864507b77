"""Benchmark of the remote store back-end (kg/remote_store.py) on a built graph (real data), side
by side with the embedded store on the same machine.

Usage: python benchmarks/remote_store.py [--store var/store] [--workdir var] [--rebuild] [--cap-min 40]

* Load: the whole graph of ``--store`` (every named graph and the default graph, opened
  read-only) loaded (a) into a fresh embedded pyoxigraph store with ``bulk_load`` of its N-Quads
  dump — what ``kg build`` costs locally — and (b) into a fresh ``oxigraph serve`` (started here
  on a free loopback port, data in a temporary folder under ``--workdir``) with
  :func:`kg.remote_store.publish` — what ``kg build`` adds on the remote store: N-Triples dumps
  per graph, Graph Store Protocol POSTs, one SPARQL Update switching the staged graphs in. With
  ``--rebuild``, (c) a second publish onto the now-populated server (every graph replaced).
  Each side runs in its own process: the table gives its time and peak RSS (``ru_maxrss``), and
  the server's peak RSS (``VmHWM``). A publish still running after ``--cap-min`` minutes is
  stopped and reported as such.
* Answers: every stored query of ``queries/reports`` (default parameters) and a Linked Data
  description on both back-ends: equal rows?, and the time of each.

The temporary stores are deleted at the end (the full graph takes ~1 GB per copy).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pyoxigraph as ox

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.linked_data import describe  # noqa: E402
from kg.config import Settings  # noqa: E402
from kg.queries import QUERIES_DIR, named_query  # noqa: E402
from kg.remote_store import Endpoints, RemoteStore, publish  # noqa: E402
from kg.store import open_store  # noqa: E402

OXIGRAPH = shutil.which("oxigraph") or str(Path(sys.executable).with_name("oxigraph"))


def start_server(location: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A writable oxigraph server on a free loopback port; its process and base URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [OXIGRAPH, "serve", "--location", str(location), "--bind", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            httpx.post(url + "/query", data={"query": "ASK {}"}, timeout=2)
            return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("oxigraph serve did not start")


def peak_rss_mb(pid: int) -> float:
    """The peak resident set of a running process (``VmHWM``), in MB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _embedded_load(store_root: str, work: str, out: multiprocessing.queues.Queue) -> None:  # type: ignore[type-arg]
    """Child process: dump the source store as N-Quads, bulk-load it into a fresh store."""
    source = open_store(Path(store_root))
    t0 = time.perf_counter()
    dump = Path(work) / "all.nq"
    source.dump(str(dump), format=ox.RdfFormat.N_QUADS)
    dump_s = time.perf_counter() - t0
    del source
    t0 = time.perf_counter()
    embedded = ox.Store(str(Path(work) / "embedded"))
    embedded.bulk_load(path=str(dump), format=ox.RdfFormat.N_QUADS)
    embedded.flush()
    load_s = time.perf_counter() - t0
    quads = len(embedded)
    dump.unlink()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.put({"dump_s": dump_s, "load_s": load_s, "quads": quads, "rss_mb": rss})


def _remote_load(
    store_root: str, url: str, base: str, build: str, work: str, out: multiprocessing.queues.Queue  # type: ignore[type-arg]
) -> None:
    """Child process: publish the source store to the server."""
    source = open_store(Path(store_root))
    remote = RemoteStore(Endpoints.from_base(url), base, timeout=3600)
    sent = publish(source, remote, build, Path(work))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.put({**sent.__dict__, "rss_mb": rss})


def run_child(
    target: object, args: tuple[object, ...], cap_s: float
) -> tuple[dict[str, float] | None, float]:
    """Run ``target(*args, queue)`` in a fresh process; its report (None if stopped at the cap) and
    wall time."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(target=target, args=(*args, queue))
    t0 = time.perf_counter()
    process.start()
    process.join(cap_s)
    elapsed = time.perf_counter() - t0
    if process.is_alive():
        process.kill()
        process.join()
        return None, elapsed
    return (queue.get(timeout=10) if not queue.empty() else None), elapsed


def rows(store: object, name: str, base: str) -> tuple[list[str], float]:
    """The sorted rows (blank nodes left out) of a stored query with its defaults, and its time."""
    query = named_query(f"reports/{name}")
    t0 = time.perf_counter()
    out = sorted(
        "|".join(f"{k}={v}" for k, v in sorted(row.items()) if not isinstance(v, ox.BlankNode))
        for row in query.run(store, {}, base)  # type: ignore[arg-type]
    )
    return out, time.perf_counter() - t0


def compare_answers(source: ox.Store, remote: RemoteStore, base: str) -> None:
    head = ("stored query (defaults)", "rows", "same", "embedded ms", "remote ms")
    print("\n{:<28} {:>6} {:>5} {:>12} {:>10}".format(*head))
    for path in sorted((QUERIES_DIR / "reports").glob("*.rq")):
        if any(p.default is None for p in named_query(f"reports/{path.stem}").params):
            continue  # a required parameter: no default to run it with
        local_rows, local_s = rows(source, path.stem, base)
        remote_rows, remote_s = rows(remote, path.stem, base)
        same = "yes" if local_rows == remote_rows else "NO"
        ms = (local_s * 1000, remote_s * 1000)
        print(f"{path.stem:<28} {len(local_rows):>6} {same:>5} {ms[0]:>12.1f} {ms[1]:>10.1f}")
    for iri in (f"{base}id/rome/I1401", f"{base}id/commune/76540"):
        t0 = time.perf_counter()
        a = describe(source, iri, base)
        t1 = time.perf_counter()
        b = describe(remote, iri, base)
        t2 = time.perf_counter()
        same = {str(t) for t in a.triples + a.incoming if "_:" not in str(t)} == {
            str(t) for t in b.triples + b.incoming if "_:" not in str(t)
        } and len(a.triples) == len(b.triples)
        name = "describe " + iri.removeprefix(base + "id/")
        print(
            f"{name:<28} {len(a.triples) + len(a.incoming):>6} {'yes' if same else 'NO':>5} "
            f"{(t1 - t0) * 1000:>12.1f} {(t2 - t1) * 1000:>10.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store", type=Path, default=Settings.from_env().store)
    parser.add_argument("--workdir", type=Path, default=None, help="where the temporary stores go")
    parser.add_argument("--rebuild", action="store_true", help="also publish a second time (a rebuild)")
    parser.add_argument("--cap-min", type=float, default=40.0, help="stop a publish after this long")
    parser.add_argument("--no-answers", action="store_true", help="skip the answer comparison")
    parser.add_argument(
        "--embedded-s",
        type=float,
        default=None,
        help="skip the embedded load: its time from an earlier run of the same session (for the ratio)",
    )
    args = parser.parse_args()
    base = Settings.from_env().base_iri
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="remote-bench-", dir=args.workdir))
    cap = args.cap_min * 60
    try:
        if args.embedded_s is None:
            embedded, _ = run_child(_embedded_load, (str(args.store), str(work)), cap)
            assert embedded is not None, "the embedded load did not finish"
            shutil.rmtree(work / "embedded")
        else:  # given: not measured in this run
            quads = len(open_store(args.store))
            nan = float("nan")
            embedded = {"dump_s": nan, "load_s": args.embedded_s, "quads": quads, "rss_mb": nan}
        server, url = start_server(work / "oxigraph")
        results: list[tuple[str, dict[str, float] | None, float, float]] = []
        try:
            builds = ["bench-1", "bench-2"] if args.rebuild else ["bench-1"]
            for n, build in enumerate(builds):
                report, wall = run_child(_remote_load, (str(args.store), url, base, build, str(work)), cap)
                label = "remote, empty server" if n == 0 else "remote, rebuild (server populated)"
                results.append((label, report, wall, peak_rss_mb(server.pid)))
                if report is None:
                    break
            remote = RemoteStore(Endpoints.from_base(url), base, timeout=3600)
            finished = all(r is not None for _, r, _, _ in results)
            if finished:
                assert len(remote) == embedded["quads"], (len(remote), embedded["quads"])
            print(
                f"graph: {int(embedded['quads']):,} quads (every graph of {args.store}); "
                f"machine load average {__import__('os').getloadavg()[0]:.1f}"
            )
            print(f"{'load':<50} {'s':>8} {'ratio':>7} {'peak RSS MB':>12}")
            print(f"{'embedded: dump N-Quads (not in the ratio)':<50} {embedded['dump_s']:>8.1f}")
            print(
                f"{'embedded: bulk_load into a new store':<50} {embedded['load_s']:>8.1f} {1:>7.2f} "
                f"{embedded['rss_mb']:>12.0f}"
            )
            for label, sent, wall, server_rss in results:
                if sent is None:
                    print(f"{label + ': NOT FINISHED, stopped after':<50} {wall:>8.1f}")
                    print(f"{label + ': server peak RSS so far':<50} {'':>8} {'':>7} {server_rss:>12.0f}")
                    continue
                total = sent["load_s"] + sent["switch_s"] + sent["drop_s"]
                print(f"{label + ': GSP POSTs':<50} {sent['load_s']:>8.1f}")
                print(f"{label + ': switch (one UPDATE)':<50} {sent['switch_s']:>8.1f}")
                print(f"{label + ': drop old graphs':<50} {sent['drop_s']:>8.1f}")
                print(
                    f"{label + ': total (client peak RSS)':<50} {total:>8.1f} "
                    f"{total / embedded['load_s']:>7.2f} {sent['rss_mb']:>12.0f}"
                )
                print(f"{label + ': server peak RSS':<50} {'':>8} {'':>7} {server_rss:>12.0f}")
            print(json.dumps({"embedded": embedded, "remote": [r for _, r, _, _ in results]}))
            if finished and not args.no_answers:
                compare_answers(open_store(args.store), remote, base)
        finally:
            server.kill()
            server.wait()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
