"""Callbacks, threads, futures, executors and exception reporting.

docs/behaviour.md "Callbacks and threads" and "Exceptions": FIFO order,
callbacks added during a pass wait for the next iteration, cross-thread
wake-ups, add_future, awaitables returned by callbacks, the exception
handler API, and KeyboardInterrupt/SystemExit losing no callback or timer.
"""

import asyncio
import concurrent.futures
import contextlib
import gc
import logging
import socket
import sys
import threading
import time
import weakref

import pytest

from ioloop import IOLoop

from support import cpu_for, run_for, run_until

pytestmark = pytest.mark.timeout(60)


@contextlib.contextmanager
def watchdog(loop, seconds=5):
    """Stop ``loop`` from another thread if it is still running after
    ``seconds`` (for a loop asleep on a far timer, or with nothing
    scheduled, that a test expects to be woken)."""
    timer = threading.Timer(seconds, lambda: loop.add_callback(loop.stop))
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        timer.join()


# -- add_callback basics ----------------------------------------------------------


def test_add_callback_fifo(loop):
    order = []
    for i in range(10000):
        loop.add_callback(order.append, i)
    loop.add_callback(loop.stop)
    loop.start()
    assert order == list(range(10000))


def test_callback_queue_fifo_across_growth_and_wraparound(loop):
    """Breadth-first fan-out: each callback queues two more while the queue
    is being consumed, so the ring buffer grows with its head mid-buffer.
    FIFO means the numbers come out in increasing order."""
    order = []

    def node(n):
        order.append(n)
        if 2 * n + 1 < 20000:
            loop.add_callback(node, 2 * n)
            loop.add_callback(node, 2 * n + 1)
        elif n == 19999:
            loop.stop()

    loop.add_callback(node, 1)
    guard = loop.call_later(10, loop.stop)
    loop.start()
    loop.remove_timeout(guard)
    assert order == list(range(1, 20000))


def test_add_callback_args_kwargs_and_return_none(loop):
    got = []
    assert loop.add_callback(lambda *a, **k: got.append((a, k)), 1, 2, x=3) is None
    loop.add_callback(loop.stop)
    loop.start()
    assert got == [((1, 2), {"x": 3})]


def test_add_callback_binds_arguments_like_a_python_def(loop):
    """add_callback(callback, *args, **kwargs), exactly as Tornado's def:
    callback by keyword, each call's args and kwargs its own, the same
    TypeErrors for a missing or doubled callback."""
    got = []

    def rec(*a, **k):
        got.append((a, k))

    shared = {"x": 1}
    loop.add_callback(rec)
    loop.add_callback(rec, 1)
    loop.add_callback(rec, *range(40))
    loop.add_callback(rec, **shared)
    shared["x"] = 2  # the call keeps the values it was given
    loop.add_callback(callback=rec)
    loop.add_callback(callback=rec, y=2)
    loop.add_callback(rec, "a", callback_arg=3)
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'callback'"):
        loop.add_callback()
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'callback'"):
        loop.add_callback(x=1)
    with pytest.raises(TypeError, match="multiple values for argument 'callback'"):
        loop.add_callback(rec, callback=rec)
    loop.add_callback(loop.stop)
    loop.start()
    assert got == [((), {}), ((1,), {}), (tuple(range(40)), {}), ((), {"x": 1}),
                   ((), {}), ((), {"y": 2}), (("a",), {"callback_arg": 3})]


@pytest.mark.parametrize("bad", [None, 1, "callback", object()])
def test_add_callback_non_callable_is_type_error(loop, bad):
    with pytest.raises(TypeError):
        loop.add_callback(bad)
    with pytest.raises(TypeError):
        loop.spawn_callback(bad)
    with pytest.raises(TypeError):
        loop.call_soon(bad)


