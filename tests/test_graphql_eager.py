"""``api.graphql.eager.settle``: gather's outcomes without a task for the coroutines that need not wait."""

from __future__ import annotations

import asyncio

import pytest

from api.graphql.context import BatchLoader
from api.graphql.eager import settle


def test_loads_started_eagerly_still_join_one_batch() -> None:
    calls: list[list[int]] = []

    async def fetch(keys: list[int]) -> list[int]:
        calls.append(sorted(keys))
        return [k * 10 for k in keys]

    async def main() -> list[object]:
        loader: BatchLoader[int, int] = BatchLoader(fetch)
        return await settle([loader.load_many([1, 2]), loader.load(3), loader.load_many([])])

    assert asyncio.run(main()) == [[10, 20], 30, []]
    assert calls == [[1, 2, 3]]  # one batch, as with asyncio.gather


def test_a_cancelled_caller_cancels_the_coroutines_that_wait() -> None:
    seen: list[str] = []

    async def waits(event: asyncio.Event) -> None:
        try:
            await event.wait()
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    async def main() -> None:
        event = asyncio.Event()
        task = asyncio.ensure_future(settle([waits(event), waits(event)]))
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert seen == ["cancelled", "cancelled"]


def test_a_waiting_coroutine_gets_what_it_waited_for_and_its_errors() -> None:
    async def value_after(future: asyncio.Future[int]) -> int:
        return await future + 1

    async def fails_after(future: asyncio.Future[int]) -> int:
        await future
        raise KeyError("late")

    async def main() -> list[object]:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.01, future.set_result, 41)
        return await settle([value_after(future), fails_after(future)])

    got = asyncio.run(main())
    assert got[0] == 42 and isinstance(got[1], KeyError)
