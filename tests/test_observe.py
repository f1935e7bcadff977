"""Observability: stats(), the blocking-loop watchdog, introspection of fds
and timers, and driving the loop from another main loop (run_once,
poll_timeout, fileno). docs/observability.md.

Timing: nothing here asserts an upper bound on wall-clock time; durations
are checked against lower bounds that sleeps guarantee, and the watchdog
tests wait on Events that the warning itself sets.
"""

import asyncio
import gc
import logging
import math
import selectors
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import ioloop
from ioloop import FdInfo, IOLoop, LoopStats, TimerInfo

from support import run_until


def _pump(loop, predicate, timeout=10.0):
    """Run iterations (run_once, which schedules nothing of its own) until
    ``predicate()`` is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        loop.run_once(0.01)

pytestmark = pytest.mark.timeout(60)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _watchdog_threads():
    return [t for t in threading.enumerate() if t.name == "ioloop-watchdog"]


class _Catch(logging.Handler):
    """Collects the watchdog's records; sets ``seen`` at the first one."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.records = []
        self.seen = threading.Event()

    def emit(self, record):
        if "event loop is blocked" in record.getMessage():
            self.records.append(record)
            self.seen.set()


@pytest.fixture
def stalls():
    catch = _Catch()
    loggers = [logging.getLogger("ioloop"), logging.getLogger("asyncio")]
    for lg in loggers:
        lg.addHandler(catch)
    try:
        yield catch
    finally:
        for lg in loggers:
            lg.removeHandler(catch)


# -- stats() -------------------------------------------------------------------------


def test_stats_is_a_typed_snapshot(loop):
    s = loop.stats()
    assert isinstance(s, LoopStats)
    assert s.iterations == s.callbacks == s.io_handlers == s.timers == 0
    assert s.timers_pending == s.timers_cancelled == s.fds == s.ready == s.stalls == 0
    assert s.active_time == s.idle_time == 0.0
    assert s.longest_callback == 0.0 and s.longest_callback_repr is None
    assert s.lag_histogram == (0,) * LoopStats.LAG_BUCKETS
    with pytest.raises(AttributeError):
        s.iterations = 5  # frozen


def test_stats_counts_classic_api(loop, pairs):
    a, b = pairs()
    left = [10]

    def step():
        left[0] -= 1
        if left[0]:
            loop.add_callback(step)

    def on_read(fd, events):
        a.recv(100)
        loop.remove_handler(a)

    loop.add_callback(step)
    now = loop.time()
    for _ in range(3):
        loop.add_timeout(now, lambda: None)
    loop.add_handler(a, on_read, IOLoop.READ)
    b.send(b"x")
    assert loop.stats().ready == 1
    _pump(loop, lambda: left[0] == 0 and loop.stats().io_handlers == 1
          and loop.stats().timers == 3)
    s = loop.stats()
    assert s.callbacks == 10
    assert s.timers == 3
    assert s.io_handlers == 1
    assert s.iterations >= 10
    assert s.fds == 0
    assert sum(s.lag_histogram) == 3


def test_stats_counts_asyncio_api(loop, pairs):
    a, b = pairs()
    a.setblocking(False)
    got = []

    def reader():
        got.append(a.recv(100))
        loop.remove_reader(a)

    async def task():
        await asyncio.sleep(0)
        return 1

    loop.add_reader(a, reader)
    b.send(b"x")
    loop.call_soon(lambda: None)
    loop.call_later(0, lambda: None)
    t = loop.create_task(task())
    loop.run_until_complete(t)
    _pump(loop, lambda: got and loop.stats().timers == 1)
    s = loop.stats()
    assert s.io_handlers >= 1
    assert s.timers == 1
    # call_soon, two task steps, the done callback that stops the loop...
    assert s.callbacks >= 4


def test_timers_pending_and_cancelled(loop):
    now = loop.time()

    def forgotten():
        pass

    handles = [loop.call_at(now + 100 + i, forgotten) for i in range(5)]
    loop.add_timeout(now + 50, forgotten)
    handles[1].cancel()
    loop.remove_timeout(handles[3])
    s = loop.stats()
    assert s.timers_pending == 4
    assert s.timers_cancelled == 2
    timers = loop.pending_timers()
    assert all(isinstance(t, TimerInfo) for t in timers)
    assert [t.when for t in timers] == sorted([now + 50, now + 100, now + 102, now + 104])
    assert all("forgotten" in t.callback for t in timers)


