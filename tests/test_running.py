"""start / stop / run_sync / close, and current / instance.

docs/behaviour.md "Running and stopping" and "Creating loops, current and
instance".
"""

import asyncio
import concurrent.futures
import threading
import time

import pytest

import ioloop
from ioloop import IOLoop

from support import open_fds, run_for

pytestmark = pytest.mark.timeout(60)


# -- start / stop -------------------------------------------------------------------


def test_reentrant_start_raises_and_loop_keeps_running(loop):
    errors = []
    ran = []

    def reenter():
        try:
            loop.start()
        except RuntimeError as exc:
            errors.append(exc)

    loop.add_callback(reenter)
    loop.call_later(0.01, ran.append, "timer-after")
    loop.call_later(0.02, loop.stop)
    loop.start()
    assert len(errors) == 1
    assert ran == ["timer-after"]
    assert not loop.is_running()


def test_reentrant_run_sync_and_run_forever_raise(loop):
    errors = []

    def reenter():
        for call in (lambda: loop.run_sync(lambda: None),
                     lambda: loop.run_forever()):
            try:
                call()
            except RuntimeError as exc:
                errors.append(exc)
        loop.stop()

    loop.add_callback(reenter)
    loop.start()
    assert len(errors) == 2


def test_stop_before_start_runs_one_nonblocking_iteration(loop):
    ran = []
    loop.add_callback(ran.append, "ready-callback")
    loop.call_later(3600, ran.append, "far")
    loop.stop()
    t0 = time.monotonic()
    loop.start()
    assert time.monotonic() - t0 < 0.5
    assert ran == ["ready-callback"]
    # The stop was consumed: the next start runs until its own stop.
    t0 = time.monotonic()
    run_for(loop, 0.05)
    assert time.monotonic() - t0 >= 0.05


def test_stop_before_start_with_nothing_ready_returns(loop):
    loop.stop()
    t0 = time.monotonic()
    loop.start()  # would block forever (epoll_wait(-1)) if the stop were lost
    assert time.monotonic() - t0 < 0.5


def test_start_stop_repeatable(loop):
    counts = []
    for i in range(5):
        loop.add_callback(counts.append, i)
        loop.add_callback(loop.stop)
        loop.start()
        assert not loop.is_running()
    assert counts == [0, 1, 2, 3, 4]


def test_stop_finishes_the_current_iteration(loop):
    """stop() in a callback: the rest of this iteration's snapshot still
    runs; callbacks added meanwhile wait for the next start()."""
    order = []

    def stopper():
        order.append("stop")
        loop.stop()
        loop.add_callback(order.append, "added-after-stop")

    loop.add_callback(stopper)
    loop.add_callback(order.append, "same-iteration")
    loop.call_later(-1, order.append, "due-timer")
    loop.start()
    assert order == ["stop", "same-iteration", "due-timer"]
    loop.add_callback(loop.stop)
    loop.start()
    assert order[-1] == "added-after-stop"


def test_stop_from_other_thread_via_add_callback(loop):
    def target():
        time.sleep(0.05)
        loop.add_callback(loop.stop)

    t = threading.Thread(target=target)
    t.start()
    t0 = time.monotonic()
    loop.start()
    t.join()
    assert time.monotonic() - t0 < 2


def test_stop_handles_io_that_is_ready_in_the_last_iteration(aloop, pairs):
    """asyncio polls in every iteration, the one that stop() ends included,
    so I/O that became ready while run_until_complete() ran is handled
    before it returns. The engine may skip the zero-timeout poll while
    callbacks are ready; the last iteration must still look at I/O.
    (CPython's test_sendfile_close_peer_in_the_middle_of_receiving needs
    it: the EOF read after the failed sendfile closes the transport.)"""
    a, b = pairs()
    got = []
    aloop.add_reader(a.fileno(), lambda: got.append(a.recv(16)))

    async def send():
        # I/O becomes ready after this run's first poll; the next (and
        # last) iteration only runs the done callback that stops the loop.
        b.send(b"x")

    try:
        for i in range(1, 21):
            aloop.run_until_complete(send())
            assert got == [b"x"] * i, f"round {i}: the ready reader did not run"
    finally:
        aloop.remove_reader(a.fileno())


