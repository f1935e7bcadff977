"""Shared fixtures (plain helper functions live in support.py).

The behaviour tests run on every engine in one session: the ``engine``
fixture is parametrized over the engines this process can load (ids
``cython`` and ``python``; only ``python`` when the extension is not built
or ``IOLOOP_NO_EXTENSIONS=1``), and ``loop``, ``make_loop`` and ``aloop``
follow it. The engine ``ioloop.IOLoop`` itself runs on is chosen when
``ioloop`` is imported; what only that choice can show (the env switches,
``IOLOOP_NO_EXTENSIONS=1`` importing nothing compiled, whole programs on
the default loop) is marked ``default_engine``, and the README's test
command runs those tests a second time with the twin as the default.
"""

import asyncio
import gc
import importlib.util
import os
import logging
import shutil
import socket
import tempfile
import threading
import weakref

import pytest

import ioloop
from ioloop import _engines
from ioloop._loop import loop_class as _loop_class

from netsupport import make_tls_cert
from support import open_fds

try:
    import ssl
except ImportError:  # pragma: no cover
    ssl = None


# The engines this session tests, the default (ioloop.IOLoop's) first.
ENGINES = _engines.available()

# Test modules whose subject does not depend on the engine: the benchmark
# command (its workers choose their engines themselves), the packaging
# checks (sdist, metadata), the peer suites, the typing, stub, help and
# docstring checks and the examples. They run once, on the default engine,
# and in the compiled-engine run of the README's command only, unless that
# run cannot exist (no extension built).
ENGINE_INDEPENDENT = {"test_bench.py", "test_packaging.py"}
# Peer suites that take minutes: in the README's two-run command they run in
# the compiled-engine run; on the pure-Python twin they are the documented
# commands in docs/conformance.md (``IOLOOP_NO_EXTENSIONS=1 python
# tools/uvloop_suite.py``), which pass there as well.
COMPILED_RUN_ONLY = {"test_conformance_uvloop.py"}
# Modules whose loops come from the default engine only (their subject is
# not the engine, or they test ioloop.IOLoop as imported): the ``engine``
# fixture is not doubled there.
DEFAULT_ENGINE_ONLY = ENGINE_INDEPENDENT | COMPILED_RUN_ONLY | {
    "test_conformance_cpython.py", "test_conformance_tornado.py", "test_aiohttp.py",
    "test_tornado6.py", "test_typing.py", "test_stub.py", "test_help.py",
    "test_docstrings.py", "test_example.py",
}


def _flag(name):
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "default_engine: shows what only the engine chosen when ioloop is "
                   "imported can show; the README's test command runs these again with "
                   "IOLOOP_NO_EXTENSIONS=1 (python -m pytest -m default_engine tests)")


def _parametrized_by_the_test(metafunc, name):
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0]
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",")]
        if name in names:
            return True
    return False


def pytest_generate_tests(metafunc):
    """``engine`` and ``aloop_kind`` take every engine (``aloop_kind`` also
    ``asyncio``), or only the default one in the modules of
    DEFAULT_ENGINE_ONLY, unless the test parametrizes them itself."""
    single = metafunc.definition.path.name in DEFAULT_ENGINE_ONLY
    engines = ENGINES[:1] if single else ENGINES
    if "engine" in metafunc.fixturenames and not _parametrized_by_the_test(metafunc, "engine"):
        metafunc.parametrize("engine", engines)
    if ("aloop_kind" in metafunc.fixturenames
            and not _parametrized_by_the_test(metafunc, "aloop_kind")):
        metafunc.parametrize("aloop_kind", [*engines, "asyncio"])


def pytest_collection_modifyitems(config, items):
    if not _flag("IOLOOP_NO_EXTENSIONS") or importlib.util.find_spec("ioloop._core") is None:
        return
    skip = pytest.mark.skip(reason="does not depend on the engine: runs in the "
                                   "compiled-engine run of the suite")
    skip_peer = pytest.mark.skip(reason="a peer suite run in the compiled-engine run of the "
                                        "suite (docs/conformance.md runs it on this engine)")
    for item in items:
        if item.path.name in ENGINE_INDEPENDENT:
            item.add_marker(skip)
        elif item.path.name in COMPILED_RUN_ONLY:
            item.add_marker(skip_peer)


def pytest_report_header(config):
    return f"ioloop engine: {ioloop.implementation}"


# ``engine``: the name of the engine under test. Each test that uses it (or
# ``loop_class``, ``make_loop``, ``loop``) runs once per engine; it is
# parametrized in pytest_generate_tests.


@pytest.fixture
def loop_class(engine):
    """The ``IOLoop`` class on the engine under test (``ioloop.IOLoop`` itself
    for the default engine)."""
    return _loop_class(engine)