def test_pending_timers_of_asyncio_sleep(loop):
    async def sleeper():
        await asyncio.sleep(100)

    task = loop.create_task(sleeper())
    loop.run_until_complete(asyncio.sleep(0.01))
    (timer,) = loop.pending_timers()
    assert "_set_result_unless_cancelled" in timer.callback
    assert timer.when > loop.time() + 90
    task.cancel()
    loop.run_until_complete(asyncio.gather(task, return_exceptions=True))
    assert loop.pending_timers() == []


def test_registered_fds(loop, pairs):
    a, b = pairs()
    c, d = pairs()

    def leaked_handler(fd, events):
        pass

    def leaked_reader():
        pass

    loop.add_handler(a, leaked_handler, IOLoop.READ)
    loop.add_reader(c.fileno(), leaked_reader)
    loop.add_writer(c.fileno(), leaked_reader)
    fds = {f.fd: f for f in loop.registered_fds()}
    assert all(isinstance(f, FdInfo) for f in fds.values())
    assert loop.stats().fds == 2
    fa = fds[a.fileno()]
    assert fa.kind == "handler"
    assert fa.events & IOLoop.READ and fa.events & IOLoop.ERROR
    assert "leaked_handler" in fa.handler
    assert "socket" in fa.obj
    fc = fds[c.fileno()]
    assert fc.kind == "reader/writer"
    assert fc.events & IOLoop.READ and fc.events & IOLoop.WRITE
    assert "leaked_reader" in fc.reader and "leaked_reader" in fc.writer
    loop.remove_handler(a)
    loop.remove_reader(c.fileno())
    loop.remove_writer(c.fileno())
    assert loop.registered_fds() == []
    assert loop.stats().fds == 0


