"""Admission of GraphQL executions: a bounded number at once, a bounded wait for a place.

GraphQL runs in the app process (the event loop and a few threads sharing one interpreter lock),
unlike ``/sparql``, whose queries go to worker processes. Under overload every GraphQL request
admitted by the global in-flight bound (:class:`api.limits.RequestLimits`) used to start at once
and share that one core: each became slower than the GraphQL timeout and was answered ``TIMEOUT``
after 10 s of work, the worst outcome for everyone. Here at most ``size`` executions run at once;
a request that finds no place within ``wait_s`` is **shed** (503 + ``Retry-After``, code
``OVERLOADED``) before any work is done, so the admitted ones finish within their timeout.

>>> import asyncio
>>> async def demo() -> list[str]:
...     slots, out = ExecutionSlots(size=1, wait_s=0.01), []
...     async with slots.place():
...         try:
...             async with slots.place():
...                 out.append("second admitted")
...         except Overloaded as exc:
...             out.append(f"second shed after {exc.waited_s:.2f} s")
...     async with slots.place():
...         out.append("third admitted")
...     return out
>>> asyncio.run(demo())
['second shed after 0.01 s', 'third admitted']
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class Overloaded(Exception):
    """No execution place became free within the wait."""

    def __init__(self, size: int, waited_s: float) -> None:
        super().__init__(f"{size} GraphQL executions are running; none finished within {waited_s:.1f} s")
        self.size, self.waited_s = size, waited_s


class ExecutionSlots:
    """At most ``size`` executions at once (0: no bound); wait at most ``wait_s`` for a place.

    Waiters are served first come, first served (an :class:`asyncio.Semaphore`). Made lazily, once per app, in
    the serving event loop (``api.graphql.router``): a semaphore belongs to the loop it waits in.
    """

    def __init__(self, size: int, wait_s: float) -> None:
        self.size, self.wait_s = size, wait_s
        self._semaphore = asyncio.Semaphore(size) if size > 0 else None

    @asynccontextmanager
    async def place(self) -> AsyncIterator[None]:
        """Hold a place for the block, or raise :class:`Overloaded` after ``wait_s``."""
        if self._semaphore is None:
            yield
            return
        start = time.monotonic()
        try:
            async with asyncio.timeout(self.wait_s):
                await self._semaphore.acquire()
        except TimeoutError:
            raise Overloaded(self.size, time.monotonic() - start) from None
        try:
            yield
        finally:
            self._semaphore.release()
