"""The Unix half of the asyncio face: signal handlers, pipe transports and
subprocesses (docs/behaviour.md "What is supported";
``ioloop._unix.UnixMixin``).

Expectations are asyncio's (``asyncio.unix_events._UnixSelectorEventLoop``).
Tests parametrized over ``anyloop`` run the same code on ioloop and on
asyncio's own selector loop: the asyncio run checks the expectation itself.
CPython's ``test.test_asyncio.test_subprocess.SubprocessMixin`` runs at the
end on ioloop when the ``test`` package is importable.
"""

import asyncio
import contextvars
import errno
import gc
import logging
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import ioloop
from ioloop._loop import loop_class as _loop_class
from ioloop import _unix

from support import fd_is_open, run_until

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(sys.platform != "linux", reason="Linux only"),
]

PY = sys.executable


# -- helpers ------------------------------------------------------------------------------


def run(loop, coro, timeout=20):
    """Run ``coro`` on ``loop``, failing (not hanging) after ``timeout``."""
    return loop.run_until_complete(asyncio.wait_for(coro, timeout))


def current_wakeup_fd():
    fd = signal.set_wakeup_fd(-1)
    if fd != -1:
        signal.set_wakeup_fd(fd, warn_on_full_buffer=False)
    return fd


def children():
    """{pid: state} of this process's child processes, from /proc."""
    me = os.getpid()
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                data = f.read()
        except OSError:
            continue
        fields = data.rsplit(")", 1)[1].split()
        if int(fields[1]) == me:
            out[int(name)] = fields[0]
    return out


def zombies():
    return [pid for pid, state in children().items() if state == "Z"]


def loop_signal_pipe(loop):
    return loop._signal_wakeup_fd()


@pytest.fixture(autouse=True)
def _signals_restored():
    """Every test starts and ends with no wakeup fd and default SIGUSR1/2."""
    assert current_wakeup_fd() == -1
    saved = {s: signal.getsignal(s) for s in (signal.SIGUSR1, signal.SIGUSR2,
                                              signal.SIGINT, signal.SIGCHLD)}
    yield
    fd = signal.set_wakeup_fd(-1)
    for s, h in saved.items():
        signal.signal(s, h)
    assert fd == -1, "wakeup fd left set"


@pytest.fixture
def anyloop(aloop_kind):
    """An ioloop loop on each engine, or asyncio's selector loop for the
    same test."""
    if aloop_kind != "asyncio":
        lp = _loop_class(aloop_kind)()
    else:
        lp = asyncio.SelectorEventLoop()
    try:
        yield lp
    finally:
        if not lp.is_closed():
            lp.close()


# -- signals ------------------------------------------------------------------------------