def test_registered_fds_shows_transports(loop):
    accepted = []

    async def main():
        server = await asyncio.start_server(lambda r, w: accepted.append(w), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while not accepted:
            await asyncio.sleep(0.01)
        kinds = [f.kind for f in loop.registered_fds()]
        for w in (writer, *accepted):
            w.close()
            await w.wait_closed()
        server.close()
        await server.wait_closed()
        return kinds

    kinds = loop.run_until_complete(main())
    assert "transport" in kinds


def test_utilization_math():
    base = dict(time=0.0, iterations=0, callbacks=0, io_handlers=0, timers=0,
                timers_pending=0, timers_cancelled=0, fds=0, ready=0,
                longest_callback=0.0, longest_callback_repr=None,
                lag_histogram=(0,) * 24, stalls=0)
    s0 = LoopStats(active_time=1.0, idle_time=3.0, **base)
    s1 = LoopStats(active_time=4.0, idle_time=4.0, **base)
    assert s0.utilization() == 0.25
    assert s1.utilization(s0) == 0.75
    assert s0.utilization(s0) == 0.0
    with pytest.raises(TypeError, match="since"):
        s1.utilization(0.5)


def test_lag_bounds():
    assert LoopStats.lag_bounds(0) == (0.0, 1e-6)
    assert LoopStats.lag_bounds(1) == (1e-6, 2e-6)
    low, high = LoopStats.lag_bounds(LoopStats.LAG_BUCKETS - 1)
    assert low > 1 and high == math.inf
    with pytest.raises(ValueError, match="bucket"):
        LoopStats.lag_bounds(LoopStats.LAG_BUCKETS)
    with pytest.raises(TypeError, match="bucket"):
        LoopStats.lag_bounds(1.0)


def test_active_and_idle_time(loop):
    def busy():
        time.sleep(0.3)  # the loop is not in epoll_wait: active

    s0 = loop.stats()
    loop.add_callback(busy)
    loop.call_later(0.3, loop.stop)  # the loop sleeps in epoll_wait: idle
    loop.start()
    s1 = loop.stats()
    assert s1.active_time - s0.active_time >= 0.25
    assert s1.idle_time - s0.idle_time >= 0.0
    assert 0.0 < s1.utilization(s0) <= 1.0
    # A loop that only waits is mostly idle.
    loop.call_later(0.3, loop.stop)
    loop.start()
    s2 = loop.stats()
    assert s2.idle_time - s1.idle_time >= 0.25
    assert s2.utilization(s1) < s1.utilization(s0)
    # Not running: nothing accrues.
    time.sleep(0.05)
    s3 = loop.stats()
    assert (s3.active_time, s3.idle_time) == (s2.active_time, s2.idle_time)


def test_stats_from_another_thread_while_polling(loop):
    running = threading.Event()
    got = []

    def reader_thread():
        running.wait(10)
        time.sleep(0.2)
        got.append(loop.stats())
        loop.add_callback(loop.stop)

    th = threading.Thread(target=reader_thread)
    th.start()
    loop.add_callback(running.set)
    loop.call_later(30, lambda: None)  # the loop sleeps until stopped
    loop.start()
    th.join()
    # The poll still in progress is counted as idle.
    assert got[0].idle_time >= 0.15


def test_longest_callback_classic(loop):
    def slow_classic_callback():
        time.sleep(0.2)

    loop.add_callback(slow_classic_callback)
    loop.add_callback(loop.stop)
    loop.start()
    s = loop.stats()
    assert s.longest_callback >= 0.19
    assert "slow_classic_callback" in s.longest_callback_repr


def test_longest_callback_task_step_names_the_task(loop):
    async def slow_coroutine():
        time.sleep(0.2)

    loop.run_until_complete(slow_coroutine())
    s = loop.stats()
    assert s.longest_callback >= 0.19
    assert "Task" in s.longest_callback_repr and "slow_coroutine" in s.longest_callback_repr


def test_lag_histogram_sees_a_late_timer(loop):
    def block():
        time.sleep(0.15)

    loop.call_later(0, lambda: None)
    loop.call_soon(block)  # runs before the timer, in the same iteration
    loop.call_later(0.01, loop.stop)
    loop.start()
    hist = loop.stats().lag_histogram
    assert sum(hist) == 2
    late = sum(n for i, n in enumerate(hist) if LoopStats.lag_bounds(i)[1] > 0.1)
    assert late >= 1


def test_lag_of_a_timer_in_the_infinite_past(loop):
    loop.call_at(-math.inf, lambda: None)
    loop.add_timeout(-1e300, lambda: None)
    loop.call_later(0, loop.stop)
    loop.start()
    hist = loop.stats().lag_histogram
    assert hist[-1] == 2 and sum(hist) == 3


# -- the watchdog ----------------------------------------------------------------------


def test_blocking_threshold_validation(loop):
    for bad in ("1", b"1", [1], True):
        with pytest.raises(TypeError, match="seconds"):
            loop.set_blocking_threshold(bad)
    for bad in (0, -1, 0.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="seconds"):
            loop.set_blocking_threshold(bad)
    assert loop.get_blocking_threshold() is None
    loop.set_blocking_threshold(None)
    assert _watchdog_threads() == []
    loop.close()
    with pytest.raises(RuntimeError, match="closed"):
        loop.set_blocking_threshold(1)
    loop.set_blocking_threshold(None)


def _stall_until_seen(stalls, extra=0.3):
    """A callback that blocks until the watchdog has logged (or 10 s), then a
    bit longer: a stall must still give one warning only."""
    def blocking_callback_for_test():
        stalls.seen.wait(10)
        time.sleep(extra)
    return blocking_callback_for_test


def test_watchdog_classic_callback(loop, stalls):
    loop.set_blocking_threshold(0.1)
    assert loop.get_blocking_threshold() == 0.1
    assert len(_watchdog_threads()) == 1
    cb = _stall_until_seen(stalls)
    loop.add_callback(cb)
    loop.add_callback(loop.stop)
    loop.start()
    assert stalls.seen.is_set(), "no warning while the callback was blocking"
    assert len(stalls.records) == 1
    rec = stalls.records[0]
    assert rec.name == "ioloop" and rec.levelno == logging.WARNING
    text = rec.getMessage()
    assert "blocking_callback_for_test" in text
    # The loop thread's stack, taken while it was blocked.
    assert "stalls.seen.wait(10)" in text or "in blocking_callback_for_test" in text
    assert loop.stats().stalls == 1


def test_watchdog_task_step_uses_asyncio_logger(loop, stalls):
    loop.set_blocking_threshold(0.1)

    async def stuck_coroutine():
        await asyncio.sleep(0)
        stalls.seen.wait(10)

    loop.run_until_complete(stuck_coroutine())
    assert stalls.seen.is_set()
    assert len(stalls.records) == 1
    rec = stalls.records[0]
    assert rec.name == "asyncio"
    assert "stuck_coroutine" in rec.getMessage() and "Task" in rec.getMessage()


def test_watchdog_io_handler(loop, pairs, stalls):
    a, b = pairs()
    loop.set_blocking_threshold(0.1)

    def stuck_handler(fd, events):
        a.recv(10)
        loop.remove_handler(a)
        stalls.seen.wait(10)
        loop.stop()

    loop.add_handler(a, stuck_handler, IOLoop.READ)
    b.send(b"x")
    loop.start()
    assert stalls.seen.is_set()
    assert "stuck_handler" in stalls.records[0].getMessage()


def test_watchdog_protocol_event(loop, stalls):
    loop.set_blocking_threshold(0.1)

    class StuckProtocol(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport

        def data_received(self, data):
            stalls.seen.wait(10)
            self.transport.close()  # the transport goes during its own event

    async def main():
        server = await loop.create_server(StuckProtocol, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"x")
        assert await reader.read() == b""
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())
    assert stalls.seen.is_set()
    rec = stalls.records[0]
    assert rec.name == "asyncio"
    assert "Transport" in rec.getMessage() and "in data_received" in rec.getMessage()
    s = loop.stats()
    assert s.longest_callback > 0.09 and "Transport" in s.longest_callback_repr


def test_watchdog_timer(loop, stalls):
    loop.set_blocking_threshold(0.1)

    def stuck_timer():
        stalls.seen.wait(10)
        loop.stop()

    loop.call_later(0.01, stuck_timer)
    loop.start()
    assert stalls.seen.is_set()
    assert "stuck_timer" in stalls.records[0].getMessage()
    assert stalls.records[0].name == "asyncio"  # call_later: asyncio's API


def test_watchdog_ignores_time_in_epoll_wait(loop, stalls):
    loop.set_blocking_threshold(0.05)
    loop.call_later(0.4, loop.stop)
    loop.start()
    assert stalls.records == []
    assert loop.stats().stalls == 0


def test_watchdog_counts_each_stall_once(loop, stalls):
    loop.set_blocking_threshold(0.1)
    done = []

    def first():
        stalls.seen.wait(10)
        time.sleep(0.2)
        stalls.seen.clear()

    def second():
        stalls.seen.wait(10)
        done.append(1)
        loop.stop()

    loop.add_callback(first)
    loop.add_callback(second)
    loop.start()
    assert done
    assert len(stalls.records) == 2
    assert loop.stats().stalls == 2


def test_watchdog_thread_ends_with_close_and_none(loop):
    loop.set_blocking_threshold(0.5)
    loop.set_blocking_threshold(0.2)  # replaces, does not add
    assert len(_watchdog_threads()) == 1
    loop.set_blocking_threshold(None)
    assert _watchdog_threads() == []
    loop.set_blocking_threshold(0.2)
    loop.close()
    assert _watchdog_threads() == []


def test_watchdog_thread_ends_when_loop_is_collected(make_loop):
    lp = make_loop()
    lp.set_blocking_threshold(0.05)
    (thread,) = _watchdog_threads()
    del lp
    gc.collect()
    thread.join(10)
    assert not thread.is_alive()


# -- embedding ---------------------------------------------------------------------------


def test_poll_timeout(loop):
    assert loop.poll_timeout() is None
    h = loop.call_later(50, lambda: None)
    t = loop.poll_timeout()
    assert 0 < t <= 50
    h.cancel()
    assert loop.poll_timeout() is None
    loop.add_callback(lambda: None)
    assert loop.poll_timeout() == 0.0
    loop.run_once()
    assert loop.poll_timeout() is None
    loop.call_later(0, lambda: None)
    assert loop.poll_timeout() == 0.0


def test_run_once_runs_one_iteration(loop):
    ran = []

    def first():
        ran.append(1)
        loop.add_callback(ran.append, 2)  # waits for the next iteration

    loop.add_callback(first)
    it = loop.stats().iterations
    loop.run_once()
    assert ran == [1]
    assert loop.stats().iterations == it + 1
    assert not loop.is_running()
    loop.run_once()
    assert ran == [1, 2]


def test_run_once_timeout(loop):
    with pytest.raises(TypeError, match="timeout"):
        loop.run_once("1")
    with pytest.raises(ValueError, match="timeout"):
        loop.run_once(-1)
    with pytest.raises(ValueError, match="timeout"):
        loop.run_once(math.nan)
    t0 = time.monotonic()
    loop.run_once(0.05)  # nothing to do: waits about that long
    assert time.monotonic() - t0 >= 0.04
    ran = []
    loop.call_later(0.05, ran.append, 1)
    loop.run_once(None)  # waits for the timer
    if not ran:
        loop.run_once(None)
    assert ran == [1]


def test_run_once_refuses_a_running_or_closed_loop(loop):
    errors = []

    def inside():
        try:
            loop.run_once()
        except RuntimeError as exc:
            errors.append(exc)
        loop.stop()

    loop.add_callback(inside)
    loop.start()
    assert errors
    loop.close()
    with pytest.raises(RuntimeError, match="closed"):
        loop.run_once()


def test_run_once_is_the_running_loop(loop):
    seen = []
    loop.call_soon(lambda: seen.append((asyncio.get_running_loop(), IOLoop.current())))
    loop.run_once()
    assert seen == [(loop, loop)]
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()


def test_embedded_in_a_selectors_loop(loop, pairs):
    """asyncio code (a task, a timer, socket I/O, a future resolved from
    another thread) runs with a selectors loop in charge."""
    a, b = pairs()
    a.setblocking(False)

    async def main():
        await asyncio.sleep(0.02)
        data = await loop.sock_recv(a, 10)
        fut = loop.create_future()
        threading.Timer(0.05, loop.call_soon_threadsafe, (fut.set_result, "thread")).start()
        return data, await fut

    task = loop.create_task(main())
    b.send(b"hi")
    host = selectors.DefaultSelector()
    host.register(loop.fileno(), selectors.EVENT_READ)
    deadline = time.monotonic() + 20
    try:
        while not task.done() and time.monotonic() < deadline:
            timeout = loop.poll_timeout()
            # Never sleep forever: a lost wakeup then shows as a failure, not a hang.
            host.select(5 if timeout is None else min(timeout, 5))
            loop.run_once()
    finally:
        host.close()
    assert task.result() == (b"hi", "thread")


def test_cross_thread_post_wakes_the_host_loop(loop):
    """Between run_once() calls, a callback posted from another thread makes
    fileno() readable."""
    loop.run_once()
    host = selectors.DefaultSelector()
    host.register(loop.fileno(), selectors.EVENT_READ)
    try:
        assert loop.poll_timeout() is None
        threading.Timer(0.05, loop.add_callback, (lambda: None,)).start()
        assert host.select(10), "fileno() did not become readable"
        assert loop.poll_timeout() == 0.0 or loop.stats().ready == 1
        loop.run_once()
        assert loop.stats().callbacks == 1
    finally:
        host.close()


@pytest.mark.skipif(not (EXAMPLES / "embed_selectors.py").exists(),
                    reason="examples/ not shipped alongside the tests")
def test_embedding_example_runs():
    proc = subprocess.run([sys.executable, str(EXAMPLES / "embed_selectors.py")],
                          capture_output=True, text=True, timeout=50)
    assert proc.returncode == 0, proc.stderr
    assert "asyncio side got (b'hello', 'from a thread')" in proc.stdout
    assert "echoed back b'HELLO'" in proc.stdout
    assert "host loop read b'ping'" in proc.stdout
    assert proc.stdout.rstrip().endswith("done")


def test_exports():
    for name in ("LoopStats", "FdInfo", "TimerInfo"):
        assert name in ioloop.__all__
