import json
import os
import stat
import time
from pathlib import Path

import pytest
from _support import fifo_with_reader

from hwr.app.output import escape, json_line, open_target, tsv_line
from hwr.decoding.greedy import Reading


def test_tsv_line_escapes_the_path_and_lists_alternatives():
    reading = Reading("LEA", 0.91234, (("LEO", 0.05),))
    assert tsv_line("a\tb\\c.jpg", reading) == "a\\tb\\\\c.jpg\tLEA\t0.9123\tLEO\t0.0500\n"
    assert escape("x\ny\r") == "x\\ny\\r"


def test_json_line_is_one_object_with_alternatives_only_when_given():
    assert json.loads(json_line("s.jpg", Reading("MARTIN", 0.5))) == {"path": "s.jpg", "text": "MARTIN",
                                                                       "confidence": 0.5}
    line = json_line("é.jpg", Reading("LEA", 0.9, (("LEO", 0.1),)))
    assert line.endswith("\n") and "\n" not in line[:-1] and "é" in line
    assert json.loads(line)["alternatives"] == [{"text": "LEO", "confidence": 0.1}]


def test_a_new_or_existing_file_is_written_whole(tmp_path):
    target = tmp_path / "sub" / "names.tsv"
    with open_target(target) as out:
        out.write("a\n")
        assert not target.exists()  # nothing there until the block ends
    assert target.read_text() == "a\n"
    with pytest.raises(RuntimeError), open_target(target) as out:
        out.write("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "a\n" and sorted(p.name for p in target.parent.iterdir()) == ["names.tsv"]


def test_a_symlink_is_kept_and_its_target_replaced(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "names.tsv").write_text("old\n")
    link = tmp_path / "latest.tsv"
    link.symlink_to(Path("real") / "names.tsv")  # relative, as ln -s makes them
    with open_target(link) as out:
        out.write("new\n")
    assert link.is_symlink() and os.readlink(link) == str(Path("real") / "names.tsv")
    assert (tmp_path / "real" / "names.tsv").read_text() == "new\n"
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == ["names.tsv"]  # no temporary file left
    dangling = tmp_path / "next.tsv"
    dangling.symlink_to(tmp_path / "later" / "names.tsv")
    with open_target(dangling) as out:
        out.write("created\n")
    assert dangling.is_symlink() and (tmp_path / "later" / "names.tsv").read_text() == "created\n"


def test_a_fifo_is_written_into_as_lines_come(tmp_path):
    fifo = tmp_path / "results"
    thread, received = fifo_with_reader(fifo)
    with open_target(fifo) as out:  # blocks until the reader opens it, as any writer of a FIFO does
        out.write("first\n")
        out.flush()
        deadline = time.monotonic() + 10
        while not received and time.monotonic() < deadline:
            time.sleep(0.01)
        assert received == ["first\n"]  # read before the block ends: streamed, not written whole
        out.write("second\n")
    thread.join(10)
    assert received == ["first\n", "second\n"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_character_device_is_written_into():
    with open_target("/dev/null") as out:
        out.write("gone\n")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


@pytest.mark.skipif(not Path("/dev/fd").is_dir(), reason="needs /dev/fd (Linux)")
def test_an_open_descriptor_is_written_into_not_replaced(tmp_path):
    """/dev/stdout and /dev/fd/N of a file the shell opened (hwr predict -o /dev/stdout >> log)."""
    read_end, write_end = os.pipe()
    with open_target(f"/dev/fd/{write_end}") as out:
        out.write("piped\n")
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        assert pipe.read() == "piped\n"
    log = tmp_path / "log"
    log.write_text("earlier\n")
    inode = log.stat().st_ino
    fd = os.open(log, os.O_WRONLY | os.O_APPEND)
    try:
        with open_target(f"/dev/fd/{fd}") as out:
            out.write("appended\n")
    finally:
        os.close(fd)
    assert log.read_text() == "earlier\nappended\n" and log.stat().st_ino == inode


def test_a_folder_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(IsADirectoryError, match="a folder; give a file name"), open_target(tmp_path):
        pytest.fail("the block ran")
