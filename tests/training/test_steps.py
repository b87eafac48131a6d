"""hwr.training.steps: each step's rows depend on the step alone, ranks share an epoch without
overlap, and run_steps trains the steps asked for."""

import numpy as np
import torch

from hwr.params import TrainParams
from hwr.training.steps import Batches, run_steps
from hwr.training.trainer import Trainer

CPU = torch.device("cpu")


def test_every_row_once_an_epoch_and_the_same_rows_for_a_step_whatever_came_before():
    idx = np.arange(100, 130)
    params = TrainParams(batch_size=8, seed=3)
    batches = Batches(None, idx, params, CPU)
    assert batches.steps_per_epoch == 4  # 30 rows: 8 + 8 + 8 + 6
    epoch = np.concatenate([batches.rows(step) for step in range(4)])
    assert sorted(epoch) == list(idx)
    second = [batches.rows(step) for step in range(4, 8)]
    assert not np.array_equal(np.concatenate(second), epoch)  # a new order each epoch
    fresh = Batches(None, idx, params, CPU)  # as after a resume at step 5
    np.testing.assert_array_equal(fresh.rows(5), second[1])


def test_ranks_share_an_epoch_without_overlap():
    idx, params = np.arange(32), TrainParams(batch_size=8, seed=0)
    shares = [Batches(None, idx, params, CPU, rank, 2) for rank in (0, 1)]
    seen = [set(np.concatenate([b.rows(step) for step in range(b.steps_per_epoch)])) for b in shares]
    assert not seen[0] & seen[1] and seen[0] | seen[1] == set(range(32))


def test_run_steps_trains_the_steps_asked_for(tmp_path):
    import _support

    store = _support.tiny_store(tmp_path / "train", 6, 1)
    params = TrainParams(batch_size=4, precision="fp32", aux_weight=1.0)
    torch.manual_seed(0)
    trainer = Trainer("gru", params, CPU, None)
    done = list(run_steps(trainer, Batches(store, np.arange(6), params, CPU), 1, 3))
    assert [d.step for d in done] == [2, 3] and [d.images for d in done] == [2, 4]  # step 1 is an epoch's end
    assert all(d.loss > 0 and d.aux_loss > 0 and d.seconds > 0 for d in done)


def test_masking_changes_only_whole_columns_and_leaves_the_warps_as_they_were(tmp_path):
    import _support

    store = _support.tiny_store(tmp_path / "train", 8, 1)
    rows = np.arange(8)
    plain, _ = Batches(store, rows, TrainParams(batch_size=8), CPU).tensors(3, rows)
    warped, _ = Batches(store, rows, TrainParams(batch_size=8, augment=True), CPU).tensors(3, rows)
    both, labels = Batches(store, rows, TrainParams(batch_size=8, augment=True, mask=0.2), CPU).tensors(3, rows)
    changed = both != warped
    assert changed.any() and bool((both[changed] == 255).all())  # masking only whitens
    white_columns = (both == 255).all(dim=1)
    assert bool(white_columns.unsqueeze(1).expand_as(both)[changed].all())  # ... whole columns
    assert not torch.equal(plain, warped)
    again, _ = Batches(store, rows, TrainParams(batch_size=8, augment=True, mask=0.2), CPU).tensors(3, rows)
    assert torch.equal(both, again) and labels.shape[0] == 8
