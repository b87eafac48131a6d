import numpy as np
import torch

from hwr.core.alphabet import encode_many
from hwr.decoding.greedy import greedy_read
from hwr.model.crnn import CRNN
from hwr.model.inference import recognise


def test_recognise_subset_in_batches_and_restores_mode():
    torch.manual_seed(0)
    net = CRNN("gru").train()
    images = np.random.default_rng(0).integers(0, 256, (5, 64, 256), dtype=np.uint8)
    labels = encode_many(["A", "B", "C", "D", "E"])
    texts, loss = recognise(net, images, np.array([4, 1, 3]), labels=labels, batch_size=2,
                            decoder=greedy_read)
    assert len(texts) == 3 and loss is not None and np.isfinite(loss)
    assert net.training  # put back in training mode
    alone, no_loss = recognise(net, images[[4, 1, 3]], batch_size=3, decoder=greedy_read)
    assert alone == texts and no_loss is None
    assert recognise(net, images, np.array([], dtype=np.int64), decoder=greedy_read) == ([], None)