def test_spawn_callback_and_add_callback_from_signal_run(loop):
    got = []
    loop.spawn_callback(got.append, "spawn")
    loop.spawn_callback(lambda **k: got.append(k), key="kw")
    loop.add_callback_from_signal(got.append, "signal")
    loop.add_callback(loop.stop)
    loop.start()
    assert got == ["spawn", {"key": "kw"}, "signal"]


def test_callbacks_added_during_a_pass_run_next_iteration(loop):
    """A due timer collected in iteration 1 runs after iteration 1's
    callbacks but before a callback that one of them added."""
    order = []

    def a():
        order.append("a")
        loop.add_callback(order.append, "b")

    loop.add_callback(a)
    loop.call_later(-1, order.append, "timer")
    loop.call_later(0.01, loop.stop)
    loop.start()
    assert order == ["a", "timer", "b"]


def test_self_rescheduling_callback_does_not_starve_timers_or_io(loop):
    a, b = socket.socketpair()
    try:
        spins = [0]
        seen = []

        def spin():
            spins[0] += 1
            loop.add_callback(spin)

        def on_read(fd, events):
            seen.append("io")
            a.recv(100)
            loop.remove_handler(a)

        loop.add_handler(a, on_read, IOLoop.READ)
        b.send(b"x")
        loop.add_callback(spin)
        loop.call_later(0.05, lambda: seen.append("timer"))
        loop.call_later(0.1, loop.stop)
        t0 = time.monotonic()
        loop.start()
        assert time.monotonic() - t0 < 2
        assert "io" in seen and "timer" in seen
        assert spins[0] > 10
    finally:
        a.close()
        b.close()


def test_callback_returning_sequence_does_not_spin(loop):
    """tornado#1803: a callback returning {} or [] is ignored."""
    calls = [0]
    errors = []
    loop.set_exception_handler(lambda lp, ctx: errors.append(ctx))

    def counting(ret):
        calls[0] += 1
        return ret

    for ret in ({}, [], (), 0, "", 42, object()):
        loop.add_callback(counting, ret)
    cpu = cpu_for(loop, 0.1)
    assert calls[0] == 7
    assert errors == []
    assert cpu < 0.08, f"{cpu:.3f}s CPU"


# -- threads --------------------------------------------------------------------


def test_add_callback_wakes_sleeping_loop_from_other_thread(loop):
    latency = []

    def target():
        time.sleep(0.1)  # let the loop go to sleep (1 h timer pending)
        t0 = time.monotonic()
        loop.add_callback(lambda: (latency.append(time.monotonic() - t0), loop.stop()))

    loop.call_later(3600, lambda: None)
    thread = threading.Thread(target=target)
    loop.add_callback(thread.start)
    try:
        with watchdog(loop):
            loop.start()
    finally:
        thread.join()
    assert latency and latency[0] < 0.1


def test_add_callback_wakes_loop_with_no_timers_from_other_thread(loop):
    """Idle loop with nothing scheduled (epoll_wait(-1)) is woken too; and
    several wake-ups in a row all work (the waker is drained/re-armed)."""
    got = []

    def target():
        for i in range(5):
            time.sleep(0.03)
            t0 = time.monotonic()
            loop.add_callback(lambda t0=t0: got.append(time.monotonic() - t0))
        time.sleep(0.03)
        loop.add_callback(loop.stop)

    thread = threading.Thread(target=target)
    thread.start()
    loop.start()
    thread.join()
    assert len(got) == 5
    assert max(got) < 0.1, got


def test_add_callback_from_loop_thread_in_timer_runs_promptly(loop):
    """T6 test_add_callback_wakeup: no waiting for the next (far) timer."""
    result = {}

    def schedule():
        result["t0"] = time.monotonic()
        loop.add_callback(lambda: (result.setdefault("t1", time.monotonic()), loop.stop()))

    loop.call_later(3600, lambda: None)
    loop.add_timeout(loop.time(), schedule)
    with watchdog(loop):
        loop.start()
    assert result["t1"] - result["t0"] < 0.05


