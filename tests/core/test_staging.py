"""hwr.core.staging: a stage's outputs all new or all old, and what a killed run leaves removed by the next."""

import os
import subprocess
import sys

import pytest

from hwr.core import staging
from hwr.core.staging import Outputs


def make_outputs(root):
    folder, file = root / "data" / "tensors", root / "metrics" / "m.json"
    folder.mkdir(parents=True)
    (folder / "old.txt").write_text("old")
    file.parent.mkdir()
    file.write_text("old")
    return folder, file


def test_outputs_are_published_together(tmp_path):
    folder, file = make_outputs(tmp_path)
    with Outputs(folder, file) as out:
        (out[folder] / "split").mkdir(parents=True)
        (out[folder] / "split" / "new.txt").write_text("new")
        out[file].write_text("new")
        assert (folder / "old.txt").read_text() == "old" and file.read_text() == "old"  # nothing moved yet
        out.publish()
    assert sorted(p.name for p in folder.iterdir()) == ["split"] and (folder / "split" / "new.txt").read_text() == "new"
    assert file.read_text() == "new"
    assert sorted(p.name for p in tmp_path.rglob(".*")) == []  # no sibling left


def test_a_failure_before_publish_changes_nothing(tmp_path):
    folder, file = make_outputs(tmp_path)
    with pytest.raises(RuntimeError):
        with Outputs(folder, file) as out:
            out[folder].mkdir()
            (out[folder] / "half.txt").write_text("half")
            out[file].write_text("new")
            raise RuntimeError("the last split failed")
    assert [p.name for p in folder.iterdir()] == ["old.txt"] and file.read_text() == "old"
    assert sorted(p.name for p in tmp_path.rglob(".*")) == []


def test_an_output_not_written_is_left_as_it_was(tmp_path):
    folder, file = make_outputs(tmp_path)
    with Outputs(folder, file) as out:
        out[file].write_text("new")
        out.publish()
    assert (folder / "old.txt").is_file() and file.read_text() == "new"


def test_what_a_killed_run_left_is_removed_by_the_next(tmp_path):
    """A process that staged outputs and died by SIGKILL (here: one that exits without cleaning up)
    leaves hidden siblings; the next run over the same outputs removes them, and never those of a
    live process."""
    folder, file = make_outputs(tmp_path)
    script = ("import sys; from pathlib import Path; from hwr.core.staging import Outputs\n"
              "out = Outputs(Path(sys.argv[1]), Path(sys.argv[2])).prepare()\n"
              "out[Path(sys.argv[1])].mkdir(); (out[Path(sys.argv[1])] / 'x').write_text('half')\n"
              "out[Path(sys.argv[2])].write_text('half')\n"
              "import os; os._exit(9)\n")
    subprocess.run([sys.executable, "-c", script, str(folder), str(file)], check=False)
    left = sorted(p.name for p in tmp_path.rglob(".*"))
    assert len(left) == 2 and all(name.endswith(".new") for name in left)
    live = staging.sibling(folder)  # this process's own: alive, so kept
    live.mkdir()
    removed = staging.remove_stale(folder) + staging.remove_stale(file)
    assert sorted(p.name for p in removed) == left
    assert sorted(p.name for p in tmp_path.rglob(".*")) == [live.name]
    assert [p.name for p in folder.iterdir()] == ["old.txt"] and file.read_text() == "old"


def test_siblings_of_other_hosts_and_other_names_are_left_alone(tmp_path):
    folder = tmp_path / "tensors"
    others = [tmp_path / ".tensors.otherhost-1.new", tmp_path / ".tensorsX.{}-1.new".format(staging._host()),
              tmp_path / ".train.abc123"]
    for path in others:
        path.mkdir()
    assert staging.remove_stale(folder) == []
    assert all(path.exists() for path in others)


def test_sibling_names_carry_host_and_process(tmp_path):
    name = staging.sibling(tmp_path / "tensors").name
    assert name == f".tensors.{staging._host()}-{os.getpid()}.new"
    assert staging.sibling(tmp_path / "tensors", "old").name.endswith(".old")
