"""Process pools of the CPU-bound stages: workers' signals, results, shutdown on error."""

from __future__ import annotations

import os
import signal

import pytest

from hwr.core import workers


def _dispositions(_):
    return os.getpid(), signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)


def _fail(x):
    raise ValueError(f"bad item {x}")


@pytest.fixture
def stage_like_handlers():
    """What a stage installs (stages/common.run): SIGTERM raises KeyboardInterrupt."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    yield
    signal.signal(signal.SIGTERM, previous)


@pytest.mark.parametrize("method", [None, "spawn"])
def test_workers_die_on_sigterm_and_leave_ctrl_c_to_the_parent(stage_like_handlers, method):
    with workers.pool(2, method=method) as pool:
        seen = pool.map(_dispositions, range(8))
    assert {s[1] for s in seen} == {signal.SIG_DFL} and {s[2] for s in seen} == {signal.SIG_IGN}
    assert os.getpid() not in {s[0] for s in seen}


def test_the_initializer_runs_in_each_worker_and_results_come_back_in_order():
    with workers.pool(2, os.environ.__setitem__, ("HWR_TEST_WORKER", "set")) as pool:
        out = list(pool.imap(str.upper, ["a", "b", "c"]))
        flags = pool.map(_env_flag, range(4))
    assert out == ["A", "B", "C"] and set(flags) == {"set"}


def _env_flag(_):
    return os.environ.get("HWR_TEST_WORKER")


def test_an_error_terminates_the_workers_and_propagates():
    with pytest.raises(ValueError, match="bad item"):
        with workers.pool(2) as pool:
            pids = {p.pid for p in pool._pool}
            list(pool.imap(_fail, range(4)))
    for pid in pids:  # terminated and reaped: no such process any more
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="reads process states from /proc (Linux)")
def test_workers_do_not_outlive_a_parent_killed_by_sigkill(tmp_path):
    """A stage killed by SIGKILL runs no clean-up; its workers must still go (they would otherwise
    hold the zip and the staged store open): their task queue closes, and they exit."""
    import subprocess
    import sys
    import time

    script = ("import os, sys, time\n"
              "from hwr.core import workers\n"
              "with workers.pool(2) as pool:\n"
              "    print(' '.join(str(p.pid) for p in pool._pool), flush=True)\n"
              "    time.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    pids = [int(p) for p in parent.stdout.readline().split()]
    assert len(pids) == 2
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 20
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if _running(pid)]
        time.sleep(0.1)
    assert not alive, f"workers {alive} outlived their parent"


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


KILLED_PARENT = """
import os, sys, time
from hwr.core import workers

def slow(x):
    time.sleep(30)
    return x

if __name__ == "__main__":
    with workers.pool(2) as pool:
        pids = [p.pid for p in pool._pool]
        print(" ".join(map(str, pids)), flush=True)
        pool.map(slow, range(4))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="PR_SET_PDEATHSIG and /proc are Linux's")
def test_workers_die_with_a_killed_parent(tmp_path):
    """kill -9 of a stage: its workers stop at once (no task finished into a broken pipe, no
    BrokenPipeError traceback printed by orphans)."""
    import subprocess
    import sys
    import time

    script = tmp_path / "parent.py"
    script.write_text(KILLED_PARENT)
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pids = [int(p) for p in parent.stdout.readline().split()]
    assert len(pids) == 2
    parent.kill()
    parent.wait(timeout=10)
    deadline = time.monotonic() + 10
    alive = pids
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = [p for p in pids if _running(p)]
    assert not alive, f"workers {alive} outlived their killed parent"
    assert "Traceback" not in parent.stderr.read()
