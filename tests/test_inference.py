import numpy as np
import torch

from hwr.alphabet import BLANK, encode_many
from hwr.inference import ctc_loss, ctc_loss_fn, recognise
from hwr.model import CRNN


def test_ctc_loss_ignores_padding():
    torch.manual_seed(0)
    log_probs = torch.randn(2, 64, 30).log_softmax(-1)
    labels = torch.from_numpy(encode_many(["ALLAN", "LL"]).astype(np.int64))
    loss = ctc_loss(ctc_loss_fn(), log_probs, labels)
    reference = torch.nn.functional.ctc_loss(
        log_probs.transpose(0, 1), torch.tensor([1, 12, 12, 1, 14, 12, 12]), torch.tensor([64, 64]),
        torch.tensor([5, 2]), blank=BLANK, reduction="mean")
    torch.testing.assert_close(loss, reference)


def test_recognise_subset_in_batches_and_restores_mode():
    torch.manual_seed(0)
    net = CRNN("gru").train()
    images = np.random.default_rng(0).integers(0, 256, (5, 64, 256), dtype=np.uint8)
    labels = encode_many(["A", "B", "C", "D", "E"])
    texts, loss = recognise(net, images, np.array([4, 1, 3]), labels=labels, batch_size=2)
    assert len(texts) == 3 and loss is not None and np.isfinite(loss)
    assert net.training  # put back in training mode
    alone, no_loss = recognise(net, images[[4, 1, 3]], batch_size=3)
    assert alone == texts and no_loss is None
    assert recognise(net, images, np.array([], dtype=np.int64)) == ([], None)