class TestSignals:
    def test_delivered_on_the_loop_with_args_and_context(self, loop):
        var = contextvars.ContextVar("var", default="unset")
        calls = []

        def handler(*args):
            calls.append((args, threading.get_ident(), asyncio.get_running_loop(), var.get()))

        token = var.set("at-add")
        loop.add_signal_handler(signal.SIGUSR1, handler, 1, "two")
        var.reset(token)
        assert signal.getsignal(signal.SIGUSR1) is _unix._sighandler_noop
        loop.call_soon(os.kill, os.getpid(), signal.SIGUSR1)
        run_until(loop, lambda: calls)
        assert calls == [((1, "two"), threading.get_ident(), loop, "at-add")]
        assert loop.remove_signal_handler(signal.SIGUSR1) is True

    def test_each_signal_runs_its_handler(self, loop):
        calls = []
        loop.add_signal_handler(signal.SIGUSR1, calls.append, "usr1")
        loop.add_signal_handler(signal.SIGUSR2, calls.append, "usr2")

        def send():
            os.kill(os.getpid(), signal.SIGUSR1)
            os.kill(os.getpid(), signal.SIGUSR2)

        loop.call_soon(send)
        run_until(loop, lambda: len(calls) == 2)
        assert sorted(calls) == ["usr1", "usr2"]
        # A later signal runs the handler again.
        loop.call_soon(os.kill, os.getpid(), signal.SIGUSR2)
        run_until(loop, lambda: len(calls) == 3)
        assert calls[2] == "usr2"
        loop.remove_signal_handler(signal.SIGUSR1)
        loop.remove_signal_handler(signal.SIGUSR2)

    def test_second_add_replaces_the_handler(self, loop):
        calls = []
        loop.add_signal_handler(signal.SIGUSR1, calls.append, "old")
        loop.add_signal_handler(signal.SIGUSR1, calls.append, "new")
        loop.call_soon(os.kill, os.getpid(), signal.SIGUSR1)
        run_until(loop, lambda: calls)
        assert calls == ["new"]
        assert loop.remove_signal_handler(signal.SIGUSR1)

    def test_signal_while_stopped_is_delivered_on_next_run(self, anyloop):
        loop = anyloop
        calls = []

        async def add():  # added while the loop runs
            loop.add_signal_handler(signal.SIGUSR1, calls.append, "x")

        run(loop, add())
        os.kill(os.getpid(), signal.SIGUSR1)  # the loop is stopped now
        assert calls == []

        async def wait():
            while not calls:
                await asyncio.sleep(0.001)

        run(loop, wait(), timeout=5)
        assert calls == ["x"]
        assert loop.remove_signal_handler(signal.SIGUSR1)

    def test_signal_added_before_running(self, loop):
        calls = []
        loop.add_signal_handler(signal.SIGUSR1, calls.append, "x")
        os.kill(os.getpid(), signal.SIGUSR1)
        run_until(loop, lambda: calls)
        assert calls == ["x"]
        loop.remove_signal_handler(signal.SIGUSR1)

    def test_handler_exception_goes_to_the_exception_handler(self, loop):
        seen = []
        loop.set_exception_handler(lambda lp, ctx: seen.append(ctx))

        def boom():
            raise ZeroDivisionError("boom")

        loop.add_signal_handler(signal.SIGUSR1, boom)
        loop.call_soon(os.kill, os.getpid(), signal.SIGUSR1)
        run_until(loop, lambda: seen)
        assert isinstance(seen[0]["exception"], ZeroDivisionError)
        # The loop keeps delivering.
        loop.call_soon(os.kill, os.getpid(), signal.SIGUSR1)
        run_until(loop, lambda: len(seen) == 2)
        loop.remove_signal_handler(signal.SIGUSR1)

    def test_wakeup_fd_follows_the_handlers(self, loop):
        assert current_wakeup_fd() == -1
        loop.add_signal_handler(signal.SIGUSR1, lambda: None)
        assert current_wakeup_fd() == loop_signal_pipe(loop)
        loop.add_signal_handler(signal.SIGUSR2, lambda: None)
        assert loop.remove_signal_handler(signal.SIGUSR1)
        assert current_wakeup_fd() == loop_signal_pipe(loop)
        # Running and stopping the loop leaves it in place.
        loop.call_soon(loop.stop)
        loop.run_forever()
        assert current_wakeup_fd() == loop_signal_pipe(loop)
        assert loop.remove_signal_handler(signal.SIGUSR2)
        assert current_wakeup_fd() == -1

    def test_release_leaves_a_wakeup_fd_set_by_someone_else(self, loop):
        r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            loop.add_signal_handler(signal.SIGUSR1, lambda: None)
            signal.set_wakeup_fd(w)  # taken over after us
            assert loop.remove_signal_handler(signal.SIGUSR1)
            assert signal.set_wakeup_fd(-1) == w
        finally:
            os.close(r)
            os.close(w)

    def test_remove_restores_default_dispositions(self, anyloop):
        loop = anyloop
        loop.add_signal_handler(signal.SIGUSR1, lambda: None)
        loop.add_signal_handler(signal.SIGINT, lambda: None)
        assert loop.remove_signal_handler(signal.SIGUSR1) is True
        assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL
        assert loop.remove_signal_handler(signal.SIGINT) is True
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

    def test_remove_unknown_returns_false(self, anyloop):
        assert anyloop.remove_signal_handler(signal.SIGUSR2) is False

    @pytest.mark.parametrize("sig, exc", [
        ("SIGUSR1", TypeError),
        (1.5, TypeError),
        (None, TypeError),
        (0, ValueError),
        (-1, ValueError),
        (signal.NSIG + 1, ValueError),
        (1000, ValueError),
        (signal.SIGKILL, RuntimeError),
        (signal.SIGSTOP, RuntimeError),
    ])
    def test_bad_signals(self, anyloop, sig, exc):
        with pytest.raises(exc):
            anyloop.add_signal_handler(sig, lambda: None)
        assert current_wakeup_fd() == -1
        if exc is RuntimeError:
            assert anyloop.remove_signal_handler(sig) is False
        else:
            with pytest.raises(exc):
                anyloop.remove_signal_handler(sig)

    def test_uncatchable_signal_message(self, loop):
        with pytest.raises(RuntimeError, match=f"sig {int(signal.SIGKILL)} cannot be caught"):
            loop.add_signal_handler(signal.SIGKILL, lambda: None)

    def test_coroutines_refused(self, anyloop):
        async def coro_func():
            pass

        with pytest.raises(TypeError, match="coroutines cannot be used"):
            anyloop.add_signal_handler(signal.SIGUSR1, coro_func)
        coro = coro_func()
        try:
            with pytest.raises(TypeError, match="coroutines cannot be used"):
                anyloop.add_signal_handler(signal.SIGUSR1, coro)
        finally:
            coro.close()
        assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL
        assert current_wakeup_fd() == -1

    def test_not_from_another_thread(self, anyloop):
        errors = []

        def other():
            try:
                anyloop.add_signal_handler(signal.SIGUSR1, lambda: None)
            except Exception as exc:
                errors.append(exc)

        t = threading.Thread(target=other)
        t.start()
        t.join(10)
        assert len(errors) == 1 and isinstance(errors[0], RuntimeError)
        assert anyloop.remove_signal_handler(signal.SIGUSR1) is False
        assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL

    def test_closed_loop_refuses(self, anyloop):
        anyloop.close()
        with pytest.raises(RuntimeError):
            anyloop.add_signal_handler(signal.SIGUSR1, lambda: None)
        assert current_wakeup_fd() == -1

    def test_close_removes_all_handlers(self, anyloop):
        loop = anyloop
        loop.add_signal_handler(signal.SIGUSR1, lambda: None)
        loop.add_signal_handler(signal.SIGINT, lambda: None)
        loop.close()
        assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        assert current_wakeup_fd() == -1
        assert loop.remove_signal_handler(signal.SIGUSR1) is False

    def test_start_restores_no_wakeup_fd_without_handlers(self, loop):
        seen = []
        loop.call_soon(lambda: seen.append(current_wakeup_fd()))
        loop.call_soon(loop.stop)
        loop.run_forever()
        assert seen == [loop_signal_pipe(loop)]
        assert current_wakeup_fd() == -1

    def test_signal_for_a_removed_handler_is_ignored(self, loop):
        calls = []
        loop.add_signal_handler(signal.SIGUSR1, calls.append, 1)
        # Keep the wakeup fd ours while SIGUSR1 goes back to a Python handler.
        loop.add_signal_handler(signal.SIGUSR2, calls.append, 2)
        loop.remove_signal_handler(signal.SIGUSR1)
        got = []
        signal.signal(signal.SIGUSR1, lambda s, f: got.append(s))
        loop.call_soon(os.kill, os.getpid(), signal.SIGUSR1)
        run_until(loop, lambda: got)
        loop.call_later(0.05, loop.stop)
        loop.run_forever()
        assert calls == []
        loop.remove_signal_handler(signal.SIGUSR2)


    # Signals raised while a callback keeps the loop busy all wait in the
    # wakeup fd and come out of one read of it.

    @staticmethod
    def _spy_wakeup_reads(loop):
        """Record each batch of signal numbers the loop reads from the
        wakeup fd (ioloop: _process_signals; asyncio: _process_self_data)."""
        name = "_process_signals" if isinstance(loop, ioloop.IOLoop) else "_process_self_data"
        real = getattr(loop, name)
        reads = []

        def spy(data):
            reads.append(bytes(data))
            return real(data)

        setattr(loop, name, spy)
        return reads

    @staticmethod
    def _raise_while_busy(loop, calls, sigs, expected):
        """One callback raises ``sigs`` and stays busy; run until ``expected``
        handler calls were made, then a while longer for any extra ones."""
        def busy():
            for sig in sigs:
                os.kill(os.getpid(), sig)
            time.sleep(0.05)

        async def main():
            loop.call_soon(busy)
            while len(calls) < expected:
                await asyncio.sleep(0.001)
            await asyncio.sleep(0.1)
            for _ in range(5):
                await asyncio.sleep(0)

        run(loop, main(), timeout=5)

    def test_distinct_signals_in_one_read_run_each_handler_once(self, anyloop):
        loop = anyloop
        sigs = (signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH)
        calls = []
        for sig in sigs:
            loop.add_signal_handler(sig, calls.append, sig)
        reads = self._spy_wakeup_reads(loop)
        self._raise_while_busy(loop, calls, sigs, len(sigs))
        assert any(set(sigs) <= set(r) for r in reads), f"not in one read: {reads}"
        assert sorted(calls) == sorted(sigs)
        for sig in sigs:
            assert loop.remove_signal_handler(sig)

    def test_same_signal_twice_while_busy(self, anyloop):
        # Standard signals do not queue: two raised before the loop looks
        # may run the handler twice (asyncio does: one run per wakeup
        # byte) or once. Either way it runs, and never more often than
        # the signal was raised.
        loop = anyloop
        calls = []
        loop.add_signal_handler(signal.SIGUSR1, calls.append, "usr1")
        reads = self._spy_wakeup_reads(loop)
        self._raise_while_busy(loop, calls, (signal.SIGUSR1, signal.SIGUSR1), 1)
        assert any(signal.SIGUSR1 in r for r in reads)
        assert calls in (["usr1"], ["usr1", "usr1"])
        assert loop.remove_signal_handler(signal.SIGUSR1)


