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
import socket
import struct
import time
from collections import deque
from collections.abc import Callable
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


_HEADER = struct.Struct("!i")  # multiprocessing.Connection's frame header: the payload's length
_LONG_HEADER = struct.Struct("!Q")  # after a -1 header, for payloads of 2 GiB and more


class _Channel(asyncio.Protocol):
    """The app's end of one worker's socket, read by the event loop as data arrives.

    The frames are ``multiprocessing.Connection``'s (4-byte big-endian length, then the bytes), so
    the worker keeps its plain blocking ``Connection``. The socket's reader is registered once
    for the worker's life: a query costs one write and the reads of its answer, where the
    earlier design added and removed the reader and switched the socket between blocking and
    non-blocking on every query (measured, ``docs/guides/sparql-pool.md``).
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.frames: deque[bytes] = deque()
        self.waiter: asyncio.Future[bytes] | None = None
        self.lost = False
        self.on_lost: Callable[[], None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while len(buffer) >= 4:
            (size,) = _HEADER.unpack_from(buffer)
            start = 4
            if size == -1:
                if len(buffer) < 12:
                    return
                (size,) = _LONG_HEADER.unpack_from(buffer, 4)
                start = 12
            if len(buffer) < start + size:
                return
            frame = bytes(buffer[start : start + size])
            del buffer[: start + size]
            waiter, self.waiter = self.waiter, None
            if waiter is not None and not waiter.done():
                waiter.set_result(frame)
            else:
                self.frames.append(frame)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(EOFError("the worker closed its socket"))
        if self.on_lost is not None:
            self.on_lost()

    def send(self, payload: bytes) -> None:
        assert self.transport is not None
        self.transport.write(_HEADER.pack(len(payload)) + payload)

    async def receive(self) -> bytes:
        """The next frame (raises ``EOFError`` when the worker is gone)."""
        if self.frames:
            return self.frames.popleft()
        if self.lost:
            raise EOFError("the worker closed its socket")
        waiter = self.waiter = asyncio.get_running_loop().create_future()
        return await waiter

    def close(self) -> None:
        self.on_lost = None
        if self.transport is not None:
            self.transport.close()


@dataclass(eq=False)
class _Worker:
    process: multiprocessing.process.BaseProcess
    channel: _Channel
    busy: bool = False


class _IdleWorkers:
    """The idle workers, the most recently used given first (LIFO): under a light load the same
    few workers answer, with their caches warm (RocksDB blocks, memory pages, CPU caches), instead
    of each query going to the coldest one in turn (measured, ``docs/guides/sparql-pool.md``)."""

    def __init__(self) -> None:
        self.stack: list[_Worker] = []
        self.waiters: deque[asyncio.Future[_Worker]] = deque()

    def put(self, worker: _Worker) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(worker)
                return
        self.stack.append(worker)

    def discard(self, worker: _Worker) -> None:
        if worker in self.stack:
            self.stack.remove(worker)

    async def get(self, timeout: float) -> _Worker:
        """An idle worker; raises ``TimeoutError`` when none comes free within ``timeout``."""
        if self.stack:
            return self.stack.pop()
        waiter: asyncio.Future[_Worker] = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        try:
            return await asyncio.wait_for(waiter, timeout)
        except BaseException:
            # given a worker just as the wait ended (timeout, client gone): hand it on, not lose it
            if waiter.done() and not waiter.cancelled():
                self.put(waiter.result())
            raise


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
        self._idle: _IdleWorkers | None = None
        self._all: list[_Worker] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.restarts = 0

    async def _spawn(self) -> _Worker:
        mine, theirs = socket.socketpair()
        child = Connection(theirs.detach())
        process = self._ctx.Process(target=_worker_main, args=(str(self.root), child), daemon=True)
        try:
            process.start()
        finally:
            child.close()
        mine.setblocking(False)
        _, channel = await asyncio.get_running_loop().create_unix_connection(_Channel, sock=mine)
        worker = _Worker(process, channel, busy=True)  # not idle until it says it is ready
        channel.on_lost = lambda: self._lost(worker)
        self._all.append(worker)
        return worker

    def _lost(self, worker: _Worker) -> None:
        """A worker's socket closed: when it died idle (killed, out of memory), replace it now,
        so that no job is given to it."""
        if not worker.busy and worker in self._all and self._idle is not None:
            self._idle.discard(worker)
            self._replace(worker)

    async def _start_one(self, idle: _IdleWorkers) -> None:
        """Spawn a worker and make it available once it has opened the store."""
        worker = await self._spawn()
        try:
            await asyncio.wait_for(worker.channel.receive(), 120)  # its "ready"
        except (TimeoutError, EOFError, OSError):
            self._kill(worker)
            raise
        worker.busy = False
        idle.put(worker)

    async def start(self) -> None:
        """Start the pool and wait until every worker has opened the store."""
        if self._idle is None:
            self._idle = _IdleWorkers()
            await asyncio.gather(*(self._start_one(self._idle) for _ in range(self.size)))

    def _replace(self, worker: _Worker) -> None:
        """Kill a worker and start another in the background (it joins the pool when ready)."""
        self._kill(worker)
        assert self._idle is not None
        task = asyncio.get_running_loop().create_task(self._start_one(self._idle))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _kill(self, worker: _Worker) -> None:
        if worker in self._all:
            self._all.remove(worker)
        worker.channel.close()
        with contextlib.suppress(Exception):
            worker.process.kill()
            worker.process.join(timeout=5)

    async def run(self, job: Job, timeout: float) -> Answer | Refusal:
        await self.start()
        assert self._idle is not None
        deadline = time.monotonic() + timeout
        # pickled here, once, with the plain pickler: ``Connection.send`` builds a ForkingPickler
        # (and copies its dispatch table) per message, a measurable part of a short query's cost
        payload = pickle.dumps(job, pickle.HIGHEST_PROTOCOL)
        for _ in range(3):
            try:
                worker = await self._idle.get(max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise Busy from None
            if worker.channel.lost:  # died while idle, not yet replaced: the job never reached it
                self._replace(worker)
                continue
            worker.busy = True
            worker.channel.send(payload)
            left = max(0.0, deadline - time.monotonic())
            try:
                frame = await asyncio.wait_for(worker.channel.receive(), left)
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
            worker.busy = False
            self._idle.put(worker)
            answer = pickle.loads(frame)
            assert isinstance(answer, Answer | Refusal)
            return answer
        return Refusal("error", "the query workers had died; they are being replaced: retry")

    async def close(self) -> None:
        for task in list(self._tasks):  # replacements still starting
            task.cancel()
        for worker in list(self._all):
            worker.channel.close()
            with contextlib.suppress(Exception):
                worker.process.terminate()
                worker.process.join(timeout=5)
        self._all.clear()
        self._idle = None
