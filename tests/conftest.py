"""Shared fixtures: paths, the real-data folder (tests that need it skip when it is absent)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pyoxigraph as ox
import pytest
from hypothesis import settings

from kg.config import Settings
from kg.remote_store import RemoteStore, publish_build
from kg.store import StoreLayout, open_store, remote_endpoints

# benchmarks/ never before the installed packages: benchmarks/graphql.py would shadow the graphql package that
# api.app imports. Some benchmark modules put their folder first on sys.path when a test imports them, and a
# process the SPARQL pool starts (forkserver) inherits the parent's sys.path and imports this file again: move
# the folder last, then import the package once, whatever the collection order (`pytest
# tests/test_skill_errors.py tests/test_gaps_interfaces.py` failed at collection; with the package imported
# here but the folder left first, `tests/test_skill_errors.py tests/test_sparql_pool.py` failed in the pool).
_BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path[:] = sorted(sys.path, key=lambda p: Path(p or ".").resolve() == _BENCHMARKS)
import graphql  # noqa: E402, F401

# Property-based tests (tests/test_fuzz_*.py): few, reproducible examples in CI; a long run is a
# benchmark: `pytest tests/test_fuzz_readers.py --hypothesis-profile=long`.
settings.register_profile("ci", max_examples=50, deadline=timedelta(seconds=10), derandomize=True)
settings.register_profile("long", max_examples=2000, deadline=None)
settings.load_profile("ci")

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
TEST_BASE = "https://w3id.org/passerelles/"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite the expected outputs of golden tests from the current code",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture
def shared_data() -> Path:
    """The real open-data folder beside the project, or skip."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (tests reading ../shared/data skip)")
    return SHARED_DATA


# --- The remote store back-end (issue #5, kg/remote_store.py) -------------------------------------
# `.ci/run` runs the API test modules a second time with PASSERELLES_TEST_STORE_ENDPOINT set to a
# real `oxigraph serve` it started: their fixtures then load their graph into that server (through
# the Graph Store Protocol, as `kg build` does) and serve it from there.
STORE_ENDPOINT_ENV = "PASSERELLES_TEST_STORE_ENDPOINT"
OXIGRAPH = shutil.which("oxigraph") or str(Path(sys.executable).with_name("oxigraph"))


def remote_endpoint() -> str:
    """The remote store the API tests run on, or "" (embedded store)."""
    return os.environ.get(STORE_ENDPOINT_ENV, "")


def on_test_backend(settings: Settings, store: ox.Store | None = None) -> Settings:
    """``settings`` for the store back-end under test: unchanged on the embedded store; on the
    remote one, pointing at it, with ``store`` (or the local build of ``settings.store``, when
    there is one) published into it. A build run with the returned settings publishes itself."""
    endpoint = remote_endpoint()
    if not endpoint:
        return settings
    remote = dataclasses.replace(settings, store_endpoint=endpoint)
    if store is None and StoreLayout(settings.store).current() is not None:
        store = open_store(settings.store)
    if store is not None:
        publish_build(store, remote, f"test-{uuid.uuid4().hex[:8]}", None)
    return remote


def remote_twin(settings: Settings) -> RemoteStore | None:
    """The remote store of settings returned by :func:`on_test_backend`, or None."""
    return RemoteStore(remote_endpoints(settings), settings.base_iri) if settings.store_endpoint else None


class OxigraphServer:
    """A real, writable ``oxigraph serve`` on a free loopback port, with its data in ``location``;
    it can be killed and started again on the same port (fault tests)."""

    def __init__(self, location: Path) -> None:
        self.location = location
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [OXIGRAPH, "serve", "--location", str(self.location), "--bind", f"127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.post(self.url + "/query", data={"query": "ASK {}"}, timeout=2)
                return
            except httpx.HTTPError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.05)
        raise RuntimeError(f"oxigraph serve did not start on port {self.port}")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def oxigraph_server(tmp_path: Path) -> Iterator[OxigraphServer]:
    """A fresh writable oxigraph server of this test's own (stopped at the end)."""
    if not Path(OXIGRAPH).exists():
        pytest.skip("the oxigraph server (PyPI package oxigraph, a dev dependency) is not installed")
    server = OxigraphServer(tmp_path / "oxigraph")
    server.start()
    try:
        yield server
    finally:
        server.kill()