# -- pipes --------------------------------------------------------------------------------


class ReadProto(asyncio.Protocol):
    def __init__(self):
        self.events = []
        self.data = bytearray()
        self.transport = None
        self.lost = None

    def connection_made(self, transport):
        self.transport = transport
        self.events.append("made")

    def data_received(self, data):
        assert self.events[0] == "made"
        self.data += data
        if self.events[-1] != "data":
            self.events.append("data")

    def eof_received(self):
        self.events.append("eof")

    def connection_lost(self, exc):
        self.events.append("lost")
        self.lost = exc


class WriteProto(asyncio.BaseProtocol):
    def __init__(self):
        self.events = []
        self.transport = None
        self.lost = None
        self.paused_at = []

    def connection_made(self, transport):
        self.transport = transport
        self.events.append("made")

    def pause_writing(self):
        self.events.append("pause")
        self.paused_at.append(self.transport.get_write_buffer_size())

    def resume_writing(self):
        self.events.append("resume")

    def connection_lost(self, exc):
        self.events.append("lost")
        self.lost = exc


@pytest.fixture
def pipe_fds():
    """os.pipe() pairs, both ends closed after the test if still open."""
    made = []

    def make():
        r, w = os.pipe()
        made.extend((r, w))
        return r, w

    yield make
    for fd in made:
        try:
            os.close(fd)
        except OSError:
            pass


def need_pipe_is_reading(loop):
    if not isinstance(loop, ioloop.IOLoop) and sys.version_info < (3, 11):
        pytest.skip("asyncio's pipe transports have is_reading() from 3.11")


