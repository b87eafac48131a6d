import argparse
import socket

import pytest

from hwr.app import options
from hwr.core.errors import HwrError


def parser_with(*arguments) -> options.Parser:
    parser = options.Parser(prog="tool")
    for names, kwargs in arguments:
        parser.add_argument(*names, **kwargs)
    return parser


def test_help_shows_defaults_except_where_there_is_none_to_show(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # one option a line
    parser = parser_with((["--seed"], {"type": int, "default": 0, "help": "random seed"}),
                         (["--name"], {"default": "x", "help": "a name"}),
                         (["--jobs"], {"type": int, "help": "workers (default: all cores)"}),
                         (["--flag"], {"action": "store_true", "help": "a switch"}),
                         (["--said"], {"default": 3, "help": "said already (default: three)"}))
    lines = {line.split()[0]: line for line in parser.format_help().splitlines() if line.strip().startswith("--")}
    assert lines["--seed"].endswith("random seed (default: 0)")  # 0 is a default, not "none"
    assert lines["--name"].endswith("a name (default: x)")
    assert lines["--jobs"].endswith("workers (default: all cores)")
    assert lines["--flag"].endswith("a switch")
    assert lines["--said"].endswith("said already (default: three)")


def test_descriptions_and_examples_keep_their_lines():
    parser = options.Parser(prog="tool", description="first line\nsecond line", epilog="Example:\n  tool --x   why")
    text = parser.format_help()
    assert "first line\nsecond line" in text and "Example:\n  tool --x   why" in text


def test_parser_errors_are_one_line(capsys):
    parser = parser_with((["--n"], {"type": int}))
    with pytest.raises(SystemExit) as info:
        parser.parse_args(["--n", "many"])
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert err == "error: tool: argument --n: invalid int value: 'many' (see tool --help)\n"


@pytest.mark.parametrize("text", ["0", "65536", "99999", "-1", "http", ""])
def test_port_is_1_to_65535(text):
    with pytest.raises(argparse.ArgumentTypeError, match=f"^{text} is not a port; give a whole number from 1 to 65535$"):
        options.port(text)


def test_port_values():
    assert options.port("1") == 1 and options.port("8000") == 8000 and options.port("65535") == 65535


def test_a_free_port_passes_a_busy_one_is_one_line():
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        busy = held.getsockname()[1]
        with pytest.raises(HwrError) as info:
            options.check_port("127.0.0.1", busy)
        assert str(info.value) == (f"port {busy} on 127.0.0.1 is in use (another server listens there); "
                                   "choose another with --port")
    options.check_port("127.0.0.1", busy)  # closed: free again (SO_REUSEADDR, as uvicorn binds)


@pytest.mark.parametrize("host, message", [
    ("no-such-host.invalid", "is neither an address nor a name"),
    ("192.0.2.1", "is not an address of this machine"),  # TEST-NET-1: never a local address
])
def test_a_host_that_cannot_be_listened_on_is_one_line(host, message):
    with pytest.raises(HwrError, match=message) as info:
        options.check_port(host, 8000)
    assert str(info.value).startswith(f"--host {host} ") and "\n" not in str(info.value)