def test_run_until_complete_stopped_does_not_log_its_pending_task(aloop, caplog):
    """run_until_complete(coro) whose loop is stopped before the task ends
    raises RuntimeError; the caller has no handle on the task it made, so
    that task's destruction is not logged too ("Task was destroyed but it
    is pending!"), as in asyncio."""
    import gc
    import weakref

    async def main():
        aloop.stop()
        await aloop.create_future()  # never done

    with pytest.raises(RuntimeError, match="stopped before Future completed"):
        aloop.run_until_complete(main())
    (task,) = asyncio.all_tasks(aloop)
    ref = weakref.ref(task)
    del task
    aloop.close()
    gc.collect()
    assert ref() is None, "the abandoned task was not collected: nothing was checked"
    destroyed = [r for r in caplog.get_records("call")
                 if "Task was destroyed but it is pending" in r.getMessage()]
    assert not destroyed


def test_is_running(loop):
    states = []
    assert not loop.is_running()
    loop.add_callback(lambda: states.append(loop.is_running()))
    loop.add_callback(loop.stop)
    loop.start()
    assert states == [True]
    assert not loop.is_running()


# -- close --------------------------------------------------------------------------


def test_close_while_running_raises(loop):
    errors = []

    def try_close():
        try:
            loop.close()
        except RuntimeError as exc:
            errors.append(exc)

    ran = []
    loop.add_callback(try_close)
    loop.call_later(0.01, ran.append, "still-running")
    loop.call_later(0.02, loop.stop)
    loop.start()
    assert len(errors) == 1
    assert ran == ["still-running"]
    assert not loop.is_closed()
    loop.close()
    assert loop.is_closed()


def test_close_idempotent_and_start_after_close_raises(loop):
    loop.close()
    loop.close()
    loop.close(all_fds=True)
    assert loop.is_closed()
    with pytest.raises(RuntimeError):
        loop.start()
    with pytest.raises(RuntimeError):
        loop.run_sync(lambda: None)
    with pytest.raises(RuntimeError):
        loop.run_forever()


def test_close_releases_its_fds(make_loop):
    before = open_fds()
    for _ in range(20):
        lp = make_loop()
        lp.add_callback(lp.stop)
        lp.start()  # main thread: also creates the signal wake-up pipe
        lp.close()
    after = open_fds()
    assert after - before == set()


# -- run_sync ---------------------------------------------------------------------------


def test_run_sync_plain_function(loop):
    called = []
    assert loop.run_sync(lambda: called.append(1)) is None
    assert called == [1]


def test_run_sync_plain_function_exception(loop):
    def f():
        raise ZeroDivisionError("sync")

    with pytest.raises(ZeroDivisionError):
        loop.run_sync(f)
    # usable afterwards
    assert loop.run_sync(lambda: None) is None


def test_run_sync_function_returning_future(loop):
    def f():
        fut = loop.create_future()
        loop.call_later(0.01, fut.set_result, "from-future")
        return fut

    assert loop.run_sync(f) == "from-future"


def test_run_sync_function_returning_concurrent_future(loop):
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        assert loop.run_sync(lambda: pool.submit(lambda: 6 * 7)) == 42


def test_run_sync_async_def(loop):
    async def f():
        await asyncio.sleep(0.01)
        assert asyncio.get_running_loop() is loop
        assert IOLoop.current() is loop
        return "async-result"

    assert loop.run_sync(f) == "async-result"


def test_run_sync_async_exception(loop):
    async def f():
        await asyncio.sleep(0)
        raise KeyError("async")

    with pytest.raises(KeyError):
        loop.run_sync(f)


