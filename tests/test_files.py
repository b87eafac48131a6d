import pytest

from hwr.files import atomic_open, write_bytes, write_text


def test_atomic_open_renames_only_on_success(tmp_path):
    target = tmp_path / "out" / "names.tsv"
    write_text(target, "old\n")
    with pytest.raises(RuntimeError):
        with atomic_open(target) as f:
            f.write("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old\n" and [p.name for p in target.parent.iterdir()] == ["names.tsv"]
    with atomic_open(target) as f:
        f.write("new ✓\n")
    assert target.read_text(encoding="utf-8") == "new ✓\n"
    write_bytes(tmp_path / "b.bin", b"\x00\xff")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\xff"