class TestReadPipe:
    def test_data_then_eof(self, anyloop, no_fd_leak, pipe_fds):
        loop = anyloop
        need_pipe_is_reading(loop)
        r, w = pipe_fds()
        rfile = open(r, "rb", buffering=0)
        proto = ReadProto()

        async def main():
            tr, pr = await loop.connect_read_pipe(lambda: proto, rfile)
            assert pr is proto and proto.transport is tr
            assert proto.events == ["made"]  # connection_made before the waiter
            assert tr.get_extra_info("pipe") is rfile
            assert tr.is_reading() and not tr.is_closing()
            assert os.get_blocking(r) is False
            os.write(w, b"hello ")
            os.write(w, b"world")
            while len(proto.data) < 11:
                await asyncio.sleep(0.001)
            os.close(w)
            while "lost" not in proto.events:
                await asyncio.sleep(0.001)
            return tr

        tr = run(loop, main())
        assert bytes(proto.data) == b"hello world"
        assert proto.events == ["made", "data", "eof", "lost"]
        assert proto.lost is None
        assert tr.is_closing()
        assert rfile.closed and not fd_is_open(r)

    def test_pause_and_resume_reading(self, anyloop, pipe_fds):
        loop = anyloop
        need_pipe_is_reading(loop)
        r, w = pipe_fds()
        proto = ReadProto()

        async def main():
            tr, _ = await loop.connect_read_pipe(lambda: proto, open(r, "rb", buffering=0))
            tr.pause_reading()
            assert not tr.is_reading()
            tr.pause_reading()  # idempotent
            os.write(w, b"x" * 100)
            await asyncio.sleep(0.05)
            assert proto.data == b""
            tr.resume_reading()
            assert tr.is_reading()
            tr.resume_reading()  # idempotent
            while len(proto.data) < 100:
                await asyncio.sleep(0.001)
            tr.close()
            assert tr.is_closing() and not tr.is_reading()
            await asyncio.sleep(0.01)

        run(loop, main())
        assert proto.events == ["made", "data", "lost"]
        assert proto.lost is None

    def test_pause_in_connection_made(self, loop, pipe_fds):
        r, w = pipe_fds()

        class Proto(ReadProto):
            def connection_made(self, transport):
                super().connection_made(transport)
                transport.pause_reading()

        proto = Proto()

        async def main():
            tr, _ = await loop.connect_read_pipe(lambda: proto, open(r, "rb", buffering=0))
            os.write(w, b"abc")
            await asyncio.sleep(0.05)
            assert proto.data == b""
            tr.resume_reading()
            while proto.data != b"abc":
                await asyncio.sleep(0.001)
            tr.close()
            await asyncio.sleep(0)

        run(loop, main())

    def test_close_once(self, anyloop, no_fd_leak, pipe_fds):
        loop = anyloop
        r, w = pipe_fds()
        proto = ReadProto()

        async def main():
            tr, _ = await loop.connect_read_pipe(lambda: proto, open(r, "rb", buffering=0))
            tr.close()
            tr.close()
            os.write(w, b"late")
            await asyncio.sleep(0.02)

        run(loop, main())
        assert proto.events == ["made", "lost"]
        assert not fd_is_open(r)

    def test_regular_file_refused(self, anyloop, tmp_path, no_fd_leak):
        path = tmp_path / "f"
        path.write_bytes(b"data")
        with open(path, "rb") as f:
            with pytest.raises(ValueError, match="pipes"):
                run(anyloop, anyloop.connect_read_pipe(ReadProto, f))
            with open(path, "wb") as g:
                with pytest.raises(ValueError, match="pipes"):
                    run(anyloop, anyloop.connect_write_pipe(WriteProto, g))

    def test_socket_and_char_device_accepted(self, loop, pairs):
        a, b = pairs()
        proto = ReadProto()

        async def main():
            tr, _ = await loop.connect_read_pipe(lambda: proto, a)
            b.send(b"via socket")
            while proto.data != b"via socket":
                await asyncio.sleep(0.001)
            tr.close()
            await asyncio.sleep(0)

        run(loop, main())

    def test_pty_master_char_device(self, anyloop, no_fd_leak):
        # A pty master is a character device; once the slave side closes,
        # reads fail with EIO, which is the peer going away (no log).
        loop = anyloop
        master, slave = os.openpty()
        proto = ReadProto()

        async def main():
            tr, _ = await loop.connect_read_pipe(lambda: proto, open(master, "rb", buffering=0))
            os.write(slave, b"tty data")
            while b"tty data" not in proto.data:
                await asyncio.sleep(0.001)
            os.close(slave)
            while "lost" not in proto.events:
                await asyncio.sleep(0.001)

        try:
            run(loop, main())
        finally:
            if fd_is_open(slave):
                os.close(slave)
        assert proto.events == ["made", "data", "lost"]
        assert isinstance(proto.lost, OSError) and proto.lost.errno == errno.EIO
        assert not fd_is_open(master)

    def test_unpollable_char_device(self, loop, no_fd_leak):
        # /dev/null cannot be polled: asyncio's loop fails in add_reader, so
        # does this one (the error reaches the exception handler).
        seen = []
        loop.set_exception_handler(lambda lp, ctx: seen.append(ctx))

        async def main():
            tr, p = await loop.connect_read_pipe(ReadProto, open("/dev/null", "rb", buffering=0))
            await asyncio.sleep(0.01)
            tr.close()
            await asyncio.sleep(0)

        run(loop, main())
        assert isinstance(seen[0]["exception"], PermissionError)
        run(loop, main())