@pytest.fixture
def make_loop(loop_class):
    """Factory: ``make_loop()`` (or ``make_loop(make_current=True)``) is a new
    loop on the engine under test, as ``ioloop.IOLoop()`` makes one on the
    default engine; stopped, closed and no longer current after the test."""
    made = []  # weak: the GC tests check that a dropped loop is collected

    def make(*args, **kwargs):
        lp = loop_class(*args, **kwargs)
        made.append(weakref.ref(lp))
        return lp

    yield make
    for ref in made:
        lp = ref()
        if lp is None:
            continue
        if lp.is_running():
            lp.stop()
        if not lp.is_closed():
            lp.close()
    ioloop.IOLoop.clear_current()


@pytest.fixture
def loop(make_loop):
    """A fresh, closed-after-use IOLoop that is not current anywhere."""
    return make_loop()


@pytest.fixture
def pairs():
    """Factory for socketpairs, all closed after the test."""
    made = []

    def make():
        a, b = socket.socketpair()
        made.extend((a, b))
        return a, b

    yield make
    for s in made:
        s.close()


@pytest.fixture
def readable(pairs):
    """Factory: ``readable(n)`` gives n sockets that each have a byte to read."""
    def make(n):
        socks = []
        for _ in range(n):
            a, b = pairs()
            b.send(b"x")
            socks.append(a)
        return socks

    return make


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


# ``aloop_kind``: ``aloop``'s loop, an engine name or ``"asyncio"``
# (parametrized in pytest_generate_tests).


@pytest.fixture
def aloop(aloop_kind, no_fd_leak):
    """A fresh event loop: ioloop's on each engine, or stock asyncio's as
    the reference (tests that use it check asyncio's behaviour and ioloop's
    against it)."""
    if aloop_kind == "asyncio":
        lp = asyncio.new_event_loop()
    else:
        lp = _loop_class(aloop_kind)()
    try:
        yield lp
    finally:
        if not lp.is_closed():
            pending = [t for t in asyncio.all_tasks(lp) if not t.done()]
            for t in pending:
                t.cancel()
            if pending:
                lp.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            # Let transports that were closed finish (connection_lost is scheduled).
            lp.run_until_complete(asyncio.sleep(0.01))
            lp.run_until_complete(lp.shutdown_default_executor())
            lp.close()
        asyncio.set_event_loop(None)


@pytest.fixture
def sockdir():
    """A short directory for Unix socket paths (sun_path is 108 bytes)."""
    d = tempfile.mkdtemp(prefix="ioln-", dir="/tmp")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    """(certfile, keyfile): a self-signed certificate for localhost and
    127.0.0.1, made once per run; the TLS tests skip without one."""
    if ssl is None:
        pytest.skip("no ssl module")
    d = tmp_path_factory.mktemp("tls")
    certfile, keyfile = str(d / "cert.pem"), str(d / "key.pem")
    reason = make_tls_cert(certfile, keyfile)
    if reason is not None:
        pytest.skip(reason)
    return certfile, keyfile


@pytest.fixture
def server_ctx(tls_files):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*tls_files)
    return ctx


@pytest.fixture
def client_ctx(tls_files):
    """Trusts the test certificate and checks host names."""
    return ssl.create_default_context(cafile=tls_files[0])


@pytest.fixture
def expect_errors():
    """Request this fixture in a test that expects the loop to log errors."""


# -- autouse: every test --------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_leaked_threads():
    before = set(threading.enumerate())
    yield
    for t in set(threading.enumerate()) - before:
        t.join(5)
        assert not t.is_alive(), f"thread left running: {t!r}"


@pytest.fixture(autouse=True)
def _fail_on_loop_errors(request, caplog):
    """Like uvloop's strict teardown: any ERROR the loop logs (an exception
    that escaped into the exception handler) fails the test, unless the
    test requests ``expect_errors``."""
    yield
    if "expect_errors" in request.fixturenames:
        return
    errors = [r for r in caplog.get_records("call")
              if r.levelno >= logging.ERROR and r.name.split(".")[0] in ("ioloop", "asyncio")]
    assert not errors, "loop logged errors:\n" + "\n".join(r.getMessage() for r in errors)


@pytest.fixture(autouse=True)
def _clean_current_and_instance():
    """No test sees, or leaves behind, a current loop or a global instance."""
    ioloop.IOLoop.clear_current()
    yield
    ioloop.IOLoop.clear_current()
    inst = ioloop.IOLoop._instance
    ioloop.IOLoop.clear_instance()
    if inst is not None and not inst.is_closed():
        inst.close()
