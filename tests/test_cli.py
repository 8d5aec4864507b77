"""The ``kg`` command line: exit statuses, clear errors without tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kg.cli import app
from tests.conftest import ROOT

FIXTURE = ROOT / "tests" / "fixtures" / "build"
runner = CliRunner()


@pytest.fixture
def fixture_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Build the fixture manifest with the fixture shapes and mappings."""
    monkeypatch.setattr("kg.validate.SHAPES_DIR", FIXTURE / "shapes")
    monkeypatch.setattr("kg.manifest.DEFAULT_MAPPINGS_DIR", FIXTURE / "mappings")
    return tmp_path / "store"


def test_help_lists_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("build", "validate", "query", "serve", "sources"):
        assert command in result.output


def test_build_then_query_and_validate(fixture_env: Path) -> None:
    result = runner.invoke(
        app, ["build", "--manifest", str(FIXTURE / "sources.toml"), "--store", str(fixture_env)]
    )
    assert result.exit_code == 0, result.output
    assert "mini-occupations" in result.output
    result = runner.invoke(
        app,
        [
            "query",
            "SELECT ?c WHERE { ?o a pas:Occupation ; pas:code ?c } ORDER BY ?c",
            "--store",
            str(fixture_env),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["results"]["bindings"]
    assert [r["c"]["value"] for r in rows] == ["A1101", "I1407"]
    result = runner.invoke(app, ["validate", "--store", str(fixture_env)])
    assert result.exit_code == 0, result.output
    assert "0 violation(s)" in result.output


def test_errors_are_one_line_and_exit_1(fixture_env: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["query", "SELECT * WHERE { ?s ?p ?o }", "--store", str(tmp_path / "none")])
    assert result.exit_code == 1
    assert "no graph built" in result.output and "Traceback" not in result.output
    result = runner.invoke(
        app, ["build", "--manifest", str(tmp_path / "missing.toml"), "--store", str(fixture_env)]
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    result = runner.invoke(app, ["build", "--data", str(tmp_path / "nowhere"), "--store", str(fixture_env)])
    assert result.exit_code == 1 and "no such folder" in result.output


def test_serve_answers_health_and_sparql(fixture_env: Path) -> None:
    """`kg serve` as a real process on a free loopback port."""
    import socket
    import subprocess
    import sys
    import time

    import httpx

    result = runner.invoke(
        app, ["build", "--manifest", str(FIXTURE / "sources.toml"), "--store", str(fixture_env)]
    )
    assert result.exit_code == 0, result.output
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "kg.cli", "serve", "--store", str(fixture_env), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "kg serve did not answer within 30 s"
                assert server.poll() is None, "kg serve exited"
                time.sleep(0.2)
        assert health.json()["status"] == "ok"
        answer = httpx.get(f"http://127.0.0.1:{port}/sparql", params={"query": "ASK { ?o a pas:Occupation }"})
        assert answer.json()["boolean"] is True
    finally:
        server.terminate()
        server.wait(timeout=10)
