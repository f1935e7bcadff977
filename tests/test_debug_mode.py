"""Where loop reports go, and asyncio's debug mode (docs/behaviour.md
"Exceptions" and "Debug mode").

- A callback scheduled through asyncio's API (call_soon,
  call_soon_threadsafe, call_later, call_at, add_reader, add_writer) that
  raises is reported as asyncio reports it: ``call_exception_handler`` with
  asyncio's context and text, logged on the ``asyncio`` logger. Most tests
  here run the same scenario on ioloop's loop and on stock asyncio's and
  compare what they log, word for word.
- One scheduled through the classic API (add_callback and its aliases,
  add_handler, add_timeout, PeriodicCallback) goes to
  ``handle_callback_exception(callback)``, logged on the ``ioloop`` logger.
- Debug mode: source tracebacks, "created at" in reprs, the thread check,
  slow-callback warnings, coroutine origin tracking.
"""

import asyncio
import gc
import logging
import re
import socket
import sys
import threading
import time
import warnings
import weakref

import pytest

import ioloop
from ioloop import IOLoop, PeriodicCallback
from ioloop import _engines
from ioloop._loop import loop_class as _loop_class

pytestmark = pytest.mark.timeout(60)

def loops(loop_class):
    """(name, factory): the ioloop loop on the engine under test, and asyncio's."""
    return [("ioloop", loop_class), ("asyncio", asyncio.new_event_loop)]


@pytest.fixture
def name_make(aloop_kind):
    """(name, factory) for the parametrized loop: ioloop's on each engine, or asyncio's."""
    if aloop_kind == "asyncio":
        return "asyncio", asyncio.new_event_loop
    return "ioloop", _loop_class(aloop_kind)
AIO_APIS = ["call_soon", "call_soon_threadsafe", "call_later", "call_at", "add_writer"]


def _failing_cb():
    raise ZeroDivisionError("boom")


def _schedule(loop, api, callback, sock=None):
    """Schedules ``callback`` through ``api``; one line, so that every loop
    records the same place."""
    if api == "call_soon":
        return loop.call_soon(callback)
    if api == "call_soon_threadsafe":
        return loop.call_soon_threadsafe(callback)
    if api == "call_later":
        return loop.call_later(0, callback)
    if api == "call_at":
        return loop.call_at(loop.time(), callback)
    if api == "add_writer":
        return loop.add_writer(sock, callback)
    raise AssertionError(api)


def _records(caplog, created_at=False):
    """(logger, message) of the ERROR/WARNING records, with the volatile parts
    (timer deadlines, durations, addresses; with ``created_at``, where a
    handle was created) blanked out."""
    out = []
    for r in caplog.records:
        if r.name not in ("asyncio", "ioloop") or r.levelno < logging.WARNING:
            continue
        text = r.getMessage()
        text = re.sub(r"when=[-0-9.e+]+", "when=T", text)
        text = re.sub(r"took [0-9.]+ seconds", "took N seconds", text)
        text = re.sub(r"0x[0-9a-f]+", "0xADDR", text)
        text = re.sub(r"name='Task-\d+'", "name='Task-N'", text)
        if created_at:
            text = re.sub(r"created at \S+:\d+", "created at F:L", text)
        out.append((r.name, r.levelname, text, r.exc_info[0] if r.exc_info else None))
    return out


def _run_briefly(loop):
    loop.call_soon(loop.stop)
    loop.run_forever()


def _on_each_loop(loop_class, caplog, scenario, created_at=False):
    """Runs ``scenario(loop)`` on ioloop's loop (of ``loop_class``) and on asyncio's; returns
    {name: (scenario's result, records)}."""
    results = {}
    for name, make in loops(loop_class):
        loop = make()
        a, b = socket.socketpair()
        caplog.clear()
        try:
            with caplog.at_level(logging.WARNING):
                res = scenario(loop, a)
        finally:
            if not loop.is_closed():
                loop.remove_writer(a)
                loop.close()
            a.close()
            b.close()
        results[name] = (res, _records(caplog, created_at))
    return results


# -- where failures go -----------------------------------------------------------------------


