import asyncio

import pytest

from hwr.app.admission import Admission, Overloaded


async def settle(condition, rounds: int = 1000) -> None:
    """Lets the other tasks run until ``condition()`` holds (event-loop turns, not time)."""
    for _ in range(rounds):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the tasks never reached the expected state")


def test_a_few_at_work_the_next_in_order_then_refusals():
    async def main():
        admission = Admission(active=2, waiting=3)
        entered, gates = [], {i: asyncio.Event() for i in range(5)}

        async def request(i):
            async with admission.slot():
                entered.append(i)
                await gates[i].wait()

        tasks = [asyncio.create_task(request(i)) for i in range(5)]
        await settle(lambda: admission.running == 2 and admission.queued == 3)
        assert entered == [0, 1]
        for _ in range(2):  # the queue is full: refused at once, without waiting
            with pytest.raises(Overloaded, match="2 requests at work and 3 waiting"):
                async with admission.slot():
                    pass
        gates[1].set()
        await settle(lambda: len(entered) == 3)
        assert entered == [0, 1, 2] and admission.running == 2 and admission.queued == 2
        for i in (0, 2, 3, 4):
            gates[i].set()
        await asyncio.gather(*tasks)
        assert entered == [0, 1, 2, 3, 4] and admission.running == 0 and admission.queued == 0
        async with admission.slot():  # all free again
            assert admission.running == 1

    asyncio.run(main())


def test_a_waiter_that_gives_up_frees_its_place():
    async def main():
        admission = Admission(active=1, waiting=1)
        gate = asyncio.Event()

        async def hold():
            async with admission.slot():
                await gate.wait()

        async def wait_turn():
            async with admission.slot():
                pass

        holder = asyncio.create_task(hold())
        waiter = asyncio.create_task(wait_turn())
        await settle(lambda: admission.queued == 1)
        waiter.cancel()  # e.g. its client went away
        await settle(waiter.done)
        assert admission.queued == 0
        late = asyncio.create_task(wait_turn())  # the freed place in the queue is taken again
        await settle(lambda: admission.queued == 1)
        gate.set()
        await asyncio.gather(holder, late)
        assert admission.running == 0 and admission.queued == 0

    asyncio.run(main())


def test_a_place_handed_to_a_cancelled_waiter_is_passed_on():
    async def main():
        admission = Admission(active=1, waiting=2)
        gate = asyncio.Event()
        entered = []

        async def request(i, wait=False):
            async with admission.slot():
                entered.append(i)
                if wait:
                    await gate.wait()

        holder = asyncio.create_task(request(0, wait=True))
        first = asyncio.create_task(request(1))
        second = asyncio.create_task(request(2))
        await settle(lambda: admission.queued == 2)
        gate.set()
        await settle(lambda: admission.queued == 1)  # the holder left: the place is handed to `first`...
        first.cancel()  # ...which is cancelled before it runs: the place goes on to `second`
        await asyncio.gather(holder, second)
        await asyncio.gather(first, return_exceptions=True)
        assert entered == [0, 2] and admission.running == 0 and admission.queued == 0

    asyncio.run(main())


@pytest.mark.parametrize("active, waiting", [(0, 4), (1, -1)])
def test_bad_sizes(active, waiting):
    with pytest.raises(ValueError):
        Admission(active, waiting)
