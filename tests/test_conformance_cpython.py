"""CPython's own asyncio test mixins, run against ioloop.

CPython's ``test.test_asyncio`` builds its per-selector test classes by
mixing a loop-agnostic test mixin into ``test_utils.TestCase`` and giving
it a loop factory (``create_event_loop`` in ``test_events``,
``test_sock_lowlevel`` and ``test_sendfile``; ``new_loop`` in the
functional tests; ``asyncio.new_event_loop()`` in ``setUp`` for
``test_streams``, ``test_ssl`` and ``test_subprocess``). uvloop's suite does
the same with its own loop. Here every one of those hooks returns
``ioloop.new_event_loop()``, and for the duration of each test the asyncio
policy is ``ioloop.EventLoopPolicy()`` so that the tests which call
``asyncio.new_event_loop()`` get an ioloop loop too.

What is deliberately *not* reused: ``UnixEventLoopTestsMixin`` and
``SubprocessWatcherMixin`` attach asyncio's child watchers (its own
subprocess machinery) to the loop; the loop-agnostic mixins underneath them
(``EventLoopTestsMixin``, ``SubprocessTestsMixin``, ``SubprocessMixin``)
are used directly.

The only skips are tests that inspect private attributes of asyncio's own
loop or transport classes; each names the internal it reads
(``_INTERNALS`` below). A test that merely fails is not skipped.

``IOLOOP_CONFORMANCE_LOOP=asyncio`` runs the same harness on asyncio's
own selector loop: a check of the harness itself (every test must pass
there), never used to make an ioloop run green.

The module is skipped when this Python has no ``test.test_asyncio``
(some distributions strip the ``test`` package).
"""

import asyncio
import os
import sys
import unittest

import pytest

import ioloop

test_utils = pytest.importorskip("test.test_asyncio.utils")
test_events = pytest.importorskip("test.test_asyncio.test_events")
test_sock_lowlevel = pytest.importorskip("test.test_asyncio.test_sock_lowlevel")
test_sendfile = pytest.importorskip("test.test_asyncio.test_sendfile")
test_streams = pytest.importorskip("test.test_asyncio.test_streams")
test_subprocess = pytest.importorskip("test.test_asyncio.test_subprocess")
test_server = pytest.importorskip("test.test_asyncio.test_server")
test_buffered_proto = pytest.importorskip("test.test_asyncio.test_buffered_proto")
test_sslproto = pytest.importorskip("test.test_asyncio.test_sslproto")
try:  # Python 3.11+
    from test.test_asyncio import test_ssl
except ImportError:  # pragma: no cover - Python 3.10
    test_ssl = None

# Per test: the whole module takes ~40 s on asyncio's own loop and its
# slowest test (25 TLS clients) a few seconds; anything near this is a hang.
pytestmark = pytest.mark.timeout(20)

_REFERENCE = os.environ.get("IOLOOP_CONFORMANCE_LOOP") == "asyncio"


@pytest.fixture(scope="module", autouse=True)
def _in_scratch_dir(tmp_path_factory):
    """CPython's tests create files named by os_helper.TESTFN relative to
    the working directory (regrtest runs them in a scratch one): the same
    here, so nothing is left in the checkout."""
    old = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("cpython_asyncio"))
    try:
        yield
    finally:
        os.chdir(old)


def _new_loop():
    if _REFERENCE:
        return asyncio.SelectorEventLoop()
    return ioloop.new_event_loop()


def _new_policy():
    if _REFERENCE:
        return asyncio.DefaultEventLoopPolicy()
    return ioloop.EventLoopPolicy()


class _OnIoloop:
    """First in each test class's MRO: supplies the loop to every hook the
    CPython mixins use and installs ioloop's policy around the test."""

    def setUp(self):
        self._saved_policy = asyncio.get_event_loop_policy()
        asyncio.set_event_loop_policy(_new_policy())
        super().setUp()

    def tearDown(self):
        try:
            super().tearDown()
        finally:
            asyncio.set_event_loop_policy(self._saved_policy)

    def create_event_loop(self):
        return _new_loop()

    def new_loop(self):
        return _new_loop()