def test_run_sync_timeout(loop):
    cleanup = []

    async def slow():
        try:
            await asyncio.sleep(10)
        finally:
            cleanup.append("finally-ran")

    t0 = time.monotonic()
    with pytest.raises(ioloop.TimeoutError) as info:
        loop.run_sync(slow, timeout=0.05)
    elapsed = time.monotonic() - t0
    assert 0.05 <= elapsed < 2
    assert isinstance(info.value, TimeoutError)  # builtins
    assert issubclass(ioloop.TimeoutError, TimeoutError)
    # The operation was cancelled, not left running.
    assert cleanup == ["finally-ran"]
    # And the loop is usable afterwards.
    assert loop.run_sync(lambda: None) is None


def test_run_sync_timeout_not_hit(loop):
    async def quick():
        await asyncio.sleep(0.01)
        return 1

    t0 = time.monotonic()
    assert loop.run_sync(quick, timeout=5) == 1
    assert time.monotonic() - t0 < 1
    # the timeout timer was removed: the loop heap holds nothing live
    assert loop._timer_count() <= 1
    run_for(loop, 0.01)


def test_run_sync_timeout_with_future_that_ignores_cancel(loop):
    """A timeout on a concurrent future (cannot be cancelled once running)
    still raises TimeoutError instead of hanging."""
    release = threading.Event()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        try:
            with pytest.raises(TimeoutError):
                loop.run_sync(lambda: pool.submit(release.wait, 5), timeout=0.05)
        finally:
            release.set()


def test_stop_inside_run_sync_raises_runtime_error(loop):
    async def f():
        await asyncio.sleep(0.01)
        IOLoop.current().stop()
        await asyncio.sleep(10)

    with pytest.raises(RuntimeError, match="stopped before"):
        loop.run_sync(f)
    # Finish the abandoned task so it is not destroyed pending.
    tasks = asyncio.all_tasks(loop)
    assert len(tasks) == 1
    for t in tasks:
        t.cancel()
    loop.run_until_complete(asyncio.wait(tasks))


def test_run_sync_non_callable(loop):
    with pytest.raises(TypeError):
        loop.run_sync(42)


def test_run_sync_repeated(loop):
    async def f(i):
        await asyncio.sleep(0)
        return i

    assert [loop.run_sync(lambda i=i: f(i)) for i in range(5)] == list(range(5))


# -- current / instance ----------------------------------------------------------------


def test_new_loop_is_not_current(make_loop, loop):
    assert IOLoop.current(instance=False) is None
    other = make_loop()
    try:
        assert IOLoop.current(instance=False) is None
    finally:
        other.close()


def test_make_current_and_clear_current(loop):
    loop.make_current()
    assert IOLoop.current() is loop
    assert IOLoop.current(instance=False) is loop
    IOLoop.clear_current()
    assert IOLoop.current(instance=False) is None


def test_make_current_constructor_flag(make_loop):
    a = make_loop(make_current=True)
    try:
        assert IOLoop.current(instance=False) is a
        with pytest.raises(RuntimeError):
            make_loop(make_current=True)
        assert IOLoop.current(instance=False) is a
        c = make_loop(make_current=False)
        assert IOLoop.current(instance=False) is a
        c.close()
        assert IOLoop.current(instance=False) is a
    finally:
        a.close()
    # close() clears it from current
    assert IOLoop.current(instance=False) is None


@pytest.mark.default_engine
def test_current_falls_back_to_instance():
    assert IOLoop.current(instance=False) is None
    inst = IOLoop.current()
    assert isinstance(inst, IOLoop)
    assert inst is IOLoop.instance()
    assert IOLoop.instance() is inst


@pytest.mark.default_engine
def test_instance_is_thread_safe_singleton():
    results = []
    barrier = threading.Barrier(8)

    def worker():
        barrier.wait()
        results.append(IOLoop.instance())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8
    assert all(r is results[0] for r in results)


@pytest.mark.default_engine
def test_clear_instance_and_install(make_loop):
    first = IOLoop.instance()
    IOLoop.clear_instance()
    second = IOLoop.instance()
    assert second is not first
    first.close()
    IOLoop.clear_instance()
    mine = make_loop()
    mine.install()
    assert IOLoop.instance() is mine
    other = make_loop()
    try:
        with pytest.raises((RuntimeError, AssertionError)):
            other.install()
        assert IOLoop.instance() is mine
    finally:
        other.close()
    second.close()


