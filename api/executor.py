"""Where queries run: a small interface, :class:`QueryBackend`, and its implementations.

- :class:`ProcessPoolBackend` (served stores): a pool of worker processes, each with the store
  opened read-only. A query past its timeout has its worker killed (the only way to stop a
  pyoxigraph evaluation) and replaced; the other workers go on answering.
- :class:`RemoteSparqlBackend`: any SPARQL 1.1 Protocol endpoint (e.g. ``oxigraph
  serve-read-only --timeout-s N`` beside the app); its answer is parsed and rewritten in the
  client's format within the row cap. The endpoint must enforce the timeout itself to stop work.
- :class:`InProcessBackend` (an in-memory store given to the app, tests, the CLI): runs in a
  thread; it cannot stop a runaway query and says so in its name.

A remote SPARQL store plugs in as a ``QueryBackend`` (same ``run(job, timeout)``).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import pickle
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode

import httpx
import pyoxigraph as ox

from api.results import Answer, Job, Refusal, consume, execute, term_from
from kg.remote_store import StoreUnavailable, bind
from kg.store import StoreLayout


class QueryTimeout(Exception):
    """The query ran past its timeout and was stopped."""


class Busy(Exception):
    """No worker became free within the timeout."""


class QueryBackend(Protocol):
    """Runs read-only query jobs."""

    name: str

    async def start(self) -> None:
        """Get ready to answer (called once the event loop runs)."""
        ...

    async def run(self, job: Job, timeout: float) -> Answer | Refusal:
        """The answer, or raise :class:`QueryTimeout` / :class:`Busy`."""
        ...

    async def close(self) -> None:
        """Free what the backend holds."""
        ...


class InProcessBackend:
    """Queries on a store object, in a thread (no hard stop: for tests and embedded use).

    >>> s = ox.Store()
    >>> answer = asyncio.run(InProcessBackend(s).run(Job("ASK {}"), 5))
    >>> answer.body
    b'{"head": {}, "boolean": true}'
    """

    name = "in-process"

    def __init__(self, store: ox.Store) -> None:
        self.store = store

    async def start(self) -> None:
        pass

    async def run(self, job: Job, timeout: float) -> Answer | Refusal:
        try:
            return await asyncio.wait_for(asyncio.to_thread(execute, self.store, job), timeout)
        except TimeoutError:
            raise QueryTimeout from None

    async def close(self) -> None:
        pass


def _rewrite(content: bytes, content_type: str, job: Job) -> Answer | Refusal:
    """An endpoint's answer in the job's format. Oxigraph's server reports its own timeout
    *inside* a 200 response already started ("The SPARQL operation has been cancelled"): that
    is a ``cancelled`` refusal. pyoxigraph objects live and die in this function (they must be
    dropped on the thread that made them, even when parsing fails)."""
    try:
        result: Any
        if content_type.split(";")[0] == "application/sparql-results+json":
            result = ox.parse_query_results(content, format=ox.QueryResultsFormat.JSON)
        else:
            result = ox.parse(content, format=ox.RdfFormat.N_TRIPLES)
        return consume(result, job)
    except (SyntaxError, ValueError, OSError) as exc:
        detail = str(exc)
    if b"has been cancelled" in content[-300:]:
        return Refusal("cancelled", "the SPARQL store stopped the query at its timeout")
    return Refusal("error", f"the SPARQL store's answer could not be read: {detail}")


class RemoteSparqlBackend:
    """Queries sent to a SPARQL endpoint over HTTP (SPARQL JSON / N-Triples), rewritten locally."""

    name = "remote"
    ACCEPT = "application/sparql-results+json, application/n-triples;q=0.9"

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(limits=httpx.Limits(max_connections=64))

    async def run(self, job: Job, timeout: float) -> Answer | Refusal:
        await self.start()
        assert self._client is not None
        substitutions = {ox.Variable(k): term_from(*v) for k, v in (job.substitutions or {}).items()}
        try:  # strictly validated terms, written by pyoxigraph (N-Triples escaping)
            text = bind(job.query, substitutions)
        except ValueError as exc:
            return Refusal("syntax", str(exc))
        text = "".join(f"PREFIX {p}: <{iri}>\n" for p, iri in (job.prefixes or {}).items()) + text
        form: list[tuple[str, str]] = [("query", text)]
        form += [("default-graph-uri", g) for g in job.default_graph or ()]
        form += [("named-graph-uri", g) for g in job.named_graphs or ()]
        try:
            response = await self._client.post(
                self.endpoint,
                content=urlencode(form),
                headers={"accept": self.ACCEPT, "content-type": "application/x-www-form-urlencoded"},
                timeout=timeout,
            )
        except httpx.TimeoutException:
            raise QueryTimeout from None
        except httpx.HTTPError as exc:  # down or unreachable: a 503 the client may retry
            raise StoreUnavailable(f"the SPARQL store did not answer: {exc}") from None
        if response.status_code in (502, 503, 504) and "timeout" not in response.text.lower():
            raise StoreUnavailable(f"the SPARQL store answered {response.status_code}")
        if response.status_code == 400:
            return Refusal("syntax", response.text.strip())
        if response.status_code >= 500 and "timeout" in response.text.lower():
            raise QueryTimeout
        if response.status_code != 200:
            detail = response.text[:300]
            return Refusal("error", f"the SPARQL store answered {response.status_code}: {detail}")
        outcome = _rewrite(response.content, response.headers.get("content-type", ""), job)
        if isinstance(outcome, Refusal) and outcome.kind == "cancelled":
            raise QueryTimeout
        return outcome

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


def _read_link(link: Path) -> str | None:
    try:
        return os.readlink(link)
    except OSError:
        return None


def _worker_main(root: str, conn: Connection) -> None:
    """A worker process: open the served build read-only, answer jobs until the pipe closes.

    A new build (``current`` moved) is opened before the next job, so that workers follow
    rebuilds without a restart.
    """
    layout = StoreLayout(Path(root))
    opened: Path | None = layout.current()
    store: ox.Store | None = ox.Store.read_only(str(opened)) if opened else None
    link: str | None = _read_link(layout.link)
    current = opened
    conn.send("ready")
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        # one readlink per job; the link is resolved and checked only when it changed (a rebuild)
        if (target := _read_link(layout.link)) != link:
            link, current = target, layout.current()
        if current is None:
            conn.send(Refusal("error", f"no graph built in {root}"))
            continue
        if current != opened or store is None:
            store = ox.Store.read_only(str(current))
            opened = current
        try:
            answer: Answer | Refusal = execute(store, job)
        except Exception as exc:  # never die on a query: report it
            answer = Refusal("error", f"{type(exc).__name__}: {exc}")
        conn.send_bytes(pickle.dumps(answer, pickle.HIGHEST_PROTOCOL))


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    conn: Connection


class ProcessPoolBackend:
    """``size`` worker processes over the store at ``root``; killed and replaced on timeout."""

    name = "process-pool"

    def __init__(self, root: Path, size: int | None = None) -> None:
        self.root = root
        # Four per CPU by default: queries run at once as on a threaded server (the reference,
        # ``oxigraph serve``, answers every connection at once), so that a short query does not
        # queue behind long ones; a worker costs ~45 MB (the store's pages are shared).
        self.size = size or max(4, 4 * (os.cpu_count() or 1))
        # forkserver: workers start from a clean interpreter (no inherited event loop, threads
        # or RocksDB handles of the app), cheaply.
        self._ctx = multiprocessing.get_context("forkserver")
        self._idle: asyncio.Queue[_Worker] | None = None
        self._all: list[_Worker] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.restarts = 0

    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe()
        process = self._ctx.Process(target=_worker_main, args=(str(self.root), child), daemon=True)
        process.start()
        child.close()
        worker = _Worker(process, parent)
        self._all.append(worker)
        return worker

    async def _receive(self, worker: _Worker, timeout: float | None) -> Any:
        """The next message of a worker, awaited without blocking the event loop."""
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        fd = worker.conn.fileno()

        def readable() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(fd, readable)
        try:
            await asyncio.wait_for(ready, timeout)
        finally:
            loop.remove_reader(fd)
            # uvloop leaves a watched fd non-blocking: a message longer than the pipe buffer
            # would then fail half-read (EAGAIN); the worker is already writing it. (Suppressed:
            # the pool may have closed the pipe meanwhile, when the app stops.)
            with contextlib.suppress(OSError):
                os.set_blocking(fd, True)
        return worker.conn.recv()

    async def _start_one(self, queue: asyncio.Queue[_Worker]) -> None:
        """Spawn a worker and make it available once it has opened the store."""
        worker = self._spawn()
        try:
            await self._receive(worker, 120)
        except (TimeoutError, EOFError, OSError):
            self._kill(worker)
            raise
        queue.put_nowait(worker)

    async def start(self) -> None:
        """Start the pool and wait until every worker has opened the store."""
        if self._idle is None:
            self._idle = asyncio.Queue()
            await asyncio.gather(*(self._start_one(self._idle) for _ in range(self.size)))

    def _replace(self, worker: _Worker) -> None:
        """Kill a worker and start another in the background (it joins the pool when ready)."""
        self._kill(worker)
        assert self._idle is not None
        task = asyncio.get_running_loop().create_task(self._start_one(self._idle))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _kill(self, worker: _Worker) -> None:
        with contextlib.suppress(Exception):
            worker.process.kill()
            worker.process.join(timeout=5)
        with contextlib.suppress(Exception):
            worker.conn.close()
        if worker in self._all:
            self._all.remove(worker)

    async def run(self, job: Job, timeout: float) -> Answer | Refusal:
        await self.start()
        assert self._idle is not None
        deadline = time.monotonic() + timeout
        # pickled here, once, with the plain pickler: ``Connection.send`` builds a ForkingPickler
        # (and copies its dispatch table) per message, a measurable part of a short query's cost
        payload = pickle.dumps(job, pickle.HIGHEST_PROTOCOL)
        for _ in range(3):
            try:
                worker = await asyncio.wait_for(self._idle.get(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise Busy from None
            try:
                worker.conn.send_bytes(payload)
            except OSError:  # died while idle (killed, out of memory): the job never reached it
                self._replace(worker)
                continue
            try:
                answer: Any = await self._receive(worker, max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                self.restarts += 1
                self._replace(worker)
                raise QueryTimeout from None
            except (EOFError, OSError) as exc:
                self._replace(worker)
                return Refusal("error", f"the query worker failed (out of memory?): {exc}")
            except BaseException:  # cancelled (client gone): the worker's state is unknown, replace it
                self._replace(worker)
                raise
            self._idle.put_nowait(worker)
            assert isinstance(answer, Answer | Refusal)
            return answer
        return Refusal("error", "the query workers had died; they are being replaced: retry")

    async def close(self) -> None:
        for task in list(self._tasks):  # replacements still starting
            task.cancel()
        for worker in list(self._all):
            with contextlib.suppress(Exception):
                worker.conn.close()
            with contextlib.suppress(Exception):
                worker.process.terminate()
                worker.process.join(timeout=5)
        self._all.clear()
        self._idle = None
