"""hwr.decoding.parallel: batches decoded on worker processes read as decoded in the caller, in order."""

import os

import numpy as np
import pytest
from test_beam import NAMES

from hwr.decoding.factory import GREEDY, Decoder, make_decoder
from hwr.decoding.lexicon import write_lexicon
from hwr.decoding.parallel import Decoding
from hwr.params import EvaluateParams


@pytest.fixture(scope="module")
def decoders(tmp_path_factory):
    from collections import Counter

    path = tmp_path_factory.mktemp("lexicon")
    write_lexicon(path, Counter(NAMES), order=4)
    return {"greedy": GREEDY, "lexicon": make_decoder("lexicon", EvaluateParams(), lexicon_dir=path, top_k=2)}


def batches(count: int, size: int = 5):
    rng = np.random.default_rng(0)
    for _ in range(count):
        scores = rng.normal(size=(size, 20, 30)) * 3
        yield scores - np.log(np.exp(scores).sum(-1, keepdims=True))


def test_workers_read_what_the_caller_reads_in_batch_order(decoders):
    done = []
    with Decoding(decoders, jobs=2, on_done=done.append) as parallel:
        assert parallel.parallel
        for batch in batches(6):
            parallel.submit(batch)
        readings, seconds = parallel.results()
    with Decoding(decoders, jobs=1) as serial:
        assert not serial.parallel
        for batch in batches(6):
            serial.submit(batch)
        expected, _ = serial.results()
    assert readings == expected and len(readings["lexicon"]) == 30
    assert readings["lexicon"][0].alternatives  # the whole reading travels back, alternatives too
    assert sorted(done) == [2] * 6 + [3] * 6 and all(s > 0 for s in seconds.values())  # 5 images: 3 + 2 a worker


def test_greedy_alone_stays_in_the_caller():
    with Decoding({"greedy": GREEDY}, jobs=4) as decoding:
        assert not decoding.parallel
        decoding.submit(next(batches(1)))
        readings, _ = decoding.results()
    assert len(readings["greedy"]) == 5


def broken(log_probs):
    raise ZeroDivisionError("a decoder's own failure")


def test_an_error_in_a_worker_reaches_the_caller():
    pid = os.getpid()
    with pytest.raises(ZeroDivisionError, match="own failure"):
        with Decoding({"beam": Decoder("beam", {}, broken)}, jobs=2) as decoding:
            assert decoding.parallel
            decoding.submit(next(batches(1)))
            decoding.results()
    assert os.getpid() == pid  # the exception is the worker's, raised here
