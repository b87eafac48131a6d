"""Admission control for ``hwr serve``: a few requests at work, a bounded queue behind them, and a
refusal only past the queue.

Why not uvicorn's ``limit_concurrency`` alone: it refuses (503) every request beyond the limit at
once, so a burst a little over it loses requests the server would have answered a second later.
Here a request past the ``active`` ones waits its turn in arrival order, holding nothing but its
connection (its body is read only once admitted, so waiting requests keep no upload in memory), and
only one that finds ``waiting`` others already queued is refused (:class:`Overloaded`).

It runs on one event loop (the server's); a ``with`` block of :meth:`Admission.slot` holds a place.
The waiters' futures are made on the loop that waits, so one ``Admission`` may outlive a loop (the
test client starts one per client), unlike an ``asyncio.Semaphore``, which binds to the first loop
it waits on.
"""

from __future__ import annotations

import asyncio
from collections import deque
from contextlib import asynccontextmanager


class Overloaded(Exception):
    """Every place at work and in the queue is taken: try again later."""


class Admission:
    """At most ``active`` holders at once, up to ``waiting`` more queued first come first served."""

    def __init__(self, active: int, waiting: int):
        if active < 1 or waiting < 0:
            raise ValueError(f"admission needs active >= 1 and waiting >= 0, not {active} and {waiting}")
        self.active, self.waiting = active, waiting
        self._running = 0
        self._queue: deque[asyncio.Future] = deque()

    @property
    def running(self) -> int:
        """Holders at work now."""
        return self._running

    @property
    def queued(self) -> int:
        """Requests waiting their turn now."""
        return sum(not f.done() for f in self._queue)

    @asynccontextmanager
    async def slot(self):
        """Holds a place for the block; raises Overloaded, without waiting, when the queue is full."""
        await self._acquire()
        try:
            yield
        finally:
            self._release()

    async def _acquire(self) -> None:
        if self._running < self.active and not self.queued:  # places are handed over, so none waits then
            self._running += 1
            return
        if self.queued >= self.waiting:
            raise Overloaded(f"the server is busy: {self._running} requests at work and {self.queued} "
                             "waiting, as many as it takes")
        turn = asyncio.get_running_loop().create_future()
        self._queue.append(turn)
        try:
            await turn  # _release hands its place over: _running stays as it is
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._release()  # given the place as it was cancelled: pass it on, not lose it
            elif turn in self._queue:
                self._queue.remove(turn)
            raise

    def _release(self) -> None:
        while self._queue:
            turn = self._queue.popleft()
            if not turn.done():  # a waiter cancelled meanwhile has a done (cancelled) future: skip it
                turn.set_result(None)
                return
        self._running -= 1
