"""Small helpers every part of the benchmark uses: the no-op callback, the
skip exception, reading a boolean environment variable, the tail of a
process's output, and the socket options of every TCP connection."""

import os
import socket


def _noop():
    pass


class _Skip(Exception):
    """The workload cannot run on this machine (reported as skipped)."""


def _tune(sock):
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _env_flag(name):
    # The same reading as ioloop's: unset, "", 0, false, no mean off.
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def _tail(text, lines=15):
    return "\n".join(text.strip().splitlines()[-lines:])
