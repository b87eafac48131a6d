import numpy as np
import torch

from hwr.core.alphabet import BLANK, encode_many
from hwr.model.ctc import ctc_loss, ctc_loss_fn


def test_ctc_loss_ignores_padding():
    torch.manual_seed(0)
    log_probs = torch.randn(2, 64, 30).log_softmax(-1)
    labels = torch.from_numpy(encode_many(["ALLAN", "LL"]).astype(np.int64))
    loss = ctc_loss(ctc_loss_fn(), log_probs, labels)
    reference = torch.nn.functional.ctc_loss(
        log_probs.transpose(0, 1), torch.tensor([1, 12, 12, 1, 14, 12, 12]), torch.tensor([64, 64]),
        torch.tensor([5, 2]), blank=BLANK, reduction="mean")
    torch.testing.assert_close(loss, reference)
