"""The worker pool's plumbing and the request checks made cheaper for throughput (issue #5): the
socket channel's framing, the LIFO idle pool, a pool answering concurrent queries and a worker
killed in the middle of one, the C form decoder against ``urllib.parse.parse_qs``."""

from __future__ import annotations

import asyncio
import random
import struct
from multiprocessing.connection import Connection
from pathlib import Path
from urllib.parse import parse_qs, urlencode

import pytest

from api.executor import ProcessPoolBackend, QueryTimeout, _Channel, _IdleWorkers, _Worker
from api.limits import calls_service
from api.results import Answer, Job, Refusal
from api.sparql import is_update, parse_form
from kg.config import Settings
from tests.portal_support import make_store


def _frames(*payloads: bytes) -> bytes:
    return b"".join(struct.pack("!i", len(p)) + p for p in payloads)


def test_channel_reassembles_frames_cut_anywhere() -> None:
    """Frames arrive in pieces of any size (one byte, several frames at once); each comes out
    whole and in order, a long frame included."""
    payloads = [b"", b"a", b"x" * 70_000, bytes(range(256)) * 3]
    stream = _frames(*payloads)

    async def feed(step: int) -> list[bytes]:
        channel = _Channel()
        for i in range(0, len(stream), step):
            channel.data_received(stream[i : i + step])
        return [await channel.receive() for _ in payloads]

    for step in (1, 3, 4, 5, 4096, len(stream)):
        assert asyncio.run(feed(step)) == payloads


def test_channel_reads_connection_long_frames_and_reports_eof() -> None:
    """``multiprocessing.Connection`` writes -1 then an 8-byte length for very long payloads; a
    closed socket wakes the waiting query with ``EOFError``."""

    async def scenario() -> tuple[bytes, type[BaseException] | None]:
        channel = _Channel()
        channel.data_received(struct.pack("!i", -1) + struct.pack("!Q", 5) + b"hello")
        first = await channel.receive()
        waiting = asyncio.ensure_future(channel.receive())
        await asyncio.sleep(0)
        channel.connection_lost(None)
        try:
            await waiting
        except EOFError as exc:
            return first, type(exc)
        return first, None

    assert asyncio.run(scenario()) == (b"hello", EOFError)


def test_channel_frames_are_those_of_a_worker_connection() -> None:
    """What a worker's ``Connection.send_bytes`` writes is what the channel reads, and what the
    channel sends is what ``Connection.recv_bytes`` reads."""
    import socket

    async def scenario() -> tuple[bytes, bytes]:
        mine, theirs = socket.socketpair()
        worker_end = Connection(theirs.detach())
        mine.setblocking(False)
        _, channel = await asyncio.get_running_loop().create_unix_connection(_Channel, sock=mine)
        channel.send(b"job" * 30_000)
        received = await asyncio.to_thread(worker_end.recv_bytes)
        worker_end.send_bytes(b"answer" * 20_000)
        answer = await channel.receive()
        channel.close()
        worker_end.close()
        return received, answer

    assert asyncio.run(scenario()) == (b"job" * 30_000, b"answer" * 20_000)


def test_idle_workers_lifo_and_no_worker_lost_on_timeout() -> None:
    """The most recently used worker is given first (warm caches); a waiter that times out does
    not swallow a worker put back at the same moment."""

    async def scenario() -> None:
        idle = _IdleWorkers()
        a, b = (_Worker(process=None, channel=_Channel()) for _ in range(2))  # type: ignore[arg-type]
        idle.put(a)
        idle.put(b)
        assert await idle.get(1) is b
        assert await idle.get(1) is a
        with pytest.raises(TimeoutError):
            await idle.get(0.01)
        waiter = asyncio.ensure_future(idle.get(5))
        await asyncio.sleep(0)
        idle.put(a)  # handed to the waiter
        assert await waiter is a
        late = asyncio.ensure_future(idle.get(5))
        await asyncio.sleep(0)
        idle.put(b)
        late.cancel()  # the client left just as a worker came free
        try:
            given = await late  # the wait had ended with the worker: the caller has it
            assert given is b and idle.stack == []
        except asyncio.CancelledError:
            assert idle.stack == [b]  # back in the pool

    asyncio.run(scenario())


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_store(tmp_path_factory.mktemp("pool") / "store")


def test_pool_answers_concurrent_queries_each_its_own(settings: Settings) -> None:
    """Many queries at once through two workers: every answer is the one of its own query."""

    async def scenario() -> list[Answer | Refusal]:
        pool = ProcessPoolBackend(Path(settings.store), size=2)
        try:
            jobs = [Job(f'SELECT ?n WHERE {{ BIND("{i}" AS ?n) }}', select_format="tsv") for i in range(40)]
            return await asyncio.gather(*(pool.run(job, 30) for job in jobs))
        finally:
            await pool.close()

    answers = asyncio.run(scenario())
    assert [a.body for a in answers if isinstance(a, Answer)] == [f'?n\n"{i}"\n'.encode() for i in range(40)]


