"""How ``hwr`` reads its command line: help a person reads, one-line errors, and port checks.

The parser's errors are one line starting ``error:`` and exit 2, as a HwrError's are
(``hwr.core.errors.exit_codes``), instead of argparse's usage block followed by the error.
"""

from __future__ import annotations

import argparse
import errno
import socket

from hwr.core.errors import USER_ERROR, HwrError

MAX_PORT = 65535


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the lines of descriptions and examples as written, and ends each option's help with its
    default, as ArgumentDefaultsHelpFormatter does, except where there is none to show (None, a flag
    that is off) or the help already says what the default is."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default  # by identity: 0 is a default to show, False (a flag that is off) is not
        if (action.option_strings and default is not None and default is not False
                and default != argparse.SUPPRESS and "(default" not in text):
            text += " (default: %(default)s)"
        return text


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line; its subcommands' parsers are of this class too."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(USER_ERROR, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def port(text: str) -> int:
    """The argparse type of ``--port``: a TCP port a server can listen on."""
    try:
        value = int(text)
    except ValueError:
        value = 0  # said as out of range below: the one message covers both
    if not 1 <= value <= MAX_PORT:
        raise argparse.ArgumentTypeError(f"{text} is not a port; give a whole number from 1 to {MAX_PORT}")
    return value


def check_port(host: str, port: int) -> None:
    """Raises a HwrError saying why ``host``:``port`` cannot be listened on, if it cannot.

    Binds a socket as uvicorn does (IPv6 when the host has a colon, SO_REUSEADDR), then closes it, so
    that a port in use is one line before the server says it is serving instead of a log line after.
    Another program can still take the port in the moment between this check and uvicorn's bind."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except socket.gaierror:
        raise HwrError(f"--host {host} is neither an address nor a name this machine can resolve; "
                       "give e.g. 127.0.0.1 (this machine only) or 0.0.0.0 (every network)") from None
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise HwrError(f"port {port} on {host} is in use (another server listens there); "
                           "choose another with --port") from None
        if exc.errno == errno.EACCES:
            raise HwrError(f"port {port} on {host} needs administrator rights (ports below 1024 do); "
                           "choose another with --port, e.g. 8000") from None
        if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
            raise HwrError(f"--host {host} is not an address of this machine; give one of its addresses, "
                           "or 0.0.0.0 for every network") from None
        raise HwrError(f"cannot listen on port {port} of {host}: {exc.strerror or exc}") from None
