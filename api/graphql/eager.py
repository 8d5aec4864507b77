"""Awaiting several coroutines at once without a task for those that need not wait.

``asyncio.gather`` wraps every coroutine in a task, and a task costs a loop turn, a context copy
and callbacks: the look-ahead executor completes a deep answer as a few dozen coroutines (a level's
links, the levels below them), and once a level's values are primed (read with the level above,
``api.graphql.lookahead``) almost none of them waits for anything. :func:`settle` runs each one in
the calling task until it finishes or first waits; only the ones that wait are handed to
``asyncio.gather``, resumed where they stopped. Python 3.12's eager tasks do the same; this code
base runs on 3.11.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


async def settle(coroutines: Sequence[Coroutine[Any, Any, T]]) -> list[T | BaseException]:
    """The outcome of each of ``coroutines``, in order: its value or the exception it raised, as
    ``asyncio.gather(*coroutines, return_exceptions=True)`` gives them, every one let finish.

    Each is started in the calling task, one after the other (the loads of a level still join one
    batch: a loader dispatches its batch at the next loop turn, after all have started); those that
    wait are then awaited together.

    >>> async def now(x):
    ...     return x
    >>> async def later(x):
    ...     await asyncio.sleep(0)
    ...     return x
    >>> async def fails():
    ...     raise ValueError("no")
    >>> asyncio.run(settle([now(1), later(2), fails(), now(3)]))
    [1, 2, ValueError('no'), 3]
    """
    out: list[Any] = []
    waiting: list[int] = []
    for coroutine in coroutines:
        try:
            first = coroutine.send(None)
        except StopIteration as stop:
            out.append(stop.value)
            continue
        except Exception as exc:  # (as gather with return_exceptions)
            out.append(exc)
            continue
        if getattr(first, "_asyncio_future_blocking", None):
            # Taken, as a task takes the future it is given: until then the future refuses to be
            # awaited again, and the coroutines started next may wait for the same one (a batch).
            first._asyncio_future_blocking = False
        waiting.append(len(out))
        out.append(_Resumed(coroutine, first))
    if waiting:
        done = await asyncio.gather(*(out[index] for index in waiting), return_exceptions=True)
        for index, value in zip(waiting, done, strict=True):
            out[index] = value
    return out


class _Resumed:
    """A started coroutine that waits for ``first`` (what it yielded to its task), as an awaitable
    that goes on from there: the ``yield from`` a task would have done, from its second step."""

    __slots__ = ("coroutine", "first")

    def __init__(self, coroutine: Coroutine[Any, Any, Any], first: Any) -> None:
        self.coroutine, self.first = coroutine, first

    def __await__(self) -> Generator[Any, Any, Any]:
        coroutine, sent = self.coroutine, self.first
        if getattr(sent, "_asyncio_future_blocking", None) is not None:
            sent._asyncio_future_blocking = True  # (as it was yielded, for the task that takes it)
        while True:
            try:
                received = yield sent
            except GeneratorExit:
                coroutine.close()
                raise
            except BaseException as exc:  # (a cancellation reaches the coroutine where it waits)
                try:
                    sent = coroutine.throw(exc)
                except StopIteration as stop:
                    return stop.value
                continue
            try:
                sent = coroutine.send(received)
            except StopIteration as stop:
                return stop.value