def test_threads_add_callback_exactly_once(loop):
    n_threads, per_thread = 8, 5000
    total = n_threads * per_thread
    seen = [[] for _ in range(n_threads)]
    count = [0]

    def cb(t, i):
        seen[t].append(i)
        count[0] += 1
        if count[0] == total:
            loop.stop()

    barrier = threading.Barrier(n_threads)

    def producer(t):
        barrier.wait()
        for i in range(per_thread):
            loop.add_callback(cb, t, i)

    threads = [threading.Thread(target=producer, args=(t,)) for t in range(n_threads)]

    def begin():
        for th in threads:
            th.start()

    loop.add_callback(begin)
    wd = loop.call_later(30, loop.stop)
    loop.start()
    loop.remove_timeout(wd)
    for th in threads:
        th.join()
    assert count[0] == total
    for t in range(n_threads):
        # exactly once and FIFO per producing thread
        assert seen[t] == list(range(per_thread))


def test_threads_call_soon_threadsafe_with_timer_churn(loop):
    """uvloop test_call_soon_threadsafe_safety style: a thread posts while
    the loop creates and cancels timers."""
    n = 4096
    got = []
    cancelled_fired = []
    done = threading.Event()

    def producer():
        for i in range(n):
            loop.call_soon_threadsafe(got.append, i)
            if i % 256 == 0:
                time.sleep(0.001)
        loop.call_soon_threadsafe(done.set)

    def churn():
        h = loop.call_later(0.0005, cancelled_fired.append, 1)
        loop.call_later(0.0002, h.cancel)
        if done.is_set() and len(got) == n:
            loop.stop()
        else:
            loop.call_later(0.0001, churn)

    t = threading.Thread(target=producer)
    loop.add_callback(t.start)
    loop.add_callback(churn)
    wd = loop.call_later(30, loop.stop)
    loop.start()
    loop.remove_timeout(wd)
    t.join()
    assert got == list(range(n))
    assert cancelled_fired == []


def test_add_callback_after_close_is_dropped(loop):
    ran = []
    loop.close()
    assert loop.add_callback(ran.append, 1) is None
    loop.spawn_callback(ran.append, 2)
    loop.add_callback_from_signal(ran.append, 3)
    assert ran == []
    with pytest.raises(RuntimeError):
        loop.call_soon(ran.append, 4)
    with pytest.raises(RuntimeError):
        loop.call_soon_threadsafe(ran.append, 5)
    with pytest.raises(RuntimeError):
        loop.run_in_executor(None, ran.append, 6)


def test_add_callback_racing_close_never_raises(make_loop):
    """T6 test_add_callback_while_closing, with the race made hot: several
    threads keep posting while the loop (running in its own thread) is
    stopped and closed."""
    for _ in range(20):
        other = make_loop()
        errors = []
        go = threading.Event()
        stop_posting = threading.Event()

        def poster():
            go.wait()
            try:
                while not stop_posting.is_set():
                    for _ in range(200):
                        other.add_callback(lambda: None)
            except BaseException as exc:  # noqa: BLE001 - any error fails
                errors.append(exc)

        def target():
            other.add_callback(go.set)
            other.add_callback(lambda: other.call_later(0.005, other.stop))
            other.start()
            other.close(all_fds=True)
            time.sleep(0.005)
            stop_posting.set()

        posters = [threading.Thread(target=poster) for _ in range(3)]
        for p in posters:
            p.start()
        runner = threading.Thread(target=target)
        runner.start()
        runner.join(10)
        stop_posting.set()
        go.set()
        for p in posters:
            p.join(10)
        assert not runner.is_alive()
        assert errors == []
        assert other.is_closed()
        # and once more after close, from this thread
        for _ in range(1000):
            other.add_callback(lambda: None)


# -- futures and executors ---------------------------------------------------------