@pytest.mark.parametrize("debug", [False, True], ids=["normal", "debug"])
@pytest.mark.parametrize("api", AIO_APIS)
def test_asyncio_api_failure_is_logged_as_asyncio_logs_it(loop_class, caplog, expect_errors, api, debug):
    def scenario(loop, sock):
        loop.set_debug(debug)
        _schedule(loop, api, _failing_cb, sock)
        _run_briefly(loop)

    if debug and api == "add_writer":
        # asyncio's traceback of a reader or writer ends in its own
        # add_writer (selector_events.py); ioloop's at the caller's line.
        got = _on_each_loop(loop_class, caplog, scenario, created_at=True)
        mine, ref = got["ioloop"][1], got["asyncio"][1]
        assert len(ref) == 1 and len(mine) == 1
        own = mine[0][2].split("\nsource_traceback:")[0]
        assert own == ref[0][2].split("\nsource_traceback:")[0]
        return
    got = _on_each_loop(loop_class, caplog, scenario)
    mine, ref = got["ioloop"][1], got["asyncio"][1]
    assert len(ref) == 1 and ref[0][0] == "asyncio" and ref[0][3] is ZeroDivisionError
    assert ref[0][2].startswith("Exception in callback _failing_cb() at ")
    if debug:
        assert "source_traceback: Object created at (most recent call last):" in ref[0][2]
        assert f"created at {__file__}:" in ref[0][2]
    assert mine == ref


@pytest.mark.parametrize("api", AIO_APIS)
def test_asyncio_api_failure_context(loop_class, api):
    """The context the exception handler gets: asyncio's keys, the handle
    that failed, and in debug mode where it was scheduled."""
    for name, make in loops(loop_class):
        for debug in (False, True):
            loop = make()
            a, b = socket.socketpair()
            contexts = []
            try:
                loop.set_exception_handler(lambda lp, ctx: contexts.append(ctx))
                loop.set_debug(debug)
                handle = _schedule(loop, api, _failing_cb, a)
                line = sys._getframe().f_lineno - 1
                _run_briefly(loop)
                loop.remove_writer(a)
            finally:
                loop.close()
                a.close()
                b.close()
            assert len(contexts) == 1, (name, debug)
            ctx = contexts[0]
            expected = {"message", "exception", "handle"} | ({"source_traceback"} if debug else set())
            assert set(ctx) == expected, (name, debug, ctx)
            assert type(ctx["exception"]) is ZeroDivisionError
            assert ctx["message"].startswith("Exception in callback _failing_cb() at "), ctx
            if handle is not None:
                assert ctx["handle"] is handle, name
            if debug:
                frame = ctx["source_traceback"][-1]
                if api == "add_writer":
                    # asyncio's reader/writer tracebacks end inside its own
                    # add_writer; ioloop's at the call. Both pass through it.
                    assert any(f.lineno == line + 0 or f.name == "_schedule"
                               for f in ctx["source_traceback"])
                else:
                    assert frame.name == "_schedule", (name, frame)


def test_classic_api_failures_go_to_handle_callback_exception(loop_class):
    calls = []

    class Loop(loop_class):
        def handle_callback_exception(self, callback):
            calls.append((callback, sys.exc_info()[0]))

    loop = Loop()
    a, b = socket.socketpair()
    try:
        def cb1():
            raise KeyError

        def cb2():
            raise ValueError

        def cb3():
            raise TypeError

        def timer():
            raise IndexError

        def handler(fd, events):
            loop.remove_handler(fd)
            raise OSError

        def periodic():
            pc.stop()
            raise LookupError

        def aio():
            raise ZeroDivisionError("asyncio API: not for handle_callback_exception")

        aio_reports = []
        loop.set_exception_handler(lambda lp, ctx: aio_reports.append(ctx["handle"]))
        loop.add_callback(cb1)
        loop.spawn_callback(cb2)
        loop.add_callback_from_signal(cb3)
        loop.add_timeout(loop.time(), timer)
        loop.add_handler(a, handler, IOLoop.WRITE)
        loop.make_current()
        pc = PeriodicCallback(periodic, 1)
        pc.start()
        h1 = loop.call_soon(aio)
        h2 = loop.call_later(0, aio)
        loop.call_later(0.1, loop.stop)
        loop.start()
        assert sorted(calls, key=repr) == sorted([
            (cb1, KeyError), (cb2, ValueError), (cb3, TypeError), (timer, IndexError),
            (handler, OSError), (periodic, LookupError)], key=repr)
        assert aio_reports == [h1, h2]
    finally:
        loop.close()
        a.close()
        b.close()


def test_classic_failure_default_log(loop, caplog, expect_errors):
    """Tornado's text on the ``ioloop`` logger; with an exception handler set,
    that handler gets the report instead (with ``handle`` the callback)."""
    def failing():
        raise KeyError("classic")

    loop.add_callback(failing)
    with caplog.at_level(logging.WARNING):
        _run_briefly(loop)
    assert _records(caplog) == [("ioloop", "ERROR", f"Exception in callback {failing!r}".replace(
        hex(id(failing)), "0xADDR"), KeyError)]
    contexts = []
    loop.set_exception_handler(lambda lp, ctx: contexts.append(ctx))
    caplog.clear()
    loop.add_callback(failing)
    _run_briefly(loop)
    assert _records(caplog) == []
    assert len(contexts) == 1
    assert contexts[0]["handle"] is failing
    assert type(contexts[0]["exception"]) is KeyError


