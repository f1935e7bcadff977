"""Shared fixtures.

The whole suite runs once per engine: the engine is chosen when ``ioloop``
is imported (``IOLOOP_NO_EXTENSIONS=1`` forces the pure-Python twin), so CI
runs pytest twice. ``IOLOOP_REQUIRE_EXTENSIONS=1`` makes the Cython run fail
loudly instead of silently testing the twin.
"""

import gc
import os
import threading

import pytest

import ioloop


def pytest_report_header(config):
    return f"ioloop engine: {ioloop.implementation}"


def open_fds():
    return set(os.listdir("/proc/self/fd"))


@pytest.fixture
def loop():
    """A fresh, closed-after-use IOLoop that is not current anywhere."""
    lp = ioloop.IOLoop()
    try:
        yield lp
    finally:
        if lp.is_running():
            lp.stop()
        if not lp.is_closed():
            lp.close()
        ioloop.IOLoop.clear_current()


@pytest.fixture
def no_fd_leak():
    """Fails the test if it leaves file descriptors open."""
    gc.collect()
    before = open_fds()
    yield
    gc.collect()
    after = open_fds()
    leaked = after - before
    assert not leaked, f"leaked fds: {sorted(leaked)}"


@pytest.fixture(autouse=True)
def _no_leaked_threads():
    before = set(threading.enumerate())
    yield
    for t in set(threading.enumerate()) - before:
        t.join(5)
        assert not t.is_alive(), f"thread left running: {t!r}"

