"""Data-parallel training: hwr.training.loop.train under ``torchrun --standalone --nproc_per_node 2``.

Two CPU processes (gloo, one thread each) train the GRU CRNN for 2 epochs on tiny data (32 random
images, batch 8 per rank). A small runner script wraps a few hwr.training functions to record,
per rank, which rows each optimiser step saw, a hash of the weights after every step, and every
file write; each rank writes these to rank<N>.json. The test checks that:

* both ranks stepped (2 steps per epoch each: 16 images per rank per epoch, batch 8);
* each epoch, the ranks saw disjoint halves of the training rows (the data is sharded);
* the weights were identical on both ranks after every step (gradients are averaged; with
  different data per rank they would otherwise diverge at the first step);
* only rank 0 wrote checkpoints, the model and dvclive logs, and the summary says world_size 2.
"""

from __future__ import annotations

import json
import sys
import textwrap

import _support
import pytest
import torch.distributed as dist

RUNNER = textwrap.dedent(
    '''
    """Runner: hwr.training.loop.train with per-rank instrumentation; writes rank<N>.json."""
    import hashlib, json, os, sys
    from pathlib import Path

    import dvclive
    import torch

    from hwr.training import loop as training, steps
    from hwr.params import SubsetParams, TrainParams
    from hwr.data.store import open_store

    rank = int(os.environ["RANK"])
    record = {"rank": rank, "world": int(os.environ["WORLD_SIZE"]), "rows": [], "hashes": [], "writes": [],
              "lives": 0}

    def weights_hash(optimiser):
        h = hashlib.sha256()
        for group in optimiser.param_groups:
            for p in group["params"]:
                h.update(p.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()

    original_step = torch.optim.Adam.step

    def step(self, *args, **kwargs):
        out = original_step(self, *args, **kwargs)
        record["hashes"].append(weights_hash(self))
        return out

    torch.optim.Adam.step = step

    original_to_device = steps.to_device  # batches are read in hwr.training.steps

    def to_device(batch, device):  # images carry their row number in pixel (0, 0)
        if batch.dtype.name == "uint8" and batch.ndim == 3:
            record["rows"].append([int(v) for v in batch[:, 0, 0]])
        return original_to_device(batch, device)

    steps.to_device = to_device

    def recorded(name, fn):
        def wrapper(*args, **kwargs):
            record["writes"].append([name, str(args[1])])
            return fn(*args, **kwargs)
        return wrapper

    training.atomic_save = recorded("checkpoint", training.atomic_save)
    training.save_model = recorded("model", training.save_model)

    class Live(dvclive.Live):
        def __init__(self, *args, **kwargs):
            record["lives"] += 1
            super().__init__(*args, **kwargs)

    dvclive.Live = Live

    data = Path(sys.argv[1])
    params = TrainParams(batch_size=8, lr=0.001, schedule="constant", clip=0.0, aux_weight=0.0, epochs=2, steps=0,
                         eval_every=0, precision="fp32", seed=0, eval_batch_size=16, train_eval_size=8,
                         subsets={"first": SubsetParams(32, 8), "full": SubsetParams(32, 8)})
    summary = training.train(training.Plan("gru", "first", 32, 8), params, open_store(data / "train"),
                             open_store(data / "validation"), model_path=Path("out/model.pt"),
                             checkpoint_path=Path("out/checkpoint.pt"), live_dir=Path("out/live"),
                             summary_path=Path("out/summary.json"))
    record["summary"] = summary
    Path(f"rank{rank}.json").write_text(json.dumps(record))
    '''
)


def _store(path, n: int, seed: int) -> None:
    import numpy as np
    import pandas as pd

    from hwr.core.alphabet import encode_many
    from hwr.data.store import StoreWriter

    rng = np.random.default_rng(seed)
    images = np.full((n, 64, 256), 255, np.uint8)
    images[:, 16:48, 8:160] = rng.integers(0, 256, (n, 32, 152), dtype=np.uint8)
    images[:, 0, 0] = np.arange(n)  # the row number, read back by the runner
    texts = ["".join(rng.choice(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), rng.integers(3, 9))) for _ in range(n)]
    with StoreWriter(path, n) as writer:
        writer.append(images)
        writer.commit(encode_many(texts), pd.DataFrame({"FILENAME": [f"F{i}.jpg" for i in range(n)],
                                                        "IDENTITY": texts}), {"resize": "crop"})


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not available in this torch build")
def test_two_process_ddp_training_stays_in_sync(tmp_path):
    if not dist.is_gloo_available():
        pytest.skip("torch.distributed has no gloo backend in this torch build (needed for CPU DDP)")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "runner.py").write_text(RUNNER)
    env = _support.subprocess_env(tmp_path)  # OMP_NUM_THREADS=1, git identity, no WORLD_SIZE
    _support.init_git_repo(repo, env)  # dvclive reads the HEAD commit
    _store(tmp_path / "data" / "train", 32, 1)
    _store(tmp_path / "data" / "validation", 8, 2)

    result = _support.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "runner.py", str(tmp_path / "data")], repo, env, timeout=240)
    assert result.returncode == 0, _support.describe(result)
    ranks = [json.loads((repo / f"rank{r}.json").read_text()) for r in (0, 1)]

    steps_per_epoch, epochs = 2, 2  # 32 images / 2 ranks / batch 8
    for r in ranks:
        assert r["world"] == 2
        assert len(r["hashes"]) == steps_per_epoch * epochs, f"rank {r['rank']} stepped {len(r['hashes'])} times"
        assert len(r["rows"]) == steps_per_epoch * epochs and all(len(b) == 8 for b in r["rows"])
    for epoch in range(epochs):
        seen = [set(sum(r["rows"][epoch * steps_per_epoch : (epoch + 1) * steps_per_epoch], [])) for r in ranks]
        assert not seen[0] & seen[1], f"epoch {epoch + 1}: the ranks saw the same rows"
        assert seen[0] | seen[1] == set(range(32)), f"epoch {epoch + 1}: not every row was seen once"

    assert ranks[0]["hashes"] == ranks[1]["hashes"], "weights diverged between ranks"
    assert len(set(ranks[0]["hashes"])) == len(ranks[0]["hashes"]), "some step left the weights unchanged"

    assert ranks[1]["writes"] == [] and ranks[1]["lives"] == 0 and ranks[1]["summary"] is None, \
        f"rank 1 wrote outputs: {ranks[1]['writes']}, {ranks[1]['lives']} dvclive log(s)"
    kinds = [w[0] for w in ranks[0]["writes"]]
    assert kinds == ["checkpoint"] * epochs + ["model"] and ranks[0]["lives"] == 1
    summary = json.loads((repo / "out" / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["train_images"] == 32 and summary == ranks[0]["summary"]
    assert (repo / "out" / "model.pt").is_file() and (repo / "out" / "live" / "metrics.json").is_file()
    assert not (repo / "out" / "checkpoint.pt").exists()