@pytest.mark.default_engine
def test_close_clears_instance():
    inst = IOLoop.instance()
    inst.close()
    new = IOLoop.instance()
    assert new is not inst
    assert not new.is_closed()


def test_start_makes_current_and_restores_previous(make_loop, loop):
    previous = make_loop()
    try:
        previous.make_current()
        seen = []

        def probe():
            seen.append(IOLoop.current())
            seen.append(IOLoop.current(instance=False))
            seen.append(asyncio.get_running_loop())
            loop.stop()

        loop.add_callback(probe)
        loop.start()
        assert seen == [loop, loop, loop]
        assert IOLoop.current(instance=False) is previous
        # and with nothing current before
        IOLoop.clear_current()
        loop.add_callback(probe)
        loop.start()
        assert IOLoop.current(instance=False) is None
        with pytest.raises(RuntimeError):
            asyncio.get_running_loop()
    finally:
        previous.close()


def test_current_is_thread_local(make_loop, loop):
    loop.make_current()
    seen = {}

    def other_thread():
        seen["before"] = IOLoop.current(instance=False)
        IOLoop.clear_current()  # no-op in a fresh thread
        own = make_loop()
        try:
            own.add_callback(lambda: seen.setdefault("running", IOLoop.current()))
            own.add_callback(own.stop)
            own.start()
            seen["own"] = own
            seen["after"] = IOLoop.current(instance=False)
        finally:
            own.close()

    t = threading.Thread(target=other_thread)
    t.start()
    t.join()
    assert seen["before"] is None
    assert seen["running"] is seen["own"]
    assert seen["after"] is None
    assert IOLoop.current(instance=False) is loop


def test_loop_runs_in_a_non_main_thread(loop):
    result = []

    def target():
        result.append(loop.run_sync(lambda: asyncio.sleep(0.01, "in-thread")))

    t = threading.Thread(target=target)
    t.start()
    t.join(10)
    assert result == ["in-thread"]


def test_init_close_race(make_loop):
    """T6 test_init_close_race: loops created and closed concurrently."""
    def f():
        for _ in range(10):
            lp = make_loop()
            lp.add_callback(lp.stop)
            lp.start()
            lp.close()

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for fut in [pool.submit(f) for _ in range(4)]:
            fut.result()


def test_close_releases_pending_callbacks_and_timers(make_loop):
    import gc
    import weakref

    class Obj:
        pass

    lp = make_loop()
    objs = [Obj() for _ in range(4)]
    refs = [weakref.ref(o) for o in objs]
    lp.add_callback(lambda o: None, objs[0])
    lp.call_soon(lambda o: None, objs[1])
    lp.call_later(3600, lambda o: None, objs[2])
    lp.call_at(lp.time() - 1, lambda o: None, objs[3])
    del objs
    gc.collect()
    assert all(r() is not None for r in refs)
    lp.close()
    gc.collect()
    assert [r() for r in refs] == [None] * 4


def test_unclosed_loop_in_a_reference_cycle_is_collected(make_loop):
    """The engine keeps callbacks, timers and handlers in C memory; the GC
    must still see those references, so a loop referenced only from its
    own callbacks is collected (and its fds closed)."""
    import gc
    import socket
    import warnings
    import weakref

    gc.collect()
    before = open_fds()
    a, b = socket.socketpair()
    lp = make_loop()
    lp.add_callback(lambda: lp)
    lp.call_later(3600, lambda: lp)
    lp.add_handler(a, lambda fd, ev: lp, IOLoop.READ)
    lp.add_callback(lp.stop)
    lp.start()
    lp.add_callback(lambda: lp)
    ref = weakref.ref(lp)
    del lp
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
        gc.collect()
    assert ref() is None, "loop kept alive by references the GC cannot see"
    a.close()
    b.close()
    gc.collect()
    assert open_fds() - before == set()
