"""hwr.core.files: atomic outputs, created with the permissions of the user's umask."""

import json
import os
import stat

import numpy as np
import pandas as pd
import pytest
import torch

from hwr.core import files, staging
from hwr.data.store import StoreWriter
from hwr.model.checkpoints import atomic_save
from hwr.synth import generate_dataset


@pytest.fixture
def umask():
    """Sets the process umask for the test (and restores it)."""
    previous = os.umask(0o022)
    yield lambda mask: os.umask(mask)
    os.umask(previous)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_writes_replace_whole_files_and_leave_no_temporary(tmp_path):
    path = tmp_path / "out" / "report.json"
    files.write_json(path, {"a": 1})
    files.write_json(path, {"b": "é"})
    assert json.loads(path.read_text(encoding="utf-8")) == {"b": "é"}
    files.write_csv(tmp_path / "t.csv", pd.DataFrame({"x": [1, 2]}))
    assert (tmp_path / "t.csv").read_bytes() == b"x\n1\n2\n"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["out", "report.json", "t.csv"]


def test_a_failed_write_keeps_the_old_file_and_cleans_up(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with files.atomic_file(path, "wb") as f:
            f.write(b"half")
            raise RuntimeError("killed")
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["model.pt"]


@pytest.mark.parametrize("mask,file_mode,dir_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700),
                                                      (0o002, 0o664, 0o775)])
def test_outputs_get_the_umask_permissions(tmp_path, umask, mask, file_mode, dir_mode):
    """As any other tool's files would: not mkstemp's private 0600 nor mkdtemp's 0700."""
    umask(mask)
    files.write_text(tmp_path / "a.txt", "a")
    with files.atomic_file(tmp_path / "b.bin", "wb") as f:
        f.write(b"b")
    atomic_save({"w": torch.zeros(2)}, tmp_path / "c.pt")
    with staging.Outputs(tmp_path / "d") as out:
        out[tmp_path / "d"].mkdir()
        out.publish()
    for name in ("a.txt", "b.bin", "c.pt"):
        assert mode(tmp_path / name) == file_mode, name
    assert mode(tmp_path / "d") == dir_mode


def test_stores_and_synthetic_data_get_the_umask_permissions(tmp_path, umask):
    umask(0o022)
    with StoreWriter(tmp_path / "store") as writer:
        writer.append(np.zeros((1, 64, 256), np.uint8))
        writer.commit(np.full((1, 24), -1, np.int16), pd.DataFrame({"FILENAME": ["a.jpg"], "IDENTITY": ["A"]}))
    assert mode(tmp_path / "store") == 0o755
    assert {p.name: mode(p) for p in (tmp_path / "store").iterdir()} == {
        name: 0o644 for name in ("images.u8", "labels.npy", "index.csv", "meta.json")}
    generate_dataset(tmp_path / "synth", {"test": 2}, jobs=1)
    assert {mode(p) for p in (tmp_path / "synth").iterdir()} == {0o644}


def test_only_new_files_are_written():
    with pytest.raises(ValueError, match="mode"):
        with files.atomic_file("x", "a"):
            pass


def test_write_bytes(tmp_path):
    files.write_bytes(tmp_path / "b.bin", b"\x00\xff")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\xff"
