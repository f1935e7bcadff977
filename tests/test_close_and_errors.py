"""close(), exceptions raised by handlers, and bad input for the fd API.

docs/behaviour.md "Running and stopping" (close, close(all_fds=True)),
"Exceptions" (handle_callback_exception, the exception handler, EPIPE,
KeyboardInterrupt) and "Bad input and closed loops"; also the Tornado
helpers split_fd and close_fd.
"""

import errno
import gc
import logging
import os
import sys
import tempfile
import threading
import time

import pytest

from ioloop import IOLoop

from support import (cpu_for, fd_is_open, ioloop_records, kernel_interest, open_fds, run_for,
                     run_once)

pytestmark = pytest.mark.timeout(60)

READ, WRITE, ERROR = IOLoop.READ, IOLoop.WRITE, IOLoop.ERROR


class RecordingMixin:
    """Mixed into an IOLoop class: records handle_callback_exception calls."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reported = []

    def handle_callback_exception(self, callback):
        self.reported.append((callback, sys.exc_info()))


@pytest.fixture
def rloop(loop_class):
    lp = type("RecordingIOLoop", (RecordingMixin, loop_class), {})()
    try:
        yield lp
    finally:
        if not lp.is_closed():
            lp.close()
        IOLoop.clear_current()


# -- close(all_fds) ---------------------------------------------------------------------------


class Closeable:
    def __init__(self, sock, on_close=None):
        self.sock = sock
        self.closes = 0
        self.on_close = on_close

    def fileno(self):
        return self.sock.fileno()

    def close(self):
        self.closes += 1
        if self.on_close:
            self.on_close(self)
        self.sock.close()


def test_close_all_fds_closes_sockets_ints_and_objects(make_loop, no_fd_leak, pairs):
    lp = make_loop()
    a, _ = pairs()
    c, _ = pairs()
    e, _ = pairs()
    r, w = os.pipe()
    obj = Closeable(e)
    lp.add_handler(a, lambda *x: None, READ)
    lp.add_handler(c.detach(), lambda *x: None, READ)  # a raw int the loop now owns
    lp.add_handler(obj, lambda *x: None, READ)
    lp.add_handler(r, lambda *x: None, READ)
    run_once(lp)
    lp.close(all_fds=True)
    assert a.fileno() == -1  # socket.close() was called (not just os.close)
    assert obj.closes == 1
    assert e.fileno() == -1
    assert not fd_is_open(r)
    os.close(w)


def test_close_all_fds_closes_int_fd_with_os_close(make_loop, pairs):
    a, b = pairs()
    fd = os.dup(a.fileno())
    lp = make_loop()
    lp.add_handler(fd, lambda *x: None, READ)
    lp.close(all_fds=True)
    assert not fd_is_open(fd)
    assert a.fileno() != -1 and fd_is_open(a.fileno())  # only the registered fd


def test_close_without_all_fds_leaves_user_fds_open(make_loop, pairs):
    a, b = pairs()
    r, w = os.pipe()
    try:
        lp = make_loop()
        lp.add_handler(a, lambda *x: None, READ)
        lp.add_handler(r, lambda *x: None, READ)
        lp.add_reader(b, lambda: None)
        lp.close()
        assert a.fileno() != -1 and b.fileno() != -1
        assert fd_is_open(r)
        a.send(b"ok")
        assert b.recv(10) == b"ok"
    finally:
        os.close(r)
        os.close(w)


def test_close_all_fds_tolerates_close_that_removes_handlers(make_loop, pairs):
    lp = make_loop()
    objs = []

    def remove_self_and_others(o):
        lp.remove_handler(o)
        for other in objs:
            lp.remove_handler(other)

    for _ in range(5):
        a, _ = pairs()
        objs.append(Closeable(a, on_close=remove_self_and_others))
    for o in objs:
        lp.add_handler(o, lambda *x: None, READ)
    lp.close(all_fds=True)  # must not raise "dictionary changed size"
    assert [o.closes for o in objs] == [1] * 5
    assert all(o.sock.fileno() == -1 for o in objs)
    assert lp.is_closed()


def test_close_all_fds_ignores_oserror_from_already_closed_fd(make_loop, pairs):
    lp = make_loop()
    a, _ = pairs()
    c, _ = pairs()
    lp.add_handler(a, lambda *x: None, READ)
    lp.add_handler(c, lambda *x: None, READ)
    a.close()  # closed behind the loop's back
    lp.close(all_fds=True)
    assert c.fileno() == -1
    assert lp.is_closed()


def test_close_all_fds_ignores_oserror_from_object_close(make_loop, pairs):
    lp = make_loop()
    socks = [pairs()[0] for _ in range(3)]

    def fail(o):
        raise OSError(errno.EIO, "close failed")

    objs = [Closeable(s, on_close=fail) for s in socks[:2]]
    lp.add_handler(objs[0], lambda *x: None, READ)
    lp.add_handler(socks[2], lambda *x: None, READ)
    lp.add_handler(objs[1], lambda *x: None, READ)
    lp.close(all_fds=True)  # OSError from close() is ignored (Tornado close_fd)
    assert lp.is_closed()
    assert [o.closes for o in objs] == [1, 1]
    assert socks[2].fileno() == -1


class FilenoOnly:
    """Has fileno() (so add_handler accepts it) but no close()."""

    def __init__(self, fd):
        self.fd = fd

    def fileno(self):
        return self.fd


class CloseRaises(Closeable):
    def close(self):
        self.closes += 1
        raise RuntimeError("user close() bug")


@pytest.mark.parametrize("kind", ["fileno-only", "close-raises"])
def test_close_all_fds_never_leaks_loop_fds_whatever_user_close_does(make_loop, pairs, kind):
    # No fd of the loop's own leaks after close, whatever the user's
    # close() does (docs/behaviour.md "The loop's own resources").
    a, _ = pairs()
    gc.collect()
    before = open_fds()
    lp = make_loop()
    # fileno-only: close(all_fds=True) closes the fd itself, so give it a dup
    # (the socket object would otherwise fail to close at teardown).
    obj = FilenoOnly(os.dup(a.fileno())) if kind == "fileno-only" else CloseRaises(a)
    lp.add_handler(obj, lambda *x: None, READ)
    try:
        lp.close(all_fds=True)
    except Exception:
        pass  # whether the user's error propagates is not the point here
    assert lp.is_closed()
    lp.close()
    gc.collect()
    leaked = open_fds() - before - {a.fileno()}
    assert not leaked, f"loop fds leaked after close(all_fds=True): {sorted(leaked)}"


def test_close_releases_loop_fds(make_loop, no_fd_leak, pairs):
    a, _ = pairs()
    lp = make_loop()
    epfd = lp.fileno()
    lp.add_handler(a, lambda *x: None, READ)
    run_once(lp)
    lp.close()
    assert not fd_is_open(epfd)


def test_close_while_running_raises_and_loop_survives(loop):
    errors = []

    def try_close():
        try:
            loop.close()
        except RuntimeError as e:
            errors.append(e)
        assert loop.is_running()
        assert not loop.is_closed()
        loop.call_later(0.01, loop.stop)

    loop.add_callback(try_close)
    loop.start()
    assert len(errors) == 1
    assert not loop.is_closed()
    loop.close()
    assert loop.is_closed()


def test_close_from_handler_raises(loop, pairs):
    a, b = pairs()
    errors = []

    def handler(fd, ev):
        try:
            loop.close(all_fds=True)
        except RuntimeError as e:
            errors.append(e)
        loop.remove_handler(fd)
        loop.stop()

    loop.add_handler(a, handler, WRITE)
    loop.start()
    assert len(errors) == 1
    assert a.fileno() != -1  # nothing was closed by the refused close()


def test_close_is_idempotent(make_loop, pairs):
    a, _ = pairs()
    lp = make_loop()
    lp.add_handler(a, lambda *x: None, READ)
    lp.close(all_fds=True)
    lp.close()
    lp.close(all_fds=True)
    assert lp.is_closed()


# -- operations on a closed loop ------------------------------------------------------------------


def test_fd_operations_on_closed_loop(make_loop, pairs):
    a, b = pairs()
    lp = make_loop()
    lp.add_handler(b, lambda *x: None, READ)
    lp.close()
    with pytest.raises(RuntimeError):
        lp.add_handler(a, lambda *x: None, READ)
    with pytest.raises(RuntimeError):
        lp.add_reader(a, lambda: None)
    with pytest.raises(RuntimeError):
        lp.add_writer(a, lambda: None)
    with pytest.raises(RuntimeError):
        lp.update_handler(b, WRITE)
    lp.remove_handler(a)  # silent
    lp.remove_handler(b)
    assert lp.remove_reader(a) is False
    assert lp.remove_writer(a) is False
    assert lp.remove_reader(b) is False
    with pytest.raises(RuntimeError):
        lp.start()
    assert not lp.is_running()


def test_add_callback_on_closed_loop_is_dropped(make_loop):
    lp = make_loop()
    lp.close()
    ran = []
    assert lp.add_callback(ran.append, 1) is None
    lp.add_callback_from_signal(ran.append, 2)
    with pytest.raises(RuntimeError):
        lp.call_later(0, ran.append, 3)
    assert ran == []


# -- exceptions raised by handlers --------------------------------------------------------------------


def test_handler_exception_goes_to_handle_callback_exception(rloop, pairs):
    a, b = pairs()
    calls = []
    ticks = []

    def handler(fd, ev):
        calls.append(ev)
        if len(calls) >= 3:
            rloop.remove_handler(fd)
        raise ZeroDivisionError("boom")

    rloop.add_handler(a, handler, WRITE)
    rloop.call_later(0.02, ticks.append, "timer")
    run_for(rloop, 0.05)
    assert calls == [WRITE] * 3  # stayed registered after raising
    assert ticks == ["timer"]  # loop kept running
    assert len(rloop.reported) == 3
    cb, (etype, evalue, tb) = rloop.reported[0]
    assert cb is handler
    assert etype is ZeroDivisionError and str(evalue) == "boom"
    assert tb is not None


def test_handle_callback_exception_assignable_on_instance(loop, pairs):
    a, b = pairs()
    seen = []

    def hce(callback):
        seen.append((callback, sys.exc_info()[0]))

    loop.handle_callback_exception = hce

    def handler(fd, ev):
        loop.remove_handler(fd)
        raise KeyError("x")

    loop.add_handler(a, handler, WRITE)
    run_for(loop, 0.02)
    assert seen == [(handler, KeyError)]


def test_default_handler_exception_is_logged_with_traceback(loop, pairs, caplog, expect_errors):
    caplog.set_level(logging.ERROR, logger="ioloop")
    a, b = pairs()

    def failing_handler(fd, ev):
        loop.remove_handler(fd)
        raise ZeroDivisionError("handler boom")

    loop.add_handler(a, failing_handler, WRITE)
    run_for(loop, 0.02)
    recs = ioloop_records(caplog, logging.ERROR)
    assert len(recs) == 1
    rec = recs[0]
    assert rec.exc_info and rec.exc_info[0] is ZeroDivisionError
    assert "handler boom" in caplog.text
    assert "Traceback" in caplog.text


def test_handler_exception_reaches_asyncio_exception_handler(loop, pairs):
    a, b = pairs()
    contexts = []
    loop.set_exception_handler(lambda lp, ctx: contexts.append((lp, ctx)))
    exc = ValueError("v")

    def handler(fd, ev):
        loop.remove_handler(fd)
        raise exc

    loop.add_handler(a, handler, WRITE)
    run_for(loop, 0.02)
    assert len(contexts) == 1
    lp, ctx = contexts[0]
    assert lp is loop
    assert ctx["exception"] is exc
    assert "message" in ctx


def test_broken_exception_handler_does_not_kill_loop(loop, pairs, caplog, expect_errors):
    caplog.set_level(logging.ERROR)
    a, b = pairs()
    calls = []

    def bad_exc_handler(lp, ctx):
        raise RuntimeError("handler of handlers broke")

    loop.set_exception_handler(bad_exc_handler)

    def handler(fd, ev):
        calls.append(ev)
        if len(calls) == 2:
            loop.remove_handler(fd)
        raise ZeroDivisionError

    loop.add_handler(a, handler, WRITE)
    run_for(loop, 0.05)
    assert calls == [WRITE, WRITE]
    # As asyncio's loop: the broken handler is reported by the default one.
    recs = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [(r.name, r.getMessage().splitlines()[0]) for r in recs] == [
        ("asyncio", "Unhandled error in exception handler")] * 2, caplog.text


def test_broken_pipe_from_handler_is_not_reported(rloop, pairs, caplog):
    caplog.set_level(logging.DEBUG, logger="ioloop")
    a, b = pairs()
    b.close()
    calls = []

    def handler(fd, ev):
        calls.append(ev)
        if len(calls) == 2:
            rloop.remove_handler(fd)
        fd.send(b"x" * 10)  # peer gone: EPIPE (BrokenPipeError)

    rloop.add_handler(a, handler, WRITE)
    run_for(rloop, 0.05)
    assert len(calls) == 2  # raised twice, still registered after the first
    assert rloop.reported == []
    assert ioloop_records(caplog, logging.WARNING) == []


def test_broken_pipe_not_reported_by_default_handler(loop, pairs, caplog):
    caplog.set_level(logging.WARNING, logger="ioloop")
    contexts = []
    a, b = pairs()

    def handler(fd, ev):
        loop.remove_handler(fd)
        raise BrokenPipeError(errno.EPIPE, "Broken pipe")

    loop.add_handler(a, handler, WRITE)
    run_for(loop, 0.02)
    assert ioloop_records(caplog) == []
    loop.set_exception_handler(lambda lp, ctx: contexts.append(ctx))
    loop.add_handler(a, handler, WRITE)
    run_for(loop, 0.02)
    assert contexts == []


def test_other_oserrors_from_handler_are_reported(rloop, pairs):
    a, b = pairs()

    def handler(fd, ev):
        rloop.remove_handler(fd)
        raise ConnectionResetError(errno.ECONNRESET, "reset")

    rloop.add_handler(a, handler, WRITE)
    run_for(rloop, 0.02)
    assert len(rloop.reported) == 1
    assert rloop.reported[0][1][0] is ConnectionResetError


def test_exception_in_one_handler_does_not_skip_rest_of_batch(rloop, readable):
    a, c = readable(2)
    calls = []

    def handler(fd, ev):
        calls.append(fd)
        fd.recv(10)
        raise ZeroDivisionError

    rloop.add_handler(a, handler, READ)
    rloop.add_handler(c, handler, READ)
    run_once(rloop)
    assert sorted(map(id, calls)) == sorted([id(a), id(c)])
    assert len(rloop.reported) == 2


@pytest.mark.parametrize("mode", [IOLoop.EDGE, IOLoop.ONESHOT])
def test_keyboard_interrupt_does_not_lose_rest_of_batch(loop, pairs, mode):
    # level-triggered fds would be reported again anyway; edge-triggered and
    # oneshot ones are not, so the rest of the interrupted batch must survive.
    a, b = pairs()
    c, d = pairs()
    b.send(b"x")  # a becomes ready first: first in the batch
    d.send(b"x")
    calls = []

    def raiser(fd, ev):
        calls.append("a")
        fd.recv(10)
        loop.remove_handler(fd)
        raise KeyboardInterrupt

    def handler(fd, ev):
        calls.append("c")
        loop.remove_handler(fd)

    loop.add_handler(a, raiser, READ)
    loop.add_handler(c, handler, READ | mode)
    loop.call_later(5, loop.stop)  # safety net
    try:
        loop.start()
    except KeyboardInterrupt:
        pass
    run_for(loop, 0.05)
    assert sorted(calls) == ["a", "c"]


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
def test_base_exception_from_handler_propagates_and_loop_is_reusable(loop, pairs, exc_type):
    a, b = pairs()
    calls = []

    def handler(fd, ev):
        calls.append(ev)
        if len(calls) == 1:
            raise exc_type()

    loop.add_handler(a, handler, WRITE)
    loop.call_later(5, loop.stop)  # safety net
    with pytest.raises(exc_type):
        loop.start()
    assert not loop.is_running()
    assert not loop.is_closed()
    run_once(loop)
    assert len(calls) >= 2  # still registered, loop usable
    loop.remove_handler(a)


# -- bad input ----------------------------------------------------------------------------------------


def test_non_callable_handler_raises_type_error_naming_argument(loop, pairs):
    a, _ = pairs()
    with pytest.raises(TypeError) as info:
        loop.add_handler(a, "not callable", READ)
    assert "handler" in str(info.value)
    assert a.fileno() not in kernel_interest(loop)
    with pytest.raises(TypeError):
        loop.add_handler(a, None, READ)
    loop.add_handler(a, lambda *x: None, READ)  # nothing was left behind


def test_non_callable_reader_raises_type_error(loop, pairs):
    a, _ = pairs()
    with pytest.raises(TypeError):
        loop.add_reader(a, 42)
    with pytest.raises(TypeError):
        loop.add_writer(a, None)
    assert a.fileno() not in kernel_interest(loop)


@pytest.mark.parametrize("fd", [-1, -5])
def test_negative_fd_raises_value_error_naming_value(loop, fd):
    with pytest.raises(ValueError) as info:
        loop.add_handler(fd, lambda *x: None, READ)
    assert str(fd) in str(info.value)


def test_closed_socket_object_raises_value_error(loop, pairs):
    a, _ = pairs()
    a.close()  # fileno() is now -1
    with pytest.raises(ValueError):
        loop.add_handler(a, lambda *x: None, READ)
    with pytest.raises(ValueError):
        loop.add_reader(a, lambda: None)


@pytest.mark.parametrize("bad", [object(), "3", 3.0, None, b"3"])
def test_object_without_fileno_raises_type_error(loop, bad):
    with pytest.raises(TypeError):
        loop.add_handler(bad, lambda *x: None, READ)


@pytest.mark.parametrize("meth", ["add_reader", "add_writer", "remove_reader", "remove_writer"])
@pytest.mark.parametrize("bad", [object(), "3", 3.0, None, b"3"])
def test_asyncio_fd_methods_raise_asyncio_s_errors(aloop, meth, bad):
    """add_reader and co take asyncio's rules (selectors'): an object without
    a usable fileno() is an "Invalid file object", also for remove_*."""
    args = (lambda: None,) if meth.startswith("add") else ()
    with pytest.raises(ValueError, match=r"^Invalid file object: ") as info:
        getattr(aloop, meth)(bad, *args)
    assert repr(bad) in str(info.value)


@pytest.mark.parametrize("meth", ["add_reader", "add_writer", "remove_reader", "remove_writer"])
def test_asyncio_fd_methods_refuse_negative_fds(aloop, meth):
    args = (lambda: None,) if meth.startswith("add") else ()
    with pytest.raises(ValueError, match=r"^Invalid file descriptor: -1$"):
        getattr(aloop, meth)(-1, *args)


def test_asyncio_fd_methods_fileno_errors(aloop):
    class BadFileno:
        def fileno(self):
            raise ValueError("I/O operation on closed file")

    class StrFileno:
        def fileno(self):
            return "x"

    for obj in (BadFileno(), StrFileno()):
        for meth, args in (("add_reader", (lambda: None,)), ("remove_writer", ())):
            with pytest.raises(ValueError, match=r"^Invalid file object: "):
                getattr(aloop, meth)(obj, *args)


def test_asyncio_fd_methods_check_the_fd_on_a_closed_loop(aloop):
    aloop.close()
    with pytest.raises(ValueError, match=r"^Invalid file object: "):
        aloop.remove_reader(object())
    assert aloop.remove_reader(0) is False


def test_closed_fd_raises_ebadf_and_leaves_nothing(loop, pairs):
    a, _ = pairs()
    n = a.fileno()
    a.close()
    before = kernel_interest(loop)
    with pytest.raises(OSError) as info:
        loop.add_handler(n, lambda *x: None, READ)
    assert info.value.errno == errno.EBADF
    assert kernel_interest(loop) == before
    loop.remove_handler(n)  # silent
    with pytest.raises(ValueError):
        loop.update_handler(n, READ)  # not registered
    # once the number is open again it can be added: nothing stale was kept
    c, d = pairs()
    fd = c.fileno()
    got = []
    loop.add_handler(fd, lambda f, ev: got.append(ev), READ)
    d.send(b"x")
    run_once(loop)
    assert got == [READ]


def test_never_opened_large_fd_raises_ebadf(loop):
    with pytest.raises(OSError) as info:
        loop.add_handler(99999, lambda *x: None, READ)
    assert info.value.errno == errno.EBADF
    with pytest.raises(OSError) as info:
        loop.add_reader(99999, lambda: None)
    assert info.value.errno == errno.EBADF


def test_regular_file_raises_permission_error_and_leaves_nothing(loop):
    with tempfile.TemporaryFile() as f:
        before = kernel_interest(loop)
        with pytest.raises(PermissionError):
            loop.add_handler(f, lambda *x: None, READ)
        assert kernel_interest(loop) == before
        # a second try gives the same error, not FileExistsError
        with pytest.raises(PermissionError):
            loop.add_handler(f.fileno(), lambda *x: None, READ)
        with pytest.raises(PermissionError):
            loop.add_reader(f, lambda: None)
        loop.remove_handler(f)
        with pytest.raises(ValueError):
            loop.update_handler(f, READ)
        assert loop.remove_reader(f) is False
    assert cpu_for(loop, 0.1) < 0.05


def test_loop_own_epoll_fd_is_refused(loop):
    with pytest.raises(ValueError, match=rf"fd {loop.fileno()} belongs to the IOLoop"):
        loop.add_handler(loop.fileno(), lambda *x: None, READ)
    assert cpu_for(loop, 0.1) < 0.05


@pytest.mark.parametrize("fd", [2 ** 31, 2 ** 40, 2 ** 70])
def test_out_of_range_fd_raises_value_error(loop, fd):
    with pytest.raises(ValueError) as info:
        loop.add_handler(fd, lambda *x: None, READ)
    assert str(fd) in str(info.value)
    with pytest.raises(ValueError):
        loop.add_reader(fd, lambda: None)


@pytest.mark.parametrize("events", [-1, 2 ** 32, 2 ** 70])
def test_out_of_range_events_raises_value_error(loop, pairs, events):
    a, _ = pairs()
    with pytest.raises(ValueError):
        loop.add_handler(a, lambda *x: None, events)
    assert a.fileno() not in kernel_interest(loop)
    loop.add_handler(a, lambda *x: None, READ)
    with pytest.raises(ValueError):
        loop.update_handler(a, events)
    assert kernel_interest(loop)[a.fileno()] & (READ | WRITE) == READ


def test_fileno_returning_non_int_raises_type_error(loop):
    class StrFileno:
        def fileno(self):
            return "3"

    with pytest.raises(TypeError):
        loop.add_handler(StrFileno(), lambda *x: None, READ)


@pytest.mark.parametrize("bad", [None, object(), -1, 2 ** 40, "x"])
def test_remove_handler_with_garbage_is_silent(loop, bad):
    assert loop.remove_handler(bad) is None


def test_update_handler_on_reader_fd_raises_value_error(loop, pairs):
    a, b = pairs()
    got = []
    loop.add_reader(a, got.append, 1)
    with pytest.raises(ValueError):
        loop.update_handler(a, WRITE)
    b.send(b"x")
    run_once(loop)
    assert got == [1]
    assert kernel_interest(loop)[a.fileno()] & (READ | WRITE) == READ


def test_bad_events_type_raises_type_error(loop, pairs):
    a, _ = pairs()
    with pytest.raises(TypeError):
        loop.add_handler(a, lambda *x: None, "READ")
    assert a.fileno() not in kernel_interest(loop)
    loop.add_handler(a, lambda *x: None, READ)
    with pytest.raises(TypeError):
        loop.update_handler(a, None)
    assert kernel_interest(loop)[a.fileno()] & (READ | WRITE) == READ


@pytest.fixture
def own_fd_loop(loop_class, no_fd_leak):
    """A loop, with the fds it opened (found by diffing the open fds)."""
    before = open_fds()
    lp = loop_class()
    lp._test_fds = open_fds() - before
    assert len(lp._test_fds) == 4, lp._test_fds
    yield lp
    lp.close()


@pytest.mark.parametrize("how", ["add_handler", "add_reader", "add_writer"])
def test_loop_own_fds_are_refused(own_fd_loop, how):
    """Each of the loop's own fds (epoll fd, wake-up eventfd, signal pipe
    ends), given by number, is refused: a handler would steal the loop's
    wake-ups, and remove_handler would drop them for good."""
    lp = own_fd_loop
    for fd in sorted(lp._test_fds):
        with pytest.raises(ValueError, match=rf"^fd {fd} belongs to the IOLoop \("):
            if how == "add_handler":
                lp.add_handler(fd, lambda *x: None, READ | WRITE)
            else:
                getattr(lp, how)(fd, lambda: None)
        lp.remove_handler(fd)
        assert lp.remove_reader(fd) is False
        assert lp.remove_writer(fd) is False
    # The loop still sleeps when idle and still wakes up for another thread.
    assert cpu_for(lp, 0.1) < 0.05
    got = []

    def post():
        time.sleep(0.05)
        lp.add_callback(got.append, "woken")
        lp.add_callback(lp.stop)

    t = threading.Thread(target=post)
    t.start()
    safety = lp.call_later(10, lp.stop)
    t0 = time.monotonic()
    lp.start()
    t.join()
    lp.remove_timeout(safety)
    assert got == ["woken"]
    assert time.monotonic() - t0 < 5


def test_bad_input_leaves_loop_healthy(make_loop, no_fd_leak, pairs):
    lp = make_loop()
    a, b = pairs()
    with tempfile.TemporaryFile() as f:
        for args in [(-1, READ), (99999, READ), (f, READ), (object(), READ)]:
            with pytest.raises((ValueError, OSError, TypeError)):
                lp.add_handler(args[0], lambda *x: None, args[1])
    got = []

    def handler(fd, ev):
        got.append((ev, fd.recv(10)))

    lp.add_handler(a, handler, READ)
    b.send(b"x")
    assert cpu_for(lp, 0.1) < 0.05
    assert got == [(READ, b"x")]
    lp.remove_handler(a)
    lp.close()


def test_close_all_fds_does_not_close_a_reused_int_fd(make_loop, pairs):
    # An int fd registered, closed behind the loop's back and its number
    # reused by an unrelated file: close(all_fds=True) must leave the
    # stranger open (closing it again would close someone else's fd).
    a, _ = pairs()
    lp = make_loop()
    d = os.dup(a.fileno())
    lp.add_handler(d, lambda *x: None, READ)
    os.close(d)
    r, w = os.pipe()
    try:
        if r != d:
            os.dup2(r, d)
        lp.close(all_fds=True)
        os.fstat(d)  # still open
        os.write(w, b"x")
        assert os.read(d, 1) == b"x"
    finally:
        for fd in {r, w, d}:
            try:
                os.close(fd)
            except OSError:
                pass