def test_add_future_asyncio_future_later_iteration(loop):
    fut = loop.create_future()
    got = []

    def cb(f):
        got.append((f, threading.get_ident()))
        loop.stop()

    loop.add_future(fut, cb)
    loop.call_later(0.01, fut.set_result, 7)
    loop.call_later(5, loop.stop)
    loop.start()
    assert got == [(fut, threading.get_ident())]
    assert got[0][0].result() == 7


def test_add_future_already_done_runs_on_a_later_iteration(loop):
    order = []
    fut = loop.create_future()
    fut.set_result(1)
    cfut = concurrent.futures.Future()
    cfut.set_result(2)

    def first():
        loop.add_future(fut, lambda f: order.append(("asyncio", f.result())))
        loop.add_future(cfut, lambda f: order.append(("concurrent", f.result())))
        # Neither may have run synchronously inside add_future.
        order.append("after-add_future")

    loop.add_callback(first)
    run_until(loop, lambda: len(order) == 3, timeout=2)
    assert order[0] == "after-add_future"
    assert sorted(order[1:]) == [("asyncio", 1), ("concurrent", 2)]


def test_add_future_concurrent_future_from_thread(loop):
    got = []
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        cfut = pool.submit(lambda: (time.sleep(0.05), "done")[1])

        def cb(f):
            got.append((f, f.result(), threading.get_ident()))
            loop.stop()

        loop.add_future(cfut, cb)
        loop.call_later(5, loop.stop)
        loop.start()
    assert got == [(cfut, "done", threading.get_ident())]


def test_add_future_exception_future(loop):
    got = []
    fut = loop.create_future()
    loop.add_future(fut, lambda f: (got.append(f.exception()), loop.stop()))
    err = ValueError("boom")
    loop.call_later(0.001, fut.set_exception, err)
    loop.call_later(5, loop.stop)
    loop.start()
    assert got == [err]


def test_add_future_rejects_bad_arguments(loop):
    fut = loop.create_future()
    with pytest.raises(TypeError):
        loop.add_future(fut, None)
    with pytest.raises(TypeError):
        loop.add_future(object(), lambda f: None)
    fut.cancel()


def test_run_in_executor_default(loop):
    main = threading.get_ident()

    async def main_coro():
        fut = loop.run_in_executor(None, lambda a, b: (a + b, threading.get_ident()), 2, 3)
        assert asyncio.isfuture(fut) or hasattr(fut, "__await__")
        return await fut

    value, ident = loop.run_sync(main_coro)
    assert value == 5
    assert ident != main
    loop.run_sync(loop.shutdown_default_executor)


def test_run_in_executor_explicit_and_exception(loop):
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="explicit") as pool:
        async def main_coro():
            name = await loop.run_in_executor(pool, lambda: threading.current_thread().name)
            with pytest.raises(ZeroDivisionError):
                await loop.run_in_executor(pool, lambda: 1 / 0)
            return name

        assert loop.run_sync(main_coro).startswith("explicit")


def test_set_default_executor(loop):
    pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="mydefault")
    try:
        loop.set_default_executor(pool)

        async def main_coro():
            return await loop.run_in_executor(None, lambda: threading.current_thread().name)

        assert loop.run_sync(main_coro).startswith("mydefault")
    finally:
        pool.shutdown(wait=True)


@pytest.mark.parametrize("bad", [42, None, "pool"])
def test_set_default_executor_rejects_a_non_executor(aloop, bad):
    if sys.version_info < (3, 11) and not isinstance(aloop, IOLoop):
        pytest.skip("asyncio 3.10 only warns, keeps the object and fails when it is used; "
                    "ioloop refuses it on every Python")
    with pytest.raises(TypeError, match="executor must be ThreadPoolExecutor instance"):
        aloop.set_default_executor(bad)


