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
import itertools
import multiprocessing
import os
import pickle
import queue
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
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


class _Served:
    """The build a worker process serves, shared by its query threads: opened read-only once, and
    opened again before the next job when ``current`` moved (a rebuild), so that workers follow
    rebuilds without a restart. A thread keeps the store it was given for its whole query."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.layout = StoreLayout(Path(root))
        self.lock = threading.Lock()
        self.opened: Path | None = self.layout.current()
        self.current = self.opened
        self.store: ox.Store | None = ox.Store.read_only(str(self.opened)) if self.opened else None
        self.link: str | None = _read_link(self.layout.link)

    def get(self) -> ox.Store | None:
        """The store to query now (None when nothing is built)."""
        with self.lock:
            # one readlink per job; the link is resolved and checked only when it changed
            if (target := _read_link(self.layout.link)) != self.link:
                self.link, self.current = target, self.layout.current()
            if self.current is None:
                return None
            if self.current != self.opened or self.store is None:
                self.store = ox.Store.read_only(str(self.current))
                self.opened = self.current
            return self.store


_JOB_ID = struct.Struct("!Q")  # each frame between the app and a worker starts with its job's number


def _worker_main(root: str, conn: Connection, threads: int = 1) -> None:
    """A worker process: ``threads`` query threads over one read-only store, answering jobs until
    the socket closes.

    pyoxigraph releases the GIL while it evaluates a query and writes its results
    (``docs/guides/sparql-threads.md``), so the threads of one process run queries in parallel on one
    ``Store``, sharing its RocksDB caches as the reference server's threads do. Each frame in is
    a job number and a pickled :class:`Job`; each frame out the same number and the pickled answer,
    in the order the queries finish.
    """
    served = _Served(root)
    jobs: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
    send = threading.Lock()

    def answer_jobs() -> None:
        while (frame := jobs.get()) is not None:
            answer: Answer | Refusal
            try:  # never lose a job: whatever fails is reported, and the thread goes on
                job = pickle.loads(memoryview(frame)[_JOB_ID.size :])
                store = served.get()  # may open a new build
                if store is None:
                    answer = Refusal("error", f"no graph built in {served.root}")
                else:
                    answer = execute(store, job)
            except Exception as exc:
                answer = Refusal("error", f"{type(exc).__name__}: {exc}")
            payload = frame[: _JOB_ID.size] + pickle.dumps(answer, pickle.HIGHEST_PROTOCOL)
            with send:
                conn.send_bytes(payload)

    workers = [threading.Thread(target=answer_jobs, daemon=True) for _ in range(max(1, threads))]
    for thread in workers:
        thread.start()
    conn.send("ready")
    while True:
        try:
            jobs.put(conn.recv_bytes())
        except (EOFError, OSError):
            return


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
        self.on_frame: Callable[[bytes], None] | None = None  # once set, every frame goes there

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
            if self.on_frame is not None:
                self.on_frame(frame)
                continue
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
        self.on_lost = self.on_frame = None
        if self.transport is not None:
            self.transport.close()


class _Retry(Exception):
    """The job's worker was killed for another job's timeout: run it again elsewhere."""


class _WorkerDied(Exception):
    """The job's worker process ended on its own (out of memory, killed from outside)."""


@dataclass(eq=False)
class _Pending:
    future: asyncio.Future[bytes]
    timer: asyncio.TimerHandle


@dataclass(eq=False)
class _Worker:
    process: multiprocessing.process.BaseProcess
    channel: _Channel
    jobs: dict[int, _Pending] = field(default_factory=dict)  # in flight, by job number
    starting: bool = False  # spawned, not yet ready

    @property
    def busy(self) -> bool:
        return self.starting or bool(self.jobs)


class _IdleWorkers:
    """Free query slots, one entry per free thread of a worker, the most recently freed given
    first (LIFO): under a light load the same process answers, with its caches warm (RocksDB
    blocks, memory pages, CPU caches), instead of each query going to the coldest one in turn
    (measured, ``docs/guides/sparql-pool.md``)."""

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
        """Forget every free slot of ``worker`` (it is gone)."""
        if worker in self.stack:
            self.stack = [w for w in self.stack if w is not worker]

    async def get(self, timeout: float) -> _Worker:
        """A worker with a free slot; raises ``TimeoutError`` when none comes free within ``timeout``."""
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
    """``size`` worker processes of ``threads`` query threads each over the store at ``root``.

    A query past its timeout has its process killed (the only way to stop a pyoxigraph
    evaluation) and replaced; the other queries that process was running are innocent and
    read-only, so they are sent again, transparently, to another worker within their own
    deadline. A process that dies on its own (out of memory) fails the queries it was running.
    """

    name = "process-pool"
    worker_main = staticmethod(_worker_main)  # a worker process's code (tests wrap it)

    def __init__(self, root: Path, size: int | None = None, threads: int | None = None) -> None:
        self.root = root
        # Defaults measured on the benchmark's mix (docs/guides/sparql-threads.md): one process per CPU,
        # four query threads each. Queries run at once as on the reference server (one thread per
        # connection), so a short query does not queue behind long ones; the threads of a process
        # share one store and its caches, where one process per query slot each had its own.
        self.size = size or max(2, os.cpu_count() or 1)
        self.threads = threads or 4
        # forkserver: workers start from a clean interpreter (no inherited event loop, threads
        # or RocksDB handles of the app), cheaply.
        self._ctx = multiprocessing.get_context("forkserver")
        self._idle: _IdleWorkers | None = None
        self._all: list[_Worker] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._numbers = itertools.count()
        self.restarts = 0  # processes killed at a query's timeout
        self.retried = 0  # queries sent again after their process was killed for another's timeout

    async def _spawn(self) -> _Worker:
        mine, theirs = socket.socketpair()
        child = Connection(theirs.detach())
        process = self._ctx.Process(
            target=self.worker_main, args=(str(self.root), child, self.threads), daemon=True
        )
        try:
            process.start()
        finally:
            child.close()
        mine.setblocking(False)
        _, channel = await asyncio.get_running_loop().create_unix_connection(_Channel, sock=mine)
        worker = _Worker(process, channel, starting=True)  # no job until it says it is ready
        channel.on_lost = lambda: self._lost(worker)
        self._all.append(worker)
        return worker

    def _lost(self, worker: _Worker) -> None:
        """A worker's socket closed: it died (killed from outside, out of memory). Its queries
        fail (one of them may be the cause: sending them again could kill another worker), its
        free slots are forgotten and a new worker is started."""
        if worker in self._all and not worker.starting and self._idle is not None:
            self._fail(worker, lambda: _WorkerDied("the worker closed its socket"))
            self._idle.discard(worker)
            self._replace(worker)

    def _fail(self, worker: _Worker, error: Callable[[], Exception]) -> None:
        """End every query in flight on ``worker`` with an exception (one each) made by ``error``."""
        jobs, worker.jobs = worker.jobs, {}
        for pending in jobs.values():
            pending.timer.cancel()
            if not pending.future.done():
                pending.future.set_exception(error())

    def _answered(self, worker: _Worker, frame: bytes) -> None:
        """A worker's answer: to the query waiting for it (if still waiting), and the slot freed."""
        (number,) = _JOB_ID.unpack_from(frame)
        pending = worker.jobs.pop(number, None)
        if pending is None:
            return
        pending.timer.cancel()
        if not pending.future.done():  # done: its client left; the answer is dropped
            pending.future.set_result(frame)
        if self._idle is not None and worker in self._all:
            self._idle.put(worker)

    def _expire(self, worker: _Worker, number: int) -> None:
        """A query reached its deadline: kill its process (stopping the work), send the other
        queries of that process again, start a new worker."""
        pending = worker.jobs.pop(number, None)
        if pending is None or worker not in self._all:
            return
        if not pending.future.done():
            pending.future.set_exception(QueryTimeout())
        self.restarts += 1
        self._fail(worker, _Retry)
        if self._idle is not None:
            self._idle.discard(worker)
        self._replace(worker)

    async def _start_one(self, idle: _IdleWorkers) -> None:
        """Spawn a worker and make its slots available once it has opened the store."""
        worker = await self._spawn()
        try:
            await asyncio.wait_for(worker.channel.receive(), 120)  # its "ready"
        except (TimeoutError, EOFError, OSError):
            self._kill(worker)
            raise
        worker.channel.on_frame = lambda frame: self._answered(worker, frame)
        worker.starting = False
        if worker.channel.lost:  # died just after saying it was ready
            self._lost(worker)
            return
        for _ in range(self.threads):
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
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + timeout
        # pickled here, once, with the plain pickler: ``Connection.send`` builds a ForkingPickler
        # (and copies its dispatch table) per message, a measurable part of a short query's cost
        payload = pickle.dumps(job, pickle.HIGHEST_PROTOCOL)
        dead = 0
        while True:
            try:
                worker = await self._idle.get(max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise Busy from None
            if worker.channel.lost or worker not in self._all:
                # died while idle, not yet replaced: the job never reached it
                if worker in self._all:
                    self._lost(worker)
                dead += 1
                if dead > 2 * self.size:
                    return Refusal("error", "the query workers had died; they are being replaced: retry")
                continue
            number = next(self._numbers)
            future: asyncio.Future[bytes] = loop.create_future()
            left = max(0.0, deadline - time.monotonic())
            # the deadline is the worker's, not this coroutine's: it holds even when the client
            # leaves (the query goes on in its thread until it ends or its process is killed)
            timer = loop.call_later(left, self._expire, worker, number)
            worker.jobs[number] = _Pending(future, timer)
            worker.channel.send(_JOB_ID.pack(number) + payload)
            try:
                frame = await future
            except _Retry:
                self.retried += 1
                if time.monotonic() >= deadline:
                    raise QueryTimeout from None
                continue
            except _WorkerDied as exc:
                return Refusal("error", f"the query worker failed (out of memory?): {exc}")
            answer = pickle.loads(memoryview(frame)[_JOB_ID.size :])
            assert isinstance(answer, Answer | Refusal)
            return answer

    async def close(self) -> None:
        for task in list(self._tasks):  # replacements still starting
            task.cancel()
        for worker in list(self._all):
            self._fail(worker, lambda: _WorkerDied("the pool is closing"))
            worker.channel.close()
            with contextlib.suppress(Exception):
                worker.process.terminate()
                worker.process.join(timeout=5)
        self._all.clear()
        self._idle = None