def test_worker_killed_during_a_query_is_an_error_and_replaced(settings: Settings) -> None:
    """A worker that dies in the middle of a query (out of memory): that query gets an error, the
    worker is replaced, the next queries are answered."""
    endless = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l . ?m ?o ?p }"

    async def scenario() -> tuple[Answer | Refusal, Answer | Refusal, int]:
        pool = ProcessPoolBackend(Path(settings.store), size=2)
        try:
            await pool.start()
            running = asyncio.ensure_future(pool.run(Job(endless), 30))
            await asyncio.sleep(0.5)
            busy = [w for w in pool._all if w.busy]
            assert len(busy) == 1
            busy[0].process.kill()
            failed = await asyncio.wait_for(running, 10)
            after = await pool.run(Job("ASK {}"), 10)
            for _ in range(100):  # the replacement joins the pool once it has opened the store
                if len(pool._all) == 2 and not any(w.busy for w in pool._all):
                    break
                await asyncio.sleep(0.1)
            return failed, after, len(pool._all)
        finally:
            await pool.close()

    failed, after, size = asyncio.run(scenario())
    assert isinstance(failed, Refusal) and failed.kind == "error" and "worker failed" in failed.detail
    assert isinstance(after, Answer) and after.body == b'{"head": {}, "boolean": true}'
    assert size == 2


def test_parse_form_is_parse_qs() -> None:
    """The C decoding of form bodies gives what ``parse_qs`` gives, malformed escapes, ``+``,
    ``=`` in values, line breaks, other charsets and invalid UTF-8 included."""
    pieces = ["a", "=", "&", "%", "+", " ", "%41", "%3d", "%3D", "%25", "%2B", "%zz", "%4"]
    pieces += ["%C3%A9", "%c3%a9", "é", "%FF", "\n", "\r\n", "%0A", ";", "\t", "<", "}"]
    rng = random.Random(5)
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 14)))
        for charset in ("utf-8", "latin-1"):
            body = text.encode(charset, "replace")
            try:
                expected: object = parse_qs(
                    body.decode(charset), keep_blank_values=True, encoding=charset, errors="strict"
                )
            except UnicodeError:
                expected = UnicodeError
            try:
                got: object = parse_form(body, charset)
            except UnicodeError:
                got = UnicodeError
            assert got == expected, (text, charset)
    query = 'PREFIX pas: <https://w3id.org/passerelles/ontology#>\nSELECT * { ?s pas:code "100%" }'
    body = urlencode({"query": query, "default-graph-uri": "http://a/b?c=d"}).encode()
    assert parse_form(body, "utf-8") == {"query": [query], "default-graph-uri": ["http://a/b?c=d"]}


def test_cheaper_checks_still_refuse() -> None:
    """The fast paths of the SERVICE and Update checks keep their answers."""
    assert calls_service("SELECT * { \\U00000053ERVICE <http://x/> { ?s ?p ?o } }")
    assert calls_service("select * { service <http://x/> { ?s ?p ?o } }")
    assert not calls_service('SELECT * { ?s ?p "\\u0041" }')
    assert not calls_service("SELECT * { ?s ?p ?o }")
    prologue = "".join(f"PREFIX p{i}: <http://p/{i}#>\n# note {i}\n" for i in range(30))
    assert is_update(prologue + "BASE <http://b/>\n  DELETE WHERE { ?s ?p ?o }")
    assert not is_update(prologue + "SELECT * { ?s ?p ?o }")


def test_query_prefixes_keeps_what_the_query_can_use() -> None:
    """Only the predeclared prefixes a query can use are given to the engine; a prefix named in a
    comment of the prologue is not taken for declared, a codepoint escape keeps them all; and the
    answers are those of the query given every prefix."""
    import pyoxigraph as ox

    from api.results import execute, query_prefixes
    from kg.namespaces import prefixes_for

    every = prefixes_for("https://example.org/")
    assert query_prefixes("ASK {}", every) == {}
    assert query_prefixes("# PREFIX pas: <http://x#>\nASK { ?s pas:code ?c }", every) == {"pas": every["pas"]}
    assert query_prefixes("PREFIX pas: <http://x#>\nASK { ?s pas:code ?c }", every) == {}
    assert query_prefixes("ASK { ?s pa\\u0073:code ?c }", every) == every
    store = ox.Store()
    store.add(ox.Quad(ox.NamedNode(every["id"] + "a"), ox.NamedNode(every["pas"] + "code"), ox.Literal("A")))
    for query in (
        "SELECT ?c WHERE { id:a pas:code ?c }",
        "# skos: rdf:\nPREFIX pas: <https://w3id.org/passerelles/ontology#>\n"
        "SELECT ?c WHERE { id:a pas:code ?c }",
        "SELECT ?c WHERE { id:a pas:code ?c FILTER(?c != xsd:string) }",
    ):
        trimmed = execute(store, Job(query, "tsv", prefixes=every))
        assert isinstance(trimmed, Answer) and trimmed.body == b'?c\n"A"\n', query