class TestWritePipe:
    def test_write_and_eof(self, anyloop, no_fd_leak, pipe_fds):
        loop = anyloop
        r, w = pipe_fds()
        wfile = open(w, "wb", buffering=0)
        proto = WriteProto()

        async def main():
            tr, pr = await loop.connect_write_pipe(lambda: proto, wfile)
            assert pr is proto and proto.events == ["made"]
            assert tr.get_extra_info("pipe") is wfile
            assert tr.can_write_eof()
            tr.write(b"abc")
            tr.write(bytearray(b"def"))
            tr.write(memoryview(b"ghi"))
            tr.writelines([b"j", b"k"])
            tr.write(b"")
            assert tr.get_write_buffer_size() == 0
            assert os.read(r, 100) == b"abcdefghijk"
            tr.write_eof()
            assert tr.is_closing()
            tr.write_eof()
            await asyncio.sleep(0.01)
            assert os.read(r, 100) == b""  # EOF: the write end is closed

        run(loop, main())
        assert proto.events == ["made", "lost"] and proto.lost is None
        assert wfile.closed and not fd_is_open(w)

    def test_write_type_checked(self, loop, pipe_fds):
        r, w = pipe_fds()

        async def main():
            tr, _ = await loop.connect_write_pipe(WriteProto, open(w, "wb", buffering=0))
            with pytest.raises(TypeError):
                tr.write("text")
            tr.close()
            await asyncio.sleep(0)

        run(loop, main())

    def test_reading_methods_not_implemented(self, anyloop, pipe_fds):
        """A write pipe is an asyncio.Transport whose reading methods raise
        NotImplementedError, as asyncio's and uvloop's are."""
        loop = anyloop
        r, w = pipe_fds()

        async def main():
            tr, _ = await loop.connect_write_pipe(WriteProto, open(w, "wb", buffering=0))
            assert isinstance(tr, asyncio.WriteTransport)
            for name in ("pause_reading", "resume_reading", "is_reading"):
                with pytest.raises(NotImplementedError):
                    getattr(tr, name)()
            tr.close()
            await asyncio.sleep(0)

        run(loop, main())

    def test_buffer_limits(self, anyloop, pipe_fds):
        loop = anyloop
        r, w = pipe_fds()

        async def main():
            tr, _ = await loop.connect_write_pipe(WriteProto, open(w, "wb", buffering=0))
            assert tr.get_write_buffer_limits() == (16384, 65536)
            tr.set_write_buffer_limits(high=1000)
            assert tr.get_write_buffer_limits() == (250, 1000)
            tr.set_write_buffer_limits(low=100)
            assert tr.get_write_buffer_limits() == (100, 400)
            tr.set_write_buffer_limits(high=10, low=10)
            with pytest.raises(ValueError):
                tr.set_write_buffer_limits(high=1, low=2)
            with pytest.raises(ValueError):
                tr.set_write_buffer_limits(high=-1)
            tr.close()
            await asyncio.sleep(0)

        run(loop, main())

    def test_flow_control_with_a_slow_reader(self, anyloop, pipe_fds):
        loop = anyloop
        r, w = pipe_fds()
        os.set_blocking(r, False)
        proto = WriteProto()
        payload = bytes(range(256)) * 4096  # 1 MiB
        got = bytearray()

        async def main():
            tr, _ = await loop.connect_write_pipe(lambda: proto, open(w, "wb", buffering=0))
            tr.set_write_buffer_limits(high=64 * 1024, low=16 * 1024)
            tr.write(payload)
            assert proto.events == ["made", "pause"]
            assert tr.get_write_buffer_size() > 64 * 1024
            assert tr.get_write_buffer_size() < len(payload)
            # Slow reader: 16 KiB per millisecond.
            while len(got) < len(payload):
                try:
                    got.extend(os.read(r, 16 * 1024))
                except BlockingIOError:
                    pass
                await asyncio.sleep(0.001)
            assert tr.get_write_buffer_size() == 0
            tr.close()
            await asyncio.sleep(0.01)

        run(loop, main())
        assert bytes(got) == payload
        assert proto.events == ["made", "pause", "resume", "lost"]
        assert proto.lost is None

    def test_close_flushes_then_loses(self, anyloop, no_fd_leak, pipe_fds):
        loop = anyloop
        r, w = pipe_fds()
        os.set_blocking(r, False)
        proto = WriteProto()
        payload = b"z" * (300 * 1024)
        got = bytearray()

        async def main():
            tr, _ = await loop.connect_write_pipe(lambda: proto, open(w, "wb", buffering=0))
            tr.write(payload)
            tr.close()
            assert tr.is_closing()
            tr.write(b"dropped")
            assert proto.events[-1] != "lost"
            while "lost" not in proto.events:
                try:
                    got.extend(os.read(r, 64 * 1024))
                except BlockingIOError:
                    pass
                await asyncio.sleep(0.001)
            while True:
                chunk = os.read(r, 65536)
                if not chunk:
                    break
                got.extend(chunk)

        run(loop, main())
        assert bytes(got) == payload
        assert proto.events.count("lost") == 1 and proto.lost is None

    def test_abort_drops_the_buffer(self, anyloop, no_fd_leak, pipe_fds):
        loop = anyloop
        r, w = pipe_fds()
        proto = WriteProto()

        async def main():
            tr, _ = await loop.connect_write_pipe(lambda: proto, open(w, "wb", buffering=0))
            tr.write(b"q" * (300 * 1024))
            assert tr.get_write_buffer_size() > 0
            tr.abort()
            assert tr.is_closing() and tr.get_write_buffer_size() == 0
            tr.close()
            await asyncio.sleep(0.01)

        run(loop, main())
        assert proto.events == ["made", "pause", "lost"] and proto.lost is None

    def test_connection_lost_once_whatever_is_called(self, loop, no_fd_leak, pipe_fds):
        # (asyncio's write pipe calls connection_lost twice on abort(); abort().)
        r, w = pipe_fds()
        proto = WriteProto()

        async def main():
            tr, _ = await loop.connect_write_pipe(lambda: proto, open(w, "wb", buffering=0))
            tr.write(b"q" * (300 * 1024))
            tr.write_eof()
            tr.abort()
            tr.abort()
            tr.close()
            tr._fatal_error(OSError(errno.EPIPE, "late"))
            os.close(r)
            await asyncio.sleep(0.02)

        run(loop, main())
        assert proto.events == ["made", "pause", "lost"] and proto.lost is None

    def test_reader_closed_with_empty_buffer(self, anyloop, no_fd_leak, pipe_fds):
        loop = anyloop
        r, w = pipe_fds()
        proto = WriteProto()

        async def main():
            tr, _ = await loop.connect_write_pipe(lambda: proto, open(w, "wb", buffering=0))
            os.close(r)
            while "lost" not in proto.events:
                await asyncio.sleep(0.001)
            assert tr.is_closing()

        run(loop, main())
        assert proto.events == ["made", "lost"]
        assert proto.lost is None
        assert not fd_is_open(w)

    def test_reader_closed_with_pending_data(self, anyloop, no_fd_leak, pipe_fds):
        loop = anyloop
        r, w = pipe_fds()
        proto = WriteProto()

        async def main():
            tr, _ = await loop.connect_write_pipe(lambda: proto, open(w, "wb", buffering=0))
            tr.write(b"p" * (300 * 1024))
            assert tr.get_write_buffer_size() > 0
            os.close(r)
            while "lost" not in proto.events:
                await asyncio.sleep(0.001)

        run(loop, main())
        assert proto.events == ["made", "pause", "lost"]
        assert isinstance(proto.lost, BrokenPipeError)

    def test_write_after_reader_closed_epipe(self, anyloop, pipe_fds, caplog):
        loop = anyloop
        r, w = pipe_fds()
        proto = WriteProto()

        async def main():
            tr, _ = await loop.connect_write_pipe(lambda: proto, open(w, "wb", buffering=0))
            os.close(r)
            tr.write(b"into the void")  # EPIPE before the loop noticed
            for _ in range(6):
                tr.write(b"more")  # dropped; a warning after the threshold
            while "lost" not in proto.events:
                await asyncio.sleep(0.001)

        with caplog.at_level(logging.WARNING):
            run(loop, main())
        assert proto.events == ["made", "lost"]
        assert isinstance(proto.lost, BrokenPipeError)
        assert any("pipe closed by peer" in rec.getMessage() for rec in caplog.records)

    def test_socket_peer_closed(self, anyloop, pairs):
        loop = anyloop
        a, b = pairs()
        proto = WriteProto()

        async def main():
            tr, _ = await loop.connect_write_pipe(lambda: proto, a)
            tr.write(b"hi")
            assert b.recv(10) == b"hi"
            b.close()
            while "lost" not in proto.events:
                await asyncio.sleep(0.001)

        run(loop, main())
        assert proto.events == ["made", "lost"]

    def test_char_device(self, anyloop, no_fd_leak):
        loop = anyloop
        proto = WriteProto()

        async def main():
            f = open("/dev/null", "wb", buffering=0)
            tr, _ = await loop.connect_write_pipe(lambda: proto, f)
            tr.write(b"x" * 100000)
            assert tr.get_write_buffer_size() == 0
            tr.close()
            await asyncio.sleep(0.01)

        run(loop, main())
        assert proto.events == ["made", "lost"]

    def test_pipe_pair_round_trip_via_streams(self, anyloop, pipe_fds):
        loop = anyloop
        r, w = pipe_fds()

        async def main():
            reader = asyncio.StreamReader()
            await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader),
                                         open(r, "rb", buffering=0))
            wtr, wproto = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin,
                                                        open(w, "wb", buffering=0))
            writer = asyncio.StreamWriter(wtr, wproto, None, loop)
            for i in range(100):
                writer.write(b"line %d\n" % i)
            await writer.drain()
            writer.close()
            lines = []
            while True:
                line = await reader.readline()
                if not line:
                    break
                lines.append(line)
            return lines

        lines = run(loop, main())
        assert lines == [b"line %d\n" % i for i in range(100)]


