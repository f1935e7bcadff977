"""examples/echo_server.py and echo_client.py, run as a user would run them.

The server runs as a subprocess on a free loopback port (``0``: it prints the
port it got), the client talks to it, and SIGTERM must stop the server
cleanly. Both inherit the environment, so the engine under test
(``IOLOOP_NO_EXTENSIONS``/``IOLOOP_REQUIRE_EXTENSIONS``) is theirs too.
"""

import re
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# Seconds: the server must say where it listens this fast, the client must
# finish this fast, and the server must exit this fast after SIGTERM.
STARTUP_TIMEOUT = 30
CLIENT_TIMEOUT = 60
SHUTDOWN_TIMEOUT = 15

pytestmark = pytest.mark.skipif(
    not (EXAMPLES / "echo_server.py").exists(),
    reason="examples/ not shipped alongside the tests")


def _read_line(proc, timeout):
    """First stdout line of proc, or fail after timeout seconds."""
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    try:
        if not sel.select(timeout):
            pytest.fail(f"server printed nothing within {timeout}s")
        return proc.stdout.readline()
    finally:
        sel.close()


def client_command(port):
    return [sys.executable, str(EXAMPLES / "echo_client.py"), str(port)]


def run_client(port):
    """Run echo_client.py against ``port`` to the end."""
    return subprocess.run(client_command(port), capture_output=True, text=True,
                          timeout=CLIENT_TIMEOUT)


@pytest.fixture
def echo_server():
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "echo_server.py"), "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = _read_line(proc, STARTUP_TIMEOUT)
        match = re.fullmatch(r"listening on 127\.0\.0\.1:(\d+)\n", line)
        if not match:
            proc.kill()
            pytest.fail(f"unexpected first line {line!r}; "
                        f"stderr: {proc.stderr.read()!r}")
        yield proc, int(match.group(1))
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(SHUTDOWN_TIMEOUT)
        proc.stdout.close()
        proc.stderr.close()


def test_echo_client_gets_every_message_back(echo_server):
    server, port = echo_server
    client = run_client(port)
    assert client.returncode == 0, (client.stdout, client.stderr)
    assert "got back b'hello'" in client.stdout
    assert client.stdout.rstrip().endswith("all echoed")
    assert server.poll() is None, "server died while serving"


def test_two_clients_at_once(echo_server):
    server, port = echo_server
    clients = [
        subprocess.Popen(client_command(port),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    for client in clients:
        out, err = client.communicate(timeout=CLIENT_TIMEOUT)
        assert client.returncode == 0, (out, err)


def test_server_stops_cleanly_on_sigterm(echo_server):
    server, port = echo_server
    # Give it a connection to close too.
    client = run_client(port)
    assert client.returncode == 0, (client.stdout, client.stderr)
    start = time.monotonic()
    server.send_signal(signal.SIGTERM)
    assert server.wait(SHUTDOWN_TIMEOUT) == 0, server.stderr.read()
    assert time.monotonic() - start < SHUTDOWN_TIMEOUT
    assert "Traceback" not in server.stderr.read()


def test_client_fails_without_server():
    import socket

    with socket.socket() as s:  # a port nobody listens on (bound, no listen)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        client = run_client(port)
    assert client.returncode == 2, (client.stdout, client.stderr)


@pytest.mark.parametrize("script", ["echo_server.py", "echo_client.py"])
def test_help_and_usage_errors(script):
    """--help prints the usage and exits 0; a bad port is a usage error
    (exit 2, a one-line message, no traceback)."""
    path = str(EXAMPLES / script)
    run = subprocess.run([sys.executable, path, "--help"], capture_output=True, text=True,
                         timeout=CLIENT_TIMEOUT)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"usage: {script} [-h] [port]"), run.stdout
    assert "port" in run.stdout and run.stderr == ""
    for bad in ("notaport", "65536"):
        run = subprocess.run([sys.executable, path, bad], capture_output=True, text=True,
                             timeout=CLIENT_TIMEOUT)
        assert run.returncode == 2, (run.stdout, run.stderr)
        assert "usage:" in run.stderr and "argument port" in run.stderr, run.stderr
        assert "Traceback" not in run.stderr