HOLD = "# hold until the flag file exists\n"


def _holding_worker(root: str, conn: Connection, threads: int = 1) -> None:
    """A worker whose jobs marked ``HOLD`` wait until ``<root>/flag`` exists before they run: the
    first process's held queries are still running when their sibling times out."""
    import time

    import api.executor

    flag = Path(root) / "flag"
    run = api.executor.execute

    def holding(store: object, job: Job) -> Answer | Refusal:
        while job.query.startswith(HOLD) and not flag.exists():
            time.sleep(0.02)
        return run(store, job)  # type: ignore[arg-type]

    api.executor.execute = holding  # type: ignore[assignment]
    api.executor._worker_main(root, conn, threads)


class _HoldingPool(ProcessPoolBackend):
    worker_main = staticmethod(_holding_worker)


def test_timeout_kills_the_process_and_its_other_queries_are_answered_elsewhere(settings: Settings) -> None:
    """One process, three query threads: a query past its timeout has the process killed (the work
    really stops), the two queries it was running beside it are sent again to the new process and
    answered, each with its own answer, and the pool is whole again."""
    flag = Path(settings.store) / "flag"
    endless = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l . ?m ?o ?p }"

    async def scenario() -> tuple[object, list[Answer | Refusal], int, int, int, bool, bool]:
        pool = _HoldingPool(Path(settings.store), size=1, threads=3)
        try:
            await pool.start()
            (first,) = pool._all
            held = [
                asyncio.ensure_future(
                    pool.run(Job(f'{HOLD}SELECT ?n WHERE {{ BIND("{i}" AS ?n) }}', select_format="tsv"), 30)
                )
                for i in range(2)
            ]
            await asyncio.sleep(0.3)
            assert len(first.jobs) == 2  # both running in the one process, held
            try:
                await pool.run(Job(endless), 1.0)
                stopped: object = None
            except QueryTimeout as exc:
                stopped = exc
            flag.touch()  # the replacement's held queries may run
            answers = await asyncio.wait_for(asyncio.gather(*held), 30)
            (second,) = pool._all
            return (
                stopped,
                answers,
                pool.restarts,
                pool.retried,
                first.process.exitcode or 0,
                second is not first and second.process.is_alive(),
                first.process.is_alive(),
            )
        finally:
            flag.unlink(missing_ok=True)
            await pool.close()

    stopped, answers, restarts, retried, exitcode, replaced, first_alive = asyncio.run(scenario())
    assert isinstance(stopped, QueryTimeout)
    assert [a.body for a in answers if isinstance(a, Answer)] == [f'?n\n"{i}"\n'.encode() for i in range(2)]
    assert (restarts, retried) == (1, 2)
    assert exitcode < 0 and not first_alive and replaced  # killed by a signal, and a new one serves


def test_a_client_that_leaves_does_not_stop_the_deadline(settings: Settings) -> None:
    """A query whose client left keeps its deadline: past it the process is still killed (the work
    stops), and a query that ended in time after its client left frees its slot."""
    endless = "SELECT (COUNT(*) AS ?n) WHERE { ?a ?b ?c . ?d ?e ?f . ?g ?h ?i . ?j ?k ?l . ?m ?o ?p }"

    async def scenario() -> tuple[int, int, bool]:
        pool = ProcessPoolBackend(Path(settings.store), size=1, threads=2)
        try:
            await pool.start()
            (first,) = pool._all
            left = asyncio.ensure_future(pool.run(Job(endless), 1.0))
            short = asyncio.ensure_future(pool.run(Job("ASK {}"), 5))
            await asyncio.sleep(0.2)
            left.cancel()  # the client went away
            await asyncio.sleep(0)
            assert await short is not None
            assert len(pool._idle.stack if pool._idle else []) == 1  # the short one's slot is free
            for _ in range(100):
                if pool.restarts:
                    break
                await asyncio.sleep(0.05)
            for _ in range(100):  # the replacement has opened the store
                if pool._all and pool._all[0] is not first and not pool._all[0].busy:
                    break
                await asyncio.sleep(0.1)
            return pool.restarts, len(pool._all), first.process.is_alive()
        finally:
            await pool.close()

    restarts, size, alive = asyncio.run(scenario())
    assert (restarts, size, alive) == (1, 1, False)
