"""/sparql under load, side by side with the reference server, on the same real-data store.

Usage::

    python benchmarks/sparql.py --store var/store              # 8 clients, 20 s per target
    python benchmarks/sparql.py --store var/real --clients 4 --seconds 10 --rounds 2

Targets, each started here as its own server process on the same store (opened read-only):

- ``kg-serve``: the application (uvicorn), queries in its pool of killable worker processes;
- ``kg-serve+oxigraph``: the application with ``PASSERELLES_QUERY_ENDPOINT`` pointing at an
  ``oxigraph serve-read-only --timeout-s`` beside it (the other timeout design, measured);
- ``oxigraph``: ``oxigraph serve-read-only`` alone (the reference).

The mix: the stored report queries (with a parameter) and typical portal queries (resource
description, label search, counts, joins), all as the same SPARQL text to every target (the
project's prefixes written out, since the reference does not predeclare them). Each client loops
over the mix for ``--seconds``; targets alternate for ``--rounds`` rounds so that load from other
processes on the machine hits all alike. Answers are checked equal (row counts) before timing.
Prints throughput and latency percentiles per target, and the ratios to the reference.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from api.stored_queries import stored_queries  # noqa: E402
from kg.config import DEFAULT_BASE_IRI  # noqa: E402
from kg.namespaces import sparql_prologue  # noqa: E402

OXIGRAPH = str(Path(sys.executable).with_name("oxigraph"))
PORTAL_QUERIES = {
    "describe-occupation": "DESCRIBE <{id}rome/I1321>",
    "label-search": "SELECT ?o ?l WHERE { ?o a pas:Occupation ; skos:prefLabel ?l . "
    'FILTER (CONTAINS(LCASE(STR(?l)), "soud")) } ORDER BY ?l LIMIT 50',
    "count-by-class": "SELECT ?c (COUNT(*) AS ?n) WHERE { ?s a ?c } GROUP BY ?c ORDER BY DESC(?n) LIMIT 20",
    "certifications-of-occupation": 'SELECT ?code ?title WHERE { ?o pas:code "I1321" ; '
    "pas:romeV3Parent ?v3 . ?c pas:relatedOccupationV3 ?v3 ; pas:code ?code . "
    "OPTIONAL { ?c skos:prefLabel ?title } } ORDER BY ?code",
    "communes-of-departement": "SELECT ?insee ?name WHERE { ?c a pas:Commune ; pas:departement ?d ; "
    'pas:code ?insee ; skos:prefLabel ?name . ?d pas:code "14" } ORDER BY ?insee',
    "blocks-of-certification": 'SELECT ?b ?l WHERE { ?c pas:code "RNCP35178" ; pas:hasBlock ?b . '
    "OPTIONAL { ?b skos:prefLabel ?l } } ORDER BY ?b",
    "ask-skill": 'ASK { ?o pas:hasSkill ?s . ?s pas:code "100038" }',
}
REPORT_VALUES = {"code": '"I1321"', "domain": '"H29"'}
TARGETS = ("kg-serve", "kg-serve+oxigraph", "oxigraph")


def mix(base: str) -> dict[str, str]:
    """Name → full SPARQL text (prologue written out), stored queries with a parameter bound."""
    prologue = sparql_prologue(base)
    out = {name: prologue + q.replace("{id}", base + "id/") for name, q in PORTAL_QUERIES.items()}
    for name, query in stored_queries().items():
        if any(p.name not in REPORT_VALUES for p in query.params):
            continue  # the reports of kg gaps / kg paths are measured by benchmarks/reports.py
        values = " ".join(REPORT_VALUES[p.name] for p in query.params)
        names = " ".join(f"?{p.name}" for p in query.params)
        tail = f"\nVALUES ({names}) {{ ({values}) }}" if query.params else ""
        out[f"report:{name}"] = prologue + query.text + tail
    return out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {url}")
        try:
            if httpx.post(url, data={"query": "ASK {}"}, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"server at {url} did not start")


def start_oxigraph(build: Path, timeout_s: int) -> tuple[str, subprocess.Popen[bytes]]:
    port = _free_port()
    proc = subprocess.Popen(
        [
            OXIGRAPH,
            "serve-read-only",
            "--location",
            str(build),
            "--bind",
            f"127.0.0.1:{port}",
            "--timeout-s",
            str(timeout_s),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/query"
    _wait(url, proc)
    return url, proc


def start_app(
    store: Path,
    workers: int,
    endpoint: str = "",
    uvicorn_args: tuple[str, ...] = (),
    root: Path = ROOT,
    threads: int = 0,
) -> tuple[str, subprocess.Popen[bytes]]:
    port = _free_port()
    env = {
        **os.environ,
        "PASSERELLES_STORE": str(store),
        "PASSERELLES_RATE_LIMIT": "0",
        "PASSERELLES_QUERY_WORKERS": str(workers),
        "PASSERELLES_QUERY_THREADS": str(threads),
        "PASSERELLES_QUERY_ENDPOINT": endpoint,
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "api.app:create_app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
            *uvicorn_args,
        ],
        cwd=root,  # `python -m` puts the working directory first on sys.path: that checkout's app
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/sparql"
    _wait(url, proc)
    return url, proc


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """Terminate the servers a benchmark started, then kill those still running after 10 s."""
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time used so far by these processes and all their descendants (the
    app's query workers are children of its forkserver)."""
    total = 0.0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            for proc in [root, *root.children(recursive=True)]:
                try:
                    times = proc.cpu_times()
                except psutil.NoSuchProcess:
                    continue
                total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


