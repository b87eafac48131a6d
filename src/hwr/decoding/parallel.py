"""Decoding batches on every core: the beam decoders spend their time in Python (the character
model and lexicon are scored through flashlight's callbacks, under the GIL), so one process decodes
on one core however many it has. :class:`Decoding` sends each batch of log-probabilities, in one
share per worker, to a pool of forked worker processes, which inherit the decoders (flashlight's objects cannot be pickled),
while the caller runs the network on the next batch; readings come back in batch order.

With one job, or where fork is not available, each batch is decoded in the calling process as it comes.
"""

from __future__ import annotations

import multiprocessing as mp
import time

import numpy as np

from hwr.core import workers
from hwr.decoding.factory import Decoder
from hwr.decoding.greedy import Reading

_decoders: dict[str, Decoder] = {}  # a worker's decoders, inherited from the parent at fork


def _keep(decoders: dict[str, Decoder]) -> None:
    global _decoders
    _decoders = decoders


def _decode(log_probs: np.ndarray, decoders: dict[str, Decoder] | None = None) -> dict[str, tuple[list, float]]:
    """Each decoder's readings of one batch, and the seconds it took."""
    done = {}
    for name, decoder in (decoders or _decoders).items():
        started = time.perf_counter()
        done[name] = (decoder(log_probs), time.perf_counter() - started)
    return done


def default_jobs() -> int:
    """One worker per core this process may use."""
    return workers.usable_cores()


class Decoding:
    """``with Decoding(decoders, jobs) as decoding:`` ``decoding.submit(log_probs)`` per batch, then
    ``decoding.results()``: each decoder's readings of every batch, in order, and its seconds."""

    def __init__(self, decoders: dict[str, Decoder], jobs: int = 1, on_done=None):
        self.decoders, self.on_done = decoders, on_done or (lambda images: None)  # called per batch decoded
        self.parallel = jobs > 1 and "fork" in mp.get_all_start_methods() and any(
            d.name != "greedy" for d in decoders.values())  # greedy is a numpy argmax: not worth a process
        self.jobs = jobs
        self._pending: list = []

    def __enter__(self) -> Decoding:
        if self.parallel:
            self._context = workers.pool(self.jobs, _keep, (self.decoders,), method="fork")
            self._pool = self._context.__enter__()
        return self

    def __exit__(self, *exc) -> bool:
        if self.parallel:
            return bool(self._context.__exit__(*exc))
        return False

    def submit(self, log_probs) -> None:
        """One batch, (N, T, C) or an ensemble's (M, N, T, C) log-probabilities."""
        batch = np.asarray(log_probs, dtype=np.float32)
        images = batch.shape[-3]
        if self.parallel:  # a share of the batch per worker, so that even a single batch uses every core
            for part in np.array_split(batch, max(1, min(self.jobs, images)), axis=-3):
                self._pending.append(self._pool.apply_async(_decode, (np.ascontiguousarray(part),),
                                                            callback=self._counter(part.shape[-3])))
        else:
            self._pending.append(_decode(batch, self.decoders))
            self.on_done(images)

    def _counter(self, images: int):
        return lambda _: self.on_done(images)

    def results(self) -> tuple[dict[str, list[Reading]], dict[str, float]]:
        readings = {name: [] for name in self.decoders}
        seconds = dict.fromkeys(self.decoders, 0.0)
        for pending in self._pending:
            done = pending.get() if self.parallel else pending
            for name, (batch, took) in done.items():
                readings[name].extend(batch)
                seconds[name] += took
        self._pending = []
        return readings, seconds