# -- subprocesses -------------------------------------------------------------------------


class TestSubprocess:
    def test_exec_communicate(self, anyloop):
        loop = anyloop

        async def main():
            p = await asyncio.create_subprocess_exec(
                PY, "-c", "import sys; d = sys.stdin.buffer.read(); "
                          "sys.stdout.buffer.write(d.upper()); sys.stderr.write('err'); "
                          "sys.exit(7)",
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out, err = await p.communicate(b"hello" * 100000)
            return out, err, p.returncode

        out, err, rc = run(loop, main())
        assert out == b"HELLO" * 100000
        assert err == b"err"
        assert rc == 7

    def test_shell(self, anyloop):
        async def main():
            p = await asyncio.create_subprocess_shell(
                "echo out; echo err >&2; exit 3",
                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out, err = await p.communicate()
            return out, err, p.returncode

        assert run(anyloop, main()) == (b"out\n", b"err\n", 3)

    def test_stderr_to_stdout_and_devnull(self, loop):
        async def main():
            p = await asyncio.create_subprocess_shell(
                "echo a; echo b >&2", stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            out, err = await p.communicate()
            assert err is None and p.stdin is None
            assert sorted(out.split()) == [b"a", b"b"]
            p = await asyncio.create_subprocess_exec(
                "true", stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)
            assert await p.wait() == 0

        run(loop, main())

    def test_streams_line_by_line(self, loop):
        async def main():
            p = await asyncio.create_subprocess_exec(
                PY, "-u", "-c", "import sys\nfor line in sys.stdin: print(line.strip()[::-1])",
                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            answers = []
            for word in (b"abc", b"hello", b"xyz"):
                p.stdin.write(word + b"\n")
                await p.stdin.drain()
                answers.append(await p.stdout.readline())
            p.stdin.close()
            await p.stdin.wait_closed()
            assert await p.stdout.read() == b""
            assert await p.wait() == 0
            return answers

        assert run(loop, main()) == [b"cba\n", b"olleh\n", b"zyx\n"]

    @pytest.mark.parametrize("how, code", [
        ("kill", -signal.SIGKILL),
        ("terminate", -signal.SIGTERM),
        ("send_signal", -signal.SIGUSR1),
    ])
    def test_kill_terminate_send_signal(self, anyloop, how, code):
        async def main():
            p = await asyncio.create_subprocess_exec(
                PY, "-c", "import sys, time; print('ready', flush=True); time.sleep(30)",
                stdout=subprocess.PIPE)
            assert await p.stdout.readline() == b"ready\n"
            if how == "send_signal":
                p.send_signal(signal.SIGUSR1)
            else:
                getattr(p, how)()
            return await p.wait()

        assert run(anyloop, main()) == code

    def test_send_signal_handled_by_child(self, loop):
        async def main():
            p = await asyncio.create_subprocess_exec(
                PY, "-c",
                "import signal, sys, time\n"
                "signal.signal(signal.SIGUSR1, lambda *a: sys.exit(42))\n"
                "print('ready', flush=True)\n"
                "time.sleep(30)\n",
                stdout=subprocess.PIPE)
            assert await p.stdout.readline() == b"ready\n"
            p.send_signal(signal.SIGUSR1)
            return await p.wait()

        assert run(loop, main()) == 42

    def test_child_exits_before_we_read(self, anyloop):
        async def main():
            p = await asyncio.create_subprocess_exec(
                PY, "-c", "import sys; sys.stdout.write('x' * 50000); sys.stderr.write('e')",
                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            # Let it exit (and be reaped) before reading anything.
            deadline = time.monotonic() + 10
            while p.returncode is None and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            assert p.returncode == 0
            out = await p.stdout.read()
            err = await p.stderr.read()
            return out, err

        assert run(anyloop, main()) == (b"x" * 50000, b"e")

    def test_protocol_callbacks(self, loop):
        events = []
        done = loop.create_future()

        class Proto(asyncio.SubprocessProtocol):
            def connection_made(self, transport):
                events.append("made")

            def pipe_data_received(self, fd, data):
                events.append(("data", fd, data))

            def pipe_connection_lost(self, fd, exc):
                events.append(("pipe_lost", fd, exc))

            def process_exited(self):
                events.append("exited")

            def connection_lost(self, exc):
                events.append(("lost", exc))
                done.set_result(None)

        async def main():
            tr, proto = await loop.subprocess_exec(
                Proto, PY, "-c", "print('hi')", stdin=None, stderr=None)
            assert tr.get_pid() > 0
            assert isinstance(tr.get_extra_info("subprocess"), subprocess.Popen)
            assert tr.get_pipe_transport(0) is None
            assert tr.get_pipe_transport(1) is not None
            await done
            assert tr.get_returncode() == 0
            tr.close()

        run(loop, main())
        assert events[0] == "made"
        assert events[-1] == ("lost", None)
        assert b"".join(e[2] for e in events if e[0] == "data" and e[1] == 1) == b"hi\n"
        assert ("pipe_lost", 1, None) in events
        assert events.count("exited") == 1

    def test_transport_close_kills_a_running_child(self, loop):
        async def main():
            tr, proto = await loop.subprocess_exec(
                asyncio.SubprocessProtocol, "sleep", "30",
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            tr.close()
            assert tr.is_closing()
            return await tr._wait()

        assert run(loop, main()) == -signal.SIGKILL

    def test_reaped_elsewhere(self, loop, caplog):
        async def main():
            tr, proto = await loop.subprocess_exec(
                asyncio.SubprocessProtocol, PY, "-c", "import sys; sys.exit(5)",
                stdin=None, stdout=None, stderr=None)
            tr.get_extra_info("subprocess").wait()  # reaps it behind our back
            rc = await tr._wait()
            tr.close()
            return rc

        with caplog.at_level(logging.WARNING):
            assert run(loop, main()) == 5
        assert not [r for r in caplog.records if "exit status" in r.getMessage()]

    def test_program_not_found(self, anyloop, no_fd_leak):
        async def main():
            await asyncio.create_subprocess_exec(
                "/nonexistent/program", stdin=subprocess.PIPE, stdout=subprocess.PIPE)

        with pytest.raises(FileNotFoundError):
            run(anyloop, main())

    @pytest.mark.parametrize("kwargs", [
        {"universal_newlines": True},
        {"shell": True},
        {"bufsize": 4096},
        {"text": True},
        {"encoding": "utf-8"},
        {"errors": "strict"},
    ])
    def test_exec_bad_arguments(self, anyloop, kwargs, no_fd_leak):
        with pytest.raises(ValueError):
            run(anyloop, anyloop.subprocess_exec(asyncio.SubprocessProtocol, "true", **kwargs))
        assert zombies() == []

    @pytest.mark.parametrize("cmd, kwargs", [
        ("true", {"universal_newlines": True}),
        ("true", {"shell": False}),
        ("true", {"bufsize": 1}),
        ("true", {"text": True}),
        ("true", {"encoding": "utf-8"}),
        ("true", {"errors": "strict"}),
        (["true"], {}),
        (None, {}),
    ])
    def test_shell_bad_arguments(self, anyloop, cmd, kwargs):
        with pytest.raises(ValueError):
            run(anyloop, anyloop.subprocess_shell(asyncio.SubprocessProtocol, cmd, **kwargs))

    def test_text_mode_refused_by_create_subprocess(self, anyloop):
        async def main():
            with pytest.raises(ValueError, match="text must be False"):
                await asyncio.create_subprocess_exec("true", text=True)
            with pytest.raises(ValueError, match="universal_newlines must be False"):
                await asyncio.create_subprocess_shell("true", universal_newlines=True)

        run(anyloop, main())

    def test_many_short_children_leak_nothing(self, loop, no_fd_leak):
        before = set(children())

        async def one(i):
            p = await asyncio.create_subprocess_exec(
                PY, "-S", "-c", f"print({i})",
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            out, _ = await p.communicate()
            return int(out), p.returncode

        async def main():
            results = []
            for batch in range(5):
                results += await asyncio.gather(*(one(batch * 8 + i) for i in range(8)))
            return results

        results = run(loop, main(), timeout=50)
        assert results == [(i, 0) for i in range(40)]
        assert set(children()) - before == set()
        assert zombies() == []
        assert loop._unix_children == {}

    def test_no_sigchld_handler_installed(self, loop):
        async def main():
            p = await asyncio.create_subprocess_exec("true")
            return await p.wait()

        assert run(loop, main()) == 0
        assert signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL

    def test_child_does_not_inherit_loop_fds(self, loop):
        async def main():
            p = await asyncio.create_subprocess_exec(
                PY, "-c", "import os; print(sorted(int(x) for x in os.listdir('/proc/self/fd')))",
                stdout=subprocess.PIPE)
            out, _ = await p.communicate()
            return eval(out)

        fds = run(loop, main())
        # stdin, stdout, stderr and the listing's own directory fd.
        assert len(fds) <= 4 and set(fds) >= {0, 1, 2}

    def test_cancelled_while_starting(self, loop):
        async def main():
            task = asyncio.ensure_future(loop.subprocess_exec(
                asyncio.SubprocessProtocol, "sleep", "30"))
            await asyncio.sleep(0)  # the child is spawned, its pipes not yet connected
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            for _ in range(100):
                if not loop._unix_children:
                    break
                await asyncio.sleep(0.01)

        before = set(children())
        run(loop, main())
        assert loop._unix_children == {}
        assert set(children()) - before == set()

    def test_thread_fallback_without_pidfd(self, loop, monkeypatch, no_fd_leak):
        monkeypatch.setattr(_unix, "_USE_PIDFD", False)

        async def main():
            p = await asyncio.create_subprocess_exec(
                PY, "-c", "print('t'); raise SystemExit(9)", stdout=subprocess.PIPE)
            assert loop._unix_children == {}
            assert any(t.name == f"ioloop-waitpid-{p.pid}" for t in threading.enumerate())
            out, _ = await p.communicate()
            return out, p.returncode

        assert run(loop, main()) == (b"t\n", 9)
        assert zombies() == []

    def test_close_loop_with_running_child(self, make_loop, no_fd_leak):
        loop = make_loop()
        try:
            tr, _ = run(loop, loop.subprocess_exec(
                asyncio.SubprocessProtocol, "sleep", "30",
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            proc = tr.get_extra_info("subprocess")
            assert len(loop._unix_children) == 1
        finally:
            loop.close()
        assert loop._unix_children == {}  # its pidfd is closed (no_fd_leak)
        proc.kill()
        assert proc.wait(10) == -signal.SIGKILL
        tr.close()

    def test_close_loop_after_child_exited_unnoticed(self, make_loop):
        loop = make_loop()
        try:
            tr, _ = run(loop, loop.subprocess_exec(
                asyncio.SubprocessProtocol, "true",
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            proc = tr.get_extra_info("subprocess")
            deadline = time.monotonic() + 10
            while children().get(proc.pid) != "Z" and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            loop.close()
        assert proc.returncode == 0  # reaped by close(): no zombie left
        assert proc.pid not in children()
        tr.close()


# -- child watchers (Python 3.10-3.13) -----------------------------------------------------


HAS_WATCHERS = hasattr(asyncio, "AbstractChildWatcher") and ioloop.EventLoopPolicy is not None


@pytest.fixture
def ioloop_policy():
    """ioloop's policy installed for the test, asyncio's default restored."""
    import warnings

    policy = ioloop.EventLoopPolicy()
    old = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(policy)
    try:
        yield policy
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            policy.set_child_watcher(None)
        asyncio.set_event_loop_policy(old)


def _watcher(active):
    from unittest import mock
    watcher = mock.create_autospec(asyncio.AbstractChildWatcher)
    watcher.is_active.return_value = active
    # Before 3.12 asyncio asks the object __enter__ returned.
    watcher.__enter__.return_value.is_active.return_value = active
    return watcher


def _expected_watcher_calls(exit_args):
    """What asyncio does with the watcher when a subprocess starts."""
    from unittest import mock
    if sys.version_info >= (3, 12):
        return [mock.call.__enter__(), mock.call.is_active(), mock.call.__exit__(*exit_args)]
    return [mock.call.__enter__(), mock.call.__enter__().is_active(),
            mock.call.__exit__(*exit_args)]


def _set_watcher(watcher):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        asyncio.set_child_watcher(watcher)


@pytest.mark.skipif(not HAS_WATCHERS, reason="no child watchers on this Python")
@pytest.mark.default_engine
class TestChildWatchers:
    def test_deprecated_from_3_12_as_asyncio_s(self, ioloop_policy):
        import warnings
        for policy in (ioloop_policy, asyncio.DefaultEventLoopPolicy()):
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                policy.set_child_watcher(None)
                policy.get_child_watcher()
            deprecations = [x for x in w if issubclass(x.category, DeprecationWarning)]
            expected = 2 if sys.version_info >= (3, 12) else 0
            assert len(deprecations) == expected, (policy, [str(x.message) for x in w])
            if expected:
                assert "'set_child_watcher' is deprecated as of Python 3.12" in str(
                    deprecations[0].message)

    def test_inactive_watcher_refuses_a_subprocess(self, make_loop, ioloop_policy):
        """CPython's test_create_subprocess_fails_with_inactive_watcher."""
        from unittest import mock
        watcher = _watcher(active=False)

        async def main():
            _set_watcher(watcher)
            with pytest.raises(RuntimeError, match="get_child_watcher.. is not activated"):
                await asyncio.create_subprocess_exec(PY, "-c", "pass")

        loop = make_loop()
        try:
            run(loop, main())
        finally:
            loop.close()
        watcher.add_child_handler.assert_not_called()
        assert watcher.mock_calls == _expected_watcher_calls((RuntimeError, mock.ANY, mock.ANY))

    def test_active_watcher_is_consulted_and_ioloop_reaps(self, make_loop, ioloop_policy):
        from unittest import mock
        watcher = _watcher(active=True)

        async def main():
            _set_watcher(watcher)
            proc = await asyncio.create_subprocess_exec(PY, "-c", "pass")
            return await proc.wait()

        loop = make_loop()
        try:
            assert run(loop, main()) == 0
        finally:
            loop.close()
        watcher.add_child_handler.assert_not_called()
        assert watcher.mock_calls == _expected_watcher_calls((None, None, None))

    def test_no_watcher_no_check(self, make_loop, ioloop_policy):
        async def main():
            proc = await asyncio.create_subprocess_exec(PY, "-c", "pass")
            return await proc.wait()

        loop = make_loop()
        try:
            assert run(loop, main()) == 0
        finally:
            loop.close()

    def test_set_child_watcher_closes_the_previous_and_checks_the_type(self, ioloop_policy):
        first = _watcher(active=True)
        _set_watcher(first)
        _set_watcher(None)
        first.close.assert_called_once_with()
        with pytest.raises(TypeError, match="watcher"):
            _set_watcher(42)


# -- CPython's own subprocess tests on this loop -------------------------------------------

try:
    from test.test_asyncio import test_subprocess as _cpython_subprocess
    from test.test_asyncio import utils as _cpython_utils
except Exception:  # pragma: no cover - the test package is stripped
    _cpython_subprocess = None

if _cpython_subprocess is not None and hasattr(_cpython_subprocess, "SubprocessMixin"):
    class TestCPythonSubprocessMixin(_cpython_subprocess.SubprocessMixin,
                                     _cpython_utils.TestCase):
        """``test.test_asyncio.test_subprocess.SubprocessMixin`` with an
        ioloop loop (what its per-watcher classes do with asyncio's)."""

        def setUp(self):
            super().setUp()
            self.loop = ioloop.new_event_loop()
            self.set_event_loop(self.loop)
else:  # pragma: no cover
    def test_cpython_subprocess_mixin():
        pytest.skip("test.test_asyncio.test_subprocess is not importable")


def test_unclosed_loop_collected_releases_signals(make_loop, no_fd_leak):
    lp = make_loop()
    lp.add_signal_handler(signal.SIGUSR1, lambda: None)
    del lp
    gc.collect()
    assert current_wakeup_fd() == -1
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL
