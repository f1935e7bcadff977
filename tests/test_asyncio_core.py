"""The asyncio face, core part: entry points, call_soon and friends,
run_until_complete, tasks, contextvars, async generators, executors and
debug mode (docs/behaviour.md "asyncio face" and "Callbacks and threads").
Networking is tested elsewhere."""

import asyncio
import concurrent.futures
import contextvars
import gc
import logging
import sys
import threading
import time
import warnings

import pytest

import ioloop
from ioloop import IOLoop

from support import run_until

pytestmark = pytest.mark.timeout(60)


HAS_POLICIES = ioloop.EventLoopPolicy is not None


# -- entry points ---------------------------------------------------------------------------


@pytest.mark.default_engine
def test_new_event_loop_is_an_asyncio_loop():
    lp = ioloop.new_event_loop()
    try:
        assert isinstance(lp, IOLoop)
        assert isinstance(lp, asyncio.AbstractEventLoop)
        assert not lp.is_running()
        assert not lp.is_closed()
        # not current anywhere (Tornado 6, asyncio)
        assert IOLoop.current(instance=False) is None
    finally:
        lp.close()
    assert lp.is_closed()


@pytest.mark.default_engine
def test_run_returns_result_on_an_ioloop():
    async def main():
        lp = asyncio.get_running_loop()
        await asyncio.sleep(0.01)
        return type(lp), lp.get_debug(), asyncio.get_event_loop() is lp

    typ, debug, same = ioloop.run(main())
    assert issubclass(typ, IOLoop)
    assert same
    assert debug is False


@pytest.mark.default_engine
def test_run_debug_flag():
    async def main():
        return asyncio.get_running_loop().get_debug()

    assert ioloop.run(main(), debug=True) is True


@pytest.mark.default_engine
def test_run_propagates_exception_and_closes_loop():
    seen = []

    async def main():
        seen.append(asyncio.get_running_loop())
        raise LookupError("run")

    with pytest.raises(LookupError):
        ioloop.run(main())
    assert seen[0].is_closed()


@pytest.mark.default_engine
def test_run_cancels_leftover_tasks():
    cancelled = []

    async def background():
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def main():
        asyncio.get_running_loop().create_task(background())
        await asyncio.sleep(0.01)
        return 1

    assert ioloop.run(main()) == 1
    assert cancelled == [True]


@pytest.mark.default_engine
@pytest.mark.skipif(sys.version_info < (3, 12), reason="asyncio.run(loop_factory=) needs 3.12+")
def test_asyncio_run_with_loop_factory():
    async def main():
        return type(asyncio.get_running_loop())

    assert issubclass(asyncio.run(main(), loop_factory=ioloop.new_event_loop), IOLoop)


@pytest.mark.default_engine
@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.Runner needs 3.11+")
def test_asyncio_runner_with_loop_factory():
    async def main():
        return type(asyncio.get_running_loop())

    with asyncio.Runner(loop_factory=ioloop.new_event_loop) as runner:
        assert issubclass(runner.run(main()), IOLoop)
        assert issubclass(runner.run(main()), IOLoop)


@pytest.mark.default_engine
@pytest.mark.skipif(not HAS_POLICIES, reason="this Python has no asyncio policies")
def test_event_loop_policy_and_install():
    old = asyncio.get_event_loop_policy()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            policy = ioloop.EventLoopPolicy()
            lp = policy.new_event_loop()
            assert isinstance(lp, IOLoop)
            lp.close()
            ioloop.install()
            lp = asyncio.new_event_loop()
            try:
                assert isinstance(lp, IOLoop)
            finally:
                lp.close()

            async def main():
                return type(asyncio.get_running_loop())

            assert issubclass(asyncio.run(main()), IOLoop)
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            asyncio.set_event_loop_policy(old)


# -- call_soon and friends ------------------------------------------------------------------


def test_call_soon_handle_and_cancel(loop):
    ran = []
    h1 = loop.call_soon(ran.append, 1)
    h2 = loop.call_soon(ran.append, 2)
    h3 = loop.call_soon(ran.append, 3)
    assert isinstance(h1, asyncio.Handle) or hasattr(h1, "cancel")
    h2.cancel()
    assert h2.cancelled() and not h1.cancelled()
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert ran == [1, 3]
    assert not h3.cancelled()


def test_call_soon_and_call_later_reject_non_callable(loop):
    with pytest.raises(TypeError):
        loop.call_soon(None)
    with pytest.raises(TypeError):
        loop.call_later(0, 42)


def test_call_soon_threadsafe_wakes_loop(loop):
    latency = []

    def target():
        time.sleep(0.1)
        t0 = time.monotonic()
        loop.call_soon_threadsafe(lambda: (latency.append(time.monotonic() - t0), loop.stop()))

    loop.call_later(3600, lambda: None)
    fallback = loop.call_later(5, loop.stop)
    t = threading.Thread(target=target)
    t.start()
    loop.run_forever()
    t.join()
    assert latency and latency[0] < 0.1
    fallback.cancel()


def test_asyncio_timer_handles(loop):
    ran = []
    h = loop.call_later(0.01, ran.append, "later")
    h2 = loop.call_at(loop.time() + 0.005, ran.append, "at")
    assert isinstance(h.when(), float)
    h3 = loop.call_later(0.001, ran.append, "cancelled")
    h3.cancel()
    loop.call_later(0.03, loop.stop)
    loop.run_forever()
    assert ran == ["at", "later"]
    assert not h.cancelled() and not h2.cancelled() and h3.cancelled()


def test_run_until_complete(loop):
    async def coro(x):
        await asyncio.sleep(0.001)
        return x * 2

    assert loop.run_until_complete(coro(21)) == 42
    fut = loop.create_future()
    loop.call_later(0.001, fut.set_result, "f")
    assert loop.run_until_complete(fut) == "f"
    task = loop.create_task(coro(1))
    assert loop.run_until_complete(task) == 2
    assert not loop.is_running()


def test_run_until_complete_exception(loop):
    async def bad():
        await asyncio.sleep(0)
        raise ValueError("ruc")

    with pytest.raises(ValueError):
        loop.run_until_complete(bad())
    assert loop.run_until_complete(asyncio.sleep(0, "again")) == "again"


def test_run_until_complete_on_running_loop_raises_and_does_not_run_coroutine(loop):
    """As asyncio: the check comes first, the coroutine is not scheduled."""
    ran = []
    errors = []

    async def coro():
        ran.append(True)

    c = coro()

    def nested():
        try:
            loop.run_until_complete(c)
        except RuntimeError as exc:
            errors.append(exc)
        loop.call_later(0.02, loop.stop)

    loop.call_soon(nested)
    loop.run_forever()
    assert len(errors) == 1
    try:
        assert ran == [], "the coroutine was scheduled although run_until_complete raised"
        assert asyncio.all_tasks(loop) == set()
    finally:
        c.close()


def test_run_until_complete_keyboard_interrupt_then_reuse(loop):
    async def raiser():
        await asyncio.sleep(0)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        loop.run_until_complete(raiser())
    assert not loop.is_running()
    assert loop.run_until_complete(asyncio.sleep(0.001, "ok")) == "ok"


def test_run_until_complete_stopped_early(loop):
    async def never():
        await asyncio.sleep(10)

    loop.call_later(0.01, loop.stop)
    with pytest.raises(RuntimeError):
        loop.run_until_complete(never())
    # clean up the pending task
    for t in asyncio.all_tasks(loop):
        t.cancel()
    loop.run_until_complete(asyncio.sleep(0))


def test_run_forever_stop_and_restart(loop):
    counts = []
    for i in range(3):
        loop.call_soon(counts.append, i)
        loop.call_soon(loop.stop)
        loop.run_forever()
    assert counts == [0, 1, 2]


def test_asyncio_sleep_duration(loop):
    async def main():
        t0 = time.monotonic()
        await asyncio.sleep(0.01)
        return time.monotonic() - t0

    assert loop.run_until_complete(main()) >= 0.01


def test_get_running_loop_and_current_inside_coroutine(loop):
    async def main():
        return asyncio.get_running_loop(), IOLoop.current(), asyncio.get_event_loop()

    running, current, event_loop = loop.run_until_complete(main())
    assert running is loop and current is loop and event_loop is loop
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()


def test_is_running_is_closed(loop):
    async def main():
        return loop.is_running()

    assert loop.run_until_complete(main()) is True
    assert loop.is_running() is False
    assert loop.is_closed() is False
    loop.close()
    assert loop.is_closed() is True
    c = main()
    with pytest.raises(RuntimeError):
        loop.run_until_complete(c)
    c.close()


def test_close_running_loop_raises(loop):
    async def main():
        with pytest.raises(RuntimeError):
            loop.close()
        return "still-open"

    assert loop.run_until_complete(main()) == "still-open"
    assert not loop.is_closed()


def test_gather_wait_for_and_many_tasks(loop):
    async def work(i):
        await asyncio.sleep(0.001 * (i % 5))
        return i

    async def main():
        results = await asyncio.gather(*(work(i) for i in range(500)))
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.sleep(5), 0.02)
        return results

    assert loop.run_until_complete(main()) == list(range(500))


def test_run_sync_with_async_function(loop):
    async def f():
        await asyncio.sleep(0.001)
        return asyncio.get_running_loop()

    assert loop.run_sync(f) is loop


# -- tasks ----------------------------------------------------------------------------------------


def test_create_task_name_and_context(loop):
    var = contextvars.ContextVar("var", default="default")

    async def coro():
        return var.get(), asyncio.current_task().get_name()

    t1 = loop.create_task(coro(), name="named-task")
    assert t1.get_name() == "named-task"
    tasks = [t1]
    ctx = contextvars.copy_context()
    ctx.run(var.set, "in-ctx")
    if sys.version_info >= (3, 11):
        tasks.append(loop.create_task(coro(), context=ctx))
    else:
        # asyncio 3.10's create_task has no context= either.
        c = coro()
        with pytest.raises(TypeError):
            loop.create_task(c, context=ctx)
        c.close()
    loop.run_until_complete(asyncio.gather(*tasks))
    assert t1.result() == ("default", "named-task")
    if len(tasks) == 2:
        assert tasks[1].result()[0] == "in-ctx"
    assert t1.get_loop() is loop


@pytest.mark.skipif(sys.version_info < (3, 12), reason="eager_start needs 3.12+")
def test_create_task_eager_start(loop):
    steps = []

    async def coro():
        steps.append("ran")

    async def main():
        loop.create_task(coro(), eager_start=True)
        steps.append("after-create")

    loop.run_until_complete(main())
    assert steps == ["ran", "after-create"]


def test_create_future(loop):
    fut = loop.create_future()
    assert asyncio.isfuture(fut)
    assert fut.get_loop() is loop
    fut.cancel()


def test_set_task_factory(loop):
    created = []

    def factory(lp, coro, **kwargs):
        task = asyncio.Task(coro, loop=lp, **kwargs)
        created.append(task)
        return task

    assert loop.get_task_factory() is None
    loop.set_task_factory(factory)
    assert loop.get_task_factory() is factory

    async def main():
        await asyncio.sleep(0)
        return 7

    task = loop.create_task(main(), name="via-factory")
    assert created == [task]
    assert task.get_name() == "via-factory"
    assert loop.run_until_complete(task) == 7
    # run_until_complete(coroutine) goes through the factory too
    assert loop.run_until_complete(main()) == 7
    assert len(created) == 2
    with pytest.raises(TypeError):
        loop.set_task_factory(42)
    loop.set_task_factory(None)
    assert loop.get_task_factory() is None


def test_unretrieved_task_exception_goes_to_exception_handler(loop):
    contexts = []
    loop.set_exception_handler(lambda lp, ctx: contexts.append(ctx))

    async def bad():
        raise ArithmeticError("never retrieved")

    loop.create_task(bad())
    loop.run_until_complete(asyncio.sleep(0.01))
    gc.collect()
    assert any(isinstance(c.get("exception"), ArithmeticError) for c in contexts), contexts


# -- contextvars ----------------------------------------------------------------------------------


CTX = contextvars.ContextVar("ioloop_test_ctx", default="unset")


@pytest.mark.parametrize("how", ["call_soon", "call_soon_threadsafe", "call_later", "call_at",
                                 "add_callback", "add_timeout", "spawn_callback"])
def test_contextvars_captured_at_schedule_time(loop, how):
    seen = []

    def cb():
        seen.append(CTX.get())
        CTX.set("changed-inside")  # must not leak out

    def schedule():
        token = CTX.set("at-schedule")
        try:
            if how == "call_soon":
                loop.call_soon(cb)
            elif how == "call_soon_threadsafe":
                loop.call_soon_threadsafe(cb)
            elif how == "call_later":
                loop.call_later(0.001, cb)
            elif how == "call_at":
                loop.call_at(loop.time(), cb)
            elif how == "add_callback":
                loop.add_callback(cb)
            elif how == "spawn_callback":
                loop.spawn_callback(cb)
            elif how == "add_timeout":
                loop.add_timeout(loop.time() + 0.001, cb)
        finally:
            CTX.set("set-later")

    ctx = contextvars.Context()
    ctx.run(schedule)
    loop.call_later(0.01, loop.stop)
    loop.start()
    assert seen == ["at-schedule"]
    assert ctx.run(CTX.get) == "set-later"
    assert CTX.get() == "unset"


def test_contextvars_explicit_context_argument(loop):
    seen = []
    ctx = contextvars.copy_context()
    ctx.run(CTX.set, "explicit")
    loop.call_soon(lambda: seen.append(CTX.get()), context=ctx)
    loop.call_later(0, lambda: seen.append(CTX.get()), context=ctx)
    loop.call_at(loop.time(), lambda: seen.append(CTX.get()), context=ctx)
    loop.call_soon_threadsafe(lambda: seen.append(CTX.get()), context=ctx)
    loop.call_later(0.005, loop.stop)
    loop.start()
    assert seen == ["explicit"] * 4


def test_contextvars_each_callback_isolated(loop):
    seen = []

    def setter():
        CTX.set("leaked?")

    loop.call_soon(setter)
    loop.call_soon(lambda: seen.append(CTX.get()))
    loop.call_later(0.002, loop.stop)
    loop.start()
    assert seen == ["unset"]


@pytest.mark.parametrize("how", ["add_callback", "spawn_callback", "call_later", "add_timeout",
                                 "plain-returning-coroutine"])
def test_contextvars_awaitable_returned_by_callback_runs_in_callback_context(loop, how):
    """behaviour.md: every scheduling call runs the callback in the context
    captured when it was scheduled. When the callback is an ``async def``
    (or returns a coroutine) that coroutine *is* the callback's body: it
    must see the scheduled context (and what the callback set in it), as
    it does with Tornado 6 on asyncio."""
    seen = []

    async def coro():
        seen.append(CTX.get())
        await asyncio.sleep(0)
        seen.append(CTX.get())

    def plain():
        CTX.set("set-in-callback")
        return coro()

    def schedule():
        CTX.set("at-schedule")
        if how == "add_callback":
            loop.add_callback(coro)
        elif how == "spawn_callback":
            loop.spawn_callback(coro)
        elif how == "call_later":
            loop.call_later(0, coro)
        elif how == "add_timeout":
            loop.add_timeout(loop.time(), coro)
        else:
            loop.add_callback(plain)

    contextvars.Context().run(schedule)
    # Until the coroutine finished (not a fixed time: a loaded machine may
    # take longer to get there).
    run_until(loop, lambda: len(seen) == 2)
    expected = "set-in-callback" if how == "plain-returning-coroutine" else "at-schedule"
    assert seen == [expected, expected]
    assert CTX.get() == "unset"


def test_contextvars_in_tasks(loop):
    async def child():
        return CTX.get()

    async def main():
        CTX.set("parent")
        t = asyncio.get_running_loop().create_task(child())
        CTX.set("after")
        return await t

    assert loop.run_until_complete(main()) == "parent"


# -- async generators and executors ----------------------------------------------------------------


def test_shutdown_asyncgens(loop):
    finalized = []

    async def agen():
        try:
            for i in range(10):
                yield i
        finally:
            finalized.append(True)

    gens = []

    async def main():
        g = agen()
        gens.append(g)
        assert await g.__anext__() == 0

    loop.run_until_complete(main())
    assert finalized == []
    loop.run_until_complete(loop.shutdown_asyncgens())
    assert finalized == [True]


def test_asyncgen_finalized_on_gc(loop):
    finalized = []

    async def agen():
        try:
            yield 1
            yield 2
        finally:
            finalized.append(True)

    async def main():
        g = agen()
        await g.__anext__()
        del g
        gc.collect()
        await asyncio.sleep(0.01)

    loop.run_until_complete(main())
    assert finalized == [True]


def test_shutdown_default_executor(loop):
    async def main():
        r = await loop.run_in_executor(None, lambda: threading.current_thread().name)
        await loop.shutdown_default_executor()
        return r

    name = loop.run_until_complete(main())
    assert name != threading.current_thread().name
    with pytest.raises(RuntimeError):
        loop.run_in_executor(None, lambda: None)


def test_run_in_executor_is_awaitable_future(loop):
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        fut = loop.run_in_executor(pool, sum, [1, 2, 3])
        assert asyncio.isfuture(fut)
        assert loop.run_until_complete(fut) == 6


# -- debug mode ---------------------------------------------------------------------------------


def test_get_set_debug(loop):
    assert loop.get_debug() is False
    loop.set_debug(True)
    assert loop.get_debug() is True
    loop.set_debug(False)
    assert loop.get_debug() is False


def _slow_warnings(caplog, needle):
    return [r for r in caplog.records
            if r.name in ("ioloop", "asyncio") and r.levelno == logging.WARNING
            and needle in r.getMessage()]


def test_slow_callback_warning_in_debug_mode(loop, caplog):
    def very_slow_callback_xyz():
        time.sleep(0.1)

    def quick_callback_abc():
        pass

    loop.set_debug(True)
    loop.slow_callback_duration = 0.05
    loop.call_soon(very_slow_callback_xyz)
    loop.call_soon(quick_callback_abc)
    with caplog.at_level(logging.WARNING):
        loop.call_later(0.01, loop.stop)
        loop.run_forever()
    assert len(_slow_warnings(caplog, "very_slow_callback_xyz")) == 1, caplog.text
    assert _slow_warnings(caplog, "quick_callback_abc") == []


def test_slow_timer_warning_in_debug_mode(loop, caplog):
    def very_slow_timer_xyz():
        time.sleep(0.1)

    loop.set_debug(True)
    loop.slow_callback_duration = 0.05
    loop.call_later(0, very_slow_timer_xyz)
    with caplog.at_level(logging.WARNING):
        loop.call_later(0.01, loop.stop)
        loop.run_forever()
    assert len(_slow_warnings(caplog, "very_slow_timer_xyz")) == 1, caplog.text


def test_slow_task_warning_names_the_coroutine(loop, caplog):
    """uvloop test_debug_slow_task_callbacks: the warning for a slow task
    step names the task's coroutine (asyncio: "Executing <Task ...
    coro=<slow_task_coroutine_xyz() ...>> took ...")."""
    async def slow_task_coroutine_xyz():
        time.sleep(0.1)

    loop.set_debug(True)
    loop.slow_callback_duration = 0.05
    with caplog.at_level(logging.WARNING):
        loop.run_until_complete(slow_task_coroutine_xyz())
    slow = [r for r in caplog.records if r.levelno == logging.WARNING
            and r.name in ("ioloop", "asyncio") and "took" in r.getMessage()]
    assert len(slow) == 1, caplog.text
    assert "slow_task_coroutine_xyz" in slow[0].getMessage(), slow[0].getMessage()


def test_slow_reader_that_removes_itself_is_named(loop, caplog):
    """asyncio keeps a cancelled handle's repr in debug mode so that
    "Executing <Handle cancelled slow_reader_xyz() ...> took" still names
    the callback after remove_reader() cancelled it."""
    import socket
    a, b = socket.socketpair()
    try:
        def slow_reader_xyz():
            a.recv(10)
            loop.remove_reader(a)
            time.sleep(0.1)

        loop.set_debug(True)
        loop.slow_callback_duration = 0.05
        loop.add_reader(a, slow_reader_xyz)
        b.send(b"x")
        with caplog.at_level(logging.WARNING):
            loop.call_later(0.2, loop.stop)
            loop.run_forever()
        assert len(_slow_warnings(caplog, "slow_reader_xyz")) == 1, caplog.text
    finally:
        a.close()
        b.close()


def test_slow_classic_handler_warning_in_debug_mode(loop, caplog):
    """A slow add_handler handler is a slow callback too (Tornado 6 on
    asyncio warns for it, as for any reader)."""
    import socket
    a, b = socket.socketpair()
    try:
        def slow_handler_xyz(fd, events):
            a.recv(10)
            time.sleep(0.1)

        loop.set_debug(True)
        loop.slow_callback_duration = 0.05
        loop.add_handler(a, slow_handler_xyz, IOLoop.READ)
        b.send(b"x")
        with caplog.at_level(logging.WARNING):
            loop.call_later(0.2, loop.stop)
            loop.run_forever()
        loop.remove_handler(a)
        assert len(_slow_warnings(caplog, "slow_handler_xyz")) == 1, caplog.text
    finally:
        a.close()
        b.close()


def test_no_slow_callback_warning_without_debug(loop, caplog):
    def very_slow_callback_xyz():
        time.sleep(0.1)

    loop.slow_callback_duration = 0.05
    loop.call_soon(very_slow_callback_xyz)
    with caplog.at_level(logging.WARNING):
        loop.call_later(0.01, loop.stop)
        loop.run_forever()
    assert _slow_warnings(caplog, "very_slow_callback_xyz") == []