def test_exception_handler_failures_logged_on_asyncio_logger(loop_class, caplog, expect_errors):
    def scenario(loop, sock):
        def broken(lp, ctx):
            raise AttributeError("spam")
        loop.set_exception_handler(broken)
        loop.call_soon(_failing_cb)
        _run_briefly(loop)
        loop.set_exception_handler(None)
        loop.call_exception_handler({"message": "direct", "x": 1})

    got = _on_each_loop(loop_class, caplog, scenario)
    assert [r[:2] for r in got["asyncio"][1]] == [("asyncio", "ERROR")] * 2
    assert got["ioloop"][1] == got["asyncio"][1]


# -- debug mode: where handles were created ------------------------------------------------


def test_source_traceback_of_handles(name_make):
    name, make = name_make
    """asyncio's test_handle_source_traceback, on each loop."""
    loop = make()
    try:
        loop.set_debug(True)

        def check(h):
            lineno = sys._getframe(1).f_lineno - 1
            assert isinstance(h._source_traceback, list)
            assert h._source_traceback[-1][:3] == (__file__, lineno,
                                                    "test_source_traceback_of_handles")

        h = loop.call_soon(lambda: None)
        check(h)
        h = loop.call_soon_threadsafe(lambda: None)
        check(h)
        h = loop.call_later(0, lambda: None)
        check(h)
        h = loop.call_at(loop.time(), lambda: None)
        check(h)
        loop.set_debug(False)
        assert loop.call_soon(lambda: None)._source_traceback is None
        assert loop.call_later(1, lambda: None)._source_traceback is None
    finally:
        loop.close()


def test_classic_timers_record_nothing(loop):
    loop.set_debug(True)
    t = loop.add_timeout(loop.time() + 1, lambda: None)
    assert t._source_traceback is None
    assert "created at" not in repr(t)


@pytest.mark.parametrize("debug", [False, True], ids=["normal", "debug"])
def test_handle_reprs_are_asyncio_s(loop_class, debug):
    reprs = {}
    for name, make in loops(loop_class):
        loop = make()
        try:
            loop.set_debug(debug)
            h = loop.call_soon(_failing_cb)
            t = loop.call_at(1234.5, _failing_cb)
            got = [repr(h), repr(t)]
            h.cancel()
            t.cancel()
            # In debug mode a cancelled handle keeps naming its callback.
            got += [repr(h), repr(t)]
            reprs[name] = got
        finally:
            loop.close()
    assert reprs["ioloop"] == reprs["asyncio"]
    if debug:
        assert all("created at " + __file__ in r for r in reprs["ioloop"])
        assert "cancelled" in reprs["ioloop"][2] and "_failing_cb" in reprs["ioloop"][2]


def test_handle_traceback_of_the_running_handle(loop_class, caplog, expect_errors):
    """In debug mode, a report made while an asyncio callback runs says where
    that callback was scheduled ("handle_traceback")."""
    def scenario(loop, sock):
        loop.set_debug(True)

        def report():
            loop.call_exception_handler({"message": "from inside"})

        loop.call_soon(report)
        _run_briefly(loop)

    got = _on_each_loop(loop_class, caplog, scenario)
    assert "handle_traceback: Handle created at (most recent call last):" in got["asyncio"][1][0][2]
    assert got["ioloop"][1] == got["asyncio"][1]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_task_destroyed_while_pending_says_where_it_was_made(loop_class, caplog, expect_errors):
    def scenario(loop, sock):
        loop.set_debug(True)

        async def forever():
            await loop.create_future()

        task = loop.create_task(forever())
        _run_briefly(loop)
        del task
        gc.collect()

    # (created_at: the future the task waits for was made inside each
    # loop's create_future.)
    got = _on_each_loop(loop_class, caplog, scenario, created_at=True)
    ref = got["asyncio"][1]
    assert len(ref) == 1 and "Task was destroyed but it is pending!" in ref[0][2]
    assert "source_traceback: Object created at" in ref[0][2]
    assert "task = loop.create_task(forever())" in ref[0][2]
    assert got["ioloop"][1] == ref


# -- debug mode: the thread check ------------------------------------------------------------