def test_set_default_executor_other_executor_kinds(aloop):
    """Another concurrent.futures.Executor: TypeError from 3.11 on, a
    DeprecationWarning on 3.10 (as asyncio)."""
    class InlineExecutor(concurrent.futures.Executor):
        def submit(self, fn, *args, **kwargs):
            f = concurrent.futures.Future()
            f.set_result(fn(*args, **kwargs))
            return f

    if sys.version_info >= (3, 11):
        with pytest.raises(TypeError):
            aloop.set_default_executor(InlineExecutor())
    else:
        with pytest.warns(DeprecationWarning):
            aloop.set_default_executor(InlineExecutor())


def test_run_in_executor_rejects_non_callable(loop):
    with pytest.raises(TypeError):
        loop.run_in_executor(None, 42)


# -- awaitables returned by callbacks ---------------------------------------------------


def test_callback_returning_coroutine_runs_to_completion(loop):
    steps = []

    async def coro():
        steps.append("start")
        await asyncio.sleep(0.01)
        steps.append("end")
        loop.stop()

    loop.add_callback(coro)
    loop.call_later(5, loop.stop)
    loop.start()
    assert steps == ["start", "end"]


def test_timer_returning_coroutine_runs_to_completion(loop):
    steps = []

    async def coro(x):
        await asyncio.sleep(0)
        steps.append(x)
        loop.stop()

    loop.call_later(0, coro, "timer")
    loop.call_later(5, loop.stop)
    loop.start()
    assert steps == ["timer"]


def test_callback_returning_failing_coroutine_reports_exception(loop):
    contexts = []
    loop.set_exception_handler(lambda lp, ctx: contexts.append((lp, ctx)))
    err = ValueError("from coroutine")

    async def coro():
        await asyncio.sleep(0.001)
        raise err

    loop.add_callback(coro)
    run_until(loop, lambda: contexts, timeout=2)
    lp, ctx = contexts[0]
    assert lp is loop
    assert ctx["exception"] is err
    assert len(contexts) == 1
    # The loop still works afterwards.
    ran = []
    loop.add_callback(ran.append, 1)
    loop.add_callback(loop.stop)
    loop.start()
    assert ran == [1]


def test_callback_returning_failing_coroutine_logged_by_default(loop, caplog, expect_errors):
    async def coro():
        raise KeyError("from-default-handler")

    loop.add_callback(coro)
    with caplog.at_level(logging.ERROR):
        run_for(loop, 0.02)
    recs = [r for r in caplog.records
            if r.exc_info and "from-default-handler" in str(r.exc_info[1])]
    assert recs, caplog.text
    assert recs[0].name in ("ioloop", "asyncio")


# -- exception reporting ----------------------------------------------------------------


def test_default_handler_logs_to_ioloop_logger_with_traceback(loop, caplog, expect_errors):
    """Classic callbacks and timers (add_callback, add_timeout) are reported
    as Tornado does: "Exception in callback <callback>" on the ``ioloop``
    logger."""
    def failing_callback():
        raise ZeroDivisionError("callback-failure")

    def failing_timer():
        raise ZeroDivisionError("timer-failure")

    loop.add_callback(failing_callback)
    loop.add_timeout(loop.time(), failing_timer)
    ran = []
    loop.add_callback(ran.append, "after")
    with caplog.at_level(logging.ERROR):
        run_for(loop, 0.01)
    assert ran == ["after"]
    recs = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.name for r in recs] == ["ioloop", "ioloop"], caplog.text
    assert all(r.exc_info and r.exc_info[0] is ZeroDivisionError for r in recs)
    assert recs[0].getMessage() == f"Exception in callback {failing_callback!r}"
    assert recs[1].getMessage() == f"Exception in callback {failing_timer!r}"
    assert "Traceback" in caplog.text