def answer_size(url: str, query: str) -> int:
    """Rows (or triples, or the boolean) of an answer, to check the targets agree."""
    response = httpx.post(
        url,
        data={"query": query},
        headers={"accept": "application/sparql-results+json, application/n-triples"},
        timeout=60,
    )
    response.raise_for_status()
    if response.headers["content-type"].startswith("application/n-triples"):
        return len([line for line in response.text.splitlines() if line.strip()])
    body = response.json()
    return int(body["boolean"]) if "boolean" in body else len(body["results"]["bindings"])


def load(url: str, queries: list[str], clients: int, seconds: float) -> tuple[list[float], int]:
    """Latencies (s) of all answered queries, and the number of errors."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(offset: int) -> None:
        nonlocal errors
        mine: list[float] = []
        bad = 0
        with httpx.Client(timeout=60) as http:
            i = offset
            while time.monotonic() < stop:
                query = queries[i % len(queries)]
                i += 1
                started = time.perf_counter()
                response = http.post(
                    url,
                    data={"query": query},
                    headers={"accept": "application/sparql-results+json, application/n-triples;q=0.9"},
                )
                _ = response.content
                if response.status_code == 200:
                    mine.append(time.perf_counter() - started)
                else:
                    bad += 1
        with lock:
            latencies.extend(mine)
            errors += bad

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors


def load_sequential(url: str, query: str, n: int) -> tuple[list[float], int]:
    """Latencies of ``n`` queries sent one after the other (the fixed cost per request)."""
    latencies = []
    with httpx.Client(timeout=30) as http:
        for _ in range(n):
            started = time.perf_counter()
            accept = {"accept": "application/sparql-results+json"}
            response = http.post(url, data={"query": query}, headers=accept)
            response.raise_for_status()
            latencies.append(time.perf_counter() - started)
    return latencies, 0


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    return (
        statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1] if len(values) > 1 else values[0]
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store", type=Path, default=Path("var/store"), help="store root (has current/)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0, help="load time per target and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=0, help="app query worker processes (0: default)")
    parser.add_argument(
        "--threads", type=int, default=0, help="query threads per worker process (0: default)"
    )
    parser.add_argument(
        "--targets",
        default=",".join(TARGETS),
        help=f"comma-separated, among {', '.join(TARGETS)} (the reference is always run)",
    )
    parser.add_argument(
        "--compare",
        type=Path,
        default=None,
        help="another checkout of the project (e.g. `git archive` of an older commit): its app is "
        "measured too, as target `kg-serve@compare`, for a before/after in the same run",
    )
    parser.add_argument(
        "--compare-workers", type=int, default=None, help="workers of `kg-serve@compare` (default: --workers)"
    )
    parser.add_argument(
        "--compare-threads",
        type=int,
        default=None,
        help="threads per worker of `kg-serve@compare` (default: --threads)",
    )
    parser.add_argument(
        "--compare-uvicorn",
        default=None,
        help="uvicorn options of `kg-serve@compare` (default: --uvicorn), e.g. '--http h11 --loop asyncio' "
        "for a checkout from before uvloop and httptools were dependencies",
    )
    parser.add_argument(
        "--uvicorn",
        default="",
        help="extra uvicorn options for the app, e.g. '--http h11 --loop asyncio' (default: uvicorn's "
        "choice, httptools and uvloop when installed)",
    )
    args = parser.parse_args()
    build = (args.store / "current").resolve()
    queries = mix(DEFAULT_BASE_IRI)
    wanted = [t for t in TARGETS if t in args.targets.split(",") or t == "oxigraph"]
    uvicorn_args = tuple(args.uvicorn.split())
    procs: list[subprocess.Popen[bytes]] = []
    targets: dict[str, tuple[str, list[int]]] = {}  # name → (URL, server processes)
    try:
        if "kg-serve" in wanted:
            url, proc = start_app(args.store, args.workers, uvicorn_args=uvicorn_args, threads=args.threads)
            procs.append(proc)
            targets["kg-serve"] = (url, [proc.pid])
        if args.compare is not None:
            workers = args.workers if args.compare_workers is None else args.compare_workers
            extra = uvicorn_args if args.compare_uvicorn is None else tuple(args.compare_uvicorn.split())
            threads = args.threads if args.compare_threads is None else args.compare_threads
            url, proc = start_app(args.store, workers, uvicorn_args=extra, root=args.compare, threads=threads)
            procs.append(proc)
            targets["kg-serve@compare"] = (url, [proc.pid])
        if "kg-serve+oxigraph" in wanted:
            side_url, side = start_oxigraph(build, 30)  # the oxigraph behind the second app
            url, proc = start_app(
                args.store, args.workers, endpoint=side_url, uvicorn_args=uvicorn_args, threads=args.threads
            )
            procs += [side, proc]
            targets["kg-serve+oxigraph"] = (url, [proc.pid, side.pid])
        url, proc = start_oxigraph(build, 30)
        procs.append(proc)
        targets["oxigraph"] = (url, [proc.pid])
        print(
            f"store {build}; {len(queries)} queries; {args.clients} clients; "
            f"{args.seconds:g} s × {args.rounds} rounds per target; {os.cpu_count()} CPUs; "
            f"load average {os.getloadavg()[0]:.1f}"
        )
        for name, query in queries.items():
            sizes = {t: answer_size(u, query) for t, (u, _) in targets.items()}
            assert len(set(sizes.values())) == 1, f"{name}: answers differ {sizes}"
            print(f"  {name:34} {sizes['oxigraph']:>6} rows/triples, same on every target")
        print("\nper-request overhead: 200 sequential `ASK {}`, median and p95 (one client), server CPU")
        for target, (url, pids) in targets.items():
            cpu0 = cpu_seconds(pids)
            lat, _ = load_sequential(url, "ASK {}", 200)
            cpu = (cpu_seconds(pids) - cpu0) / 200 * 1e3
            median, p95 = statistics.median(lat) * 1e3, pct(lat, 95) * 1e3
            print(f"  {target:20} median {median:6.2f} ms   p95 {p95:6.2f} ms   CPU {cpu:5.2f} ms/query")
        # per target: latencies, errors, seconds of load, server CPU seconds
        results: dict[str, tuple[list[float], int, float, float]] = {t: ([], 0, 0.0, 0.0) for t in targets}
        for _ in range(args.rounds):
            for target, (url, pids) in targets.items():
                load(url, list(queries.values()), args.clients, 2.0)  # warm-up
                cpu0 = cpu_seconds(pids)
                lat, err = load(url, list(queries.values()), args.clients, args.seconds)
                cpu = cpu_seconds(pids) - cpu0
                old = results[target]
                results[target] = (old[0] + lat, old[1] + err, old[2] + args.seconds, old[3] + cpu)
        print(f"\nload average after the runs {os.getloadavg()[0]:.1f}")
        print(
            f"{'target':20} {'queries':>8} {'errors':>6} {'q/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}"
            f" {'q/s ×ref':>9} {'p95 ×ref':>9} {'CPU ms/q':>9} {'CPU ×ref':>9}"
        )
        ref_lat, _, ref_time, ref_cpu = results["oxigraph"]
        ref_qps, ref_p95 = len(ref_lat) / ref_time, pct(ref_lat, 95)
        ref_cpq = ref_cpu / max(1, len(ref_lat))
        for target, (lat, err, total, cpu) in results.items():
            qps = len(lat) / total
            cpq = cpu / max(1, len(lat))
            print(
                f"{target:20} {len(lat):>8} {err:>6} {qps:>8.1f} {pct(lat, 50) * 1e3:>8.1f} "
                f"{pct(lat, 95) * 1e3:>8.1f} {pct(lat, 99) * 1e3:>8.1f} {qps / ref_qps:>9.2f} "
                f"{pct(lat, 95) / ref_p95:>9.2f} {cpq * 1e3:>9.1f} {cpq / ref_cpq:>9.2f}"
            )
    finally:
        stop(procs)


if __name__ == "__main__":
    main()