def test_thread_check(name_make):
    name, make = name_make
    loop = make()
    results = {}

    def from_thread(debug):
        out = []
        for meth, call in (("call_soon", lambda: loop.call_soon(lambda: None)),
                           ("call_later", lambda: loop.call_later(60, lambda: None)),
                           ("call_at", lambda: loop.call_at(loop.time() + 60, lambda: None)),
                           ("call_soon_threadsafe",
                            lambda: loop.call_soon_threadsafe(lambda: None))):
            try:
                h = call()
            except RuntimeError as exc:
                out.append((meth, str(exc)))
            else:
                loop.call_soon_threadsafe(h.cancel)
                out.append((meth, None))
        results[debug] = out

    async def main():
        for debug in (True, False):
            loop.set_debug(debug)
            await loop.run_in_executor(None, from_thread, debug)

    try:
        loop.run_until_complete(main())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()
    msg = "Non-thread-safe operation invoked on an event loop other than the current one"
    assert results[True] == [("call_soon", msg), ("call_later", msg), ("call_at", msg),
                             ("call_soon_threadsafe", None)]
    assert results[False] == [("call_soon", None), ("call_later", None), ("call_at", None),
                              ("call_soon_threadsafe", None)]


def test_no_thread_check_while_not_running(loop):
    loop.set_debug(True)
    errors = []

    def other():
        try:
            loop.call_soon(lambda: None)
            loop.call_later(1, lambda: None)
        except RuntimeError as exc:
            errors.append(exc)

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert errors == []


def test_classic_api_has_no_thread_check(loop):
    loop.set_debug(True)
    errors = []

    def other():
        try:
            loop.add_timeout(loop.time() + 60, lambda: None)
        except RuntimeError as exc:
            errors.append(exc)
        loop.add_callback(loop.stop)

    loop.add_callback(lambda: threading.Thread(target=other).start())
    loop.call_later(10, loop.stop)
    loop.start()
    for t in threading.enumerate():
        if t is not threading.current_thread() and t.name.startswith("Thread"):
            t.join(5)
    assert errors == []


# -- debug mode: slow callbacks ---------------------------------------------------------------


def _slow():
    time.sleep(0.1)


async def _slow_coro():
    time.sleep(0.1)


@pytest.mark.parametrize("kind", ["call_soon", "call_later", "task", "add_writer"])
def test_slow_callback_warning_is_asyncio_s(loop_class, caplog, kind):
    def scenario(loop, sock):
        loop.set_debug(True)
        loop.slow_callback_duration = 0.05
        if kind == "task":
            loop.run_until_complete(_slow_coro())
            return
        _schedule(loop, kind, _slow, sock)
        _run_briefly(loop)
        if kind == "call_later":
            # Due at once, but asyncio may need a second iteration.
            loop.run_until_complete(asyncio.sleep(0.01))

    got = _on_each_loop(loop_class, caplog, scenario, created_at=(kind == "add_writer"))
    ref = got["asyncio"][1]
    assert len(ref) == 1 and ref[0][:2] == ("asyncio", "WARNING"), ref
    expected = {"call_soon": "Executing <Handle _slow() at ",
                "call_later": "Executing <TimerHandle when=T _slow() at ",
                "add_writer": "Executing <Handle _slow() at ",
                "task": "Executing <Task finished "}[kind]
    assert ref[0][2].startswith(expected), ref
    assert got["ioloop"][1] == ref


def test_slow_classic_callbacks_warn_on_ioloop_logger(loop, caplog):
    loop.set_debug(True)
    loop.slow_callback_duration = 0.05
    loop.add_callback(_slow)
    loop.add_timeout(loop.time(), _slow)
    with caplog.at_level(logging.WARNING):
        loop.call_later(0.01, loop.stop)
        loop.start()
    recs = _records(caplog)
    assert [(r[0], r[1]) for r in recs] == [("ioloop", "WARNING")] * 2, recs
    assert all(r[2].startswith("Executing <function _slow at 0xADDR> took") for r in recs)


def test_no_slow_warning_outside_debug_mode(loop, caplog):
    loop.slow_callback_duration = 0.05
    loop.call_soon(_slow)
    loop.add_callback(_slow)
    with caplog.at_level(logging.WARNING):
        loop.call_later(0.01, loop.stop)
        loop.start()
    assert _records(caplog) == []


# -- debug mode: coroutine origins -------------------------------------------------------------