# Tests that read private attributes of asyncio's own loop/transport
# classes, which no third-party loop has. {class name: {test: reason}}.
_INTERNALS = {
    "EventLoopTests": {
        "test_timeout_rounding":
            "replaces BaseEventLoop._run_once and reads loop._clock_resolution "
            "and loop._selector to count selector iterations",
        "test_create_server_multiple_hosts_ipv4":
            "mock-patches the socket module inside asyncio.base_events and "
            "BaseEventLoop._start_serving/_stop_serving",
        "test_create_server_multiple_hosts_ipv6":
            "mock-patches the socket module inside asyncio.base_events and "
            "BaseEventLoop._start_serving/_stop_serving",
    },
}


# Known ioloop gaps, open bugs (docs/conformance.md), listed so CI can land
# while they are fixed. {class name: {test: (engines, reason)}}.
# "expected" gaps must keep failing (an unexpected pass fails the run, so
# the entry gets removed); "open" ones are undiagnosed or fail only with
# some timings, and are reported as a skip only when they fail.
_GAPS = {}


def _mark_gaps(cls):
    for name, (engines, kind, reason) in _GAPS.get(cls.__name__, {}).items():
        if ioloop.implementation not in engines or not hasattr(cls, name):
            continue
        test = getattr(cls, name)
        if kind == "expected":
            setattr(cls, name, unittest.expectedFailure(test))
            continue
        if kind == "skip":
            def skipped(self, _reason=reason):
                raise unittest.SkipTest("known ioloop gap: " + _reason)
            skipped.__name__ = name
            setattr(cls, name, skipped)
            continue

        def tolerant(self, _test=test, _reason=reason):
            try:
                _test(self)
            except AssertionError:
                raise unittest.SkipTest("known ioloop gap: " + _reason)

        tolerant.__name__ = name
        setattr(cls, name, tolerant)
    return cls


def _skip_internals(cls):
    _mark_gaps(cls)
    for name, reason in _INTERNALS.get(cls.__name__, {}).items():
        if not hasattr(cls, name):
            continue  # this Python's mixin has no such test

        def skipped(self, _reason=reason):
            raise unittest.SkipTest(_reason)

        skipped.__name__ = name
        setattr(cls, name, skipped)
    return cls


# -- test_events ------------------------------------------------------------------------------


@_skip_internals
class EventLoopTests(_OnIoloop, test_events.EventLoopTestsMixin,
                     test_events.SubprocessTestsMixin, test_utils.TestCase):
    pass


# -- test_sock_lowlevel -----------------------------------------------------------------------


@_skip_internals
class SockTests(_OnIoloop, test_sock_lowlevel.BaseSockTestsMixin, test_utils.TestCase):
    pass


# -- test_sendfile ----------------------------------------------------------------------------


@_skip_internals
class SendfileTests(_OnIoloop, test_sendfile.SendfileTestsBase, test_utils.TestCase):
    pass


# -- test_streams (its setUp calls asyncio.new_event_loop(): the policy) ----------------------


@_skip_internals
class StreamTests(_OnIoloop, test_streams.StreamTests):
    pass


# -- test_subprocess --------------------------------------------------------------------------


@_skip_internals
class SubprocessTests(_OnIoloop, test_subprocess.SubprocessMixin, test_utils.TestCase):
    def setUp(self):
        super().setUp()
        self.loop = _new_loop()
        self.set_event_loop(self.loop)


# -- functional tests (new_loop) --------------------------------------------------------------


@_skip_internals
class StartServerTests(_OnIoloop, test_server.BaseStartServer, unittest.TestCase):
    pass


@_skip_internals
class BufferedProtocolTests(_OnIoloop, test_buffered_proto.BaseTestBufferedProtocol,
                            unittest.TestCase):
    pass


@_skip_internals
class StartTLSTests(_OnIoloop, test_sslproto.BaseStartTLS, unittest.TestCase):
    pass


# -- test_ssl (3.11+; setUp calls asyncio.new_event_loop(): the policy) -----------------------

if test_ssl is not None:
    @_skip_internals
    class SSLTests(_OnIoloop, test_ssl.TestSSL):
        pass
