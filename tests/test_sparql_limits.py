"""The limits of /sparql on a real HTTP server: an endless query is stopped at the timeout (its
worker process killed and replaced) while the server keeps answering others; the per-client rate
limit answers 429 with Retry-After."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.executor import ProcessPoolBackend
from kg.config import Settings
from tests.portal_support import make_store, serve

# 60 filler triples to the 5th power: ~8e8 solutions, far beyond any timeout.
ENDLESS = (
    "SELECT (COUNT(*) AS ?n) WHERE "
    "{ ?a pas:code ?b . ?c pas:code ?d . ?e pas:code ?f . ?g pas:code ?h . ?i pas:code ?j }"
)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_store(tmp_path_factory.mktemp("limits") / "store")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a killed child not yet reaped is a zombie: not running any more
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        return stat.read().split(")")[-1].split()[0] != "Z"


def test_endless_query_is_stopped_and_others_still_answered(settings: Settings) -> None:
    app = create_app(dataclasses.replace(settings, query_timeout_s=1.5))
    with serve(app) as url:
        backend = app.state.backend
        assert isinstance(backend, ProcessPoolBackend)
        pids_before = {w.process.pid for w in backend._all}
        outcome: dict[str, object] = {}

        def endless() -> None:
            started = time.monotonic()
            response = httpx.get(url + "/sparql", params={"query": ENDLESS}, timeout=30)
            outcome["status"], outcome["body"] = response.status_code, response.json()
            outcome["elapsed"] = time.monotonic() - started

        thread = threading.Thread(target=endless)
        thread.start()
        time.sleep(0.3)
        # while the endless query holds one worker, the other answers
        quick = httpx.get(url + "/sparql", params={"query": "ASK { ?s pas:code 'F001' }"}, timeout=10)
        assert quick.status_code == 200 and quick.json()["boolean"] is True
        thread.join(timeout=30)
        assert outcome["status"] == 503
        body = outcome["body"]
        assert isinstance(body, dict) and body["error"] == "timeout" and "1.5 s" in body["detail"]
        assert 1.4 <= float(str(outcome["elapsed"])) < 10
        assert backend.restarts == 1
        killed = pids_before - {w.process.pid for w in backend._all}
        assert len(killed) == 1 and not _alive(killed.pop())  # the work really stopped
        # the server goes on answering, with a full pool again
        for _ in range(4):
            again = httpx.get(url + "/sparql", params={"query": "ASK {}"}, timeout=10)
            assert again.status_code == 200
        deadline = time.monotonic() + 20
        while len(backend._all) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(backend._all) == 2


def test_answer_larger_than_a_pipe_buffer(settings: Settings) -> None:
    """Under uvicorn's event loop (uvloop when installed) a result of more than 64 KiB crosses
    the worker pipe whole."""
    big = (
        'SELECT (GROUP_CONCAT(CONCAT(?b, ?d, "-0123456789012345678901234567890123456789")) AS ?s) '
        "WHERE { ?a pas:code ?b . ?c pas:code ?d }"
    )
    with serve(create_app(settings)) as url:
        response = httpx.get(url + "/sparql", params={"query": big}, timeout=30)
        assert response.status_code == 200, response.text
        assert len(response.json()["results"]["bindings"][0]["s"]["value"]) > 150_000


def test_worker_dead_while_idle_is_replaced_and_the_query_answered(settings: Settings) -> None:
    """A worker killed between queries (out of memory, an operator): the job goes to another
    worker instead of failing, and the pool is refilled."""
    app = create_app(settings)
    with serve(app) as url:
        backend = app.state.backend
        assert isinstance(backend, ProcessPoolBackend)
        assert backend._idle is not None
        first = backend._idle.stack[-1]  # the next worker to be given a job
        first.process.kill()
        first.process.join(timeout=5)
        for _ in range(3):
            answer = httpx.get(url + "/sparql", params={"query": "ASK { ?s pas:code 'F001' }"}, timeout=60)
            assert answer.status_code == 200, answer.text
            assert answer.json()["boolean"] is True
        assert first not in backend._all
        deadline = time.monotonic() + 30
        while len(backend._all) < backend.size and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(backend._all) == backend.size and all(w.process.is_alive() for w in backend._all)


def test_rate_limit(settings: Settings) -> None:
    limited = dataclasses.replace(settings, rate_limit=30, rate_burst=3)
    with TestClient(create_app(limited)) as client:
        statuses = [client.get("/sparql", params={"query": "ASK {}"}).status_code for _ in range(3)]
        assert statuses == [200, 200, 200]
        refused = client.get("/sparql", params={"query": "ASK {}"})
        assert refused.status_code == 429
        assert refused.json()["error"] == "rate-limit" and "30 queries per minute" in refused.json()["detail"]
        assert 1 <= int(refused.headers["retry-after"]) <= 2
        # stored queries count against the same budget
        assert client.get("/queries/skills-of-occupation", params={"code": "I1321"}).status_code == 429
        # pages and Linked Data are not rate-limited
        assert client.get("/query").status_code == 200


def test_no_store_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no graph built"):
        create_app(dataclasses.replace(Settings(), store=tmp_path / "none"))
