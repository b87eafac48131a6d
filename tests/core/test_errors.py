"""hwr.core.errors.exit_codes: the one mapping of errors to exit codes that stages and the CLI share."""

import errno
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from hwr.core.errors import HwrError, exit_codes


def test_a_user_error_is_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as stop:
        with exit_codes():
            raise HwrError("params: train.lr=-1 is impossible; expected a number > 0")
    assert stop.value.code == 2
    assert capsys.readouterr().err == "error: params: train.lr=-1 is impossible; expected a number > 0\n"


def test_a_full_disk_is_one_line_however_deeply_chained(capsys):
    """ENOSPC raised while handling ENOSPC, wrapped in another error (as a failing worker pool and
    the clean-up after it chain them): one line naming the file, exit 2."""
    with pytest.raises(SystemExit) as stop:
        with exit_codes():
            try:
                try:
                    raise OSError(errno.ENOSPC, "No space left on device", "data/tensors/train/images.u8")
                except OSError:
                    raise OSError(errno.ENOSPC, "No space left on device", "data/.tensors.new/meta.json")
            except OSError as exc:
                raise RuntimeError("the preprocess workers failed") from exc
    err = capsys.readouterr().err
    assert stop.value.code == 2 and len(err.splitlines()) == 1
    assert err.startswith("error: data/.tensors.new/meta.json: cannot write: the disk is full; free some space")
    with pytest.raises(PermissionError):  # another OSError is not the disk's: it keeps its traceback
        with exit_codes():
            raise PermissionError(errno.EACCES, "Permission denied", "x")


def test_ctrl_c_exits_130_with_a_line_saying_so(capsys):
    with pytest.raises(SystemExit) as stop:
        with exit_codes():
            raise KeyboardInterrupt
    assert stop.value.code == 130 and capsys.readouterr().err.startswith("interrupted:")


def test_a_bug_keeps_its_traceback_and_nothing_else_changes():
    with pytest.raises(ZeroDivisionError):
        with exit_codes():
            1 / 0
    with exit_codes():
        pass  # a clean run returns
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, "the SIGTERM handler is restored"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_stops_like_ctrl_c(tmp_path):
    """A stopped command runs its clean-up (finally blocks) and exits 130, as with Ctrl-C."""
    script = textwrap.dedent("""
        import os, signal, sys, time
        from hwr.core.errors import exit_codes
        with exit_codes():
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(30)
            finally:
                print("cleaned up", flush=True)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert result.returncode == 130 and result.stdout == "cleaned up\n", result.stderr
    assert result.stderr.startswith("interrupted:")