def test_handle_callback_exception_override_in_subclass(loop_class):
    calls = []

    class MyLoop(loop_class):
        def handle_callback_exception(self, callback):
            calls.append((callback, sys.exc_info()[0]))

    lp = MyLoop()
    try:
        def bad_callback():
            raise ValueError("x")

        def bad_timer():
            raise KeyError("y")

        def asyncio_api_callback():
            raise OSError("not for handle_callback_exception")

        lp.set_exception_handler(lambda loop, ctx: None)
        lp.add_callback(bad_callback)
        lp.add_timeout(lp.time(), bad_timer)
        # asyncio's API reports to call_exception_handler, not here.
        lp.call_later(0, asyncio_api_callback)
        lp.call_soon(asyncio_api_callback)
        lp.add_callback(lp.call_later, 0.005, lp.stop)
        lp.start()
        assert (bad_callback, ValueError) in calls
        assert (bad_timer, KeyError) in calls
        assert len(calls) == 2
    finally:
        lp.close()


def test_handle_callback_exception_instance_attribute(loop, caplog):
    calls = []

    def hook(callback):
        calls.append((callback, sys.exc_info()[1]))

    loop.handle_callback_exception = hook
    err = RuntimeError("instance-hook")

    def bad():
        raise err

    loop.add_callback(bad)
    with caplog.at_level(logging.ERROR, logger="ioloop"):
        run_for(loop, 0.005)
    assert calls == [(bad, err)]
    assert "instance-hook" not in caplog.text


def test_failing_handle_callback_exception_does_not_kill_loop(loop, caplog, expect_errors):
    def hook(callback):
        raise RuntimeError("hook is broken")

    loop.handle_callback_exception = hook
    ran = []
    loop.add_callback(lambda: 1 / 0)
    loop.add_callback(ran.append, 1)
    with caplog.at_level(logging.ERROR, logger="ioloop"):
        run_for(loop, 0.005)
    assert ran == [1]
    assert "hook is broken" in caplog.text


def test_exception_handler_api(loop, caplog, expect_errors):
    assert loop.get_exception_handler() is None
    contexts = []

    def handler(lp, ctx):
        contexts.append((lp, ctx))

    loop.set_exception_handler(handler)
    assert loop.get_exception_handler() is handler
    err = ValueError("via-handler")

    def bad():
        raise err

    loop.add_callback(bad)
    with caplog.at_level(logging.ERROR):
        run_for(loop, 0.005)
    assert len(contexts) == 1
    assert contexts[0][0] is loop
    assert contexts[0][1]["exception"] is err
    assert "message" in contexts[0][1]
    assert "via-handler" not in caplog.text

    loop.call_exception_handler({"message": "direct call", "x": 1})
    assert contexts[-1][1]["message"] == "direct call"

    with pytest.raises(TypeError):
        loop.set_exception_handler(42)
    loop.set_exception_handler(None)
    assert loop.get_exception_handler() is None
    with caplog.at_level(logging.ERROR):
        loop.call_exception_handler({"message": "to-default-now"})
    assert "to-default-now" in caplog.text


def test_default_exception_handler_logs_message_and_traceback(loop, caplog, expect_errors):
    try:
        raise OSError("in-context")
    except OSError as exc:
        ctx = {"message": "custom message", "exception": exc}
    with caplog.at_level(logging.ERROR):
        loop.default_exception_handler(ctx)
    assert "custom message" in caplog.text
    assert "in-context" in caplog.text
    assert "Traceback" in caplog.text


def test_broken_exception_handler_is_logged_and_loop_continues(loop, caplog, expect_errors):
    def handler(lp, ctx):
        raise RuntimeError("handler is broken")

    loop.set_exception_handler(handler)
    ran = []
    loop.add_callback(lambda: 1 / 0)
    loop.add_callback(ran.append, 1)
    with caplog.at_level(logging.ERROR):
        run_for(loop, 0.005)
    assert ran == [1]
    assert "handler is broken" in caplog.text


def test_loop_keeps_running_after_many_exceptions(loop):
    loop.set_exception_handler(lambda lp, ctx: None)
    ran = []
    for i in range(100):
        loop.add_callback(lambda: 1 / 0)
        loop.call_later(0, lambda: [][1])
    loop.call_later(0.005, ran.append, "timer")
    run_for(loop, 0.02)
    assert ran == ["timer"]


