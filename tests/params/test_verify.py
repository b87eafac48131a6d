"""python -m hwr.params.verify: a params file checked before DVC reads it."""

import subprocess
import sys

import yaml


def _verify(tmp_path, params: dict) -> subprocess.CompletedProcess:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return subprocess.run([sys.executable, "-m", "hwr.params.verify", str(path)], capture_output=True, text=True,
                          timeout=60)


def test_an_empty_path_dvc_cannot_read_is_named_in_one_line(tmp_path):
    """data.raw_dir: "" stops DVC itself with "unexpected error"; this check names the key."""
    result = _verify(tmp_path, {"data": {"raw_dir": ""}})
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == "error: params: data.raw_dir='' is impossible; expected a non-empty string\n"


def test_good_params_pass(tmp_path):
    result = _verify(tmp_path, {"rnn": "lstm"})
    assert result.returncode == 0 and result.stdout.endswith("every value checked\n")
