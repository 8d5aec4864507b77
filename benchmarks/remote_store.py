"""Benchmark of the remote store back-end (kg/remote_store.py) on a built graph (real data), side
by side with the embedded store on the same machine.

Usage: python benchmarks/remote_store.py [--store var/store] [--workdir DIR] [--repeat 3]

* Load: the whole served graph of ``--store`` loaded (a) into a fresh embedded pyoxigraph store
  with ``bulk_load`` of its N-Quads dump — what ``kg build`` costs locally — and (b) into a fresh
  ``oxigraph serve`` (started here on a free loopback port, data in ``--workdir``) with
  :func:`kg.remote_store.publish` — what ``kg build`` adds on the remote store: N-Triples dumps per
  graph, Graph Store Protocol POSTs to staging graphs, one SPARQL Update switching them in. Then
  (c) a second publish onto the now-populated server (a rebuild: the switch replaces every graph).
* Answers: every stored query of ``queries/reports`` (default parameters) and a Linked Data
  description on both back-ends: equal rows?, and the time of each.
"""

from __future__ import annotations

import argparse
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


def rows(store: object, name: str, base: str) -> tuple[list[str], float]:
    """The sorted rows (blank nodes left out) of a stored query with its defaults, and its time."""
    query = named_query(f"reports/{name}")
    t0 = time.perf_counter()
    out = sorted(
        "|".join(f"{k}={v}" for k, v in sorted(row.items()) if not isinstance(v, ox.BlankNode))
        for row in query.run(store, {}, base)  # type: ignore[arg-type]
    )
    return out, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=Settings.from_env().store)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    base = Settings.from_env().base_iri
    source = open_store(args.store)
    work = Path(tempfile.mkdtemp(prefix="remote-bench-", dir=args.workdir))
    try:
        quads = len(source)
        t0 = time.perf_counter()
        dump = work / "all.nq"
        source.dump(str(dump), format=ox.RdfFormat.N_QUADS)
        dump_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        embedded = ox.Store(str(work / "embedded"))
        embedded.bulk_load(path=str(dump), format=ox.RdfFormat.N_QUADS)
        embedded.flush()
        embedded_s = time.perf_counter() - t0
        dump.unlink()
        del embedded

        server, url = start_server(work / "oxigraph")
        try:
            remote = RemoteStore(Endpoints.from_base(url), base, timeout=3600)
            first = publish(source, remote, "bench-1", work)
            second = publish(source, remote, "bench-2", work)
            assert len(remote) == quads, (len(remote), quads)
            print(f"graph: {quads:,} quads, {first.graphs} graphs, {first.bytes / 1e6:,.0f} MB of N-Triples")
            print(f"{'load':<44} {'s':>8} {'ratio':>7}")
            print(f"{'embedded: dump N-Quads (not in the ratio)':<44} {dump_s:>8.1f}")
            print(f"{'embedded: bulk_load into a new store':<44} {embedded_s:>8.1f} {1:>7.2f}")
            for label, sent in (
                ("remote, empty server", first),
                ("remote, rebuild (server populated)", second),
            ):
                total = sent.load_s + sent.switch_s + sent.drop_s
                print(f"{label + ': GSP POST to staging':<44} {sent.load_s:>8.1f}")
                print(f"{label + ': switch (one UPDATE)':<44} {sent.switch_s:>8.1f}")
                print(f"{label + ': total':<44} {total:>8.1f} {total / embedded_s:>7.2f}")

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
        finally:
            server.kill()
            server.wait()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