# -- BaseException propagation -------------------------------------------------------


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit])
def test_base_exception_from_callback_propagates_and_loop_is_reusable(loop, exc_type):
    ran = []

    def boom():
        raise exc_type()

    loop.add_callback(boom)
    loop.add_callback(ran.append, "second")
    with pytest.raises(exc_type):
        loop.start()
    assert not loop.is_running()
    assert not loop.is_closed()
    # The callback queued behind the failing one is not lost, and runs once.
    run_for(loop, 0.005)
    assert ran == ["second"]
    run_for(loop, 0.005)
    assert ran == ["second"]


def test_keyboard_interrupt_in_first_of_two_due_timers(loop):
    ran = []
    when = loop.time()

    def boom():
        raise KeyboardInterrupt

    loop.call_at(when, boom)
    loop.call_at(when, ran.append, "second-timer")
    loop.add_callback(ran.append, "callback")
    with pytest.raises(KeyboardInterrupt):
        loop.start()
    assert ran == ["callback"]
    run_for(loop, 0.005)
    assert ran == ["callback", "second-timer"]


def test_keyboard_interrupt_in_callback_keeps_collected_timers(loop):
    ran = []
    loop.call_later(-1, ran.append, "due-timer")

    def boom():
        raise KeyboardInterrupt

    loop.add_callback(boom)
    loop.add_callback(ran.append, "cb2")
    with pytest.raises(KeyboardInterrupt):
        loop.start()
    run_for(loop, 0.005)
    assert sorted(ran) == ["cb2", "due-timer"]


def test_keyboard_interrupt_leaves_no_stray_stop(loop):
    def boom():
        raise KeyboardInterrupt

    loop.add_callback(boom)
    with pytest.raises(KeyboardInterrupt):
        loop.start()
    # The next start() runs until its own stop, not one iteration.
    t0 = time.monotonic()
    run_for(loop, 0.05)
    assert time.monotonic() - t0 >= 0.05


def test_keyboard_interrupt_restores_current_and_running_loop(loop):
    def boom():
        raise KeyboardInterrupt

    IOLoop.clear_current()
    loop.add_callback(boom)
    with pytest.raises(KeyboardInterrupt):
        loop.start()
    assert IOLoop.current(instance=False) is None
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()


# -- references ---------------------------------------------------------------------


def test_callback_arguments_released_after_run(loop):
    class Obj:
        pass

    o = Obj()
    w = weakref.ref(o)
    loop.add_callback(lambda x: None, o)
    loop.call_soon(lambda x: None, o)
    loop.call_later(0, lambda x: None, o)
    del o
    run_for(loop, 0.002)
    gc.collect()
    assert w() is None


def test_call_soon_handle_cancel(loop):
    ran = []
    h = loop.call_soon(ran.append, 1)
    loop.call_soon(ran.append, 2)
    h.cancel()
    assert h.cancelled()
    run_for(loop, 0.002)
    assert ran == [2]


def test_close_shuts_down_default_executor(make_loop):
    """close() shuts the default executor down: its threads go away (the
    conftest fixture fails the test if a thread is left running)."""
    lp = make_loop()
    try:
        fut = lp.run_in_executor(None, time.sleep, 0.01)
        lp.run_until_complete(fut)
    finally:
        lp.close()


def test_run_in_executor_result_after_close_is_not_delivered(make_loop):
    """CPython test_run_in_executor_cancel: a cancelled executor future
    whose loop was closed must not call back into the loop."""
    lp = make_loop()
    called = []
    try:
        release = threading.Event()
        fut = lp.run_in_executor(None, release.wait, 5)
        fut.cancel()
        lp.run_until_complete(asyncio.sleep(0.001))
    finally:
        lp.close()
    lp.call_soon = lp.call_soon_threadsafe = lambda *a, **k: called.append(a)
    release.set()
    time.sleep(0.1)
    assert called == []