def test_coroutine_origin_tracking_while_running_in_debug_mode(loop_class):
    depth = asyncio.constants.DEBUG_STACK_DEPTH
    for name, make in loops(loop_class):
        loop = make()
        seen = []
        try:
            assert sys.get_coroutine_origin_tracking_depth() == 0
            loop.set_debug(True)
            assert sys.get_coroutine_origin_tracking_depth() == 0
            loop.call_soon(lambda: seen.append(sys.get_coroutine_origin_tracking_depth()))
            _run_briefly(loop)
            assert sys.get_coroutine_origin_tracking_depth() == 0
            loop.set_debug(False)
            loop.call_soon(lambda: seen.append(sys.get_coroutine_origin_tracking_depth()))
            _run_briefly(loop)

            async def toggle():
                loop.set_debug(True)
                await asyncio.sleep(0)
                seen.append(sys.get_coroutine_origin_tracking_depth())
                loop.set_debug(False)
                await asyncio.sleep(0)
                seen.append(sys.get_coroutine_origin_tracking_depth())

            loop.run_until_complete(toggle())
        finally:
            loop.close()
        assert seen == [depth, 0, depth, 0], name
        assert sys.get_coroutine_origin_tracking_depth() == 0


def test_never_awaited_warning_says_where(loop):
    async def never():
        pass

    def make():
        never()

    loop.set_debug(True)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        loop.call_soon(make)
        _run_briefly(loop)
        gc.collect()
    texts = [str(x.message) for x in w if issubclass(x.category, RuntimeWarning)]
    assert len(texts) == 1, texts
    assert "was never awaited" in texts[0]
    assert "Coroutine created at (most recent call last)" in texts[0]
    assert "in make" in texts[0]


@pytest.mark.default_engine
def test_debug_entry_points():
    async def main():
        return asyncio.get_running_loop().get_debug(), sys.get_coroutine_origin_tracking_depth()

    assert ioloop.run(main(), debug=True) == (True, asyncio.constants.DEBUG_STACK_DEPTH)
    assert ioloop.run(main(), debug=False) == (False, 0)
    if sys.version_info >= (3, 12):
        assert asyncio.run(main(), debug=True, loop_factory=ioloop.new_event_loop) == (
            True, asyncio.constants.DEBUG_STACK_DEPTH)


def test_pythonasynciodebug_turns_debug_mode_on():
    import subprocess
    from support import SRC
    code = ("import ioloop, asyncio\n"
            "async def main():\n"
            "    lp = asyncio.get_running_loop()\n"
            "    return lp.get_debug(), lp.call_soon(print)._source_traceback is not None\n"
            "print(ioloop.run(main()))\n")
    import os
    env = dict(os.environ, PYTHONASYNCIODEBUG="1",
               PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(True, True)"


# -- handles: weak references and size --------------------------------------------------------


def test_handles_are_weak_referenceable(loop):
    a, b = socket.socketpair()
    try:
        wd = weakref.WeakValueDictionary()
        wd["soon"] = h = loop.call_soon(lambda: None)
        wd["later"] = t = loop.call_later(10, lambda: None)
        wd["timeout"] = loop.add_timeout(loop.time() + 10, lambda: None)
        loop.add_reader(a, lambda: None)
        loop.remove_reader(a)
        refs = [weakref.ref(x) for x in (h, t)]
        h.cancel()
        t.cancel()
        del h, t
        _run_briefly(loop)
        gc.collect()
        # The cancelled timer stays in the heap until it is due or the
        # loop closes.
        assert refs[0]() is None
        loop.close()
        gc.collect()
        assert refs[1]() is None
        assert not wd
    finally:
        a.close()
        b.close()


def test_debug_data_goes_with_its_handle(loop):
    from ioloop import _common
    loop.set_debug(True)
    before = len(_common.debug_info)
    hs = [loop.call_soon(lambda: None) for _ in range(10)]
    ts = [loop.call_later(10, lambda: None) for _ in range(10)]
    assert len(_common.debug_info) == before + 20
    for t in ts:
        t.cancel()
    del hs, ts, t
    _run_briefly(loop)
    loop.close()
    gc.collect()
    assert len(_common.debug_info) == before


@pytest.mark.skipif("cython" not in _engines.available(), reason="object sizes of the Cython engine")
def test_handle_sizes():
    """A pending timer is an 80-byte TimerHandle (plus its 16-byte heap
    entry); debug data lives outside the handles."""
    loop = _loop_class("cython")()
    try:
        t = loop.call_later(10, lambda: None)
        h = loop.call_soon(lambda: None)
        assert sys.getsizeof(t) == 80
        assert sys.getsizeof(h) == 56
    finally:
        loop.close()


# -- the loop's own state -----------------------------------------------------------------------


def test_closed_attribute(name_make):
    name, make = name_make
    loop = make()
    assert loop._closed is False
    loop.close()
    assert loop._closed is True
    assert loop.is_closed()
